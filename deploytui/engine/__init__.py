"""One run of a runbook: events, state as a fold over them, step execution. No Textual here."""

from .clock import Clock, FakeClock
from .events import Event
from .run import Run
from .state import RunState, StepState, fold

__all__ = ["Clock", "Event", "FakeClock", "Run", "RunState", "StepState", "fold"]
