"""Output panes: a step's command output, its live panes (tail, watch, native tables) and its evidence.

Lines come from the OutputStore and are written with one `write_lines` per flush (the app flushes 10-20
times a second); `max_lines` bounds what a log holds, and the view follows the tail unless the operator
scrolled up. Colours are drawn by Rich's ANSI decoder, for the lines on screen only. Moving to another step
points the same widgets at its streams; only a different set of panes lays the area out again. Panes sit
side by side when the area is wide enough, as tabs when not."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import DataTable, Label, Log, TabbedContent, TabPane

from ...text.clean import ESCAPE, clean_line
from ..output import OutputStore, Table, for_display
from ..view import Source

MAX_LINES = 5000
WIDE_ENOUGH = 120  # columns of the output area at which panes go side by side
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_BUT_ESC = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")  # what Rich's decoder must not meet


def coloured(raw: str) -> Text:
    """A raw line of output as Rich Text (`output.for_display`): its colours through Rich's ANSI decoder."""
    line = for_display(raw)
    if "\x1b" in line:
        text = Text.from_ansi(_CONTROL_BUT_ESC.sub("", line), no_wrap=True, end="")
        text.expand_tabs()
        return text
    return Text(_CONTROL.sub("", line).expandtabs(), no_wrap=True, end="")


