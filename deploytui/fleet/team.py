"""Reading the team's record from its store: `history --team` from the index alone (one listing per day,
however many runs a year holds), and one run copied into a temporary journal, so `show`, `export` and
`verify` read it exactly as they read a local run.

Index keys: index/DAY/RUN~runbook~environment~release~operator~outcome (fields URL-quoted; outcome "open"
while the run is open); the key itself is the summary, so listing is enough."""

from __future__ import annotations

import json
import tempfile
import threading
import time
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


def _last_of(key: str) -> int:
    """The last number an object named FIRST-LAST.jsonl holds."""
    return int(key.rsplit("/", 1)[1].split(".")[0].split("-")[1])


class Mirror:
    """A run of the team store copied into a journal of this machine (a temporary file unless `into`), and
    kept up to date by `catch_up()`: `show`, `export` and `verify` read the copy as they read a local run,
    and `follow --team` follows it while a CI runner drives the run. Events keep the hashes they were
    shipped with, in the order of their sequence numbers."""

    def __init__(self, store: Store, run_id: str, into: Path | None = None):
        self.store = store
        self.run_id = find_run(store, run_id)
        self.path = into or Path(tempfile.mkdtemp(prefix="deploytui-team-")) / "journal.sqlite3"
        self.journal = Journal(self.path)
        self.events = self.chunks = 0  # what was copied: objects holding nothing after these are skipped
        self.catch_up()

    def _new(self, prefix: str, after: int) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for key in self.store.keys(prefix):
            if _last_of(key) > after:
                rows += [json.loads(line) for line in (self.store.get(key) or b"").decode().splitlines() if line]
        return sorted((r for r in rows if r[0] > after), key=lambda r: r[0])

    def catch_up(self) -> bool:
        """Copy what the store has that the copy has not; True when there was something."""
        base = f"runs/{self.run_id}/"
        run = json.loads(self.store.get(base + "run.json") or b"{}")
        events, chunks = self._new(base + "events/", self.events), self._new(base + "output/", self.chunks)
        self.journal.import_run(run, events, chunks)
        self.events = events[-1][0] if events else self.events
        self.chunks = chunks[-1][0] if chunks else self.chunks
        if run.get("finished") is None:  # the run is being driven elsewhere: followers see it alive
            self.journal.beat(self.run_id, 0, f"the team store {self.store.where}", time.time())
        else:
            self.journal.stop_beating(self.run_id)
        return bool(events or chunks)


    def keep_up(self, stop: threading.Event, every: float = 1.0) -> threading.Thread:
        """Catch up every `every` seconds on a thread until `stop` is set or the run has finished; a store
        that fails for a while is tried again."""

        def loop() -> None:
            while not stop.wait(every):
                try:
                    self.catch_up()
                except UserError:
                    continue
                if self.journal.run(self.run_id).finished is not None:
                    return

        thread = threading.Thread(target=loop, name=f"mirror-{self.run_id}", daemon=True)
        thread.start()
        return thread


def fetch_run(store: Store, run_id: str, into: Path | None = None) -> tuple[Journal, str]:
    """A run copied out of the store: its journal and its id."""
    mirror = Mirror(store, run_id, into)
    return mirror.journal, mirror.run_id
