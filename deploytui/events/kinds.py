"""Events: the only record of a run. State is a fold over them (state.py).

Each kind is a small frozen dataclass: its fields are the event's data, exactly as the journal stores them
(JSON). Write an event by handing the engine a payload (`run.emit(StepStarted(attempt=2, command=...))`);
read one with `event.payload`, which is typed (`match event.payload: case StepStarted(attempt=n): ...`).
Journals written before a field existed still read: missing fields take their defaults, unknown keys are
kept in `event.data` and ignored by the payload.

The kind strings below are the names stored in the journal and used by the exports' JSON schema
(docs/export-schema.md); never rename one."""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar

# ---- the payloads, one per kind -----------------------------------------------------------------------------


_FIELDS: dict[type, tuple[Field[Any], ...]] = {}


def _fields(cls: type[Payload]) -> tuple[Field[Any], ...]:
    """A kind's fields, computed once per kind: reading a journal of 100,000 events asks 100,000 times."""
    if cls not in _FIELDS:
        _FIELDS[cls] = fields(cls)
    return _FIELDS[cls]


@dataclass(frozen=True, kw_only=True)
class Payload:
    KIND: ClassVar[str] = ""
    # data keys that differ from the field name (a field cannot be called `with`)
    KEYS: ClassVar[dict[str, str]] = {}

    def to_data(self) -> dict[str, Any]:
        return {self.KEYS.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Payload:
        values = {}
        for f in _fields(cls):
            key = cls.KEYS.get(f.name, f.name)
            if key in data:
                values[f.name] = data[key]
            elif f.default is MISSING and f.default_factory is MISSING:
                values[f.name] = None  # an older journal without this field
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Payload):
    KIND = "run_started"
    runbook_id: str
    title: str = ""
    path: str = ""
    sha256: str = ""
    vars: dict[str, Any] = field(default_factory=dict)  # secrets masked
    operator: str = ""
    environment: str = ""
    release: str = ""
    time_scale: float = 1.0
    rehearsal: bool = False
    host: str = ""
    tty: str = ""
    tmux: str = ""
    pid: str = ""
    faults: list[str] = field(default_factory=list)  # rehearsal: faults injected on purpose
    seal: str = ""  # rehearsal: how it was sealed off from real systems (or why it was not)
    world: dict[str, Any] = field(default_factory=dict)  # rehearsal: its saved world (for rehearse --resume)
    app: str = ""  # [fleet]: the app this run deploys
    team: str = ""  # [fleet]: the team that owns it
    dry: str = ""  # [fleet]: why this run deploys nothing (progressive enablement), "" when it deploys
    hold: str = ""  # [fleet]: the section this run enters only after a person's override ("hold")


@dataclass(frozen=True, kw_only=True)
class Resumed(Payload):
    KIND = "resumed"
    operator: str = ""
    host: str = ""
    tty: str = ""
    tmux: str = ""
    pid: str = ""


@dataclass(frozen=True, kw_only=True)
class RunbookChanged(Payload):
    KIND = "runbook_changed"
    old_sha: str
    new_sha: str
    diff: str = ""


@dataclass(frozen=True, kw_only=True)
class ScheduleChecked(Payload):
    KIND = "schedule_checked"
    verdict: str = "ok"
    verdicts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    needs_override: bool = False
    deadline: float | None = None
    day: str = ""
    local_time: str = ""
    not_applicable: str | None = None  # the schedule's `when` is false for this run (a sandbox deploy, say)


@dataclass(frozen=True, kw_only=True)
class Override(Payload):
    KIND = "override"
    what: str  # schedule | gate | deadline
    reason: str


@dataclass(frozen=True, kw_only=True)
class StepStarted(Payload):
    KIND = "step_started"
    KEYS = {"params": "with"}
    attempt: int
    command: str | None = None  # the shell command as it ran (secrets are environment references)
    action: str | None = None  # or the native action and its parameters
    params: dict[str, Any] | None = None
    interactive: bool = False


@dataclass(frozen=True, kw_only=True)
class ProcessStarted(Payload):
    """The command's process, so a resume after a crash can find what it left behind."""

    KIND = "process_started"
    attempt: int
    pid: int
    start_time: int  # the kernel's start time of `pid` (clock ticks since boot): pids are reused
    boot_id: str = ""


@dataclass(frozen=True, kw_only=True)
class CommandFinished(Payload):
    KIND = "command_finished"
    attempt: int
    exit_code: int | None
    ok: bool
    duration: float = 0.0
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    captured: dict[str, Any] = field(default_factory=dict)
    lines: int = 0
    signal: int | None = None  # the signal that ended it, when one did
    stopped: str | None = None  # why it was stopped: timed out, the operator stopped it, the run was interrupted


