"""What the driver's app and the follower's app share: the settings (theme kept, where files go), the flush of
new output 15 times a second and the clocks once a second, the run screen's command palette, copying, the
full-output viewer, screenshots and getting a person's attention from another window."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from ..journal import Journal
from . import calm_garbage_collector, terminal
from .config import Config, config_path, load
from .screens.output import FullOutputScreen, JournalLines
from .screens.run import RunScreen

if TYPE_CHECKING:
    from .view import Source

FLUSH_HZ = 15
FLOOD = 1000  # lines in one flush: a flood nobody reads line by line, drawn 5 times a second instead of 15


class RunCommands(Provider):
    """The command palette's entries for the run screen: every key's action, each check, option and pane."""

    def _commands(self):
        screen = self.screen
        return screen.commands() if isinstance(screen, RunScreen) else []

    async def discover(self) -> Hits:
        for c in self._commands():
            yield DiscoveryHit(c.title, c.run, help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in self._commands():
            score = matcher.match(c.title)
            if score > 0:
                yield Hit(score, matcher.highlight(c.title), c.run, help=c.help)


class RunApp(App):
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {RunCommands}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, *, config: Config | None = None, blink: bool = True):
        super().__init__()
        self.config = config if config is not None else _load_quietly()
        self.blink = blink
        self.attention: list[str] = []  # what rang the bell (tests read it)
        self.journal: Journal | None = None  # set by the subclass: where full output is read from
        self._skip_flushes = 0

    def on_mount(self) -> None:
        calm_garbage_collector()
        if not self.blink:
            self.cursor_blink = False
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme
        self.set_interval(1 / FLUSH_HZ, self.flush_output, name="flush")
        self.set_interval(1.0, self.second, name="clock")

    @property
    def run_screen(self) -> RunScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen):
                return screen
        return None

    def flush_output(self) -> None:
        """New output onto the screen, 15 times a second; during a flood 5 times (drawing a scrolling log took a
        third of the time the stream could use: 1M coloured lines in 7.3 s at 15 a second, 5.0 s at 6)."""
        if self._skip_flushes:
            self._skip_flushes -= 1
            return
        screen = self.run_screen
        if screen is not None and screen.is_current:
            self._skip_flushes = 2 if screen.pull() >= FLOOD else 0

    def second(self) -> None:
        screen = self.run_screen
        if screen is not None and screen.is_mounted:
            screen.tick()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in ("Keys", "Screenshot"):  # ours say more (help, and where the file goes)
                yield command

    # ---- theme ------------------------------------------------------------------------------------
    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def watch_theme(self, theme: str) -> None:
        if not self.is_running or not getattr(self, "config", None):
            return
        said = self.config.keep_theme(theme)
        if said:
            self.notify(f"Theme {theme}: {said}", timeout=6)

    # ---- files people keep ------------------------------------------------------------------------
    def save_file(self, name: str, text: str) -> Path | None:
        """Write `text` to `name` in the export directory; say where it went, or why it could not."""
        folder = self.config.exports
        path = folder / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            self.notify(f"Could not write {path}: {e.strerror or e}. Set export_dir in {config_path()}.",
                        severity="error", timeout=15)
            return None
        self.notify(f"Saved {path}", timeout=15)
        return path

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """ctrl+s: an SVG of the screen in the export directory (never a folder that may not exist)."""
        from datetime import datetime

        name = filename or f"deploytui-{datetime.now():%Y%m%d-%H%M%S}.svg"
        self.save_file(name, self.export_screenshot(title=self.title))

    def deliver_text(self, fileobj: io.StringIO, *args, **kw) -> str | None:  # type: ignore[override]
        """In a browser (`serve`) files go to the browser; in a terminal to the export directory."""
        if self.is_web:
            return super().deliver_text(fileobj, *args, **kw)
        self.save_file(kw.get("save_filename") or "deploytui.txt", fileobj.getvalue())
        return None

    # ---- copying and attention ------------------------------------------------------------------------
    def copy_text(self, text: str, what: str = "it") -> None:
        """Copy to the clipboard the way this terminal allows, and say honestly what happened."""
        if terminal.in_tmux():
            ok, said = terminal.copy_in_tmux(text)
            self.notify(f"Copied {what}: {said}" if ok else f"Could not copy {what}: {said}",
                        severity="information" if ok else "error", timeout=8)
            return
        self.copy_to_clipboard(text)
        self.notify(f"Sent {what} to your terminal's clipboard (OSC 52: most terminals take it; some ask first "
                    "or ignore it)", timeout=8)

    def attend(self, title: str, body: str) -> None:
        """Ring the bell and send a desktop notification through the terminal (where it can get out)."""
        self.attention.append(f"{title}: {body}")
        self.bell()
        driver = self._driver
        if driver is not None and not self.is_headless:
            sequences = terminal.notification(f"deploytui: {title}", body)
            if sequences:
                driver.write(sequences)

    # ---- full output ------------------------------------------------------------------------------
    def open_full_output(self, source: Source, title: str, run_id: str, attempt: int) -> None:
        if self.journal is None or not attempt:
            self.notify("No output for this step yet.", timeout=4)
            return
        lines = JournalLines(self.journal, run_id, source.step, attempt, source.stream)
        self.push_screen(FullOutputScreen(f"Full output of {title} (attempt {attempt})", lines))


def _load_quietly() -> Config:
    """The settings for an app built without them (tests, screenshots): a broken file counts as none."""
    from ..errors import UserError

    try:
        return load()
    except UserError:
        return Config(path=config_path())

