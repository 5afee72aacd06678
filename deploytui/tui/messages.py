"""Messages: from engine threads to the screen (posted with `post_message`, which is thread-safe), and from
widgets to the screen that acts on them."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..events.kinds import Event


@dataclass
class EngineEvent(Message):
    """An event the engine has committed to the journal and folded into the state."""

    event: Event


@dataclass
class Intent(Message):
    """A person asked for one of the engine's intents on a step (planner.STEP_INTENTS): a button, a check, an
    option. `arg` is the check or option index; `value` whether a check is now ticked."""

    intent: str
    step: str
    arg: int | None = None
    value: bool = True
