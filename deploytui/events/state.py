"""A run's state as a pure fold over its events: `fold(runbook, events) -> RunState`.

The same `apply` runs when replaying a journal (resume, follow, export) and live, so what the
screen shows and what the record says cannot drift apart.

The path is the list of steps the run walks, in order. A repeated step (`each`) stands in it as itself
until it is reached; its `items` event then puts one id per item in its place (`drain[node-1]`, ...). A
recurring step (`every`) leaves the path once it has begun: its occurrences (`update[1]`, `update[2]`)
run alongside it (`side`). Gotos, detours and on-failure routes rewrite the path (`_route`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..runbook.durations import parse_duration
from ..runbook.model import RETURN, Runbook, Step, base_id, item_id
from . import kinds as ev
from .describe import is_deviation

PENDING, RUNNING, WAITING, NEEDS_YOU = "pending", "running", "waiting", "needs_you"
DONE, FAILED, SKIPPED, INTERRUPTED = "done", "failed", "skipped", "interrupted"
ABANDONED = "abandoned"  # never run, and the run's path no longer goes through it (a goto led elsewhere)
LEFT = "left"  # begun but never finished: the run went elsewhere while it waited (a rollback mid-recycle)
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
    decision: dict[str, Any] | None = None
    answered: bool = False  # a prompt step's question was answered
    outputs: dict[str, Any] = field(default_factory=dict)
    final: str | None = None  # done | failed | skipped (set by finish, mark, skip)
    interrupted: bool = False
    reason: str | None = None
    started_by: str | None = None
    stop: str | None = None  # a stop was requested while the command ran; then: skip | done | failed
    process: dict[str, Any] | None = None  # pid and start time of the running command's process
    survivors: list[dict[str, Any]] = field(default_factory=list)  # left alive by a killed deploytui
    routed: bool = False  # this failure's `on_failure` route has been taken
    recurring: bool = False  # a recurring step whose occurrences have begun (it no longer holds the path)
    occurrences: int = 0
    next_due: float | None = None  # a recurring step: when its next occurrence comes due
    sign_offs: list[dict[str, Any]] = field(default_factory=list)  # {user, uid, command, ts}
    # the step's history, for the record
    attempts: list[Attempt] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    pane_events: list[PaneEvent] = field(default_factory=list)
    settled_by: str | None = None  # who skipped or marked it


@dataclass(frozen=True)
class Item:
    """One item of a repeated step (or one occurrence of a recurring one)."""

    of: str  # the runbook step it repeats
    group: str  # what repeats: that step, or its section
    index: int  # position in the list (occurrence number - 1)
    label: str  # the part of its id in brackets
    bindings: dict[str, str] = field(default_factory=dict)  # the item's variable -> its value


@dataclass
class RunState:
    book: Runbook
    run_id: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # run_started data
    vars: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # the steps this run walks, in order
    side: list[str] = field(default_factory=list)  # occurrences of recurring steps, alongside the path
    items: dict[str, Item] = field(default_factory=dict)  # item id -> what it is an item of
    children: dict[str, list[str]] = field(default_factory=dict)  # repeated/recurring step -> its item ids
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
    notes: list[dict[str, Any]] = field(default_factory=list)
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
    _bound: dict[str, Step] = field(default_factory=dict, repr=False)

    # ---- steps and items -----------------------------------------------------------------------
    def step(self, step_id: str) -> Step:
        """The runbook step `step_id` runs; for an item, a copy carrying the item's id."""
        if step_id not in self.items:
            return self.book.step(step_id)
        bound = self._bound.get(step_id)
        if bound is None:
            bound = self._bound[step_id] = self.book.step(step_id).model_copy(update={"id": step_id})
        return bound

    def bindings(self, step_id: str | None) -> dict[str, str]:
        """The item's own variables (`node` of `drain[node-1]`): empty for a plain step."""
        item = self.items.get(step_id or "")
        return dict(item.bindings) if item else {}

    def titled(self, step_id: str, title: str) -> str:
        """A rendered title, with the item's label added when the title does not already say which item."""
        item = self.items.get(step_id)
        if item is None:
            return title
        shown = list(item.bindings.values()) or [item.label]
        if any(v and v in title for v in shown):
            return title
        return f"{title} · {shown[0] if item.bindings else '#' + item.label}"

    def parallel(self, step_id: str) -> int:
        item = self.items.get(step_id)
        if item is None:
            return 1
        rep = self.book.repetition(self.book.step(item.of))
        return rep[2] if rep else 1

    # ---- derived views -------------------------------------------------------------------
    def status(self, step_id: str) -> str:
        st = self.steps[step_id]
        if step_id in self.children and step_id not in self.items:
            return self._parent_status(step_id)
        step = self.book.step(step_id)
        if st.final == SKIPPED:
            return SKIPPED
        if st.final in (DONE, FAILED):
            return st.final
        if st.interrupted:
            return INTERRUPTED
        if st.command_running:
            return RUNNING
        if step_id not in self.path and step_id not in self.side:
            if st.activated:
                return LEFT
            if not self.book.is_on_demand(step):
                return ABANDONED
        if not st.activated:
            if st.gate_deadline is not None and not st.gate_open and step_id in self.active:
                return WAITING
            return PENDING
        if step.wait and not st.wait_expired and (st.command_ok or not step.has_command):
            return WAITING
        return NEEDS_YOU

    def _parent_status(self, step_id: str) -> str:
        """A repeated or recurring step: what its items are doing, taken together."""
        st = self.steps[step_id]
        if st.final is not None:
            return st.final
        kids = {self.status(k) for k in self.children[step_id]}
        for status in (RUNNING, FAILED, INTERRUPTED, NEEDS_YOU, WAITING):
            if status in kids:
                return status
        if st.recurring:
            return WAITING  # for the next occurrence
        if not kids:
            return SKIPPED
        if kids <= SETTLED:
            return DONE if DONE in kids else SKIPPED
        if kids <= {ABANDONED, LEFT} | SETTLED:
            return LEFT if LEFT in kids else ABANDONED
        return PENDING

    @property
    def current(self) -> str | None:
        """The first step of the path not yet done or skipped (a recurring step that has begun no longer
        holds the path)."""
        for sid in self.path:
            st = self.steps[sid]
            if st.final not in SETTLED and not st.recurring:
                return sid
        return None

    @property
    def active(self) -> list[str]:
        """The steps that may act now: the current step, the items of its repetition that may run beside
        it (`parallel`), and the open occurrences of recurring steps."""
        cur = self.current
        out = [cur] if cur else []
        item = self.items.get(cur or "")
        if cur and item is not None and self.parallel(cur) > 1:
            in_flight = {item.index}
            for sid in self.path[self.path.index(cur) + 1:]:
                other = self.items.get(sid)
                if other is None or other.group != item.group:
                    break
                if self.steps[sid].final in SETTLED or other.index in in_flight:
                    continue
                if len(in_flight) >= self.parallel(cur):
                    break
                in_flight.add(other.index)
                out.append(sid)
        out += [s for s in self.side if self.steps[s].final not in SETTLED]
        return out

    def recurring_open(self) -> list[str]:
        """Recurring steps whose occurrences have begun and not yet ended."""
        return [sid for sid, st in self.steps.items() if st.recurring and st.final is None]

    @property
    def finished_ok(self) -> bool:
        return self.current is None

    def blockers(self, step_id: str, text: Callable[[str], str] = lambda t: t) -> list[str]:
        """What still keeps an activated step from being done, in words (`text` renders runbook text)."""
        st, step = self.steps[step_id], self.book.step(step_id)
        out = []
        if step.has_command and not st.command_ok:
            out.append("command has not succeeded")
        if step.ask and not st.answered:
            out.append(f"a value for {step.ask}")
        if step.wait and not st.wait_expired:
            out.append("wait timer running")
        for k, pane in enumerate(step.panes):
            if pane.until and k not in st.panes_done:
                out.append(f"pane {text(pane.title) if pane.title else k + 1} waiting for /{text(pane.until)}/")
        if not step.decide:
            unticked = [step.checks[i] for i, c in enumerate(st.checks) if not c]
            out.extend(f"check: {text(c)}" for c in unticked)
        elif st.decision is None:
            out.append("decision not made")
        return out

    def complete(self, step_id: str) -> bool:
        return self.steps[step_id].activated and not self.blockers(step_id)

    def outcomes(self) -> StepOutcomes:
        """What templates see as `steps`: `steps['start-new'].status == 'done'`, `steps.drain.exit_code`."""
        return StepOutcomes(self)


