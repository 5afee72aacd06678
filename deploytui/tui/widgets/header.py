"""The top line: runbook, environment, release, operator, elapsed time, the deploy window."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ...reports.estimate import window_level
from ...runbook.durations import format_duration
from ..view import RunView


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


class RunHeader(Horizontal):
    """Updated every second: only what changed is redrawn, and a text of the same width without a new layout
    (a layout of the whole screen each second delayed the keys pressed in it)."""

    def compose(self) -> ComposeResult:
        yield Label("", id="hdr-rehearsal")
        yield Label("", id="hdr-title")
        yield Label("", id="hdr-env")
        yield Label("", id="hdr-release")
        yield Label("", id="hdr-operator")
        yield Label("", id="hdr-elapsed")
        yield Label("", id="hdr-window")

    def on_mount(self) -> None:
        self.shown: dict[str, str] = {}
        self.labels = {str(label.id)[4:]: label for label in self.query(Label).results(Label)}

    def _set(self, name: str, text: str) -> None:
        old = self.shown.get(name)
        if text == old:
            return
        self.shown[name] = text
        label = self.labels[name]
        label.update(text, layout=old is None or len(old) != len(text))
        if label.display != bool(text):
            label.display = bool(text)

    def show(self, view: RunView) -> None:
        if not hasattr(self, "labels"):
            return
        s, now = view.state, view.clock.now()
        info = s.info
        self._set("title", view.text(view.book.runbook.title))  # "Upgrade PostgreSQL {{ old }} …" as people read it
        self._set("rehearsal", " REHEARSAL " if info.get("rehearsal") else "")
        for name in ("environment", "release", "operator"):
            value = info.get(name)
            self._set({"environment": "env"}.get(name, name), f" {value} " if value else "")
        end = s.finished or now
        elapsed = clock_text(end - s.started) if s.started else "-"
        outcome = f" {s.outcome.replace('_', ' ')}" if s.outcome else ""
        self._set("elapsed", f" ⏱ {elapsed}{outcome} ")
        level = window_level(s, view.usual, now) if not s.outcome else ""
        window = self.labels["window"]
        if self.shown.get("level") != level:  # a class change restyles: only when the level changes
            self.shown["level"] = level
            window.set_classes(f"level-{level}" if level else "")
        text = ""
        if level and s.deadline is not None:  # a level is only given for a run with a deadline
            left = s.deadline - now
            text = f" window closed {format_duration(-left)} ago " if level == "red" else f" window {clock_text(left)} "
        self._set("window", text)
