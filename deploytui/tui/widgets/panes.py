"""Output panes: the step's command output and its live panes (tail, watch, native tables).

Lines come from the OutputStore and are written with one `write_lines` per flush (the app flushes
10-20 times a second), `max_lines` bounds what a Log holds, and the view follows the tail unless the
operator scrolled up. Panes sit side by side when the area is wide enough, as tabs when not."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Log, TabbedContent, TabPane

from ..output import OutputStore

MAX_LINES = 5000
WIDE_ENOUGH = 120  # columns of the output area at which panes go side by side


class OutputLog(Log):
    DEFAULT_CSS = "OutputLog { height: 1fr; }"

    def __init__(self, step: str, stream: str, **kw):
        super().__init__(max_lines=MAX_LINES, highlight=False, auto_scroll=True, **kw)
        self.step, self.stream = step, stream
        self.generation, self.shown = -1, 0

    def pull(self, store: OutputStore) -> int:
        """Write what arrived since the last pull (one write_lines); returns the number of lines."""
        gen, total, lines, restart = store.since(self.step, self.stream, self.generation, self.shown)
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        if restart:
            self.clear()
            follow = True
        self.generation, self.shown = gen, total
        if lines:
            self.write_lines(lines, scroll_end=follow)
        return len(lines)


class LivePane(Vertical):
    """One of a step's `panes`: a log, or a native table when its action sends one."""

    DEFAULT_CSS = """
    LivePane { height: 1fr; }
    LivePane > .pane-title { width: 1fr; background: $boost; text-style: bold; }
    LivePane DataTable { height: 1fr; display: none; }
    LivePane.table DataTable { display: block; }
    LivePane.table OutputLog { display: none; }
    """

    def __init__(self, step: str, index: int, title: str, show_title: bool = True, **kw):
        super().__init__(**kw)
        self.step, self.index, self.title, self.show_title = step, index, title, show_title
        self.table_version = 0

    def compose(self) -> ComposeResult:
        if self.show_title:
            yield Label(self.title, classes="pane-title")
        yield OutputLog(self.step, f"pane{self.index}")
        yield DataTable(zebra_stripes=True, cursor_type="row")

    def pull(self, store: OutputStore) -> int:
        table = store.table(self.step, self.index)
        if table is not None and table.version != self.table_version:
            self.table_version = table.version
            self.add_class("table")
            dt = self.query_one(DataTable)
            dt.clear(columns=True)
            dt.add_columns(*table.columns)
            for i, row in enumerate(table.rows):
                style = "bold red" if i in table.bad else ""
                dt.add_row(*(Text(str(c), style=style) for c in row))
        return sum(log.pull(store) for log in self.query(OutputLog))


class OutputArea(Container):
    """The selected step's output and live panes."""

    wide: reactive[bool] = reactive(False, recompose=True)

    def __init__(self, step: str, has_command: bool, pane_titles: list[str], **kw):
        super().__init__(**kw)
        self.step, self.has_command, self.pane_titles = step, has_command, pane_titles
        self.pulled: tuple | None = None  # what the last pull saw: nothing new, nothing to do

    def compose(self) -> ComposeResult:
        main = [OutputLog(self.step, "main", id="main-log")] if self.has_command else []
        panes = [LivePane(self.step, k, t, show_title=self.wide) for k, t in enumerate(self.pane_titles)]
        if not panes:
            yield from main
        elif self.wide:
            with Horizontal():
                if main:
                    with Vertical(classes="main-col"):
                        yield Label("Output", classes="pane-title")
                        yield from main
                yield from panes
        else:
            with TabbedContent():
                if main:
                    with TabPane("Output", id="tab-main"):
                        yield from main
                for k, pane in enumerate(panes):
                    with TabPane(self.pane_titles[k], id=f"tab-pane{k}"):
                        yield pane

    def on_resize(self) -> None:
        self.wide = bool(self.pane_titles) and self.size.width >= WIDE_ENOUGH

    def on_tabbed_content_tab_activated(self) -> None:
        self.pulled = None  # the newly shown tab catches up at the next flush

    def pull(self, store: OutputStore) -> int:
        key = (store.changes, self.wide, len(self.children))
        if key == self.pulled:  # idle: 15 flushes a second must cost nothing
            return 0
        self.pulled = key
        n = 0
        active = None
        if not self.wide and self.pane_titles:
            tabs = self.query(TabbedContent)
            active = tabs.first().active if tabs else None
        for log in self.query(OutputLog):
            if isinstance(log.parent, LivePane):
                continue
            if active is None or active == "tab-main":
                n += log.pull(store)
        for pane in self.query(LivePane):
            if active is None or active == f"tab-pane{pane.index}":
                n += pane.pull(store)
        return n
