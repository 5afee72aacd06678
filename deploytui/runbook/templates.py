"""Jinja2 templates for runbooks: sandboxed, undefined variables are errors, and every value that
lands in a shell command is shell-quoted, so no variable value can change the command's structure.

Three ways to render, for three readers:
- `render(text, vars, shell=True, secrets=...)`: a command for bash. A secret variable becomes a reference to
  an environment variable (`"$DEPLOYTUI_SECRET_DB_PASSWORD"`) that the engine hands to the child, so the
  secret is in no command line, screen or `ps` listing.
- `render(text, vars)`: a value for a native action (secrets are real values, in memory only).
- `for_people(text, vars, secrets=...)`: anything a person or pair reads (titles, headers, Slack, dialogs,
  plans): secrets masked, unknown variables shown as ‹name›, never raw template syntax."""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup


class TemplateProblem(ValueError):
    """A template that does not render: undefined variable, syntax error, sandbox refusal."""


SECRET_SHOWN = "••••••"
SECRET_ENV_PREFIX = "DEPLOYTUI_SECRET_"


def secret_env_name(name: str) -> str:
    """The environment variable that carries secret variable `name` to a command."""
    return SECRET_ENV_PREFIX + "".join(c if c.isalnum() else "_" for c in name).upper()


class SecretRef(str):
    """A secret variable inside a shell command: the command refers to it, the child's environment holds it."""

    def __new__(cls, name: str) -> SecretRef:
        return super().__new__(cls, "$" + secret_env_name(name))


class Masked(str):
    """A secret variable in text a person reads."""

    def __new__(cls) -> Masked:
        return super().__new__(cls, SECRET_SHOWN)


def _shell_finalize(value: Any) -> str:
    if isinstance(value, SecretRef):
        return f'"{value}"'  # double quotes: the shell expands it, as one word, never as code
    if isinstance(value, Markup):  # `{{ x | raw }}`: the author takes responsibility
        return str(value)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))


def _raw(value: Any) -> Markup:
    return Markup(str(value))


def _remote(value: Any) -> Markup:
    """`{{ x | remote }}`: quoted for a second shell too (`ssh host cmd ...`, `sudo sh -c ...`, `bash -c ...`),
    where one level of quoting is undone before the remote shell reads the words."""
    if isinstance(value, SecretRef):  # `check` refuses this first and says to use stdin (lint._lint_shell)
        raise TemplateProblem("a secret cannot go through a second shell's command line: give it on stdin")
    return Markup(shlex.quote(shlex.quote(str(value))))


class _PeopleUndefined(ChainableUndefined):
    """An unknown variable in text for people: shown as ‹name› (a plan before the value is known)."""

    def __str__(self) -> str:
        return f"‹{self._undefined_name}›"

    __html__ = __str__


def _regex_finalize(value: Any) -> str:
    if isinstance(value, Markup):  # `{{ x | raw }}`: a pattern, placed as written
        return str(value)
    return re.escape(str(value))


@lru_cache(maxsize=4)
def _env(shell: bool, people: bool = False, regex: bool = False) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=_PeopleUndefined if people else StrictUndefined,
        finalize=_shell_finalize if shell else _regex_finalize if regex else None,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["raw"] = _raw
    env.filters["remote"] = _remote
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


def render(text: str, variables: dict[str, Any], *, shell: bool = False, secrets: Iterable[str] = ()) -> str:
    """Render `text`; in shell commands (`shell=True`) every `{{ value }}` is shell-quoted and each variable
    named in `secrets` becomes a reference to its environment variable (see `secret_environment`)."""
    if shell:
        variables = {**variables, **{n: SecretRef(n) for n in secrets if n in variables}}
    try:
        return _env(shell).from_string(text).render(variables)
    except TemplateError as e:
        raise TemplateProblem(_describe(e, text)) from None


def pattern(text: str, variables: dict[str, Any]) -> str:
    """A regular expression with variables in it (`until`, `capture = "re:..."`): each value matches itself
    literally (`1.2.3` does not match `1x2y3`); `{{ x | raw }}` places a value as a pattern."""
    try:
        return _env(False, regex=True).from_string(text).render(variables)
    except TemplateError as e:
        raise TemplateProblem(_describe(e, text)) from None


def items_of(value: Any) -> list[str]:
    """The items of an `each` list: a list as it is; a string holding a JSON array (an action's output
    captured); else words separated by commas, spaces or new lines (a `--var`, the lines a command printed)."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = str(value or "").strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [v if isinstance(v, str) else json.dumps(v) for v in parsed]
    return [w for w in re.split(r"[,\s]+", text) if w]


def secret_environment(variables: dict[str, Any], secrets: Iterable[str]) -> dict[str, str]:
    """The environment a command needs for the secret references `render(..., shell=True)` wrote."""
    return {secret_env_name(n): str(variables[n]) for n in secrets if n in variables}


def for_people(text: str | None, variables: dict[str, Any], *, secrets: Iterable[str] = ()) -> str:
    """Text a person or a pair reads: secrets masked, unknown variables as ‹name›, never raw template syntax.
    A template that cannot render at all (a syntax error `check` reports) is shown with its markers
    stripped rather than as Jinja."""
    if not text:
        return ""
    if "{" not in text:
        return text
    shown = {**variables, **{n: Masked() for n in secrets if n in variables}}
    try:
        return _env(False, people=True).from_string(text).render(shown)
    except TemplateError:
        return text.replace("{{", "‹").replace("}}", "›").replace("{%", "‹").replace("%}", "›")


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
        value = _env(False).compile_expression(expr, undefined_to_none=False)(**variables)
        if isinstance(value, Undefined):  # a bare unknown name: an error here, not later where it is used
            value._fail_with_undefined_error()
        return value
    except TemplateError as e:
        raise TemplateProblem(_describe(e, expr)) from None


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
        return _describe(e, text)
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


def _describe(e: TemplateError, text: str = "") -> str:
    msg = getattr(e, "message", None) or str(e)
    if "is undefined" in msg:
        return f"undefined variable: {msg}"
    if "comment" in msg and "{#" in text:
        shown = re.search(r"\$?\{#[^}\s]*\}?", text)
        example = shown.group(0) if shown else "{#"
        return (f"`{{#` starts a template comment, so {example} is read as one ({msg}); to write it as it "
                f"is, wrap it: {{% raw %}}{example}{{% endraw %}}")
    return msg
