"""`O`: a step's whole output, read from the journal a chunk at a time (millions of lines never sit in memory),
scrollable and searchable in the app; `p` hands it to $PAGER."""

from __future__ import annotations

import bisect
import os
import re
import shlex
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Label

from ...text.clean import clean_line
from ..widgets.panes import coloured

MAX_MATCHES = 100_000


class ChunkLines:
    """The lines of one stream of one attempt of a step, held as chunks that may end mid-line (`index` lists
    (chunk id, newlines) after an id, `text` reads one). Chunk k holds newlines starts[k] .. starts[k] + n[k] - 1;
    split on newlines, its piece p belongs to line starts[k] + p. A few chunks are kept split, the least
    recently read dropped."""

    receiving = False  # lines are still on their way (the screen says so)
    error = ""  # why they stopped coming

    def __init__(self, step: str):
        self.step = step
        self.ids: list[int] = []
        self.starts: list[int] = []
        self.counts: list[int] = []
        self.ends: list[int] = []  # the last line each chunk has a piece of
        self._split: OrderedDict[int, list[str]] = OrderedDict()
        self._lock = threading.Lock()
        self.total = 0

    def index(self, after: int) -> list[tuple[int, int]]:
        raise NotImplementedError

    def text(self, chunk_id: int) -> str:
        raise NotImplementedError

    def write_to(self, out) -> None:
        """All of it into a file, a chunk at a time."""
        for chunk_id in list(self.ids):
            out.write(self.text(chunk_id))

    def update(self) -> bool:
        """Read the index of chunks written since; returns whether there are more lines."""
        after = self.ids[-1] if self.ids else 0
        new = self.index(after)
        if not new and self.ids:
            return False
        with self._lock:
            for chunk_id, count in new:
                self.starts.append(self.starts[-1] + self.counts[-1] if self.ids else 0)
                self.ids.append(chunk_id)
                self.counts.append(count)
                self.ends.append(self.starts[-1] + count)
        before = self.total
        last = self._pieces(len(self.ids) - 1) if self.ids else [""]
        self.total = (self.starts[-1] + self.counts[-1] + (1 if last[-1] else 0)) if self.ids else 0
        return self.total != before

    def _pieces(self, k: int) -> list[str]:
        with self._lock:
            if k in self._split:
                self._split.move_to_end(k)
                return self._split[k]
        pieces = self.text(self.ids[k]).split("\n")
        with self._lock:
            self._split[k] = pieces
            while len(self._split) > 6:
                self._split.popitem(last=False)
        return pieces

    def line(self, i: int) -> str:
        if not 0 <= i < self.total:
            return ""
        ends = self.ends
        k = bisect.bisect_left(ends, i)  # the first chunk that reaches line i: where it begins
        parts = []
        while k < len(self.ids) and self.starts[k] <= i:
            parts.append(self._pieces(k)[i - self.starts[k]])
            k += 1
        return "".join(parts)

    def lines(self, start: int = 0) -> Iterator[tuple[int, str]]:
        """Every line from `start`, in order, a chunk at a time."""
        for i in range(start, self.total):
            yield i, self.line(i)


class JournalLines(ChunkLines):
    """A stream's lines as the journal holds them."""

    def __init__(self, journal, run_id: str, step: str, attempt: int, stream: str = "main"):
        super().__init__(step)
        self.journal, self.run_id, self.attempt, self.stream = journal, run_id, attempt, stream
        self.update()

    def index(self, after: int) -> list[tuple[int, int]]:
        return self.journal.chunk_index(self.run_id, self.step, self.attempt, self.stream, after=after)

    def text(self, chunk_id: int) -> str:
        return self.journal.chunk_text(chunk_id)


