"""`?` and F1: every key of the screen it was opened from, grouped, with what each does now on the selected step
(the engine's answer: allowed, or why not). `a`: the run's activity, every event in words."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from ...events.describe import Said
from ..keys import APP, MOVE, OUTPUT, RUN, STEP
from ..widgets.bars import TONES
from .dialogs import Dialog

if TYPE_CHECKING:
    from .run import RunScreen

GROUPS = [STEP, MOVE, OUTPUT, RUN, APP]


class HelpScreen(Dialog):
    BINDINGS = [Binding("escape,q,question_mark,f1", "cancel", "Close")]

    def __init__(self, screen: RunScreen):
        super().__init__()
        self.of = screen

    def rows(self) -> dict[str, list[tuple[str, Text]]]:
        """group -> (key, what it does: and for an intent, "now" or why not)."""
        screen = self.of
        allowed = screen.allowed()
        out: dict[str, list[tuple[str, Text]]] = {}
        for group in GROUPS:
            for key in screen.KEYS:
                if key.group != group or (key.action.startswith("tick(") and key.display != "1-9"):
                    continue
                label = Text(key.label)
                if key.intent:
                    why = allowed.why_not(key.intent)
                    label.append(f"  — {why}" if why else "  — now", style="dim" if why else "green")
                out.setdefault(group, []).append((key.display, label))
        return out

    def compose(self) -> ComposeResult:
        screen = self.of
        sid = screen.selected
        with Vertical(classes="dialog help"):
            title = "Keys" + (f" · on “{screen.view.title(sid)}” now" if sid else "")
            yield Label(title, classes="dialog-title")
            with VerticalScroll(classes="help-body"):
                for group, rows in self.rows().items():
                    table = Table.grid(padding=(0, 2))
                    table.add_column(min_width=8, style="bold")
                    table.add_column()
                    for key, label in rows:
                        table.add_row(key, label)
                    yield Label(group, classes="help-group")
                    yield Static(table)
            yield Label("Every action is also in the command palette (ctrl+p). Esc closes.", classes="hint")

    def on_mount(self) -> None:
        self._fit(self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.height)

    def _fit(self, height: int) -> None:
        # the keys scroll inside the dialog, whose title, hint and border stay on screen at any height: the
        # dialog may take 95% of the screen (app.tcss), less its border, padding, title and hint (8 rows).
        # CSS cannot say "the dialog's room less its other rows" for a dialog that sizes itself to its content.
        self.query_one(".help-body").styles.max_height = max(3, int(height * 0.95) - 8)


class ActivityScreen(Dialog):
    """The whole activity feed, newest last."""

    BINDINGS = [Binding("escape,q,a", "cancel", "Close")]

    def __init__(self, lines: list[tuple[float, Said]]):
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        text = Text(no_wrap=False)
        for ts, said in self.lines:
            text.append(datetime.fromtimestamp(ts).strftime("%H:%M:%S "), style="dim")
            text.append(said.text + "\n", style=TONES.get(said.tone, ""))
        with Vertical(classes="dialog diff"):
            yield Label(f"Activity ({len(self.lines)} events)", classes="dialog-title")
            with VerticalScroll(classes="diff-body", id="activity-body"):
                yield Static(text, markup=False)
            yield Label("Esc closes.", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#activity-body").scroll_end(animate=False)