@dataclass(frozen=True, kw_only=True)
class LeftRunning(Payload):
    """Processes a finished command left behind (a daemon it started, say). Not killed: that may be the point."""

    KIND = "left_running"
    attempt: int
    processes: list[dict[str, Any]]  # {pid, command}


@dataclass(frozen=True, kw_only=True)
class Retried(Payload):
    KIND = "retried"
    attempt: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class TimerStarted(Payload):
    KIND = "timer_started"
    timer: str  # wait | gate
    deadline: float
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class TimerExpired(Payload):
    KIND = "timer_expired"
    timer: str


@dataclass(frozen=True, kw_only=True)
class CheckToggled(Payload):
    KIND = "check_toggled"
    index: int
    label: str
    checked: bool


@dataclass(frozen=True, kw_only=True)
class PaneMatched(Payload):
    KIND = "pane_matched"
    pane: int
    line: str = ""


@dataclass(frozen=True, kw_only=True)
class PaneEnded(Payload):
    """The operator ended an `until` pane's wait."""

    KIND = "pane_ended"
    pane: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Decision(Payload):
    """A person chose an option. A `goto` is followed once the step finishes (a goto back along the path
    repeats the steps from there); `then` says where the run goes on after an on-demand detour."""

    KIND = "decision"
    option: int
    label: str
    goto: str | None = None
    then: str | None = None  # "return", a step or section id, or None: the detour is where the run ends
    reason: str = ""
    question: str = ""
    criteria: list[str] = field(default_factory=list)  # the checks that were ticked when deciding
    set: dict[str, str] = field(default_factory=dict)  # variables the option sets


@dataclass(frozen=True, kw_only=True)
class Answered(Payload):
    """A prompt step's question answered: the variable has this value from now on."""

    KIND = "answered"
    var: str
    value: str  # "[SECRET]" for a secret variable (the value stays in memory only)
    secret: bool = False


@dataclass(frozen=True, kw_only=True)
class Items(Payload):
    """A repeated step (or section) reached: its list, fixed for this pass. Each item's id is
    `STEP[LABEL]` (model.item_id), one per step of a repeated section, in item order."""

    KIND = "items"
    of: str  # the step, or the section, that repeats
    var: str  # the name each item's value has in templates
    values: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Occurrence(Payload):
    """A recurring step came due again: occurrence `number` (id `STEP[number]`) runs alongside the path."""

    KIND = "occurrence"
    of: str
    number: int
    due: float
    next_due: float | None = None  # when the one after it comes due (the cadence as it was now)


@dataclass(frozen=True, kw_only=True)
class StepFinished(Payload):
    KIND = "step_finished"
    status: str  # done | failed
    exit_code: int | None = None
    duration: float | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class StopRequested(Payload):
    """A person asked to stop a running step; `then` says what follows once its command has ended."""

    KIND = "stop_requested"
    then: str  # skip | done | failed
    reason: str


@dataclass(frozen=True, kw_only=True)
class Skipped(Payload):
    KIND = "skipped"
    reason: str = ""
    planned: bool = False  # a `when` that was false: the runbook's plan, not a deviation


@dataclass(frozen=True, kw_only=True)
class Rerun(Payload):
    KIND = "rerun"
    reason: str
    attempt: int | None = None


@dataclass(frozen=True, kw_only=True)
class Marked(Payload):
    KIND = "marked"
    status: str  # done | failed
    reason: str


@dataclass(frozen=True, kw_only=True)
class StepInterrupted(Payload):
    """Found running when the run was reopened: the process that ran it had died."""

    KIND = "step_interrupted"
    attempt: int | None = None


@dataclass(frozen=True, kw_only=True)
class SurvivorsFound(Payload):
    """On resume: processes of an interrupted command that outlived the deploytui that started them."""

    KIND = "survivors_found"
    attempt: int | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)  # {pid, command}
    ended: bool = False  # True when they were ended (by the operator's intent)
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class SignedOff(Payload):
    """A second person (the four-eyes rule) approved a step's command, from their own follower."""

    KIND = "signed_off"
    user: str  # the Unix user, as the kernel reported the follower's process
    uid: int
    command: str  # the command as the signer saw it; a sign-off counts only for that command


@dataclass(frozen=True, kw_only=True)
class Jump(Payload):
    """The run entered a section: the operator's jump, or (planned) a failed step's `on_failure` route."""

    KIND = "jump"
    target: str
    reason: str
    then: str | None = None  # where the run goes on after it (see Decision.then)
    planned: bool = False  # the runbook's own route (`on_failure`), not a person's deviation


