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
from .model import RETURN, Runbook, Section, Step, split_each

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
FULL_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
RUNTIME_NAMES = {"run_id", "rehearsal", "environment", "release", "steps"}
CAPTURE_SPECIAL = ("stdout", "last_line", "exit_code")


Loc = tuple[Any, ...]  # where in the TOML: ("steps", 3, "with", "url")


class Add(Protocol):
    """How a check reports a problem (see `lint`)."""

    def __call__(self, loc: Loc, where: str, field: str, message: str, warning: bool = False) -> None: ...


class ActionSpecLike(Protocol):
    def check_params(self, given: dict[str, Any]) -> str | None: ...


# The native actions a runbook may use, by name. The format knows nothing of them: the caller (the CLI,
# a test) passes `integrations.registry.registry()`, so this layer never imports the ones above it.
Actions = Mapping[str, ActionSpecLike]


def check_file(path: str, actions: Actions) -> tuple[Runbook | None, list[Problem | str]]:
    """Load and lint; returns the runbook (None when it did not load) and its problems (warnings included)."""
    try:
        book = load(path)
    except RunbookError as e:
        return None, list(e.problems)
    return book, list(lint(book, actions))


def errors(book: Runbook, actions: Actions) -> list[Problem]:
    """The problems that keep a runbook from running (`run` and `rehearse` refuse them, as `check` does)."""
    return [p for p in lint(book, actions) if not p.warning]


def known_names(book: Runbook) -> set[str]:
    """Names any template may use: variables, built-ins, what steps capture and what options set."""
    names = set(book.vars) | set(templates.builtins()) | RUNTIME_NAMES
    for step in book.steps:
        names |= set(step.capture)
        for opt in step.decide.options if step.decide else []:
            names |= set(opt.set)
    return names


def item_names(book: Runbook, step: Step) -> set[str]:
    """The item variable a repeated step (or a step of a repeated section) has besides the others."""
    sec = book.section(step.section)
    names = set()
    for each in (step.each, sec.each if sec is not None else None):
        try:
            names.add(split_each(each)[0]) if each else None
        except ValueError:
            pass
    return names


def lint(book: Runbook, actions: Actions) -> list[Problem]:
    out: list[Problem] = []
    lines = LineMap(book.text)

    def add(loc: Loc, where: str, field: str, message: str, warning: bool = False) -> None:
        out.append(Problem(book.path, lines.find(loc), where, field, message, warning))

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
        if name in RUNTIME_NAMES or name in templates.builtins():
            add(loc, f"vars '{name}'", "", f"{name!r} is a name deploytui gives every template: choose another")
        if var.prompt and "{" in var.prompt:
            _lint_template(var.prompt, loc + ("prompt",), f"vars '{name}'", "prompt", add, declared_above
                           | set(templates.builtins()))
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
        _lint_section(book, j, sec, add, names, targets)
        if sec.on_demand and sec.id not in gotos:
            add(("sections", j), f"section '{sec.id}'", "on_demand",
                "no decision's goto leads here: only the operator's jump (b) reaches it (add a `decide` option "
                f"with goto = \"{sec.id}\" if the runbook should offer it)", warning=True)
        if sec.on_demand and not book.steps_of_section(sec.id):
            add(("sections", j), f"section '{sec.id}'", "", "on-demand section has no steps")
    if book.fleet and book.fleet.untrusted and book.fleet.hold_before not in section_ids:
        add(("fleet",), "[fleet]", "hold_before", f"no section '{book.fleet.hold_before}': untrusted apps must stop "
            f"before a section of this runbook (one of: {', '.join(section_ids) or 'none'})")
    out.sort(key=lambda p: p.line or 0)
    return out


def _lint_header(book: Runbook, add: Add, names: set[str]) -> None:
    asked = book.asked_vars()
    for field in ("environment", "release", "title", "description"):
        value = getattr(book.runbook, field)
        if value and _lint_template(value, ("runbook", field), "runbook", field, add, names) and \
                field != "description" and "{" in value:
            for name in sorted(templates.referenced_names(value) & set(asked)):
                add(("runbook", field), "runbook", field, f"{{{{ {name} }}}} is asked by step '{asked[name]}' during "
                                                          "the run, but the header is written when it starts")
    for i, risk in enumerate(book.runbook.risks):
        _lint_template(risk, ("runbook", "risks"), "runbook", f"risks[{i}]", add, names)
    if book.notify and book.notify.slack:
        _lint_template(book.notify.slack, ("notify", "slack"), "notify", "slack", add, names)
    for i, route in enumerate(book.notify.routes if book.notify else []):
        _lint_template(route.slack, ("notify", "routes", i, "slack"), "notify", f"routes[{i}].slack", add, names)


