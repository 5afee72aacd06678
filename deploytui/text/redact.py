"""Redaction before storage: secrets never reach the journal, a screen, a pair or an export.

A secret is masked by its value and by its shape.

By value, in every form a command can print it: as given; shell-quoted (`'Pa ss'"'"'w"rd'`, `set -x`'s
`'Pa ss'\\''w"rd'`, `printf %q`'s `Pa\\ ss\\'w\\"rd`); JSON-escaped; URL-encoded (either hex case, `+` for a
space, `/` or JavaScript's safe characters kept); HTML-escaped; in base64 at any offset (a Basic auth header,
`kubectl get secret`); each line of a multi-line value on its own; with colours, other escape sequences or
`\\r` redraws inside it. All the forms of all the secrets are found in one Aho-Corasick pass, whose cost does
not grow with the number of secrets (a regex alternation of 10 secrets' forms costs ~30 ms per MB).

By shape, for tokens nobody declared: AWS, GCP, GitHub, GitLab, Slack, Stripe, npm, PyPI, SendGrid and
OpenAI keys, bearer tokens and Authorization headers, JWTs, PEM private keys, URLs with a password, and
settings whose name says secret (`DB_PASSWORD=...`, `"SecretAccessKey": "..."`, `password: ...`).

What no redactor can know is listed in tests/leaks/README.md.

Speed: every shape search begins with one literal character, so `re` skips ahead with a fast scan instead
of trying each position (a leading `\\b` or a case-insensitive word costs 10-70 ms per MB of output).
bench/bench_redact.py measures the whole against a floor.
"""

from __future__ import annotations

import base64
import bisect
import html
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from ahocorasick_rs import AhoCorasick, MatchKind

from .clean import INVISIBLE, REDRAW, clean_line, is_plain, redraws, visible, without_colours

MASK = "[REDACTED]"
MIN_SECRET_LEN = 4  # a shorter value would mask ordinary text: runbooks must declare longer secrets
MIN_BASE64 = 6  # base64 of a secret is masked where this many of its characters depend on the secret alone
MAX_HOLD = 1 << 14  # the most an unfinished line keeps back from a flush (see `hold`)
MAX_KEY = 1 << 16  # a private key block longer than this is not waited for whole
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY", re.I)

_NOT_MASK = r"(?!\[REDACTED\])"

# Token shapes, in passes. Each pass is one regex beginning with one literal character, so `re` scans for
# it (a pass costs ~0.25 ms per MB; a pass beginning with a choice of characters costs ~2.5). A token whose
# own prefix would need a pass of its own is found at a character it shares with others (its `_` or `-`),
# with its prefix checked by a lookbehind: a group named `p_...` there marks where the token starts.
# `(?<!\w)` before a prefix is `\b` without losing the scan. A group named `s_...` is the part to mask;
# without one the whole token is masked.
SHAPES = [
    [  # tokens with an `_` after their prefix
        r"_(?<=(?P<p_gh>(?<!\w)gh[pousr])_)[A-Za-z0-9]{30,}",  # GitHub tokens
        r"_(?<=(?P<p_ghpat>(?<!\w)github)_)pat_[A-Za-z0-9_]{22,}",
        r"_(?<=(?P<p_stripe>(?<!\w)[sr]k)_)(?:live|test)_[0-9A-Za-z]{10,}",  # Stripe secret, restricted keys
        r"_(?<=(?P<p_whsec>(?<!\w)whsec)_)[A-Za-z0-9+/=]{20,}",  # Stripe webhook secrets
        r"_(?<=(?P<p_npm>(?<!\w)npm)_)[A-Za-z0-9]{36}",  # npm tokens
    ],
    [  # tokens with a `-` after their prefix (a quick lookbehind first: dates have many `-`)
        r"-(?<=[tabposrkY]-)(?:"
        r"(?<=(?P<p_glpat>(?<!\w)glpat)-)[A-Za-z0-9_-]{20,}"  # GitLab
        r"|(?<=(?P<p_xox>(?<!\w)xox[abposr])-)[A-Za-z0-9-]{10,}"  # Slack tokens
        r"|(?<=(?P<p_sk>(?<!\w)sk)-)(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic keys
        r"|(?<=(?P<p_pypi>(?<!\w)pypi)-)AgE[A-Za-z0-9_-]{50,}"  # PyPI tokens
        r"|(?<=(?P<p_putty>PuTTY)-)User-Key-File-[23]:[\s\S]*?(?:Private-MAC: [0-9a-f]+|\Z))",  # PuTTY keys
        # PEM private keys, body and all; one whose end has not come yet is masked to the end of the text
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        # flags given a secret after a space (`--password=x` is a setting, below)
        r"--(?:[a-z0-9]+-)*(?:password|passwd|passphrase|token|secret|api-key|access-key|secret-key|private-key)"
        r"[ \t]+(?P<s_flag>" + _NOT_MASK + r"(?:[^\s\"'-][^\s\"']*|\"[^\"\n]*\"|'[^'\n]*'))",
    ],
    [  # URLs with a password (scheme://user:password@host), Slack webhooks
        r"://(?P<s_url>" + _NOT_MASK + r"[^\s/@:]*:[^\s/]+)@",
        r"://(?<=(?P<p_hook>https)://)hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
    ],
    [  # AWS access key ids (AKIA, ASIA), GCP API keys
        r"A(?<!\wA)[KS]IA[0-9A-Z]{16}(?![0-9A-Z])",
        r"AIza(?<!\wAIza)[0-9A-Za-z_-]{35}",
    ],
    [  # GCP OAuth access tokens, SendGrid keys
        r"\.(?<=[9G]\.)(?:(?<=(?P<p_ya29>(?<!\w)ya29)\.)[0-9A-Za-z_-]{20,}"
        r"|(?<=(?P<p_sg>(?<!\w)SG)\.)[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})",
    ],
    [r"1//0(?<![\w/]1//0)[0-9A-Za-z_-]{20,}"],  # GCP OAuth refresh tokens
    [r"eyJ(?<!\weyJ)[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)*"],  # JWTs (JWS and JWE)
    [r"earer(?<=[Bb]earer)[ \t]+(?P<s_bearer>[A-Za-z0-9._~+/-]{8,}=*)"],  # bearer tokens, header or not
    # the credential of an Authorization header, whatever its scheme (Basic, Bearer, token, AWS4-HMAC-...)
    [r"uthorization(?<=[Aa]uthorization)\"?[ \t]*[:=][ \t]*\"?(?>(?:[A-Za-z0-9_-]+[ \t]+)?)"
     r"(?P<s_auth>" + _NOT_MASK + r"[^\s\"',;]+)"],
]
_KEY_EDGE = re.compile(r"-----(?:BEGIN|END)[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")