class StepOutcomes(Mapping[str, dict[str, Any]]):
    """`steps` in templates, read lazily: step id -> status, exit_code, decision (its label), attempt, outputs."""

    def __init__(self, state: RunState):
        self._state = state

    def __getitem__(self, step_id: str) -> dict[str, Any]:
        st = self._state.steps[step_id]
        return {"status": self._state.status(step_id), "exit_code": st.exit_code, "attempt": st.attempt,
                "decision": (st.decision or {}).get("label"), "outputs": dict(st.outputs)}

    def __getattr__(self, step_id: str) -> dict[str, Any]:
        try:
            return self[step_id]
        except KeyError:
            raise AttributeError(step_id) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._state.steps)

    def __len__(self) -> int:
        return len(self._state.steps)


def initial(book: Runbook) -> RunState:
    state = RunState(book=book)
    for step in book.steps:
        state.steps[step.id] = StepState(step.id, checks=[False] * len(step.checks))
    state.path = [s.id for s in book.main_steps()]
    return state


# ---- how the path changes --------------------------------------------------------------------------------
def _steps_from(book: Runbook, target: str) -> list[str]:
    """The path a goto leads to: a section's steps (then, for a regular section, the rest of the main
    flow), or a step and what follows it in its section or the main flow."""
    main = [s.id for s in book.main_steps()]
    sec = book.section(target)
    if sec is not None:
        ids = [s.id for s in book.steps_of_section(target)]
        if sec.on_demand or not ids:
            return ids
        return main[main.index(ids[0]):]
    step = book.step(target)
    if book.is_on_demand(step):
        ids = [s.id for s in book.steps_of_section(step.section or "")]
        return ids[ids.index(step.id):]
    return main[main.index(step.id):]


