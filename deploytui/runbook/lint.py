"""`deploytui check`: everything that can be known wrong about a runbook before it runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import zoneinfo
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import RunbookError
from . import templates
from .durations import parse_duration
from .loader import LineMap, Problem, load
from .model import Runbook, Step

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
FULL_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
RUNTIME_NAMES = {"run_id", "rehearsal", "environment", "release"}
CAPTURE_SPECIAL = ("stdout", "last_line", "exit_code")


class ActionSpecLike(Protocol):
    def check_params(self, given: dict[str, Any]) -> str | None: ...


# The native actions a runbook may use, by name. The format knows nothing of them: the caller (the CLI,
# a test) passes `integrations.registry.registry()`, so this layer never imports the ones above it.
Actions = Mapping[str, ActionSpecLike]


def check_file(path: str, actions: Actions) -> tuple[Runbook | None, list[str]]:
    """Load and lint; returns the runbook (None when it did not load) and the problem lines."""
    try:
        book = load(path)
    except RunbookError as e:
        return None, e.problems
    return book, [str(p) for p in lint(book, actions)]


def known_names(book: Runbook) -> set[str]:
    names = set(book.vars) | set(templates.builtins()) | RUNTIME_NAMES
    for step in book.steps:
        names |= set(step.capture)
    return names


def lint(book: Runbook, actions: Actions) -> list[Problem]:
    out: list[Problem] = []
    lines = LineMap(book.text)

    def add(loc: tuple, where: str, field: str, message: str) -> None:
        out.append(Problem(book.path, lines.find(loc), where, field, message))

    names = known_names(book)
    step_ids = [s.id for s in book.steps]
    section_ids = [s.id for s in book.sections]
    targets = set(step_ids) | set(section_ids)

    if not book.steps:
        add(("runbook",), "runbook", "steps", "no [[steps]]: a runbook needs at least one step")
    for ident, n in Counter(step_ids).items():
        if n > 1:
            i = len(step_ids) - 1 - step_ids[::-1].index(ident)
            add(("steps", i, "id"), f"step '{ident}'", "id", f"duplicate id (used by {n} steps)")
    for ident, n in Counter(section_ids).items():
        if n > 1:
            add(("sections",), f"section '{ident}'", "id", f"duplicate id (used by {n} sections)")

    _lint_header(book, add, names)
    _lint_schedule(book, add)
    declared_above: set[str] = set()
    for name, var in book.vars.items():
        loc = ("vars", name)
        if var.pattern is not None:
            try:
                re.compile(var.pattern)
            except re.error as e:
                add(loc + ("pattern",), f"vars '{name}'", "pattern", f"bad regex: {e}")
        if var.choices and var.default is not None and "{" not in var.default and var.default not in var.choices:
            add(loc + ("default",), f"vars '{name}'", "default", f"{var.default!r} is not one of the choices {var.choices}")
        if var.default is not None:  # defaults see the built-ins and the variables declared above
            above = set(templates.builtins()) | declared_above
            _lint_template(var.default, loc + ("default",), f"vars '{name}'", "default", add, above)
        declared_above.add(name)

    gotos: set[str] = set()
    for i, step in enumerate(book.steps):
        _lint_step(book, i, step, add, names, set(step_ids), targets, gotos, actions)

    for j, sec in enumerate(book.sections):
        if sec.on_demand and sec.id not in gotos:
            add(("sections", j), f"section '{sec.id}'", "on_demand",
                "unreachable: no decision's goto leads here (add a `decide` option with goto = "
                f"\"{sec.id}\")")
        if sec.on_demand and not book.steps_of_section(sec.id):
            add(("sections", j), f"section '{sec.id}'", "", "on-demand section has no steps")
    out.sort(key=lambda p: p.line or 0)
    return out


def _lint_header(book: Runbook, add, names) -> None:
    for field in ("environment", "release", "title"):
        value = getattr(book.runbook, field)
        _lint_template(value, ("runbook", field), "runbook", field, add, names)
    if book.notify and book.notify.slack:
        _lint_template(book.notify.slack, ("notify", "slack"), "notify", "slack", add, names)


def _lint_schedule(book: Runbook, add) -> None:
    sched = book.schedule
    if not sched:
        return
    for field in ("days", "avoid"):
        for day in getattr(sched, field):
            if day.title() not in DAYS and day.title() not in FULL_DAYS:
                add(("schedule", field), "schedule", field, f"{day!r} is not a day (use {', '.join(DAYS)})")
    if sched.holidays:
        import holidays

        if sched.holidays.upper() not in holidays.list_supported_countries():
            add(("schedule", "holidays"), "schedule", "holidays",
                f"{sched.holidays!r} is not a country the holidays package knows (e.g. 'US', 'GB')")
    if sched.window:
        for field in ("start", "end"):
            value = getattr(sched.window, field)
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                add(("schedule", "window", field), "schedule", f"window.{field}", f"{value!r} is not HH:MM")
        try:
            zoneinfo.ZoneInfo(sched.window.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            add(("schedule", "window", "tz"), "schedule", "window.tz", f"{sched.window.tz!r} is not a time zone")


def _lint_step(book, i: int, step: Step, add, names, step_ids, targets, gotos, actions: Actions) -> None:
    where = f"step '{step.id}'"
    loc = ("steps", i)
    if step.run and step.uses:
        add(loc + ("uses",), where, "uses", "a step has `run` or `uses`, not both")
    if step.interactive and step.uses:
        add(loc + ("interactive",), where, "interactive", "only `run` commands can be interactive")
    for field in ("wait", "timeout", "retry_delay"):
        _lint_duration(getattr(step, field), loc + (field,), where, field, add)
    if step.retries < 0:
        add(loc + ("retries",), where, "retries", "must be 0 or more")
    for field in ("title", "body"):
        if getattr(step, field):
            _lint_template(getattr(step, field), loc + (field,), where, field, add, names)
    if step.when:
        _lint_template(step.when, loc + ("when",), where, "when", add, names, expression=True)
    for field in ("run", "rehearse"):
        if getattr(step, field):
            _lint_shell(getattr(step, field), loc + (field,), where, field, add, names)
    if step.cwd:
        _lint_template(step.cwd, loc + ("cwd",), where, "cwd", add, names)
    _lint_with(step.with_, loc + ("with",), where, "with", add, names)
    if step.uses:
        _lint_action(actions, step.uses, step.with_, loc, where, "", add)
    nb = step.not_before
    if nb:
        if nb.step is not None and nb.step not in step_ids:
            add(loc + ("not_before",), where, "not_before.step", f"no step has id {nb.step!r}")
        if nb.step == step.id:
            add(loc + ("not_before",), where, "not_before.step", "a step cannot wait for itself")
        if (nb.step is None) == (nb.at is None):
            add(loc + ("not_before",), where, "not_before", "give either `step` (with `wait`) or `at`")
        _lint_duration(nb.wait, loc + ("not_before",), where, "not_before.wait", add)
        if nb.at:
            _lint_template(nb.at, loc + ("not_before",), where, "not_before.at", add, names)
    if step.decide:
        if not step.decide.options:
            add(loc + ("decide",), where, "decide.options", "a decision needs at least one option")
        for k, opt in enumerate(step.decide.options):
            if opt.goto is not None:
                gotos.add(opt.goto)
                if opt.goto not in targets:
                    add(loc + ("decide",), where, f"decide.options[{k}].goto", f"no step or section has id {opt.goto!r}")
    for var, spec in step.capture.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            add(loc + ("capture",), where, f"capture.{var}", "not a valid variable name")
        if spec.startswith("re:"):
            try:
                rx = re.compile(spec[3:], re.M)
                if rx.groups > 1:
                    add(loc + ("capture",), where, f"capture.{var}", "a capture regex has at most one group")
            except re.error as e:
                add(loc + ("capture",), where, f"capture.{var}", f"bad regex: {e}")
        elif step.run and spec not in CAPTURE_SPECIAL:
            add(loc + ("capture",), where, f"capture.{var}",
                f"{spec!r}: a shell step captures stdout, last_line, exit_code or re:PATTERN")
    if not (step.has_command or step.checks or step.wait or step.decide or step.panes or step.body or step.not_before):
        add(loc, where, "", "does nothing: give it run, uses, checks, wait, decide, panes or a body")
    for k, pane in enumerate(step.panes):
        ploc = loc + ("panes", k)
        pf = f"panes[{k}]"
        kinds = [x for x in (pane.tail, pane.watch, pane.uses) if x]
        if len(kinds) != 1:
            add(ploc, where, pf, "a pane has exactly one of tail, watch or uses")
        for field in ("tail", "watch", "rehearse"):
            if getattr(pane, field):
                _lint_shell(getattr(pane, field), ploc + (field,), where, f"{pf}.{field}", add, names)
        _lint_duration(pane.every, ploc + ("every",), where, f"{pf}.every", add)
        if pane.until:
            try:
                re.compile(pane.until)
            except re.error as e:
                add(ploc + ("until",), where, f"{pf}.until", f"bad regex: {e}")
        _lint_with(pane.with_, ploc + ("with",), where, f"{pf}.with", add, names)
        if pane.uses:
            _lint_action(actions, pane.uses, pane.with_, ploc, where, f"{pf}.", add)


def _lint_duration(value: Any, loc, where, field, add) -> None:
    if value is None:
        return
    try:
        parse_duration(value)
    except ValueError as e:
        add(loc, where, field, f"bad duration: {e}")


def _lint_template(text: str, loc, where, field, add, names, expression: bool = False) -> bool:
    if not isinstance(text, str) or ("{" not in text and not expression):
        return True
    problem = templates.syntax_problem(text, expression=expression)
    if problem:
        add(loc, where, field, f"template: {problem}")
        return False
    missing = templates.referenced_names(text, expression=expression) - names
    for name in sorted(missing):
        add(loc, where, field, f"undefined variable {name!r} (declare it under [vars.{name}] or capture it)")
    return not missing


def _lint_with(value: Any, loc, where, field, add, names) -> None:
    if isinstance(value, str):
        _lint_template(value, loc, where, field, add, names)
    elif isinstance(value, dict):
        for k, v in value.items():
            _lint_with(v, loc, where, f"{field}.{k}", add, names)
    elif isinstance(value, list):
        for k, v in enumerate(value):
            _lint_with(v, loc, where, f"{field}[{k}]", add, names)


_MARK = "__dtv{}__"


def _lint_shell(text: str, loc, where, field, add, names) -> None:
    if not _lint_template(text, loc, where, field, add, names):
        return
    referenced = templates.referenced_names(text)
    # Render with a marker per variable, then look at the shell around each marker.
    marks = {n: _MARK.format(k) for k, n in enumerate(sorted(referenced))}
    try:
        rendered = templates.render(text, {**templates.builtins(), **{n: templates._raw(m) for n, m in marks.items()}},
                                    shell=True)
    except templates.TemplateProblem as e:
        add(loc, where, field, f"template: {e}")
        return
    quoted = quoted_markers(rendered)
    for name, mark in marks.items():
        if mark in quoted:
            add(loc, where, field,
                f"{{{{ {name} }}}} is inside {quoted[mark]} quotes: values are shell-quoted automatically, remove the quotes")
    if shutil.which("bash"):
        plain = rendered
        for mark in marks.values():
            plain = plain.replace(mark, "value")
        res = subprocess.run(["bash", "-n"], input=plain, capture_output=True, text=True)
        if res.returncode != 0:
            msg = res.stderr.strip().splitlines()[0] if res.stderr.strip() else "syntax error"
            msg = re.sub(r"^bash: (line \d+: )?", "", msg)
            add(loc, where, field, f"shell syntax: {msg}")


def quoted_markers(shell: str) -> dict[str, str]:
    """Markers that stand inside single or double quotes in `shell` (a small quote-state scanner)."""
    found: dict[str, str] = {}
    state = None  # None, "'", '"'
    i = 0
    while i < len(shell):
        c = shell[i]
        if shell.startswith("__dtv", i):
            end = shell.find("__", i + 5)
            if end != -1 and state:
                found[shell[i : end + 2]] = "double" if state == '"' else "single"
            i = end + 2 if end != -1 else i + 1
            continue
        if c == "\\" and state != "'":
            i += 2
            continue
        if state is None and c in "'\"":
            state = c
        elif state == c:
            state = None
        i += 1
    return found


def _lint_action(actions: Actions, name: str, params: dict, loc, where, prefix: str, add) -> None:
    spec = actions.get(name)
    if spec is None:
        known = ", ".join(sorted(actions)) or "none registered"
        add(loc + ("uses",), where, f"{prefix}uses", f"unknown action {name!r} (known: {known})")
        return
    problem = spec.check_params(params)
    if problem:
        add(loc + ("with",), where, f"{prefix}with", problem)
