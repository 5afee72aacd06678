"""What happens next in a run, decided from its state alone: no threads, no processes, no I/O.

- `next_move(situation)`: the one thing the engine does next by itself (skip a step whose `when` is false,
  start or open a gate, activate a step, start an `auto` step, start or end a wait, finish a step, finish
  the run), or None when the run waits for a person or a command.
- `refusal(situation, intent, step)`: why a person's intent is not possible now, or None. The engine's
  intents raise it; the screens show only what `allowed` says a step allows, so the two cannot disagree.

The life cycle (run.py) applies the moves and the intents; the executor (executor.py) runs commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..events.state import DONE, FAILED, SKIPPED, RunState
from ..runbook import templates
from ..runbook.durations import seconds_of
from ..runbook.model import Runbook, Step, item_id, item_labels, sign_offs_needed, split_each


@dataclass(frozen=True)
class Situation:
    """Everything a decision needs: the folded state and what the engine knows besides it."""

    state: RunState
    now: float
    variables: Callable[..., dict[str, Any]]  # (step_id=None): called only when a template needs them
    time_scale: float = 1.0
    busy: frozenset[str] = frozenset()  # steps whose command is still running in this process
    survivors: frozenset[str] = frozenset()  # steps whose killed command still has live processes
    command_of: Callable[[str], str | None] = lambda step_id: None  # the command as it would run now

    @property
    def book(self) -> Runbook:
        return self.state.book


# ---- moves: what the engine does by itself ------------------------------------------------------------------
@dataclass(frozen=True)
class Move:
    step: str | None = None


@dataclass(frozen=True)
class SkipStep(Move):
    reason: str = ""
    planned: bool = True  # a `when` that is false is the runbook's plan, not a deviation


@dataclass(frozen=True)
class StartGate(Move):
    deadline: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class OpenGate(Move):
    pass


@dataclass(frozen=True)
class Activate(Move):
    """A step without a command becomes active: its panes start, its checks and decision wait for a person."""


@dataclass(frozen=True)
class StartAuto(Move):
    pass


@dataclass(frozen=True)
class StartWait(Move):
    deadline: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class EndWait(Move):
    pass


@dataclass(frozen=True)
class FinishStep(Move):
    exit_code: int | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class FinishRun(Move):
    outcome: str = "succeeded"
    section: str | None = None


@dataclass(frozen=True)
class FailStep(Move):
    """A step that cannot even begin (its list or its cadence does not evaluate)."""

    error: str = ""


@dataclass(frozen=True)
class ListItems(Move):
    """A repeated step (or section, `of`) is reached: its items, fixed for this pass."""

    of: str = ""
    var: str = ""
    values: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recur(Move):
    """A recurring step's next occurrence is due."""

    number: int = 1
    due: float = 0.0
    next_due: float | None = None


@dataclass(frozen=True)
class Route(Move):
    """A failed step's `on_failure`: the run goes there."""

    target: str = ""
    then: str | None = None
    reason: str = ""


def outcome_of(state: RunState) -> tuple[str, str | None]:
    """How a run that reached the end of its path ended, and the on-demand section it ended in: `rolled_back`
    in a section marked `rollback = true`, `completed_on_demand` in another on-demand section, else
    `succeeded` (a detour that came back to the main flow ends there)."""
    last = state.book.section(state.book.step(state.path[-1]).section) if state.path else None
    if last is None or not last.on_demand:
        return "succeeded", None
    return ("rolled_back" if last.rollback else "completed_on_demand"), last.id


