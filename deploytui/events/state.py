"""A run's state as a pure fold over its events: `fold(runbook, events) -> RunState`.

The same `apply` runs when replaying a journal (resume, follow, export) and live, so what the
screen shows and what the record says cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..runbook.durations import parse_duration
from ..runbook.model import Runbook, Step
from . import kinds as ev
from .describe import is_deviation

PENDING, RUNNING, WAITING, NEEDS_YOU = "pending", "running", "waiting", "needs_you"
DONE, FAILED, SKIPPED, INTERRUPTED = "done", "failed", "skipped", "interrupted"
SETTLED = {DONE, SKIPPED}


@dataclass
class Attempt:
    """One run of a step's command (or of a step without one): what ran, by whom, how it ended."""

    attempt: int
    started: float
    started_by: str
    command: str | None = None
    action: str | None = None
    params: dict[str, Any] | None = None
    finished: float | None = None
    duration: float | None = None
    command_duration: float | None = None
    exit_code: int | None = None
    ok: bool | None = None
    error: str | None = None
    status: str | None = None  # done | failed, when the step finished on this attempt
    captured: dict[str, Any] = field(default_factory=dict)
    retries: list[dict[str, Any]] = field(default_factory=list)  # {ts, attempt, reason}


@dataclass
class Tick:
    ts: float
    actor: str
    index: int
    label: str
    checked: bool
    early: float | None = None  # ticked this many seconds before the step's wait was over (its check holds after it)


@dataclass
class Timer:
    timer: str  # wait | gate
    started: float
    deadline: float
    seconds: float
    expired: float | None = None


@dataclass
class PaneEvent:
    ts: float
    actor: str
    pane: int
    matched: bool  # True: its `until` line came; False: a person ended the wait
    line: str  # the line that matched, or the reason given


@dataclass
class Entry:
    """How the run entered an on-demand section: a decision's `goto` or a person's jump."""

    section: str
    ts: float
    actor: str
    from_step: str | None
    decision: str | None = None  # the option's label, when a decision led here
    reason: str = ""


@dataclass
class Deviation:
    """A departure from the runbook as written (`describe.is_deviation`), and what resolved it."""

    event: ev.Event
    resolved_by: ev.Event | None = None  # for an interrupted step: the re-run, mark or skip that followed


@dataclass
class StepState:
    id: str
    activated: bool = False  # step_started seen (for this attempt)
    attempt: int = 0
    started: float | None = None
    finished: float | None = None
    command_running: bool = False
    command_ok: bool | None = None
    exit_code: int | None = None
    error: str | None = None
    checks: list[bool] = field(default_factory=list)
    wait_deadline: float | None = None
    wait_expired: bool = False
    gate_deadline: float | None = None
    gate_open: bool = False
    panes_done: set[int] = field(default_factory=set)
    decision: dict | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    final: str | None = None  # done | failed | skipped (set by finish, mark, skip)
    interrupted: bool = False
    reason: str | None = None
    started_by: str | None = None
    stop: str | None = None  # a stop was requested while the command ran; then: skip | done | failed
    process: dict[str, Any] | None = None  # pid and start time of the running command's process
    survivors: list[dict[str, Any]] = field(default_factory=list)  # left alive by a killed deploytui
    sign_offs: list[dict[str, Any]] = field(default_factory=list)  # {user, uid, command, ts}
    # the step's history, for the record
    attempts: list[Attempt] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    pane_events: list[PaneEvent] = field(default_factory=list)
    settled_by: str | None = None  # who skipped or marked it