def _lint_schedule(book: Runbook, add: Add) -> None:
    sched = book.schedule
    if not sched:
        return
    for field in ("days", "avoid"):
        for day in getattr(sched, field):
            if day.title() not in DAYS and day.title() not in FULL_DAYS:
                add(("schedule", field), "schedule", field, f"{day!r} is not a day (use {', '.join(DAYS)})")
    if sched.when:  # checked when the run starts: only the variables are known then
        _lint_template(sched.when, ("schedule", "when"), "schedule", "when", add,
                       set(book.vars) | set(templates.builtins()), expression=True)
    if sched.holidays_around < 0:
        add(("schedule", "holidays_around"), "schedule", "holidays_around", "must be 0 or more days")
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


def _lint_step(book: Runbook, i: int, step: Step, add: Add, names: set[str], step_ids: set[str], targets: set[str], gotos: set[str], actions: Actions) -> None:
    where = f"step '{step.id}'"
    loc = ("steps", i)
    names = names | item_names(book, step)
    if step.run and step.uses:
        add(loc + ("uses",), where, "uses", "a step has `run` or `uses`, not both")
    if step.interactive and step.uses:
        add(loc + ("interactive",), where, "interactive", "only `run` commands can be interactive")
    for field in ("wait", "timeout", "retry_delay"):
        _lint_duration(getattr(step, field), loc + (field,), where, field, add, names)
    if step.retries < 0:
        add(loc + ("retries",), where, "retries", "must be 0 or more")
    for field in ("title", "body"):
        if getattr(step, field):
            _lint_template(getattr(step, field), loc + (field,), where, field, add, names)
    for k, check in enumerate(step.checks):
        _lint_template(check, loc + ("checks",), where, f"checks[{k}]", add, names)
    if step.when:
        _lint_expression(book, step.when, loc + ("when",), where, "when", add, names)
    for field in ("run", "rehearse"):
        if getattr(step, field):
            _lint_shell(getattr(step, field), loc + (field,), where, field, add, names, _secrets(book))
    if step.cwd:
        _lint_template(step.cwd, loc + ("cwd",), where, "cwd", add, names)
    for name, value in step.env.items():
        _lint_template(value, loc + ("env",), where, f"env.{name}", add, names)
    _lint_with(step.with_, loc + ("with",), where, "with", add, names)
    if step.uses:
        _lint_action(actions, step.uses, step.with_, loc, where, "", add)
    _lint_repeats(book, step, loc, where, add, names)
    _lint_asks(book, step, loc, where, add)
    if step.on_failure is not None:
        if step.on_failure not in targets:
            add(loc + ("on_failure",), where, "on_failure", f"no step or section has id {step.on_failure!r}")
        elif step.on_failure == step.id:
            add(loc + ("on_failure",), where, "on_failure", "a step cannot route its failure to itself (use retries)")
        else:
            sec = book.section_of(step.on_failure)
            gotos.add(sec.id if sec is not None else step.on_failure)
    nb = step.not_before
    if nb:
        if nb.step is not None and nb.step not in step_ids:
            add(loc + ("not_before",), where, "not_before.step", f"no step has id {nb.step!r}")
        if nb.step == step.id:
            add(loc + ("not_before",), where, "not_before.step", "a step cannot wait for itself")
        if (nb.step is None) == (nb.at is None):
            add(loc + ("not_before",), where, "not_before", "give either `step` (with `wait`) or `at`")
        _lint_duration(nb.wait, loc + ("not_before",), where, "not_before.wait", add, names)
        if nb.at:
            _lint_template(nb.at, loc + ("not_before",), where, "not_before.at", add, names)
    if step.decide:
        _lint_decide(book, step, loc, where, add, names, targets, gotos)
    for var, spec in step.capture.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            add(loc + ("capture",), where, f"capture.{var}", "not a valid variable name")
        if spec.startswith("re:"):
            rx = _lint_pattern(spec[3:], loc + ("capture",), where, f"capture.{var}", add, names)
            if rx is not None and rx.groups > 1:
                add(loc + ("capture",), where, f"capture.{var}", "a capture regex has at most one group")
        elif step.run and spec not in CAPTURE_SPECIAL:
            add(loc + ("capture",), where, f"capture.{var}",
                f"{spec!r}: a shell step captures stdout, last_line, exit_code or re:PATTERN")
    if not (step.has_command or step.checks or step.wait or step.decide or step.panes or step.body or step.not_before
            or step.ask):
        add(loc, where, "", "does nothing: give it run, uses, checks, wait, decide, ask, panes or a body")
    for k, pane in enumerate(step.panes):
        ploc = loc + ("panes", k)
        pf = f"panes[{k}]"
        kinds = [x for x in (pane.tail, pane.watch, pane.uses) if x]
        if len(kinds) != 1:
            add(ploc, where, pf, "a pane has exactly one of tail, watch or uses")
        if pane.title:
            _lint_template(pane.title, ploc + ("title",), where, f"{pf}.title", add, names)
        for field in ("tail", "watch", "rehearse"):
            if getattr(pane, field):
                _lint_shell(getattr(pane, field), ploc + (field,), where, f"{pf}.{field}", add, names, _secrets(book))
        _lint_duration(pane.every, ploc + ("every",), where, f"{pf}.every", add)
        if pane.until:
            _lint_pattern(pane.until, ploc + ("until",), where, f"{pf}.until", add, names)
        if pane.cwd:
            _lint_template(pane.cwd, ploc + ("cwd",), where, f"{pf}.cwd", add, names)
        for name, value in pane.env.items():
            _lint_template(value, ploc + ("env",), where, f"{pf}.env.{name}", add, names)
        _lint_with(pane.with_, ploc + ("with",), where, f"{pf}.with", add, names)
        if pane.uses:
            _lint_action(actions, pane.uses, pane.with_, ploc, where, f"{pf}.", add)


