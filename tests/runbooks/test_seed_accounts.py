"""The seed runbooks against what the teams' own procedures say about when and where (issue 13)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from deploytui.engine import schedule
from deploytui.engine.clock import FakeClock
from deploytui.engine.run import Run
from deploytui.journal import Journal
from deploytui.runbook.loader import load
from deploytui.runbook.variables import resolve

ROOT = Path(__file__).resolve().parents[2]
UTC = ZoneInfo("UTC")


def at(y, m, d, hh=15):
    return datetime(y, m, d, hh, tzinfo=UTC).timestamp()


def start(tmp_path, name: str, when: float, **given) -> Run:
    book = load(ROOT / "runbooks" / name)
    values, missing = resolve(book, given, environ={})
    assert not missing, missing
    return Run.start(Journal(tmp_path / "j.sqlite3"), book, values, operator="tester", clock=FakeClock(when),
                     env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("kind,gated", [("sandbox", False), ("hotfix", False), ("weekly", True)])
def test_getgov_wednesdays_are_for_the_weekly_release_only(tmp_path, kind, gated):
    run = start(tmp_path, "getgov.toml", at(2026, 11, 23), release_kind=kind, sandbox="rjm")  # a Monday
    try:
        assert run.schedule_blocks() is gated
        assert run.state.schedule["needs_override"] is gated
    finally:
        run.close()


def test_getgov_migrate_data_runs_on_the_sandbox_being_deployed():
    book = load(ROOT / "runbooks" / "getgov.toml")
    values, _ = resolve(book, {"release_kind": "sandbox", "sandbox": "rjm"}, environ={})
    assert values["migrate_env"] == "rjm"
    values, _ = resolve(book, {"release_kind": "weekly"}, environ={})
    assert values["migrate_env"] == "stable"


@pytest.mark.parametrize("name", ["login-gov-pki.toml", "login-gov-idp.toml"])
def test_login_gov_holiday_check_looks_around_the_deploy(tmp_path, name):
    book = load(ROOT / "runbooks" / name)
    # Thursday 31 December: a usual deploy day, the day before New Year's Day
    v = schedule.check(book.schedule, at(2026, 12, 31))
    assert v["needs_override"] and v["verdicts"] == ["holiday"]
    assert v["problems"] == ["Fri 2027-01-01 (the day after) is a public holiday in US: New Year's Day"]
    assert schedule.check(book.schedule, at(2026, 12, 15))["verdict"] == "ok"  # an ordinary Tuesday


def test_vetspire_recovery_never_waits_for_a_deadline_override(tmp_path):
    london = ZoneInfo("Europe/London")
    clock = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=london).timestamp())  # a Tuesday, inside the window
    book = load(ROOT / "runbooks" / "vetspire.toml")
    values, _ = resolve(book, {"repo_dir": str(tmp_path)}, environ={})
    run = Run.start(Journal(tmp_path / "j.sqlite3"), book, values, operator="tester", clock=clock,
                    env={"PATH": "/usr/bin:/bin"})
    try:
        clock.advance(45 * 60)  # 12:45: the window closed mid-deploy
        run.poll()
        assert run.state.deadline_passed and run.deadline_blocks()  # the deploy itself stops
        run.jump("pods-down", "pods crash-looping since the push")
        assert not run.deadline_blocks()
        run.run_step("bad-sha")  # the disaster recovery goes on with no override
        assert run.wait_idle(10)
        assert "deadline" not in run.state.overrides
        assert run.state.steps["bad-sha"].attempt == 1
    finally:
        run.close()
