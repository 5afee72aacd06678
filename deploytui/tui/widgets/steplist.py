"""The step list: steps grouped by section, a glyph per state, the current step marked; on-demand
sections (rollback) listed apart, below a rule."""

from __future__ import annotations

from rich.text import Text
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
    on it: acting takes a key (Enter, r, ...) or a press of the action's own button."""

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

    @staticmethod
    def _prompt(view: RunView, step_id: str) -> Text:
        s = view.state
        status = s.status(step_id)
        glyph, style = GLYPHS[status]
        current = s.current == step_id and not s.outcome
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("›" if current else " ", style="bold")
        text.append(glyph + " ", style=style)
        title = view.text(view.book.step(step_id).title)
        text.append(title, style="bold" if current else ("dim" if status in (SKIPPED,) else ""))
        return text

    def show(self, view: RunView) -> None:
        for step in view.book.steps:
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
