"""Export speed: a 100,000-event run in a temporary journal, exported as Markdown, HTML and JSON.

Target: under 2 s for each of Markdown and HTML (the record as `deploytui export` writes it, output
trimmed to the last 40 lines per step), and the --full-output figures for reference.

    .venv/bin/python bench/bench_export.py [EVENTS]

Last result (shared 2-core dev machine, Python 3.11, 100,000 events, 200 steps, 400,000 output lines),
the record built from the fold (events.state) with its full history; other engineers' jobs ran alongside:
    md   last 40      2.25 s   7.0 MB  OVER        md   full output  2.65 s  25.0 MB
    html last 40      2.81 s   9.5 MB  OVER        html full output 3.51 s  27.5 MB
    json last 40      4.07 s  27.9 MB              json full output 4.69 s  55.6 MB
(before the fold-based record, on a quieter machine: md 1.23 s, html 1.20 s.) The fold is 1.5 s of it
(100,000 payloads), redaction of the document 0.7 s.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path

import deploytui.engine  # noqa: F401  (keeps the import order the CLI uses)
from deploytui.journal import Journal
from deploytui.reports.export import write_record
from deploytui.runbook.loader import parse
from deploytui.text.redact import MASK

TARGET = 2.0
STEPS = 200
OUTPUT_LINES_PER_STEP = 2_000  # 400,000 lines of output in all


def runbook_text(steps: int) -> str:
    parts = ['[runbook]\nid = "bench"\ntitle = "Benchmark deploy"\nenvironment = "{{ env }}"\n'
             'approvers = ["alice"]\n\n[vars.env]\ndefault = "prod"\n[vars.token]\nsecret = true\n\n'
             '[[sections]]\nid = "rollback"\ntitle = "Rolling back"\non_demand = true\n']
    for i in range(steps):
        section = "rollback" if i >= steps - 5 else f"Phase {i // 20}"
        parts.append(f'\n[[steps]]\nid = "s{i}"\nsection = "{section}"\ntitle = "Step {i} on {{{{ env }}}}"\n'
                     f'run = "echo step {i} on {{{{ env }}}}"\nchecks = ["first check", "second check"]\n')
    return "".join(parts)


def build(journal: Journal, events: int) -> str:
    text = runbook_text(STEPS)
    book = parse(text, "bench.toml")
    run_id = "bench-run"
    t = 1_715_677_200.0
    journal.create_run(run_id, runbook_id="bench", title="Benchmark deploy", path="bench.toml", sha256=book.sha256,
                       runbook_text=text, environment="prod", release="", operator="maria", host="h", tty="",
                       tmux="", rehearsal=False, started=t, vars={"env": "prod", "token": MASK})
    rows, outputs = [], []
    seq = 0

    def add(kind, step, data, actor="maria"):
        nonlocal seq, t
        seq += 1
        t += 0.01
        rows.append((run_id, seq, t, kind, step, actor, json.dumps(data, sort_keys=True)))

    add("run_started", None, {"vars": {"env": "prod", "token": MASK}, "operator": "maria"})
    per_step = (events - 2) // STEPS
    for i in range(STEPS):
        sid = f"s{i}"
        add("step_started", sid, {"attempt": 1, "command": f"echo step {i} on prod"})
        for k in range(0, OUTPUT_LINES_PER_STEP, 500):
            outputs.append((run_id, sid, 1, "main", t, 500,
                            "".join(f"{sid} output line {n} ghp_notreallyatoken | ok\n" for n in range(k, k + 500))))
        add("command_finished", sid, {"attempt": 1, "exit_code": 0, "ok": True, "duration": 1.5}, "engine")
        fill = per_step - 4
        for n in range(fill):  # the bulk: ticks toggled back and forth, pane matches, notes
            kind = n % 3
            if kind == 0:
                add("check_toggled", sid, {"index": n % 2, "label": "first check", "checked": n % 4 != 0})
            elif kind == 1:
                add("pane_matched", sid, {"pane": 0, "line": f"healthy {n}"}, "engine")
            else:
                add("note", sid, {"text": f"note {n} on {sid}: all | fine"})
        add("check_toggled", sid, {"index": 1, "label": "second check", "checked": True})
        add("step_finished", sid, {"status": "done", "exit_code": 0, "duration": 2.0}, "engine")
    while seq < events - 1:
        add("note", None, {"text": "padding"})
    add("run_finished", None, {"outcome": "succeeded"})
    with journal._lock:  # bulk insert in one transaction: building the fixture is not what is measured
        journal.db.execute("BEGIN")
        journal.db.executemany("INSERT INTO events (run_id, seq, ts, kind, step, actor, data) VALUES (?,?,?,?,?,?,?)", rows)
        journal.db.executemany("INSERT INTO output (run_id, step, attempt, stream, ts, lines, data)"
                               " VALUES (?,?,?,?,?,?,?)", outputs)
        journal.db.execute("COMMIT")
    return run_id


def measure(journal: Journal, run_id: str, fmt: str, full: bool) -> tuple[float, int]:
    out = io.StringIO()
    start = time.perf_counter()
    write_record(journal, run_id, out, fmt, full_output=full)
    return time.perf_counter() - start, len(out.getvalue())


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite3")
        t0 = time.perf_counter()
        run_id = build(journal, events)
        (n,) = journal.db.execute("SELECT COUNT(*) FROM events").fetchone()
        print(f"built a run of {n:,} events, {STEPS} steps, {STEPS * OUTPUT_LINES_PER_STEP:,} output lines "
              f"in {time.perf_counter() - t0:.1f} s")
        ok = True
        for fmt in ("md", "html", "json"):
            for full in (False, True):
                secs, size = measure(journal, run_id, fmt, full)
                verdict = ""
                if fmt in ("md", "html") and not full:
                    verdict = "ok" if secs < TARGET else f"OVER the {TARGET:.0f} s target"
                    ok = ok and secs < TARGET
                what = f"export {fmt} of {n:,} events, {'full output' if full else 'output trimmed to 40 lines'}"
                target = f"< {TARGET:.0f} s" if fmt in ("md", "html") and not full else "-"
                print(f"  {fmt:4} {'full output' if full else 'last 40   '}  {secs:6.2f} s  {size / 1e6:7.1f} MB  {verdict}")
                print(f"RESULT|{what}|{secs:.2f} s ({size / 1e6:.1f} MB)|{target}|")
        journal.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
