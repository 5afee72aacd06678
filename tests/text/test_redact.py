"""Redaction by value in every printed form, by token shape and by setting name; through colours, redraws
and escape sequences; and the spool never cutting a secret in two."""

import base64
import html
import json
import re
import shlex
import subprocess
from urllib.parse import quote, quote_plus

import pytest

from deploytui.engine.spool import MAX_PARTIAL, Spool
from deploytui.text.clean import clean_line
from deploytui.text.redact import MASK, Redactor

SECRET = "Pa ss'w\"rd-42é/&"


def bash(script: str, value: str, lang: str) -> str:
    done = subprocess.run(["bash", "-c", script], env={"S": value, "PATH": "/usr/bin:/bin", "LANG": lang},
                          capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


FORMS = {
    "as given": SECRET,
    "shlex.quote": shlex.quote(SECRET),
    "JSON": json.dumps({"p": SECRET}),
    "JSON, non-ASCII kept": json.dumps({"p": SECRET}, ensure_ascii=False),
    "URL": "https://x/?p=" + quote(SECRET, safe=""),
    "URL, lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(SECRET, safe="")),
    "form-encoded": quote_plus(SECRET),
    "HTML": html.escape(SECRET),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "Basic auth": "Authorization: Basic " + base64.b64encode(b"deploy:" + SECRET.encode()).decode(),
    "in a YAML secret": "  password: " + base64.b64encode(SECRET.encode()).decode(),
    "colour inside": "pw " + SECRET[:4] + "\x1b[1;31m" + SECRET[4:9] + "\x1b[0m" + SECRET[9:],
    "controls inside": SECRET[:3] + "\x07\x00" + SECRET[3:],
    "in a window title": "\x1b]0;" + SECRET + "\x07 title",
    # in none of the pieces, but on the screen once the second draws over the first
    "drawn over itself": "XXXXXX" + SECRET[6:] + "\r" + SECRET[:6],
    "drawn over itself, cursor moved": "XXXXXX" + SECRET[6:] + "\x1b[1G" + SECRET[:6],
}


@pytest.mark.parametrize("form", FORMS)
def test_a_value_is_masked_in_every_form(form):
    out = Redactor([SECRET]).text(FORMS[form])
    shown = clean_line(out)
    assert MASK in out
    for needle in (SECRET, SECRET[:6], SECRET[-6:]):
        assert needle not in shown and needle not in out, (form, out)


def test_shell_forms_from_real_bash():
    """What bash itself prints: `set -x` traces, `printf %q`, `declare -p`."""
    r = Redactor([SECRET])
    for script in ('set -x; : "$S"', 'printf "%q\\n" "$S"', 'declare -p S', 'echo "$S"'):
        for lang in ("C", "C.UTF-8"):
            printed = bash(script, SECRET, lang)
            assert SECRET[:5] not in r.text(printed), (script, lang, printed)


def test_a_multi_line_secret_is_masked_line_by_line_too():
    key = "first-line-of-it\nsecond-line-of-it\nthird"
    r = Redactor([key])
    out = r.text("a\nsecond-line-of-it\nb\n")  # flushed apart from the rest
    assert "second-line" not in out and out.count("\n") == 3


@pytest.mark.parametrize("text, secret", [
    ('{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", '
     '"SessionToken": "FwoGZXIvYXdzEBYaDHsomeSessionTok", "Expiration": "2026-11-23T09:00:00Z"}', "wJalrXUtnFEMI"),
    ('{"SessionToken": "FwoGZXIvYXdzEBYaDHsomeSessionTok"}', "FwoGZXIv"),
    ("{'SecretAccessKey': 'wJalrXUtnFEMI/K7MDENG'}", "wJalrXUtnFEMI"),  # a printed Python dict (boto3)
    ("SessionToken: FwoGZXIvYXdzEBYaDHsome", "FwoGZXIv"),  # aws --output yaml
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),
    ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("Authorization: Bearer abcdefghijklmnop1234", "abcdefghijklmnop1234"),
    ("authorization: token ghx_notaknownshape_12345", "ghx_notaknownshape_12345"),
    ("curl -H 'Authorization: Basic ZGVwbG95OmhvcnNl'", "ZGVwbG95OmhvcnNl"),
    ("token: bearer abcdefghijklmnop1234", "abcdefghijklmnop1234"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNry"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nbodyline2\n-----END RSA PRIVATE KEY-----", "MIIEow"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", "b3Blbn"),
    ('{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}', "MIIEvQ"),
    ("postgres://app:s3cretpw@db:5432/x", "s3cretpw"),
    ("git clone https://x-access-token:gho_abcdef@github.com/o/r", "gho_abcdef"),
    ("DB_PASSWORD=hunter2hunter2 next", "hunter2hunter2"),
    ("export DEPLOY_TOKEN='tok with space'", "tok with space"),
    ('SLACK_BOT_TOKEN="xyzzy-123"', "xyzzy-123"),
    ("https://api.example.com/v1?api_key=k3y-value&x=1", "k3y-value"),
    ("mysql --password hunter2hunter2 -h db", "hunter2hunter2"),
    ("  db_password: hunter2hunter2", "hunter2hunter2"),
    ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIzaSyA-1234567890"),
    ("ya29.a0AfH6SMBx-abcdefghijklmnopqrstuvwx", "a0AfH6SMBx"),
    ("npm_" + "b" * 36, "b" * 36),
    ("//registry.npmjs.org/:_authToken=npm_" + "c" * 36, "c" * 36),
    ("sk_live_" + "a" * 24, "a" * 24),
    ("rk_test_" + "d" * 24, "d" * 24),
    ("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a1B2c3D4e5F6"),
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "XXXXXXXXXXXXXXXX"),
    ("xoxb-123456789012-abcdefghijkl", "abcdefghijkl"),
    ("glpat-abcdefghij0123456789", "abcdefghij0123456789"),
    ("SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "abcdefghijklmnopqrstuvwxyz0123"),
    ("sk-proj-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    # jq -C colours keys and values: the setting is found in what the terminal shows
    ('\x1b[1;39m{\x1b[0m\x1b[34;1m"SecretAccessKey"\x1b[0m\x1b[1;39m:\x1b[0m \x1b[0;32m"wJalrXUtnFEMI/K7MDENG"\x1b[0m',
     "wJalrXUtnFEMI"),
    ("AWS_SECRET_ACCESS_\x1b[01;31mKEY\x1b[0m=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),  # grep --color
])
def test_shapes_nobody_declared(text, secret):
    out = Redactor().text(text)
    assert secret not in out and secret not in clean_line(out.replace("\n", " ")), out


@pytest.mark.parametrize("text", [
    "failed to refresh token: connection refused",
    "PWD=/srv/app OLDPWD=/root",
    'secret = true',
    'env = { DB_PASSWORD = "{{ db_password }}" }',
    "DB_PASSWORD=$DB_PASSWORD",
    '"token_type": "bearer", "expires_in": 3600, "tokens": 12, "keyName": "k", "key": "app"',
    "2026-11-23T07:53:01Z INFO pulled registry.example.com/app:1.2.3 in 0.52s",
    "commit 3f2a9c1e5b7d4f6a8c0e2b4d6f8a0c2e4b6d8f0a",
    "disk-usage-report sk- ask_live_ x-AKIAIOSFODNN7EXAMPLEX",
])
def test_ordinary_output_is_left_alone(text):
    assert Redactor([SECRET]).text(text) == text


def test_runbook_text_keeps_its_syntax():
    book = 'capture = { token = "last_line" }\n[vars.api_token]\nsecret = true\ndefault = "hunter2hunter2"\n'
    out = Redactor(["hunter2hunter2"]).source(book)
    assert 'token = "last_line"' in out and "hunter2" not in out


def test_masking_keeps_colours_and_line_counts():
    r = Redactor([SECRET])
    coloured = f"\x1b[32mok\x1b[0m {SECRET[:4]}\x1b[1m{SECRET[4:]}\x1b[0m end"
    out = r.text(coloured)
    assert out.startswith("\x1b[32mok\x1b[0m ") and out.endswith("\x1b[0m end") and "\x1b[1m" in out
    key = "-----BEGIN EC PRIVATE KEY-----\nAAA\nBBB\n-----END EC PRIVATE KEY-----\nafter\n"
    assert r.text(key).count("\n") == key.count("\n")


def test_masking_twice_changes_nothing():
    r = Redactor([SECRET])
    for text in list(FORMS.values()) + ["Authorization: Bearer abcdefghijklmnop1234", "DB_PASSWORD=x1234"]:
        once = r.text(text)
        assert r.text(once) == once


def test_a_short_secret_handed_over_at_run_time_is_masked_as_a_word():
    r = Redactor()
    r.add("42x")
    assert r.text("pin 42x, not a42xb") == f"pin {MASK}, not a42xb"


def test_a_captured_value_masked_in_its_line_becomes_a_secret():
    """`capture = { t = "re:DB_PASSWORD=(\\\\S+)" }`: the value is masked in the output, so its bare
    value is masked wherever it goes next (the command_finished event, a later step's output)."""
    r = Redactor()
    seen = []
    spool = Spool(r.text, watch=[re.compile(r"DB_PASSWORD=(\S+)")], on_match=lambda i, line, v: seen.append((line, v)),
                  redactor=r)
    spool.feed(b"DB_PASSWORD=hunter2hunter2\n")
    spool.flush(final=True)
    assert seen == [(f"DB_PASSWORD={MASK}", "hunter2hunter2")]
    assert r.text("later: hunter2hunter2") == f"later: {MASK}"


# ---- the spool: a secret is never cut in two --------------------------------------------------------
def spool_run(chunks, redactor, ticks=True):
    stored = []
    spool = Spool(lambda text: stored.append(redactor.text(text)) or stored[-1], redactor=redactor)
    for chunk in chunks:
        spool.feed(chunk)
        if ticks:
            spool.flush()  # what a tick does after 0.1 s of quiet
    spool.flush(final=True)
    return stored


@pytest.mark.parametrize("secret_line", [
    SECRET, f"Authorization: Bearer {'t' * 40}", f"DB_PASSWORD={'h' * 30}",
    '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "eyJhbGciOiJIUzI1NiJ9." + "e" * 3000 + ".sig",
])
@pytest.mark.parametrize("cut", [1, 3, 7, 12, 20])
def test_a_line_over_64_KiB_is_flushed_in_pieces_that_never_cut_a_secret(secret_line, cut):
    r = Redactor([SECRET])
    data = (b"x" * (MAX_PARTIAL + 10) + b" " + secret_line.encode() + b" tail\n")
    split = MAX_PARTIAL + 11 + cut  # the command paused here, in the middle of the secret
    stored = spool_run([data[:split], data[split:]], r)
    assert len(stored) >= 2, "the long line was flushed in pieces"
    joined = "".join(stored)
    assert MASK in joined and joined.endswith(" tail\n")
    for piece in stored + [joined]:
        for needle in (SECRET[:5], "t" * 12, "h" * 12, "wJalrXUtnFEMI", "e" * 40):
            assert needle not in piece


def test_a_private_key_is_not_flushed_apart():
    r = Redactor()
    key = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbodybodybody\n-----END PRIVATE KEY-----\n"
    stored = spool_run([b"before\n" + key[:40], key[40:70], key[70:] + b"after\n"], r)
    joined = "".join(stored)
    assert "MIIEvQ" not in joined and "bodybody" not in joined and joined.startswith("before\n")
    assert joined.endswith("after\n") and joined.count("\n") == 6


def test_a_cut_never_splits_a_utf8_character():
    r = Redactor()
    data = ("é" * (MAX_PARTIAL // 2 + 100)).encode() + b"\n"
    stored = spool_run([data[:MAX_PARTIAL + 101], data[MAX_PARTIAL + 101:]], r)
    assert "\ufffd" not in "".join(stored) and "".join(stored) == data.decode()
