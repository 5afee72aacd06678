"""The planner alone: state in, decision out. No journal, no threads, no processes."""

from __future__ import annotations

import itertools

from deploytui.engine import planner
from deploytui.events import kinds as ev
from deploytui.events.state import fold
from deploytui.runbook.loader import parse

BOOK = parse("""
[runbook]
id = "p"
title = "P"
[vars.kind]
default = "full"
[[steps]]
id = "build"
title = "Build"
run = "make"
[[steps]]
id = "patch-only"
title = "Patch only"
when = "kind == 'patch'"
run = "cherry-pick"
[[steps]]
id = "look"
title = "Look"
checks = ["fine"]
[[steps]]
id = "later"
title = "Later"
not_before = { step = "look", wait = "15m" }
run = "scale-in"
auto = true
[[steps]]
id = "soak"
title = "Soak"
wait = "1h"
""")

_seq = itertools.count(1)


def event(payload, step=None, ts=1000.0, actor="engine"):
    return ev.Event(next(_seq), ts, payload.KIND, step, actor, payload.to_data())


def situation(events, now=1000.0, busy=(), variables=None):
    state = fold(BOOK, events)
    return planner.Situation(state=state, now=now, variables=lambda step=None: variables or {"kind": "full"},
                             busy=frozenset(busy))


def test_a_step_with_a_command_waits_for_a_person():
    assert planner.next_move(situation([])) is None
    assert planner.refusal(situation([]), planner.RUN, "build") is None
    assert "not the current step" in planner.refusal(situation([]), planner.RUN, "later")
    assert "has no command" in planner.refusal(situation([]), planner.RUN, "look")


def test_a_false_when_is_a_planned_skip():
    done = [event(ev.StepStarted(attempt=1, command="make"), "build"),
            event(ev.CommandFinished(attempt=1, exit_code=0, ok=True), "build")]
    assert planner.next_move(situation(done)) == planner.FinishStep("build", exit_code=0, duration=0.0)
    done.append(event(ev.StepFinished(status="done"), "build"))
    move = planner.next_move(situation(done))
    assert move == planner.SkipStep("patch-only", reason="when: kind == 'patch' is false", planned=True)


def test_a_gate_counts_from_its_reference_and_opens_on_time():
    events = [event(ev.Skipped(reason="x"), "build"), event(ev.Skipped(reason="x"), "patch-only"),
              event(ev.StepStarted(attempt=1), "look"), event(ev.CheckToggled(index=0, label="fine", checked=True),
                                                              "look"),
              event(ev.StepFinished(status="done"), "look", ts=1000.0)]
    move = planner.next_move(situation(events, now=1000.0))
    assert move == planner.StartGate("later", deadline=1900.0, seconds=900.0)
    events.append(event(ev.TimerStarted(timer="gate", deadline=1900.0), "later"))
    assert planner.next_move(situation(events, now=1899.0)) is None
    assert "gated until" in planner.refusal(situation(events, now=1899.0), planner.RUN, "later")
    assert planner.next_move(situation(events, now=1900.0)) == planner.OpenGate("later")
    events.append(event(ev.TimerExpired(timer="gate"), "later"))
    assert planner.next_move(situation(events, now=1900.0)) == planner.StartAuto("later")
    assert planner.next_move(situation(events, now=1900.0, busy={"later"})) is None


def test_a_wait_without_a_command_starts_when_the_step_does():
    events = [event(ev.Skipped(reason="x"), s) for s in ("build", "patch-only", "look", "later")]
    assert planner.next_move(situation(events)) == planner.Activate("soak")
    events.append(event(ev.StepStarted(attempt=1), "soak"))
    assert planner.next_move(situation(events, now=1000.0)) == planner.StartWait("soak", deadline=4600.0,
                                                                                 seconds=3600.0)


def test_stopping_a_running_step_holds_everything_until_its_command_ends():
    events = [event(ev.StepStarted(attempt=1, command="make"), "build"),
              event(ev.StopRequested(then="skip", reason="not needed"), "build")]
    sit = situation(events, busy={"build"})
    assert planner.next_move(sit) is None
    assert "already being stopped" in planner.refusal(sit, planner.SKIP, "build")
    assert planner.allowed(sit, "build").running


def test_the_end_of_the_path_finishes_the_run_once():
    events = [event(ev.Skipped(reason="x"), s) for s in ("build", "patch-only", "look", "later", "soak")]
    assert planner.next_move(situation(events)) == planner.FinishRun(outcome="succeeded", section=None)
    events.append(event(ev.RunFinished(outcome="succeeded")))
    assert planner.next_move(situation(events)) is None
    assert "has finished" in planner.refusal(situation(events), planner.SKIP, "soak")


def test_a_lost_lock_stops_everything():
    events = [event(ev.LockLost(holder="run X (bob on laptop)"))]
    assert planner.next_move(situation(events)) is None
    assert "lock was taken by run X" in planner.refusal(situation(events), planner.RUN, "build")
