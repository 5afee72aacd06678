"""Small helpers for engine tests: write a runbook, start a run on a real journal."""

import textwrap
import time

from deploytui.engine.clock import FakeClock
from deploytui.engine.run import Run
from deploytui.journal import Journal
from deploytui.runbook.loader import load
from deploytui.runbook.variables import resolve

HEADER = '[runbook]\nid = "t"\ntitle = "Test"\nenvironment = "{{ env }}"\n[vars.env]\ndefault = "staging"\n'


def write_book(tmp_path, body: str, header: str = HEADER, name: str = "book.toml"):
    path = tmp_path / name
    path.write_text(header + textwrap.dedent(body))
    return path


def start(tmp_path, body: str, *, clock=None, header: str = HEADER, given=None, **kw):
    path = write_book(tmp_path, body, header)
    book = load(path)
    journal = Journal(tmp_path / "journal.sqlite3")
    values, missing = resolve(book, given or {})
    assert not missing, missing
    run = Run.start(journal, book, values, operator="tester", clock=clock or FakeClock(), **kw)
    return run


def wait_for(predicate, timeout=10.0, run=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if run is not None:
            run.poll()
        if predicate():
            return True
        time.sleep(0.02)
    return False


def kinds(run):
    return [e.kind for e in run.journal.events(run.run_id)]


def deploytui(*args, env=None, timeout=120):
    """Run the real command in a subprocess, as a person would."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "deploytui", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=root)


def alive(pid: int) -> bool:
    """A process that runs (a zombie is dead for our purposes)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
