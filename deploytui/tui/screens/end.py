"""The end of a run: how it ended, its id, and the commands that export, show and follow it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from ...events.describe import outcome_words
from .dialogs import Dialog


class EndDialog(Dialog):
    BINDINGS = [Binding("escape,enter", "cancel", "Back to the run"), Binding("x", "export", "Export"),
                Binding("q", "quit", "Quit"), Binding("c", "copy", "Copy the export command")]

    def __init__(self, run, commands: dict[str, str]):
        super().__init__()
        self.run_ref, self.commands = run, commands

    def compose(self) -> ComposeResult:
        s = self.run_ref.state
        good = s.outcome == "succeeded"
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("Run", Text(self.run_ref.run_id, style="bold"))
        for what in ("export", "show", "follow"):
            table.add_row(what.capitalize(), Text(self.commands[what], style="cyan"))
        with Vertical(classes="dialog" + ("" if good else " warning"), id="end"):
            yield Label(f"The run {outcome_words(s.outcome)}", classes="dialog-title")
            yield Static(table, id="end-commands")
            yield Label("x exports the record now · c copies the export command · q quits · Esc goes back to the "
                        "run", classes="hint")

    def action_export(self) -> None:
        self.dismiss(None)
        self.app.export_record(self.run_ref)  # type: ignore[attr-defined]

    def action_copy(self) -> None:
        self.app.copy_text(self.commands["export"], "the export command")  # type: ignore[attr-defined]

    async def action_quit(self) -> None:
        await self.app.action_quit()
