"""Finding one's way on the driver's screen (issue 15): help for every key, the palette, j/k, search, the full
output in the app, decisions and checks that fit 80x24, evidence beside a decision, an activity line, what a
gated step says, the rehearsal's two commands, and buttons and keys that are exactly what the engine allows.
The screen-size dependent ones run at 80x24, 120x40 and 250x70."""

from __future__ import annotations

import pytest
from textual.css.query import NoMatches
from textual.widgets import Label

from deploytui.engine import planner
from deploytui.events import kinds as ev
from deploytui.tui.keys import COMMON, DRIVE
from deploytui.tui.output import Table
from deploytui.tui.screens.dialogs import ReasonDialog, SearchBar
from deploytui.tui.screens.help import ActivityScreen, HelpScreen
from deploytui.tui.screens.output import FullOutputScreen, JournalLog
from deploytui.tui.screens.run import DriveScreen
from deploytui.tui.widgets.bars import ActivityLine, KeyBar
from deploytui.tui.widgets.choices import CheckList, DecisionList, fit_words
from deploytui.tui.widgets.detail import CommandBox, IntentButton, StepDetail
from deploytui.tui.widgets.panes import LivePane, OutputArea, fit_columns, fit_titles
from deploytui.tui.widgets.steplist import StepList

from .conftest import events, status, until
from .test_app import flow, reach, screen_text

SIZES = [(80, 24), (120, 40), (250, 70)]
sizes = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")


async def on_screen(pilot, app) -> None:
    await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail).step_id,
                what="the run screen")


def notes(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


# ---- help, palette, keys ------------------------------------------------------------------------------------
@sizes
async def test_help_lists_every_key_with_what_the_engine_allows_now(make_app, size):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            text = screen_text(app) if size != (80, 24) else ""
            shown = " ".join(f"{key} {label.plain}" for rows in app.screen.rows().values() for key, label in rows)
            for k in DRIVE + COMMON:
                if not k.action.startswith("tick(") or k.display == "1-9":
                    assert k.label in shown, k.label
            why = app.current_run.allowed("build").why_not(planner.RERUN)
            assert why and why in shown  # a key that does nothing now says why
            if text:
                assert "Keys" in text
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DriveScreen), what="back")


@sizes
async def test_the_whole_help_can_be_read_on_screen(make_app, size):
    # the body was taller than the dialog at 120x40 and 80x24: "The app" group was cut off and would not scroll
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await until(pilot, lambda: "Esc closes" in screen_text(app), what="the hint under the keys")
        await pilot.press("end")
        await until(pilot, lambda: "The app" in screen_text(app), what="the last group, scrolled to")
        assert "Esc closes" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DriveScreen), what="back")


async def test_j_and_k_move_like_the_arrows(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(100, 30)) as pilot:
        await on_screen(pilot, app)
        steps = app.screen.query_one(StepList)
        await pilot.press("j")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "confirm", what="j")
        assert steps.selected_step == "confirm"
        await pilot.press("k")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "build", what="k")
        await pilot.press("down", "down")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "recycle", what="arrows")


LONG = "[runbook]\nid = \"long\"\ntitle = \"Long\"\n" + "".join(
    f'[[steps]]\nid = "s{i}"\ntitle = "Step {i}"\nchecks = ["ok"]\n' for i in range(40))


def in_sight(steps: StepList, step_id: str) -> bool:
    line = steps._index_to_line[steps.get_option_index(step_id)]
    return steps.scroll_offset.y <= line < steps.scroll_offset.y + steps.scrollable_content_region.height


async def test_the_selected_step_stays_in_sight_when_the_terminal_shrinks_and_g_brings_it_back(make_app, make_book):
    app = make_app(make_book(LONG))
    async with app.run_test(size=(120, 40)) as pilot:
        await on_screen(pilot, app)
        for i in range(30):
            app.current_run.tick(f"s{i}", 0)
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "s30", what="step 30 current")
        steps = app.screen.query_one(StepList)
        await until(pilot, lambda: in_sight(steps, "s30"), what="in sight at 120x40")
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: in_sight(steps, "s30"), what="in sight at 80x24")
        steps.scroll_home(animate=False)
        await until(pilot, lambda: not in_sight(steps, "s30"), what="scrolled away")
        await pilot.press("g")
        await until(pilot, lambda: in_sight(steps, "s30"), what="g brings the current step back")


