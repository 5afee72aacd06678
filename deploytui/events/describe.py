"""Events in words, for people: the one place that says what an event means.

The screen's activity feed, the follower, Slack, the headless progress lines, `deploytui show` and the
record all call `describe`; each adds only its own decoration (a time stamp, an emoji, a colour from
`tone`). A change of wording is made here once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..runbook.durations import format_duration
from . import kinds as k

OK, BAD, WARN, INFO = "ok", "bad", "warn", "info"


@dataclass(frozen=True)
class Said:
    text: str
    tone: str = INFO  # ok | bad | warn | info: how a screen or Slack may colour it


def _clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "?"


def _took(seconds: float | None) -> str:
    return f" in {format_duration(seconds)}" if seconds is not None else ""


def _because(reason: str | None) -> str:
    return f": {reason}" if reason else ""


def describe(event: k.Event, title: Callable[[str], str] | None = None) -> Said:
    """What `event` means, in one line. `title(step_id)` gives a step's title as people read it (rendered);
    without it the step id is used."""
    sid = event.step or ""
    step = (title(sid) if title and sid else sid) or "the run"
    who = event.actor if event.by_person else ""
    by = f" ({who})" if who else ""
    p = event.payload
    match p:
        case k.RunStarted():
            what = "Rehearsal" if p.rehearsal else "Run"
            env = f" ({p.environment})" if p.environment else ""
            rel = f", {p.release}" if p.release else ""
            faults = f"; faults injected: {', '.join(p.faults)}" if p.faults else ""
            team = f" (owned by {p.team})" if p.team else ""
            dry = f"; DRY RUN: {p.dry}" if p.dry else ""
            hold = f"; {p.app} is not trusted to deploy by itself: a person takes it into {p.hold}" if p.hold else ""
            return Said(f"{what} of {p.title}{env}{rel}{team} started by {p.operator or event.actor}{faults}{dry}"
                        f"{hold}", WARN if p.dry or p.hold else INFO)
        case k.Resumed():
            return Said(f"Run resumed by {p.operator or event.actor} on {p.host}")
        case k.RunbookChanged():
            return Said(f"The runbook file changed since the run started ({p.old_sha[:12]} → {p.new_sha[:12]})", WARN)
        case k.ScheduleChecked():
            if p.problems:
                return Said("Schedule guard: " + "; ".join(p.problems), WARN)
            return Said("Schedule guard: ok" + (f" ({p.day})" if p.day else ""), OK)
        case k.Override():
            what = {"gate": f"the gate of {step}", "schedule": "the schedule guard",
                    "deadline": "the deploy window's deadline",
                    "hold": "the hold of an untrusted app"}.get(p.what, p.what)
            return Said(f"Overrode {what}{by}{_because(p.reason)}", WARN)
        case k.StepStarted():
            again = f" (attempt {p.attempt})" if p.attempt and p.attempt > 1 else ""
            return Said(f"{step}: started{again}{by}")
        case k.ProcessStarted():
            return Said(f"{step}: process {p.pid} started")
        case k.CommandFinished():
            if p.ok:
                return Said(f"{step}: command succeeded{_took(p.duration)}", OK)
            return Said(f"{step}: command failed: {p.error or f'exit code {p.exit_code}'}{_took(p.duration)}", BAD)
        case k.LeftRunning():
            procs = ", ".join(f"{x.get('pid')} {x.get('command', '')}".strip() for x in p.processes)
            return Said(f"{step}: the command left running: {procs}", WARN)
        case k.Retried():
            return Said(f"{step}: retrying{_because(p.reason)}", WARN)
        case k.TimerStarted():
            what = "waiting" if p.timer == "wait" else "gated"
            return Said(f"{step}: {what} until {_clock(p.deadline)}")
        case k.TimerExpired():
            return Said(f"{step}: " + ("the wait is over" if p.timer == "wait" else "the gate is open"))
        case k.CheckToggled():
            mark = "ticked" if p.checked else "unticked"
            return Said(f"{step}: {mark} “{p.label}”{by}", OK if p.checked else INFO)
        case k.PaneMatched():
            return Said(f"{step}: pane {p.pane + 1} saw what it waited for: {p.line}", OK)
        case k.PaneEnded():
            return Said(f"{step}: pane {p.pane + 1}'s wait ended by hand{by}{_because(p.reason)}", WARN)
        case k.Decision():
            goto = f" → {p.goto}" if p.goto else ""
            sets = f" (sets {', '.join(f'{n} = {v}' for n, v in p.set.items())})" if p.set else ""
            return Said(f"{step}: decided “{p.label}”{goto}{sets}{by}{_because(p.reason)}")
        case k.Answered():
            return Said(f"{step}: {p.var} = {p.value}{by}", OK)
        case k.Items():
            what = (title(p.of) if title else p.of) or p.of
            if not p.values:
                return Said(f"{what}: its list is empty, nothing to repeat")
            shown = ", ".join(p.values[:8]) + (f", … ({len(p.values)} in all)" if len(p.values) > 8 else "")
            return Said(f"{what}: once for each {p.var}: {shown}")
        case k.Occurrence():
            what = (title(p.of) if title else p.of) or p.of
            return Said(f"{what}: #{p.number} is due" + (f" (the next at {_clock(p.next_due)})"
                                                         if p.next_due else ""))
        case k.StepFinished():
            if p.status == "failed":
                return Said(f"{step}: failed{_because(p.error)}", BAD)
            return Said(f"{step}: done{_took(p.duration)}", OK)
        case k.StopRequested():
            then = {"skip": "skip it", "done": "mark it done", "failed": "mark it failed"}.get(p.then, p.then)
            return Said(f"{step}: stop requested{by}, to {then}{_because(p.reason)}", WARN)
        case k.Skipped():
            if p.planned:
                return Said(f"{step}: not needed this time{_because(p.reason)}")
            return Said(f"{step}: skipped{by}{_because(p.reason)}", WARN)
        case k.Rerun():
            return Said(f"{step}: re-run{by}{_because(p.reason)}", WARN)
        case k.Marked():
            return Said(f"{step}: marked {p.status}{by}{_because(p.reason)}", WARN if p.status == "done" else BAD)
        case k.StepInterrupted():
            return Said(f"{step}: was running when deploytui stopped: interrupted", WARN)
        case k.SurvivorsFound():
            procs = ", ".join(f"{x.get('pid')} {x.get('command', '')}".strip() for x in p.processes)
            if p.ended:
                return Said(f"{step}: ended what the interrupted command left running{by}: {procs}", WARN)
            return Said(f"{step}: the interrupted command is still running: {procs}", WARN)
        case k.SignedOff():
            return Said(f"{step}: signed off by {p.user} (four eyes)", OK)
        case k.Jump():
            if p.planned:
                return Said(f"{step}: its on_failure route leads to {p.target}", WARN)
            return Said(f"Entered {p.target}{by}{_because(p.reason)}", WARN)
        case k.Note():
            return Said(f"Note{by}: {p.text}" if not sid else f"{step}: note{by}: {p.text}")
        case k.DeadlinePassed():
            return Said("The deploy window's deadline has passed", BAD)
        case k.LockBroken():
            held = f" from {p.holder}" if p.holder else ""
            return Said(f"Took the lock{held}{by}{_because(p.reason)}", WARN)
        case k.LockLost():
            return Said(f"Someone took this run's lock ({p.holder}): the run stops here", BAD)
        case k.NotifyFailed():
            return Said(f"Could not notify Slack: {p.error}", WARN)
        case k.RunInterrupted():
            ended = f"; ended {', '.join(p.ended)}" if p.ended else ""
            return Said(f"deploytui stopped with the run open ({p.reason}){ended}", WARN)
        case k.RunFinished():
            return Said(f"Run finished: {outcome_words(p.outcome)}{_because(p.reason)}",
                        OK if p.outcome == "succeeded"
                        else WARN if p.outcome in ("rolled_back", "recovered", "completed_on_demand") else BAD)
    return Said(f"{event.kind}{' ' + step if sid else ''}")


OUTCOME_WORDS = {
    "succeeded": "succeeded",
    "rolled_back": "rolled back",
    "recovered": "completed through a recovery section",
    "completed_on_demand": "ended in an on-demand section",  # not a rollback (a deferral, a call-off, ...)
    "failed": "failed",
    "aborted": "aborted",
}


def outcome_words(outcome: str | None) -> str:
    return OUTCOME_WORDS.get(outcome or "", (outcome or "open").replace("_", " "))


def is_deviation(event: k.Event) -> bool:
    """Whether the record lists `event` as a departure from the runbook's plan."""
    p = event.payload
    match p:
        case k.Skipped():
            return not p.planned and not (p.reason or "").startswith("when:")  # older journals
        case k.Jump():
            return not p.planned  # an on_failure route is the runbook's plan (the failure is its own line)
        case (k.Rerun() | k.Marked() | k.Override() | k.StepInterrupted() | k.LockBroken()
              | k.LockLost() | k.StopRequested() | k.PaneEnded() | k.RunInterrupted() | k.DeadlinePassed()
              | k.RunbookChanged()):
            return True
        case k.SurvivorsFound():
            return True
    return False


