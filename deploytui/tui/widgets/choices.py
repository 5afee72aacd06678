"""What a person answers on a step: its checks (one line each) and its decision's options (wrapped, all of
them reachable at 80x24). Both tell the screen with an `Intent` message; neither changes the run."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...engine.planner import DECIDE, TICK
from ..messages import Intent


def fit_words(text: str, width: int) -> str:
    """`text` in `width` cells: whole when it fits, else cut after the last whole word that fits, with an
    ellipsis (a word is cut only when not even the first one fits)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    room = width - 1
    cut = text[:room + 1]
    space = cut.rfind(" ")
    if space > 0:
        return text[:space].rstrip(" ,;:-") + "…"
    while cell_len(cut) > room:
        cut = cut[:-1]
    return cut + "…"


class CheckList(Widget, can_focus=True):
    """A step's checks, one line each: ☐/☑, its number and its label (cut at a word, with an ellipsis, when it
    does not fit). Keys 1-9 tick from anywhere on the screen; here ↑/↓ (or j/k) and space tick any of them."""

    DEFAULT_CSS = """
    CheckList { height: auto; width: 1fr; }
    CheckList:focus { background-tint: $foreground 5%; }
    """
    BINDINGS = [Binding("up,k", "move(-1)", "Up", show=False), Binding("down,j", "move(1)", "Down", show=False),
                Binding("space,enter", "tick_here", "Tick", show=False)]
    cursor: reactive[int] = reactive(0)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.step = ""
        self.labels: list[str] = []
        self.values: list[bool] = []
        self.enabled = True

    def set_checks(self, step: str, labels: list[str], values: list[bool], enabled: bool) -> None:
        grew = len(labels) != len(self.labels)
        if step != self.step:
            self.cursor = 0
        self.step, self.labels, self.enabled = step, labels, enabled
        self.values = [bool(values[i]) if i < len(values) else False for i in range(len(labels))]
        self.display = bool(labels)
        self.can_focus = bool(labels) and enabled
        self.refresh(layout=grew)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.labels)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self.labels):
            return Strip.blank(width, self.rich_style)
        box = "☑" if self.values[y] else "☐"
        number = f"{y + 1}." if y < 9 else "  "
        label = fit_words(self.labels[y], max(1, width - 6))
        text = Text(no_wrap=True, end="")
        text.append(f"{box} ", style="bold green" if self.values[y] else ("dim" if not self.enabled else "bold"))
        text.append(f"{number:3}", style="dim")
        text.append(label, style="dim" if not self.enabled else "")
        base = self.rich_style
        if self.has_focus and y == self.cursor:
            base = base + Style(reverse=True)
        text.stylize_before(base)
        return Strip(text.render(self.app.console), text.cell_len).extend_cell_length(width, base)

    def watch_cursor(self) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, by: int) -> None:
        if self.labels:
            self.cursor = (self.cursor + by) % len(self.labels)
            self.scroll_visible()

    def action_tick_here(self) -> None:
        self.toggle(self.cursor)

    def toggle(self, index: int) -> None:
        if 0 <= index < len(self.labels) and self.enabled:
            self.post_message(Intent(TICK, self.step, index, not self.values[index]))

    def on_click(self, event: events.Click) -> None:
        self.cursor = event.y
        self.toggle(event.y)


class DecisionList(OptionList):
    """The options of a step's decision, one below the other, wrapped: Enter (or a click) on one decides."""

    DEFAULT_CSS = "DecisionList { height: auto; max-height: 12; border: none; padding: 0; }"
    BINDINGS = [Binding("j", "cursor_down", show=False), Binding("k", "cursor_up", show=False)]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.step = ""
        self.labels: list[str] = []
        self.chosen: int | None = None

    def set_options_of(self, step: str, labels: list[str], chosen: int | None, enabled: bool) -> None:
        if (step, labels, chosen) != (self.step, self.labels, self.chosen):
            self.step, self.labels, self.chosen = step, labels, chosen
            self.set_options(Option(Text(f"{'✓' if i == chosen else f'{i + 1}.'} {label}",
                                         style="bold" if i == chosen else ""), id=str(i))
                             for i, label in enumerate(labels))
        self.display = bool(labels)
        if self.disabled == enabled:  # only a change: it restyles the widget
            self.disabled = not enabled

    async def _on_click(self, event: events.Click) -> None:
        """A click on an option decides it (found by the line clicked: the cell's meta is not always there)."""
        event.prevent_default()
        line = event.y + int(self.scroll_offset.y)
        if 0 <= line < len(self._lines) and not self.disabled:
            self.highlighted = self._lines[line][0]
            self.action_select()

    def on_key(self, event: events.Key) -> None:
        """1-9 choose an option directly while the options have the focus."""
        if event.character and event.character.isdigit() and 0 < int(event.character) <= len(self.labels):
            event.stop()
            self.post_message(Intent(DECIDE, self.step, int(event.character) - 1))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(Intent(DECIDE, self.step, int(event.option.id)))