def _lint_repeats(book: Runbook, step: Step, loc: Loc, where: str, add: Add, names: set[str]) -> None:
    """`each` and `parallel`, `every` and `until`."""
    sec = book.section(step.section)
    if step.each is not None:
        _lint_each(step.each, loc + ("each",), where, add, names - item_names(book, step) | set(book.vars))
        if sec is not None and sec.each:
            add(loc + ("each",), where, "each", f"its section '{sec.id}' repeats already: one level of repetition")
        if step.every is not None:
            add(loc + ("every",), where, "every", "a step repeats over a list (`each`) or in time (`every`), not both")
    if step.parallel != 1 and (step.parallel < 1 or step.each is None):
        add(loc + ("parallel",), where, "parallel",
            "how many items at once: 1 or more, on a step with `each`" if step.each else
            "only a step with `each` runs items side by side")
    if step.every is not None:
        _lint_duration(step.every, loc + ("every",), where, "every", add, names)
        if sec is not None and sec.each:
            add(loc + ("every",), where, "every", f"its section '{sec.id}' repeats over a list: a recurring "
                                                  "step stands on its own")
    if step.until is not None:
        if step.every is None:
            add(loc + ("until",), where, "until", "`until` ends a recurring step: give the step `every` too")
        _lint_expression(book, step.until, loc + ("until",), where, "until", add, names)


def _lint_each(text: str, loc: Loc, where: str, add: Add, names: set[str]) -> None:
    try:
        var, expression = split_each(text)
    except ValueError as e:
        add(loc, where, loc[-1] if isinstance(loc[-1], str) else "each", str(e))
        return
    if var in names and var not in RUNTIME_NAMES:
        add(loc, where, "each", f"{var!r} is a variable already: name the item something else")
    _lint_template(expression, loc, where, "each", add, names | RUNTIME_NAMES, expression=True)


def _lint_asks(book: Runbook, step: Step, loc: Loc, where: str, add: Add) -> None:
    if step.ask is None:
        return
    spec = book.vars.get(step.ask)
    if spec is None:
        add(loc + ("ask",), where, "ask", f"no variable {step.ask!r}: declare it under [vars.{step.ask}] (its prompt, "
                                          "choices and pattern check the answer)")
    if step.has_command or step.decide:
        add(loc + ("ask",), where, "ask", "a prompt step asks, and does nothing else: put the command or the "
                                          "decision in the next step")


