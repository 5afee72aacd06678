"""The schedule guard, checked when a run starts: usual days, avoided days, public holidays and the
deploy window. Anything outside them needs an override with a reason."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from ..runbook import templates
from ..runbook.model import Schedule

DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def applies(schedule: Schedule | None, variables: dict | None) -> bool:
    """Whether the schedule governs this run (its `when`, if any, is true; when in doubt, it does)."""
    if schedule is None:
        return False
    if not schedule.when or variables is None:
        return True
    try:
        return bool(templates.evaluate(schedule.when, variables))
    except templates.TemplateProblem:
        return True


def check(schedule: Schedule | None, now: float, variables: dict | None = None) -> dict:
    """The verdict for starting at `now` (epoch seconds) with the run's `variables`."""
    if schedule is None or not applies(schedule, variables):
        return {"verdict": "ok", "problems": [], "needs_override": False, "deadline": None,
                **({"not_applicable": f"the schedule applies when {schedule.when}"} if schedule else {})}
    tz = zoneinfo.ZoneInfo(schedule.window.tz) if schedule.window else None
    local = datetime.fromtimestamp(now, tz) if tz else datetime.fromtimestamp(now).astimezone()
    day = DAY_NAMES[local.weekday()]
    problems: list[str] = []
    verdicts: list[str] = []
    usual = [d[:3].title() for d in schedule.days]
    avoid = [d[:3].title() for d in schedule.avoid]
    if day in avoid:
        verdicts.append("avoided_day")
        problems.append(f"{local:%A} is a day to avoid for this deploy")
    elif usual and day not in usual:
        verdicts.append("unusual_day")
        problems.append(f"{local:%A} is not a usual deploy day ({', '.join(usual)})")
    if schedule.holidays:
        for offset in range(-schedule.holidays_around, schedule.holidays_around + 1):
            day_ = local.date() + timedelta(days=offset)
            name = holiday_name(schedule.holidays, schedule.subdivision, day_)
            if name:
                when = {0: "", -1: " (the day before)", 1: " (the day after)"}.get(
                    offset, f" ({abs(offset)} days {'before' if offset < 0 else 'after'})")
                if "holiday" not in verdicts:
                    verdicts.append("holiday")
                problems.append(f"{day_:%a %Y-%m-%d}{when} is a public holiday in {schedule.holidays.upper()}: "
                                f"{name}")
    deadline = None
    if schedule.window:
        start = datetime.combine(local.date(), time.fromisoformat(schedule.window.start), local.tzinfo)
        end = datetime.combine(local.date(), time.fromisoformat(schedule.window.end), local.tzinfo)
        if end <= start:
            end += timedelta(days=1)
        if local < start:
            verdicts.append("before_window")
            problems.append(f"the deploy window opens at {schedule.window.start} {schedule.window.tz}")
        elif local >= end:
            verdicts.append("after_window")
            problems.append(f"the deploy window closed at {schedule.window.end} {schedule.window.tz}")
        deadline = end.timestamp()
    return {
        "verdict": verdicts[0] if verdicts else "ok",
        "verdicts": verdicts,
        "problems": problems,
        "needs_override": bool(problems),
        "deadline": deadline,
        "day": day,
        "local_time": local.isoformat(timespec="minutes"),
    }


def holiday_name(country: str, subdivision: str | None, day) -> str | None:
    import holidays

    try:
        cal = holidays.country_holidays(country.upper(), subdiv=subdivision, years=day.year)
    except NotImplementedError:
        return None
    return cal.get(day)