@dataclass
class RunState:
    book: Runbook
    run_id: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # run_started data
    vars: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # the steps this run walks, in order
    entered: list[str] = field(default_factory=list)  # on-demand sections entered
    schedule: dict[str, Any] | None = None
    overrides: set[str] = field(default_factory=set)  # "schedule", "deadline", "gate:STEP", ...
    deadline: float | None = None
    deadline_passed: bool = False
    outcome: str | None = None
    started: float | None = None
    finished: float | None = None
    last_seq: int = 0
    last_ts: float | None = None
    notes: list[dict] = field(default_factory=list)
    lock_lost: str | None = None  # who broke this run's lock
    # the run's history, for the record
    entries: list[Entry] = field(default_factory=list)  # how each on-demand section was entered
    deviations: list[Deviation] = field(default_factory=list)
    runbook_sha: str = ""  # the runbook the run follows now (changes on a resume with an edited file)
    runbook_changes: list[ev.Event] = field(default_factory=list)  # each change once
    people: dict[str, list[ev.Event]] = field(default_factory=dict)  # person -> what they did (not the engine)
    resumes: list[ev.Event] = field(default_factory=list)
    outcome_reason: str | None = None
    outcome_section: str | None = None

    # ---- derived views -------------------------------------------------------------------
    def status(self, step_id: str) -> str:
        st = self.steps[step_id]
        step = self.book.step(step_id)
        if st.final == SKIPPED:
            return SKIPPED
        if st.final in (DONE, FAILED):
            return st.final
        if st.interrupted:
            return INTERRUPTED
        if st.command_running:
            return RUNNING
        if not st.activated:
            if st.gate_deadline is not None and not st.gate_open and step_id == self.current:
                return WAITING
            return PENDING
        if step.wait and not st.wait_expired and (st.command_ok or not step.has_command):
            return WAITING
        return NEEDS_YOU

    @property
    def current(self) -> str | None:
        for sid in self.path:
            if self.steps[sid].final not in SETTLED:
                return sid
        return None

    def step(self, step_id: str) -> Step:
        return self.book.step(step_id)

    def blockers(self, step_id: str) -> list[str]:
        """What still keeps an activated step from being done, in words."""
        st, step = self.steps[step_id], self.book.step(step_id)
        out = []
        if step.has_command and not st.command_ok:
            out.append("command has not succeeded")
        if step.wait and not st.wait_expired:
            out.append("wait timer running")
        for k, pane in enumerate(step.panes):
            if pane.until and k not in st.panes_done:
                out.append(f"pane {pane.title or k + 1} waiting for /{pane.until}/")
        if not step.decide:
            unticked = [step.checks[i] for i, c in enumerate(st.checks) if not c]
            out.extend(f"check: {c}" for c in unticked)
        elif st.decision is None:
            out.append("decision not made")
        return out

    def complete(self, step_id: str) -> bool:
        return self.steps[step_id].activated and not self.blockers(step_id)


def initial(book: Runbook) -> RunState:
    state = RunState(book=book)
    for step in book.steps:
        state.steps[step.id] = StepState(step.id, checks=[False] * len(step.checks))
    state.path = [s.id for s in book.main_steps()]
    return state


def _steps_from(book: Runbook, target: str) -> list[str]:
    """The path a goto leads to: a section's steps (then, for a regular section, the rest of the main
    flow), or a step and what follows it in its section or the main flow."""
    main = [s.id for s in book.main_steps()]
    sec = book.section(target)
    if sec is not None:
        ids = [s.id for s in book.steps_of_section(target)]
        if sec.on_demand or not ids:
            return ids
        return main[main.index(ids[0]) :]
    step = book.step(target)
    if book.is_on_demand(step):
        ids = [s.id for s in book.steps_of_section(step.section)]
        return ids[ids.index(target) :]
    return main[main.index(target) :]


def _enter(state: RunState, from_step: str | None, target: str, keep_from: bool, e: ev.Event) -> None:
    if from_step in state.path:
        cut = state.path.index(from_step) + (1 if keep_from else 0)
        state.path = state.path[:cut] + [s for s in _steps_from(state.book, target) if s not in state.path[:cut]]
    else:
        state.path = _steps_from(state.book, target)
    sec = state.book.section(target)
    if sec is None:
        sec = state.book.section(state.book.step(target).section)
    if sec is not None and sec.on_demand:
        if sec.id not in state.entered:
            state.entered.append(sec.id)
        p = e.payload
        state.entries.append(Entry(sec.id, e.ts, e.actor, from_step, getattr(p, "label", None),
                                   getattr(p, "reason", "") or ""))


