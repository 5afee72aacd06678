"""The runbook format as typed models. Unknown keys are errors everywhere (extra="forbid")."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_EACH = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(\S.*?)\s*$", re.S)
_ITEM = re.compile(r"^(.+)\[([^\[\]]*)\]$")
RETURN = "return"  # `then = "return"`: go back to where the run left the path


def split_each(text: str) -> tuple[str, str]:
    """`"node in nodes"` -> ("node", "nodes"); raises ValueError with what to write instead."""
    m = _EACH.match(text or "")
    if not m:
        raise ValueError(f"{text!r}: write it as \"NAME in LIST\", e.g. \"node in nodes\"")
    return m.group(1), m.group(2)


def item_id(step_id: str, label: str) -> str:
    """The id of one item (or occurrence) of a repeated step: `drain[node-1]`, `status-update[2]`."""
    return f"{step_id}[{label}]"


_LABEL = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,40}$")


def item_labels(values: list[str]) -> list[str]:
    """The label of each item in its id: the value itself when it is short and plain (`drain[node-1]`), its
    position otherwise (`drain[3]`), so ids stay unique, readable and safe in file names."""
    plain = [bool(_LABEL.match(v)) for v in values]
    if all(plain) and len(set(values)) == len(values) and not any(v.isdigit() for v in values):
        return list(values)
    return [v if ok and values.count(v) == 1 and not v.isdigit() else str(i + 1)
            for i, (v, ok) in enumerate(zip(values, plain))]


def base_id(step_id: str) -> str:
    """The runbook step an item id belongs to: `drain[node-1]` -> `drain`."""
    m = _ITEM.match(step_id)
    return m.group(1) if m else step_id


def item_label(step_id: str) -> str | None:
    m = _ITEM.match(step_id)
    return m.group(2) if m else None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


class Header(Strict):
    id: str
    title: str
    source: str | None = None  # the written procedure this runbook encodes
    owner: str | None = None
    description: str | None = None
    environment: str = ""  # template, e.g. "{{ env }}": shown in the header, part of the lock key
    release: str = ""  # template, e.g. "RC {{ rc }}"
    risks: list[str] = Field(default_factory=list)  # declared for the CAB plan
    approvers: list[str] = Field(default_factory=list)
    approve: int | str | None = None  # sign-offs every `danger` step needs (a step's own `approve` wins)


class Window(Strict):
    start: str  # "09:00"
    end: str  # "12:30": the hard deadline
    tz: str = "UTC"


class Schedule(Strict):
    days: list[str] = Field(default_factory=list)  # usual days: another day asks for a reason
    avoid: list[str] = Field(default_factory=list)  # refused unless overridden with a reason
    holidays: str | None = None  # country code for the `holidays` package
    subdivision: str | None = None
    holidays_around: int = 0  # a holiday this many days before or after the deploy counts too
    window: Window | None = None
    when: str | None = None  # the schedule applies only when this is true, e.g. "release_kind == 'weekly'"


class Var(Strict):
    prompt: str | None = None
    description: str | None = None
    default: str | None = None  # may be a template: "{{ today }}"
    choices: list[str] = Field(default_factory=list)
    pattern: str | None = None
    secret: bool = False
    from_env: str | None = None  # take the value from this environment variable when set


class Pane(Strict):
    title: str | None = None
    tail: str | None = None  # a long-running shell command whose output streams in
    watch: str | None = None  # a shell command re-run every `every`, its latest output shown
    uses: str | None = None  # a native action re-run every `every` (or streaming once)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    every: str | int | None = None
    until: str | None = None  # regex: the pane is satisfied once a line matches
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    rehearse: str | None = None  # shell stand-in streamed by `deploytui rehearse` instead of tail/watch/uses


class NotBefore(Strict):
    step: str | None = None  # counted from when this step finished
    wait: str | int | None = None  # a duration, or a template that renders to one
    at: str | None = None  # or an absolute time (template, ISO 8601), e.g. an action's output


class Option(Strict):
    label: str
    goto: str | None = None  # a step id or a section id
    then: str | None = None  # after an on-demand `goto` section: "return", or a step or section id
    set: dict[str, str] = Field(default_factory=dict)  # variable -> value (a template), set when chosen
    description: str | None = None


class Decide(Strict):
    question: str
    options: list[Option]


Duration = str | int | None  # "15m", 90, or a template that renders to one: "{{ update_every }}"


class Step(Strict):
    id: str
    section: str | None = None
    title: str
    body: str | None = None
    when: str | None = None
    each: str | None = None  # "node in nodes": the step once per item of a list (see `items_of`)
    parallel: int = 1  # with `each`: how many items may be under way at once
    every: Duration = None  # a recurring step: a new occurrence this long after the last one's due time
    until: str | None = None  # with `every`: a condition (like `when`) that ends the recurrence
    ask: str | None = None  # a prompt step: asks for this variable (declared under [vars]) mid-run
    on_failure: str | None = None  # where the run goes when this step fails: a step or section id
    run: str | None = None
    uses: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    panes: list[Pane] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    wait: Duration = None
    not_before: NotBefore | None = None
    decide: Decide | None = None
    capture: dict[str, str] = Field(default_factory=dict)  # variable -> output field / stdout / last_line / re:...
    timeout: Duration = None
    retries: int = 0
    retry_delay: Duration = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    interactive: bool = False
    danger: bool = False
    auto: bool = False
    rehearse: str | None = None  # shell stand-in used by `deploytui rehearse` instead of run/uses
    pty: bool = True
    approve: int | str | None = None  # sign-offs needed before it runs: a number of people, or a group's name

    @property
    def has_command(self) -> bool:
        return bool(self.run or self.uses)


def sign_offs_needed(book: Runbook, step: Step) -> tuple[int, str | None]:
    """(how many people must sign off, the group they must belong to) before `step` runs; (0, None): none."""
    need = step.approve if step.approve is not None else (book.runbook.approve if step.danger else None)
    if need is None or need == 0:
        return 0, None
    if isinstance(need, int):
        return need, None
    return 1, need


class Section(Strict):
    id: str
    title: str
    on_demand: bool = False
    rollback: bool = False  # an on-demand section that undoes the deploy: a run ending in it has rolled back
    then: str | None = None  # on-demand: where the run goes on after it ("return", or a step or section id)
    each: str | None = None  # "node in nodes": the section's steps once per item, item by item
    parallel: int = 1  # with `each`: how many items may be under way at once
    body: str | None = None

    @model_validator(mode="after")
    def _rollback_is_on_demand(self) -> Section:
        if self.rollback and not self.on_demand:
            raise ValueError("rollback = true needs on_demand = true (a rollback is entered only when decided)")
        return self


def _default_events() -> list[str]:
    return ["run_started", "step_finished", "decision", "run_finished"]


class SlackRoute(Strict):
    slack: str  # webhook URL template
    events: list[str] = Field(default_factory=_default_events)  # event kinds, or "step_failed"


class Notify(Strict):
    slack: str | None = None  # webhook URL template, usually "{{ slack_webhook }}" from a secret var
    events: list[str] = Field(default_factory=_default_events)
    routes: list[SlackRoute] = Field(default_factory=list)  # more channels, each hearing its own events

    def channels(self) -> list[tuple[str, str, list[str]]]:
        """(field, webhook template, events) of every channel."""
        main = [("notify.slack", self.slack, self.events)] if self.slack else []
        return main + [(f"notify.routes[{i}].slack", r.slack, r.events) for i, r in enumerate(self.routes)]


class Lock(Strict):
    dynamodb_table: str | None = None
    region: str | None = None


class Fleet(Strict):
    """One runbook for many apps (GOV.UK RFC-070): which app a run deploys, who owns it, and the RFC's lists.
    Blocks and apps deploying now live in the team store (`deploytui block`, DEPLOYTUI_TEAM_STORE)."""

    app: str = ""  # template: the app a run deploys (default: the run's environment)
    team: str = ""  # template: the team that owns the app, named in Slack and the record when it fails
    exclusive: list[str] = Field(default_factory=list)  # apps that cannot deploy together with any other app
    untrusted: list[str] = Field(default_factory=list)  # apps whose pipeline stops before `hold_before`
    enabled: list[str] | None = None  # progressive enablement: apps not listed run dry (None: every app)
    hold_before: str = "production"  # the section an untrusted app's run enters only with a person

    def mode(self, app: str) -> tuple[str, str]:
        """(why the run is dry or "", the section it holds before or "") for `app`."""
        dry = "" if self.enabled is None or app in self.enabled else \
            f"{app} is not enabled for automatic deploys yet (fleet.enabled): nothing is deployed"
        return dry, self.hold_before if app in self.untrusted else ""


class Runbook(Strict):
    runbook: Header
    schedule: Schedule | None = None
    vars: dict[str, Var] = Field(default_factory=dict)
    steps: list[Step] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    notify: Notify | None = None
    lock: Lock | None = None
    fleet: Fleet | None = None

    # Filled by the loader, not by the file.
    path: str = Field(default="", exclude=True)
    text: str = Field(default="", exclude=True)
    sha256: str = Field(default="", exclude=True)

    def step(self, step_id: str) -> Step:
        """The step with this id; for an item id (`drain[node-1]`), the step it repeats."""
        for s in self.steps:
            if s.id == step_id:
                return s
        base = base_id(step_id)
        if base != step_id:
            return self.step(base)
        raise KeyError(step_id)

    def repetition(self, step: Step) -> tuple[str, str, int] | None:
        """(key, each, parallel) when `step` repeats: its own `each`, or its section's (key: the section id)."""
        if step.each:
            return step.id, step.each, max(1, step.parallel)
        sec = self.section(step.section)
        if sec is not None and sec.each:
            return sec.id, sec.each, max(1, sec.parallel)
        return None

    def asked_vars(self) -> dict[str, str]:
        """Variables a prompt step asks for mid-run: name -> the step that asks."""
        return {s.ask: s.id for s in self.steps if s.ask}

    def section(self, section_id: str | None) -> Section | None:
        for s in self.sections:
            if s.id == section_id:
                return s
        return None

    def section_of(self, target: str) -> Section | None:
        """The section a goto target leads into: the section itself, or the section of the step."""
        sec = self.section(target)
        if sec is None:
            try:
                sec = self.section(self.step(target).section)
            except KeyError:
                return None
        return sec

    def is_on_demand(self, step: Step) -> bool:
        sec = self.section(step.section)
        return bool(sec and sec.on_demand)

    def main_steps(self) -> list[Step]:
        return [s for s in self.steps if not self.is_on_demand(s)]

    def steps_of_section(self, section_id: str) -> list[Step]:
        return [s for s in self.steps if s.section == section_id]
