"""The format's additions on the screen (Pilot): repeated items in the step list, prompt steps, detours that
come back and steps a goto left behind, and every text a person reads rendered through the run."""

from __future__ import annotations

from textual.widgets import Input, Label, TabbedContent

from deploytui.events import kinds as ev
from deploytui.tui.screens.dialogs import AnswerDialog, ReasonDialog
from deploytui.tui.screens.run import DriveScreen
from deploytui.tui.screens.start import VarsForm
from deploytui.tui.widgets.choices import CheckList, DecisionList
from deploytui.tui.widgets.detail import IntentButton, StepDetail
from deploytui.tui.widgets.header import RunHeader
from deploytui.tui.widgets.steplist import StepList

from .conftest import events, status, until

UPGRADE = '''
[runbook]
id = "k8s"
title = "Upgrade {{ cluster }} to {{ version }}"
environment = "{{ cluster }}"
[vars.cluster]
default = "prod-eu"
[vars.version]
default = "1.30.2"
[vars.workers]
default = "worker-1 worker-2"
[vars.severity]
choices = ["1", "2"]
default = "2"
[[sections]]
id = "per-node"
title = "Each worker"
each = "node in workers"
[[steps]]
id = "drain"
section = "per-node"
title = "Drain {{ node }}"
checks = ["{{ node }} shows SchedulingDisabled"]
[[steps]]
id = "upgrade"
section = "per-node"
title = "Upgrade the kubelet on {{ node }}"
run = "echo upgraded {{ node }}"
  [[steps.panes]]
  title = "Pods on {{ node }}"
  tail = "echo no pods; sleep 30"
  until = "no pods on {{ node }}"
[[steps]]
id = "healthy"
title = "Healthy?"
decide = { question = "Is {{ cluster }} healthy on {{ version }}?", options = [
  { label = "Yes, {{ cluster }} is fine" },
  { label = "Recover", goto = "recover" },
  { label = "Roll back {{ version }}", goto = "rollback" },
] }
[[steps]]
id = "announce"
title = "Announce {{ version }}"
checks = ["Announced"]
[[sections]]
id = "recover"
title = "Recover {{ cluster }}"
on_demand = true
then = "return"
[[steps]]
id = "fix"
section = "recover"
title = "Fix it"
checks = ["Fixed"]
[[sections]]
id = "rollback"
title = "Roll back"
on_demand = true
[[steps]]
id = "undo"
section = "rollback"
title = "Undo"
checks = ["Undone"]
'''


def rows(app) -> list[str]:
    steps = app.screen.query_one(StepList)
    return [str(steps.get_option_at_index(i).prompt) for i in range(steps.option_count)
            if steps.get_option_at_index(i) is not None]


def detail_text(app) -> str:
    """The detail's words: its labels, its checks and its options."""
    d = app.screen.query_one(StepDetail)
    return " ".join([str(w.render()) for w in d.query(Label)] + d.query_one(CheckList).labels
                    + d.query_one(DecisionList).labels)


async def on_screen(pilot, app):
    await until(pilot, lambda: isinstance(app.screen, DriveScreen) and app.screen.query_one(StepDetail),
                what="run screen")


