"""What a reviewer reads in the record, from runs the engine really drove: only real deviations, a
changed runbook once, checks tied to a wait flagged when ticked too soon, the people who acted (never
the engine), the short form under Jira's limit, and the commands around the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from deploytui.engine.clock import FakeClock
from deploytui.engine.run import Run
from deploytui.journal import Journal
from deploytui.reports.export import JIRA_LIMIT, record
from deploytui.runbook.loader import load
from deploytui.runbook.variables import resolve

ROOT = Path(__file__).resolve().parents[2]
HEADER = '[runbook]\nid = "t"\ntitle = "Test"\n'


def write_book(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "book.toml"
    path.write_text(HEADER + body)
    return path


def start(tmp_path: Path, body: str, clock: FakeClock | None = None) -> Run:
    book = load(write_book(tmp_path, body))
    values, _ = resolve(book, {})
    return Run.start(Journal(tmp_path / "journal.sqlite3"), book, values, operator="tester",
                     clock=clock or FakeClock())


def wait_for(predicate, run: Run, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        run.poll()
        if predicate():
            return True
        time.sleep(0.02)
    return False

BODY = '''
[vars.kind]
default = "full"
[[steps]]
id = "build"
title = "Build"
run = "echo built"
[[steps]]
id = "patch-only"
title = "Patch only"
when = "kind == 'patch'"
run = "echo patch"
[[steps]]
id = "soak"
title = "Soak"
wait = "1h"
checks = ["No new errors after an hour"]
[[steps]]
id = "tag"
title = "Tag"
checks = ["Tagged"]
'''


def drive_to_end(run: Run, clock: FakeClock, early: bool = True) -> None:
    run.run_step("build")
    assert wait_for(lambda: run.state.current == "soak", run=run)
    if early:
        clock.advance(120)
        run.tick("soak", 0, actor="jo")  # 58 minutes too soon
    assert wait_for(lambda: run.state.steps["soak"].wait_deadline is not None, run=run)
    clock.advance(3600)
    assert wait_for(lambda: run.state.steps["soak"].wait_expired, run=run)
    if not early:
        run.tick("soak", 0, actor="jo")
    run.tick("tag", 0)
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)


def test_only_real_deviations_and_an_early_tick_flagged(tmp_path):
    clock = FakeClock(1_800_000_000.0)
    run = start(tmp_path, BODY, clock=clock)
    try:
        drive_to_end(run, clock)
        doc = json.loads(record(run.journal, run.run_id, "json"))
    finally:
        run.close()
    # the `when` skip is the runbook's plan; the early tick is the one departure
    assert [d["kind"] for d in doc["deviations"]] == ["early_tick"]
    assert doc["deviations"][0]["what"] == "Soak: ticked “No new errors after an hour” 58m00s before the step's wait was over"
    assert doc["deviations"][0]["actor"] == "jo"
    md = record(run.journal, run.run_id, "md")
    assert "- ☑ No new errors after an hour — ticked by jo at" in md and "**— ticked 58m00s before the wait was over**" in md
    people = {a["name"]: a["did"] for a in doc["people"]["acted"]}
    assert people == {"tester": "started the run, ran a step, ticked a check", "jo": "ticked a check"}
    assert doc["people"]["pairs"] == ["jo"] and "engine" not in md.split("## People")[1].split("##")[0]


def test_a_tick_after_the_wait_is_not_flagged(tmp_path):
    clock = FakeClock(1_800_000_000.0)
    run = start(tmp_path, BODY, clock=clock)
    try:
        drive_to_end(run, clock, early=False)
        doc = json.loads(record(run.journal, run.run_id, "json"))
    finally:
        run.close()
    assert doc["deviations"] == []
    assert "None: the runbook was followed as written." in record(run.journal, run.run_id, "md")


def test_a_changed_runbook_is_listed_once_however_often_the_run_is_resumed(tmp_path):
    clock = FakeClock(1_800_000_000.0)
    run = start(tmp_path, BODY, clock=clock)
    journal, run_id = run.journal, run.run_id
    run.close()
    path = write_book(tmp_path, BODY.replace('title = "Tag"', 'title = "Tag the release"'))
    for _ in range(3):
        Run.resume(journal, run_id, operator="tester", clock=clock).close()
    assert sum(e.kind == "runbook_changed" for e in journal.events(run_id)) == 3  # the engine says it each time
    doc = json.loads(record(journal, run_id, "json"))
    assert [d["kind"] for d in doc["deviations"]].count("runbook_changed") == 1
    assert len(doc["run"]["runbook_changes"]) == 1 and len(doc["run"]["resumes"]) == 3
    assert path.exists()


def test_the_summary_fits_a_jira_description(tmp_path):
    """A 300-step run with a deviation on every step: the summary keeps the facts, counts what it leaves out."""
    body = "".join(f'[[steps]]\nid = "s{i}"\ntitle = "Step {i} with a long enough title to take room"\n'
                   f'checks = ["done {i}"]\n' for i in range(300))
    run = start(tmp_path, body)
    try:
        for i in range(300):
            run.note(f"note {i}: " + "x" * 80, f"s{i}")
            run.skip(f"s{i}", "not needed this time, said the change board " + "y" * 60)
        summary = record(run.journal, run.run_id, "md", summary=True)
    finally:
        run.close()
    assert len(summary) <= JIRA_LIMIT
    assert summary.startswith("# Deploy record (summary): Test")
    assert "more in the full record" in summary and "more steps in the full record" in summary
    assert "| Outcome |" in summary


def deploytui(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "deploytui", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, input=stdin, env={**os.environ, "COLUMNS": "70"})


def test_show_history_and_last(tmp_path):
    clock = FakeClock(1_800_000_000.0)
    run = start(tmp_path, BODY, clock=clock)
    drive_to_end(run, clock)
    run.close()
    journal = tmp_path / "journal.sqlite3"
    shown = deploytui("show", "last", "--journal", journal)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert all(len(x) <= 70 for x in lines), [x for x in lines if len(x) > 70]  # wrapped to the terminal
    assert any("Soak: waiting until" in x for x in lines) and "1800003" not in shown.stdout  # times, not epochs
    assert "Patch only: not needed this time" in shown.stdout
    as_json = json.loads(deploytui("show", run.run_id[:10], "--json", "--journal", journal).stdout)
    assert as_json["id"] == run.run_id and as_json["events"][0]["kind"] == "run_started"
    assert as_json["events"][0]["time"].startswith("2027-01-15T")
    history = json.loads(deploytui("history", "--json", "--journal", journal).stdout)
    assert [r["id"] for r in history] == [run.run_id] and history[0]["outcome"] == "succeeded"
    exported = deploytui("export", "last", "--summary", "--journal", journal)
    assert exported.returncode == 0 and exported.stdout.startswith("# Deploy record (summary): Test")
    pdf = deploytui("export", "last", "--format", "pdf", "-o", tmp_path / "r.pdf", "--journal", journal)
    assert pdf.returncode == 0, pdf.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def test_plan_asks_for_what_it_needs_or_refuses_in_one_line(tmp_path):
    book = ROOT / "runbooks" / "login-gov-idp.toml"
    refused = deploytui("plan", book, "--journal", tmp_path / "none.sqlite3")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [f"{book}: the plan needs rc: give --var rc=VALUE"]
    done = deploytui("plan", book, "--var", "rc=112", "--at", "2026-11-27 11:00", "--journal", tmp_path / "n.sqlite3")
    assert done.returncode == 0, done.stderr
    assert "{{" not in done.stdout and "{%" not in done.stdout
    assert "- Friday is a day to avoid for this deploy" in done.stdout
    assert "- Thu 2026-11-26 (the day before) is a public holiday in US: Thanksgiving Day" in done.stdout
    assert "| Planned start | Fri 2026-11-27 11:00" in done.stdout
    assert "stages/rc-2026-11-27" in done.stdout  # `today` is the planned day
