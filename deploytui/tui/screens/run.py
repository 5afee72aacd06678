"""The run screen: header, step list, step detail, footer. It shows a RunView; the App turns its key
bindings into intents (a read-only follower can reuse it with `read_only=True` and no intents)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer

from ..view import RunView
from ..widgets.detail import StepDetail
from ..widgets.header import RunHeader
from ..widgets.steplist import StepList

INTENT_BINDINGS = [
    Binding("r", "app.run_step", "Run"),
    Binding("R", "app.rerun", "Re-run"),
    Binding("s", "app.skip", "Skip"),
    Binding("d", "app.mark('done')", "Done"),
    Binding("f", "app.mark('failed')", "Failed"),
    Binding("o", "app.override", "Override"),
    Binding("b", "app.rollback", "Rollback"),
    Binding("n", "app.note", "Note"),
    Binding("c", "app.copy_command", "Copy cmd"),
    Binding("v", "app.view_command", "View cmd", show=False),
    Binding("e", "app.end_pane", "End pane", show=False),
    Binding("O", "app.full_output", "Full output", show=False),
    *[Binding(str(i), f"app.tick({i - 1})", f"Tick {i}", show=False) for i in range(1, 10)],
]


class RunScreen(Screen):
    BINDINGS = [
        Binding("t", "app.toggle_theme", "Theme", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, view: RunView, **kw):
        super().__init__(**kw)
        self.view = view
        self.followed: str | None = view.state.current  # the detail follows the current step

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            yield StepList(id="steps")
            yield StepDetail(self.view, self.view.state.current or self.view.book.steps[0].id, id="detail")
        yield Footer()

    def on_mount(self) -> None:
        steps = self.query_one(StepList)
        steps.load(self.view)
        steps.select_step(self.followed or self.view.book.steps[0].id)
        steps.focus()
        self.query_one(RunHeader).show(self.view)

    @property
    def selected(self) -> str | None:
        return self.query_one(StepList).selected_step or self.view.state.current

    def refresh_view(self) -> None:
        """After an event: glyphs, header, and the detail (following the current step when the operator
        was looking at the previous current step)."""
        steps = self.query_one(StepList)
        steps.show(self.view)
        self.query_one(RunHeader).show(self.view)
        current = self.view.state.current
        if current and current != self.followed:
            if steps.selected_step in (self.followed, None):
                steps.select_step(current)
            self.followed = current
        self.query_one(StepDetail).show(steps.selected_step)

    def on_option_list_option_highlighted(self, event: StepList.OptionHighlighted) -> None:
        if isinstance(event.option_list, StepList) and event.option.id and not event.option.id.startswith("§"):
            self.query_one(StepDetail).show(event.option.id)

    def tick(self) -> None:
        self.query_one(RunHeader).show(self.view)
        self.query_one(StepDetail).tick()

    def pull(self) -> int:
        try:
            area = self.query_one(StepDetail).output
        except NoMatches:  # the screen is still composing, or already closing
            return 0
        return area.pull(self.view.store) if area is not None else 0


class DriveScreen(RunScreen):
    """The run screen with the operator's intents bound."""

    BINDINGS = INTENT_BINDINGS