class SpooledLines(ChunkLines):
    """A stream's lines as they arrive in pieces (a socket follower's full output, from the driver's journal):
    each piece is written to a private temporary file on a thread of its own and read back by offset, so
    millions of lines never sit in memory; the screen shows what has come so far, and grows."""

    def __init__(self, pieces: Iterator[str], step: str):
        super().__init__(step)
        self.file = tempfile.TemporaryFile()  # mode 0600, gone when closed
        self.spans: dict[int, tuple[int, int, int]] = {}  # piece -> (offset, bytes, newlines)
        self.receiving = True
        threading.Thread(target=self._receive, args=(pieces,), name="full-output", daemon=True).start()

    def _receive(self, pieces: Iterator[str]) -> None:
        offset = 0
        try:
            for n, piece in enumerate(pieces, 1):
                if not piece:
                    continue
                data = piece.encode()
                os.pwrite(self.file.fileno(), data, offset)
                with self._lock:
                    self.spans[n] = (offset, len(data), piece.count("\n"))
                offset += len(data)
        except Exception as e:  # the driver stopped, or refused: say so, keep what came
            self.error = str(e) or type(e).__name__
        finally:
            self.receiving = False

    def index(self, after: int) -> list[tuple[int, int]]:
        with self._lock:
            return [(n, span[2]) for n, span in self.spans.items() if n > after]

    def text(self, chunk_id: int) -> str:
        offset, size, _ = self.spans[chunk_id]
        return os.pread(self.file.fileno(), size, offset).decode()

    def close(self) -> None:
        self.file.close()


