"""Safe under pressure (issue 11): nothing runs twice, nothing is left running by accident, the record never
contradicts itself, and files and pipes behave. Real processes, real journals, real signals."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploytui.engine.clock import FakeClock
from deploytui.engine.run import Run
from deploytui.errors import UserError
from deploytui.events import kinds as ev
from deploytui.journal import Journal

from .helpers import HEADER, alive, deploytui, kinds, start, wait_for, write_book

ROOT = Path(__file__).resolve().parents[2]


def read_pids(path: Path, n: int) -> list[int]:
    assert wait_for(lambda: path.exists() and len(path.read_text().split()) >= n), f"{path}: no pids"
    return [int(x) for x in path.read_text().split()]


def kill_quietly(*pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---- a step finishes when its command does -------------------------------------------------------------------
def test_a_daemon_holding_the_terminal_does_not_keep_the_step_running(tmp_path):
    pids = tmp_path / "pids"
    run = start(tmp_path, f"""
        [[steps]]
        id = "db"
        title = "Start the database"
        run = "setsid sh -c 'echo $$ > {pids}; echo daemon up; exec sleep 300' & sleep 0.2; echo started"
        timeout = "60s"
        """)
    try:
        t0 = time.monotonic()
        run.run_step("db")
        assert wait_for(lambda: run.state.outcome == "succeeded", timeout=15, run=run)
        assert time.monotonic() - t0 < 10  # not the 11 minutes of a daemon holding the pty
        (daemon,) = read_pids(pids, 1)
        left = [e for e in run.journal.events(run.run_id) if e.kind == ev.LEFT_RUNNING]
        assert len(left) == 1 and [p["pid"] for p in left[0].data["processes"]] == [daemon]
        assert "sleep 300" in left[0].data["processes"][0]["command"]
        assert alive(daemon)  # listed, not killed: starting it may be the step's purpose
        finished = [e for e in run.journal.events(run.run_id) if e.kind == ev.COMMAND_FINISHED][0]
        assert finished.data["ok"] is True and finished.data["exit_code"] == 0
    finally:
        kill_quietly(*read_pids(pids, 1))


def test_a_child_whose_environment_was_cleared_is_still_listed_as_left_running(tmp_path):
    # `env -i` (or sudo's env_reset) drops the DEPLOYTUI_PROCESS mark: such a child stayed in the
    # command's session but was neither listed nor known to a resume
    pids = tmp_path / "pids"
    run = start(tmp_path, f"""
        [[steps]]
        id = "agent"
        title = "Start the agent"
        run = "env -i nohup /bin/sh -c 'echo $$ > {pids}; exec sleep 301' >/dev/null 2>&1 & sleep 0.2; echo started"
        timeout = "60s"
        """)
    try:
        run.run_step("agent")
        assert wait_for(lambda: run.state.outcome == "succeeded", timeout=15, run=run)
        (agent,) = read_pids(pids, 1)
        left = [e for e in run.journal.events(run.run_id) if e.kind == ev.LEFT_RUNNING]
        assert len(left) == 1 and [p["pid"] for p in left[0].data["processes"]] == [agent]
        assert "sleep 301" in left[0].data["processes"][0]["command"] and alive(agent)
    finally:
        kill_quietly(*read_pids(pids, 1))


def test_a_timeout_fails_the_step_in_time_and_ends_what_it_started(tmp_path):
    pids = tmp_path / "pids"
    run = start(tmp_path, f"""
        [[steps]]
        id = "slow"
        title = "Slow"
        timeout = "1s"
        run = "setsid sleep 300 & echo $! > {pids}; sleep 30"
        """)
    run.kill_grace = 0.5
    run.run_step("slow")
    assert wait_for(lambda: run.state.status("slow") == "failed", timeout=15, run=run)
    (daemon,) = read_pids(pids, 1)
    finished = [e for e in run.journal.events(run.run_id) if e.kind == ev.COMMAND_FINISHED][0]
    assert finished.data["ok"] is False
    assert finished.data["error"] == "timed out after 1s" and finished.data["stopped"] == "timed out after 1s"
    assert finished.data["duration"] < 8
    assert wait_for(lambda: not alive(daemon), timeout=10)  # a stopped command is ended whole


# ---- stopping a running step is one clear sequence ------------------------------------------------------------
@pytest.mark.parametrize("how", ["skip", "done", "failed"])
def test_stopping_a_running_step_is_one_sequence_and_the_outcome_follows_the_steps(tmp_path, how):
    run = start(tmp_path, """
        [[steps]]
        id = "long"
        title = "Long"
        run = "echo working; sleep 300"
        [[steps]]
        id = "last"
        title = "Last"
        checks = ["ok"]
        """)
    run.kill_grace = 0.5
    run.run_step("long")
    assert wait_for(lambda: run.state.steps["long"].process is not None, run=run)
    if how == "skip":
        run.skip("long", "not needed after all")
    else:
        run.mark("long", how, "checked by hand")
    assert wait_for(lambda: run.state.steps["long"].final is not None, run=run)
    events = [e for e in run.journal.events(run.run_id) if e.step == "long"]
    after = [e.kind for e in events][[e.kind for e in events].index(ev.STOP_REQUESTED):]
    final = ev.SKIPPED if how == "skip" else ev.MARKED
    assert after == [ev.STOP_REQUESTED, ev.COMMAND_FINISHED, final]
    stopped = [e for e in events if e.kind == ev.COMMAND_FINISHED][0].data
    assert stopped["signal"] == signal.SIGTERM and stopped["ok"] is False
    assert stopped["error"].startswith("stopped by tester to ")
    assert ev.STEP_FINISHED not in [e.kind for e in events]
    assert run.state.status("long") == ("skipped" if how == "skip" else how)
    all_kinds = kinds(run)
    assert ev.RUN_FINISHED not in all_kinds  # nothing finishes the run while a step is being stopped
    if how != "failed":
        run.tick("last", 0)
        assert run.state.outcome == "succeeded"
        assert kinds(run)[-1] == ev.RUN_FINISHED


def test_keys_that_would_stop_a_running_step_are_refused_twice(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "long"
        title = "Long"
        run = "sleep 300"
        """)
    run.kill_grace = 0.5
    run.run_step("long")
    assert wait_for(lambda: run.state.steps["long"].process is not None, run=run)
    allowed = run.allowed("long")
    assert allowed.running and "skip" in allowed and "run" not in allowed
    run.skip("long", "no longer needed")
    with pytest.raises(UserError, match="already being stopped"):
        run.mark("long", "done", "changed my mind")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)


