"""Real journals in tmp dirs, runbooks written to tmp files, a fake clock, and helpers to wait for the
engine's threads from a Pilot test."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.css.query import NoMatches

from deploytui.engine.clock import FakeClock
from deploytui.journal import Journal
from deploytui.runbook.loader import load
from deploytui.tui.app import build_app

HERE = Path(__file__).parent
# Tue 2027-01-12 09:00 UTC: a plain weekday, no holiday
T0 = 1_799_744_400.0


@pytest.fixture(autouse=True)
def settings_file(tmp_path, monkeypatch):
    """Each test has its own settings file (none yet): never the person's own, never shared."""
    path = tmp_path / "settings" / "config.toml"
    monkeypatch.setenv("DEPLOYTUI_CONFIG", str(path))
    monkeypatch.delenv("TMUX", raising=False)  # copying goes through tmux only in the tests that run tmux
    return path


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def make_book(tmp_path):
    def make(text: str, name: str = "book.toml"):
        path = tmp_path / name
        path.write_text(text)
        return load(str(path))

    return make


@pytest.fixture
def make_app(journal, clock):
    apps = []

    def make(book, given=None, **kw):
        kw.setdefault("operator", "alice")
        kw.setdefault("form", False)
        app = build_app(journal=journal, book=book, given=given or {}, clock=clock, blink=False, env={
            "PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}, **kw)
        apps.append(app)
        return app

    yield make
    for app in apps:
        if app.current_run is not None:
            app.current_run.close()


async def until(pilot, cond, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app and the engine's threads work until `cond()` holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pilot.app.is_running:
            await pilot.pause()
        try:
            if cond():
                return
        except NoMatches:  # the screen is still composing
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def events(app, kind: str | None = None):
    run = app.current_run
    return [e for e in run.journal.events(run.run_id) if kind is None or e.kind == kind]


def status(app, step: str) -> str:
    return app.current_run.state.status(step)
