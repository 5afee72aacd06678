"""The values of a runbook's variables: given on the command line or in a form, else from the
environment (`from_env`), else the default (a template). Validation errors are for people."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import UserError
from ..text.redact import MIN_SECRET_LEN
from . import templates
from .model import Runbook, Var


def problem(name: str, spec: Var, value: str) -> str | None:
    """Why `value` is not acceptable for the variable, or None. A secret's value is never in the answer."""
    if spec.secret and 0 < len(value) < MIN_SECRET_LEN:  # empty: not set, nothing to mask
        # refused, not masked: masking a 1-3 character value would mask that text all through the output,
        # and masking it only as a whole word would show it inside longer words
        return (f"{name}: a secret must be at least {MIN_SECRET_LEN} characters long, since deploytui masks "
                f"secrets in output by their value (this one has {len(value)})")
    shown = "the value given" if spec.secret else repr(value)
    if spec.choices and value not in spec.choices:
        return f"{name}: {shown} is not one of {', '.join(spec.choices)}"
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return f"{name}: {shown} does not match {spec.pattern}"
    return None


def env_name(name: str) -> str:
    """The environment variable any runbook variable can be given through (the way for secrets in pipelines)."""
    return "DEPLOYTUI_VAR_" + "".join(c if c.isalnum() else "_" for c in name).upper()


def from_environment(name: str, spec: Var, environ: Mapping[str, str]) -> str | None:
    for key in (spec.from_env, env_name(name)):
        if key and environ.get(key):
            return environ[key]
    return None


def refuse_secrets_on_the_command_line(book: Runbook, given: Mapping[str, str]) -> None:
    """A secret on the command line is in every user's `ps` (and in `share`'s printed commands): refused."""
    for name in given:
        spec = book.vars.get(name)
        if spec is not None and spec.secret:
            where = f"{spec.from_env} or {env_name(name)}" if spec.from_env else env_name(name)
            raise UserError(f"--var {name}: a secret on the command line is visible to every user in `ps`: set "
                            f"{where} in the environment instead, or leave it for the start form to ask", 2)


def default_for(name: str, spec: Var, builtins: dict[str, Any], environ: Mapping[str, str],
                waiting: Iterable[str] = ()) -> str | None:
    """The value a variable has unless given: from the environment, else its default rendered with the
    values known so far. A default that uses a variable still `waiting` for a value has none yet (the start
    form asks for both, and fills this one in from the other)."""
    found = from_environment(name, spec, environ)
    if found is not None:
        return found
    if spec.default is None:
        return None
    if "{" in spec.default and templates.referenced_names(spec.default) & set(waiting):
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
    """(values, names still missing). Raises UserError for unknown names and invalid values. A variable a
    prompt step asks for is neither: it has a value once the run has asked (or once given)."""
    environ = os.environ if environ is None else environ
    builtins = builtins if builtins is not None else templates.builtins()
    unknown = [k for k in given if k not in book.vars]
    if unknown:
        declared = ", ".join(book.vars) or "none"
        raise UserError(f"unknown variable {unknown[0]!r} (this runbook declares: {declared})", 2)
    values: dict[str, str] = {}
    missing: list[str] = []
    asked = book.asked_vars()
    for name, spec in book.vars.items():
        value = given.get(name)
        if value is None and name in asked:  # a prompt step asks for it when the run gets there
            continue
        if value is None:  # a default may use the variables declared above it
            value = default_for(name, spec, {**builtins, **values}, environ, waiting=[*missing, *asked])
        if value is None:
            missing.append(name)
            continue
        why = problem(name, spec, value)
        if why:
            raise UserError(f"--var {why}", 2)
        values[name] = value
    return values, missing


def clock_builtins(clock: Any) -> dict[str, Any] | None:
    """The built-in names (`today`, `now`) as CLOCK reads them (a rehearsal's world clock); None: real time."""
    if clock is None:
        return None
    from datetime import UTC, datetime

    return templates.builtins(datetime.fromtimestamp(clock.now(), UTC))


def secret_values(book: Runbook, values: Mapping[str, Any]) -> list[str]:
    return [str(values[n]) for n, spec in book.vars.items() if spec.secret and values.get(n)]


SECRET_VAR = "[SECRET]"  # a secret variable's value, as the journal keeps it


def masked(book: Runbook, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (SECRET_VAR if k in book.vars and book.vars[k].secret else v) for k, v in values.items()}