async def test_the_palette_has_each_check_option_and_pane(make_app, make_book):
    app = make_app(make_book(PANES_AND_CHECKS))
    async with app.run_test(size=(120, 40)) as pilot:
        await on_screen(pilot, app)
        await pilot.press("r")
        await until(pilot, lambda: status(app, "watch") == "needs_you", what="the panes")
        titles = [c.title for c in app.screen.commands()]
        assert "Tick check 1: Looked at the tail" in titles and "Tick check 2: Looked at health" in titles
        assert "Switch to pane: Tail" in titles and "Switch to pane: Health" in titles
        assert "End a pane's wait (with a reason)" in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"Tick check 2")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.current_run.state.steps["watch"].checks == [False, True], what="ticked")
        await pilot.press("ctrl+p")
        await pilot.press(*"End a pane")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="end the pane's wait")


PANES_AND_CHECKS = '''
[runbook]
id = "pc"
title = "Panes and checks"
[[steps]]
id = "watch"
title = "Watch the fleet"
run = "echo main-line"
checks = ["Looked at the tail", "Looked at health"]
  [[steps.panes]]
  title = "Tail"
  tail = "echo tail-line; sleep 30"
  until = "NEVER"
  [[steps.panes]]
  title = "Health"
  watch = "echo healthy"
  every = "1s"
'''


STALE = PANES_AND_CHECKS + '''
[[steps]]
id = "confirm"
title = "Confirm by hand"
checks = ["Told the channel"]
[[steps]]
id = "tag"
title = "Tag the release"
run = "echo tagged"
'''


@sizes
async def test_a_step_shows_its_own_outputs_after_a_step_with_none(make_app, make_book, size):
    # a step without output (checks only) between a step with panes and a command step left the panes' tabs
    # on the command step (seen on login.gov's "Tag the release", showing the recycle's servers)
    app = make_app(make_book(STALE))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "watch", what="the first step")
        area = app.screen.query_one(OutputArea)
        await until(pilot, lambda: len(area.query(LivePane)) == 3, what="the step's three outputs")
        for key, step in (("j", "confirm"), ("j", "tag")):
            await pilot.press(key)
            await until(pilot, lambda s=step: app.screen.query_one(StepDetail).step_id == s, what=step)
        await until(pilot, lambda: [p.source.step for p in area.query(LivePane)] == ["tag"], what="tag's own output")
        assert not area.query("TabbedContent")


# ---- search and the full output -------------------------------------------------------------------------------
@sizes
async def test_slash_searches_the_output_on_screen(make_app, size):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        await pilot.press("r")
        await until(pilot, lambda: app.current_run.state.steps["build"].command_ok, what="build")
        await pilot.press("k")
        log = app.screen.query_one("#main-log")
        await until(pilot, lambda: log.line_count >= 3002, what="the output")
        await pilot.press("slash")
        bar = app.screen.query_one(SearchBar)
        await until(pilot, lambda: bar.has_class("open"), what="the search bar")
        await pilot.press(*"^1234$")
        await until(pilot, lambda: "matching lines" in str(bar.query_one("#search-said").render()), what="found")
        y = next(i for i in range(log.line_count) if log.plain(i) == "1234")
        assert log.scroll_y <= y < log.scroll_y + log.size.height  # on screen
        strip = log.render_line(y - int(log.scroll_y))
        assert any(seg.style and seg.style.bgcolor for seg in strip if "1234" in seg.text)  # marked
        await pilot.press("escape")
        await until(pilot, lambda: not bar.has_class("open") and log.pattern is None, what="closed")


