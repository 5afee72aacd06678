"""Golden files: a rehearsed run of each seed runbook, frozen as a journal fixture, and its plan and record
in every format.

    .venv/bin/python -m tests.export.golden rehearse   # rehearse every seed again, refreeze the fixtures
    .venv/bin/python -m tests.export.golden render     # rewrite the golden files from the fixtures
    .venv/bin/python -m tests.export.golden screenshots [DIR]   # screenshots/plan.png and record.png

The rehearsal world changes (issue 12) and a rehearsal's ids, shas and times differ every time, so the
goldens are rendered from frozen fixtures (`golden/<seed>.journal.json`: the journal rows of one real
rehearsal, with its scratch directory and host made neutral). Rendering is deterministic: a fixed time
zone, clock, host and operator."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "golden"
GENERATED = 1_799_744_400.0  # Tue 2027-01-12 09:00 UTC: `generated` in every golden file
AT = "2027-01-12 10:00"  # the plans' planned start

EVERYTHING = 'run = ["*"]\ntick = ["*"]\n[override]\nschedule = "rehearsal outside the usual days"\n'
LOGIN = EVERYTHING + ('[decide]\nmerge-conflicts = "No conflicts"\nextra-servers = "No extra servers"\n'
                      'worried = "Looks healthy, continue"\n')
SEEDS: dict[str, tuple[str, str]] = {
    "login-gov-idp": ("login-gov-idp.toml", LOGIN + 'rollback-decision = "None: keep the release"\n'),
    "login-gov-idp-rollback": ("login-gov-idp.toml", LOGIN + 'rollback-decision = "Roll back"\n'
                               '[reasons]\nrollback-decision = "5XX rate at 4%, above 1%"\n'),
    "login-gov-idp-recycle": ("login-gov-idp-recycle.toml", EVERYTHING),
    "login-gov-pki": ("login-gov-pki.toml", LOGIN + 'rollback-decision = "None: keep the release"\n'),
    "getgov": ("getgov.toml", EVERYTHING + '[decide]\nhealthy = "Healthy"\n'),
    "govuk-cd": ("govuk-cd.toml", '[vars]\napp = "frontend"\nrelease_tag = "v42"\n'),
    "vetspire": ("vetspire.toml", EVERYTHING + 'deadline = "rehearsal after the window"\n[decide]\ngo-no-go = "Go: push production"\n'
                 'healthy = "Healthy: the deployment is done"\n'),
}
FORMATS = {"md": "md", "summary.md": "md", "html": "html", "json": "json"}


# ---- freezing a rehearsal -------------------------------------------------------------------------
def rehearse(name: str) -> None:
    runbook, answers = SEEDS[name]
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        (Path(tmp) / "answers.toml").write_text(answers)
        journal = Path(tmp) / "journal.sqlite3"
        world = Path(tmp) / "world"
        done = subprocess.run([sys.executable, "-m", "deploytui", "rehearse", str(ROOT / "runbooks" / runbook),
                               "--headless", "--time-scale", "600", "--no-output", "--answers",
                               str(Path(tmp) / "answers.toml"), "--journal", str(journal), "--workdir", str(world),
                               "--operator", "maria"], capture_output=True, text=True, timeout=600, cwd=tmp)
        print(f"{name}: rehearsal exit {done.returncode}")
        if done.returncode not in (0, 1, 3, 4):
            print(f"{name}: no run to freeze: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            return
        HERE.mkdir(exist_ok=True)
        (HERE / f"{name}.journal.json").write_text(freeze(journal, name, [tmp]) + "\n")


def freeze(journal: Path, name: str, scratch: list[str]) -> str:
    import socket
    import sqlite3

    db = sqlite3.connect(journal)
    rows = {table: [list(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in ("runs", "events", "output")}
    db.close()
    text = json.dumps(rows, ensure_ascii=False, indent=0)
    for path in scratch:  # the rehearsal's scratch directory and this machine's name are nobody's business
        text = text.replace(path, "/rehearsal")
    text = re.sub(rf"\b{re.escape(socket.gethostname())}\b", "deploy-host", text)
    text = text.replace(json.dumps(str(ROOT / "runbooks"))[1:-1], "runbooks")
    return text


# ---- rendering -----------------------------------------------------------------------------------
def deterministic() -> None:
    """The time zone, host and operator a golden file is rendered with, whatever machine renders it."""
    import socket

    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ["DEPLOYTUI_OPERATOR"] = "maria"
    socket.gethostname = lambda: "deploy-host"  # `{{ host }}` in a plan


def load(name: str, directory: Path):
    """The frozen rehearsal as a real journal file: (journal, run id)."""
    from deploytui.journal import Journal
    from deploytui.journal.chain import link

    rows = json.loads((HERE / f"{name}.journal.json").read_text())
    chained, previous = [], ""
    for run_id, seq, ts, kind, step, actor, data, *_ in rows.get("events", []):  # frozen before chains: link them
        previous = link(previous, run_id, seq, ts, kind, step, actor, data)
        chained.append([run_id, seq, ts, kind, step, actor, data, previous])
    rows["events"] = chained
    journal = Journal(directory / f"{name}.sqlite3")
    with journal._lock:
        journal.db.execute("BEGIN")
        for table, values in rows.items():
            if values:
                marks = ",".join("?" * len(values[0]))
                journal.db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        journal.db.execute("COMMIT")
    return journal, rows["runs"][0][0]


def documents(name: str, directory: Path) -> dict[str, str | bytes]:
    """file name -> contents, for the plan and the record of one frozen rehearsal (PDF too)."""
    from deploytui.reports.export import plan, record
    from deploytui.reports.plan import parse_at
    from deploytui.runbook.loader import parse

    journal, run_id = load(name, directory)
    try:
        row = journal.run(run_id)
        book = parse(row.runbook_text, row.path)
        tz = book.schedule.window.tz if book.schedule and book.schedule.window else None
        given = {k: v for k, v in row.vars.items() if k in book.vars and not book.vars[k].secret}
        out: dict[str, str | bytes] = {}
        # from a folder where the runbook's recorded path leads nowhere: a golden record never depends on how
        # the shipped runbook reads today ("the runbook file now differs from the snapshot")
        with contextlib.chdir(directory):
            for suffix, fmt in {**FORMATS, "pdf": "pdf"}.items():
                summary = suffix.startswith("summary")
                out[f"{name}.record.{suffix}"] = record(journal, run_id, fmt, summary=summary, generated=GENERATED)
                out[f"{name}.plan.{suffix}"] = plan(book, given, fmt, at=parse_at(AT, tz), journal=journal,
                                                  summary=summary, generated=GENERATED)
        return out
    finally:
        journal.close()


def render() -> None:
    deterministic()
    with tempfile.TemporaryDirectory() as tmp:
        for name in SEEDS:
            for file, text in documents(name, Path(tmp)).items():
                if isinstance(text, str):
                    (HERE / file).write_text(text)
            print(f"{name}: rendered")


# ---- screenshots (never made by a test) ------------------------------------------------------------
def screenshots(out: Path) -> None:
    """screenshots/plan.png and screenshots/record.png: the first page of the PDF (pdftoppm), as a CAB
    reviewer prints it."""
    import shutil

    deterministic()
    if not shutil.which("pdftoppm"):
        sys.exit("make screenshots needs pdftoppm (apt install poppler-utils)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        docs = documents("login-gov-idp", Path(tmp))
        for kind in ("plan", "record"):
            pdf = Path(tmp) / f"{kind}.pdf"
            pdf.write_bytes(docs[f"login-gov-idp.{kind}.pdf"])
            subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                            str(out / kind)], check=True)
            print(out / f"{kind}.png")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "render"
    if what == "rehearse":
        for seed in sys.argv[2:] or SEEDS:
            rehearse(seed)
    elif what == "render":
        render()
    elif what == "screenshots":
        screenshots(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "screenshots")
    else:
        sys.exit(__doc__)
