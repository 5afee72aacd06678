"""Shared parts for the follow tests: a small runbook a headless driver walks with pauses, and the
driver itself as a real subprocess writing a real journal."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BOOK = textwrap.dedent('''\
    [runbook]
    id = "follow-me"
    title = "Follow me"
    environment = "{{ env }}"
    [vars.env]
    default = "staging"
    [[steps]]
    id = "warmup"
    title = "Warm up"
    auto = true
    run = "sleep 1.5"
    [[steps]]
    id = "build"
    title = "Build the release"
    auto = true
    run = "echo first line; sleep 1; echo second line; sleep 1"
    [[steps]]
    id = "confirm"
    title = "Confirm the build"
    checks = ["Looked at the build output"]
    [[steps]]
    id = "soak"
    title = "Soak"
    wait = "3s"
    auto = true
    ''')


def start_driver(book_path, answers, journal, extra=()):
    """`deploytui run --headless` in its own process: the driver a follower follows."""
    return subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book_path), "--headless", "--answers",
                             str(answers), "--journal", str(journal), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "DEPLOYTUI_OPERATOR": "driver"})


def wait_for_run(journal, timeout=10.0) -> str:
    """The id of the run the driver started, once its first events are committed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if Path(journal).exists():
            try:
                db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
                rows = db.execute("SELECT run_id FROM events WHERE seq = 1").fetchall()
                db.close()
                if rows:
                    return rows[0][0]
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError("the driver never started a run")
