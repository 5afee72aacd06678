"""Proof that nobody edited a run's record: every event is chained to the one before it by a SHA-256 over the
previous link and the event itself, from run_started to the end. Changing, removing or reordering an event
breaks the chain at that point; removing events from the end is caught against a final hash kept elsewhere
(the record prints it; a team's bucket keeps its own copy)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def link(previous: str, run_id: str, seq: int, ts: float, kind: str, step: str | None, actor: str,
         data_json: str) -> str:
    """The hash of one event, given the hash of the one before it ("" for the first)."""
    body = json.dumps([previous, run_id, seq, repr(float(ts)), kind, step, actor, data_json], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class Verdict:
    run_id: str
    events: int = 0
    final: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(rows: list[tuple[Any, ...]], run_id: str, expect: str | None = None) -> Verdict:
    """Check the chain of a run's events, `rows` being (seq, ts, kind, step, actor, data_json, hash) in the
    order the journal gives them by seq. `expect`: the final hash a record or a copy elsewhere holds."""
    verdict = Verdict(run_id)
    previous = ""
    for n, (seq, ts, kind, step, actor, data, stored) in enumerate(rows, start=1):
        if stored is None:
            verdict.problems.append(f"event #{seq} ({kind}) carries no hash: written by a deploytui without chains")
            return verdict
        if seq != n:
            verdict.problems.append(f"event #{n} is missing: the journal goes from #{n - 1} to #{seq}")
            return verdict
        expected = link(previous, run_id, seq, ts, kind, step, actor, data)
        if expected != stored:
            verdict.problems.append(f"event #{seq} ({kind}{f', step {step}' if step else ''}) was changed, or events "
                                    "around it were reordered or removed: its hash does not follow from the one "
                                    "before it")
            return verdict
        previous = stored
        verdict.events = n
    verdict.final = previous
    if expect and expect != previous:
        verdict.problems.append(f"the chain ends at #{verdict.events} with {previous[:16]}…, but the record says "
                                f"{expect[:16]}…: events were removed from the end, or added")
    return verdict
