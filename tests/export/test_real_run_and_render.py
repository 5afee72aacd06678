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
    assert md.startswith("# Deploy record: Example deploy of a toy service\n")  # a real run: no REHEARSAL
    assert "REHEARSAL" not in md
    assert "**Rolled back through “Rolling back”, entered from step 5 “Keep the release?” (“Roll back”, maria" in md
    assert "| Release manager | maria |" in md and "| Pairs | (none named) |" in md  # the engine is nobody's pair
    assert "| maria | release manager | started the run, ran 3 steps, ticked 2 checks, made a decision |" in md
    assert "#### 1. Build release 1.0.0 (`build`) — DONE" in md
    assert "  packed assets\n" in md and "| build_line | build ok |" in md
    assert '“Roll back”, went to `rollback`. Reason: error rate | above the line' in md
    assert "(`announce`) — NOT ON THIS RUN'S PATH" in md
    assert "(`restore`) — DONE" in md and "rolled back\n" in md
    assert "- ☑ A blameless retrospective is in the calendar — ticked by maria at" in md
    assert "- Wait: from " in md
    doc = json.loads(record(journal, run_id, "json"))
    assert doc["run"]["outcome"] == "rolled_back" and doc["run"]["sections_entered"] == ["rollback"]
    assert doc["run"]["sha256"] == doc["runbook"]["sha256"] and doc["run"]["runbook_changed"] is False
    html = record(journal, run_id, "html")
    assert "Put the previous build back" in html and "error rate | above the line" in html


def test_the_record_says_what_the_fold_says(example_run):
    """Every step's status and attempts in the record are the fold's, as the screen shows them."""
    from deploytui.events.state import fold
    from deploytui.runbook.loader import parse as parse_book

    journal, run_id, _ = example_run
    row = journal.run(run_id)
    state = fold(parse_book(row.runbook_text, row.path), journal.events(run_id), run_id)
    doc = json.loads(record(journal, run_id, "json"))
    for step in [s for g in doc["sections"] + doc["rollback"] for s in g["steps"]]:
        x, st = step["execution"], state.steps[step["id"]]
        if step["id"] in state.path:
            assert x["status"] == state.status(step["id"]), step["id"]
        assert [a["attempt"] for a in x["attempts"]] == [a.attempt for a in st.attempts]
        assert [t["ts"] for t in x["ticks"]] == [t.ts for t in st.ticks]
    assert doc["run"]["outcome"] == state.outcome


def test_plan_of_the_example_runbook(tmp_path):
    from deploytui.runbook.loader import load

    md = plan(load(EXAMPLE), {"version": "2.0.1", "env": "prod", "workdir": str(tmp_path)}, "md")
    assert "| Release | v2.0.1 |" in md and "#### 1. Build release 2.0.1 (`build`)" in md
    assert f"echo 2.0.1 > {tmp_path}/releases/candidate" in md
    assert "### Rolling back (rollback)" in md
    assert "entered from step 5 `keep-or-roll-back` (option “Roll back”)" in md


def test_pdf_is_a4_and_every_page_of_a_rehearsal_says_so(journal):
    import io

    from pypdf import PdfReader

    book = parse(RUNBOOK, "runbooks/login-gov-idp.toml")
    write_rollback_run(journal, book)
    pdf = record(journal, "last", "pdf")
    assert pdf.startswith(b"%PDF")
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 3
    for n, page in enumerate(pages, start=1):
        assert [round(float(x)) for x in page.mediabox[2:]] == [595, 842], n  # A4 in points
        text = page.extract_text()
        assert "REHEARSAL — not a production record" in text, n
        assert f"page {n} of {len(pages)}" in text, n
    assert pdf == record(journal, "last", "pdf")  # the same record gives the same file
    plan_pdf = plan(book, {"rc": "42"}, "pdf")
    first = PdfReader(io.BytesIO(plan_pdf)).pages[0].extract_text()
    assert "Deploy plan: Deploy the login.gov IdP to production" in first and "REHEARSAL" not in first


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
