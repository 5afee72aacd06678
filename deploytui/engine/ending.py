"""The driver's process being told to end (SIGTERM, the terminal closing with SIGHUP, Ctrl+C): the run's
commands are ended and the journal says the driver stopped, instead of the process vanishing mid-write."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENDING = (signal.SIGTERM, signal.SIGHUP)


class Ended(Exception):
    """Raised in the main thread when an ending signal arrives (headless driving)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def reason(self) -> str:
        return reason_for(self.signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def reason_for(signum: int) -> str:
    return {signal.SIGHUP: "the terminal was closed (SIGHUP)", signal.SIGTERM: "deploytui was told to stop (SIGTERM)",
            signal.SIGINT: "Ctrl+C (SIGINT)"}.get(signal.Signals(signum), signal.Signals(signum).name)


class Ending:
    """Ending signals for a driver that has work to finish first: a signal that arrives while the run starts
    (or while it is being closed) is kept, not raised in the middle of it; `arm()` raises a kept one, and
    from then on a signal raises Ended at once. Only the first signal counts."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.armed = False

    def __call__(self, signum: int) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        if self.armed:
            self.armed = False
            raise Ended(signum)

    def arm(self) -> None:
        if self.signum is not None:
            raise Ended(self.signum)
        self.armed = True

    def disarm(self) -> None:
        self.armed = False


@contextmanager
def ending_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP call `on_signal(signum)` in the main thread."""
    previous = {}
    for sig in ENDING:
        try:
            previous[sig] = signal.signal(sig, lambda signum, _frame: on_signal(signum))
        except ValueError:  # not the main thread (a test driving the app): leave signals alone
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
