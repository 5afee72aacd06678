"""The fleet board in the app (`F`): every app the team store knows, its latest run, the stage it is at, how it
ended, whether a run of it is deploying now (or left a stale mark), and whether it is blocked. Read from the
store on a worker thread every few seconds, so a slow or absent store never holds the screen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from .dialogs import Dialog

REFRESH_SECONDS = 5.0
COLUMNS = ("app", "release", "stage", "outcome", "deploying", "blocked", "run")


def board_rows(entries: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The board's cells, one row per app (what `deploytui board` prints, as a table)."""
    rows: list[tuple[str, ...]] = []
    for r in entries:
        block, live, stale = r.get("block"), r.get("deploying"), r.get("stale")
        since = datetime.fromtimestamp(float(live["since"]), UTC).strftime("%H:%M") if live else ""
        rows.append(tuple(str(c) for c in (
            r["app"], r.get("release") or "-", (r.get("stage") or "-") + (" (dry)" if r.get("dry") else ""),
            r.get("outcome") or "-",
            f"yes, {live['operator']} since {since} UTC" if live else ("stale mark (driver gone)" if stale else "no"),
            f"by {block['by']}: {block['reason']}" if block else "no",
            r.get("run") or "-")))
    return rows


class FleetBoardScreen(Dialog):
    BINDINGS = [Binding("escape,q,F", "cancel", "Close")]

    def __init__(self, read: Callable[[], list[dict[str, Any]]], where: str):
        super().__init__()
        self.read, self.where = read, where

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog diff"):
            yield Label(f"Fleet board: {self.where}", classes="dialog-title")
            yield DataTable(id="fleet-table", zebra_stripes=True, cursor_type="row")
            yield Label("reading the team store…", id="fleet-status", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.refresh_board()
        self.set_interval(REFRESH_SECONDS, self.refresh_board)

    @work(thread=True, exclusive=True, group="fleet")
    def refresh_board(self) -> None:
        try:
            rows, problem = board_rows(self.read()), ""
        except Exception as e:  # the store down: say so, keep what was shown
            rows, problem = None, f"{type(e).__name__}: {e}"
        self.app.call_from_thread(self._show, rows, problem)

    def _show(self, rows: list[tuple[str, ...]] | None, problem: str) -> None:
        now = datetime.now(UTC).strftime("%H:%M:%S UTC")
        status = self.query_one("#fleet-status", Label)
        if rows is None:
            status.update(f"the team store is not reachable ({problem}); Esc closes")
            return
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)
        status.update(f"{len(rows)} apps · read at {now}, again every {REFRESH_SECONDS:g} s · Esc closes"
                      if rows else f"no apps in the team store yet (read at {now}) · Esc closes")