def gate_deadline(sit: Situation, step: Step) -> float | None:
    """When a `not_before` gate opens (epoch), or None if it does not apply (its reference did not run)."""
    nb = step.not_before
    if not nb:
        return None
    if nb.at:
        try:
            text = templates.render(nb.at, sit.variables(step.id))
            return datetime.fromisoformat(text.strip()).timestamp()
        except (templates.TemplateProblem, ValueError):
            return None
    s = sit.state
    ref_id = nb.step or ""
    item = s.items.get(step.id)
    if item is not None:  # inside a repetition, a step of the same repetition means this item's own
        mine = item_id(ref_id, item.label)
        if mine in s.items and s.items[mine].group == item.group:
            ref_id = mine
    if ref_id not in s.steps or s.status(ref_id) != DONE:
        return None
    finished = [s.steps[k].finished for k in s.children.get(ref_id, [])] if ref_id in s.children \
        else [s.steps[ref_id].finished]
    if not finished or None in finished:
        return None
    try:
        wait = seconds_of(nb.wait or 0, sit.variables(step.id)) or 0.0
    except (ValueError, templates.TemplateProblem):
        return None
    return max(f for f in finished if f is not None) + wait / (sit.time_scale or 1.0)


def missing_sign_offs(sit: Situation, step: Step) -> int:
    """How many more people must sign off `step` (the four-eyes rule) before it runs. A sign-off counts for
    the command its signer saw: when the command changed since, it must be signed again."""
    need, _group = sign_offs_needed(sit.book, step)
    if not need:
        return 0
    command = sit.command_of(step.id)
    signers = {s["user"] for s in sit.state.steps[step.id].sign_offs if command is None or s["command"] == command}
    return max(0, need - len(signers))


def held(state: RunState, sid: str) -> bool:
    """An untrusted app's run ([fleet] untrusted) does not enter its hold section until a person overrides
    the hold: nothing there starts by itself."""
    hold = state.info.get("hold")
    return bool(hold) and state.step(sid).section == hold and "hold" not in state.overrides


def deadline_blocks(state: RunState) -> bool:
    """The window's deadline stops the deploy, never its recovery: on-demand sections (rollback, disaster
    recovery) go on without an override."""
    if not state.deadline_passed or "deadline" in state.overrides:
        return False
    cur = state.current
    return not (cur and state.book.is_on_demand(state.book.step(cur)))


def schedule_blocks(state: RunState) -> bool:
    sched = state.schedule or {}
    return bool(sched.get("needs_override")) and "schedule" not in state.overrides


def next_move(sit: Situation) -> Move | None:
    s = sit.state
    if s.outcome or s.lock_lost:
        return None
    if s.current is None:
        return _at_the_end(sit)
    for sid in s.active:
        move = _move_for(sit, sid)
        if move is not None:
            return move
    for sid in s.recurring_open():
        move = _recurrence(sit, sid)
        if move is not None:
            return move
    return None


def _at_the_end(sit: Situation) -> Move | None:
    """The end of the path: what recurs alongside it ends (an occurrence still running is waited for),
    then the run finishes."""
    s = sit.state
    if not s.path:
        return None
    for sid in s.side:
        st = s.steps[sid]
        if st.final in (DONE, SKIPPED):
            continue
        if st.command_running or sid in sit.busy or st.stop:
            return None
        return SkipStep(sid, reason="the run reached its end", planned=True)
    for sid in s.recurring_open():
        return FinishStep(sid, duration=round(sit.now - (s.steps[sid].started or sit.now), 3))
    outcome, section = outcome_of(s)
    return FinishRun(outcome=outcome, section=section)