def _lint_decide(book: Runbook, step: Step, loc: Loc, where: str, add: Add, names: set[str], targets: set[str],
                 gotos: set[str]) -> None:
    decide = step.decide
    assert decide is not None
    _lint_template(decide.question, loc + ("decide",), where, "decide.question", add, names)
    if not decide.options:
        add(loc + ("decide",), where, "decide.options", "a decision needs at least one option")
    for k, opt in enumerate(decide.options):
        field = f"decide.options[{k}]"
        _lint_template(opt.label, loc + ("decide",), where, f"{field}.label", add, names)
        if opt.description:
            _lint_template(opt.description, loc + ("decide",), where, f"{field}.description", add, names)
        if opt.goto is not None:
            gotos.add(opt.goto)
            if opt.goto not in targets:
                add(loc + ("decide",), where, f"{field}.goto", f"no step or section has id {opt.goto!r}")
        if opt.then is not None:
            if opt.goto is None or opt.goto not in targets:
                add(loc + ("decide",), where, f"{field}.then", "`then` says where the run goes on after the "
                                                               "option's `goto`: give the goto too")
            elif not _on_demand(book, opt.goto):
                add(loc + ("decide",), where, f"{field}.then", f"{opt.goto!r} is on the main path, which goes on by "
                                                               "itself: `then` is for an on-demand goto")
            _lint_then(opt.then, targets, loc + ("decide",), where, f"{field}.then", add)
        for name, value in opt.set.items():
            _lint_set(book, name, value, loc + ("decide",), where, f"{field}.set.{name}", add, names)


def _lint_set(book: Runbook, name: str, value: str, loc: Loc, where: str, field: str, add: Add, names: set[str]) -> None:
    from .variables import problem

    spec = book.vars.get(name)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        add(loc, where, field, "not a valid variable name")
    elif spec is not None and spec.secret:
        add(loc, where, field, "a decision's label and what it sets are in the record: it cannot set a secret")
    elif name in RUNTIME_NAMES or name in templates.builtins():
        add(loc, where, field, f"{name!r} is a name deploytui gives every template: choose another")
    if not _lint_template(value, loc, where, field, add, names):
        return
    if spec is not None and "{" not in value:
        why = problem(name, spec, value)
        if why:
            add(loc, where, field, why)


def _lint_then(then: str, targets: set[str], loc: Loc, where: str, field: str, add: Add) -> None:
    if then != RETURN and then not in targets:
        add(loc, where, field, f"{then!r}: give \"return\" (back to where the run left its path) or a step or "
                               "section id")


def _on_demand(book: Runbook, target: str) -> bool:
    sec = book.section_of(target)
    return bool(sec and sec.on_demand)


def _lint_section(book: Runbook, j: int, sec: Section, add: Add, names: set[str], targets: set[str]) -> None:
    where, loc = f"section '{sec.id}'", ("sections", j)
    for field in ("title", "body"):
        if getattr(sec, field):
            _lint_template(getattr(sec, field), loc + (field,), where, field, add, names)
    if sec.then is not None:
        if not sec.on_demand:
            add(loc + ("then",), where, "then", "the main path goes on by itself: `then` is for an on-demand section")
        _lint_then(sec.then, targets, loc + ("then",), where, "then", add)
    if sec.each is not None:
        _lint_each(sec.each, loc + ("each",), where, add, names)
    if sec.parallel != 1 and (sec.parallel < 1 or sec.each is None):
        add(loc + ("parallel",), where, "parallel", "how many items at once: 1 or more, on a section with `each`"
            if sec.each else "only a section with `each` runs items side by side")


_STEP_REFERENCE = re.compile(r"""\bsteps\s*(?:\[\s*['"]([^'"]+)['"]\s*\]|\.([A-Za-z_]\w*))""")


