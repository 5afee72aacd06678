"""Shipping a run to the team store: its row, its events (with their chain hashes) and its output, in batches,
retried, on a thread of its own. The local journal stays the source of truth: what was shipped is found again
in the store (object names carry the sequence numbers they hold), so a shipper that starts later, or
`deploytui sync`, carries on where the last one stopped, after an outage or a laptop that went offline.

Keys, per run: runs/RUN/run.json, runs/RUN/events/FIRST-LAST.jsonl (event rows: seq, ts, kind, step, actor,
data, hash), runs/RUN/output/FIRST-LAST.jsonl (chunks); and index/DAY/RUN~fields (fleet/team.py); per app of a fleet, apps/APP.json (its latest run's stage)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ..integrations.store import Store
from ..journal import Journal
from . import blocks
from .team import index_key

EVENTS_PER_OBJECT = 500
CHUNKS_PER_OBJECT = 64
BACKOFF = (0.5, 1, 2, 5, 10, 30)  # seconds between tries while the store is down


def _last(store: Store, prefix: str) -> int:
    """The highest number shipped under `prefix` (names are FIRST-LAST.jsonl), 0 when none."""
    last = 0
    for key in store.keys(prefix):
        try:
            last = max(last, int(key.rsplit("/", 1)[1].split(".")[0].split("-")[1]))
        except (IndexError, ValueError):
            continue
    return last


class Shipper:
    """Ships one run. `ship()` does one pass (raises when the store fails); `start()` runs passes on a thread
    whenever `poke()` says there is something new, retrying with back-off; `close()` tries to finish within a
    deadline and never longer."""

    def __init__(self, store: Store, journal: Journal, run_id: str, on_problem: Callable[[str], None] | None = None,
                 board: Callable[[], dict[str, Any]] | None = None):
        self.store, self.journal, self.run_id = store, journal, run_id
        self.on_problem = on_problem
        self.board = board  # a [fleet] run's line on the fleet board (apps/APP.json), written when it changes
        self._board_written: dict[str, Any] | None = None
        self.events = self.chunks = -1  # what the store holds, found on the first pass
        self.indexed = ""  # the index key written last
        self.problem = ""  # the last failure, "" when the last pass went through
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass = threading.Lock()

    # ---- one pass ---------------------------------------------------------------------------------------
    def ship(self) -> bool:
        """Ship what the store lacks; True when the store then holds the whole run as the journal has it."""
        with self._pass:
            row = self.journal.run(self.run_id)
            base = f"runs/{self.run_id}/"
            if self.events < 0:
                self.events = _last(self.store, base + "events/")
                self.chunks = _last(self.store, base + "output/")
            while True:
                rows = self.journal.event_rows(self.run_id, after=self.events, limit=EVENTS_PER_OBJECT)
                if not rows:
                    break
                self.store.put(f"{base}events/{rows[0][0]:09d}-{rows[-1][0]:09d}.jsonl",
                               "".join(json.dumps(list(r)) + "\n" for r in rows).encode())
                self.events = rows[-1][0]
            while True:
                chunks: list[list[Any]] = []
                for c in self.journal.chunks(self.run_id, after=self.chunks):
                    chunks.append([c.id, c.step, c.attempt, c.stream, c.ts, c.lines, c.data])
                    if len(chunks) >= CHUNKS_PER_OBJECT:
                        break
                if not chunks:
                    break
                self.store.put(f"{base}output/{chunks[0][0]:012d}-{chunks[-1][0]:012d}.jsonl",
                               "".join(json.dumps(c) + "\n" for c in chunks).encode())
                self.chunks = chunks[-1][0]
            key = index_key(row)
            if key != self.indexed:  # new, or its outcome came: the row and its index entry in their new form
                self.store.put(base + "run.json", json.dumps(row.__dict__, default=str).encode())
                self.store.put(key, b"")
                stale = self.indexed or (index_key(row, open_=True) if row.finished is not None else "")
                if stale and stale != key:
                    self.store.delete(stale)
                self.indexed = key
            entry = self.board() if self.board else None
            if entry and entry != self._board_written:
                blocks.put_board_entry(self.store, entry)
                self._board_written = entry
            done = row.finished is not None
            self.problem = ""
            return done

    # ---- in the background --------------------------------------------------------------------------------
    def start(self) -> Shipper:
        self._thread = threading.Thread(target=self._loop, name=f"ship-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def poke(self, *_: Any) -> None:
        """Something new is in the journal (a run listener: takes any arguments)."""
        self._wake.set()

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait(timeout=5.0)  # new events wake it; a quiet run is still shipped now and then
            self._wake.clear()
            if self._stop.is_set():
                return
            if self._try():
                failures = 0
                continue
            self._stop.wait(BACKOFF[min(failures, len(BACKOFF) - 1)])
            failures += 1
            self._wake.set()  # try again after the pause, whether or not there is something new

    def _try(self) -> bool:
        try:
            self.ship()
            return True
        except Exception as e:  # the store is down or refuses: the run goes on, the journal keeps everything
            first = not self.problem
            self.problem = str(e) or type(e).__name__
            if first and self.on_problem:
                self.on_problem(self.problem)
            return False

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the thread, then try once more to ship the rest within `timeout`; True when all is shipped
        (False: `deploytui sync` ships the rest later)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + (0 if self.problem else timeout)  # down already: one more try only
        while not self._try():
            if time.monotonic() + 0.5 >= deadline:
                return False
            time.sleep(0.5)  # a pause between tries while the store is down
        return True


def sync(store: Store, journal: Journal, run_ids: list[str]) -> list[tuple[str, str]]:
    """Ship each run's missing part now: [(run id, "" or the problem)]."""
    out = []
    for run_id in run_ids:
        shipper = Shipper(store, journal, run_id)
        try:
            shipper.ship()
            out.append((run_id, ""))
        except Exception as e:
            out.append((run_id, str(e) or type(e).__name__))
    return out
