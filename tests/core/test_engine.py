"""The engine on real journals and real subprocesses: each behaviour a release manager relies on."""

import os
import subprocess
import time

import pytest

from deploytui.engine.clock import FakeClock
from deploytui.errors import UserError
from deploytui.events import kinds as ev

from .helpers import alive, kinds, start, wait_for


def test_command_output_capture_and_quoting(tmp_path):
    run = start(tmp_path, """
        [vars.msg]
        default = "x'; touch pwned; '"
        [[steps]]
        id = "a"
        title = "A"
        run = "cd {{ cwd }}; echo hello {{ msg }}; echo sha=abc123"
        capture = { sha = "re:sha=(\\\\w+)", last = "last_line" }
        [[steps]]
        id = "b"
        title = "B {{ sha }}"
        run = "echo got {{ sha }}"
        [vars.cwd]
        default = "/tmp"
        """)
    run.run_step("a")
    assert wait_for(lambda: run.state.current == "b", run=run)
    assert run.state.vars["sha"] == "abc123"
    assert run.state.vars["last"] == "sha=abc123"
    lines, total = run.journal.tail(run.run_id, "a")
    assert lines == ["hello x'; touch pwned; '", "sha=abc123"]
    assert not os.path.exists("/tmp/pwned")
    run.run_step("b")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert run.journal.tail(run.run_id, "b")[0] == ["got abc123"]


def test_runs_in_a_pty_and_own_process_group(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        run = "test -t 1 && echo tty; ps -o pgid= -p $$ | tr -d ' '; echo $$"
        """)
    run.run_step("a")
    assert wait_for(lambda: run.state.outcome, run=run)
    lines, _ = run.journal.tail(run.run_id, "a")
    assert lines[0] == "tty"
    assert lines[1] == lines[2]  # bash leads its own process group
    assert int(lines[1]) != os.getpgrp()


def test_failure_retries_and_rerun_with_reason(tmp_path):
    counter = tmp_path / "n"
    run = start(tmp_path, f"""
        [[steps]]
        id = "flaky"
        title = "Flaky"
        retries = 1
        run = "echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
        """)
    run.run_step("flaky")
    assert wait_for(lambda: run.state.status("flaky") == "failed", run=run)
    assert kinds(run).count(ev.RETRIED) == 1
    with pytest.raises(UserError, match="needs a reason"):
        run.rerun("flaky", "  ")
    run.rerun("flaky", "fixed the flake")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert counter.read_text().count("x") == 3
    rerun = [e for e in run.journal.events(run.run_id) if e.kind == ev.RERUN]
    assert rerun[0].data["reason"] == "fixed the flake" and rerun[0].actor == "tester"


def test_timeout_terms_then_kills(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "stuck"
        title = "Stuck"
        timeout = "0.5s"
        run = "trap '' TERM; sleep 30"
        """)
    run.kill_grace = 0.5
    t0 = time.monotonic()
    run.run_step("stuck")
    assert wait_for(lambda: run.state.status("stuck") == "failed", timeout=15, run=run)
    assert time.monotonic() - t0 < 8
    assert "timed out after 0.5s" in run.state.steps["stuck"].error


def test_checks_wait_and_gate_with_injected_clock(tmp_path):
    clock = FakeClock()
    run = start(tmp_path, """
        [[steps]]
        id = "recycle"
        title = "Recycle"
        run = "true"
        [[steps]]
        id = "remove-old"
        title = "Remove old"
        not_before = { step = "recycle", wait = "15m" }
        run = "echo removing"
        [[steps]]
        id = "soak"
        title = "Soak"
        wait = "1h"
        checks = ["No new errors in NewRelic"]
        """, clock=clock)
    run.run_step("recycle")
    assert wait_for(lambda: run.state.current == "remove-old", run=run)
    assert run.state.status("remove-old") == "waiting"
    with pytest.raises(UserError, match="gated until"):
        run.run_step("remove-old")
    clock.advance(14 * 60)
    run.poll()
    assert run.state.status("remove-old") == "waiting"
    clock.advance(61)
    run.poll()
    run.run_step("remove-old")
    assert wait_for(lambda: run.state.current == "soak", run=run)
    assert run.state.status("soak") == "waiting"
    run.tick("soak", 0)
    clock.advance(3599)
    run.poll()
    assert run.state.current == "soak"
    clock.advance(2)
    run.poll()
    assert run.state.outcome == "succeeded"
    timers = [(e.kind, e.data["timer"]) for e in run.journal.events(run.run_id) if e.kind.startswith("timer")]
    assert timers == [("timer_started", "gate"), ("timer_expired", "gate"), ("timer_started", "wait"),
                      ("timer_expired", "wait")]


