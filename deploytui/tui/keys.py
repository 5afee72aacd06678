"""Every key of the run screens, in one table: the bindings, the key bar, the help screen and the command
palette are all made from it, so none of them can forget a key or name it differently."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

from ..engine import planner

STEP, MOVE, OUTPUT, RUN, APP = "This step", "Moving", "Output", "The run", "The app"


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str  # the screen's action
    label: str
    group: str
    shown: str = ""  # how the key reads on screen (default: the first key)
    intent: str | None = None  # the engine's intent: offered only when the engine allows it
    rank: int = 0  # place in the key bar (lower stays longer when it is narrow); 0: help screen only
    palette: str = ""  # the command palette's title (default: the label)
    bound: bool = True  # False: the app (or the focused widget) already binds it; listed for help only
    short: str = ""  # the key bar's word (default: the label)

    @property
    def display(self) -> str:
        return self.shown or self.keys.split(",")[0]

    def binding(self) -> Binding:
        assert self.bound
        return Binding(self.keys, self.action, self.label, show=False)


COMMON = [
    Key("question_mark,f1", "help", "Help", APP, shown="?", rank=1, palette="Help: every key"),
    Key("down,j", "move(1)", "Next step", MOVE, shown="↓ j"),
    Key("up,k", "move(-1)", "Previous step", MOVE, shown="↑ k"),
    Key("g", "current", "Go to the current step", MOVE),
    Key("tab", "app.focus_next", "Next part of the screen (checks, options, output)", MOVE, bound=False),
    Key("slash", "search", "Search the output", OUTPUT, shown="/", rank=30, short="Search"),
    Key("O", "full_output", "Full output (from the journal, searchable)", OUTPUT, rank=40, short="Full output"),
    Key("right_square_bracket", "pane(1)", "Next pane", OUTPUT, shown="]", palette="Switch to the next pane"),
    Key("left_square_bracket", "pane(-1)", "Previous pane", OUTPUT, shown="[",
        palette="Switch to the previous pane"),
    Key("v", "view_command", "View the whole command", OUTPUT),
    Key("c", "copy_command", "Copy the command", OUTPUT, rank=60, palette="Copy the step's command", short="Copy"),
    Key("a", "activity", "All activity (what ran, when, how it ended)", RUN, rank=50, short="Activity"),
    Key("t", "app.toggle_theme", "Dark / light theme", APP),
    Key("ctrl+p", "app.command_palette", "Command palette (every action)", APP, shown="^p", rank=45,
        bound=False, short="Commands"),
    Key("q", "quit", "Quit", APP, rank=2),
]

DRIVE = [
    Key("enter", "primary", "Do what the step waits for", STEP, shown="⏎"),
    Key("r", "run", "Run", STEP, intent=planner.RUN, rank=10, palette="Run the step's command"),
    Key("R", "rerun", "Re-run", STEP, intent=planner.RERUN, rank=11, palette="Re-run the step (with a reason)"),
    Key("o", "override", "Override", STEP, intent=planner.OVERRIDE_GATE, rank=12,
        palette="Override the gate, schedule or deadline (with a reason)"),
    Key("e", "end_pane", "End wait", STEP, intent=planner.END_PANE, rank=13,
        palette="End a pane's wait (with a reason)"),
    Key("E", "end_survivors", "End leftovers", STEP, intent=planner.END_SURVIVORS, rank=14,
        palette="End what an interrupted command left running"),
    Key("s", "skip", "Skip", STEP, intent=planner.SKIP, rank=20, palette="Skip the step (with a reason)"),
    Key("d", "mark('done')", "Done", STEP, intent=planner.MARK_DONE, rank=21,
        palette="Mark the step done (with a reason)"),
    Key("f", "mark('failed')", "Failed", STEP, intent=planner.MARK_FAILED, rank=22,
        palette="Mark the step failed (with a reason)"),
    *[Key(str(i), f"tick({i - 1})", "Tick or untick check 1-9" if i == 1 else f"Tick check {i}", STEP,
          shown="1-9" if i == 1 else str(i)) for i in range(1, 10)],
    Key("n", "note", "Note", RUN, rank=35, palette="Add a note to the journal"),
    Key("b", "rollback", "Rollback", RUN, rank=55, palette="Jump to an on-demand section (rollback)"),
    Key("x", "export", "Export the record", RUN, palette="Export the deploy record (md, html, json)"),
    Key("F", "fleet", "Fleet board (every app's latest run, stage, block)", RUN,
        palette="Fleet board: every app's latest run, its stage and its block"),
    Key("ctrl+s", "app.screenshot", "Screenshot", APP, palette="Save a screenshot (SVG)"),
]



def bindings(keys: list[Key]) -> list[BindingType]:
    return [k.binding() for k in keys if k.bound]


SIGN = Key("A", "app.sign", "Sign off", STEP, rank=15, palette="Sign off the step's command as yourself (four eyes)")
FOLLOW: list[Key] = [SIGN, Key("ctrl+s", "app.screenshot", "Screenshot", APP, palette="Save a screenshot (SVG)")]
