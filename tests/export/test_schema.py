"""docs/export-schema.md against the JSON of real runs: every documented field is written, and every
field written is documented (a table's first column names its fields in backticks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.journal import Journal
from deploytui.reports.export import plan, record
from deploytui.runbook.loader import load

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "export-schema.md"
EXAMPLE = ROOT / "runbooks" / "example.toml"


def documented() -> dict[str, set[str]]:
    """heading -> the field names its table lists."""
    out: dict[str, set[str]] = {}
    heading = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().split(",")[0]
        elif line.startswith("| `") and heading:
            first = line.split("|")[1]
            out.setdefault(heading, set()).update(re.findall(r"`(\w+)`", first))
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A real headless run of the example runbook that rolls back, and a plan with a date and history."""
    tmp = tmp_path_factory.mktemp("schema")
    (tmp / "a.toml").write_text('run = "*"\ntick = "*"\n[decide]\nkeep-or-roll-back = "Roll back"\n'
                                '[reasons]\nkeep-or-roll-back = "errors"\n')
    cmd = [sys.executable, "-m", "deploytui", "run", str(EXAMPLE), "--headless", "--answers", str(tmp / "a.toml"),
           "--journal", str(tmp / "j.sqlite3"), "--var", f"workdir={tmp / 'work'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp,
                          env={**os.environ, "DEPLOYTUI_OPERATOR": "maria"})
    assert done.returncode == 0, done.stderr
    # and a run with a repeated step, whose items the record lists, of one app of a fleet
    (tmp / "rep.toml").write_text('[runbook]\nid = "rep"\ntitle = "Repeated"\n[fleet]\napp = "rep-app"\n'
                                  '[vars.nodes]\ndefault = "a b"\n'
                                  '[[steps]]\nid = "drain"\ntitle = "Drain {{ node }}"\neach = "node in nodes"\n'
                                  'run = "echo {{ node }}"\nauto = true\n')
    rep = subprocess.run([sys.executable, "-m", "deploytui", "run", str(tmp / "rep.toml"), "--headless",
                          "--journal", str(tmp / "rep.sqlite3")], capture_output=True, text=True, timeout=120, cwd=tmp)
    assert rep.returncode == 0, rep.stderr
    journal = Journal(tmp / "rep.sqlite3", readonly=True)
    repeated = json.loads(record(journal, "last", "json"))
    journal.close()
    journal = Journal(tmp / "j.sqlite3", readonly=True)
    rec = json.loads(record(journal, "last", "json"))
    rec["sections"] += repeated["sections"]
    rec["run"]["fleet"] = repeated["run"]["fleet"]
    pl = json.loads(plan(load(EXAMPLE), {"workdir": str(tmp)}, "json", at=1_800_000_000.0, journal=journal))
    journal.close()
    return rec, pl


def test_every_field_written_is_documented_and_the_reverse(real):
    rec, pl = real
    docs = documented()
    steps = [s for g in rec["sections"] + rec["rollback"] for s in g["steps"]]
    attempts = [a for s in steps for a in s["execution"]["attempts"]]
    seen = {
        "Top level": set(rec) | set(pl),
        "Timing": set(pl["timing"]),
        "Section": {k for g in rec["sections"] + rec["rollback"] + pl["rollback"] for k in g},
        "Step": {k for s in steps for k in s},
        "Execution": {k for s in steps for k in s["execution"]},
        "Attempt": {k for a in attempts for k in a},
        "Output": {k for a in attempts for o in a["output"] for k in o},
        "Run": set(rec["run"]),
    }
    for heading, fields in seen.items():
        assert fields == docs[heading], (heading, "written, not documented:", fields - docs[heading],
                                         "documented, not written:", docs[heading] - fields)


def test_output_streams_are_named_as_the_engine_writes_them(real):
    rec, _ = real
    streams = {o["stream"] for g in rec["sections"] + rec["rollback"] for s in g["steps"]
               for a in s["execution"]["attempts"] for o in a["output"]}
    assert "main" in streams
    assert all(s == "main" or re.fullmatch(r"pane\d+", s) for s in streams)
    assert "`pane0`" in DOC.read_text() and "`pane:0`" not in DOC.read_text()