def _fresh(state: RunState, sid: str) -> StepState:
    """A step's state for a new pass (a loop, a detour entered again, an item listed again). The attempt
    count goes on, so each pass's output stays apart in the journal."""
    old = state.steps.get(sid)
    st = StepState(sid, checks=[False] * len(state.book.step(sid).checks), attempt=old.attempt if old else 0)
    state.steps[sid] = st
    return st


def _drop_items(state: RunState, parent: str) -> None:
    for kid in state.children.pop(parent, []):
        state.items.pop(kid, None)
        state._bound.pop(kid, None)
        if kid in state.side:
            state.side.remove(kid)


def _reset(state: RunState, sid: str) -> None:
    st = state.steps[sid]
    if st.recurring and st.final is None:
        return  # its occurrences go on: entering the path again does not start a second series
    if sid in state.children and sid not in state.items:
        _drop_items(state, sid)
    _fresh(state, sid)


def _repeating(book: Runbook, of: str) -> list[str]:
    """The steps a repetition repeats: those of a repeated section, or the one step."""
    sec = book.section(of)
    return [s.id for s in book.steps_of_section(of)] if sec is not None and sec.each else [of]


def _collapse(state: RunState, ids: list[str]) -> list[str]:
    """The path again as the runbook lists it: each item replaced by the step(s) that repeat, once, so the
    repetition lists its items anew when it is reached."""
    out: list[str] = []
    for sid in ids:
        item = state.items.get(sid)
        if item is None:
            out.append(sid)
            continue
        out.extend(b for b in _repeating(state.book, item.group) if b not in out)
    return out


