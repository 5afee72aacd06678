"""The step list: steps grouped by section, a glyph per state, the current step marked; on-demand
sections (rollback) listed apart, below a rule."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...events.state import (
    ABANDONED,
    DONE,
    FAILED,
    INTERRUPTED,
    LEFT,
    NEEDS_YOU,
    PENDING,
    RUNNING,
    SKIPPED,
    WAITING,
)
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
    ABANDONED: ("–", "dim"),
    LEFT: ("↪", "yellow"),
}
WORDS = {PENDING: "pending", RUNNING: "running", WAITING: "waiting", NEEDS_YOU: "needs you", DONE: "done",
         FAILED: "failed", SKIPPED: "skipped", INTERRUPTED: "interrupted", ABANDONED: "not on this run's path",
         LEFT: "left unfinished"}


def _in_repeated_section(book, step) -> bool:
    sec = book.section(step.section)
    return bool(sec and sec.each)


def _listing(view: RunView) -> tuple:
    """What decides the rows: the items of each repeated or recurring step."""
    return tuple((k, tuple(v)) for k, v in view.state.children.items())


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
        book, state = view.book, view.state
        self._listed = _listing(view)
        self.shown.clear()
        options: list[Option | None] = []
        regular = [s for s in book.main_steps()]
        on_demand = [s for s in book.steps if book.is_on_demand(s)]

        def group(steps, prefix: str = "") -> None:
            last = object()
            for step in steps:
                if step.section != last:
                    last = step.section
                    sec = book.section(step.section)
                    name = view.text(sec.title) if sec else (step.section or "Steps")
                    options.append(Option(Text(prefix + name.upper(), style="bold", no_wrap=True, overflow="ellipsis"), id=f"§{step.section}",
                                          disabled=True))
                    if sec is not None and sec.each and step.id in state.children:
                        self._items_of_section(view, sec.id, options)
                if step.id in state.children and not _in_repeated_section(book, step):
                    options.append(Option(self._prompt(view, step.id), id=step.id))  # the repeated step,
                    options.extend(Option(self._prompt(view, k), id=k) for k in state.children[step.id])  # its items
                elif step.id not in state.children:
                    options.append(Option(self._prompt(view, step.id), id=step.id))

        group(regular)
        if on_demand:
            options.append(None)
            group(on_demand, "ON DEMAND · ")
        self.set_options(options)

    def _items_of_section(self, view: RunView, section: str, options: list) -> None:
        """A repeated section's steps, item by item, each item under its own line."""
        state = view.state
        bases = [s.id for s in view.book.steps_of_section(section)]
        kids = [k for b in bases for k in state.children.get(b, [])]
        labels = list(dict.fromkeys(state.items[k].label for k in kids))
        for label in labels:
            some = next(k for k in kids if state.items[k].label == label)
            value = next(iter(state.items[some].bindings.values()), label)
            options.append(Option(Text(f"  {value}", style="italic", no_wrap=True, overflow="ellipsis"),
                                  id=f"¶{section}:{label}", disabled=True))
            options.extend(Option(self._prompt(view, k), id=k) for k in kids if state.items[k].label == label)

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
        s = view.state
        status, current, title = looks = self._looks(view, step_id)
        glyph, style = GLYPHS[status]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("›" if current else " ", style="bold")
        if step_id in s.items and s.items[step_id].group == s.items[step_id].of:
            text.append("  ")  # an item, under the step it repeats
        text.append(glyph + " ", style=style)
        text.append(title, style="bold" if current else ("dim" if status in (SKIPPED, ABANDONED) else ""))
        self.shown[step_id] = looks
        return text

    @staticmethod
    def _looks(view: RunView, step_id: str) -> tuple[str, bool, str]:
        """What a step's line shows: its status, whether it may act now, its title (a repeated or recurring
        step says how it repeats)."""
        s = view.state
        title = view.title(step_id)
        step = view.book.step(step_id)
        if step_id not in s.items and (step.each or step.every is not None):
            title += f"  ({'each ' + step.each.split(' in ', 1)[0] if step.each else 'every ' + str(step.every)})"
        return s.status(step_id), step_id in s.active and not s.outcome, title

    def show(self, view: RunView) -> None:
        if _listing(view) != getattr(self, "_listed", None):  # items were listed, or listed anew
            selected = self.selected_step
            self.load(view)
            if selected:
                self.select_step(selected)
            return
        for step_id in self._ids(view):  # only the steps whose glyph, mark or title changed are drawn again
            if self.shown.get(step_id) != self._looks(view, step_id):
                self.replace_option_prompt(step_id, self._prompt(view, step_id))

    @staticmethod
    def _ids(view: RunView) -> list[str]:
        s = view.state
        return [sid for st in view.book.steps for sid in ([st.id] + s.children.get(st.id, []))
                if sid not in s.children or not _in_repeated_section(view.book, st)]

    @property
    def selected_step(self) -> str | None:
        opt = self.highlighted_option
        return opt.id if opt is not None and opt.id and not opt.id.startswith(("§", "¶")) else None

    def select_step(self, step_id: str) -> None:
        try:
            self.highlighted = self.get_option_index(step_id)
        except Exception:
            return
        self.scroll_to_highlight()  # also when it was highlighted already, but scrolled out of sight (g)

    def _on_resize(self) -> None:
        super()._on_resize()
        self.call_after_refresh(self.scroll_to_highlight)  # a smaller terminal keeps the selected step in sight