class JournalLog(ScrollView, can_focus=True):
    """Lines from `JournalLines`, drawn only where they are on screen, colours kept, search matches marked."""

    DEFAULT_CSS = "JournalLog { height: 1fr; background: $surface; }"
    BINDINGS = [Binding("g,home", "top", "Top", show=False), Binding("G,end", "bottom", "Bottom", show=False),
                Binding("j", "scroll_down", show=False), Binding("k", "scroll_up", show=False)]

    def __init__(self, source: ChunkLines, **kw):
        super().__init__(**kw)
        self.source = source
        self.pattern: re.Pattern | None = None
        self.current: int | None = None
        self.widest = 0
        self.match_style = Style(bgcolor="yellow", color="black")
        self.current_style = Style(bgcolor="dark_orange", color="black", bold=True)

    def on_mount(self) -> None:
        self.grow()
        self.scroll_end(animate=False)

    def grow(self) -> None:
        self.virtual_size = Size(max(self.widest, self.size.width), self.source.total)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if i >= self.source.total:
            return Strip.blank(width, style)
        text = coloured(self.source.line(i))
        number = Text(f"{i + 1:>8} ", style="dim")
        if self.pattern is not None:
            for m in self.pattern.finditer(text.plain):
                text.stylize(self.current_style if i == self.current else self.match_style, m.start(), m.end())
        line = number + text
        line.stylize_before(style)
        if line.cell_len > self.widest:
            self.widest = line.cell_len
            self.call_later(self.grow)
        strip = Strip(line.render(self.app.console), line.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def go(self, i: int) -> None:
        self.current = i
        self.scroll_to(y=max(0, i - self.size.height // 2), animate=False)
        self.refresh()

    def action_top(self) -> None:
        self.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.scroll_end(animate=False)


class FullOutputScreen(Screen):
    """The whole output of a stream, from the journal. `/` searches all of it (on a worker thread)."""

    DEFAULT_CSS = """
    FullOutputScreen #fo-title { dock: top; height: 1; width: 1fr; background: $panel; text-style: bold;
                                 padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    FullOutputScreen #fo-log { height: 1fr; }
    /* in the flow under the log, not docked: two widgets docked at the bottom overlap, and the status line
       hid the search box (the pattern was typed unseen) */
    FullOutputScreen #fo-search { height: 1; display: none; border: none; padding: 0 1; }
    FullOutputScreen #fo-search.open { display: block; }
    FullOutputScreen #fo-status { dock: bottom; height: 1; width: 1fr; background: $panel; padding: 0 1;
                                  color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close"), Binding("slash", "search", "Search"),
                Binding("n", "next(1)", "Next match"), Binding("N", "next(-1)", "Previous match"),
                Binding("p", "pager", "Open in $PAGER"), Binding("question_mark", "help", "Keys")]

    class Found(Message):
        def __init__(self, pattern: str, matches: list[int], done: bool, scanned: int):
            super().__init__()
            self.pattern, self.matches, self.done, self.scanned = pattern, matches, done, scanned

    def __init__(self, title: str, source: ChunkLines):
        super().__init__()
        self.title_text, self.source = title, source
        self.matches: list[int] = []
        self.searching = ""
        self.scanning = False  # a search's worker is still reading the output
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, id="fo-title", markup=False)
        yield JournalLog(self.source, id="fo-log")
        yield Input(placeholder="search all of the output (regex; Enter searches, Esc cancels)", id="fo-search")
        yield Label("", id="fo-status")

    def on_mount(self) -> None:
        self.query_one(JournalLog).focus()
        self.say()
        self.set_interval(1.0, self._grow)

    def _grow(self) -> None:
        receiving = self.source.receiving
        if self.source.update() or receiving:
            log = self.query_one(JournalLog)
            at_end = log.is_vertical_scroll_end
            log.grow()
            if at_end:
                log.scroll_end(animate=False)
            self.say()

    def say(self, extra: str = "") -> None:
        found = ""
        if self.searching and self.scanning:  # never "0 matches" for a search still reading
            found = f" · searching for /{self.searching}/: {len(self.matches):,} found so far"
        elif self.searching:
            n = len(self.matches)
            found = f" · {n:,} {'match' if n == 1 else 'matches'} for /{self.searching}/"
        if self.source.receiving:
            found += " · still coming from the driver"
        elif self.source.error:
            found += f" · incomplete: {self.source.error}"
        self.query_one("#fo-status", Label).update(
            f"{self.source.total:,} lines{found}{extra} · / search · n/N next/previous · g/G top/bottom · "
            "p $PAGER · Esc closes")

    def action_close(self) -> None:
        self._stop.set()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        self.dismiss(None)

    def action_help(self) -> None:
        self.notify("/ search · n next match · N previous · g top · G bottom · p opens $PAGER · Esc closes",
                    timeout=8)

    def action_search(self) -> None:
        box = self.query_one("#fo-search", Input)
        box.add_class("open")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        box = event.input
        box.remove_class("open")
        self.query_one(JournalLog).focus()
        from .run import search_pattern

        pattern = search_pattern(event.value)
        log = self.query_one(JournalLog)
        log.pattern = pattern
        log.refresh()
        self._stop.set()
        self.matches, self.searching, self.scanning = [], event.value, pattern is not None
        if pattern is not None:
            self._stop = threading.Event()
            self._scan(pattern, event.value, self._stop)
        self.say()

    def key_escape(self) -> None:
        box = self.query_one("#fo-search", Input)
        if box.has_class("open"):
            box.remove_class("open")
            self.query_one(JournalLog).focus()

    @work(thread=True, exclusive=True, group="search")
    def _scan(self, pattern: re.Pattern, text: str, stop: threading.Event) -> None:
        found: list[int] = []
        n = 0
        for i, line in self.source.lines():
            if stop.is_set():
                return
            n = i + 1
            if pattern.search(clean_line(line) if "\x1b" in line or "\r" in line else line):
                found.append(i)
                if len(found) == 1:
                    self.post_message(self.Found(text, list(found), False, n))
                if len(found) >= MAX_MATCHES:
                    break
        self.post_message(self.Found(text, found, True, n))

    def on_full_output_screen_found(self, message: Found) -> None:
        if message.pattern != self.searching:
            return
        self.matches, self.scanning = message.matches, not message.done
        log = self.query_one(JournalLog)
        if message.matches and (log.current is None or not message.done):
            below = [i for i in message.matches if i >= log.scroll_offset.y]
            log.go(below[0] if below else message.matches[0])
        more = "" if message.done else f" (searching: {message.scanned:,} lines read)"
        capped = " (the first 100,000)" if len(message.matches) >= MAX_MATCHES else ""
        self.say(capped + more)

    def action_next(self, by: int) -> None:
        if not self.matches:
            self.notify("No matches: / searches.", timeout=4)
            return
        log = self.query_one(JournalLog)
        at = log.current if log.current is not None else log.scroll_offset.y
        if by > 0:
            i = bisect.bisect_right(self.matches, at)
            target = self.matches[i % len(self.matches)]
        else:
            i = bisect.bisect_left(self.matches, at) - 1
            target = self.matches[i % len(self.matches)]
        log.go(target)
        self.say(f" · match {self.matches.index(target) + 1:,}")

    def action_pager(self) -> None:
        path = self.write_file()
        pager = shlex.split(os.environ.get("PAGER") or "less -R +G")
        try:
            with self.app.suspend():
                subprocess.call([*pager, path])
        except (SuspendNotSupported, OSError):
            self.notify(f"The full output is in {path}", timeout=10)
            return
        os.unlink(path)

    def write_file(self) -> str:
        """The whole output in a private temporary file, chunk by chunk."""
        fd, path = tempfile.mkstemp(prefix=f"deploytui-{self.source.step}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            self.source.write_to(out)
        return path
