"""The schedule guard: usual days, avoided days, holidays and the deploy window."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from deploytui.engine import schedule
from deploytui.engine.clock import FakeClock
from deploytui.errors import UserError
from deploytui.runbook.model import Schedule, Window

from .helpers import start

UTC = ZoneInfo("UTC")


def at(y, m, d, hh=10, mm=0, tz=UTC):
    return datetime(y, m, d, hh, mm, tzinfo=tz).timestamp()


LOGIN = Schedule(days=["Tue", "Thu"], avoid=["Fri"], holidays="US", window=Window(start="00:00", end="23:59", tz="America/New_York"))


def test_usual_day_is_ok():
    assert schedule.check(LOGIN, at(2026, 11, 24, 15))["verdict"] == "ok"  # a Tuesday


def test_friday_is_avoided():
    v = schedule.check(LOGIN, at(2026, 11, 27, 15))
    assert v["needs_override"] and "avoided_day" in v["verdicts"]


def test_unusual_day_needs_reason():
    v = schedule.check(LOGIN, at(2026, 11, 23, 15))  # Monday
    assert v["verdict"] == "unusual_day" and "not a usual deploy day" in v["problems"][0]


def test_holiday():
    v = schedule.check(LOGIN, at(2026, 11, 26, 15))  # Thanksgiving, a Thursday
    assert v["verdicts"] == ["holiday"] and "Thanksgiving" in v["problems"][0]


def test_window_and_deadline():
    vet = Schedule(window=Window(start="09:00", end="12:30", tz="Europe/London"))
    london = ZoneInfo("Europe/London")
    inside = schedule.check(vet, at(2026, 11, 24, 10, 0, london))
    assert inside["verdict"] == "ok"
    assert inside["deadline"] == at(2026, 11, 24, 12, 30, london)
    assert schedule.check(vet, at(2026, 11, 24, 8, 0, london))["verdict"] == "before_window"
    assert schedule.check(vet, at(2026, 11, 24, 13, 0, london))["verdict"] == "after_window"


def test_engine_blocks_until_override_and_deadline_stops(tmp_path):
    header = ('[runbook]\nid = "v"\ntitle = "Vetspire"\n[schedule]\nwindow = { start = "09:00", end = "12:30", '
              'tz = "Europe/London" }\n')
    clock = FakeClock(at(2026, 11, 24, 8, 30, ZoneInfo("Europe/London")))
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        checks = ["x"]
        [[steps]]
        id = "b"
        title = "B"
        run = "true"
        """, header=header, clock=clock)
    assert run.schedule_blocks()
    assert not run.state.steps["a"].activated
    run.override("schedule", "starting early with CAB approval")
    assert run.state.steps["a"].activated
    clock.advance(4 * 3600 + 1)  # 12:30:01
    run.poll()
    assert run.state.deadline_passed
    run.tick("a", 0)
    with pytest.raises(UserError, match="deadline has passed"):
        run.run_step("b")
    run.override("deadline", "finishing the last step, approved")
    run.run_step("b")
