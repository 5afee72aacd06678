"""Messages from engine threads to the screen (posted with `post_message`, which is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..events.kinds import Event


@dataclass
class EngineEvent(Message):
    """An event the engine has committed to the journal and folded into the state."""

    event: Event