# What a person did, in the record's list of people: kind -> (once, n times). A kind not here shows as its name.
ACTS: dict[str, tuple[str, str]] = {
    k.RunStarted.KIND: ("started the run", "started the run"),
    k.Resumed.KIND: ("resumed the run", "resumed the run {n} times"),
    k.StepStarted.KIND: ("ran a step", "ran {n} steps"),
    k.CheckToggled.KIND: ("ticked a check", "ticked {n} checks"),
    k.Decision.KIND: ("made a decision", "made {n} decisions"),
    k.Skipped.KIND: ("skipped a step", "skipped {n} steps"),
    k.Marked.KIND: ("marked a step by hand", "marked {n} steps by hand"),
    k.Rerun.KIND: ("re-ran a step", "re-ran {n} steps"),
    k.Override.KIND: ("overrode a guard", "overrode {n} guards"),
    k.Note.KIND: ("wrote a note", "wrote {n} notes"),
    k.Jump.KIND: ("entered an on-demand section", "entered {n} on-demand sections"),
    k.PaneEnded.KIND: ("ended a pane's wait", "ended {n} panes' waits"),
    k.StopRequested.KIND: ("stopped a command", "stopped {n} commands"),
    k.LockBroken.KIND: ("took the lock", "took the lock {n} times"),
    k.SurvivorsFound.KIND: ("ended left-over processes", "ended left-over processes {n} times"),
    k.RunFinished.KIND: ("ended the run", "ended the run"),
}


def acts(events: list[k.Event]) -> str:
    """What one person did in a run, in a few words: "started the run, ran 5 steps, ticked 12 checks"."""
    counts: dict[str, int] = {}
    for e in events:
        kind = e.kind
        if isinstance(e.payload, k.CheckToggled) and not e.payload.checked:
            kind = "unticked"
        counts[kind] = counts.get(kind, 0) + 1
    words = []
    for kind, n in counts.items():
        once, many = ACTS.get(kind, ("unticked a check", "unticked {n} checks") if kind == "unticked"
                              else (kind.replace("_", " "), kind.replace("_", " ") + " ×{n}"))
        words.append(once if n == 1 else many.format(n=n))
    return ", ".join(words)
