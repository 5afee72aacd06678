"""Pilot tests: each drives the app with keys (or clicks) and checks what the journal recorded and
what the screen shows. Real subprocesses, real SQLite journals, a fake clock for timers."""

from __future__ import annotations

import time

from textual.widgets import Digits, Input, Label, Log, TabbedContent

from deploytui.events import kinds as ev
from deploytui.runbook.loader import load
from deploytui.tui.app import build_app
from deploytui.tui.screens.dialogs import ChoiceDialog, ConfirmDialog, DangerDialog, ReasonDialog, StopDialog
from deploytui.tui.screens.end import EndDialog
from deploytui.tui.screens.run import DriveScreen
from deploytui.tui.screens.start import ScheduleDialog, VarsForm
from deploytui.tui.widgets.choices import DecisionList
from deploytui.tui.widgets.detail import StepDetail
from deploytui.tui.widgets.panes import OutputArea, OutputLog
from deploytui.tui.widgets.steplist import StepList

from .conftest import HERE, events, status, until

FLOW = str(HERE / "flow.toml")


def flow():
    return load(FLOW)


async def reach(pilot, app, step: str) -> None:
    """Bring the run to `step` through the engine (setup for tests about later steps)."""
    run = app.current_run
    while run.state.current != step:
        cur = run.state.current
        st, book_step = run.state.steps[cur], run.book.step(cur)
        if st.gate_deadline and not st.gate_open:
            run.override("gate", "test setup", cur)
        if book_step.has_command and not st.activated:
            run.run_step(cur, confirm=run.state.info["environment"])
            # finished, and the engine has also moved on from it (it finishes a complete step right after)
            await until(pilot, lambda c=cur: run.state.steps[c].command_ok is not None and (
                run.state.steps[c].final is not None or run.state.blockers(c)), what=f"{cur} to finish")
        for i, done in enumerate(run.state.steps[cur].checks):
            if not done and run.state.steps[cur].final is None:
                run.tick(cur, i)
        if run.state.current == cur and not run.state.steps[cur].final:
            run.skip(cur, "test setup")
        await pilot.pause()
    await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == step, what=f"detail of {step}")


def screen_text(app) -> str:
    """The screen as text (from its SVG screenshot)."""
    import html
    import re

    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def detail_text(app) -> str:
    d = app.screen.query_one(StepDetail)
    return " ".join(str(w.render()) for w in d.query(Label))


# ---- start: variables form and schedule guard --------------------------------------------------------
async def test_variables_form_validates_inline_then_starts(make_app):
    app = make_app(flow(), form=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, VarsForm)
        rc = app.screen.query_one("#var-rc", Input)
        rc.focus()
        await pilot.press(*"12x")
        await pilot.pause()
        assert "does not match" in str(app.screen.query_one("#err-rc", Label).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, VarsForm) and app.current_run is None  # refused
        await pilot.press("backspace", "enter")  # last field: Enter submits
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail), what="run screen")
        assert app.current_run.state.vars == {"env": "staging", "rc": "12"}
        assert app.current_run.state.info["release"] == "RC 12"


async def test_the_runbook_s_own_words_are_text_not_markup(make_app, tmp_path):
    """A description or prompt with square brackets (`[fleet]`, "[optional]") reads as written on the form."""
    from deploytui.runbook.loader import parse

    book = parse('[runbook]\nid = "b"\ntitle = "Deploy [blue] things"\nenvironment = "x"\n'
                 'description = "Each app is its own lock; `[fleet]` holds the lists."\n'
                 '[vars.rc]\nprompt = "Release [optional] number"\n'
                 '[[steps]]\nid = "s"\ntitle = "s"\nchecks = ["ok"]\n', str(tmp_path / "b.toml"))
    app = make_app(book, form=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        shown = " ".join(str(label.render()) for label in app.screen.query(Label))
        assert "`[fleet]` holds the lists" in shown and "Deploy [blue] things" in shown, shown
        assert "Release [optional] number (rc)" in shown, shown


async def test_variables_form_requires_missing_values(make_app):
    app = make_app(flow(), form=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "a value is needed" in str(app.screen.query_one("#err-rc", Label).render())
        assert app.current_run is None


SCHEDULED = '''
[runbook]
id = "sched"
title = "Scheduled"
[schedule]
avoid = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
[[steps]]
id = "one"
title = "One"
run = "echo one"
'''


async def test_schedule_verdict_needs_override_with_reason(make_app, make_book):
    app = make_app(make_book(SCHEDULED))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ScheduleDialog), what="schedule dialog")
        assert "day to avoid" in " ".join(str(x.render()) for x in app.screen.query(Label))
        await pilot.press("enter")  # empty reason: refused
        assert "needs a reason" in str(app.screen.query_one("#error", Label).render())
        await pilot.press(*"hotfix for outage", "enter")
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail), what="run screen")
        [o] = events(app, ev.OVERRIDE)
        assert o.data == {"what": "schedule", "reason": "hotfix for outage"} and o.actor == "alice"
        await pilot.press("r")
        await until(pilot, lambda: status(app, "one") == "done", what="step to run")


