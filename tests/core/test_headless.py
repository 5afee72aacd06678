"""Headless runs: auto steps and timers run, answers supply the person, exit codes say why it stopped."""

from pathlib import Path

from .helpers import deploytui

EXAMPLE = Path(__file__).parent / "example.toml"


def answers(tmp_path, text):
    p = tmp_path / "answers.toml"
    p.write_text(text)
    return p


def test_runs_to_the_end_with_answers(tmp_path):
    a = answers(tmp_path, 'run = ["*"]\ntick = ["*"]\n[decide]\ndecide = "Continue"\n')
    res = deploytui("run", EXAMPLE, "--headless", "--answers", a, "--journal", tmp_path / "j.db")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "hello x'; rm -rf ~; '" in res.stdout  # the hostile default printed as a literal
    assert "finished abc123" in res.stdout
    assert res.stdout.strip().endswith("finished: succeeded")


def test_rollback_path(tmp_path):
    a = answers(tmp_path, 'run = ["*"]\ntick = ["*"]\n[decide]\ndecide = "Roll back"\n'
                          '[reasons]\ndecide = "errors up"\n')
    res = deploytui("run", EXAMPLE, "--headless", "--answers", a, "--journal", tmp_path / "j.db")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Roll back?: decided “Roll back” → rollback (tester): errors up" in res.stdout
    assert "undo" in res.stdout and "finished abc123" not in res.stdout
    assert "finished: completed_on_demand (rollback)" in res.stdout


def test_stops_with_exit_3_where_a_person_is_needed(tmp_path):
    res = deploytui("run", EXAMPLE, "--headless", "--journal", tmp_path / "j.db")
    assert res.returncode == 3
    assert "needs a person: step 'hello' (Say hello) waits for someone to run it" in res.stdout


def test_bad_flags_and_answers_are_one_line(tmp_path):
    j = tmp_path / "j.db"
    bad_var = deploytui("run", EXAMPLE, "--headless", "--var", "env=qa", "--journal", j)
    assert bad_var.returncode == 2
    assert bad_var.stderr.strip() == "deploytui: --var env: 'qa' is not one of prod, staging"
    unknown = deploytui("run", EXAMPLE, "--headless", "--var", "colour=blue", "--journal", j)
    assert unknown.returncode == 2 and "unknown variable 'colour'" in unknown.stderr
    a = answers(tmp_path, "ticks = true\n")
    bad_answers = deploytui("run", EXAMPLE, "--headless", "--answers", a, "--journal", j)
    assert bad_answers.returncode == 2 and "unknown key 'ticks'" in bad_answers.stderr
    for r in (bad_var, unknown, bad_answers):
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_usage_errors_are_one_line(tmp_path):
    for args, expected in ((["run", "--bogus"], "No such option '--bogus'"),
                           (["nosuch"], "No such command 'nosuch'"),
                           (["export"], "Missing argument 'RUN'")):
        res = deploytui(*args)
        assert res.returncode == 2
        assert res.stderr.count("\n") == 1 and expected in res.stderr and res.stderr.startswith("deploytui: ")


RECOVER = """[runbook]
id = "rec"
title = "Recover"
environment = "prod"
[[steps]]
id = "flaky"
title = "Flaky"
auto = true
run = "test -e {marker} || {{ echo 'not yet' >&2; exit 4; }}"
[[steps]]
id = "after"
title = "After"
auto = true
run = "echo after"
"""


def _run_id(journal):
    from deploytui.journal import Journal

    j = Journal(journal, readonly=True)
    try:
        return j.runs(1)[0].id, j
    finally:
        pass


def test_a_failed_step_is_re_run_on_resume_with_the_answers_reason(tmp_path):
    marker = tmp_path / "fixed"
    book = tmp_path / "rec.toml"
    book.write_text(RECOVER.format(marker=marker))
    j = tmp_path / "j.db"
    first = deploytui("run", book, "--headless", "--journal", j)
    assert first.returncode == 1 and "stopped: step 'flaky' failed: exit code 4" in first.stdout
    run_id, journal = _run_id(j)
    no_answer = deploytui("run", "--resume", run_id, "--headless", "--journal", j)
    assert no_answer.returncode == 1  # still failed: nothing said to run it again
    marker.write_text("")
    a = answers(tmp_path, '[rerun]\nflaky = "the disk was full; cleaned it"\n')
    res = deploytui("run", "--resume", run_id, "--headless", "--answers", a, "--journal", j)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Flaky: re-run (" in res.stdout and "): the disk was full; cleaned it" in res.stdout
    reruns = [e for e in journal.events(run_id) if e.kind == "rerun"]
    assert [e.data["reason"] for e in reruns] == ["the disk was full; cleaned it"]
    assert journal.run(run_id).outcome == "succeeded"