@sizes
async def test_the_full_output_opens_in_the_app_from_the_journal(make_app, make_book, size):
    book = make_book('[runbook]\nid = "f"\ntitle = "F"\n[[steps]]\nid = "s"\ntitle = "S"\nrun = "seq 1 50000"\n'
                     'checks = ["read it"]\n')
    app = make_app(book)
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        await pilot.press("r")
        await until(pilot, lambda: app.current_run.state.steps["s"].command_ok, what="the command")
        pane = app.screen.query_one(LivePane)  # the log holds the last 5,000 lines and says so
        await until(pilot, lambda: pane.hidden == 45000 and pane.earlier.display, what="the earlier-lines marker")
        assert str(pane.earlier.render()) == "▲ 45,000 earlier lines not shown here · O shows all"
        await pilot.press("O")
        await until(pilot, lambda: isinstance(app.screen, FullOutputScreen), what="the full output")
        lines = app.screen.source
        assert lines.total == 50000 and lines.line(0) == "1" and lines.line(49999) == "50000"
        assert [lines.line(i) for i in range(12344, 12347)] == ["12345", "12346", "12347"]
        await pilot.press("slash")
        await until(pilot, lambda: "search all of the output" in screen_text(app), what="the search box, seen")
        await pilot.press(*"^123$", "enter")
        log = app.screen.query_one(JournalLog)
        await until(pilot, lambda: app.screen.matches == [122], what="the search of all of it")
        assert log.current == 122
        said = app.screen.query_one("#fo-status", Label)
        await until(pilot, lambda: "· 1 match for /^123$/" in str(said.render()), what="one match, in words")
        await pilot.press("slash", *"^4999[0-9]$", "enter")
        await until(pilot, lambda: len(app.screen.matches) == 10, what="ten matches")
        await pilot.press("n")
        assert log.current in app.screen.matches
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DriveScreen), what="back")


# ---- decisions and checks that fit ----------------------------------------------------------------------------
SIX = '''
[runbook]
id = "six"
title = "Six options"
[[steps]]
id = "pick"
title = "Which way?"
body = """A long body that explains the situation at length, so that the options must share the screen with it,
as the real runbooks do when a decision needs its criteria spelt out in two or three sentences."""
decide = { question = "Which of the six ways do we go?", options = [
''' + ",\n".join(f'  {{ label = "Option number {i}: a label long enough to wrap at eighty columns of terminal width" }}'
                 for i in range(1, 7)) + ''' ] }
[[steps]]
id = "after"
title = "After"
checks = ["done"]
'''


@sizes
async def test_every_option_of_a_decision_is_visible_and_selectable(make_app, make_book, size):
    app = make_app(make_book(SIX))
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        await pilot.press("enter")
        options = app.screen.query_one(DecisionList)
        await until(pilot, lambda: app.focused is options, what="the options")
        for i in range(6):
            if i:
                await pilot.press("down")
            await pilot.pause()
            region = options.region  # the highlighted option is within what the screen shows
            line = options._index_to_line[i] - int(options.scroll_offset.y)
            assert 0 <= line < region.height and region.y + line < size[1] - 2, f"option {i + 1} off screen"
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="the reason")
        await pilot.press("enter")
        await until(pilot, lambda: events(app, ev.DECISION), what="decided")
        assert events(app, ev.DECISION)[0].data["option"] == 5


TWELVE = '''
[runbook]
id = "twelve"
title = "Twelve checks"
[[steps]]
id = "checks"
title = "Check everything"
checks = [
''' + ",\n".join(f'  "Check {i}: the load balancer answers on every listener in every region we serve from"'
                 for i in range(1, 13)) + ''' ]
'''


@sizes
async def test_checks_beyond_nine_have_a_way_and_long_labels_end_with_an_ellipsis(make_app, make_book, size):
    app = make_app(make_book(TWELVE))
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        assert "Tab to the checks" in str(app.screen.query_one("#d-status").render())
        checks = app.screen.query_one(CheckList)
        await pilot.press("9")
        await until(pilot, lambda: app.current_run.state.steps["checks"].checks[8], what="9 ticks the ninth")
        checks.focus()
        await pilot.press(*["down"] * 11, "space")
        await until(pilot, lambda: app.current_run.state.steps["checks"].checks[11], what="the twelfth")
        line = checks.render_line(0).text.rstrip()
        if size[0] < 200:  # cut where a word ends
            assert line.endswith("…")
            words = "Check 1: the load balancer answers on every listener in every region we serve from".split()
            assert line[:-1].split()[-1] in words
        else:
            assert line.endswith("we serve from")