async def test_schedule_stop_aborts_the_run(make_app, make_book):
    app = make_app(make_book(SCHEDULED))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ScheduleDialog), what="schedule dialog")
        await pilot.press("escape")
        await until(pilot, lambda: app.current_run.state.outcome == "aborted", what="abort")
        assert "schedule guard" in events(app, ev.RUN_FINISHED)[0].data["reason"]


# ---- run, stream, tick -----------------------------------------------------------------------------
async def test_run_streams_output_in_batches_with_its_colours(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        assert "Build RC 7" in detail_text(app)
        await pilot.press("r")
        await until(pilot, lambda: app.current_run.state.steps["build"].command_ok, what="build")
        await pilot.press("up")  # the detail followed the run to the next step; look back at the build
        log = app.screen.query_one("#main-log", Log)
        await until(pilot, lambda: log.line_count >= 3002, what="output on screen")
        assert log.plain(0) == "red line" and log.plain(log.line_count - 1) == "built"
        log.scroll_home(animate=False)
        await pilot.pause()
        first = log.render_line(0)  # the colour reaches the screen, decoded by Rich, not as escape codes
        assert first.text.startswith("red line")
        assert first.text and any(seg.style and seg.style.color and seg.style.color.name in ("red", "color(1)")
                                  for seg in first if seg.text.startswith("red"))
        assert log.max_lines is not None
        # the journal has it all, in a few chunks rather than one per line
        chunks = list(app.current_run.journal.chunks(app.current_run.run_id, "build"))
        assert sum(c.lines for c in chunks) == 3002 and len(chunks) < 50


async def test_tick_checks_with_keys_and_mouse(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "confirm")
        await pilot.press("1")
        await until(pilot, lambda: app.current_run.state.steps["confirm"].checks == [True, False])
        assert status(app, "confirm") == "needs_you"
        await pilot.click("#d-checks", offset=(4, 1))  # the second check: a click ticks it
        await until(pilot, lambda: status(app, "confirm") == "done", what="confirm done")
        toggles = events(app, ev.CHECK_TOGGLED)
        assert [(e.data["index"], e.data["checked"], e.actor) for e in toggles] == [(0, True, "alice"),
                                                                                    (1, True, "alice")]


async def test_follow_tail_unless_scrolled_up(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        store = app.view.store
        log = app.screen.query_one("#main-log", Log)
        store.add("build", 1, "main", "".join(f"a{i}\n" for i in range(200)))
        await until(pilot, lambda: log.line_count == 200 and log.is_vertical_scroll_end, what="the tail")
        log.scroll_home(animate=False)
        await pilot.pause()
        store.add("build", 1, "main", "".join(f"b{i}\n" for i in range(50)))
        await until(pilot, lambda: log.line_count == 250)
        assert log.scroll_y == 0  # the operator reads; new lines do not yank the view
        log.scroll_end(animate=False)
        await pilot.pause()
        store.add("build", 1, "main", "c\n")
        await until(pilot, lambda: log.line_count == 251)
        await pilot.pause()
        assert log.is_vertical_scroll_end


# ---- timers with an injected clock --------------------------------------------------------------------
async def test_gate_counts_down_refuses_and_opens_with_the_clock(make_app, clock):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "scale-in")
        assert status(app, "scale-in") == "waiting"
        digits = app.screen.query_one("#d-digits", Digits)
        assert digits.value == "0:15:00"
        await pilot.press("r")  # gated: the engine refuses, the screen says why
        await pilot.pause()
        assert any("gated until" in n.message for n in app._notifications)
        assert not app.current_run.state.steps["scale-in"].activated
        clock.advance(600)
        app.second()
        await pilot.pause()
        assert app.screen.query_one("#d-digits", Digits).value == "0:05:00"
        clock.advance(300)
        app.second()
        await until(pilot, lambda: status(app, "scale-in") == "pending" and
                    app.current_run.state.steps["scale-in"].gate_open, what="gate open")
        assert any("gate is open" in a for a in app.attention)  # the bell rang
        await pilot.press("r")
        await until(pilot, lambda: status(app, "scale-in") == "done", what="scale-in")


async def test_override_gate_with_reason(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "scale-in")
        await pilot.press("o")
        assert isinstance(app.screen, ReasonDialog)
        await pilot.press(*"CAB approved", "enter")
        await until(pilot, lambda: app.current_run.state.steps["scale-in"].gate_open)
        o = events(app, ev.OVERRIDE)[-1]
        assert (o.step, o.data["what"], o.data["reason"]) == ("scale-in", "gate", "CAB approved")


async def test_wait_step_counts_down_in_large_digits(make_app, clock):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "soak")
        assert app.screen.query_one("#d-digits", Digits).value == "1:00:00"
        await pilot.press("1")
        clock.advance(3599)
        app.second()
        await pilot.pause()
        assert app.screen.query_one("#d-digits", Digits).value == "0:00:01"
        assert status(app, "soak") == "waiting"
        clock.advance(1)
        app.second()
        await until(pilot, lambda: status(app, "soak") == "done", what="soak done")
        assert any("wait is over" in a for a in app.attention)


