"""The follower screen (Pilot): a headless driver in another process; the follower shows its step start,
output and tick within 1 s of their commit, and counts the wait down from the stored deadline."""

import time

from textual.widgets import Digits, Log

from deploytui.events import kinds as ev
from deploytui.follow.feed import follow
from deploytui.journal import Journal
from deploytui.tui.follow import FollowApp
from deploytui.tui.widgets.choices import CheckList
from deploytui.tui.widgets.detail import IntentButton
from deploytui.tui.widgets.steplist import StepList

LATENCY = 1.0


def prompt(app, step: str) -> str:
    return app.screen.query_one(StepList).get_option(step).prompt.plain


async def test_follow_screen_shows_driver_within_a_second(driver):
    proc, journal, run_id = driver
    app = FollowApp(follow(journal), blink=False)
    seen: dict[str, float] = {}
    async with app.run_test(size=(110, 32)) as pilot:
        end = time.monotonic() + 20
        while time.monotonic() < end and len(seen) < 5:
            await pilot.pause(0.05)
            now = time.time()
            if "build started" not in seen and prompt(app, "build").startswith("›▶"):
                seen["build started"] = now
            logs = app.screen.query("#main-log")
            if logs and "first line" not in seen and "first line" in logs.first(Log).lines:
                seen["first line"] = now
            if logs and "second line" not in seen and "second line" in logs.first(Log).lines:
                seen["second line"] = now
            if "confirm ticked" not in seen and prompt(app, "confirm").startswith(" ✓"):
                seen["confirm ticked"] = now
            digits = app.screen.query(Digits)
            if "soak countdown" not in seen and digits and prompt(app, "soak").startswith("›◷"):
                seen["soak countdown"] = now
                first_digits = str(digits.first().value)
                await pilot.pause(2.1)  # the screen ticks once a second
                later_digits = str(app.screen.query_one(Digits).value)
        assert set(seen) == {"build started", "first line", "second line", "confirm ticked", "soak countdown"}, seen
        # nothing on the follower's screen can change the run: no enabled checkbox, no action button
        app.screen.query_one(StepList).select_step("confirm")  # its checks are on screen
        await pilot.pause(0.3)
        checks = app.screen.query_one(CheckList)
        assert checks.labels and not checks.enabled and not checks.can_focus
        assert not app.screen.query_one("#d-actions").display
        assert not [b for b in app.screen.query(IntentButton) if b.display]
        for key in ("r", "s", "d", "1", "space", "enter"):
            await pilot.press(key)
    assert proc.wait(timeout=15) == 0

    j = Journal(journal, readonly=True)
    events = j.events(run_id)
    ts = {(e.kind, e.step): e.ts for e in events}
    chunks = list(j.chunks(run_id, "build"))
    committed = {
        "build started": ts[(ev.STEP_STARTED, "build")],
        "first line": chunks[0].ts,
        "second line": chunks[1].ts,
        "confirm ticked": ts[(ev.CHECK_TOGGLED, "confirm")],
        "soak countdown": ts[(ev.TIMER_STARTED, "soak")],
    }
    latency = {k: seen[k] - committed[k] for k in committed}
    print("follower latency (s):", {k: round(v, 3) for k, v in latency.items()})
    assert all(v < LATENCY for v in latency.values()), latency
    # the countdown counts down (from the deadline stored in the journal)
    assert first_digits > later_digits, (first_digits, later_digits)
    # the keys pressed on the follower wrote nothing: every event is the driver's (this process is "tester")
    assert "tester" not in {e.actor for e in events} and "driver" in {e.actor for e in events}
    assert events[-1].kind == ev.RUN_FINISHED


async def test_follow_screen_of_a_finished_run_has_its_whole_history(finished):
    journal, run_id = finished
    app = FollowApp(follow(journal, run_id), blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        banner = str(app.screen.query_one("#follow-banner").render())
        assert run_id in banner and "read-only" in banner and "finished: succeeded" in banner
        assert all(prompt(app, s).lstrip().startswith("✓") for s in ("warmup", "build", "confirm", "soak"))
        app.screen.query_one(StepList).select_step("build")
        await pilot.pause(0.3)
        assert app.screen.query_one("#main-log", Log).lines == ["first line", "second line"]
        assert "echo first line" in str(app.screen.query_one("#d-command").render())


KILLED_BOOK = '''
[runbook]
id = "killed"
title = "Killed driver"
environment = "prod"
[[steps]]
id = "migrate"
title = "Migrate the database"
auto = true
run = "echo migrating; exec sleep 300"
'''


async def test_a_pair_sees_at_80x24_that_the_driver_stopped_and_what_happened_last(tmp_path):
    import os
    import signal
    import sqlite3

    from .helpers import start_driver, wait_for_run

    def screen_text(app) -> str:
        import html
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")

    book, answers, journal = tmp_path / "k.toml", tmp_path / "a.toml", tmp_path / "journal.sqlite3"
    book.write_text(KILLED_BOOK)
    answers.write_text('run = "*"\n')
    proc = start_driver(book, answers, journal)
    run_id = wait_for_run(journal)
    child = None
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        end = time.monotonic() + 15
        while child is None and time.monotonic() < end:
            rows = db.execute("SELECT data FROM events WHERE run_id = ? AND kind = 'process_started'", (run_id,))
            child = next((__import__("json").loads(r[0])["pid"] for r in rows), None)
        db.close()
        assert child, "the command never started"
        proc.send_signal(signal.SIGKILL)  # the driver dies mid-command; the pair joins after its last event
        proc.wait(timeout=10)
        lived = time.time() - Journal(journal, readonly=True).events(run_id)[0].ts
        app = FollowApp(follow(journal, run_id), blink=False)
        async with app.run_test(size=(80, 24)) as pilot:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and "STOPPED" not in screen_text(app):
                await pilot.pause(0.1)
            text = screen_text(app)
            line = [row for row in text.splitlines() if "THE DRIVER HAS STOPPED" in row]
            assert line, text[-3000:]
            line = line[0]
            assert "last: Migrate the database" in line  # what happened last, on the 80 columns a pair has
            clock = str(app.screen.query_one("#hdr-elapsed").render())
            await pilot.pause(2.1)  # the screen ticks once a second: a stopped run's clock does not
            assert str(app.screen.query_one("#hdr-elapsed").render()) == clock
            h, m, sec = (int(x) for x in clock.split()[1].split(":"))
            assert h * 3600 + m * 60 + sec <= lived + 1.5, (clock, lived)  # stopped at its last heartbeat
            assert app.screen.query_one("#follow-banner").has_class("-stopped")  # in the error colour
            await pilot.press("q")
    finally:
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
