"""Reading the team's record from its store: `history --team` from the index alone (one listing per day,
however many runs a year holds), and one run copied into a temporary journal, so `show`, `export` and
`verify` read it exactly as they read a local run.

Index keys: index/DAY/RUN~runbook~environment~release~operator~outcome (fields URL-quoted; outcome "open"
while the run is open); the key itself is the summary, so listing is enough."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from ..errors import UserError
from ..integrations.store import Store
from ..journal import Journal
from ..journal.store import RunRow

FIELDS = ("runbook_id", "environment", "release", "operator", "outcome")


def index_key(row: RunRow, open_: bool = False) -> str:
    day = datetime.fromtimestamp(row.started, UTC).strftime("%Y-%m-%d")
    values = {**row.__dict__, "outcome": "open" if open_ or row.finished is None else row.outcome or "finished"}
    return f"index/{day}/{row.id}~" + "~".join(quote(str(values[f] or ""), safe="") for f in FIELDS)


def parse_index(key: str) -> dict[str, str]:
    run_id, *values = key.rsplit("/", 1)[1].split("~")
    return {"id": run_id, **{f: unquote(v) for f, v in zip(FIELDS, values)}}


def team_history(store: Store, limit: int = 30) -> list[dict[str, str]]:
    """The team's latest runs, newest first (limit 0: all); an entry's final form wins over its open one."""
    out: list[dict[str, str]] = []
    for day in sorted(store.folders("index/"), reverse=True):
        runs: dict[str, dict[str, str]] = {}
        for key in store.keys(f"index/{day}/"):
            entry = parse_index(key)
            if entry["id"] not in runs or runs[entry["id"]]["outcome"] == "open":
                runs[entry["id"]] = entry
        out += sorted(runs.values(), key=lambda e: e["id"], reverse=True)  # ids begin with the start time
        if limit and len(out) >= limit:
            return out[:limit]
    return out


def find_run(store: Store, run_id: str) -> str:
    """A run id in the store from an id or a unique prefix of one."""
    if store.get(f"runs/{run_id}/run.json") is not None:
        return run_id
    found = sorted({k.split("/")[1] for k in store.keys(f"runs/{run_id}") if k.endswith("/run.json")})
    if len(found) > 1:
        raise UserError(f"run id {run_id!r} is ambiguous in {store.where}: {', '.join(found[:5])}", 2)
    if not found:
        raise UserError(f"no run {run_id!r} in {store.where} (see `deploytui history --team`)", 2)
    return found[0]


def _jsonl(store: Store, prefix: str) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for key in store.keys(prefix):
        rows += [json.loads(line) for line in (store.get(key) or b"").decode().splitlines() if line]
    return rows


def fetch_run(store: Store, run_id: str, into: Path | None = None) -> tuple[Journal, str]:
    """Copy a run from the store into a new journal (a temporary file unless `into`); returns it and the id.
    Events keep the order the store gives them by sequence number and the hashes they were shipped with."""
    run_id = find_run(store, run_id)
    run = json.loads(store.get(f"runs/{run_id}/run.json") or b"{}")
    events = sorted(_jsonl(store, f"runs/{run_id}/events/"), key=lambda e: e[0])
    chunks = _jsonl(store, f"runs/{run_id}/output/")
    path = into or Path(tempfile.mkdtemp(prefix="deploytui-team-")) / "journal.sqlite3"
    journal = Journal(path)
    journal.import_run(run, events, chunks)
    return journal, run_id