# ---- decisions, skip, danger -------------------------------------------------------------------------------
async def test_decision_goto_enters_rollback(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "go")
        await pilot.press("1")  # a criterion
        await pilot.press("enter")  # Enter on the step: to its options
        await until(pilot, lambda: isinstance(app.focused, DecisionList), what="the options")
        await pilot.press("2")  # a number chooses
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="the reason")
        await pilot.press(*"errors for users", "enter")
        await until(pilot, lambda: app.current_run.state.current == "restore", what="rollback")
        d = events(app, ev.DECISION)[0]
        assert (d.data["label"], d.data["goto"], d.data["reason"]) == ("Roll back", "rollback", "errors for users")
        assert d.data["criteria"] == ["Errors visible to users"]
        await until(pilot, lambda: app.screen.query_one(StepList).selected_step == "restore")
        assert "Restore the previous release" in detail_text(app)
        await pilot.press("r")
        await until(pilot, lambda: app.current_run.state.outcome == "completed_on_demand", what="end")


async def test_decision_button_click(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "go")
        await pilot.click("#d-options", offset=(3, 0))
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="the reason")
        await pilot.press("enter")  # no reason needed
        await until(pilot, lambda: app.current_run.state.current == "announce")


async def test_jump_to_rollback_with_reason(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("b")
        await pilot.press(*"bad build", "enter")
        await until(pilot, lambda: app.current_run.state.current == "restore")
        assert events(app, ev.JUMP)[0].data == {"target": "rollback", "reason": "bad build", "then": None,
                                            "planned": False}


async def test_skip_needs_a_reason(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("s")
        await pilot.press("enter")
        assert isinstance(app.screen, ReasonDialog)
        assert "reason is needed" in str(app.screen.query_one("#error", Label).render())
        await pilot.press(*"built yesterday", "enter")
        await until(pilot, lambda: status(app, "build") == "skipped")
        assert events(app, ev.SKIPPED)[0].data["reason"] == "built yesterday"
        await pilot.press("s", "escape")  # Escape cancels: nothing recorded
        assert len(events(app, ev.SKIPPED)) == 1


async def test_danger_step_needs_the_environment_typed(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await reach(pilot, app, "recycle")
        await pilot.press("r")
        assert isinstance(app.screen, DangerDialog)
        await pilot.press(*"prod", "enter")
        assert "not 'staging'" in str(app.screen.query_one("#error", Label).render())
        assert not app.current_run.state.steps["recycle"].activated
        await pilot.press(*["backspace"] * 4, *"staging", "enter")
        await until(pilot, lambda: status(app, "recycle") == "done")


# ---- failure, re-run, mark, resume --------------------------------------------------------------------------
FAILING = '''
[runbook]
id = "failing"
title = "Failing"
[[steps]]
id = "flaky"
title = "Flaky"
run = "test -f {{ flag }} && echo ok || { echo missing >&2; exit 3; }"
[[steps]]
id = "after"
title = "After"
checks = ["ok"]
[vars.flag]
default = "/nonexistent"
'''


async def test_failed_step_rerun_and_mark(make_app, make_book, tmp_path):
    flag = tmp_path / "flag"
    app = make_app(make_book(FAILING), {"flag": str(flag)})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("r")
        await until(pilot, lambda: status(app, "flaky") == "failed")
        assert "exit code 3" in detail_text(app)
        assert any("failed" in a for a in app.attention)
        flag.write_text("")
        await pilot.press("R", *"flag created", "enter")
        await until(pilot, lambda: status(app, "flaky") == "done")
        assert app.current_run.state.steps["flaky"].attempt == 2
        await pilot.press("up", "f", *"wrong env", "enter")  # marks are allowed after the fact
        await until(pilot, lambda: status(app, "flaky") == "failed")
        assert events(app, ev.MARKED)[-1].data == {"status": "failed", "reason": "wrong env"}


async def test_resume_shows_interrupted_step(journal, clock, make_book):
    book = make_book(FAILING)
    from deploytui.engine.run import Run

    run = Run.start(journal, book, {"flag": "/x"}, operator="alice", clock=clock)
    run.emit(ev.StepStarted(attempt=1, command="sleep 100"), step="flaky", actor="alice")  # then the laptop died
    app = build_app(journal=journal, book=None, resume_id=run.run_id, operator="bob", clock=clock, blink=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
            assert status(app, "flaky") == "interrupted"
            assert app.screen.query_one(StepList).selected_step == "flaky"
            text = detail_text(app)
            assert "Interrupted" in text
            shown = {b.id for b in app.screen.query("#d-actions Button") if b.display}
            assert shown >= {"act-rerun", "act-done", "act-failed"}
            await pilot.click("#act-done")
            await pilot.press(*"it finished before the crash", "enter")
            await until(pilot, lambda: status(app, "flaky") == "done")
            m = events(app, ev.MARKED)[0]
            assert m.actor == "bob" and m.data["status"] == "done"
    finally:
        app.current_run.close()


async def test_resume_shows_what_changed_in_the_runbook(journal, clock, make_book, tmp_path):
    from deploytui.engine.run import Run
    from deploytui.tui.screens.dialogs import DiffDialog

    book = make_book(FAILING)
    run = Run.start(journal, book, {"flag": "/x"}, operator="alice", clock=clock)
    run.close()
    path = tmp_path / "book.toml"
    path.write_text(path.read_text().replace('title = "', 'title = "Fixed: ', 1))
    app = build_app(journal=journal, book=None, resume_id=run.run_id, operator="bob", clock=clock, blink=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DiffDialog))
            shown = app.export_screenshot().replace("&#160;", " ")
            assert "+title = &quot;Fixed: " in shown or '+title = &#34;Fixed: ' in shown, "diff not on screen"
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DriveScreen))
        assert [e for e in events(app, ev.RUNBOOK_CHANGED)][0].data["new_sha"] == app.book.sha256
    finally:
        app.current_run.close()


# ---- suspend, quit ------------------------------------------------------------------------------------------
INTERACTIVE = '''
[runbook]
id = "inter"
title = "Interactive"
[[steps]]
id = "login"
title = "Log in"
interactive = true
run = "exit 4"
'''


async def test_interactive_step_hands_over_and_records_exit_code(make_app, make_book):
    app = make_app(make_book(INTERACTIVE))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("r")
        await until(pilot, lambda: status(app, "login") == "failed")
        [done] = events(app, ev.COMMAND_FINISHED)
        assert done.data["exit_code"] == 4
        [tail], _ = app.current_run.journal.tail(app.current_run.run_id, "login", lines=1)
        assert tail.startswith("(interactive: exit 4 after")


SLOW = '''
[runbook]
id = "slow"
title = "Slow"
[[steps]]
id = "long"
title = "Long"
run = "echo started; sleep 60"
'''


async def test_quit_during_a_command_asks_kills_and_records(make_app, make_book):
    app = make_app(make_book(SLOW))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("r")
        await until(pilot, lambda: app.view.store.total("long", "main") == 1, what="command started")
        await pilot.press("q")
        assert isinstance(app.screen, StopDialog)
        await pilot.press("escape")
        assert status(app, "long") == "running"
        t0 = time.monotonic()
        await pilot.press("q")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: not app.is_running, timeout=15, what="exit")
    assert time.monotonic() - t0 < 10
    [done] = events(app, ev.COMMAND_FINISHED)
    assert not done.data["ok"] and "quit" in done.data["error"]
    assert app.current_run.state.outcome is None  # resumable


