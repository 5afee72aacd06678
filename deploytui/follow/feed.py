"""Following a run from its journal: a read-only feed of new events and output chunks.

A follower opens the journal read-only (SQLite `mode=ro`), folds the run's events with the same
`apply` the driver uses, then polls for what was committed since: events after the last `seq` seen and
output chunks after the last chunk id seen. The driver commits every event before it shows it, so a
follower polling every 0.2 s sees a step start, its output and a tick well within a second. Nothing
here writes. No Textual here: `deploytui follow` and `deploytui serve` are thin screens over it."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..events import kinds as ev
from ..events.kinds import Event
from ..events.state import RunState, apply, fold
from ..journal.store import Chunk, Journal, RunRow
from ..runbook.loader import parse
from ..runbook.model import Runbook

POLL_INTERVAL = 0.2  # seconds between polls: events reach a follower within ~0.2 s of their commit
MAX_CHUNKS = 512  # chunks fetched per poll, so a burst of output cannot stall a screen


@dataclass
class Update:
    """What was committed since the last poll, in commit order within each kind."""

    events: list[Event] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    last_chunk: int = 0  # the chunk cursor after this update (chunks with id <= it were delivered)

    def __bool__(self) -> bool:
        return bool(self.events or self.chunks)

    @property
    def finished(self) -> bool:
        return any(e.kind == ev.RUN_FINISHED for e in self.events)


def open_readonly(path: str | Path | None) -> Journal:
    return Journal(path, readonly=True)


SILENCE = 5.0  # seconds without a heartbeat before a follower says the driver has stopped


def driver_alive(journal: Journal, run_id: str, now: float | None = None) -> bool:
    """Whether a deploytui is driving `run_id` now: its heartbeat is fresh (see Run.beat)."""
    driver = journal.driver(run_id)
    return driver is not None and (now or time.time()) - driver["beat"] <= SILENCE


def pick_run(journal: Journal, run_id: str | None) -> RunRow:
    """RUN_ID (a prefix is enough), or the most recently started run whose driver is alive. An open run whose
    driver died is never picked by itself: the follower would show a run that is not moving as running."""
    if run_id:
        return journal.run(run_id)
    active = journal.active_runs()
    live = [r for r in active if driver_alive(journal, r.id)]
    if live:
        return live[0]
    if active:
        r = active[0]
        raise UserError(f"no deploytui is driving a run now; the newest open run, {r.id} ({r.runbook_id}), has "
                        f"no live driver: follow it with `deploytui follow {r.id}`", 2)
    raise UserError(f"{journal.path}: no active run to follow: give a RUN id (see `deploytui history`)", 2)


def commands_of(e: Event, commands: dict[str, str]) -> None:
    """Keep the command (or action) each step's latest attempt ran, as the driver recorded it."""
    if e.kind == ev.STEP_STARTED and e.step:
        if e.data.get("command"):
            commands[e.step] = e.data["command"]
        elif e.data.get("action"):
            commands[e.step] = f"{e.data['action']} {json.dumps(e.data.get('with', {}), default=str)}"


class Feed:
    """What every follower's feed shares: the state folded from what `fetch` returns, and the commands each
    step ran. Subclasses say where updates come from (the journal: Follow; the driver's socket: SocketFollow)."""

    state: RunState
    commands: dict[str, str]

    def fetch(self, chunks: bool = True) -> Update:
        raise NotImplementedError

    last_event: Event | None = None  # what happened last (a pair whose driver stopped is told it)

    def apply(self, update: Update) -> RunState:
        for e in update.events:
            apply(self.state, e)
            commands_of(e, self.commands)
            self.last_event = e
        return self.state

    def last_alive(self) -> float | None:
        """When the driver last showed it was alive (epoch seconds), if known: a stopped run's clock stops there."""
        return None

    def poll(self) -> Update:
        update = self.fetch()
        self.apply(update)
        return update

    def updates(self, interval: float = POLL_INTERVAL, stop: threading.Event | None = None,
                timeout: float | None = None) -> Iterator[Update]:
        """Every follower's one loop: yield each non-empty update as it comes, FETCHED BUT NOT APPLIED (the
        reader applies it, a screen on its own thread with the output it goes with), until the run finishes,
        `stop` is set or `timeout` seconds pass. Each fetch starts only after the last one returned."""
        stop = stop or threading.Event()
        end = None if timeout is None else time.monotonic() + timeout
        while not stop.is_set():
            update = self.fetch()
            if update:
                yield update
                if update.finished:
                    return
            elif self.state.outcome:  # finished before the loop began
                return
            if end is not None and time.monotonic() >= end:
                return
            if len(update.chunks) < MAX_CHUNKS:  # a full page means more is waiting: read it now
                stop.wait(interval)


