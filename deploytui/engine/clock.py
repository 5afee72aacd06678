"""Time for the engine: wall-clock epoch seconds, injectable so countdowns are testable."""

from __future__ import annotations

import threading
import time


class Clock:
    def now(self) -> float:
        return time.time()


class FrozenClock(Clock):
    """Time standing still: a follower's view of a run nobody drives any more."""

    def __init__(self, at: float):
        self._t = at
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t


class FakeClock(FrozenClock):
    """A clock tests move by hand: `clock.advance(900)` and the 15-minute gate is open."""

    def __init__(self, start: float = 1_800_000_000.0):
        super().__init__(start)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds
