"""Jinja2 templates for runbooks: sandboxed, undefined variables are errors, and every value that
lands in a shell command is shell-quoted, so no variable value can change the command's structure."""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup


class TemplateProblem(ValueError):
    """A template that does not render: undefined variable, syntax error, sandbox refusal."""


def _shell_finalize(value: Any) -> str:
    if isinstance(value, Markup):  # `{{ x | raw }}`: the author takes responsibility
        return str(value)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))


def _raw(value: Any) -> Markup:
    return Markup(str(value))


@lru_cache(maxsize=2)
def _env(shell: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        finalize=_shell_finalize if shell else None,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["raw"] = _raw
    return env


def builtins(now: datetime | None = None, operator: str | None = None) -> dict[str, Any]:
    """Names every template can use besides the runbook's own variables."""
    now = (now or datetime.now(UTC)).astimezone()
    return {
        "today": now.strftime("%Y-%m-%d"),
        "now": now.isoformat(timespec="seconds"),
        "utc_stamp": now.astimezone(UTC).strftime("%Y%m%d%H%M%S"),
        "operator": operator or current_operator(),
        "host": socket.gethostname(),
    }


def current_operator() -> str:
    for name in ("DEPLOYTUI_OPERATOR", "USER", "LOGNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def render(text: str, variables: dict[str, Any], *, shell: bool = False) -> str:
    """Render `text`; in shell commands (`shell=True`) every `{{ value }}` is shell-quoted."""
    try:
        return _env(shell).from_string(text).render(variables)
    except TemplateError as e:
        raise TemplateProblem(_describe(e)) from None


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Render the strings inside a `with` table (dicts and lists too), never shell-quoted."""
    if isinstance(value, str):
        return render(value, variables) if "{" in value else value
    if isinstance(value, dict):
        return {k: render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    return value


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """Evaluate a `when` condition. `{{ }}` around it is accepted and ignored."""
    expr = expression.strip()
    if expr.startswith("{{") and expr.endswith("}}"):
        expr = expr[2:-2].strip()
    try:
        return _env(False).compile_expression(expr, undefined_to_none=False)(**variables)
    except TemplateError as e:
        raise TemplateProblem(_describe(e)) from None


def syntax_problem(text: str, *, expression: bool = False) -> str | None:
    """The syntax error in a template or expression, or None."""
    try:
        if expression:
            expr = text.strip()
            if expr.startswith("{{") and expr.endswith("}}"):
                expr = expr[2:-2]
            _env(False).compile_expression(expr)
        else:
            _env(False).parse(text)
    except TemplateError as e:
        return _describe(e)
    return None


def referenced_names(text: str, *, expression: bool = False) -> set[str]:
    """Variables a template reads (for the linter's undefined-variable check)."""
    from jinja2 import meta

    env = _env(False)
    if expression:
        expr = text.strip()
        if expr.startswith("{{") and expr.endswith("}}"):
            expr = expr[2:-2]
        text = "{{ " + expr + " }}"
    return meta.find_undeclared_variables(env.parse(text))


def _describe(e: TemplateError) -> str:
    msg = getattr(e, "message", None) or str(e)
    if "is undefined" in msg:
        return f"undefined variable: {msg}"
    return msg
