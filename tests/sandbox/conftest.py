"""Rehearse a real runbook headless in the rehearsal world, the way `deploytui rehearse --headless` does,
with a `person` who acts where the answers cannot: waits for what a person would see before ticking,
re-runs a step after waiting, jumps to a rollback, comes back in a new session (a resume)."""

from __future__ import annotations

import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploytui.engine.headless import EXIT_NEEDS_PERSON, Answers, drive, progress_printer
from deploytui.engine.run import Run
from deploytui.events import kinds as ev
from deploytui.events.state import RunState
from deploytui.journal import Journal
from deploytui.runbook.loader import load
from deploytui.runbook.model import base_id
from deploytui.runbook.variables import clock_builtins, resolve
from deploytui.sandbox.rehearse import World, build_world

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@dataclass
class Rehearsal:
    code: int
    lines: list[str]
    run: Run
    world: World
    events: list[ev.Event] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    handed: list[str] = field(default_factory=list)  # what interactive steps showed on the terminal

    @property
    def state(self) -> RunState:
        return self.run.state

    def status(self, step: str) -> str:
        return self.state.status(step)

    def started(self, step: str) -> bool:
        return any(e.kind == ev.STEP_STARTED and e.step == step for e in self.events)

    def output(self, step: str, stream: str | None = None) -> str:
        """Everything a step (and its panes) printed, from the journal."""
        return "".join(c.data for c in self.run.journal.chunks(self.run.run_id, step)
                       if stream is None or c.stream == stream)

    @property
    def text(self) -> str:
        """The progress lines; a rehearsal that stopped while a step was still going starts with where."""
        return self.where_stopped() + "\n".join(self.lines)

    def where_stopped(self) -> str:
        current = self.state.current
        if self.state.outcome or current is None:
            return ""
        st = self.state.steps[current]
        tail = self.output(current).splitlines()[-12:]
        machines = [f"{m.id} {m.role} sha={m.sha[:7]} shipped={m.shipped} gone={m.gone} fails={m.fails}"
                    for m in (self.world.aws.machines.values() if self.world.aws else ())][-12:]
        return "\n".join([f"STOPPED AT {current}: running={st.command_running} panes done={sorted(st.panes_done)}",
                          "its last lines:", *tail, "the world's newest machines:", *machines, "", ""])


def answers_from(text: str) -> Answers:
    data = tomllib.loads(text)

    def ids(key):
        v = data.get(key, [])
        return {"*"} if v == "*" or v is True else set(v)

    return Answers(run=ids("run"), tick=ids("tick"), decide=dict(data.get("decide", {})),
                   reasons=dict(data.get("reasons", {})), skip=dict(data.get("skip", {})),
                   override=dict(data.get("override", {})), end_pane=dict(data.get("end_pane", {})),
                   vars={k: str(v) for k, v in data.get("vars", {}).items()})


def terminal(shown: list[str]):
    """The terminal an interactive step is handed: what it prints is kept (a person would read it)."""
    def handover(argv, env=None, cwd=None) -> int:
        got = subprocess.run(argv, env=env, cwd=cwd, shell=isinstance(argv, str), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
        shown.append(got.stdout + got.stderr)
        return got.returncode
    return handover


def until(predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    """Wait (polling, with a deadline) for something a person would wait for."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g}s for {what or predicate}")


class Person:
    """Acts where `drive` stops: `acts[step]` (or acts["deadline"]) is called with the rehearsal so far
    and returns True when it did something. A step acted on keeps its place in `acts` for later stops;
    `acts[step]` acts on each item of a repeated step too."""

    def __init__(self, acts: dict[str, Callable[[Rehearsal, int], bool]] | None = None):
        self.acts = dict(acts or {})

    def act(self, r: Rehearsal, code: int) -> bool:
        if r.state.outcome:
            return False
        key = "deadline" if r.run.deadline_blocks() else r.state.current
        fn = self.acts.get(key) or self.acts.get(base_id(key or ""))
        return bool(fn and fn(r, code))


@pytest.fixture
def rehearse(tmp_path):
    worlds: list[World] = []

    def go(name: str | Path, answers: str, *, time_scale: float = 600.0, faults=(), start_at: str | None = None,
           prepare=None, on_event=None, max_seconds: float = 120.0, person: Person | None = None,
           book_text: Callable[[str], str] | None = None, hold: tuple[str, ...] = ()) -> Rehearsal:
        path = RUNBOOKS / name if isinstance(name, str) else name
        if book_text is not None:  # a changed copy of the runbook (what a fix of it would do)
            copy = tmp_path / Path(path).name
            copy.write_text(book_text(Path(path).read_text()))
            path = copy
        book = load(path)
        given = answers_from(answers)
        if hold and "*" in given.tick:  # steps the person ticks only once they see it is so
            given.tick = {s.id for s in book.steps if s.checks} - set(hold)
        n = len(worlds)
        world = build_world(book, tmp_path / f"world-{n}", time_scale=time_scale, faults=frozenset(faults),
                            start_at=start_at, snapshot_path=tmp_path / f"world-{n}.tar.gz")
        worlds.append(world)
        if prepare:
            prepare(world)
        values, missing = resolve(book, {**world.vars, **given.vars}, environ=world.env,
                                  builtins=clock_builtins(world.clock))
        assert not missing, f"no value for {missing}"
        world.refuse_outside(values, book)
        journal = Journal(tmp_path / f"journal-{n}.sqlite3")
        handed: list[str] = []
        run = Run.start(journal, book, values, operator="rehearsal-test", time_scale=world.time_scale,
                        rehearsal=True, env=world.env, clock=world.clock, **world.started(),
                        handover=terminal(handed))
        r = Rehearsal(0, [], run, world, handed=handed)
        listen(r, on_event)
        end = time.monotonic() + max_seconds
        while True:
            r.code = drive(r.run, given, r.lines.append, max_seconds=max(1.0, end - time.monotonic()))
            if not (person and time.monotonic() < end and person.act(r, r.code)):
                break
        r.recorded = r.world.recorded()
        r.run.close()
        return r

    def listen(r: Rehearsal, on_event=None) -> None:
        progress_printer(r.run, r.lines.append)

        def record(e: ev.Event) -> None:
            r.events.append(e)
            if on_event:
                on_event(r, e)

        r.run.subscribe(record)

    def resume(r: Rehearsal) -> None:
        """Quit this session and come back in a new one: the world is saved, stopped, and built again
        from its save; the run reopened in it (what `deploytui rehearse --resume RUN` does)."""
        r.run.close()
        r.world.close(save=True)
        saved = r.world.snapshot_path
        world = build_world(load(r.run.book.path), r.world.workdir, restore=saved, snapshot_path=saved)
        worlds.append(world)
        r.world = world
        r.run = Run.resume(r.run.journal, r.run.run_id, operator="rehearsal-test", env=world.env, clock=world.clock,
                           handover=terminal(r.handed))
        listen(r)

    go.resume = resume
    yield go
    for w in worlds:
        w.close(save=False)


def waits(r: Rehearsal, code: int, step: str, ready: Callable[[], object], what: str, timeout: float = 60.0) -> bool:
    """The person looks until `ready` holds, then ticks STEP's checks (those of the item of STEP in hand)."""
    current = r.state.current
    if code != EXIT_NEEDS_PERSON or current is None or step not in (current, base_id(current)):
        return False
    until(ready, timeout, what)
    for i, done in enumerate(r.state.steps[current].checks):
        if not done:
            r.run.tick(current, i)
    return True