async def test_each_item_has_its_row_its_status_and_its_rendered_texts(make_app, make_book):
    app = make_app(make_book(UPGRADE))
    async with app.run_test(size=(140, 40)) as pilot:
        await on_screen(pilot, app)
        header = app.screen.query_one(RunHeader)
        assert str(header.query_one("#hdr-title", Label).render()) == "Upgrade prod-eu to 1.30.2"
        listed = rows(app)
        assert [r.strip() for r in listed[:7]] == [
            "EACH WORKER", "worker-1", "›● Drain worker-1", "○ Upgrade the kubelet on worker-1",
            "worker-2", "○ Drain worker-2", "○ Upgrade the kubelet on worker-2"]
        assert "› " not in listed[5]  # one at a time: worker-2 waits
        assert "worker-1 shows SchedulingDisabled" in detail_text(app)
        await pilot.press("1")
        await until(pilot, lambda: status(app, "drain[worker-1]") == "done", what="drain worker-1")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "upgrade[worker-1]",
                    what="the detail follows the run to the item's next step")
        tabs = app.screen.query_one(TabbedContent)
        assert [str(t.label) for t in tabs.query("Tab")] == ["Output", "Pods on worker-1"]  # pane titles rendered
        await pilot.press("r")
        await until(pilot, lambda: app.current_run.state.steps["upgrade[worker-1]"].command_ok, what="upgrade")
        assert "Waiting for: pane Pods on worker-1 waiting for /no pods on worker-1/" in detail_text(app)
        assert "✓ Drain worker-1" in rows(app)[2]


async def test_a_decision_reads_rendered_labels_and_a_detour_comes_back(make_app, make_book):
    app = make_app(make_book(UPGRADE))
    async with app.run_test(size=(140, 40)) as pilot:
        await on_screen(pilot, app)
        run = app.current_run
        for node in ("worker-1", "worker-2"):
            run.tick(f"drain[{node}]", 0)
            run.skip(f"upgrade[{node}]", "done by hand")
        await until(pilot, lambda: app.screen.query_one(StepDetail).step_id == "healthy", what="decision")
        assert "Is prod-eu healthy on 1.30.2?" in detail_text(app)
        options = app.screen.query_one(DecisionList)
        # where an option leads, by that section's title; not repeated when the label says it already
        assert options.labels == ["Yes, prod-eu is fine", "Recover → Recover prod-eu", "Roll back 1.30.2"]
        await pilot.press("enter")
        await until(pilot, lambda: options.has_focus, what="the options")
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="reason")
        assert app.screen.title_text == "Is prod-eu healthy on 1.30.2? → Recover"
        await pilot.press(*"pods crash", "enter")
        await until(pilot, lambda: run.state.current == "fix", what="the detour")
        assert any(r.strip().startswith("RECOVER PROD-EU") or "RECOVER PROD-EU" in r for r in rows(app))
        await pilot.press("1")
        await until(pilot, lambda: run.state.current == "announce", what="back on the main path")


async def test_a_one_way_goto_leaves_the_rest_abandoned_not_pending(make_app, make_book):
    app = make_app(make_book(UPGRADE))
    async with app.run_test(size=(140, 40)) as pilot:
        await on_screen(pilot, app)
        run = app.current_run
        for node in ("worker-1", "worker-2"):
            run.tick(f"drain[{node}]", 0)
            run.skip(f"upgrade[{node}]", "done by hand")
        run.decide("healthy", 2, "bad")
        await until(pilot, lambda: run.state.current == "undo", what="rollback")
        announce = next(r for r in rows(app) if "Announce" in r)
        assert "– Announce 1.30.2" in announce and "○" not in announce
        app.screen.query_one(StepList).select_step("announce")
        await until(pilot, lambda: "Not on this run's path" in detail_text(app), what="its detail")


PROMPT = '''
[runbook]
id = "p"
title = "Prompt"
[vars.target]
prompt = "Version to upgrade to"
pattern = '^\\d+\\.\\d+\\.\\d+$'
[[steps]]
id = "ask"
title = "Which version?"
ask = "target"
[[steps]]
id = "plan"
title = "Plan the upgrade to {{ target }}"
run = "echo {{ target }}"
'''


