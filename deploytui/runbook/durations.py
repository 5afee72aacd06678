"""Durations as runbooks write them: "90s", "15m", "1h", "1h30m", "2d", or a bare number of seconds."""

import re
from collections.abc import Mapping
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; raises ValueError with a message fit for a person."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (use e.g. '90s', '15m', '1h30m')")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{text} is negative")
        return float(text)
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if s[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        raise ValueError(f"{text!r} is not a duration (use e.g. '90s', '15m', '1h30m')")
    return total


def format_duration(seconds: float) -> str:
    """`3725` -> `1h02m05s`; short and exact, for timelines and countdowns."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def seconds_of(value: str | int | float | None, variables: Mapping[str, Any]) -> float | None:
    """A runbook duration that may be a template (`wait = "{{ update_every }}"`), in seconds; None when
    not given. Raises ValueError (not a duration) or templates.TemplateProblem (does not render)."""
    if value is None:
        return None
    if isinstance(value, str) and "{" in value:
        from . import templates

        value = templates.render(value, dict(variables)).strip()
    return parse_duration(value)
