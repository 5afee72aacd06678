"""RFC-070's pipeline around a run: blocked apps refuse to start in one line, apps that cannot deploy together
wait for each other, a failed pipeline blocks its app and leaves no lock (moto's S3 and DynamoDB)."""

import json
from pathlib import Path

from core.helpers import deploytui
from core.helpers import wait_for as wait_until

from deploytui.engine.headless import EXIT_BLOCKED
from deploytui.fleet import blocks
from deploytui.integrations.lock import DynamoLock
from deploytui.integrations.store import DirStore, open_store
from fleet.conftest import ci_run

ROOT = Path(__file__).resolve().parents[2]



def test_block_and_unblock_without_a_team_store_live_beside_the_journal(fleet_book, tmp_path, moto):
    env = {**moto.env, "DEPLOYTUI_JOURNAL": str(tmp_path / "j.sqlite3"), "DEPLOYTUI_TEAM_STORE": ""}
    res = deploytui("block", "frontend", "--reason", "waiting for the content-store migration",
                    "--operator", "alice", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("frontend: blocked by alice in ")
    state = blocks.block_of(DirStore(tmp_path / "fleet"), "frontend")
    assert state["by"] == "alice" and state["reason"] == "waiting for the content-store migration"
    run = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", env=env)
    assert run.returncode == EXIT_BLOCKED
    assert run.stdout == ""
    line = run.stderr.strip()
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr
    assert line.startswith("deploytui: frontend's pipeline is blocked by alice since ")
    assert line.endswith(": waiting for the content-store migration (lift it with: deploytui unblock frontend "
                         "--reason TEXT)")
    other = deploytui("run", fleet_book, "--headless", "--var", "app=publisher", env=env)
    assert other.returncode == 0, other.stdout + other.stderr  # a block is per app
    un = deploytui("unblock", "frontend", "--reason", "migration done", "--operator", "bob", env=env)
    assert un.returncode == 0 and "unblocked by bob" in un.stdout
    again = deploytui("unblock", "frontend", "--reason", "twice", env=env)
    assert again.returncode == 2 and again.stderr.strip().startswith("deploytui: frontend is not blocked")
    run = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    log = sorted((tmp_path / "fleet" / "blocks-log" / "frontend").iterdir())
    assert [json.loads(p.read_text())["blocked"] for p in log] == [True, False]


def test_a_failed_pipeline_blocks_its_app_names_its_team_and_leaves_no_lock(fleet_book, env, moto):
    res = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", "--var", "fail=yes", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "stopped: step 'smoke' failed" in res.stdout
    store = open_store(env["DEPLOYTUI_TEAM_STORE"], moto.env)
    block = blocks.block_of(store, "frontend")
    assert block["by"] == "deploytui"
    assert block["reason"].startswith("run ") and " failed at smoke: " in block["reason"]
    assert block["reason"].endswith("; team-frontend to look")
    assert DynamoLock("deploytui-locks", "cd:frontend", env=moto.env).holder() is None  # no stale lock
    assert blocks.deploying(store) == {}
    hist = deploytui("history", env=env)
    assert "aborted" in hist.stdout
    record = deploytui("export", "last", "--format", "md", env=env)
    assert "| Owning team | team-frontend |" in record.stdout
    # the next release is refused by the block (who, when, why), not by a lock
    nxt = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", "--var", "release_tag=v2", env=env)
    assert nxt.returncode == EXIT_BLOCKED and "frontend's pipeline is blocked by deploytui since" in nxt.stderr
    assert deploytui("unblock", "frontend", "--reason", "fixed forward in v3", env=env).returncode == 0
    ok = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", "--var", "release_tag=v3", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert DynamoLock("deploytui-locks", "cd:frontend", env=moto.env).holder() is None


def test_an_aborted_run_gives_back_its_dynamodb_lock(fleet_book, env, moto, tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text("")
    book = tmp_path / "manual.toml"
    book.write_text(fleet_book.read_text().replace('title = "Deploy {{ app }} to production"\nauto = true',
                                                   'title = "Deploy {{ app }} to production"'))
    res = deploytui("run", book, "--headless", "--var", "app=frontend", env=env)
    assert res.returncode == 3, res.stdout + res.stderr  # production waits for a person: the run stays open
    lock = DynamoLock("deploytui-locks", "cd:frontend", env=moto.env)
    run_id = lock.holder()["holder"].removeprefix("run ")
    assert blocks.deploying(open_store(env["DEPLOYTUI_TEAM_STORE"], moto.env))["frontend"]["run"] == run_id
    ab = deploytui("abort", run_id, "--reason", "release withdrawn", env=env)
    assert ab.returncode == 0, ab.stderr
    assert lock.holder() is None
    assert blocks.deploying(open_store(env["DEPLOYTUI_TEAM_STORE"], moto.env)) == {}


def test_apps_that_cannot_deploy_together_wait_for_each_other(fleet_book, env, moto, tmp_path):
    gate = tmp_path / "router-may-finish"
    router = ci_run(fleet_book, {**env, "DEPLOYTUI_PUBLISH": str(tmp_path / "router.sock")}, "--var", "app=router",
                    "--var", f"gate_file={gate}")
    try:
        store = open_store(env["DEPLOYTUI_TEAM_STORE"], moto.env)
        assert wait_until(lambda: "router" in blocks.deploying(store) or router.poll() is not None, timeout=30)
        assert router.poll() is None, router.communicate()
        front = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", env=env)
        assert front.returncode == EXIT_BLOCKED
        assert front.stderr.startswith("deploytui: frontend cannot deploy now: router cannot deploy together with "
                                       "another app, and router is deploying (run ")
        gate.touch()
        out, err = router.communicate(timeout=60)
        assert router.returncode == 0, out + err
    finally:
        if router.poll() is None:
            router.kill()
    assert blocks.deploying(store) == {}
    front = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", env=env)
    assert front.returncode == 0, front.stdout + front.stderr


def test_untrusted_apps_stop_before_production_and_disabled_ones_run_dry(fleet_book, env, tmp_path):
    held = deploytui("run", fleet_book, "--headless", "--progress", "jsonl", "--var", "app=whitehall", env=env)
    assert held.returncode == 3, held.stdout + held.stderr
    lines = [json.loads(line) for line in held.stdout.splitlines()]
    kinds = [(o.get("kind"), o.get("step")) for o in lines if o["type"] == "event"]
    assert ("step_finished", "smoke") in kinds and ("step_started", "deploy-production") not in kinds
    driver = [o["text"] for o in lines if o["type"] == "driver"]
    assert driver[-1].startswith("needs a person: whitehall is not trusted to deploy by itself: a person "
                                        "takes it into production")
    run_id = lines[0]["run"]
    answers = tmp_path / "go.toml"
    answers.write_text('[override]\nhold = "checked the staging dashboards (carol)"\n')
    go = deploytui("run", "--resume", run_id, "--headless", "--answers", answers, env=env)
    assert go.returncode == 0, go.stdout + go.stderr
    assert "Overrode the hold of an untrusted app" in go.stdout and "deployed whitehall to production" in go.stdout

    dry = deploytui("run", fleet_book, "--headless", "--var", "app=collections", env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "DRY RUN: collections is not enabled for automatic deploys yet" in dry.stdout
    assert "deploying collections" not in dry.stdout and "deployed collections" not in dry.stdout
    record = deploytui("export", "last", "--format", "md", env=env).stdout
    assert "| Dry run | collections is not enabled for automatic deploys yet (fleet.enabled): nothing is deployed |" \
        in record
    plan = deploytui("plan", fleet_book, "--var", "app=collections", env=env)
    assert plan.returncode == 0 and "Deploy collections to production" in plan.stdout


def test_the_owning_team_is_told_in_slack_when_the_pipeline_fails(fleet_book, env, httpserver, tmp_path):
    httpserver.expect_request("/team-hook", method="POST").respond_with_data("ok")
    book = tmp_path / "notify.toml"
    book.write_text(fleet_book.read_text().replace(
        "[lock]", f'[notify]\nslack = "{httpserver.url_for("/team-hook")}"\nevents = ["step_failed"]\n\n[lock]'))
    res = deploytui("run", book, "--headless", "--var", "app=frontend", "--var", "fail=yes", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    texts = [json.loads(req.get_data())["text"] for req, _ in httpserver.log]
    assert texts == [":x: CD of frontend (frontend): Smoke tests of frontend: failed: exit code 1 "
                     "(owned by team-frontend)"]


def test_a_run_that_cannot_start_gives_back_its_dynamodb_lock(fleet_book, moto, tmp_path):
    """The journal refuses the first event (a real SQLite trigger, as a full disk would): the run never
    starts, and neither the journal's lock nor the shared one stays taken."""
    import sqlite3

    import pytest

    from deploytui.engine.run import Run
    from deploytui.errors import UserError
    from deploytui.journal import Journal
    from deploytui.runbook.loader import load
    from deploytui.runbook.variables import resolve

    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    db.commit()
    db.close()
    book = load(fleet_book)
    values, missing = resolve(book, {"app": "frontend"})
    assert not missing
    journal = Journal(path)
    with pytest.raises(UserError):
        Run.start(journal, book, values, operator="tester", env=moto.env)
    assert DynamoLock("deploytui-locks", "cd:frontend", env=moto.env).holder() is None
    assert journal.lock_holder("cd:frontend") is None
    journal.close()


def _race(store, apps: list[str], exclusive: list[str], rounds: int) -> list[set[str]]:
    """Each round, every app claims at the same moment (a barrier): the apps whose claim succeeded."""
    import threading

    wins = []
    for n in range(rounds):
        barrier, won, lock = threading.Barrier(len(apps)), set(), threading.Lock()

        def go(app: str, n: int, barrier: threading.Barrier, won: set, lock: threading.Lock) -> None:
            barrier.wait()
            if blocks.claim(store, app, f"run-{app}-{n}", "ci", exclusive, settle=0.5) is None:
                with lock:
                    won.add(app)

        threads = [threading.Thread(target=go, args=(a, n, barrier, won, lock)) for a in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        wins.append(won)
        for app in won:
            blocks.release(store, app, f"run-{app}-{n}")
    return wins


def test_claims_at_the_same_moment_never_let_an_exclusive_app_deploy_with_another(moto, tmp_path):
    """RFC-070: apps that cannot deploy together. Checked and marked at once, on S3's conditional writes
    (and a directory's lock): over many rounds of simultaneous claims, an exclusive app that won never won
    alongside another app, and someone won most rounds (backing off is not all it does)."""
    for store in (open_store("s3://team-deploys/race", moto.env), DirStore(tmp_path / "race")):
        wins = _race(store, ["router", "content-store", "frontend", "publisher"], ["router", "content-store"], 25)
        together = [w for w in wins if (w & {"router", "content-store"}) and len(w) > 1]
        assert together == [], together
        assert sum(bool(w) for w in wins) >= 15, wins  # someone deploys: not everyone backs off
        free = _race(store, ["frontend", "publisher"], ["router", "content-store"], 3)
        assert free == [{"frontend", "publisher"}] * 3  # apps free to deploy together do
        assert blocks.deploying(store) == {} and store.get(blocks.LEASE) is None  # nothing left behind


def test_a_killed_runner_s_mark_stops_counting_after_its_ttl(moto):
    """`kill -9` of a CI runner: its mark is not cleared, but it is no longer rewritten, so after MARK_TTL
    it no longer holds other apps back (and the board can say it is stale)."""
    store = open_store("s3://team-deploys/ttl", moto.env)
    t0 = 1_800_000_000.0
    assert blocks.claim(store, "router", "run-dead", "ci", ["router"], now=t0) is None
    soon = blocks.claim(store, "frontend", "run-2", "ci", ["router"], now=t0 + 60)
    assert soon and "router cannot deploy together with another app" in soon
    blocks.beat(store, "router", "run-dead", now=t0 + 300)  # alive until then
    assert blocks.claim(store, "frontend", "run-2", "ci", ["router"], now=t0 + 300 + blocks.MARK_TTL - 1)
    later = t0 + 300 + blocks.MARK_TTL + 1
    assert [m["run"] for m in blocks.stale(store, now=later)] == ["run-dead"]
    assert blocks.claim(store, "frontend", "run-2", "ci", ["router"], now=later) is None
    assert blocks.claim(store, "content-store", "run-3", "ci", ["router", "content-store"], now=later + 1) \
        and "frontend is deploying" in blocks.claim(store, "content-store", "run-3", "ci", ["router", "content-store"],
                                                    now=later + 1)
    blocks.release(store, "frontend", "run-2")
    assert blocks.claim(store, "content-store", "run-3", "ci", ["router", "content-store"], now=later + 2) is None
    assert store.get(blocks.LEASE) and b"run-3" in store.get(blocks.LEASE)  # the stale lease was taken over


def test_a_run_started_on_the_screen_is_refused_while_its_app_is_blocked(fleet_book, moto, tmp_path):
    """Not only CI's runs: a person starting the blocked app's runbook on a screen is refused in one line,
    exit 5, before the run exists (its automatic steps would otherwise start at once)."""
    import os
    import shutil
    import subprocess
    import sys

    from deploytui.journal import Journal

    env = {**moto.env, "DEPLOYTUI_JOURNAL": str(tmp_path / "j.sqlite3"), "DEPLOYTUI_TEAM_STORE": "s3://team-deploys/s"}
    assert deploytui("block", "frontend", "--reason", "smoke tests flaky", "--operator", "alice", env=env).returncode == 0
    socket_name = f"fleet-{os.getpid()}"
    tmux = ["tmux", "-L", socket_name]
    cmd = (f"{shutil.which('env')} " + " ".join(f"{k}={v}" for k, v in env.items())
           + f" {sys.executable} -m deploytui run {fleet_book} --var app=frontend; echo EXITED $?; sleep 30")
    subprocess.run([*tmux, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "30", "-c",
                    str(ROOT), cmd], check=True)
    try:
        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True).stdout

        assert wait_until(lambda: "Start the run" in screen(), timeout=30), screen()
        subprocess.run([*tmux, "send-keys", "-t", "t", "C-s"], check=True)  # the variables form: start
        assert wait_until(lambda: "EXITED" in screen(), timeout=30), screen()
        shown = screen()
        assert "EXITED 5" in shown and "frontend's pipeline is blocked by alice" in shown, shown
        assert "Traceback" not in shown
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert Journal(tmp_path / "j.sqlite3", readonly=True).runs() == []