@dataclass(frozen=True, kw_only=True)
class Note(Payload):
    KIND = "note"
    text: str


@dataclass(frozen=True, kw_only=True)
class DeadlinePassed(Payload):
    KIND = "deadline_passed"
    deadline: float | None = None


@dataclass(frozen=True, kw_only=True)
class LockBroken(Payload):
    """This run took a lock another run held (--break-lock)."""

    KIND = "lock_broken"
    reason: str
    holder: str | None = None
    shared_holder: Any = None


@dataclass(frozen=True, kw_only=True)
class LockLost(Payload):
    """Someone broke this run's lock: it stops before its next step."""

    KIND = "lock_lost"
    holder: str


@dataclass(frozen=True, kw_only=True)
class NotifyFailed(Payload):
    KIND = "notify_failed"
    error: str


@dataclass(frozen=True, kw_only=True)
class RunInterrupted(Payload):
    """The driver stopped with the run still open (quit, terminal closed, SIGTERM): resume it later."""

    KIND = "run_interrupted"
    reason: str
    signal: int | None = None
    ended: list[str] = field(default_factory=list)  # steps whose running commands were ended


@dataclass(frozen=True, kw_only=True)
class RunFinished(Payload):
    KIND = "run_finished"
    outcome: str  # see state.OUTCOMES
    reason: str | None = None
    section: str | None = None


PAYLOADS: dict[str, type[Payload]] = {cls.KIND: cls for cls in (
    RunStarted, Resumed, RunbookChanged, ScheduleChecked, Override, StepStarted, ProcessStarted, CommandFinished,
    LeftRunning, Retried, TimerStarted, TimerExpired, CheckToggled, PaneMatched, PaneEnded, Decision, StepFinished,
    StopRequested, Skipped, Rerun, Marked, StepInterrupted, SurvivorsFound, SignedOff, Jump, Note, DeadlinePassed,
    LockBroken, LockLost, NotifyFailed, RunInterrupted, RunFinished, Answered, Items, Occurrence)}

# The kind names, for code that filters by kind.
RUN_STARTED = RunStarted.KIND
RESUMED = Resumed.KIND
RUNBOOK_CHANGED = RunbookChanged.KIND
SCHEDULE_CHECKED = ScheduleChecked.KIND
OVERRIDE = Override.KIND
STEP_STARTED = StepStarted.KIND
PROCESS_STARTED = ProcessStarted.KIND
COMMAND_FINISHED = CommandFinished.KIND
LEFT_RUNNING = LeftRunning.KIND
RETRIED = Retried.KIND
TIMER_STARTED = TimerStarted.KIND
TIMER_EXPIRED = TimerExpired.KIND
CHECK_TOGGLED = CheckToggled.KIND
PANE_MATCHED = PaneMatched.KIND
PANE_ENDED = PaneEnded.KIND
DECISION = Decision.KIND
ANSWERED = Answered.KIND
ITEMS = Items.KIND
OCCURRENCE = Occurrence.KIND
STEP_FINISHED = StepFinished.KIND
STOP_REQUESTED = StopRequested.KIND
SKIPPED = Skipped.KIND
RERUN = Rerun.KIND
MARKED = Marked.KIND
STEP_INTERRUPTED = StepInterrupted.KIND
SURVIVORS_FOUND = SurvivorsFound.KIND
SIGNED_OFF = SignedOff.KIND
JUMP = Jump.KIND
NOTE = Note.KIND
DEADLINE_PASSED = DeadlinePassed.KIND
LOCK_BROKEN = LockBroken.KIND
LOCK_LOST = LockLost.KIND
NOTIFY_FAILED = NotifyFailed.KIND
RUN_INTERRUPTED = RunInterrupted.KIND
RUN_FINISHED = RunFinished.KIND


@dataclass(frozen=True)
class Event:
    seq: int
    ts: float  # epoch seconds, wall clock
    kind: str
    step: str | None = None
    actor: str = "engine"  # the person for intents, "engine" for what the engine did by itself
    data: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def payload(self) -> Payload:
        cls = PAYLOADS.get(self.kind)
        if cls is None:
            return Unknown(kind=self.kind, data=self.data)
        return cls.from_data(self.data)

    @property
    def by_person(self) -> bool:
        """Done by a person (an intent), not by the engine on its own."""
        return self.actor not in ("engine", "auto")

    def to_json(self) -> str:
        return json.dumps(self.data, sort_keys=True, default=str)


@dataclass(frozen=True, kw_only=True)
class Unknown(Payload):
    """An event of a kind this version does not know (a newer journal): kept, shown as its kind."""

    KIND = ""
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
