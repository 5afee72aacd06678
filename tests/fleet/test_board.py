"""Three apps' pipelines at once, run headless as the shipped workflow runs them, against one team store
(moto): a blocked one, an untrusted one and one whose smoke tests fail; each ends as RFC-070 says, and the
fleet board shows every app's latest run, its stage and its block."""

import json
import os
import subprocess
import sys
from pathlib import Path

from core.helpers import deploytui

from deploytui.engine.headless import EXIT_BLOCKED, EXIT_FAILED, EXIT_NEEDS_PERSON

ROOT = Path(__file__).resolve().parents[2]


def test_three_apps_at_once_each_end_as_the_rfc_says(fleet_book, env, tmp_path):
    assert deploytui("block", "frontend", "--reason", "content-store migration first", "--operator", "alice",
                     env=env).returncode == 0
    apps = {"frontend": [], "whitehall": [], "publisher": ["--var", "fail=yes"]}
    procs = {}
    for app, extra in apps.items():  # each its own CI runner: its own journal, the same team store
        job = {**os.environ, **env, "DEPLOYTUI_JOURNAL": str(tmp_path / f"{app}.sqlite3"),
               "DEPLOYTUI_PUBLISH": str(tmp_path / f"{app}.sock")}
        procs[app] = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(fleet_book), "--headless",
                                       "--progress", "jsonl", "--var", f"app={app}", "--var", "release_tag=v7",
                                       *extra], cwd=ROOT, env=job, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
    done = {app: (p.wait(timeout=120), *p.communicate()) for app, p in procs.items()}
    code, out, err = done["frontend"]
    assert code == EXIT_BLOCKED and out == ""
    assert err.startswith("deploytui: frontend's pipeline is blocked by alice since ")
    code, out, err = done["whitehall"]
    assert code == EXIT_NEEDS_PERSON, err
    assert json.loads(out.splitlines()[-1])["meaning"].startswith("a person is needed")
    code, out, err = done["publisher"]
    assert code == EXIT_FAILED, err
    assert json.loads(out.splitlines()[-1])["code"] == 1

    board = json.loads(deploytui("board", "--json", env=env).stdout)
    by_app = {row["app"]: row for row in board}
    assert set(by_app) == {"frontend", "whitehall", "publisher"}
    assert by_app["frontend"] == {"app": "frontend", "block": by_app["frontend"]["block"]}
    assert by_app["frontend"]["block"]["reason"] == "content-store migration first"
    assert by_app["whitehall"]["stage"] == "production" and by_app["whitehall"]["outcome"] == "running"
    assert by_app["publisher"]["outcome"] == "aborted" and by_app["publisher"]["stage"] == "integration"
    assert by_app["publisher"]["block"]["by"] == "deploytui"
    assert "failed at smoke" in by_app["publisher"]["block"]["reason"]
    table = deploytui("board", env=env).stdout.splitlines()
    assert table[0].split() == ["APP", "RELEASE", "STAGE", "OUTCOME", "DEPLOYING", "RUN", "BLOCKED"]
    assert table[1].startswith("frontend ") and table[1].endswith("by alice: content-store migration first")
    assert table[2].split()[:4] == ["publisher", "v7", "integration", "aborted"]
    # whitehall's run is open (waiting for a person), its driver gone: its mark counts until it goes stale
    assert table[3].split()[:5] == ["whitehall", "v7", "production", "running", "yes"] and table[3].endswith(" no")
    team = deploytui("history", "--team", env=env).stdout
    assert "whitehall" in team and "publisher" in team and " open" in team and "aborted" in team


async def test_the_fleet_board_in_the_app_shows_each_app_s_run_stage_mark_and_block(tmp_path):
    """`F` on the driver's screen: every app the team store knows, read on a worker thread and refreshed:
    its latest run and stage, a run deploying it now or the stale mark of a killed runner, its block."""
    import time

    from deploytui.engine.clock import Clock
    from deploytui.fleet import blocks
    from deploytui.fleet.pipeline import Pipeline
    from deploytui.integrations.store import DirStore
    from deploytui.journal import Journal
    from deploytui.runbook.loader import parse
    from deploytui.tui.app import build_app
    from deploytui.tui.screens.fleet import FleetBoardScreen
    from fleet.conftest import BOOK

    store = DirStore(tmp_path / "team")
    blocks.set_block(store, "publisher", True, "smoke tests flaky", by="alice")
    assert blocks.claim(store, "router", "run-dead", "ci", ["router"], now=time.time() - blocks.MARK_TTL - 60) is None
    text = BOOK.replace('[lock]\ndynamodb_table = "deploytui-locks"\n', "")  # no AWS here: the board's own test
    book = parse(text, str(tmp_path / "cd.toml"))
    app = build_app(journal=Journal(tmp_path / "j.sqlite3"), book=book, given={"app": "frontend", "gate_file": str(tmp_path / "never")},
                    operator="bob",
                    clock=Clock(), blink=False, form=False, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    pipeline = Pipeline(store, False, book, "frontend")
    pipeline.claim("bob")
    app.on_run = lambda run: pipeline.attach(run, app.journal)
    app.fleet_board = ((lambda: blocks.board(store)), store.where)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            for _ in range(600):
                await pilot.pause(0.05)
                if app.current_run is not None and app.current_run.state.current == "deploy-integration":
                    break  # its command waits (gate_file): the run is on its screen
            assert app.error is None and app.current_run is not None, app.error
            await pilot.press("F")
            for _ in range(600):
                await pilot.pause(0.05)
                if isinstance(app.screen, FleetBoardScreen) and app.screen.query_one("#fleet-table").row_count:
                    break
            table = app.screen.query_one("#fleet-table")
            rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
            assert set(rows) >= {"frontend", "publisher", "router"}
            assert rows["frontend"][4].startswith("yes, bob since ")  # this run, deploying now
            assert rows["publisher"][5] == "by alice: smoke tests flaky"
            assert rows["router"][4] == "stale mark (driver gone)"
            status = str(app.screen.query_one("#fleet-status").render())
            assert "apps · read at" in status
            await pilot.press("escape")
            assert not isinstance(app.screen, FleetBoardScreen)
    finally:
        pipeline.close()
        if app.current_run is not None:
            app.current_run.close()
