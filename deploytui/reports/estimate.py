"""How long the rest of a run usually takes, for the deploy window's countdown (no Textual)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from ..events import kinds as ev
from ..events.state import SETTLED, RunState
from ..runbook.durations import format_duration, parse_duration
from ..runbook.model import Step


def usual_durations(journal, runbook_id: str, limit: int = 5) -> dict[str, float]:
    """Median seconds each step took in the last finished runs of this runbook."""
    seen: dict[str, list[float]] = {}
    try:
        rows = [r for r in journal.runs(50) if r.runbook_id == runbook_id and r.finished][:limit]
        for r in rows:
            for e in journal.events(r.id):
                if e.kind == ev.STEP_FINISHED and e.data.get("duration") is not None:
                    seen.setdefault(e.step, []).append(float(e.data["duration"]))
    except Exception:  # estimates are a nicety; a journal problem shows elsewhere
        return {}
    return {k: statistics.median(v) for k, v in seen.items()}


def remaining_seconds(state: RunState, usual: dict[str, float], now: float) -> float:
    """The usual duration of the steps still ahead on the run's path (timers count what is left)."""
    total = 0.0
    for sid in state.path:
        st = state.steps[sid]
        if st.final in SETTLED:
            continue
        step = state.book.step(sid)
        if st.wait_deadline and not st.wait_expired:
            total += max(0.0, st.wait_deadline - now)
            continue
        if st.gate_deadline and not st.gate_open:
            total += max(0.0, st.gate_deadline - now)
        if sid in usual:
            total += usual[sid]
            continue
        for d in (step.wait, step.not_before.wait if step.not_before and not st.gate_deadline else None):
            if d is not None:
                try:
                    total += parse_duration(d)
                except ValueError:
                    pass
    return total


def window_level(state: RunState, usual: dict[str, float], now: float) -> str:
    """"" (no window), "ok", "amber" (the rest would overrun it) or "red" (it has passed)."""
    if not state.deadline:
        return ""
    if now >= state.deadline or state.deadline_passed:
        return "red"
    if now + remaining_seconds(state, usual, now) > state.deadline:
        return "amber"
    return "ok"


# ---- expected durations for the plan (from the fold of earlier runs) ----------------------------
def fmt_duration(seconds: float | None) -> str:
    """Durations in documents: tenths under a minute ("0.3s"), else as the timelines write them."""
    if seconds is None:
        return ""
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


@dataclass
class Expected:
    """How long steps and whole runs of one runbook took before: real runs, or rehearsals (their
    time-scaled waits and gates counted as written) when there is no real run yet."""

    steps: dict[str, list[float]] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)  # whole successful runs, start to finish
    history: dict[str, Any] = field(default_factory=lambda: {"runs": 0, "rehearsals": False, "ids": []})

    @classmethod
    def none(cls) -> Expected:
        return cls()

    def step(self, step_id: str) -> dict | None:
        seen = self.steps.get(step_id)
        if not seen:
            return None
        return {"median": statistics.median(seen), "min": min(seen), "max": max(seen), "runs": len(seen)}

    def total(self, steps: list[Step]) -> dict:
        """The steps' usual time added up (steps never timed count their written waits), or, for a whole
        main flow, the whole runs' own times when there are some."""
        med = lo = hi = 0.0
        unknown = 0
        for step in steps:
            seen = self.step(step.id)
            if seen:
                med, lo, hi = med + seen["median"], lo + seen["min"], hi + seen["max"]
                continue
            written = sum(_seconds(d) for d in (step.wait, step.not_before.wait if step.not_before else None))
            med, lo, hi = med + written, lo + written, hi + written
            unknown += 1
        known = unknown < len(steps)
        return {"median": med if known or med else None, "min": lo if known else None, "max": hi if known else None,
                "untimed_steps": unknown, "runs": self.history["runs"]}

    def whole(self) -> dict | None:
        if not self.runs:
            return None
        return {"median": statistics.median(self.runs), "min": min(self.runs), "max": max(self.runs),
                "untimed_steps": 0, "runs": len(self.runs)}


def _seconds(d: str | int | None) -> float:
    if d is None:
        return 0.0
    try:
        return parse_duration(d)
    except ValueError:
        return 0.0


def expected_durations(journal, book, limit: int = 20) -> Expected:
    """Expected durations of `book`'s steps from the last finished runs of the same runbook in `journal`,
    read through the same fold as everything else."""
    from ..events.state import fold
    from ..runbook.loader import parse

    rows = [r for r in journal.runs(200) if r.runbook_id == book.runbook.id and r.finished]
    real = [r for r in rows if not r.rehearsal]
    rows = (real or rows)[:limit]
    out = Expected(history={"runs": len(rows), "rehearsals": bool(rows) and not real, "ids": [r.id for r in rows]})
    for r in rows:
        try:
            state = fold(parse(r.runbook_text or "", r.path or r.id), journal.events(r.id), r.id)
        except Exception:  # a run whose snapshot no longer loads says nothing about durations
            continue
        scale = float(state.info.get("time_scale") or 1.0)
        slowed = 0.0  # what the time scale took off this run's waits and gates
        for sid, st in state.steps.items():
            timers = sum(t.seconds for t in st.timers) * (scale - 1.0)
            slowed += timers
            durations = [a.duration for a in st.attempts if a.status == "done" and a.duration is not None]
            if durations:
                wait = sum(t.seconds for t in st.timers if t.timer == "wait") * (scale - 1.0)
                out.steps.setdefault(sid, []).append(durations[-1] + wait)
        if state.outcome == "succeeded" and state.finished and state.started:
            out.runs.append(state.finished - state.started + slowed)
    return out