def test_gate_override_needs_reason(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        run = "true"
        [[steps]]
        id = "b"
        title = "B"
        not_before = { step = "a", wait = "15m" }
        run = "true"
        """)
    run.run_step("a")
    assert wait_for(lambda: run.state.current == "b", run=run)
    with pytest.raises(UserError):
        run.override("gate", "", "b")
    run.override("gate", "instances verified by hand", "b")
    run.run_step("b")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)


def test_decision_goto_rollback_section(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "decide"
        title = "Roll back?"
        checks = ["Error visible to users?"]
        decide = { question = "Any criteria true?", options = [ { label = "Roll back", goto = "rollback" },
                   { label = "Healthy, continue" } ] }
        [[steps]]
        id = "tag"
        title = "Tag"
        run = "true"
        [[steps]]
        id = "revert"
        section = "rollback"
        title = "Revert"
        checks = ["Reverted"]
        [[sections]]
        id = "rollback"
        title = "Rolling back"
        on_demand = true
        """)
    assert run.state.current == "decide"
    run.tick("decide", 0)
    run.decide("decide", "Roll back", "5xx at 4%")
    assert run.state.current == "revert"
    assert "tag" not in run.state.path
    run.tick("revert", 0)
    assert run.state.outcome == "completed_on_demand"
    finished = run.journal.events(run.run_id)[-1]
    assert finished.data["section"] == "rollback"
    assert run.journal.run(run.run_id).outcome == "completed_on_demand"


def test_when_conditions_skip_with_reason(tmp_path):
    run = start(tmp_path, """
        [vars.deploy_type]
        choices = ["full", "patch"]
        default = "patch"
        [[steps]]
        id = "full-only"
        title = "Full only"
        when = "deploy_type == 'full'"
        run = "true"
        [[steps]]
        id = "always"
        title = "Always"
        checks = ["ok"]
        """)
    assert run.state.status("full-only") == "skipped"
    assert "is false" in run.state.steps["full-only"].reason
    assert run.state.current == "always"


def test_deviations_each_need_a_reason(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        run = "false"
        [[steps]]
        id = "b"
        title = "B"
        run = "false"
        [[steps]]
        id = "c"
        title = "C"
        checks = ["x"]
        """)
    run.run_step("a")
    assert wait_for(lambda: run.state.status("a") == "failed", run=run)
    with pytest.raises(UserError, match="needs a reason"):
        run.mark("a", "done", "")
    run.mark("a", "done", "verified by hand in the console")
    run.run_step("b")
    assert wait_for(lambda: run.state.status("b") == "failed", run=run)
    with pytest.raises(UserError, match="needs a reason"):
        run.skip("b", "")
    run.skip("b", "not needed for a patch")
    run.note("all quiet")
    with pytest.raises(UserError, match="reason"):
        run.abort("")
    run.abort("window closing")
    assert run.state.outcome == "aborted"
    ks = kinds(run)
    assert ks.count(ev.MARKED) == 1 and ks.count(ev.SKIPPED) == 1 and ks.count(ev.NOTE) == 1


def test_danger_step_needs_environment_typed(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "recycle"
        title = "Recycle"
        danger = true
        run = "true"
        """, given={"env": "prod"})
    with pytest.raises(UserError, match="type 'prod'"):
        run.run_step("recycle", confirm="staging")
    run.run_step("recycle", confirm="prod")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)


def test_auto_steps_run_without_a_person(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        auto = true
        run = "echo one"
        [[steps]]
        id = "b"
        title = "B"
        auto = true
        run = "echo two"
        """)
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert [e.actor for e in run.journal.events(run.run_id) if e.kind == ev.STEP_STARTED] == ["auto", "auto"]


def test_until_pane_gates_the_step(tmp_path):
    log = tmp_path / "cloud-init.log"
    log.write_text("starting\n")
    run = start(tmp_path, f"""
        [[steps]]
        id = "recycle"
        title = "Recycle"
        run = "echo recycling"
          [[steps.panes]]
          title = "Migration"
          tail = "tail -n +1 -F {log}"
          until = "All done! provision.sh finished"
        """)
    run.run_step("recycle")
    assert wait_for(lambda: run.state.steps["recycle"].command_ok, run=run)
    # the pane has read what the log holds (and it is not the awaited line): the step still needs a person
    assert wait_for(lambda: run.journal.tail(run.run_id, "recycle", stream="pane0")[0] == ["starting"], run=run)
    assert run.state.status("recycle") == "needs_you"
    with open(log, "a") as f:
        f.write("All done! provision.sh finished for i-0abc\n")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    matched = [e for e in run.journal.events(run.run_id) if e.kind == ev.PANE_MATCHED]
    assert matched[0].data["line"].startswith("All done!")
    assert wait_for(lambda: not run.executor.panes)


def test_native_action_and_capture(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "sha"
        title = "Staging sha"
        uses = "core.echo"
        with = { message = "deployed {{ env }}", git_sha = "0123456789abcdef" }
        capture = { git_sha = "git_sha" }
        [[steps]]
        id = "show"
        title = "Show"
        run = "echo {{ git_sha }}"
        """)
    run.run_step("sha")
    assert wait_for(lambda: run.state.current == "show", run=run)
    assert run.state.vars["git_sha"] == "0123456789abcdef"
    assert run.journal.tail(run.run_id, "sha")[0] == ["deployed staging"]


