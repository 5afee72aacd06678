"""The two bottom lines of the run screen: the activity line (what happened last, so a step that ran by itself
does not pass unseen) and the key bar (the keys that do something now; the least needed drop first when
the terminal is narrow, never help and quit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from ...events.describe import BAD, OK, WARN, Said

TONES = {OK: "green", BAD: "bold red", WARN: "yellow"}


@dataclass(frozen=True)
class Hint:
    key: str  # as shown: "r", "1-3", "⏎"
    label: str
    rank: int  # lower stays longer when the bar is too narrow


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { height: 1; width: 1fr; background: $panel; color: $text-muted; }
    """

    def __init__(self, **kw):
        super().__init__("", markup=False, **kw)
        self.hints: tuple[Hint, ...] = ()

    def show(self, hints: Sequence[Hint]) -> None:
        if tuple(hints) != self.hints:
            self.hints = tuple(hints)
            self._draw()

    def on_resize(self) -> None:
        self._draw()

    def fitting(self, width: int) -> list[Hint]:
        """The hints that fit `width`, in their order, the highest ranks dropped first."""
        hints = list(self.hints)
        while hints and sum(cell_len(f" {h.key} {h.label} ") for h in hints) > width:
            hints.remove(max(hints, key=lambda h: h.rank))
        return hints

    def _draw(self) -> None:
        text = Text(no_wrap=True, overflow="crop", end="")
        for h in self.fitting(self.size.width or 80):
            text.append(f" {h.key}", style="bold reverse")
            text.append(f" {h.label} ")
        self.update(text)


class ActivityLine(Static):
    """The newest thing the run did, with its time: `a` opens the whole feed."""

    DEFAULT_CSS = """
    ActivityLine { height: 1; width: 1fr; padding: 0 1; text-wrap: nowrap;
                   text-overflow: ellipsis; background: $boost; }
    """

    def __init__(self, **kw):
        super().__init__("", markup=False, **kw)

    def said(self, ts: float, said: Said) -> None:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(datetime.fromtimestamp(ts).strftime("%H:%M:%S "), style="dim")
        text.append(said.text, style=TONES.get(said.tone, ""))
        text.append("  (a: all activity)", style="dim")
        self.update(text)