def test_fit_words_cuts_after_a_whole_word():
    assert fit_words("Paged the on-call engineer", 40) == "Paged the on-call engineer"
    assert fit_words("Paged the on-call engineer", 20) == "Paged the on-call…"
    assert fit_words("Supercalifragilistic", 8) == "Superca…"


# ---- a narrow terminal -------------------------------------------------------------------------------------------
@sizes
async def test_the_title_and_the_essential_keys_stay(make_app, size):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        await pilot.pause()
        assert "Flow deploy" in str(app.screen.query_one("#hdr-title").render())
        assert app.screen.query_one("#hdr-title").region.width >= len("Flow deploy")
        bar = app.screen.query_one(KeyBar)
        shown = [h.key for h in bar.fitting(bar.size.width)]
        assert shown[0] == "?" and shown[-1] == "q" and "r" in shown and "s" in shown
        text = str(bar.render())
        assert "Help" in text and "Quit" in text and "Run" in text


# ---- panes that fit ------------------------------------------------------------------------------------------------
SERVERS = Table(["instance-id", "image-id", "name", "type", "az", "state", "launched", "uptime", "sha", "health"],
                [["i-0a1b2c3d4e5f60718", "ami-0123456789abcdef0", "prod-idp-1", "c5.xlarge", "us-west-2a", "running",
                  "2027-01-06T09:12:44Z", "6d 2h", "4f2a9c1", "healthy"],
                 ["i-0b2c3d4e5f6071829", "ami-0123456789abcdef0", "prod-idp-2", "c5.xlarge", "us-west-2b", "running",
                  "2027-01-06T09:12:51Z", "6d 2h", "4f2a9c1", "healthy"],
                 ["i-0d4e5f60718293041", "ami-0fedcba9876543210", "prod-idp-3", "c5.xlarge", "us-west-2c", "pending",
                  "2027-01-12T09:01:02Z", "2m", "9e1b7d0", "unknown"]], set())


def test_a_table_drops_its_least_useful_columns_first():
    names = lambda keep: [SERVERS.columns[c] for c in keep]  # noqa: E731
    assert names(fit_columns(SERVERS, 250)) == SERVERS.columns
    at80 = names(fit_columns(SERVERS, 80))
    assert {"instance-id", "state", "sha", "health"} <= set(at80)
    assert "type" not in at80 and "launched" not in at80  # the same in every row; the widest
    assert names(fit_columns(SERVERS, 30))[0] == "instance-id"


def test_tab_titles_fit_their_row():
    titles = fit_titles(["Output", "Check the current servers", "Check the IdP auto scaling group"], 60)
    assert titles[0] == "Output" and all(len(t) <= 16 for t in titles) and titles[1].endswith("…")


# ---- evidence, activity, gates ----------------------------------------------------------------------------------
EVIDENCE = '''
[runbook]
id = "ev"
title = "Evidence"
[[steps]]
id = "servers"
title = "List the servers"
auto = true
run = "echo i-0a1 running; echo i-0b2 running; echo i-0c3 pending"
[[steps]]
id = "sizes"
title = "Check the group sizes"
auto = true
run = "echo prod-idp desired 2 instances 3"
[[steps]]
id = "extra"
title = "Extra servers running?"
decide = { question = "More servers than desired?", options = [ { label = "No" }, { label = "Yes" } ] }
'''


@sizes
async def test_a_decision_shows_the_evidence_it_depends_on(make_app, make_book, size):
    app = make_app(make_book(EVIDENCE))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.current_run.state.current == "extra", what="the auto steps")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "extra", what="the decision")
        area = app.screen.query_one(OutputArea)
        assert [(s.step, s.evidence) for s in area.sources] == [("servers", True), ("sizes", True)]

        def log(step):  # asked each time: the area may rebuild its logs when the engine's next event arrives
            found = [log for log in area.query("OutputLog") if log.step == step]
            if not found:
                raise NoMatches(step)
            return found[0]

        if area.wide:
            await until(pilot, lambda: log("sizes").line_count == 1, what="side by side")
        else:
            area.switch(1)
            await until(pilot, lambda: log("sizes").line_count == 1, what="the second tab")
            area.switch(0)
        await until(pilot, lambda: log("servers").line_count == 3, what="the servers")
        assert log("servers").plain(2) == "i-0c3 pending"
        text = screen_text(app)
        assert "List the servers" in text or "List the serv…" in text


