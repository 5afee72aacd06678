"""A run killed with SIGKILL mid-stream resumes with every committed event and the step interrupted."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from deploytui.engine.run import Run
from deploytui.events import kinds as ev
from deploytui.journal import Journal

from .helpers import write_book

BODY = """
[[steps]]
id = "first"
title = "First"
auto = true
run = "echo first done"
[[steps]]
id = "stream"
title = "Stream"
auto = true
run = "for i in $(seq 1 100000); do echo line $i MARKER; sleep 0.01; done"
[[steps]]
id = "after"
title = "After"
checks = ["ok"]
"""


def test_sigkill_during_stream_then_resume(tmp_path):
    marker = f"crash-{os.getpid()}-{time.monotonic_ns()}"
    book = write_book(tmp_path, BODY.replace("MARKER", marker))
    j = tmp_path / "j.db"
    proc = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--journal", str(j),
                             "--no-output"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _kill_mid_stream(proc, j)
    finally:
        if proc.poll() is None:  # never leave the driver behind, whatever failed
            proc.kill()
            proc.wait()
    journal = Journal(j, readonly=True)
    (run_id,) = journal.db.execute("SELECT id FROM runs").fetchone()
    before = journal.events(run_id)
    lines_before = journal.tail(run_id, "stream")[1]
    assert [e.kind for e in before][-2:] == [ev.STEP_STARTED, ev.PROCESS_STARTED] and before[-1].step == "stream"
    assert lines_before >= 20

    # the streaming child lost its reader with its parent and must not live on: it goes at its next write
    def survivors() -> list[str]:
        return [p for p in subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
                if int(p) != os.getpid()]

    deadline = time.monotonic() + 10
    while (ps := survivors()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in ps:  # clean up before failing, so one failure leaves nothing running
        os.kill(int(pid), signal.SIGKILL)
    assert ps == []

    journal2 = Journal(j)
    run = Run.resume(journal2, run_id, operator="tester")
    after = journal2.events(run_id)
    assert [(e.seq, e.kind, e.data) for e in after[: len(before)]] == [(e.seq, e.kind, e.data) for e in before]
    assert [e.kind for e in after[len(before):]] == [ev.RESUMED, ev.STEP_INTERRUPTED]
    assert run.state.status("stream") == "interrupted"
    assert run.state.status("first") == "done"
    assert journal2.tail(run_id, "stream")[1] == lines_before
    run.mark("stream", "done", "output checked by hand")
    assert run.state.current == "after"


def _kill_mid_stream(proc, j) -> None:
    """SIGKILL the driver once at least 20 lines of the stream are committed."""
    journal = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if j.exists():
            journal = journal or Journal(j, readonly=True)
            try:
                rows = journal.db.execute("SELECT COALESCE(SUM(lines), 0) FROM output WHERE step='stream'").fetchone()
            except sqlite3.OperationalError:  # the driver has created the file but not its tables yet
                continue
            if rows[0] >= 20:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_detects_changed_runbook(tmp_path):
    book = write_book(tmp_path, BODY.replace("seq 1 100000", "seq 1 3"))
    j = tmp_path / "j.db"
    res = subprocess.run([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--journal", str(j)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "needs a person: step 'after' has checks" in res.stdout
    book.write_text(book.read_text().replace('checks = ["ok"]', 'checks = ["ok", "really ok"]'))
    journal = Journal(j)
    (run_id,) = journal.db.execute("SELECT id FROM runs").fetchone()
    run = Run.resume(journal, run_id, operator="tester")
    changed = [e for e in journal.events(run_id) if e.kind == ev.RUNBOOK_CHANGED]
    assert len(changed) == 1 and '+checks = ["ok", "really ok"]' in changed[0].data["diff"]
    assert len(run.state.steps["after"].checks) == 2
