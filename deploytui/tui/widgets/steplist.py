"""The step list: steps grouped by section, a glyph per state, the current step marked; on-demand
sections (rollback) listed apart, below a rule."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...events.state import DONE, FAILED, INTERRUPTED, NEEDS_YOU, PENDING, RUNNING, SKIPPED, WAITING
from ..view import RunView

GLYPHS = {
    PENDING: ("○", "dim"),
    RUNNING: ("▶", "bold cyan"),
    WAITING: ("◷", "bold yellow"),
    NEEDS_YOU: ("●", "bold magenta"),
    DONE: ("✓", "green"),
    FAILED: ("✗", "bold red"),
    SKIPPED: ("↷", "dim"),
    INTERRUPTED: ("↯", "bold red"),
}
WORDS = {PENDING: "pending", RUNNING: "running", WAITING: "waiting", NEEDS_YOU: "needs you", DONE: "done",
         FAILED: "failed", SKIPPED: "skipped", INTERRUPTED: "interrupted"}


class StepList(OptionList):
    """Option ids are step ids; section headings are disabled options. A click selects a step and never acts
    on it: acting takes a key (Enter, r, ...) or a press of the action's own button. j and k move like the
    arrows."""

    BINDINGS = [Binding("down,j", "screen.move(1)", "Down", show=False),
                Binding("up,k", "screen.move(-1)", "Up", show=False)]
    # a move redraws the two lines that change, not the whole list (and its scroll bar): see watch_highlighted
    highlighted: reactive[int | None] = reactive(None, repaint=False)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.shown: dict[str, tuple] = {}  # what each step's prompt shows: only a change is drawn again

    async def _on_click(self, event) -> None:
        event.prevent_default()  # OptionList would select (act on) the clicked option
        clicked = event.style.meta.get("option")
        if clicked is not None and not self._options[clicked].disabled:
            self.highlighted = clicked

    def load(self, view: RunView) -> None:
        book = view.book
        options: list[Option | None] = []
        regular = [s for s in book.main_steps()]
        on_demand = [s for s in book.steps if book.is_on_demand(s)]

        def group(steps, prefix: str = "") -> None:
            last = object()
            for step in steps:
                if step.section != last:
                    last = step.section
                    sec = book.section(step.section)
                    name = sec.title if sec else (step.section or "Steps")
                    options.append(Option(Text(prefix + name.upper(), style="bold", no_wrap=True, overflow="ellipsis"), id=f"§{step.section}",
                                          disabled=True))
                options.append(Option(self._prompt(view, step.id), id=step.id))

        group(regular)
        if on_demand:
            options.append(None)
            group(on_demand, "ON DEMAND · ")
        self.set_options(options)

    def _size_updated(self, size, virtual_size, container_size, layout: bool = True) -> bool:
        """Textual's ScrollView redraws its scroll bar at every layout of the screen, even when nothing about it
        changed; at every move in this list that cost more than the list itself. Only a change redraws here."""
        sizes = (size, virtual_size, container_size)
        if sizes == getattr(self, "_sizes", None):
            return False
        self._sizes = sizes
        return super()._size_updated(size, virtual_size, container_size, layout)

    def watch_highlighted(self, old: int | None, new: int | None) -> None:  # type: ignore[override]
        super().watch_highlighted(new)
        for index in (old, new):
            if index is not None and index in self._index_to_line:
                self.refresh_lines(self._index_to_line[index], self._heights.get(index, 1))

    def _prompt(self, view: RunView, step_id: str) -> Text:
        status, current, title = self._looks(view, step_id)
        glyph, style = GLYPHS[status]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("›" if current else " ", style="bold")
        text.append(glyph + " ", style=style)
        text.append(title, style="bold" if current else ("dim" if status in (SKIPPED,) else ""))
        self.shown[step_id] = (status, current, title)
        return text

    @staticmethod
    def _looks(view: RunView, step_id: str) -> tuple[str, bool, str]:
        s = view.state
        return s.status(step_id), s.current == step_id and not s.outcome, view.title(step_id)

    def show(self, view: RunView) -> None:
        """Draw again the steps whose glyph, mark or title changed."""
        for step in view.book.steps:
            if self.shown.get(step.id) != self._looks(view, step.id):
                self.replace_option_prompt(step.id, self._prompt(view, step.id))

    @property
    def selected_step(self) -> str | None:
        opt = self.highlighted_option
        return opt.id if opt is not None and opt.id and not opt.id.startswith("§") else None

    def select_step(self, step_id: str) -> None:
        try:
            self.highlighted = self.get_option_index(step_id)
        except Exception:
            pass