def _lint_expression(book: Runbook, text: str, loc: Loc, where: str, field: str, add: Add, names: set[str]) -> None:
    """A condition (`when`, `until`): a template expression, whose `steps['id']` name real steps."""
    if not _lint_template(text, loc, where, field, add, names, expression=True):
        return
    ids = {s.id for s in book.steps}
    for m in _STEP_REFERENCE.finditer(text):
        ref = m.group(1) or m.group(2)
        if ref not in ids:
            add(loc, where, field, f"steps[{ref!r}]: no step has that id")


def _lint_duration(value: Any, loc: Loc, where: str, field: str, add: Add, names: set[str] | None = None) -> None:
    """A duration; where templates are allowed (`names` given), one that renders to a duration at run time."""
    if value is None:
        return
    if names is not None and isinstance(value, str) and "{" in value:
        _lint_template(value, loc, where, field, add, names)
        return
    try:
        parse_duration(value)
    except ValueError as e:
        add(loc, where, field, f"bad duration: {e}")


def _lint_pattern(text: str, loc: Loc, where: str, field: str, add: Add, names: set[str]) -> re.Pattern[str] | None:
    """A regex that may hold variables (`until`, `capture = "re:..."`): each value stands for itself."""
    if not _lint_template(text, loc, where, field, add, names):
        return None
    try:
        sample = {n: "x" for n in templates.referenced_names(text)}
        return re.compile(templates.pattern(text, {**templates.builtins(), **sample}), re.M)
    except (re.error, templates.TemplateProblem) as e:
        add(loc, where, field, f"bad regex: {e}")
        return None


def _lint_template(text: str, loc: Loc, where: str, field: str, add: Add, names: set[str], expression: bool = False) -> bool:
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


def _lint_with(value: Any, loc: Loc, where: str, field: str, add: Add, names: set[str]) -> None:
    if isinstance(value, str):
        _lint_template(value, loc, where, field, add, names)
    elif isinstance(value, dict):
        for k, v in value.items():
            _lint_with(v, loc, where, f"{field}.{k}", add, names)
    elif isinstance(value, list):
        for k, v in enumerate(value):
            _lint_with(v, loc, where, f"{field}[{k}]", add, names)


_MARK = "__dtv{}__"


def _secrets(book: Runbook) -> set[str]:
    return {name for name, spec in book.vars.items() if spec.secret}


def _lint_shell(text: str, loc: Loc, where: str, field: str, add: Add, names: set[str], secrets: set[str]) -> None:
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
    contexts = marker_contexts(rendered)
    raw = _raw_names(text)
    for name, mark in marks.items():
        context = contexts.get(mark)
        if context in ("single", "double") and name not in raw:
            add(loc, where, field, f"{{{{ {name} }}}} is inside {context} quotes: values are shell-quoted "
                                   "automatically, remove the quotes")
        elif context == "heredoc":
            add(loc, where, field, f"{{{{ {name} }}}} is inside a heredoc the shell expands: a value can run code "
                                   f"there. Pass it in `env` (NAME = \"{{{{ {name} }}}}\") and write \"$NAME\"")
        elif context == "quoted heredoc":
            add(loc, where, field, f"{{{{ {name} }}}} is inside a quoted heredoc: it is written with its shell quotes; "
                                   "pass it in `env` if the text needs the bare value", warning=True)
    for name, shell, filtered in _second_shell_uses(text):
        if name in secrets:
            add(loc, where, field, f"{{{{ {name} }}}} is a secret and would go through a second shell ({shell}): its "
                                   "value would be on that shell's command line, in `ps` for everyone. Give it on "
                                   f"stdin: printf '%s\\n' {{{{ {name} }}}} | {shell} 'read -r VALUE && ...'")
        elif not filtered:
            add(loc, where, field, f"{{{{ {name} }}}} passes through a second shell ({shell}): one level of quoting "
                                   f"is undone there; write {{{{ {name} | remote }}}}", warning=True)
    if shutil.which("bash"):
        plain = rendered
        for mark in marks.values():
            plain = plain.replace(mark, "value")
        res = subprocess.run(["bash", "-n"], input=plain, capture_output=True, text=True)
        if res.returncode != 0:
            msg = res.stderr.strip().splitlines()[0] if res.stderr.strip() else "syntax error"
            msg = re.sub(r"^bash: (line \d+: )?", "", msg)
            add(loc, where, field, f"shell syntax: {msg}")