# ---- the driver's process is told to end ---------------------------------------------------------------------
SIGNAL_BOOK = """
[[steps]]
id = "work"
title = "Work"
auto = true
pty = false
run = "trap '' HUP; echo $$ > PIDS; sleep 300 & echo $! >> PIDS; wait"
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_end_the_commands_and_journal_an_interruption(tmp_path, sig):
    pids = tmp_path / "pids"
    book = write_book(tmp_path, SIGNAL_BOOK.replace("PIDS", str(pids)))
    j = tmp_path / "j.db"
    proc = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--journal", str(j)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT)
    try:
        children = read_pids(pids, 2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + sig, err
        assert b"Traceback" not in err
        for pid in children:  # pty = false and a HUP-ignoring shell: still ended
            assert wait_for(lambda pid=pid: not alive(pid), timeout=10), f"pid {pid} survived"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_quietly(*read_pids(pids, 2))
    journal = Journal(j, readonly=True)
    (run_id,) = journal.db.execute("SELECT id FROM runs").fetchone()
    events = journal.events(run_id)
    assert [e.kind for e in events][-3:] == [ev.COMMAND_FINISHED, ev.STEP_INTERRUPTED, ev.RUN_INTERRUPTED]
    assert events[-1].data["signal"] == sig and events[-1].data["ended"] == ["work"]
    assert journal.run(run_id).finished is None  # open, to resume


def test_after_sigkill_resume_finds_the_survivors_and_never_starts_a_second_copy(tmp_path):
    pids = tmp_path / "pids"
    book = write_book(tmp_path, SIGNAL_BOOK.replace("PIDS", str(pids)))
    j = tmp_path / "j.db"
    proc = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--journal", str(j)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    try:
        shell, sleeper = read_pids(pids, 2)
        proc.kill()
        proc.wait()
        assert alive(shell) and alive(sleeper)  # pty = false and deaf to HUP: it outlives deploytui
        journal = Journal(j)
        (run_id,) = journal.db.execute("SELECT id FROM runs").fetchone()
        run = Run.resume(journal, run_id, operator="tester", clock=FakeClock())
        found = [e for e in journal.events(run_id) if e.kind == ev.SURVIVORS_FOUND]
        assert {p["pid"] for p in found[0].data["processes"]} == {shell, sleeper}
        with pytest.raises(UserError, match="still alive: end it first"):
            run.rerun("work", "try again")
        assert journal.events(run_id)[-1].kind == ev.SURVIVORS_FOUND  # nothing was started
        run.kill_grace = 0.5
        run.end_survivors("work", "it hung")
        assert not alive(shell) and not alive(sleeper)
        pids.unlink()
        run.rerun("work", "after ending the old one")
        assert len(read_pids(pids, 2)) == 2
        run.close()
    finally:
        kill_quietly(*[int(x) for x in pids.read_text().split()] if pids.exists() else [])


# ---- headless, pipes and input ---------------------------------------------------------------------------------
def test_a_closed_stdout_changes_nothing_that_runs_or_is_recorded(tmp_path):
    book = ROOT / "tests" / "core" / "example.toml"
    answers = tmp_path / "a.toml"
    answers.write_text('run = ["*"]\ntick = ["*"]\n[decide]\ndecide = "Continue"\n')
    for n, redirect in enumerate(["", "2>&1"]):
        j = tmp_path / f"j{n}.db"
        command = (f"{sys.executable} -m deploytui run {book} --headless --answers {answers} --journal {j} "
                   f"{redirect} | head -2; exit ${{PIPESTATUS[0]}}")
        t0 = time.monotonic()
        res = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        assert time.monotonic() - t0 < 30  # never spins
        journal = Journal(j, readonly=True)
        (run_id,) = journal.db.execute("SELECT id FROM runs").fetchone()
        assert journal.run(run_id).outcome == "succeeded"
        failed = [e for e in journal.events(run_id) if e.kind == ev.COMMAND_FINISHED and not e.data["ok"]]
        assert failed == []


def test_a_step_that_reads_its_terminal_fails_at_once_in_headless_mode(tmp_path):
    book = write_book(tmp_path, """
        [[steps]]
        id = "ask"
        title = "Ask"
        auto = true
        run = "read -r -p 'Continue? ' answer; echo got $answer"
        """)
    t0 = time.monotonic()
    res = deploytui("run", book, "--headless", "--journal", tmp_path / "j.db", timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr
    assert time.monotonic() - t0 < 15
    assert "waited for input on its terminal, and nobody can type in headless mode" in res.stdout


# ---- files deploytui did not create ---------------------------------------------------------------------------
def test_journal_must_be_a_regular_file_or_a_new_path_and_modes_are_never_changed(tmp_path):
    book = write_book(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n')
    target = tmp_path / "theirs.db"
    target.write_text("")
    target.chmod(0o644)
    link = tmp_path / "link.db"
    link.symlink_to(target)
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o755)
    for path, says in ((link, "is a symbolic link"), (folder, "is a directory"),
                       (Path("/dev/null"), "is not a regular file")):
        before = os.stat(path).st_mode
        res = deploytui("run", book, "--headless", "--journal", path)
        assert res.returncode == 2 and res.stderr.count("\n") == 1 and says in res.stderr, res.stderr
        assert os.stat(path).st_mode == before
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    # a journal someone made with another mode stays as they made it
    res = deploytui("run", book, "--headless", "--answers", _run_all(tmp_path), "--journal", target)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    # a journal deploytui creates, in directories it creates, is private
    fresh = tmp_path / "new" / "deeper" / "j.db"
    res = deploytui("run", book, "--headless", "--answers", _run_all(tmp_path), "--journal", fresh)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(fresh.parent).st_mode) == 0o700


def _run_all(tmp_path: Path) -> Path:
    answers = tmp_path / "run-all.toml"
    answers.write_text('run = ["*"]\ntick = ["*"]\n')
    return answers


def test_a_journal_of_a_newer_format_is_refused_without_a_trace(tmp_path):
    book = write_book(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n')
    j = tmp_path / "j.db"
    Journal(j).close()
    db = sqlite3.connect(j)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    res = deploytui("run", book, "--headless", "--journal", j)
    assert res.returncode == 2 and "written by a newer deploytui" in res.stderr and res.stderr.count("\n") == 1
    db = sqlite3.connect(j)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM locks").fetchone() == (0,)


def test_a_full_disk_says_so_and_loses_nothing_already_written(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        checks = ["one", "two"]
        """)
    run.tick("a", 0)
    before = run.journal.events(run.run_id)
    pages = run.journal.db.execute("PRAGMA page_count").fetchone()[0]
    run.journal.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    with pytest.raises(UserError, match=r"^journal: disk full \(") as raised:
        run.note("x" * 200_000)
    assert "rollback" not in str(raised.value)
    run.journal.db.execute("PRAGMA max_page_count = 1073741823")
    assert [e.seq for e in run.journal.events(run.run_id)] == [e.seq for e in before]
    run.tick("a", 1)  # space again: the run goes on
    assert run.state.outcome == "succeeded"