class OutputLog(Log):
    """A Log whose lines keep their colours: each line on screen goes through Rich's ANSI decoder (cached),
    and matches of a search are highlighted."""

    DEFAULT_CSS = "OutputLog { height: 1fr; overflow: auto auto; }"  # scroll bars only when they are needed

    def __init__(self, step: str, stream: str, **kw):
        super().__init__(max_lines=MAX_LINES, highlight=False, auto_scroll=True, **kw)
        self.step, self.stream = step, stream
        self.generation, self.shown = -1, 0
        self.sticky = True  # follows the tail
        self.pattern: re.Pattern | None = None
        self.match_style = Style(bgcolor="yellow", color="black")

    @classmethod
    def _process_line(cls, line: str) -> str:  # what a line measures on screen
        return _CONTROL.sub("", ESCAPE.sub("", line) if "\x1b" in line else line).expandtabs()

    def point_at(self, step: str, stream: str) -> None:
        """Show another stream: the next pull fills it from the store."""
        if (step, stream) != (self.step, self.stream):
            self.step, self.stream = step, stream
            self.generation, self.shown = -1, 0
            self.sticky = True
            self.clear()

    def pull(self, store: OutputStore) -> int:
        """Write what arrived since the last pull (one write_lines); returns the number of lines."""
        gen, total, lines, restart = store.since(self.step, self.stream, self.generation, self.shown)
        if restart:
            self.clear()
            self.sticky = True
        self.generation, self.shown = gen, total
        if lines:
            self.write_lines(lines, scroll_end=False)  # the tail is followed when the lines are drawn
        return len(lines)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Following the tail: until the operator scrolls up, and again once they are back at the end."""
        super().watch_scroll_y(old_value, new_value)
        if self.is_vertical_scroll_end:
            self.sticky = True
        elif new_value < old_value:
            self.sticky = False

    def write_lines(self, lines, scroll_end: bool | None = None):
        """Append lines from the store (no newline in them): no split per line and no width measured per line
        (Log measures every line on a worker thread; here the width grows with the lines drawn)."""
        if not isinstance(lines, list):
            lines = list(lines)
        self._lines.extend(lines)
        if self.max_lines is not None and len(self._lines) > self.max_lines:
            self._prune_max_lines()
        self.virtual_size = Size(self._width, len(self._lines))
        self.refresh()
        return self

    def _grow(self, width: int) -> None:
        if width > self._width:
            self._width = width
            self.virtual_size = Size(width, len(self._lines))

    def plain(self, y: int) -> str:
        return clean_line(self.lines[y])

    def search(self, pattern: re.Pattern | None) -> None:
        self.pattern = pattern
        self._render_line_cache.clear()
        self.refresh()

    def matches(self) -> list[int]:
        """Lines (indexes) where the search matches."""
        if self.pattern is None:
            return []
        return [y for y in range(len(self.lines)) if self.pattern.search(self.plain(y))]

    def get_selection(self, selection):  # copying a selection copies the text, never escape sequences
        return selection.extract("\n".join(clean_line(x) for x in self.lines)), "\n"

    def render_lines(self, crop):
        if self.sticky and self.scroll_y < self.max_scroll_y:  # drawn with the geometry it really has:
            self.call_later(self.scroll_end, animate=False, immediate=True, x_axis=False)  # the tail, then
        self._style = self.rich_style  # once per frame: Log asks for it at every line (a walk up the DOM)
        try:
            return super().render_lines(crop)
        finally:
            self._style = None

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        style = getattr(self, "_style", None) or self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, style)
        return self._render_line_strip(y, style).crop_extend(scroll_x, scroll_x + width, style) \
            .apply_offsets(scroll_x, y)

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        cache = self._render_line_cache
        if y in cache and self.text_selection is None:
            return cache[y]
        text = coloured(self.lines[y])
        text.stylize_before(rich_style)
        if self.pattern is not None:
            for m in self.pattern.finditer(text.plain):
                text.stylize(self.match_style, m.start(), m.end())
        width = text.cell_len
        strip = Strip(text.render(self.app.console), width)
        if width > self._width:  # the scrollable width: the widest line drawn so far
            self.call_later(self._grow, width)
        if self.text_selection is None:
            cache[y] = strip
        return strip


def fit_columns(table: Table, width: int) -> list[int]:
    """The columns of a table that fit `width`, least useful dropped first: columns whose value is the same in
    every row (they tell the rows apart in nothing), then the widest; never the first (it names the row)."""
    cols = list(range(len(table.columns)))
    widths = {c: max([cell_len(table.columns[c])] + [cell_len(str(r[c])) for r in table.rows if c < len(r)])
              for c in cols}

    def needed(keep: Sequence[int]) -> int:
        return sum(widths[c] + 2 for c in keep) + 1

    same = [c for c in cols[1:] if len(table.rows) > 1 and len({str(r[c]) for r in table.rows if c < len(r)}) == 1]
    order = same + sorted((c for c in cols[1:] if c not in same), key=lambda c: -widths[c])
    keep = list(cols)
    for c in order:
        if needed(keep) <= width:
            break
        keep.remove(c)
    return keep


class LivePane(Vertical):
    """One source in the output area: a log, or a native table when its action sends one."""

    DEFAULT_CSS = """
    LivePane { height: 1fr; }
    LivePane > .pane-title { width: 1fr; background: $boost; text-style: bold; text-wrap: nowrap;
                             text-overflow: ellipsis; }
    LivePane DataTable { height: 1fr; display: none; }
    LivePane > .pane-earlier { width: 1fr; height: 1; color: $text-muted; text-wrap: nowrap;
                               text-overflow: ellipsis; display: none; }
    """

    def __init__(self, source: Source, show_title: bool = True, tabbed: bool = False, **kw):
        super().__init__(**kw)
        self.source, self.show_title, self.tabbed = source, show_title, tabbed
        self.table_seen: tuple | None = None

    def titled(self, source: Source) -> bool:
        """A title line: side by side, and for evidence on its own (a tab's label says it already)."""
        return self.show_title or (source.evidence and not self.tabbed)

    def compose(self) -> ComposeResult:
        label = Label(self.source.title, classes="pane-title")
        label.display = self.titled(self.source)
        yield label
        self.earlier = Label("", classes="pane-earlier")
        self.hidden = 0
        yield self.earlier
        # kept: a pane pointed at another step while it is still being mounted points them too
        self.output_log = OutputLog(self.source.step, self.source.stream, id="main-log" if not self.source.evidence
                             and self.source.stream == "main" else None)
        self.data_table: DataTable = DataTable(zebra_stripes=True, cursor_type="row")
        yield self.output_log
        yield self.data_table

    def show_table(self, table: bool) -> None:
        """The native table or the lines (display styles: a class change would restyle the tree)."""
        if hasattr(self, "data_table") and self.data_table.display != table:
            self.data_table.display = table
            self.output_log.display = not table

    def point_at(self, source: Source) -> None:
        self.source = source
        self.table_seen = None
        self.show_table(False)
        for label in self.query(".pane-title").results(Label):
            label.update(source.title)
            label.display = self.titled(source)
        if hasattr(self, "output_log"):  # else compose makes it for self.source
            self.output_log.point_at(source.step, source.stream)

    def on_resize(self) -> None:
        self.table_seen = None  # the columns that fit change with the width

    def pull(self, store: OutputStore) -> int:
        src = self.source
        table = store.table(src.step, src.table) if src.table is not None else None
        if not hasattr(self, "output_log") or not self.output_log.is_mounted:  # still composing
            return 0
        if table is not None and (table.version, self.size.width) != self.table_seen:
            self.table_seen = (table.version, self.size.width)
            self.show_table(True)
            self._fill(table)
        pulled = self.output_log.pull(store)
        self._say_earlier(0 if self.data_table.display else self.output_log.shown - len(self.output_log.lines))
        return pulled

    def _say_earlier(self, hidden: int) -> None:
        """The log holds the last MAX_LINES lines: say how many came before them, and where they are."""
        if hidden == self.hidden:
            return
        if (hidden > 0) != (self.hidden > 0):
            self.earlier.display = hidden > 0
        self.hidden = hidden
        if hidden > 0:
            self.earlier.update(f"▲ {hidden:,} earlier lines not shown here · O shows all",
                                layout=False)

    def _fill(self, table: Table) -> None:
        dt = self.data_table
        keep = fit_columns(table, max(20, self.size.width - 2))
        dt.clear(columns=True)
        dt.add_columns(*(table.columns[c] for c in keep))
        for i, row in enumerate(table.rows):
            style = "bold red" if i in table.bad else ""
            dt.add_row(*(Text(str(row[c]) if c < len(row) else "", style=style) for c in keep))
        hidden = [table.columns[c] for c in range(len(table.columns)) if c not in keep]
        dt.tooltip = f"hidden for width: {', '.join(hidden)}" if hidden else None


def fit_titles(titles: Iterable[str], width: int) -> list[str]:
    """Tab titles cut (with an ellipsis) so that all of them fit a row of `width` cells."""
    titles = list(titles)
    if not titles:
        return []
    room = max(6, width // len(titles) - 4)  # each tab has a little padding around its label
    return [t if cell_len(t) <= room else t[:room - 1].rstrip() + "…" for t in titles]


class OutputArea(Container):
    """The selected step's outputs (see RunView.sources). One source: its log alone. More: tabs, or side by
    side when the area is wide enough."""

    wide: reactive[bool] = reactive(False)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.sources: tuple[Source, ...] = ()
        self.pulled: tuple | None = None  # what the last pull saw: nothing new, nothing to do
        self.laid_out: tuple | None = None  # the shape of the panes composed, whatever was shown since

    @staticmethod
    def shape(sources: Sequence[Source], wide: bool) -> tuple:
        """What the layout depends on: how many panes, and whether they stand side by side."""
        return (len(sources), wide and len(sources) > 1)

    def show(self, sources: tuple[Source, ...]) -> None:
        """Point the area at these sources: in place when the layout stays, laid out again (soon) when not.
        A step with no output hides the area and leaves its panes as they are, so the next step compares with
        the panes really there (not with the empty step: that kept an earlier step's tabs)."""
        self.sources = sources
        self.display = bool(sources)
        self.pulled = None
        if not sources:
            return
        if self.laid_out == self.shape(sources, self.wide) and self.children:
            for pane, source in zip(self.query(LivePane), sources):
                pane.point_at(source)
            if len(sources) > 1 and not self.wide:
                self._retitle()
            return
        self.call_later(self.recompose)

    def watch_wide(self, old: bool, new: bool) -> None:
        if len(self.sources) > 1:
            self.pulled = None
            self.call_later(self.recompose)

    def compose(self) -> ComposeResult:
        sources = self.sources
        self.pulled = None  # new panes: they fill at the next flush
        self.laid_out = self.shape(sources, self.wide)
        if len(sources) == 1:
            yield LivePane(sources[0], show_title=False)
        elif sources and self.wide:
            with Horizontal():
                for s in sources:
                    yield LivePane(s)
        elif sources:
            titles = fit_titles((s.title for s in sources), self.size.width or 80)
            with TabbedContent():
                for k, (s, title) in enumerate(zip(sources, titles)):
                    with TabPane(title, id=f"tab-{k}"):
                        yield LivePane(s, show_title=False, tabbed=True)

    def _retitle(self) -> None:
        """Tab labels that fit the area's width (on a new step, and when the width changes)."""
        for tabs in self.query(TabbedContent).results(TabbedContent):
            titles = fit_titles((s.title for s in self.sources), self.size.width or 80)
            for k, title in enumerate(titles):
                try:
                    tab = tabs.get_tab(f"tab-{k}")
                except NoMatches:  # the tabs are still being made: compose gave them fitting titles
                    return
                if str(tab.label) != title:
                    tab.label = title

    def on_resize(self) -> None:
        self.wide = self.size.width >= WIDE_ENOUGH
        if len(self.sources) > 1 and not self.wide:
            self._retitle()

    def on_tabbed_content_tab_activated(self) -> None:
        self.pulled = None  # the newly shown tab catches up at the next flush

    def active_pane(self) -> LivePane | None:
        """The pane the operator looks at: the only one, the active tab, or (side by side) the first."""
        panes = list(self.query(LivePane))
        if not panes:
            return None
        if len(panes) > 1 and not self.wide:
            tabs = self.query(TabbedContent)
            active = tabs.first().active if tabs else ""
            for k, pane in enumerate(panes):
                if active == f"tab-{k}":
                    return pane
        return panes[0]

    def switch(self, index: int) -> bool:
        """Show source `index` (its tab, when tabbed)."""
        tabs = self.query(TabbedContent)
        if not tabs or not 0 <= index < len(self.sources):
            return False
        tabs.first().active = f"tab-{index}"
        return True

    def pull(self, store: OutputStore) -> int:
        key = (store.changes, self.wide, len(self.children))
        if key == self.pulled or not self.display:  # idle: 15 flushes a second must cost nothing
            return 0
        self.pulled = key
        visible = list(self.query(LivePane)) if self.wide or len(self.sources) == 1 else [self.active_pane()]
        return sum(p.pull(store) for p in visible if p is not None)
