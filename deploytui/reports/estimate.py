"""How long the rest of a run usually takes, for the deploy window's countdown (no Textual)."""

from __future__ import annotations

import statistics

from ..events import kinds as ev
from ..events.state import SETTLED, RunState
from ..runbook.durations import parse_duration


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