def _move_for(sit: Situation, sid: str) -> Move | None:
    """What the engine does by itself for one active step."""
    s = sit.state
    st, step = s.steps[sid], s.step(sid)
    if st.final == FAILED:
        if step.on_failure and not st.routed:
            return Route(sid, target=step.on_failure, then=then_of(sit.book, step.on_failure),
                         reason=f"step '{sid}' failed ({st.error or 'marked failed'}): on_failure")
        return None
    if st.interrupted or st.stop:
        return None
    if not st.activated:
        if sid not in s.items and sid not in s.children and sit.book.repetition(step):
            return _list_items(sit, sid, step)
        if s.info.get("dry"):  # progressive enablement: the run records what it would do, and does nothing
            return SkipStep(sid, reason=f"dry run: {s.info['dry']}", planned=True)
        if held(s, sid):
            return None
        if step.when and not st.command_running:
            try:
                ok = bool(templates.evaluate(step.when, sit.variables(sid)))
            except templates.TemplateProblem as e:
                return SkipStep(sid, reason=f"when: {step.when}: {e}", planned=False)
            if not ok:
                return SkipStep(sid, reason=f"when: {step.when} is false", planned=True)
        if step.not_before and not st.gate_open:
            deadline = gate_deadline(sit, step)
            if deadline is not None:  # None: the gate's reference did not run (skipped), nothing to wait for
                if st.gate_deadline is None:
                    return StartGate(sid, deadline=deadline, seconds=max(0.0, deadline - sit.now))
                if sit.now < st.gate_deadline:
                    return None
                return OpenGate(sid)
        if step.every is not None and sid not in s.items:
            return _first_occurrence(sit, sid, step)
        if deadline_blocks(s) or schedule_blocks(s):
            return None
        if not step.has_command:
            return Activate(sid)
        if step.auto and not step.interactive and not step.danger and sid not in sit.busy \
                and not missing_sign_offs(sit, step):
            return StartAuto(sid)
        return None
    if st.command_running:
        return None
    if step.wait and st.wait_deadline is None and (st.command_ok or not step.has_command):
        try:
            seconds = (seconds_of(step.wait, sit.variables(sid)) or 0.0) / (sit.time_scale or 1.0)
        except (ValueError, templates.TemplateProblem) as e:
            return FailStep(sid, error=f"wait: {e}")
        return StartWait(sid, deadline=sit.now + seconds, seconds=seconds)
    if step.wait and st.wait_deadline is not None and not st.wait_expired and sit.now >= st.wait_deadline:
        return EndWait(sid)
    if s.complete(sid):
        return FinishStep(sid, exit_code=st.exit_code, duration=round(sit.now - (st.started or sit.now), 3))
    return None


def then_of(book: Runbook, target: str) -> str | None:
    """Where the run goes on after entering `target`: its on-demand section's `then`."""
    sec = book.section_of(target)
    return sec.then if sec is not None else None


def _list_items(sit: Situation, sid: str, step: Step) -> Move:
    key, each, _parallel = sit.book.repetition(step) or (sid, "", 1)
    try:
        var, expression = split_each(each)
        values = templates.items_of(templates.evaluate(expression, sit.variables()))
    except (ValueError, templates.TemplateProblem) as e:
        return FailStep(sid, error=f"each: {e}")
    return ListItems(sid, of=key, var=var, values=tuple(values), labels=tuple(item_labels(values)))


def _until(sit: Situation, sid: str, step: Step) -> bool | str:
    """A recurring step's `until`: True when it holds, or why it cannot be evaluated."""
    if not step.until:
        return False
    try:
        return bool(templates.evaluate(step.until, sit.variables(sid)))
    except templates.TemplateProblem as e:
        return f"until: {e}"


def _cadence(sit: Situation, sid: str, step: Step) -> float | str:
    try:
        return (seconds_of(step.every, sit.variables(sid)) or 0.0) / (sit.time_scale or 1.0)
    except (ValueError, templates.TemplateProblem) as e:
        return f"every: {e}"


def _first_occurrence(sit: Situation, sid: str, step: Step) -> Move:
    ended = _until(sit, sid, step)
    if isinstance(ended, str):
        return FailStep(sid, error=ended)
    if ended:
        return SkipStep(sid, reason=f"until: {step.until} already holds", planned=True)
    every = _cadence(sit, sid, step)
    if isinstance(every, str):
        return FailStep(sid, error=every)
    return Recur(sid, number=1, due=sit.now, next_due=sit.now + every)


