"""Rehearse a real runbook headless in the rehearsal world, the way `deploytui rehearse --headless` does."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploytui.engine.headless import Answers, drive, progress_printer
from deploytui.engine.run import Run
from deploytui.events import kinds as ev
from deploytui.events.state import RunState
from deploytui.journal import Journal
from deploytui.runbook.loader import load
from deploytui.runbook.variables import resolve
from deploytui.sandbox.rehearse import World, build_world

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@dataclass
class Rehearsal:
    code: int
    lines: list[str]
    state: RunState
    events: list[ev.Event]
    world: World
    recorded: list[str] = field(default_factory=list)

    def status(self, step: str) -> str:
        return self.state.status(step)

    def started(self, step: str) -> bool:
        return any(e.kind == ev.STEP_STARTED and e.step == step for e in self.events)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def answers_from(text: str) -> Answers:
    data = tomllib.loads(text)

    def ids(key):
        v = data.get(key, [])
        return {"*"} if v == "*" or v is True else set(v)

    return Answers(run=ids("run"), tick=ids("tick"), decide=dict(data.get("decide", {})),
                   reasons=dict(data.get("reasons", {})), skip=dict(data.get("skip", {})),
                   override=dict(data.get("override", {})), end_pane=dict(data.get("end_pane", {})),
                   vars={k: str(v) for k, v in data.get("vars", {}).items()})


@pytest.fixture
def rehearse(tmp_path):
    worlds: list[World] = []

    def go(name: str, answers: str, *, time_scale: float = 600.0, clock=None, prepare=None,
           on_event=None, max_seconds: float = 120.0) -> Rehearsal:
        book = load(RUNBOOKS / name)
        given = answers_from(answers)
        world = build_world(book, tmp_path / f"world-{len(worlds)}", time_scale=time_scale)
        worlds.append(world)
        if prepare:
            prepare(world)
        values, missing = resolve(book, {**world.vars, **given.vars}, environ=world.env)
        assert not missing, f"no value for {missing}"
        world.refuse_outside(values)
        journal = Journal(tmp_path / f"journal-{len(worlds)}.sqlite3")
        run = Run.start(journal, book, values, operator="rehearsal-test", time_scale=world.time_scale,
                        rehearsal=True, env=world.env, clock=clock)
        lines: list[str] = []
        events: list[ev.Event] = []
        progress_printer(run, lines.append)

        def record(e: ev.Event) -> None:
            events.append(e)
            if on_event:
                on_event(e)

        run.subscribe(record)
        try:
            code = drive(run, given, lines.append, max_seconds=max_seconds)
        finally:
            run.close()
        return Rehearsal(code, lines, run.state, events, world, world.recorded())

    yield go
    for w in worlds:
        w.close()
