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
    return planner.Situation(state=state, now=now, variables=lambda: variables or {"kind": "full"},
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


FOUR_EYES = parse("""
[runbook]
id = "f"
title = "F"
approve = "ops"
[[steps]]
id = "recycle"
title = "Recycle"
danger = true
run = "recycle prod"
[[steps]]
id = "two"
title = "Two people"
approve = 2
run = "drop table"
""")


def test_a_step_that_asks_for_sign_offs_runs_only_after_them():
    def sit(events, command="recycle prod"):
        return planner.Situation(state=fold(FOUR_EYES, events), now=1000.0, variables=dict,
                                 command_of=lambda sid: command)

    assert "needs a sign-off from someone in ops" in planner.refusal(sit([]), planner.RUN, "recycle")
    signed = [event(ev.SignedOff(user="bob", uid=1001, command="recycle prod"), "recycle")]
    assert planner.refusal(sit(signed), planner.RUN, "recycle") is None
    # a sign-off is for the command its signer saw
    assert "needs a sign-off" in planner.refusal(sit(signed, command="recycle prod --all"), planner.RUN, "recycle")
    done = signed + [event(ev.Skipped(reason="x"), "recycle")]
    one = done + [event(ev.SignedOff(user="bob", uid=1001, command="recycle prod"), "two")]
    assert "needs a sign-off from 1 more person" in planner.refusal(sit(one), planner.RUN, "two")
    same = one + [event(ev.SignedOff(user="bob", uid=1001, command="recycle prod"), "two")]
    assert "1 more person" in planner.refusal(sit(same), planner.RUN, "two")  # the same person twice is one
    two = one + [event(ev.SignedOff(user="carol", uid=1002, command="recycle prod"), "two")]
    assert planner.refusal(sit(two), planner.RUN, "two") is None


def test_a_run_that_ends_in_a_rollback_section_has_rolled_back():
    text = """
[runbook]
id = "r"
title = "R"
[[steps]]
id = "decide"
title = "Roll back?"
decide = { question = "?", options = [{ label = "Keep" }, { label = "Roll back", goto = "rollback" },
                                      { label = "Defer", goto = "defer" }] }
[[steps]]
id = "tag"
title = "Tag"
checks = ["tagged"]
[[steps]]
id = "revert"
section = "rollback"
title = "Revert"
checks = ["reverted"]
[[steps]]
id = "later"
section = "defer"
title = "Later"
checks = ["rescheduled"]
[[sections]]
id = "rollback"
title = "Rolling back"
on_demand = true
rollback = true
[[sections]]
id = "defer"
title = "Defer"
on_demand = true
"""
    book = parse(text)

    def ending(option: str, last: str) -> tuple[str, str | None]:
        events = [event(ev.StepStarted(attempt=1), "decide"),
                  event(ev.Decision(option=0, label=option, goto={"Keep": None, "Roll back": "rollback",
                                                                  "Defer": "defer"}[option]), "decide"),
                  event(ev.StepFinished(status="done"), "decide"),
                  event(ev.StepStarted(attempt=1), last), event(ev.StepFinished(status="done"), last)]
        move = planner.next_move(planner.Situation(state=fold(book, events), now=1000.0, variables=dict))
        assert isinstance(move, planner.FinishRun)
        return move.outcome, move.section

    assert ending("Roll back", "revert") == ("rolled_back", "rollback")
    assert ending("Defer", "later") == ("completed_on_demand", "defer")
    assert ending("Keep", "tag") == ("succeeded", None)
