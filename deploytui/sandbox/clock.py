"""The world's clock: the run's clock in a rehearsal, and the time every part of the world keeps.

It reads real time, shifted by `offset` so a rehearsal can begin inside a runbook's deploy window
(`--start-at`). World durations (an instance booting for 45 s, CI running for 10 min) pass `scale`
times faster, like the engine's gates and waits."""

from __future__ import annotations

import time
import zoneinfo
from datetime import datetime, timedelta
from datetime import time as daytime

from ..engine.clock import Clock
from ..errors import UserError
from ..runbook.model import Schedule


class WorldClock(Clock):
    def __init__(self, scale: float = 1.0, offset: float = 0.0):
        self.scale = float(scale or 1.0)
        self.offset = float(offset)

    def now(self) -> float:
        return time.time() + self.offset

    def real(self, world_seconds: float) -> float:
        """How long WORLD_SECONDS last here."""
        return world_seconds / self.scale

    def since(self, then: float) -> float:
        """World seconds passed since `then` (a reading of this clock)."""
        return (self.now() - then) * self.scale

    def at(self, then: float, world_seconds: float) -> float:
        """The reading of this clock WORLD_SECONDS after `then`."""
        return then + world_seconds / self.scale


def start_offset(schedule: Schedule | None, start_at: str | None, now: float | None = None) -> float:
    """Seconds to add to real time so the rehearsal begins at START_AT ("HH:MM" today, or an ISO 8601
    time), in the runbook's window time zone. Without START_AT, a runbook with a deploy window that
    is closed now begins at the window's next opening; any other runbook begins now."""
    now = time.time() if now is None else now
    window = schedule.window if schedule else None
    tz = zoneinfo.ZoneInfo(window.tz) if window else None
    local = datetime.fromtimestamp(now, tz) if tz else datetime.fromtimestamp(now).astimezone()
    if start_at:
        try:
            if len(start_at.strip()) <= 5:
                t = daytime.fromisoformat(start_at.strip())
                target = datetime.combine(local.date(), t, local.tzinfo)
            else:
                target = datetime.fromisoformat(start_at.strip())
                if target.tzinfo is None:
                    target = target.replace(tzinfo=local.tzinfo)
        except ValueError:
            raise UserError(f"--start-at {start_at!r}: give HH:MM or an ISO 8601 time", 2) from None
        return target.timestamp() - now
    if window is None:
        return 0.0
    opens = datetime.combine(local.date(), daytime.fromisoformat(window.start), local.tzinfo)
    closes = datetime.combine(local.date(), daytime.fromisoformat(window.end), local.tzinfo)
    if closes <= opens:
        closes += timedelta(days=1)
    if opens <= local < closes:
        return 0.0
    if local >= closes:
        opens += timedelta(days=1)
    return opens.timestamp() - now