def _route(state: RunState, prefix: list[str], new: list[str], kept: Iterable[str] = ()) -> None:
    """The path becomes `prefix` then `new`; the steps of `new` start afresh (they run again) unless `kept`
    (the rest of the path a detour returns to, as it was), and leave `prefix` (a step is on the path once)."""
    new = list(dict.fromkeys(new))
    kept = set(kept)
    again = {s for s in new if s in state.children and s not in state.items and s not in kept}  # listed anew
    keep = [s for s in prefix if s not in new and base_id(s) not in again]
    for sid in new:
        if sid not in kept:
            _reset(state, sid)
    state.path = keep + new
    for sid in new:
        sec = state.book.section(state.book.step(sid).section)
        if sec is not None and sec.on_demand and sec.id not in state.entered:
            state.entered.append(sec.id)


def _target_index(state: RunState, from_step: str, target: str) -> int | None:
    """Where `target` (a step or section id) is on the path. From inside an item, a step of the same
    repetition means that item's own step."""
    item = state.items.get(from_step)
    if item is not None:
        mine = item_id(target, item.label)
        if mine in state.items and state.items[mine].group == item.group and mine in state.path:
            return state.path.index(mine)
    sec = state.book.section(target)
    members = {s.id for s in state.book.steps_of_section(target)} if sec is not None else {target}
    for i, sid in enumerate(state.path):
        if base_id(sid) in members or sid in members:
            return i
    return None


def _goto(state: RunState, from_step: str, target: str, then: str | None) -> None:
    """A finished decision's goto: back along the path (the steps from there run again), or forward into
    another part of the runbook (a detour, which `then` may bring back)."""
    if from_step not in state.path:  # an occurrence of a recurring step: the detour comes before what is current
        cur = state.current
        _detour(state, state.path.index(cur) if cur else len(state.path), target, then)
        return
    here = state.path.index(from_step)
    back = _target_index(state, from_step, target)
    if back is not None and back <= here:
        again = state.path[back:]
        item = state.items.get(from_step)
        inside = item is not None and state.items.get(state.path[back]) is not None and \
            state.items[state.path[back]].group == item.group
        _route(state, state.path[:back], again if inside else _collapse(state, again))
        return
    _detour(state, here + 1, target, then)


def _detour(state: RunState, cut: int, target: str, then: str | None) -> None:
    """Leave the path at `cut` for `target`; after it, `then`: "return" (the rest of the path as it was: a
    step that failed there waits to be re-run), a step or section (the runbook from there, run again), or
    nothing (the detour is where the run ends)."""
    rest = state.path[cut:]
    detour = _steps_from(state.book, target)
    if then == RETURN:
        _route(state, state.path[:cut], detour + rest, kept=[s for s in rest if s not in detour])
        return
    _route(state, state.path[:cut], detour + (_steps_from(state.book, then) if then else []))


def _items(state: RunState, p: ev.Items) -> None:
    """A repetition reached: its items take the place of the step(s) that repeat."""
    bases = _repeating(state.book, p.of)
    for base in bases:
        _drop_items(state, base)
        state.children[base] = []
    ids = []
    for k, label in enumerate(p.labels):
        value = p.values[k] if k < len(p.values) else label
        for base in bases:
            sid = item_id(base, label)
            _fresh(state, sid)
            state.items[sid] = Item(of=base, group=p.of, index=k, label=label,
                                    bindings={p.var: value} if p.var else {})
            state.children[base].append(sid)
            ids.append(sid)
    places = [i for i, sid in enumerate(state.path) if sid in bases]
    if places:
        at = places[0]
        state.path = state.path[:at] + ids + [s for s in state.path[at:] if s not in bases]
    if not p.labels:
        for base in bases:
            state.steps[base].final = SKIPPED
            state.steps[base].reason = "its list is empty: nothing to repeat"


def _occurrence(state: RunState, p: ev.Occurrence, ts: float) -> None:
    parent = state.steps[p.of]
    if p.number == 1:
        _drop_items(state, p.of)
        parent.started = ts
    parent.recurring = True
    parent.activated = True
    parent.occurrences = p.number
    parent.next_due = p.next_due
    sid = item_id(p.of, str(p.number))
    _fresh(state, sid)
    state.items[sid] = Item(of=p.of, group=p.of, index=p.number - 1, label=str(p.number))
    state.children.setdefault(p.of, []).append(sid)
    state.side.append(sid)


