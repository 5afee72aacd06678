"""A real headless run exported, and the HTML record rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.journal import Journal
from deploytui.reports.export import plan, record
from deploytui.runbook.loader import parse

from .conftest import RUNBOOK, write_rollback_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "runbooks" / "example.toml"

ANSWERS = """
run = "*"
tick = "*"
[decide]
keep-or-roll-back = "Roll back"
[reasons]
keep-or-roll-back = "error rate | above the line"
"""


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example")
    (tmp / "answers.toml").write_text(ANSWERS)
    journal = tmp / "journal.sqlite3"
    env = {**os.environ, "DEPLOYTUI_OPERATOR": "maria"}
    cmd = [sys.executable, "-m", "deploytui", "run", str(EXAMPLE), "--headless", "--answers",
           str(tmp / "answers.toml"), "--journal", str(journal), "--var", f"workdir={tmp / 'work'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp)
    assert done.returncode == 0, done.stderr
    j = Journal(journal, readonly=True)
    (run,) = j.runs()
    yield j, run.id, tmp
    j.close()


def test_record_of_a_real_headless_run_with_a_rollback(example_run):
    journal, run_id, tmp = example_run
    md = record(journal, run_id, "md")
    assert "# Deploy record: Example deploy of a toy service" in md
    assert "**Completed through an on-demand section**" in md
    assert "| Release manager | maria |" in md
    assert "#### 1. Build release 1.0.0 (`build`) [DONE]" in md
    assert "  packed assets\n" in md and "| build_line | build ok |" in md
    assert '"Roll back", went to `rollback`. Reason: error rate | above the line' in md
    assert "(`announce`) [NOT ON THIS RUN'S PATH]" in md
    assert "(`restore`) [DONE]" in md and "rolled back\n" in md
    assert "- [x] A blameless retrospective is in the calendar (ticked by maria at" in md
    assert "Timer wait: started" in md
    doc = json.loads(record(journal, run_id, "json"))
    assert doc["run"]["outcome"] == "completed_on_demand" and doc["run"]["sections_entered"] == ["rollback"]
    assert doc["run"]["sha256"] == doc["runbook"]["sha256"] and doc["run"]["runbook_changed"] is False
    html = record(journal, run_id, "html")
    assert "Put the previous build back" in html and "error rate | above the line" in html


def test_plan_of_the_example_runbook(tmp_path):
    from deploytui.runbook.loader import load

    md = plan(load(EXAMPLE), {"version": "2.0.1", "env": "prod", "workdir": str(tmp_path)}, "md")
    assert "| Release | v2.0.1 |" in md and "#### 1. Build release 2.0.1 (`build`)" in md
    assert f"echo 2.0.1 > {tmp_path}/releases/candidate" in md
    assert "### Rolling back (on demand)" in md
    assert "Entered from step `keep-or-roll-back` option \"Roll back\"" in md


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def ensure_chromium() -> str:
    """Chromium is one of the tools `.ci/run` installs; a test never installs anything itself."""
    path = find_chromium()
    if not path:
        pytest.skip("chromium is not installed (`.ci/run` installs it)")
    return path


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_html_record_renders_in_headless_chromium(journal, tmp_path):
    chromium = ensure_chromium()
    book = parse(RUNBOOK, "runbooks/login-gov-idp.toml")  # a stable path, so the PNG only changes with the page
    write_rollback_run(journal, book)
    page = tmp_path / "record.html"
    page.write_text(record(journal, "20240514-090000-abcd", "html"))
    png = tmp_path / "record.png"  # never a tracked file: `make screenshots` renders screenshots/record.png
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run(base + ["--window-size=1000,2600", "--force-device-scale-factor=1", f"--screenshot={png}",
                           page.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
    assert png.exists(), "chromium wrote no screenshot"
    assert png_size(png) == (1000, 2600)
    assert png.stat().st_size > 50_000  # a page of text, not a blank one
    pdf = tmp_path / "record.pdf"
    subprocess.run(base + ["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
                   capture_output=True, timeout=120, cwd=tmp_path)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = set(re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data))
    assert boxes and all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes)  # A4 in points