# Settings whose name says secret: `DB_PASSWORD=x`, `password = "x"`, `"SessionToken": "x"`, `token: x`.
# Searching for the names case-insensitively costs ~70 ms per MB; instead each search starts at an `=` or
# a `:` (one pass each, with a fast scan), lookbehinds check the last three letters of the name before it,
# and `_setting_span` checks the whole name.
SECRET_NAMES = ("password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "api_key", "api-key",
                "accesskey", "access_key", "secretkey", "secret_key", "privatekey", "private_key",
                "accountkey", "account_key")
_NAME_ENDS = sorted({n[-3:] for n in SECRET_NAMES})
_SETTING_NAME = re.compile(r"(?i)[A-Za-z0-9_.-]*(?:" + "|".join(sorted(map(re.escape, SECRET_NAMES), key=len,
                                                                       reverse=True)) + r")(?P<quote>[\"']?)[ \t]?\Z")
_NOT_SECRET_NAMES = {"pwd", "oldpwd"}  # the shell's working directories
_NOT_SECRET_VALUES = {"true", "false", "null", "none", "nil", "yes", "no"}
_NOT_SECRET_STARTS = ("{{", "{%", "$", "<", "*")  # templates, variables, placeholders, masks
_SETTING_VALUE = (r"[ \t]*(?:\"(?P<q1>(?:[^\"\\\n]|\\.)*)\"|'(?P<q2>[^'\n]*)'"
                  r"|(?P<bare>[^\s\"'&;,}\]]+))")


def _setting_pattern(sep: str) -> re.Pattern[str]:
    def letters(i: int) -> str:
        chars = {e[i] for e in _NAME_ENDS}
        return "".join(sorted(chars | {c.upper() for c in chars}))

    groups = []
    for tail in ("\"", "", " ", "'", "\" ", "' "):  # what may stand between the name and the separator
        t = re.escape(tail)
        last = f"[{letters(2)}]" if not tail else re.escape(tail[-1])
        exact = "|".join(f"(?<={e}{t}{sep})" for e in _NAME_ENDS)
        groups.append(f"(?<={last}{sep})(?<=[{letters(0)}][{letters(1)}][{letters(2)}]{t}{sep})(?i:{exact})")
    return re.compile(f"{sep}(?<=[{letters(2)}\"' ]{sep})(?:{'|'.join(groups)}){_SETTING_VALUE}")


_SETTINGS = [_setting_pattern("="), _setting_pattern(":")]