class Follow(Feed):
    """One run as a follower sees it. `state` is folded from the journal; `fetch` returns what was
    committed since the last fetch (without applying it), `apply` folds an update in, `poll` does both,
    `updates` is the loop.

    Output history is not fetched up front: a screen asks `tail(step, stream, upto=...)` for the lines of
    a stream up to the chunk cursor it has applied, so lines are neither lost nor shown twice."""

    def __init__(self, journal: Journal, run_id: str | None = None):
        self.journal = journal
        self.row = pick_run(journal, run_id)
        self.run_id = self.row.id
        try:
            self.book: Runbook = parse(self.row.runbook_text, self.row.path or "<journal>")
        except UserError as e:
            raise UserError(f"run {self.run_id}: its stored runbook cannot be read: {str(e).splitlines()[0]}") \
                from None
        self.commands: dict[str, str] = {}  # step -> the command (or action) its latest attempt ran
        self.state: RunState = fold(self.book, [], self.run_id)
        self._seq = 0
        # history before this point is read on demand through `tail`; the feed carries what comes after
        self._chunk = self.journal.last_chunk(self.run_id)
        self.apply(self.fetch(chunks=False))

    # ---- reading ----------------------------------------------------------------------------
    @property
    def chunk_cursor(self) -> int:
        return self._chunk

    def fetch(self, chunks: bool = True) -> Update:
        """Events and chunks committed since the last fetch. Never blocks for long, never writes."""
        events = self.journal.events(self.run_id, after=self._seq)
        if events:
            self._seq = events[-1].seq
        got: list[Chunk] = []
        if chunks:
            got = list(itertools.islice(self.journal.chunks(self.run_id, after=self._chunk), MAX_CHUNKS))
            if got:
                self._chunk = got[-1].id
        return Update(events, got, self._chunk)

    @property
    def stopped(self) -> bool:
        """The run is open but no deploytui drives it (killed, or quit without finishing it)."""
        return not self.state.outcome and not driver_alive(self.journal, self.run_id)

    def last_alive(self) -> float | None:
        driver = self.journal.driver(self.run_id)
        return driver["beat"] if driver else None

    def tail_text(self, step: str, stream: str, attempt: int, upto: int, lines: int = 2000) -> str:
        """The raw text of the newest chunks of a stream of one attempt with id <= `upto`."""
        return self.journal.tail_text(self.run_id, step, attempt, lines, stream, upto)

    def history(self, step: str, stream: str, attempt: int, upto: int, lines: int = 2000) -> tuple[str, int]:
        """`tail_text`, and how many lines the stream holds up to `upto` in all (the screen says how many
        earlier lines it does not show)."""
        return (self.tail_text(step, stream, attempt, upto, lines),
                self.journal.count_lines(self.run_id, step, attempt, stream, upto))

    def tail(self, step: str, stream: str, attempt: int, upto: int, lines: int = 2000) -> tuple[list[str], int]:
        """The last `lines` lines of a stream of one attempt, from chunks with id <= `upto`, and how many
        lines those chunks hold in all."""
        return self.journal.tail(self.run_id, step, attempt, lines, stream, upto)

    def close(self) -> None:
        self.journal.close()



def follow(path: str | Path | None, run_id: str | None = None) -> Follow:
    """Open the journal read-only and follow RUN_ID (default: the most recent active run)."""
    return Follow(open_readonly(path), run_id)