def _recurrence(sit: Situation, sid: str) -> Move | None:
    """A recurring step between occurrences: it ends when `until` holds, else its next one comes due."""
    s = sit.state
    st, step = s.steps[sid], s.step(sid)
    last = item_id(sid, str(st.occurrences))
    if last in s.steps and s.steps[last].final not in (DONE, SKIPPED):
        return None
    ended = _until(sit, sid, step)
    if isinstance(ended, str):
        return FailStep(sid, error=ended)
    if ended:
        return FinishStep(sid, duration=round(sit.now - (st.started or sit.now), 3))
    due = st.next_due if st.next_due is not None else sit.now
    if sit.now < due:
        return None
    every = _cadence(sit, sid, step)
    if isinstance(every, str):
        return FailStep(sid, error=every)
    when = due if sit.now < due + every else sit.now  # a long-missed one is due now, not in a burst
    return Recur(sid, number=st.occurrences + 1, due=when, next_due=when + every)


# ---- intents: what a person may do now ---------------------------------------------------------------------
RUN, RERUN, SKIP, MARK_DONE, MARK_FAILED, TICK, DECIDE, ANSWER, OVERRIDE_GATE, END_PANE, END_SURVIVORS = (
    "run", "rerun", "skip", "done", "failed", "tick", "decide", "answer", "override_gate", "end_pane",
    "end_survivors")
STEP_INTENTS = (RUN, RERUN, SKIP, MARK_DONE, MARK_FAILED, TICK, DECIDE, ANSWER, OVERRIDE_GATE, END_PANE,
                END_SURVIVORS)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def refusal(sit: Situation, intent: str, step_id: str) -> str | None:
    """Why `intent` on step `step_id` is not possible now, in words for the person who tried; None if it is."""
    s = sit.state
    if s.outcome:
        return f"the run has finished ({s.outcome.replace('_', ' ')})"
    if s.lock_lost:
        return f"this run's lock was taken by {s.lock_lost}: it can do nothing more"
    if step_id not in s.steps:
        return f"no step {step_id!r} in this run"
    step = sit.book.step(step_id)
    st = s.steps[step_id]
    on_path = step_id in s.path or step_id in s.side
    active = step_id in s.active
    if step_id in s.children and step_id not in s.items:  # a repeated or recurring step: its items act
        if intent != SKIP:
            kids = s.children[step_id]
            return (f"step '{step_id}' repeats: act on its items ({', '.join(kids[:3])}"
                    f"{', ...' if len(kids) > 3 else ''})" if kids else f"step '{step_id}' has no items")
        if s.status(step_id) in (DONE, SKIPPED):
            return f"step '{step_id}' is already {s.status(step_id)}"
        if any(s.steps[k].command_running or k in sit.busy for k in s.children[step_id]):
            return f"an item of step '{step_id}' is running: stop it first"
        return None
    if intent == RUN:
        if not step.has_command:
            return f"step '{step_id}' has no command to run"
        if st.command_running or step_id in sit.busy:
            return f"step '{step_id}' is already running"
        if step_id in sit.survivors:
            return (f"step '{step_id}': the command deploytui was running when it stopped is still alive: "
                    "end it first (E), or wait for it")
        if st.final == FAILED or st.interrupted:
            state = "failed" if st.final == FAILED else "was interrupted"
            return f"step '{step_id}' {state}: re-run it with a reason, mark it, or skip it"
        if st.final == DONE or (st.activated and st.command_ok):
            return f"step '{step_id}' has already run; re-run it with a reason"
        if st.final == SKIPPED:
            return f"step '{step_id}' was skipped; re-run it with a reason to run it after all"
        if not active:
            where = f"the current step is '{s.current}'" if s.current else "no step is current"
            return f"step '{step_id}' is not the current step ({where})"
        if step.not_before and not st.gate_open and st.gate_deadline and sit.now < st.gate_deadline:
            return (f"step '{step_id}' is gated until {_clock(st.gate_deadline)}: wait for the timer, or override "
                    "the gate with a reason (o)")
        if deadline_blocks(s):
            return "the deploy window's deadline has passed: override it with a reason to go on"
        if schedule_blocks(s):
            return ("the schedule guard says: " + "; ".join((s.schedule or {}).get("problems", []))
                    + ": override the schedule with a reason to go on")
        missing = missing_sign_offs(sit, step)
        if missing:
            _need, group = sign_offs_needed(sit.book, step)
            who = f"someone in {group}" if group else f"{missing} more {'person' if missing == 1 else 'people'}"
            return (f"step '{step_id}' needs a sign-off from {who} besides the driver (four eyes): a pair signs "
                    "off from their own follower, `deploytui follow --sign`")
        return None
    if intent == RERUN:
        if st.command_running or step_id in sit.busy:
            return f"step '{step_id}' is still running"
        if step_id in sit.survivors:
            return (f"step '{step_id}': the command deploytui was running when it stopped is still alive: "
                    "end it first (E), or wait for it")
        if not (st.activated or st.final or st.interrupted):
            return f"step '{step_id}' has not run yet"
        if not on_path:
            return f"step '{step_id}' is not on this run's path"
        return None
    if intent == SKIP:
        if st.final in (DONE, SKIPPED):
            return f"step '{step_id}' is already {st.final}"
        if st.stop:
            return f"step '{step_id}' is already being stopped"
        return None
    if intent in (MARK_DONE, MARK_FAILED):
        if st.stop:
            return f"step '{step_id}' is already being stopped"
        if st.final == intent:
            return f"step '{step_id}' is already {intent}"
        return None
    if intent == TICK:
        if not step.checks:
            return f"step '{step_id}' has no checks"
        if st.final is not None:
            return f"step '{step_id}' is finished; re-run it to change its checks"
        return None
    if intent == DECIDE:
        if not step.decide:
            return f"step '{step_id}' has no decision"
        if st.decision is not None:
            return f"step '{step_id}' is already decided ({st.decision.get('label')})"
        if not (active and st.activated):
            return f"step '{step_id}' is not waiting for a decision"
        if step.has_command and not st.command_ok:
            return f"step '{step_id}': its command must succeed before the decision"
        return None
    if intent == ANSWER:
        if not step.ask:
            return f"step '{step_id}' asks for nothing"
        if st.answered:
            return f"step '{step_id}' is already answered; re-run it with a reason to answer again"
        if not (active and st.activated) or st.final is not None:
            return f"step '{step_id}' is not waiting for an answer"
        return None
    if intent == OVERRIDE_GATE:
        if not step.not_before:
            return f"step '{step_id}' has no gate"
        if st.gate_open or st.activated:
            return f"step '{step_id}': its gate is open"
        return None
    if intent == END_PANE:
        waiting = [k for k, p in enumerate(step.panes) if p.until and k not in st.panes_done]
        if not waiting:
            return f"no pane of step '{step_id}' is waiting for a line"
        if not st.activated or st.final is not None:
            return f"step '{step_id}' is not active"
        return None
    if intent == END_SURVIVORS:
        if step_id not in sit.survivors:
            return f"step '{step_id}' left nothing running"
        return None
    return f"unknown intent {intent!r}"


