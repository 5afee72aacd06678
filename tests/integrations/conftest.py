"""Real counterparts for the integrations: one moto server per session, laid out like login.gov."""

from __future__ import annotations

import pytest

from deploytui.integrations.registry import ActionContext


class Recorder:
    """An ActionContext whose log lines and tables are kept for assertions."""

    def __init__(self, env=None, time_scale=1.0, **kw):
        self.lines: list[str] = []
        self.tables: list[tuple[list[str], list[list[str]], set[int]]] = []
        self.secrets: list[str] = []
        self.ctx = ActionContext(step_id="test", log_lines=self.lines.extend, env=dict(env or {}),
                                 time_scale=time_scale, on_table=lambda c, r, b: self.tables.append((c, r, b)),
                                 add_secret=self.secrets.append, **kw)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def recorder():
    return Recorder


@pytest.fixture(scope="session")
def aws_world():
    from deploytui.sandbox.aws_world import start_world
    from deploytui.sandbox.clock import WorldClock

    # the rehearsal world boots and provisions instances in world time: an hour of it in a second here
    world = start_world(["prod"], clock=WorldClock(scale=3600))
    world.run_autoscaler(every=0.02)
    yield world
    world.stop()


@pytest.fixture
def world(aws_world):
    """A freshly laid out prod account for each test."""
    aws_world.reset()
    return aws_world
