"""The crash corpus: the headless driver is killed with SIGKILL at each point of a run where something is in
flight (a stream, a command deaf to hangups, a gate, a wait, a decision, ...). After each kill the journal
must be intact (SQLite's integrity check, contiguous events, the fold works, the run resumes and finishes),
no event the driver had shown may be missing from it (commit before show), and no process of the run may be
left alive that the resume does not report (orphans). Figures at the end: kills / journals intact / events
lost / orphans."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from figures import report

from deploytui.engine import process
from deploytui.engine.clock import Clock
from deploytui.engine.headless import Answers, drive
from deploytui.engine.run import Run
from deploytui.events import kinds as ev
from deploytui.events.describe import describe
from deploytui.events.state import fold
from deploytui.journal import Journal
from deploytui.runbook.loader import parse

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"kills": 0, "intact": 0, "lost": 0, "orphans": 0}

BOOK = """
[runbook]
id = "crash"
title = "Crash corpus"
environment = "{{ env }}"
[vars.env]
default = "staging"
[[steps]]
id = "stream"
title = "Stream"
auto = true
run = "seq 1 300000; echo streamed"
[[steps]]
id = "deaf"
title = "A command deaf to hangups"
auto = true
pty = false
run = "trap '' HUP; sleep 2; echo done"
[[steps]]
id = "gated"
title = "Gated"
not_before = { step = "deaf", wait = "2s" }
auto = true
run = "echo gated"
[[steps]]
id = "look"
title = "Look"
checks = ["looked"]
[[steps]]
id = "soak"
title = "Soak"
wait = "2s"
[[steps]]
id = "choose"
title = "Choose"
decide = { question = "Go on?", options = [{ label = "Go on" }] }
[[steps]]
id = "finish"
title = "Finish"
auto = true
run = "sleep 1; echo finished"
"""

ANSWERS = 'run = ["*"]\ntick = ["*"]\n[decide]\nchoose = "Go on"\n'

# (name, the journal state that marks the crash point)
POINTS = [
    ("just started", lambda db: _has(db, "run_started")),
    ("mid-stream", lambda db: _lines(db, "stream") > 20_000),
    ("a hangup-deaf command running", lambda db: _has(db, "process_started", "deaf")),
    ("a gate counting down", lambda db: _has(db, "timer_started", "gated")),
    ("checks ticked", lambda db: _has(db, "check_toggled", "look")),
    ("a wait counting down", lambda db: _has(db, "timer_started", "soak")),
    ("decided", lambda db: _has(db, "decision", "choose")),
    ("the last command running", lambda db: _has(db, "process_started", "finish")),
]


def _has(db, kind: str, step: str | None = None) -> bool:
    sql = "SELECT 1 FROM events WHERE kind = ?" + (" AND step = ?" if step else "")
    return db.execute(sql, (kind, step) if step else (kind,)).fetchone() is not None


def _lines(db, step: str) -> int:
    return db.execute("SELECT COALESCE(SUM(lines), 0) FROM output WHERE step = ?", (step,)).fetchone()[0]


def _kill_at(proc: subprocess.Popen, journal: Path, reached) -> None:
    deadline = time.monotonic() + 60
    db = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the driver ended before the crash point: {proc.returncode}")
        if journal.exists():
            try:
                db = db or sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
                if reached(db):
                    break
            except sqlite3.OperationalError:  # the driver has not made its tables yet
                db = None
        time.sleep(0.01)
    else:
        raise AssertionError("the crash point was never reached")
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("name,reached", POINTS, ids=[p[0] for p in POINTS])
def test_a_kill_at_any_point_loses_nothing_and_leaves_nothing(tmp_path, name, reached):
    book, answers, journal = tmp_path / "crash.toml", tmp_path / "answers.toml", tmp_path / "j.db"
    book.write_text(BOOK)
    answers.write_text(ANSWERS)
    shown = tmp_path / "shown.txt"
    with open(shown, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--answers",
                                 str(answers), "--journal", str(journal), "--no-output"], stdout=out,
                                stderr=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
        try:
            _kill_at(proc, journal, reached)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    FIGURES["kills"] += 1

    # intact: SQLite says so, events are contiguous, the fold of them works
    db = sqlite3.connect(journal)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    j = Journal(journal)
    (run_id,) = j.db.execute("SELECT id FROM runs").fetchone()
    events = j.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    row = j.run(run_id)
    book_model = parse(row.runbook_text, row.path)
    fold(book_model, events, run_id)

    # nothing shown was lost: every progress line the driver printed describes a committed event
    committed = {describe(e, lambda sid: book_model.step(sid).title).text for e in events}
    printed = [line.split(" ", 1)[1] for line in shown.read_text().splitlines()
               if line[:2].isdigit() and line[2:3] == ":" and " " in line]
    lost = [line for line in printed if line not in committed]
    FIGURES["lost"] += len(lost)
    assert lost == []

    # the resume reports every process of the run still alive, and nothing of it is left unreported
    alive_before = set(process.marked(run_id))
    run = Run.resume(j, run_id, operator="tester", clock=Clock(), headless=True)
    reported = {p["pid"] for e in j.events(run_id) if e.kind == ev.SURVIVORS_FOUND for p in e.data["processes"]}
    # a command the kill's hangup is ending may still be exiting as the resume looks: an orphan is one still
    # alive, unreported, once such exits have had half a second to finish
    end = time.monotonic() + 0.5
    while (orphans := (alive_before - reported) & set(process.marked(run_id))) and time.monotonic() < end:
        time.sleep(0.02)
    FIGURES["orphans"] += len(orphans)
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert orphans == set(), f"not reported by the resume: {process.describe(list(orphans))}"

    # and the run goes on to its end from where it stopped
    run.kill_grace = 0.5
    for sid, st in run.state.steps.items():
        if st.interrupted:
            if sid in reported_steps(j, run_id):
                run.end_survivors(sid, "killed with the old driver")
            run.rerun(sid, f"crash corpus: {name}")
    code = drive(run, Answers(run={"*"}, tick={"*"}, decide={"choose": "Go on"}), lambda line: None,
                 max_seconds=60)
    run.close()
    assert code == 0 and run.state.outcome == "succeeded", [e.kind for e in j.events(run_id)][-6:]
    assert not process.marked(run_id)
    FIGURES["intact"] += 1
    report("crash", f"crash corpus: {FIGURES['kills']} kills / {FIGURES['intact']} journals intact / "
                    f"{FIGURES['lost']} events lost / {FIGURES['orphans']} orphans")


def reported_steps(j: Journal, run_id: str) -> set[str]:
    return {e.step for e in j.events(run_id) if e.kind == ev.SURVIVORS_FOUND and not e.data.get("ended")}