def test_missing_capture_field_fails_the_step(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "sha"
        title = "Staging sha"
        uses = "core.echo"
        with = { message = "hi" }
        capture = { git_sha = "git_sha" }
        """)
    run.run_step("sha")
    assert wait_for(lambda: run.state.status("sha") == "failed", run=run)
    assert "gave no output 'git_sha'" in run.state.steps["sha"].error


def test_lock_refuses_second_run_until_broken(tmp_path):
    body = """
        [[steps]]
        id = "a"
        title = "A"
        checks = ["x"]
        """
    first = start(tmp_path, body, given={"env": "prod"})
    with pytest.raises(UserError, match=r"locked by run .*tester"):
        start(tmp_path, body, given={"env": "prod"})
    other_env = start(tmp_path, body, given={"env": "staging"})  # another environment is another lock
    assert other_env.run_id != first.run_id
    # the holder is alive on this host (this very process): breaking its lock is refused, naming it
    with pytest.raises(UserError, match=rf"locked by run {first.run_id}, open in a live deploytui on this host"):
        start(tmp_path, body, given={"env": "prod"}, break_lock="I think it is stuck")
    _holder_died(first)
    second = start(tmp_path, body, given={"env": "prod"}, break_lock="first operator's laptop died")
    broken = [e for e in second.journal.events(second.run_id) if e.kind == ev.LOCK_BROKEN][0]
    assert broken.data["reason"] == "first operator's laptop died"
    assert broken.data["holder"].startswith(f"run {first.run_id} (tester on ")


def _holder_died(run) -> None:
    """Make the lock look held by a process that is gone (a crashed laptop's deploytui)."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    run.journal.db.execute("UPDATE locks SET pid = ? WHERE run_id = ?", (dead.pid, run.run_id))


def test_a_run_whose_lock_was_broken_stops_before_its_next_step(tmp_path):
    body = """
        [[steps]]
        id = "a"
        title = "A"
        checks = ["x"]
        [[steps]]
        id = "b"
        title = "B"
        run = "echo b"
        """
    first = start(tmp_path, body, given={"env": "prod"})
    _holder_died(first)
    start(tmp_path, body, given={"env": "prod"}, break_lock="laptop died")
    first.tick("a", 0)  # the first run goes on, not knowing yet
    assert first.state.lock_lost and first.state.lock_lost.startswith("run ")
    with pytest.raises(UserError, match="lock was taken by run"):
        first.run_step("b")
    assert ev.STEP_STARTED not in [e.kind for e in first.journal.events(first.run_id) if e.step == "b"]
    assert [e.kind for e in first.journal.events(first.run_id)][-1] == ev.LOCK_LOST


def test_quitting_during_a_command_leaves_no_child(tmp_path):
    pids = tmp_path / "pids"
    run = start(tmp_path, f"""
        [[steps]]
        id = "long"
        title = "Long"
        run = "sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; sleep 300"
        """)
    run.kill_grace = 0.5
    run.run_step("long")
    assert wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    killed = run.close()
    assert killed == ["long"]
    for pid in map(int, pids.read_text().split()):
        assert wait_for(lambda pid=pid: not alive(pid), timeout=10), f"pid {pid} survived"
    events = run.journal.events(run.run_id)
    finished = [e for e in events if e.kind == ev.COMMAND_FINISHED]
    assert finished[0].data["error"] == "the run was interrupted: the operator quit"
    assert finished[0].data["ok"] is False and finished[0].data["signal"] in (15, 9)
    # the record says the driver stopped with the run open, and the step is interrupted, not failed
    assert [e.kind for e in events][-2:] == [ev.STEP_INTERRUPTED, ev.RUN_INTERRUPTED]
    assert events[-1].data["ended"] == ["long"] and ev.STEP_FINISHED not in [e.kind for e in events]