@sizes
async def test_steps_that_run_by_themselves_stay_visible(make_app, make_book, size):
    app = make_app(make_book(EVIDENCE))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.current_run.state.current == "extra", what="the auto steps")
        line = app.screen.query_one(ActivityLine)
        await until(pilot, lambda: "Extra servers running?: started" in str(line.render()), what="the line")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ActivityScreen), what="the feed")
        said = [s.text for _, s in app.screen.lines]
        assert "List the servers: command succeeded in 0s" in said and "Check the group sizes: done in 0s" in said
        assert said.index("List the servers: done in 0s") < said.index("Check the group sizes: started")


@sizes
async def test_r_on_a_gated_step_says_why_and_until_when(make_app, size):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        await reach(pilot, app, "scale-in")
        app.clear_notifications()
        await pilot.press("r")
        await until(pilot, lambda: "gated until" in notes(app), what="the reason")
        assert "override the gate" in notes(app)
        assert not app.current_run.state.steps["scale-in"].activated


# ---- rehearsal --------------------------------------------------------------------------------------------------
@sizes
async def test_a_rehearsal_shows_the_real_command_beside_its_stand_in(make_app, make_book, size):
    book = make_book('[runbook]\nid = "r"\ntitle = "R"\n[[steps]]\nid = "recycle"\ntitle = "Recycle"\n'
                     'run = "aws autoscaling start-instance-refresh --auto-scaling-group-name prod-idp"\n'
                     'rehearse = "echo pretending to refresh prod-idp"\n')
    app = make_app(book, rehearsal=True)
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        real = app.screen.query_one("#d-practised", CommandBox)
        stand_in = app.screen.query_one("#d-command", CommandBox)
        assert real.display and "start-instance-refresh" in real.command and "practised" in str(real.border_title)
        assert stand_in.command == "echo pretending to refresh prod-idp" and "stand-in" in str(stand_in.border_subtitle)
        assert real.region.y == stand_in.region.y  # beside it


# ---- what the engine allows, and nothing else ----------------------------------------------------------------------
async def test_buttons_and_keys_offer_exactly_what_the_engine_allows(make_app):
    app = make_app(flow(), {"rc": "7"})
    async with app.run_test(size=(160, 48)) as pilot:
        await on_screen(pilot, app)
        run = app.current_run
        detail = app.screen.query_one(StepDetail)

        async def check_every_step() -> None:
            for step in run.book.steps:
                app.screen.query_one(StepList).select_step(step.id)
                await until(pilot, lambda s=step.id: detail.step_id == s, what=step.id)
                allowed = run.allowed(step.id)
                shown = {b.intent for b in app.screen.query(IntentButton) if b.display}
                assert shown == {b.intent for b in app.screen.query(IntentButton) if b.intent in allowed}, step.id
                hints = {h.label for h in app.screen.hints()}
                for key in DRIVE:
                    if key.intent and key.rank:
                        assert ((key.short or key.label) in hints) == (key.intent in allowed), (step.id, key.label)

        await check_every_step()
        app.screen.query_one(StepList).select_step("build")
        await pilot.press("r")
        await until(pilot, lambda: run.state.steps["build"].command_ok, what="build")
        await check_every_step()


async def test_a_decision_without_checks_takes_its_number_from_anywhere(make_app, make_book):
    app = make_app(make_book(SIX))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app)
        assert "1-6 or Enter decides" in str(app.screen.query_one("#d-status").render())
        assert any(h.key == "1-6" and h.label == "Decide" for h in app.screen.hints())
        await pilot.press("enter", "3")  # Enter then a number at once: the number reaches the options
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="the reason")
        await pilot.press("escape")
        await pilot.press("escape")  # back to the step list
        await pilot.press("4")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="the reason")
        await pilot.press("enter")
        await until(pilot, lambda: events(app, ev.DECISION), what="decided")
        assert events(app, ev.DECISION)[0].data["option"] == 3