# ---- secrets --------------------------------------------------------------------------------------------------
SECRET_HEADER = HEADER + '[vars.db_password]\nsecret = true\n'


def test_a_secret_reaches_the_command_through_its_environment_only(tmp_path):
    secret = "Pa ss'w\"rd-42"
    seen = tmp_path / "ps"
    run = start(tmp_path, f"""
        [[steps]]
        id = "use"
        title = "Log in as {{{{ db_password }}}}"
        run = 'ps -eo args > {seen}; set -- {{{{ db_password }}}}; echo "len=$(printf %s "$1" | wc -c)"'
        """, header=SECRET_HEADER, given={"db_password": secret})
    run.run_step("use")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    started = [e for e in run.journal.events(run.run_id) if e.kind == ev.STEP_STARTED][0]
    assert '"$DEPLOYTUI_SECRET_DB_PASSWORD"' in started.data["command"] and secret not in started.data["command"]
    assert secret not in seen.read_text()  # not in any process's command line
    assert run.journal.tail(run.run_id, "use")[0] == [f"len={len(secret)}"]  # the child got the real value
    assert run.title(run.book.step("use")) == "Log in as ••••••"
    assert secret not in run.resolved_command(run.book.step("use"))


def test_a_captured_secret_reaches_later_steps_as_itself_and_stays_masked(tmp_path):
    token = "ghp_" + "A1b2C3d4" * 5
    run = start(tmp_path, f"""
        [[steps]]
        id = "mint"
        title = "Mint a token"
        run = "echo token={token}"
        capture = {{ token = "re:token=(\\\\S+)" }}
        [[steps]]
        id = "use"
        title = "Use it"
        run = "test {{{{ token }}}} = {token} && echo same"
        """)
    run.run_step("mint")
    assert wait_for(lambda: run.state.current == "use", run=run)
    run.run_step("use")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run), run.state.steps["use"].error
    assert run.journal.tail(run.run_id, "use")[0] == ["same"]
    raw = "".join(e.to_json() for e in run.journal.events(run.run_id))
    raw += "".join(c.data for c in run.journal.chunks(run.run_id))
    assert token not in raw