async def test_quitting_mid_deploy_asks_and_says_how_to_resume(make_app, make_book):
    app = make_app(make_book(SLOW))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        said = " ".join(str(x.render()) for x in app.screen.query(Label))
        assert f"deploytui run --resume {app.current_run.run_id}" in said and "Running" not in said
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, what="exit")
    assert app.current_run.state.outcome is None


async def test_a_finished_run_quits_without_asking_and_shows_how_to_export(make_app, make_book):
    app = make_app(make_book('[runbook]\nid = "q"\ntitle = "Q"\n[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n'))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, EndDialog), what="the end of the run")
        shown = screen_text(app)
        run_id = app.current_run.run_id
        for command in (f"deploytui export {run_id}", f"deploytui show {run_id}", f"deploytui follow {run_id}"):
            assert command in shown
        # the keys' hint wraps inside the dialog rather than losing its end (seen cut at 120x40)
        hint = app.screen.query_one("#end > .hint")
        text = str(hint.render())
        assert text.endswith("Esc goes back to the run")
        assert hint.size.width < len(text) <= hint.size.width * hint.size.height
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="exit")


# ---- palette, copy, note, panes, resize ------------------------------------------------------------------------
async def test_every_action_is_in_the_command_palette(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        titles = {c.title for c in app.screen.commands()}
        assert {"Run the step's command", "Re-run the step (with a reason)", "Skip the step (with a reason)",
                "Mark the step done (with a reason)", "Mark the step failed (with a reason)",
                "Override the gate, schedule or deadline (with a reason)", "Jump to an on-demand section (rollback)",
                "Add a note to the journal", "Copy the step's command", "Dark / light theme",
                "Export the deploy record (md, html, json)", "Quit", "Help: every key",
                "Search the output", "Full output (from the journal, searchable)", "Abort the run"} <= titles
        await pilot.press("ctrl+p")
        await pilot.press(*"Add a note")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="note dialog")
        await pilot.press(*"paged the DBA", "enter")
        await until(pilot, lambda: events(app, ev.NOTE))
        assert events(app, ev.NOTE)[0].data["text"] == "paged the DBA"


