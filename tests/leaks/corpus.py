"""The planted secrets: each with the text a command (or action, or person) prints, and the needles that
must not be found anywhere it could reach. Forms and shapes: see deploytui/text/redact.py."""

import base64
import html
import json
import shlex
from urllib.parse import quote, quote_plus

SECRET = "Pa ss'w\"rd-42é/&"  # quotes, a space, non-ASCII, URL- and HTML-special characters
ENV_SECRET = "envtok-5f2a9c1e7b"  # in the operator's environment as DEPLOY_TOKEN
CAPTURED = "capt-ured-secret-99"  # printed as DB_PASSWORD=..., captured by a later step
HEAD, TAIL = SECRET[:6], SECRET[-6:]


def b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


# (name, printed text, needles): a needle found in a surface (raw, or as a terminal shows it) is a leak
VALUE_FORMS = [
    ("as given", SECRET, [SECRET]),
    ("shell-quoted (shlex.quote)", shlex.quote(SECRET), [shlex.quote(SECRET)[1:-1], HEAD]),
    ("set -x trace", "+ deploy --pw '" + SECRET.replace("'", "'\\''") + "'", [HEAD, TAIL]),
    ("JSON-escaped", json.dumps({"password_given": SECRET}), [json.dumps(SECRET)[1:-1], HEAD]),
    ("JSON, non-ASCII kept", json.dumps({"p": SECRET}, ensure_ascii=False), [HEAD, TAIL]),
    ("URL-encoded", "https://x.example/cb?p=" + quote(SECRET, safe=""), [quote(SECRET, safe=""), HEAD]),
    ("form-encoded", "p=" + quote_plus(SECRET), [quote_plus(SECRET)]),
    ("HTML-escaped", "<td>" + html.escape(SECRET) + "</td>", [html.escape(SECRET), HEAD]),
    ("base64 (kubectl get secret -o yaml)", "  password: " + b64(SECRET), [b64(SECRET)[:12]]),
    ("Basic auth header", "Authorization: Basic " + b64("deploy:" + SECRET), [b64("deploy:" + SECRET)[10:22]]),
    ("colour inside", SECRET[:4] + "\x1b[1;31m" + SECRET[4:9] + "\x1b[0m" + SECRET[9:], [HEAD, TAIL, SECRET]),
    ("controls inside", SECRET[:3] + "\x07" + SECRET[3:], [HEAD, TAIL]),
    ("in a window title", "\x1b]0;" + SECRET + "\x07title", [HEAD, TAIL]),
    ("in an OSC 8 link", "\x1b]8;;https://x/?p=" + quote(SECRET, safe="") + "\x1b\\link\x1b]8;;\x1b\\",
     [quote(SECRET, safe="")]),
    ("drawn over itself (\\r)", "XXXXXX" + SECRET[6:] + "\r" + SECRET[:6], [SECRET]),
    ("the environment's token", "token from env: " + ENV_SECRET, [ENV_SECRET]),
]
AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "FwoGZXIvYXdzEBYaDHsomeSessionToken0123"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
SHAPES = [
    ("AWS credentials as JSON", json.dumps({"Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
                                                            "SecretAccessKey": AWS_KEY, "SessionToken": SESSION}}),
     [AWS_KEY, SESSION, "ASIAIOSFODNN7EXAMPLE"]),
    ("AWS credentials, jq -C colours", '\x1b[34;1m"SecretAccessKey"\x1b[0m\x1b[1;39m: \x1b[0;32m"' + AWS_KEY
     + '"\x1b[0m', [AWS_KEY]),
    ("bearer token", "Authorization: Bearer bt-0123456789abcdefXYZ", ["bt-0123456789abcdefXYZ"]),
    ("JWT", "id_token " + JWT, [JWT.split(".")[2][:20], JWT.split(".")[1]]),
    ("PEM private key", "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\nSECONDLINEOFKEY0123456789abcdef\n"
     "-----END RSA PRIVATE KEY-----", [PEM_BODY, "SECONDLINEOFKEY"]),
    ("URL with a password", "postgres://app:pgpass-0123456@db.internal:5432/app", ["pgpass-0123456"]),
    ("*_PASSWORD= printed", "DB_PASSWORD=dbpass-0123456789", ["dbpass-0123456789"]),
    ("*_TOKEN= printed", "export VAULT_TOKEN='hvs.vault-0123456789'", ["vault-0123456789"]),
    ("GCP API key", "key=AIzaSyA-1234567890abcdefghijklmnopqrstu", ["1234567890abcdefghij"]),
    ("GCP access token", "ya29.a0AfH6SMBx-abcdefghijklmnopqrstuvwx", ["a0AfH6SMBx-abcdefghij"]),
    ("npm token", "//registry.npmjs.org/:_authToken=npm_" + "N" * 36, ["N" * 36]),
    ("Stripe key", "STRIPE=sk_live_" + "S" * 24, ["S" * 24]),
    ("GitHub token", "ghp_" + "G1h2" * 9, ["G1h2" * 9]),
    ("Slack webhook", "https://hooks.slack.com/services/T000/B000/WEBHOOKSECRET0123", ["WEBHOOKSECRET0123"]),
]
PLANTED = VALUE_FORMS + SHAPES