def test_a_bad_value_for_a_secret_variable_is_not_echoed(tmp_path):
    book = write_book(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n',
                      header=HEADER + "[vars.pin]\nsecret = true\npattern = '^\\d{6}$'\n")
    res = deploytui("run", book, "--headless", "--var", "pin=hunter2-oops", "--journal", tmp_path / "j.db")
    assert res.returncode == 2 and "hunter2-oops" not in res.stderr and "pin" in res.stderr
    # any value of a secret on the command line is refused (it is in `ps`), and the way to give it is said
    for command in (["run", book, "--headless"], ["plan", book], ["share", "--detach", "--", sys.executable, "-m", "deploytui", "run", book]):
        res = deploytui(*command, "--var", "pin=123456", "--journal", tmp_path / "refused.db")
        assert res.returncode == 2 and "Traceback" not in res.stderr, command
        assert "--var pin: a secret on the command line is visible to every user in `ps`" in res.stderr
        assert "DEPLOYTUI_VAR_PIN" in res.stderr and "123456" not in res.stderr + res.stdout
    assert not (tmp_path / "refused.db").exists()


# ---- shell injection --------------------------------------------------------------------------------------------
PAYLOADS = ["$(touch PWNED)", "`touch PWNED`", "'; touch PWNED; '", "\"; touch PWNED; \"", "$(touch${IFS}PWNED)",
            "x\ntouch PWNED", "\\'$(touch PWNED)"]


