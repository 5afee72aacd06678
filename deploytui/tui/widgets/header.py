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
    def compose(self) -> ComposeResult:
        yield Label("", id="hdr-rehearsal")
        yield Label("", id="hdr-title")
        yield Label("", id="hdr-env")
        yield Label("", id="hdr-release")
        yield Label("", id="hdr-operator")
        yield Label("", id="hdr-elapsed")
        yield Label("", id="hdr-window")

    def show(self, view: RunView) -> None:
        s, now = view.state, view.clock.now()
        info = s.info
        title = view.text(view.book.runbook.title)  # "Upgrade PostgreSQL {{ old }} …" as people read it
        self.query_one("#hdr-title", Label).update(title)
        rehearsal = self.query_one("#hdr-rehearsal", Label)
        rehearsal.update(" REHEARSAL " if info.get("rehearsal") else "")
        rehearsal.display = bool(info.get("rehearsal"))
        for wid, value in (("env", info.get("environment")), ("release", info.get("release")),
                           ("operator", info.get("operator"))):
            label = self.query_one(f"#hdr-{wid}", Label)
            label.update(f" {value} " if value else "")
            label.display = bool(value)
        end = s.finished or now
        elapsed = clock_text(end - s.started) if s.started else "-"
        outcome = f" {s.outcome.replace('_', ' ')}" if s.outcome else ""
        self.query_one("#hdr-elapsed", Label).update(f" ⏱ {elapsed}{outcome} ")
        window = self.query_one("#hdr-window", Label)
        level = window_level(s, view.usual, now) if not s.outcome else ""
        window.display = bool(level)
        window.set_classes(f"level-{level}" if level else "")
        if level == "red":
            window.update(f" window closed {format_duration(now - s.deadline)} ago ")
        elif level:
            window.update(f" window {clock_text(s.deadline - now)} ")
