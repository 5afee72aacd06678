"""Recent output of each step's streams, bounded, shared between engine threads and the screen.

Engine threads call `add` with batches of lines (already committed to the journal, redacted). The screen
asks, 10-20 times a second, for what it has not shown yet (`since`). Only the last `keep` lines of each
stream are held; the full output stays in the journal. No Textual here: the follower reuses it.

Lines are held raw (redacted, as journaled): only the few on screen are made displayable (`for_display`:
colours kept for Rich's ANSI decoder, everything else a terminal would do applied by the one cleaner), when
they are drawn. A stream of a million coloured lines costs the store a split of its last lines per chunk."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..text.clean import clean_line, is_plain

__all__ = ["KEEP_LINES", "OutputStore", "Stream", "Table", "for_display"]

KEEP_LINES = 5000
COLOUR = re.compile(r"\x1b\[[0-9;:]*m")  # SGR: what Rich's decoder turns into styles


def last_lines(text: str, n: int) -> list[str]:
    """The last `n` lines of `text` (a last line without its newline counts), without splitting all of it."""
    if not text or n <= 0:
        return []
    body = text[:-1] if text.endswith("\n") else text
    return body.rsplit("\n", n)[-n:]  # from the right, in C: a flush can be 65,000 lines


def for_display(line: str) -> str:
    """A raw line as the screen holds it: as it is when it is plain or only coloured (Rich decodes the
    colours when it is drawn), else cleaned (`text.clean.clean_line`: the colours go with the rest)."""
    if is_plain(line) or ("\x1b" in line and is_plain(COLOUR.sub("", line))):
        return line
    return clean_line(line)


@dataclass
class Stream:
    ring: deque = field(default_factory=lambda: deque(maxlen=KEEP_LINES))
    total: int = 0  # lines ever added to this stream (this attempt)
    generation: int = 0  # bumps when the stream starts over (a new attempt)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    bad: set[int]
    version: int = 0


class OutputStore:
    """Per (step, stream) ring buffers. `loader(step, stream)` fills a stream the store has not seen
    (a resumed run, a follower) from the journal: it returns (last lines, total lines)."""

    def __init__(self, keep: int = KEEP_LINES,
                 loader: Callable[[str, str], tuple[list[str], int]] | None = None):
        self.keep = keep
        self.loader = loader
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, str], Stream] = {}
        self._attempts: dict[str, int] = {}
        self._tables: dict[tuple[str, int], Table] = {}
        self._generation = 0
        self.lines_added = 0
        self.changes = 0  # bumped by every add: a pane with nothing new skips its flush

    def _new(self) -> Stream:
        self._generation += 1
        return Stream(ring=deque(maxlen=self.keep), generation=self._generation)

    def add(self, step: str, attempt: int, stream: str, text: str, earlier: int = 0) -> None:
        """`earlier`: lines of the stream before `text` that the store never got (a follower who joined late
        reads only the last ones): counted in its total, so the screen can say they are not shown."""
        # only the lines the ring keeps are split and cleaned (a chunk of `seq` is 65,000 lines)
        count = text.count("\n") + (0 if text.endswith("\n") or not text else 1) + earlier
        lines = last_lines(text, self.keep)
        with self._lock:
            if attempt > self._attempts.get(step, 0):
                self._attempts[step] = attempt
                for key in [k for k in self._streams if k[0] == step]:
                    self._streams[key] = self._new()
            elif attempt < self._attempts.get(step, 0):
                return  # a late line from an attempt already replaced
            s = self._streams.get((step, stream))
            if s is None:
                s = self._streams[(step, stream)] = self._new()
            s.ring.extend(lines)
            s.total += count
            self.lines_added += count
            self.changes += 1

    def add_table(self, step: str, pane: int, columns: list[str], rows: list[list[str]], bad: set[int]) -> None:
        with self._lock:
            old = self._tables.get((step, pane))
            self._tables[(step, pane)] = Table(columns, rows, set(bad), (old.version + 1) if old else 1)
            self.changes += 1

    def table(self, step: str, pane: int) -> Table | None:
        with self._lock:
            return self._tables.get((step, pane))

    def _get(self, step: str, stream: str) -> Stream:
        with self._lock:
            s = self._streams.get((step, stream))
        if s is not None or self.loader is None:
            return s or Stream(generation=0)
        lines, total = self.loader(step, stream)
        with self._lock:
            s = self._streams.get((step, stream))
            if s is None:
                s = self._streams[(step, stream)] = self._new()
                s.ring.extend(lines[-self.keep:])
                s.total = total
        return s

    def since(self, step: str, stream: str, generation: int, shown: int) -> tuple[int, int, list[str], bool]:
        """(generation, total, lines to add, start over) for a view that showed `shown` lines of
        `generation`. When the stream started over it gets the whole ring and `start over` is true. When
        the view fell further behind than the ring holds it gets the whole ring to append: a view with a
        bounded log then keeps its size, and a fast stream does not re-lay out the screen at every flush."""
        s = self._get(step, stream)
        with self._lock:
            new = s.total - shown
            if s.generation != generation or new < 0:
                return s.generation, s.total, list(s.ring), True
            if new > len(s.ring):
                return s.generation, s.total, list(s.ring), False
            if new == 0:
                return s.generation, s.total, [], False
            ring = s.ring
            return s.generation, s.total, [ring[i] for i in range(len(ring) - new, len(ring))], False

    def total(self, step: str, stream: str) -> int:
        with self._lock:
            s = self._streams.get((step, stream))
            return s.total if s else 0

    def forget(self, step: str) -> None:
        with self._lock:
            for key in [k for k in self._streams if k[0] == step]:
                del self._streams[key]