async def test_a_prompt_step_asks_in_a_dialog_with_the_forms_rules(make_app, make_book):
    app = make_app(make_book(PROMPT), form=None)  # no form: the only variable is asked mid-run
    async with app.run_test(size=(120, 30)) as pilot:
        await on_screen(pilot, app)
        assert "Plan the upgrade to ‹target›" in " ".join(rows(app))
        assert "Waiting for: a value for target" in detail_text(app)
        assert "Answer: a value for target" in [c.title for c in app.screen.commands()]  # in the palette too
        assert [b.word for b in app.screen.query(IntentButton) if b.display][0] == "Answer"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AnswerDialog), what="the question")
        await pilot.press(*"1.30", "enter")
        assert "does not match" in str(app.screen.query_one("#error", Label).render())
        await pilot.press(*".2", "enter")
        await until(pilot, lambda: app.current_run.state.current == "plan", what="answered")
        assert events(app, ev.ANSWERED)[0].data["value"] == "1.30.2"
        assert "Plan the upgrade to 1.30.2" in " ".join(rows(app))


DEFAULTS = '''
[runbook]
id = "d"
title = "Release {{ tag }}"
[vars.version]
prompt = "Version"
[vars.tag]
default = "v{{ version }}"
[[steps]]
id = "tag"
title = "Tag {{ tag }}"
run = "echo {{ tag }}"
'''


async def test_the_form_asks_for_a_value_a_default_needs_and_fills_the_default_from_it(make_app, make_book):
    app = make_app(make_book(DEFAULTS), form=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VarsForm), what="the form")
        assert app.screen.query_one("#var-tag", Input).placeholder == "leave empty for v{{ version }}"
        app.screen.query_one("#var-version", Input).focus()
        await pilot.press(*"2.4.0", "ctrl+s")
        await on_screen(pilot, app)
        assert app.current_run.state.vars == {"version": "2.4.0", "tag": "v2.4.0"}
        assert app.current_run.state.info["title"] == "Release v2.4.0"


RECURRING = '''
[runbook]
id = "inc"
title = "Incident"
[[steps]]
id = "update"
title = "Post a status update"
every = "30m"
until = "steps.resolve.status == 'done'"
checks = ["Posted"]
[[steps]]
id = "resolve"
title = "Resolve"
checks = ["Resolved"]
'''


async def test_occurrences_of_a_recurring_step_are_listed_under_it(make_app, make_book, clock):
    app = make_app(make_book(RECURRING))
    async with app.run_test(size=(120, 30)) as pilot:
        await on_screen(pilot, app)
        run = app.current_run
        await until(pilot, lambda: any("Post a status update · #1" in r for r in rows(app)), what="occurrence 1")
        assert any("Post a status update  (every 30m)" in r for r in rows(app))
        run.tick("update[1]", 0)
        clock.advance(1800)
        app.second()
        await until(pilot, lambda: any("Post a status update · #2" in r for r in rows(app)), what="occurrence 2")
        app.screen.query_one(StepList).select_step("update")
        await until(pilot, lambda: "Every 30m: 2 so far" in detail_text(app), what="the recurring step's detail")


async def test_a_follower_lists_the_items_and_their_rendered_titles(tmp_path, make_book):
    from deploytui.engine.run import Run
    from deploytui.follow.feed import follow
    from deploytui.journal import Journal
    from deploytui.runbook.variables import resolve
    from deploytui.tui.follow import FollowApp

    book = make_book(UPGRADE)
    values, _ = resolve(book, {})
    run = Run.start(Journal(tmp_path / "f.sqlite3"), book, values, operator="alice")
    try:
        run.tick("drain[worker-1]", 0)
        app = FollowApp(follow(tmp_path / "f.sqlite3"), blink=False)
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: any("Drain worker-2" in r for r in rows(app)), what="items on the follower")
            listed = [r.strip() for r in rows(app)]
            assert "✓ Drain worker-1" in listed and "worker-2" in listed
            assert str(app.screen.query_one(RunHeader).query_one("#hdr-title", Label).render()) == \
                "Upgrade prod-eu to 1.30.2"
            run.abort("seen enough")  # the follower's feed ends with the run
            await until(pilot, lambda: app.follow.state.outcome == "aborted", what="the follower to see the end")
    finally:
        run.close()
