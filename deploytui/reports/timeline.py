"""`deploytui show RUN` and `deploytui history`: a run's events as lines a person reads (the words are
`events.describe`'s), wrapped to the terminal, or as JSON for scripts."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..events.describe import describe, outcome_words
from ..journal.store import Journal, RunRow
from ..runbook.durations import format_duration
from ..runbook.templates import for_people


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def _titles(row: RunRow):
    from ..runbook.loader import parse

    try:
        book = parse(row.runbook_text or "", row.path or row.id)
    except Exception:  # an unloadable snapshot still shows, with step ids
        return lambda sid: sid
    titles = {s.id: for_people(s.title, {**row.vars}) for s in book.steps}
    return lambda sid: titles.get(sid, sid)


def timeline(journal: Journal, run_id: str, with_output: bool = False, width: int = 100) -> Iterator[str]:
    row = journal.run(run_id)
    title = _titles(row)
    wrap = textwrap.TextWrapper(width=max(40, width), subsequent_indent=" " * 15, break_long_words=True,
                                break_on_hyphens=False)
    head = f"{'REHEARSAL of ' if row.rehearsal else ''}{row.title} [{row.runbook_id}], run {row.id}"
    yield from wrap.wrap(head)
    yield from wrap.wrap(f"  environment {row.environment or '-'}, release {row.release or '-'}, operator "
                         f"{row.operator} on {row.host}" + (f", tmux {row.tmux}" if row.tmux else ""))
    yield from wrap.wrap(f"  runbook {row.path} (sha256 {row.sha256[:16]})")
    day = None
    for e in journal.events(row.id):
        when = datetime.fromtimestamp(e.ts)
        if when.date() != day:
            day = when.date()
            yield f"{when:%A %Y-%m-%d}"
        said = describe(e, title)
        yield from wrap.wrap(f"  {when:%H:%M:%S} {'!' if said.tone == 'bad' else ' '} {said.text}")
        if with_output and e.kind == "command_finished" and e.step:
            lines, total = journal.tail(row.id, e.step, e.data.get("attempt"), 10)
            for line in lines:
                yield f"{' ' * 15}| {line}"
            if total > len(lines):
                yield f"{' ' * 15}| ({total} lines in all)"
    yield f"outcome: {outcome_words(row.outcome) if row.outcome else 'open'}" + (
        f" after {format_duration(row.finished - row.started)}" if row.finished else "")


def timeline_json(journal: Journal, run_id: str) -> dict[str, Any]:
    row = journal.run(run_id)
    title = _titles(row)
    return {**run_json(row), "events": [
        {"seq": e.seq, "time": _iso(e.ts), "ts": e.ts, "kind": e.kind, "step": e.step, "actor": e.actor,
         "text": describe(e, title).text, "data": e.data} for e in journal.events(row.id)]}


def run_json(row: RunRow) -> dict[str, Any]:
    return {"id": row.id, "runbook_id": row.runbook_id, "title": row.title, "environment": row.environment,
            "release": row.release, "operator": row.operator, "host": row.host, "rehearsal": row.rehearsal,
            "started": _iso(row.started), "finished": _iso(row.finished),
            "duration": (row.finished - row.started) if row.finished else None, "outcome": row.outcome}