_SHAPE_PASSES = [re.compile("|".join(group)) for group in SHAPES]
# Every shape and setting in one search, names dropped: a short string (a label, a note, an event field)
# costs one search instead of one per pass. Long text is faster pass by pass (each scans for a literal).
_ANY_SHAPE = re.compile("|".join(re.sub(r"\(\?P<\w+>", "(?:", rx.pattern) for rx in _SHAPE_PASSES + _SETTINGS))
_SHORT = 512


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of *TOKEN*/*SECRET*/*PASSWORD* variables. A 1-3 character one is a setting (`X_TOKEN=1`),
    not a secret: masking it would mask that word all through the output."""
    environ = os.environ if environ is None else environ
    return [v for k, v in environ.items() if SECRET_ENV.search(k) and len(v) >= MIN_SECRET_LEN]


# ---- a secret's forms --------------------------------------------------------------------------
def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend on `raw` alone, at each of the three offsets it can start at in a
    longer encoded text (`user:password` in a Basic auth header), in both alphabets."""
    cores = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode().rstrip("=")
        core = enc[(8 * k + 5) // 6: 8 * (k + len(raw)) // 6]
        if len(core) >= MIN_BASE64:
            cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def _encodings(value: str) -> set[str]:
    """`value` as the usual encoders print it: JSON, URL (either hex case, form-encoded, with `/` or
    JavaScript's safe characters kept), inside a single-quoted shell word (shlex.quote's and `set -x`'s ways
    of closing and reopening it), backslash-escaped (`printf %q`), HTML-escaped."""
    url = quote(value, safe="")
    shell = shlex.quote(value)
    forms = {
        value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1].replace("/", "\\/"),
        url, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), url), quote_plus(value), quote(value),
        quote(value, safe="-_.!~*'()"),
        shell[1:-1] if shell.startswith("'") and shell != value else shell, value.replace("'", "'\\''"),
        re.sub(r"([^A-Za-z0-9_./,:=@%+^-])", r"\\\1", value),
        _ansi_c(value, ascii_only=True), _ansi_c(value, ascii_only=False),
        html.escape(value), html.escape(value, quote=False), html.escape(value).replace("&#x27;", "&#39;"),
    }
    return forms


def _ansi_c(value: str, ascii_only: bool) -> str:
    """Inside bash's `$'...'` quoting (`printf %q` of a value with control or, in the C locale, non-ASCII
    characters): backslash escapes, and octal bytes for the rest."""
    named = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\E"}
    out = []
    for c in value:
        if c in named:
            out.append(named[c])
        elif c.isprintable() and (c.isascii() or not ascii_only):
            out.append(c)
        else:
            out.append("".join(f"\\{b:03o}" for b in c.encode()))
    return "".join(out)


def value_forms(value: str) -> set[str]:
    """The strings that show `value` however a command prints it (see the module docstring); a multi-line
    value also line by line, since output may be flushed between its lines."""
    parts = [value]
    if "\n" in value:
        parts += [line.strip("\r") for line in value.split("\n")]
    forms = set().union(*(_encodings(p) for p in parts if len(p.strip()) >= MIN_SECRET_LEN))
    return {f for f in forms | _base64_cores(value.encode()) if len(f) >= MIN_SECRET_LEN}


