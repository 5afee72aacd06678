"""Reading `with` values: runbooks give strings ("true", "15m", "25"); actions want types."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ActionError
from ..runbook.durations import parse_duration

MISSING = object()


def dig(data: Any, path: str) -> Any:
    """`a.b.0.c` into nested dicts and lists; MISSING when absent."""
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
    return data


def flag(value: Any, name: str = "value") -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("true", "yes", "1", "on"):
        return True
    if s in ("false", "no", "0", "off", ""):
        return False
    raise ActionError(f"{name} must be true or false, not {value!r}")


def number(value: Any, name: str = "value") -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ActionError(f"{name} must be a whole number, not {value!r}") from None


def seconds(value: Any, name: str = "value") -> float:
    try:
        return parse_duration(value)
    except ValueError as err:
        raise ActionError(f"{name}: {err}") from None


def mapping(value: Any, name: str = "value") -> dict[str, Any]:
    """A table, a JSON object, or `k=v,k=v` text."""
    if not value:
        return {}
    if isinstance(value, dict):
        return dict(value)
    s = str(value).strip()
    if s.startswith("{"):
        try:
            return dict(json.loads(s))
        except ValueError:
            raise ActionError(f"{name} is not valid JSON: {s[:60]}") from None
    out = {}
    for part in s.replace(";", ",").split(","):
        if part.strip():
            k, sep, v = part.partition("=")
            if not sep:
                raise ActionError(f"{name}: expected key=value, got {part.strip()!r}")
            out[k.strip()] = v.strip()
    return out


def words(value: Any) -> list[str]:
    """A list, or comma-separated text."""
    if not value:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [w.strip() for w in str(value).split(",") if w.strip()]


def getenv(ctx, name: str) -> str | None:
    """From the run's environment first, then this process's."""
    return (ctx.env or {}).get(name) or os.environ.get(name)