def apply(state: RunState, e: ev.Event) -> RunState:
    """Fold one event into the state (mutates and returns it)."""
    state.last_seq, state.last_ts = e.seq, e.ts
    st = state.steps.get(e.step) if e.step else None
    p = e.payload
    _history(state, st, e)
    match p:
        case ev.RunStarted():
            state.info = dict(e.data)
            state.vars = dict(p.vars)
            state.started = e.ts
            state.runbook_sha = p.sha256
        case ev.ScheduleChecked():
            state.schedule = dict(e.data)
            state.deadline = p.deadline
        case ev.Override():
            state.overrides.add(f"{p.what}:{e.step}" if e.step else p.what)
            if p.what == "gate" and st:
                st.gate_open = True
        case ev.StepStarted() if st:
            st.activated = True
            st.attempt = p.attempt or st.attempt + 1
            st.started = e.ts
            st.started_by = e.actor
            st.command_running = bool(p.command or p.action)
            st.interrupted = False
            st.final = None
            st.stop = None
            st.process = None
            st.attempts.append(Attempt(st.attempt, e.ts, e.actor, p.command, p.action, p.params))
        case ev.ProcessStarted() if st:
            st.process = {"pid": p.pid, "start_time": p.start_time, "boot_id": p.boot_id, "attempt": p.attempt}
        case ev.CommandFinished() if st:
            st.command_running = False
            st.command_ok = bool(p.ok)
            st.exit_code = p.exit_code
            st.error = p.error
            st.outputs = dict(p.outputs or {})
            state.vars.update(p.captured or {})
            if st.attempts:
                st.attempts[-1].exit_code, st.attempts[-1].ok, st.attempts[-1].error = p.exit_code, p.ok, p.error
                st.attempts[-1].command_duration = p.duration
                st.attempts[-1].captured = dict(p.captured or {})
        case ev.Retried() if st:
            st.command_ok = None
            if st.attempts:
                st.attempts[-1].retries.append({"ts": e.ts, "attempt": p.attempt, "reason": p.reason})
        case ev.TimerStarted() if st:
            if p.timer == "wait":
                st.wait_deadline = p.deadline
            else:
                st.gate_deadline = p.deadline
            st.timers.append(Timer(p.timer, e.ts, p.deadline, p.seconds))
        case ev.TimerExpired() if st:
            if p.timer == "wait":
                st.wait_expired = True
            else:
                st.gate_open = True
            for t in reversed(st.timers):
                if t.timer == p.timer and t.expired is None:
                    t.expired = e.ts
                    break
        case ev.CheckToggled() if st:
            st.checks[p.index] = bool(p.checked)
            early, wait = None, state.book.step(st.id).wait
            if p.checked and wait and not st.wait_expired:  # the check holds after the wait: ticked too soon
                scale = float(state.info.get("time_scale") or 1.0)
                early = st.wait_deadline - e.ts if st.wait_deadline else parse_duration(wait) / scale
            st.ticks.append(Tick(e.ts, e.actor, p.index, p.label, bool(p.checked), early))
        case ev.PaneMatched() | ev.PaneEnded() if st:
            st.panes_done.add(p.pane)
            matched = isinstance(p, ev.PaneMatched)
            st.pane_events.append(PaneEvent(e.ts, e.actor, p.pane, matched, p.line if matched else p.reason))
        case ev.Decision() if st:
            st.decision = {**e.data, "ts": e.ts, "actor": e.actor}
            if p.goto:
                _enter(state, e.step, p.goto, keep_from=True, e=e)
        case ev.StepFinished() if st:
            st.final = p.status
            st.finished = e.ts
            st.command_running = False
            if st.attempts:
                a = st.attempts[-1]
                a.finished, a.status, a.error = e.ts, p.status, a.error or p.error
                a.duration = p.duration if p.duration is not None else e.ts - a.started
                if a.exit_code is None:
                    a.exit_code = p.exit_code
        case ev.StopRequested() if st:
            st.stop = p.then
        case ev.Skipped() if st:
            st.final = SKIPPED
            st.reason = p.reason
            st.settled_by = e.actor
            st.finished = e.ts
            st.command_running = False
            st.stop = None
        case ev.Marked() if st:
            st.final = p.status
            st.reason = p.reason
            st.settled_by = e.actor
            st.finished = e.ts
            st.interrupted = False
            st.command_running = False
            st.stop = None
        case ev.Rerun() if st:
            # a fresh attempt: keep ticks (a person confirmed them), reset what the command decides
            st.final = None
            st.activated = False
            st.interrupted = False
            st.command_ok = None
            st.exit_code = None
            st.error = None
            st.wait_deadline, st.wait_expired = None, False
            st.panes_done = set()
            st.decision = None
            st.reason = p.reason
        case ev.StepInterrupted() if st:
            st.interrupted = True
            st.command_running = False
        case ev.SurvivorsFound() if st:
            st.survivors = [] if p.ended else list(p.processes)
        case ev.SignedOff() if st:
            st.sign_offs.append({"user": p.user, "uid": p.uid, "command": p.command, "ts": e.ts})
        case ev.Jump():
            _enter(state, state.current, p.target, keep_from=False, e=e)
        case ev.Note():
            state.notes.append({"ts": e.ts, "actor": e.actor, "text": p.text, "step": e.step})
        case ev.DeadlinePassed():
            state.deadline_passed = True
        case ev.LockLost():
            state.lock_lost = p.holder
        case ev.RunbookChanged():
            if p.new_sha != state.runbook_sha:  # every resume with the edited file says so again: once is enough
                state.runbook_changes.append(e)
                state.runbook_sha = p.new_sha
        case ev.Resumed():
            state.resumes.append(e)
        case ev.RunFinished():
            state.outcome = p.outcome
            state.finished = e.ts
            state.outcome_reason = p.reason
            state.outcome_section = p.section
    return state


def _history(state: RunState, st: StepState | None, e: ev.Event) -> None:
    """What the record needs besides the state: who did what, and the deviations with their resolutions."""
    if e.by_person:
        state.people.setdefault(e.actor, []).append(e)
    if st is not None and isinstance(e.payload, ev.Rerun | ev.Marked | ev.Skipped | ev.StepStarted):
        for d in state.deviations:
            if d.event.step == st.id and d.resolved_by is None and d.event.kind == ev.STEP_INTERRUPTED:
                d.resolved_by = e
    if is_deviation(e):
        p = e.payload
        if isinstance(p, ev.RunbookChanged) and p.new_sha == state.runbook_sha:
            return
        state.deviations.append(Deviation(e))


def fold(book: Runbook, events: Iterable[ev.Event], run_id: str = "") -> RunState:
    state = initial(book)
    state.run_id = run_id
    for e in events:
        apply(state, e)
    return state