def apply(state: RunState, e: ev.Event) -> RunState:
    """Fold one event into the state (mutates and returns it)."""
    state.last_seq, state.last_ts = e.seq, e.ts
    st = state.steps.get(e.step) if e.step else None
    _history(state, st, e)
    on_demand_before = _on_demand_on_path(state)
    p = e.payload
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
        case ev.Items():
            _items(state, p)
        case ev.Occurrence():
            _occurrence(state, p, e.ts)
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
            st.routed = False
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
            early, wait = None, state.step(st.id).wait
            if p.checked and wait and not st.wait_expired:  # the check holds after the wait: ticked too soon
                scale = float(state.info.get("time_scale") or 1.0)
                try:
                    early = st.wait_deadline - e.ts if st.wait_deadline else parse_duration(wait) / scale
                except ValueError:  # a wait given as a template: only its deadline says
                    early = None
            st.ticks.append(Tick(e.ts, e.actor, p.index, p.label, bool(p.checked), early))
        case ev.PaneMatched() | ev.PaneEnded() if st:
            st.panes_done.add(p.pane)
            matched = isinstance(p, ev.PaneMatched)
            said = p.line if isinstance(p, ev.PaneMatched) else p.reason
            st.pane_events.append(PaneEvent(e.ts, e.actor, p.pane, matched, said))
        case ev.Decision() if st:
            st.decision = {**e.data, "ts": e.ts, "actor": e.actor}
            state.vars.update(p.set or {})
        case ev.Answered() if st:
            st.answered = True
            if not p.secret:
                state.vars[p.var] = p.value
        case ev.StepFinished() if st:
            st.final = p.status
            st.finished = e.ts
            st.command_running = False
            st.error = p.error or st.error
            if st.attempts:
                a = st.attempts[-1]
                a.finished, a.status, a.error = e.ts, p.status, a.error or p.error
                a.duration = p.duration if p.duration is not None else e.ts - a.started
                if a.exit_code is None:
                    a.exit_code = p.exit_code
            goto = (st.decision or {}).get("goto")
            if p.status == DONE and goto and e.step:
                _goto(state, e.step, goto, (st.decision or {}).get("then"))
        case ev.StopRequested() if st:
            st.stop = p.then
        case ev.Skipped() if st:
            st.final = SKIPPED
            st.reason = p.reason
            st.finished = e.ts
            st.command_running = False
            st.stop = None
            st.settled_by = e.actor
        case ev.Marked() if st:
            st.final = p.status
            st.reason = p.reason
            st.finished = e.ts
            st.interrupted = False
            st.command_running = False
            st.stop = None
            st.settled_by = e.actor
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
            st.answered = False
            st.routed = False
            st.reason = p.reason
        case ev.StepInterrupted() if st:
            st.interrupted = True
            st.command_running = False
        case ev.SurvivorsFound() if st:
            st.survivors = [] if p.ended else list(p.processes)
        case ev.SignedOff() if st:
            st.sign_offs.append({"user": p.user, "uid": p.uid, "command": p.command, "ts": e.ts})
        case ev.Jump():
            if p.planned and st:
                st.routed = True
            origin = e.step if p.planned and e.step in state.path else state.current
            cut = state.path.index(origin) if origin in state.path else len(state.path)
            _detour(state, cut, p.target, p.then)
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
    _entries(state, on_demand_before, e, st)
    return state


def _on_demand_on_path(state: RunState) -> set[str]:
    return {sec for sid in state.path if (sec := state.step(sid).section) in state.entered}


def _entries(state: RunState, before: set[str], e: ev.Event, st: StepState | None) -> None:
    """How the run came into an on-demand section (for the record): a decision's goto, a person's jump, or an
    on-failure route; `before` are the on-demand sections that were on the path before this event."""
    for sec in sorted(_on_demand_on_path(state) - before):
        decision = (st.decision or {}) if st is not None and isinstance(e.payload, ev.StepFinished) else {}
        p = e.payload
        state.entries.append(Entry(sec, decision.get("ts") or e.ts, decision.get("actor") or e.actor, e.step,
                                   decision.get("label"), decision.get("reason") or getattr(p, "reason", "") or ""))


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