class Redactor:
    def __init__(self, secrets: Iterable[str] = (), environ: Mapping[str, str] | None = None):
        self._values: dict[str, None] = {}
        self._forms: list[str] = []
        self._by_value: AhoCorasick | None = None  # every form of every secret, found in one pass
        self._short: re.Pattern[str] | None = None
        self._longest = 0  # the most characters a printed form of a secret takes
        for value in list(secrets) + env_secrets(environ):
            self.add(value)

    def add(self, value: str | None) -> None:
        """Mask `value` from now on. A value shorter than MIN_SECRET_LEN is masked as a whole word only:
        runbook secrets that short are refused at start, but an action may hand one over while it runs."""
        if not value or value in self._values:
            return
        self._values[value] = None
        if len(value) < MIN_SECRET_LEN:
            short = sorted((v for v in self._values if len(v) < MIN_SECRET_LEN), key=len, reverse=True)
            self._short = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, short)) + r")(?![A-Za-z0-9])")
            return
        forms = value_forms(value)
        self._forms = sorted(set(self._forms) | forms)
        # leftmost-longest: a secret that contains another is masked whole
        self._by_value = AhoCorasick(self._forms, matchkind=MatchKind.LeftmostLongest)
        self._longest = max(self._longest, max(map(len, forms)))

    # ---- masking -----------------------------------------------------------------------------
    def text(self, s: str) -> str:
        """`s` with every secret masked: in what a terminal shows of it (colours, escape sequences and
        controls inside a secret do not hide it, nor do `\\r` redraws) and inside its escape sequences."""
        if not s:
            return s
        if is_plain(s):
            return self._mask(s, self.spans(s))
        colours_only = False
        if "\x1b" in s:
            stripped, colours_only = without_colours(s)
            if not colours_only:  # other sequences: a title or a link may carry a secret, the cursor may move
                s = self._mask_in_sequences(s)
        shown = visible(stripped) if colours_only else visible(s)
        spans = self.spans(shown)
        if spans:
            s = self._mask(s, spans) if shown is s else self._mask_through(s, shown, spans)
        if ("\r" in s or "\b" in s) if colours_only else redraws(s):
            s = self._mask_redrawn(s)
        return s

    def source(self, s: str) -> str:
        """A runbook's own text: masked by secret value and token shape, but not by setting name, since
        `capture = { token = "last_line" }` is the runbook's syntax and must still parse the same."""
        return self._mask(s, self.spans(s, settings=False))

    def value(self, v: Any) -> Any:
        """Redact every string inside a JSON-like value; a string under a secret's name (an action's
        `{"SecretAccessKey": ...}` output) is masked whole, as `"SecretAccessKey": "..."` is in text."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: MASK if isinstance(k, str) and isinstance(x, str) and _secret_name(k) and _secret_value(x)
                    else self.value(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        return v

    def hides(self, line: str, value: str) -> bool:
        """Whether `value`, found in `line` (a captured value), is masked there: then it is a secret."""
        return bool(value) and value in line and value not in self.text(line)

    def spans(self, s: str, settings: bool = True) -> list[tuple[int, int]]:
        """Where the secrets are in `s`: sorted, merged (start, end) pairs."""
        found: list[tuple[int, int]] = []
        if self._by_value is not None:
            found += [(a, b) for _, a, b in self._by_value.find_matches_as_indexes(s)]
        if self._short is not None:
            found += [m.span() for m in self._short.finditer(s)]
        if len(s) < _SHORT and _ANY_SHAPE.search(s) is None:
            return found
        for rx in _SHAPE_PASSES:
            found += [_secret_span(m) for m in rx.finditer(s)]
        if settings:
            for rx in _SETTINGS:
                found += [span for m in rx.finditer(s) if (span := _setting_span(s, m))]
        if len(found) < 2:
            return found
        found.sort()
        merged = [found[0]]
        for a, b in found[1:]:
            if a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    @staticmethod
    def _mask(s: str, spans: list[tuple[int, int]]) -> str:
        """Each span masked; one that runs over several lines is masked line by line, so the output
        keeps its line count (the journal and the screen count lines)."""
        if not spans:
            return s
        out, pos = [], 0
        for a, b in spans:
            secret = s[a:b]
            out += [s[pos:a], MASK if "\n" not in secret else
                    "\n".join(MASK if part else "" for part in secret.split("\n"))]
            pos = b
        out.append(s[pos:])
        return "".join(out)

    def _mask_in_sequences(self, s: str) -> str:
        """Secrets inside escape sequences (a window title, the URL of an OSC 8 link)."""
        found = [(m.start("text") + a, m.start("text") + b) for m in _SEQUENCE_TEXT.finditer(s)
                 for a, b in self.spans(m.group("text"))]
        return self._mask(s, found)

    def _mask_through(self, s: str, shown: str, spans: list[tuple[int, int]]) -> str:
        """Mask in `s` the spans found in `shown` (`s` without what prints nothing, same lines), keeping
        the escape sequences inside a masked secret so colours stay as they were."""
        raw_lines, shown_lines = s.split("\n"), shown.split("\n")
        line_starts = [0]
        for line in shown_lines[:-1]:
            line_starts.append(line_starts[-1] + len(line) + 1)
        per_line: dict[int, list[tuple[int, int]]] = {}
        for a, b in spans:
            first, last = bisect.bisect_right(line_starts, a) - 1, bisect.bisect_right(line_starts, b - 1) - 1
            for k in range(first, last + 1):
                lo, hi = max(a, line_starts[k]) - line_starts[k], min(b, line_starts[k] + len(shown_lines[k])) - line_starts[k]
                if lo < hi:
                    per_line.setdefault(k, []).append((lo, hi))
        for k, local in per_line.items():
            raw_lines[k] = _mask_line(raw_lines[k], local)
        return "\n".join(raw_lines)

    def _mask_redrawn(self, s: str) -> str:
        """A line a terminal draws over itself (`\\r`, backspace, cursor moves) can show a secret that is in
        none of its pieces: such a line, if it shows one, is replaced by what it shows, masked."""
        lines = s.split("\n")
        changed = False
        for i, line in enumerate(lines):
            if REDRAW.search(line) is None:
                continue
            shown = clean_line(line)
            spans = self.spans(shown)
            if spans:
                lines[i] = self._mask(shown, spans)
                changed = True
        return "\n".join(lines) if changed else s

    # ---- streaming ---------------------------------------------------------------------------
    def hold(self, text: str) -> int:
        """How many characters at the end of `text` must wait for more output before it is flushed, so that
        no secret is cut in two: from a private key's BEGIN line whose END has not come, and, in an unfinished
        last line, the last three words and at least the longest form of the longest secret."""
        keep = 0
        edges = list(_KEY_EDGE.finditer(text, max(0, len(text) - MAX_KEY)))
        if edges and "BEGIN" in edges[-1].group():
            keep = len(text) - edges[-1].start()
        if text.endswith("\n"):
            return keep
        window = max(text.rfind("\n") + 1, len(text) - MAX_HOLD)
        gaps = [m.start() for m in _GAPS.finditer(text, window)]
        cut = max(window, min(gaps[-3] if len(gaps) >= 3 else window, len(text) - self._longest - 64))
        esc = text.rfind("\x1b", window, cut)  # never inside an escape sequence
        if esc != -1 and (m := INVISIBLE.match(text, esc)) and m.end() > cut:
            cut = esc
        return max(keep, len(text) - cut)


_GAPS = re.compile(r"[ \t]+")
_SEQUENCE_TEXT = re.compile(r"\x1b[\]PX^_](?P<text>[^\x07\x1b\n]+)")  # the text of OSC, DCS, SOS, PM, APC strings


def _mask_line(raw: str, spans: list[tuple[int, int]]) -> str:
    """Mask in one raw line the spans of its visible text, keeping the invisible sequences inside them."""
    vis_starts, raw_starts, pos, n = [], [], 0, 0  # where each visible run starts, in both
    for m in INVISIBLE.finditer(raw):
        if m.start() > pos:
            vis_starts.append(n)
            raw_starts.append(pos)
            n += m.start() - pos
        pos = m.end()
    vis_starts.append(n)
    raw_starts.append(pos)

    def at(i: int) -> int:
        k = bisect.bisect_right(vis_starts, i) - 1
        return raw_starts[k] + i - vis_starts[k]

    out, pos = [], 0
    for a, b in sorted(spans):
        ra, rb = at(a), at(b - 1) + 1
        out += [raw[pos:ra], MASK, "".join(m.group() for m in INVISIBLE.finditer(raw, ra, rb))]
        pos = rb
    out.append(raw[pos:])
    return "".join(out)


def _secret_span(m: re.Match[str]) -> tuple[int, int]:
    start = m.start()
    for name, index in m.re.groupindex.items():
        if m.start(index) == -1:
            continue
        if name.startswith("s_"):
            return m.span(index)
        if name.startswith("p_"):
            start = m.start(index)
    return start, m.end()


def _secret_name(name: str) -> bool:
    """Whether a setting or field called `name` holds a secret (`DB_PASSWORD`, `SessionToken`)."""
    found = _SETTING_NAME.search(name)
    return found is not None and found.start() == 0 and name.strip("\"' \t").lower() not in _NOT_SECRET_NAMES


def _secret_value(value: str) -> bool:
    """Whether a secret-named setting's value can be a secret: not a boolean, template, variable or mask."""
    return bool(value) and value.lower() not in _NOT_SECRET_VALUES and not value.startswith(_NOT_SECRET_STARTS) \
        and not value.startswith(MASK)


def _setting_span(s: str, m: re.Match[str]) -> tuple[int, int] | None:
    """The value's span if the whole name before the separator is a secret's. An unquoted `name: value`
    counts only at the start of a line (YAML), not in prose ("bad token: expired")."""
    sep = m.start()
    name = _SETTING_NAME.search(s, max(0, sep - 64), sep)
    if name is None or name.group().strip("\"' \t").lower() in _NOT_SECRET_NAMES:
        return None
    if s[sep] == ":" and not name.group("quote"):
        if s[s.rfind("\n", 0, sep) + 1:name.start()].strip(" \t-"):
            return None
    group = next(g for g in ("q1", "q2", "bare") if m.start(g) != -1)
    if not _secret_value(m.group(group)) or s.startswith(MASK, m.start(group)):  # a bare value ends at `]`
        return None
    return m.span(group)