def test_captured_payloads_run_as_literals_and_quoting_them_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    for n, payload in enumerate(PAYLOADS):
        value = payload.replace("PWNED", str(marker))
        source = tmp_path / f"payload{n}"
        source.write_text(value)
        run = start(tmp_path, f"""
            [[steps]]
            id = "fetch"
            title = "Fetch"
            run = "cat {source}"
            capture = {{ v = "stdout" }}
            [[steps]]
            id = "use"
            title = "Use"
            run = "printf '%s' {{{{ v }}}}"
            """, given={"env": f"e{n}"})
        run.run_step("fetch")
        assert wait_for(lambda run=run: run.state.current == "use", run=run)
        run.run_step("use")
        assert wait_for(lambda run=run: run.state.outcome == "succeeded", run=run)
        assert "".join(run.journal.tail(run.run_id, "use")[0]) == value.replace("\n", "")
    assert not marker.exists()
    quoted = write_book(tmp_path, '[[steps]]\nid = "use"\ntitle = "U"\nrun = "echo \\"{{ env }}\\""\n', name="q.toml")
    res = deploytui("run", quoted, "--headless", "--journal", tmp_path / "q.db")
    assert res.returncode == 2 and "inside double quotes" in res.stderr and "Traceback" not in res.stderr


def test_heredocs_are_checked_and_a_second_shell_gets_the_remote_filter(tmp_path):
    book = write_book(tmp_path, """
        [[steps]]
        id = "h"
        title = "H"
        run = \"\"\"
        cat <<EOF
        {{ env }}
        EOF
        \"\"\"
        [[steps]]
        id = "r"
        title = "R"
        run = "ssh host echo {{ env }}"
        """)
    res = deploytui("check", book)
    assert res.returncode == 2
    assert "{{ env }} is inside a heredoc the shell expands" in res.stderr
    assert "warning: {{ env }} passes through a second shell (ssh)" in res.stderr
    marker = tmp_path / "PWNED"
    hostile = f"x; touch {marker}; 'y"
    run = start(tmp_path, """
        [[steps]]
        id = "e"
        title = "E"
        run = "eval printf \\"'%s|'\\" {{ v | remote }}"
        """, header=HEADER + "[vars.v]\n", given={"v": hostile})
    run.run_step("e")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert run.journal.tail(run.run_id, "e")[0] == [hostile + "|"]
    assert not marker.exists()


def test_a_secret_never_goes_through_a_second_shell_s_command_line(tmp_path):
    # `| remote` rendered '"$DEPLOYTUI_SECRET_PW"': ssh sent the variable's name, the remote shell had none,
    # and the command got an empty password; without `| remote` the value would be in ssh's argv (ps)
    header = HEADER + '[vars.pw]\nsecret = true\nfrom_env = "PW"\n'
    for run_text in ("ssh db psql --password {{ pw | remote }}", "sudo sh -c 'echo x' {{ pw }}"):
        book = write_book(tmp_path, f'[[steps]]\nid = "r"\ntitle = "R"\nrun = "{run_text}"\n', header=header)
        res = deploytui("check", book)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert "{{ pw }} is a secret and would go through a second shell" in res.stderr
        assert "stdin" in res.stderr
    # what the error suggests works: the value goes on stdin, through no process's arguments
    book = write_book(tmp_path, """
        [[steps]]
        id = "r"
        title = "R"
        run = "printf '%s\\n' {{ pw }} | sh -c 'read -r PW && printf %s \\\"$PW\\\" | wc -c'"
        """, header=header)
    assert deploytui("check", book).returncode == 0
    run = start(tmp_path, """
        [[steps]]
        id = "r"
        title = "R"
        run = "printf '%s\\n' {{ pw }} | sh -c 'read -r PW && printf %s \\\"$PW\\\" | wc -c'"
        """, header=header, given={"pw": "Sup3r-Secret"})
    run.run_step("r")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert [line.strip() for line in run.journal.tail(run.run_id, "r")[0]] == ["12"]


