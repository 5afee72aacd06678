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


LOOPS = parse("""
[runbook]
id = "l"
title = "L"
[vars.nodes]
default = "a b c"
[[steps]]
id = "drain"
title = "Drain"
each = "node in nodes"
parallel = 2
run = "drain"
[[steps]]
id = "update"
title = "Update"
every = "30m"
until = "steps.fix.status == 'done'"
checks = ["posted"]
[[steps]]
id = "fix"
title = "Fix"
run = "fix"
on_failure = "recover"
[[sections]]
id = "recover"
title = "Recover"
on_demand = true
then = "return"
[[steps]]
id = "undo"
section = "recover"
title = "Undo"
checks = ["undone"]
""")


def loop_situation(events, now=1000.0, busy=()):
    state = fold(LOOPS, events)
    return planner.Situation(state=state, now=now, variables=lambda step=None: {"nodes": "a b c",
                                                                              "steps": state.outcomes()},
                             busy=frozenset(busy))


def test_a_repeated_step_is_listed_when_reached_and_items_run_n_at_a_time():
    assert planner.next_move(loop_situation([])) == planner.ListItems("drain", of="drain", var="node",
                                                                      values=("a", "b", "c"), labels=("a", "b", "c"))
    listed = [event(ev.Items(of="drain", var="node", values=["a", "b", "c"], labels=["a", "b", "c"]))]
    sit = loop_situation(listed)
    assert sit.state.active == ["drain[a]", "drain[b]"]
    assert planner.refusal(sit, planner.RUN, "drain[b]") is None
    assert "not the current step" in planner.refusal(sit, planner.RUN, "drain[c]")
    assert "repeats: act on its items (drain[a], drain[b], drain[c])" in planner.refusal(sit, planner.RUN, "drain")
    assert planner.refusal(sit, planner.SKIP, "drain") is None  # skips the items not done yet


def test_a_recurring_step_begins_then_comes_due_and_ends_when_its_condition_holds():
    events = [event(ev.Items(of="drain", var="node", values=["a"], labels=["a"])),
              event(ev.StepStarted(attempt=1, command="drain"), "drain[a]"),
              event(ev.CommandFinished(attempt=1, exit_code=0, ok=True), "drain[a]"),
              event(ev.StepFinished(status="done"), "drain[a]")]
    assert planner.next_move(loop_situation(events)) == planner.Recur("update", number=1, due=1000.0, next_due=2800.0)
    events.append(event(ev.Occurrence(of="update", number=1, due=1000.0, next_due=2800.0)))
    sit = loop_situation(events)
    assert sit.state.current == "fix" and sit.state.active == ["fix", "update[1]"]
    events += [event(ev.StepStarted(attempt=1), "update[1]"),
               event(ev.CheckToggled(index=0, label="posted", checked=True), "update[1]"),
               event(ev.StepFinished(status="done"), "update[1]")]
    assert planner.next_move(loop_situation(events, now=2799.0)) is None
    assert planner.next_move(loop_situation(events, now=2800.0)) == planner.Recur("update", number=2, due=2800.0,
                                                                                  next_due=4600.0)
    events += [event(ev.StepStarted(attempt=1, command="fix"), "fix"),
               event(ev.CommandFinished(attempt=1, exit_code=0, ok=True), "fix"),
               event(ev.StepFinished(status="done"), "fix")]
    assert planner.next_move(loop_situation(events, now=2800.0)) == planner.FinishStep("update", duration=1800.0)


def test_a_failed_step_with_on_failure_is_routed_once_and_the_detour_returns_to_it():
    events = [event(ev.Items(of="drain", var="node", values=[], labels=[])),
              event(ev.Skipped(reason="x"), "update"),
              event(ev.StepStarted(attempt=1, command="fix"), "fix"),
              event(ev.CommandFinished(attempt=1, exit_code=2, ok=False, error="exit code 2"), "fix"),
              event(ev.StepFinished(status="failed", error="exit code 2"), "fix")]
    move = planner.next_move(loop_situation(events))
    assert move == planner.Route("fix", target="recover", then="return",
                                 reason="step 'fix' failed (exit code 2): on_failure")
    events.append(event(ev.Jump(target="recover", reason=move.reason, then="return", planned=True), "fix"))
    state = loop_situation(events).state
    assert state.current == "undo" and state.path[-2:] == ["undo", "fix"]
    events += [event(ev.StepStarted(attempt=1), "undo"),
               event(ev.CheckToggled(index=0, label="undone", checked=True), "undo"),
               event(ev.StepFinished(status="done"), "undo")]
    sit = loop_situation(events)
    assert sit.state.current == "fix" and sit.state.status("fix") == "failed"  # back where it failed
    assert planner.next_move(sit) is None  # routed once: now a person re-runs it, with a reason
    assert planner.refusal(sit, planner.RERUN, "fix") is None


FLEET = parse("""
[runbook]
id = "f"
title = "F"
[[sections]]
id = "staging"
title = "Staging"
[[sections]]
id = "production"
title = "Production"
[[steps]]
id = "stage"
section = "staging"
title = "Stage"
run = "deploy staging"
auto = true
[[steps]]
id = "prod"
section = "production"
title = "Prod"
run = "deploy production"
auto = true
""")


def fleet_situation(events):
    return planner.Situation(state=fold(FLEET, events), now=1000.0, variables=lambda step=None: {},
                             busy=frozenset())


def test_a_dry_run_skips_every_step_as_planned():
    start = event(ev.RunStarted(runbook_id="f", app="collections", dry="collections is not enabled"))
    assert planner.next_move(fleet_situation([start])) == planner.SkipStep(
        "stage", reason="dry run: collections is not enabled", planned=True)


def test_an_untrusted_run_holds_before_its_section_until_the_hold_is_overridden():
    start = event(ev.RunStarted(runbook_id="f", app="whitehall", hold="production"))
    assert planner.next_move(fleet_situation([start])) == planner.StartAuto("stage")
    staged = [start, event(ev.StepStarted(attempt=1, command="deploy staging"), "stage"),
              event(ev.CommandFinished(attempt=1, exit_code=0, ok=True), "stage"),
              event(ev.StepFinished(status="done"), "stage")]
    sit = fleet_situation(staged)
    assert planner.held(sit.state, "prod") and planner.next_move(sit) is None
    go = staged + [event(ev.Override(what="hold", reason="looked at staging"), actor="carol")]
    sit = fleet_situation(go)
    assert not planner.held(sit.state, "prod") and planner.next_move(sit) == planner.StartAuto("prod")
