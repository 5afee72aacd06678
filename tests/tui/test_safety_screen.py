"""Nothing by accident, nothing leaked, on the driver's screen (issue 11): a click selects and never acts,
keys that would stop a running command ask first in a way keystrokes cannot confirm, the danger dialog
shows the whole command, a clipped command box says so, and secrets appear on no surface a pair sees."""

from __future__ import annotations

from textual.widgets import Static

from deploytui.events import kinds as ev
from deploytui.tui.screens.dialogs import DangerDialog, ReasonDialog, StopDialog, TextDialog
from deploytui.tui.widgets.detail import CommandBox, StepDetail
from deploytui.tui.widgets.header import RunHeader
from deploytui.tui.widgets.steplist import StepList

from .conftest import events, status, until

BOOK = """
[runbook]
id = "safe"
title = "Safe deploy"
environment = "{{ env }}"
release = "RC {{ rc }} for {{ db_password }}"
[vars.env]
default = "prod"
[vars.rc]
default = "7"
[vars.db_password]
secret = true
default = "Sup3r-Secret-Pw"
[[steps]]
id = "go-on"
title = "Go on?"
checks = ["go on"]
[[steps]]
id = "long"
title = "Migrate with {{ db_password }}"
run = "echo migrating; sleep 300"
[[steps]]
id = "delete"
title = "Delete the old database"
danger = true
run = \"\"\"
echo one
echo two
echo three
echo four
echo five
echo six
echo seven
echo gcloud sql instances delete old-db --quiet
\"\"\"
"""


def screen_text(app) -> str:
    """Everything the screen's widgets render as text (what a pair attached to the session would see)."""
    parts = []
    for widget in app.screen.query("*"):
        try:
            parts.append(str(widget.render()))
        except Exception:  # containers without a plain rendering
            continue
        parts.append(str(getattr(widget, "border_title", "") or ""))
        parts.append(str(getattr(widget, "border_subtitle", "") or ""))
    return "\n".join(parts)


async def test_a_click_on_a_step_selects_it_and_never_acts(make_app, make_book):
    app = make_app(make_book(BOOK))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.run_screen is not None, what="run screen")
        steps = app.screen.query_one(StepList)
        index = steps.get_option_index("long")
        await pilot.click(StepList, offset=(4, index - steps.scroll_offset.y))
        await until(pilot, lambda: steps.selected_step == "long", what="the click to select")
        index = steps.get_option_index("go-on")
        await pilot.click(StepList, offset=(4, index - steps.scroll_offset.y))
        await until(pilot, lambda: steps.selected_step == "go-on", what="the click to select")
        await pilot.pause()
        assert events(app, ev.CHECK_TOGGLED) == [] and status(app, "go-on") == "needs_you"
        await pilot.press("enter")  # a key acts
        await until(pilot, lambda: events(app, ev.CHECK_TOGGLED), what="enter to tick")


async def test_typing_query_at_a_running_command_quits_nothing(make_app, make_book):
    # `q` asked "Quit?" with a `y` shortcut: a word typed for the command's prompt quit and ended the command
    app = make_app(make_book(BOOK))
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.current_run
        run.kill_grace = 0.5
        run.tick("go-on", 0)
        await pilot.press("r")
        await until(pilot, lambda: status(app, "long") == "running", what="long to run")
        await pilot.press(*"query", "enter")  # Enter answers "Keep it running"
        await until(pilot, lambda: not app.screen.is_modal, what="the question answered")
        await pilot.pause()
        assert app.is_running and status(app, "long") == "running"
        assert events(app, ev.COMMAND_FINISHED) == [] and events(app, ev.RUN_INTERRUPTED) == []
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, StopDialog), what="the quit question")
        assert "Quit" in app.screen.title_text and app.screen.focused.id == "keep"
        await pilot.press("tab", "enter")  # a deliberate choice quits and ends the command
        await until(pilot, lambda: not app.is_running, timeout=15, what="the quit")
    [done] = events(app, ev.COMMAND_FINISHED)
    assert not done.data["ok"] and "quit" in done.data["error"]


async def test_typing_sure_at_a_running_command_skips_nothing(make_app, make_book):
    app = make_app(make_book(BOOK))
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.current_run
        run.kill_grace = 0.5
        run.tick("go-on", 0)
        await pilot.press("r")
        await until(pilot, lambda: status(app, "long") == "running", what="long to run")
        await pilot.press(*"sure", "enter")
        await until(pilot, lambda: isinstance(app.screen, StopDialog) or not app.screen.is_modal, what="settle")
        await pilot.pause()
        assert status(app, "long") == "running"
        assert events(app, ev.STOP_REQUESTED) == [] and events(app, ev.SKIPPED) == []
        assert not isinstance(app.screen, ReasonDialog)
        # a deliberate choice stops it: Tab to "Stop it and skip", Enter, then the reason
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StopDialog), what="the stop dialog")
        assert app.screen.focused.id == "keep"
        await pilot.press("tab", "enter")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="the reason dialog")
        await pilot.press(*"migration not needed", "enter")
        await until(pilot, lambda: status(app, "long") == "skipped", what="long skipped")
        kinds = [e.kind for e in events(app) if e.step == "long"]
        assert kinds[-3:] == [ev.STOP_REQUESTED, ev.COMMAND_FINISHED, ev.SKIPPED]


async def test_the_danger_dialog_shows_the_whole_command_and_a_clipped_box_says_so(make_app, make_book):
    app = make_app(make_book(BOOK))
    async with app.run_test(size=(80, 24)) as pilot:
        run = app.current_run
        run.tick("go-on", 0)
        run.skip("long", "not today")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "delete", what="delete shown")
        box = app.screen.query_one("#d-command", CommandBox)
        await until(pilot, lambda: box.border_subtitle.startswith("+"), what="the box to say it clips")
        assert "v shows all" in box.border_subtitle
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, TextDialog), what="the whole command")
        assert "--quiet" in str(app.screen.query_one("#text", Static).render())
        await pilot.press("escape")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, DangerDialog), what="the danger dialog")
        shown = str(app.screen.query_one("#danger-command", Static).render())
        assert "echo gcloud sql instances delete old-db --quiet" in shown and "echo one" in shown
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: run.state.outcome == "succeeded", what="the run to finish")


async def test_a_secret_shows_on_no_surface(make_app, make_book):
    secret = "Sup3r-Secret-Pw"
    app = make_app(make_book(BOOK))
    async with app.run_test(size=(160, 48)) as pilot:
        run = app.current_run
        run.tick("go-on", 0)
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "long", what="long shown")
        await pilot.pause()
        text = screen_text(app)
        assert "Migrate with ••••••" in text
        assert secret not in text
        assert secret not in str(app.screen.query_one(RunHeader).render())
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="skip's dialog")
        assert secret not in screen_text(app) and "Migrate with ••••••" in screen_text(app)
        await pilot.press("escape")
    row = run.journal.run(run.run_id)
    assert secret not in row.release and secret not in row.environment