def test_no_secret_reaches_a_slack_message(tmp_path, httpserver):
    from werkzeug import Response

    posted = []
    httpserver.expect_request("/hook").respond_with_handler(
        lambda req: posted.append(req.get_json()["text"]) or Response("ok"))
    secret = "Sup3r-Secret-Pw"
    header = (HEADER.replace('title = "Test"', 'title = "Rotate {{ pw }}"') + '[vars.pw]\nsecret = true\n'
              f'[vars.hook]\nsecret = true\ndefault = "{httpserver.url_for("/hook")}"\n'
              '[notify]\nslack = "{{ hook }}"\nevents = ["run_started", "step_finished", "run_finished"]\n')
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "Log in with {{ pw }}"
        checks = ["logged in"]
        [[steps]]
        id = "b"
        title = "Fail saying it"
        run = "echo {{ pw }}; exit 3"
        """, header=header, given={"pw": secret})
    run.skip("a", f"the password {secret} did not work")  # a person's reason can hold it too
    run.run_step("b")
    assert wait_for(lambda: run.state.steps["b"].command_ok is False, run=run)
    run.abort(f"gave up on {secret}")
    assert wait_for(lambda: run.state.outcome is not None, run=run)
    for notifier in run._notifiers:
        assert notifier.flush(5)
    text = "\n".join(posted)
    assert "Run of Rotate ••••••" in text and "gave up on [REDACTED]" in text  # the messages were sent
    assert secret not in text and "Sup3r" not in text


# ---- resuming the right run ----------------------------------------------------------------------------------
def test_resume_never_drops_the_values_given(tmp_path):
    run = start(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nchecks = ["x"]\n', given={"env": "prod"})
    run.close()
    with pytest.raises(UserError, match=r"started with other values: env='staging' \(the run has 'prod'\)"):
        Run.resume(run.journal, run.run_id, operator="tester", given={"env": "staging"})
    again = Run.resume(run.journal, run.run_id, operator="tester", given={"env": "prod"})
    assert again.state.info["environment"] == "prod"
    again.close()


def test_the_resume_offer_never_picks_a_run_of_another_environment(tmp_path):
    from deploytui.cli import resumable
    from deploytui.runbook.loader import load

    first = start(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nchecks = ["x"]\n', given={"env": "prod"})
    first.close()
    book = load(tmp_path / "book.toml")
    assert resumable(first.journal, book, {"env": "staging"}, env={}) is None
    offered = resumable(first.journal, book, {"env": "prod"}, env={})
    assert offered is not None and offered[0].id == first.run_id and offered[1] == []


def test_after_deploytui_ends_the_journal_file_alone_holds_everything(tmp_path):
    """The WAL is folded into the main file on the way out: a copy of the journal file (without its -wal)
    is a whole journal."""
    book = write_book(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nrun = "echo hi"\n[[steps]]\nid = "b"\n'
                                'title = "B"\nchecks = ["x"]\n')
    j = tmp_path / "j.db"
    res = deploytui("run", book, "--headless", "--answers", _run_all(tmp_path), "--journal", j)
    assert res.returncode == 0, res.stderr
    copy = tmp_path / "copy.db"
    copy.write_bytes(j.read_bytes())
    db = sqlite3.connect(copy)
    assert db.execute("SELECT outcome FROM runs").fetchone() == ("succeeded",)
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 5


def test_a_heartbeat_that_meets_a_busy_journal_is_skipped_and_the_run_keeps_ticking(tmp_path):
    # the ticker stopped for good (with a traceback) when one heartbeat met "database is locked": the
    # deadline was no longer watched and followers saw a dead driver
    run = start(tmp_path, '[[steps]]\nid = "a"\ntitle = "A"\nchecks = ["x"]\n')
    real, failed = run.journal.beat, []

    def busy_once(*args):
        if not failed:
            failed.append(True)
            raise UserError("journal: database is locked")
        return real(*args)

    run.journal.beat = busy_once  # the run's ticker is already beating
    try:
        assert wait_for(lambda: failed, timeout=5)
        before = run.journal.driver(run.run_id)["beat"]
        assert wait_for(lambda: run.journal.driver(run.run_id)["beat"] > before, timeout=5)
        assert run._ticker.is_alive()
    finally:
        run.close()
