"""`deploytui show RUN`: a run's events as lines a person reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ..journal.store import Journal

SKIP_KEYS = {"vars", "diff", "outputs", "with"}


def timeline(journal: Journal, run_id: str, with_output: bool = False) -> Iterator[str]:
    row = journal.run(run_id)
    yield f"run {row.id}: {row.title} [{row.runbook_id}]"
    yield (f"  environment {row.environment or '-'}  release {row.release or '-'}  operator {row.operator}"
           f"  host {row.host}" + (f"  tmux {row.tmux}" if row.tmux else "") + ("  REHEARSAL" if row.rehearsal else ""))
    yield f"  runbook {row.path} sha256 {row.sha256[:16]}"
    for e in journal.events(row.id):
        when = datetime.fromtimestamp(e.ts).strftime("%Y-%m-%d %H:%M:%S")
        details = ", ".join(f"{k}={_short(v)}" for k, v in sorted(e.data.items())
                            if k not in SKIP_KEYS and v not in (None, "", [], {}))
        who = "" if e.actor == "engine" else f" [{e.actor}]"
        step = f" {e.step}" if e.step else ""
        yield f"{when} #{e.seq:<4} {e.kind}{step}{who}" + (f": {details}" if details else "")
        if with_output and e.kind == "command_finished" and e.step:
            lines, total = journal.tail(row.id, e.step, e.data.get("attempt"), 10)
            for line in lines:
                yield f"      | {line}"
            if total > len(lines):
                yield f"      | ({total} lines in all)"
    yield f"outcome: {row.outcome or 'open'}"


def _short(v) -> str:
    s = str(v).replace("\n", " ")
    return s if len(s) <= 80 else s[:77] + "..."