def needs_confirmation(sit: Situation, intent: str, step_id: str) -> bool:
    """A `danger` step's command starts only with the environment's name typed: running it, or re-running it
    while it is active (a re-run of an earlier step does not run its command)."""
    step = sit.book.step(step_id)
    if not (step.danger and step.has_command):
        return False
    return intent == RUN or (intent == RERUN and step_id in sit.state.active)


@dataclass(frozen=True)
class Allowed:
    """What a step allows now: intent -> None (allowed) or why not. Screens show the allowed ones."""

    reasons: dict[str, str | None] = field(default_factory=dict)
    running: bool = False  # its command runs: skip / done / failed stop it first, and ask
    confirm: frozenset[str] = frozenset()  # intents that start a danger command: the environment is typed first

    def __contains__(self, intent: str) -> bool:
        return self.reasons.get(intent, "unknown") is None

    def why_not(self, intent: str) -> str | None:
        return self.reasons.get(intent)


def allowed(sit: Situation, step_id: str) -> Allowed:
    st = sit.state.steps[step_id]
    return Allowed({i: refusal(sit, i, step_id) for i in STEP_INTENTS},
                   running=st.command_running or step_id in sit.busy,
                   confirm=frozenset(i for i in (RUN, RERUN) if needs_confirmation(sit, i, step_id)))
