"""Redaction before storage: secrets never reach the journal or an export."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"

# Token shapes worth catching even when nobody declared them secret. Each starts with its literal prefix
# and checks the word boundary before it with a lookbehind (`xox(?<!\wxox)` is `\bxox`): a leading `\b`
# keeps `re` from scanning for the prefix, and costs 15 ms per MB of output instead of 0.3.
PATTERNS = [
    re.compile(r"A(?<!\wA)[KS]IA[0-9A-Z]{16}\b"),  # AWS access key ids (AKIA, ASIA)
    re.compile(r"(?i)(aws_secret_access_key|aws_session_token)(\s*[=:]\s*)\S+"),
    re.compile(r"gh(?<!\wgh)[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{22,}\b"),
    re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]+"),  # Slack webhooks
    re.compile(r"xox(?<!\wxox)[abposr]-[A-Za-z0-9\-]{10,}\b"),  # Slack tokens
]
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY", re.I)
MIN_SECRET_LEN = 4  # shorter values would redact half of every line


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    return [v for k, v in environ.items() if SECRET_ENV.search(k) and len(v) >= MIN_SECRET_LEN]


class Redactor:
    def __init__(self, secrets: Iterable[str] = (), environ: Mapping[str, str] | None = None):
        self._values: set[str] = set()
        self._rx: re.Pattern | None = None
        for value in list(secrets) + env_secrets(environ):
            self.add(value)

    def add(self, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_LEN and value not in self._values:
            self._values.add(value)
            # longest first, so a secret that contains another is masked whole
            alts = sorted(self._values, key=len, reverse=True)
            self._rx = re.compile("|".join(re.escape(v) for v in alts))

    def text(self, s: str) -> str:
        if not s:
            return s
        if self._rx is not None:
            s = self._rx.sub(MASK, s)
        for rx in PATTERNS:
            if rx.groups:
                s = rx.sub(lambda m: m.group(1) + m.group(2) + MASK, s)
            else:
                s = rx.sub(MASK, s)
        return s

    def value(self, v: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        return v