async def test_copy_command_and_toggle_theme(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("c")
        assert app.clipboard == app.current_run.resolved_command(app.book.step("build"))
        assert "clipboard" in " ".join(str(n.message) for n in app._notifications)
        dark = app.current_theme.dark
        await pilot.press("t")
        assert app.current_theme.dark != dark


PANES = '''
[runbook]
id = "panes"
title = "Panes"
[[steps]]
id = "watch"
title = "Watch the fleet"
run = "echo main-line; sleep 30"
  [[steps.panes]]
  title = "Tail"
  tail = "echo tail-line; echo READY; sleep 30"
  until = "READY"
  [[steps.panes]]
  title = "Health"
  watch = "echo healthy"
  every = "1s"
'''


async def test_live_panes_side_by_side_or_tabs_and_relayout_on_resize(make_app, make_book):
    app = make_app(make_book(PANES))
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("r")
        await until(pilot, lambda: 0 in app.current_run.state.steps["watch"].panes_done, what="until matched")
        area = app.screen.query_one(OutputArea)
        assert area.wide and not app.screen.query(TabbedContent)
        logs = {log.stream: log for log in app.screen.query(OutputLog)}
        await until(pilot, lambda: logs["pane1"].line_count >= 1 and logs["main"].line_count >= 1)
        assert logs["pane0"].lines[:2] == ["tail-line", "READY"]
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: app.screen.query(TabbedContent), what="tabs")
        area = app.screen.query_one(OutputArea)
        assert not area.wide
        await until(pilot, lambda: app.screen.query_one("#main-log", Log).line_count == 1, what="refill")
        await pilot.resize_terminal(250, 70)
        await until(pilot, lambda: not app.screen.query(TabbedContent), what="side by side")
        app.current_run.close()


async def test_export_writes_the_record_to_the_configured_directory_and_says_where(make_app, tmp_path,
                                                                                   settings_file):
    settings_file.parent.mkdir()
    settings_file.write_text(f'export_dir = "{tmp_path / "records"}"\n')
    app = make_app(flow(), {"rc": "7"})
    tmp_path = tmp_path / "records"  # made by the export: jump hosts have no ~/Downloads
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ChoiceDialog), what="the formats")
        await pilot.press("1")
        run_id = app.current_run.run_id
        saved = tmp_path / f"deploy-record-{run_id}.md"
        await until(pilot, saved.exists)
        await until(pilot, lambda: saved.read_text().endswith("\n"))
        assert any(str(saved) in str(n.message) for n in app._notifications)
    text = saved.read_text()
    assert text.startswith("# Deploy record:") and run_id in text


async def test_quitting_a_rehearsal_says_how_to_bring_its_world_back(make_app, make_book):
    app = make_app(make_book(SLOW), rehearsal=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail))
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        said = " ".join(str(x.render()) for x in app.screen.query(Label))
        # `run --resume` refuses a rehearsal: the way back is through its world
        assert f"deploytui rehearse --resume {app.current_run.run_id}" in said and "run --resume" not in said
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, what="exit")