def _raw_names(text: str) -> set[str]:
    """Variables the author placed with `| raw`: their quoting is the author's choice."""
    return set(re.findall(r"{{-?\s*([A-Za-z_]\w*)\s*\|\s*raw\b", text))


_SECOND_SHELL = re.compile(r"\b(ssh|sudo\s+(?:-\S+\s+)*(?:ba)?sh\s+-c|su\s+(?:-\S+\s+)*-c|(?:ba)?sh\s+-c|eval|"
                           r"kubectl\s+exec|docker\s+exec)\b")


def _second_shell_uses(text: str) -> list[tuple[str, str, bool]]:
    """(variable, the second shell, written with `| remote` or `| raw`) for each `{{ x }}` on a line after ssh,
    `sh -c`, eval, ..."""
    found = []
    for line in text.splitlines():
        shell = _SECOND_SHELL.search(line)
        if not shell:
            continue
        for expr in re.finditer(r"{{-?(.*?)-?}}", line[shell.end() :]):
            body = expr.group(1)
            name = re.match(r"\s*([A-Za-z_]\w*)", body)
            if name:
                filtered = bool(re.search(r"\|\s*(remote|raw)\b", body))
                found.append((name.group(1), " ".join(shell.group(1).split()), filtered))
    return found


_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z_0-9]+)\2")


def marker_contexts(shell: str) -> dict[str, str]:
    """Where each marker stands in `shell`: "single" or "double" quotes, a "heredoc" the shell expands, a
    "quoted heredoc", or nowhere special (absent). A small scanner that knows quotes, escapes, comments,
    `$(...)` (a new quoting context, even inside double quotes) and heredocs."""
    found: dict[str, str] = {}
    stack: list[str | None] = [None]  # the quote state of each command-substitution level
    heredocs: list[tuple[str, bool, bool]] = []  # delimiter, strip tabs, quoted: bodies start at the next line
    i, n = 0, len(shell)
    while i < n:
        c, state = shell[i], stack[-1]
        if shell.startswith("__dtv", i):
            end = shell.find("__", i + 5)
            if end == -1:
                i += 1
                continue
            if state:
                found[shell[i : end + 2]] = "double" if state == '"' else "single"
            i = end + 2
            continue
        if state == "'":
            if c == "'":
                stack[-1] = None
            i += 1
            continue
        if c == "\\":
            i += 2
            continue
        if shell.startswith("$(", i) and not shell.startswith("$((", i):
            stack.append(None)
            i += 2
            continue
        if c == ")" and state is None and len(stack) > 1:
            stack.pop()
            i += 1
            continue
        if state == '"':
            if c == '"':
                stack[-1] = None
            i += 1
            continue
        if c in "'\"":
            stack[-1] = c
        elif c == "#" and (i == 0 or shell[i - 1] in " \t\n;|&("):
            end = shell.find("\n", i)
            i = n if end == -1 else end
            continue
        elif shell.startswith("<<<", i):  # a here-string is a word like any other
            i += 3
            continue
        elif shell.startswith("<<", i):
            m = _HEREDOC.match(shell, i)
            if m:
                heredocs.append((m.group(3), m.group(1) == "-", bool(m.group(2))))
                i = m.end()
                continue
        elif c == "\n" and heredocs:
            i += 1
            for delimiter, strip_tabs, quoted in heredocs:
                while i < n:
                    end = shell.find("\n", i)
                    line = shell[i : n if end == -1 else end]
                    i = n if end == -1 else end + 1
                    if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                        break
                    for mark in re.findall(r"__dtv\d+__", line):
                        found[mark] = "quoted heredoc" if quoted else "heredoc"
            heredocs = []
            continue
        i += 1
    return found


def _lint_action(actions: Actions, name: str, params: dict[str, Any], loc: Loc, where: str, prefix: str, add: Add) -> None:
    spec = actions.get(name)
    if spec is None:
        import difflib

        family = sorted(a for a in actions if a.split(".")[0] == name.split(".")[0])
        near = difflib.get_close_matches(name, list(actions), n=3) or family[:8] or sorted(actions)[:8]
        add(loc + ("uses",), where, f"{prefix}uses", f"unknown action {name!r} (did you mean: {', '.join(near)}?)")
        return
    problem = spec.check_params(params)
    if problem:
        add(loc + ("with",), where, f"{prefix}with", problem)