def test_abort_ends_a_run_nobody_drives_and_frees_its_lock(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    book = tmp_path / "slow.toml"
    book.write_text('[runbook]\nid = "slow"\ntitle = "Slow"\nenvironment = "prod"\n'
                    '[[steps]]\nid = "soak"\ntitle = "Soak"\nwait = "1h"\n')
    j = tmp_path / "j.db"
    driver = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--journal", str(j)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and not (j.exists() and "timer_started" in
                                              subprocess.run(["sqlite3", str(j), "SELECT kind FROM events"],
                                                             capture_output=True, text=True).stdout):
            time.sleep(0.05)
        run_id, journal = _run_id(j)
        live = deploytui("abort", run_id, "--reason", "change cancelled", "--journal", j)
        assert live.returncode == 2 and "is open in a live deploytui" in live.stderr
    finally:
        driver.send_signal(signal.SIGTERM)
        driver.wait(timeout=30)
    refused = deploytui("run", book, "--headless", "--journal", j)
    assert refused.returncode == 2 and "is locked by run" in refused.stderr
    no_reason = deploytui("abort", run_id, "--journal", j)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    res = deploytui("abort", run_id, "--reason", "change cancelled by CAB", "--journal", j, "--operator", "maria")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"run {run_id} aborted: change cancelled by CAB"
    last = journal.events(run_id)[-1]
    assert (last.kind, last.actor, last.data["outcome"], last.data["reason"]) == (
        "run_finished", "maria", "aborted", "change cancelled by CAB")
    again = deploytui("abort", run_id, "--reason", "twice", "--journal", j)
    assert again.returncode == 2 and "already finished (aborted)" in again.stderr
    assert journal.lock_holder("slow:prod") is None  # the next deploy may start


REPLAY = """[runbook]
id = "replay"
title = "Replay"
[vars.nodes]
default = "a b"
[vars.version]
pattern = '^\\d+$'
[[steps]]
id = "ask"
title = "Version?"
ask = "version"
[[steps]]
id = "drain"
title = "Drain {{ node }}"
each = "node in nodes"
run = "echo drain {{ node }} {{ version }}"
checks = ["{{ node }} drained"]
[[steps]]
id = "go"
title = "Go?"
decide = { question = "Go on?", options = [{ label = "Yes" }, { label = "Stop", goto = "stop" }] }
[[steps]]
id = "optional"
title = "Optional"
checks = ["done"]
[[sections]]
id = "stop"
title = "Stop"
on_demand = true
[[steps]]
id = "stopped"
section = "stop"
title = "Stopped"
checks = ["told"]
"""


def test_a_run_a_person_drove_replays_headless_from_its_answers(tmp_path):
    import tomllib

    from deploytui.journal import Journal

    from .helpers import start, wait_for

    header, body = REPLAY.split("[[steps]]", 1)
    run = start(tmp_path, "[[steps]]" + body, header=header)
    run.answer("ask", "7")
    for node in ("a", "b"):
        run.run_step(f"drain[{node}]")
        assert wait_for(lambda node=node: run.state.steps[f"drain[{node}]"].command_ok, run=run)
        run.tick(f"drain[{node}]", 0)
    run.decide("go", "Yes", "looks fine")
    run.skip("optional", "not this time")
    assert run.state.outcome == "succeeded"
    out = tmp_path / "answers.toml"
    res = deploytui("answers", run.run_id, "--journal", tmp_path / "journal.sqlite3", "-o", out)
    assert res.returncode == 0, res.stderr
    assert tomllib.loads(out.read_text()) == {
        "run": ["drain[a]", "drain[b]"], "tick": ["drain[a]", "drain[b]"], "decide": {"go": "Yes"},
        "reasons": {"go": "looks fine"}, "skip": {"optional": "not this time"}, "vars": {"version": "7"}}
    book = tmp_path / "replay.toml"
    book.write_text(REPLAY)
    again = deploytui("run", book, "--headless", "--answers", out, "--journal", tmp_path / "j2.db")
    assert again.returncode == 0, again.stdout + again.stderr
    j2 = Journal(tmp_path / "j2.db", readonly=True)
    events = j2.events(j2.runs(1)[0].id)
    assert [(e.kind, e.step) for e in events if e.by_person and e.kind in ("decision", "skipped", "answered")] == [
        ("answered", "ask"), ("decision", "go"), ("skipped", "optional")]
    assert j2.tail(j2.runs(1)[0].id, "drain[b]")[0] == ["drain b 7"]
