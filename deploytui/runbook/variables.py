"""The values of a runbook's variables: given on the command line or in a form, else from the
environment (`from_env`), else the default (a template). Validation errors are for people."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ..errors import UserError
from . import templates
from .model import Runbook, Var


def problem(name: str, spec: Var, value: str) -> str | None:
    """Why `value` is not acceptable for the variable, or None."""
    if spec.choices and value not in spec.choices:
        return f"{name}: {value!r} is not one of {', '.join(spec.choices)}"
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return f"{name}: {value!r} does not match {spec.pattern}"
    return None


def default_for(name: str, spec: Var, builtins: dict[str, Any], environ: Mapping[str, str]) -> str | None:
    if spec.from_env and environ.get(spec.from_env):
        return environ[spec.from_env]
    if spec.default is None:
        return None
    try:
        return templates.render(spec.default, builtins)
    except templates.TemplateProblem as e:
        raise UserError(f"vars '{name}': default: {e}", 2) from None


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--var {pair!r}: expected NAME=VALUE", 2)
        k, v = pair.split("=", 1)
        out[k.strip()] = v
    return out


def resolve(book: Runbook, given: Mapping[str, str], *, builtins: dict[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(values, names still missing). Raises UserError for unknown names and invalid values."""
    environ = os.environ if environ is None else environ
    builtins = builtins if builtins is not None else templates.builtins()
    unknown = [k for k in given if k not in book.vars]
    if unknown:
        declared = ", ".join(book.vars) or "none"
        raise UserError(f"unknown variable {unknown[0]!r} (this runbook declares: {declared})", 2)
    values: dict[str, str] = {}
    missing: list[str] = []
    for name, spec in book.vars.items():
        value = given.get(name)
        if value is None:  # a default may use the variables declared above it
            value = default_for(name, spec, {**builtins, **values}, environ)
        if value is None:
            missing.append(name)
            continue
        why = problem(name, spec, value)
        if why:
            raise UserError(f"--var {why}", 2)
        values[name] = value
    return values, missing


def clock_builtins(clock) -> dict[str, Any] | None:
    """The built-in names (`today`, `now`) as CLOCK reads them (a rehearsal's world clock); None: real time."""
    if clock is None:
        return None
    from datetime import UTC, datetime

    return templates.builtins(datetime.fromtimestamp(clock.now(), UTC))


def secret_values(book: Runbook, values: Mapping[str, Any]) -> list[str]:
    return [str(values[n]) for n, spec in book.vars.items() if spec.secret and values.get(n)]


def masked(book: Runbook, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("[SECRET]" if k in book.vars and book.vars[k].secret else v) for k, v in values.items()}
