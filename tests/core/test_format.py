"""The format's additions through the engine, on real journals and real subprocesses: repetition, recurring
steps, gotos back, detours that return, on-failure routes, decisions that set variables, `when` on an
earlier step's outcome, prompt steps, durations that are templates."""

from __future__ import annotations

import json
import re

import pytest

from deploytui.engine.clock import FakeClock
from deploytui.errors import UserError
from deploytui.events import kinds as ev
from deploytui.events.state import ABANDONED, DONE, FAILED, LEFT, NEEDS_YOU, PENDING, SKIPPED, WAITING, fold

from .helpers import start, wait_for


def events(run, kind=None):
    return [e for e in run.journal.events(run.run_id) if kind is None or e.kind == kind]


def finish(run, step, timeout=10):
    """Run a step's command and wait until the engine is done with it."""
    run.run_step(step)
    assert wait_for(lambda: run.state.steps[step].final is not None, timeout=timeout, run=run), \
        (step, run.state.status(step))


# ---- repetition ------------------------------------------------------------------------------------------
def test_a_step_repeats_over_a_variable_with_its_own_id_output_and_retries_per_item(tmp_path):
    flaky = tmp_path / "flaky"
    run = start(tmp_path, f"""
        [vars.nodes]
        default = "node-1, node-2 node-3"
        [[steps]]
        id = "drain"
        title = "Drain {{{{ node }}}}"
        each = "node in nodes"
        retries = 1
        run = "echo draining {{{{ node }}}}; if [ {{{{ node }}}} = node-2 ] && [ ! -e {flaky} ]; then touch {flaky}; exit 1; fi"
        checks = ["{{{{ node }}}} shows SchedulingDisabled"]
        [[steps]]
        id = "after"
        title = "After"
        body = "all drained"
        checks = ["ok"]
        """)
    s = run.state
    assert s.path == ["drain[node-1]", "drain[node-2]", "drain[node-3]", "after"]
    assert s.current == "drain[node-1]"
    assert run.text_of_step("drain[node-2]") == "Drain node-2"
    assert run.resolved_command(s.step("drain[node-2]")).startswith("echo draining node-2;")
    items = events(run, ev.ITEMS)
    assert items[0].data == {"of": "drain", "var": "node", "values": ["node-1", "node-2", "node-3"],
                             "labels": ["node-1", "node-2", "node-3"]}
    with pytest.raises(UserError, match="not the current step"):
        run.run_step("drain[node-2]")  # one at a time
    with pytest.raises(UserError, match="repeats: act on its items"):
        run.run_step("drain")
    for node in ("node-1", "node-2", "node-3"):
        sid = f"drain[{node}]"
        run.run_step(sid)
        assert wait_for(lambda sid=sid: run.state.steps[sid].command_ok, run=run)
        assert run.state.status(sid) == NEEDS_YOU
        assert run.state.blockers(sid, lambda t, sid=sid: run.text(t, sid)) == [
            f"check: {node} shows SchedulingDisabled"]
        run.tick(sid, 0)
        assert run.state.status(sid) == DONE
    assert run.journal.tail(run.run_id, "drain[node-2]")[0][-1] == "draining node-2"
    assert [e.step for e in events(run, ev.RETRIED)] == ["drain[node-2]"]  # retried alone
    ticks = [e.data["label"] for e in events(run, ev.CHECK_TOGGLED)]
    assert ticks == [f"{n} shows SchedulingDisabled" for n in ("node-1", "node-2", "node-3")]
    assert run.state.status("drain") == DONE and run.state.current == "after"


def test_items_a_command_printed_one_per_line(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "list"
        title = "List the nodes"
        run = "printf 'worker-a\\\\nworker-b\\\\n'"
        capture = { workers = "stdout" }
        [[steps]]
        id = "upgrade"
        title = "Upgrade"
        each = "w in workers"
        run = "echo upgrading {{ w }}"
        auto = true
        """)
    finish(run, "list")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert run.state.children["upgrade"] == ["upgrade[worker-a]", "upgrade[worker-b]"]
    assert run.journal.tail(run.run_id, "upgrade[worker-b]")[0] == ["upgrading worker-b"]
    assert run.text_of_step("upgrade[worker-b]") == "Upgrade · worker-b"  # the title did not say which


def test_a_section_repeats_item_by_item_and_a_gate_counts_from_its_own_item(tmp_path):
    clock = FakeClock()
    run = start(tmp_path, """
        [vars.nodes]
        default = "a,b"
        [[sections]]
        id = "per-node"
        title = "Each worker"
        each = "node in nodes"
        [[steps]]
        id = "drain"
        section = "per-node"
        title = "Drain {{ node }}"
        checks = ["drained"]
        [[steps]]
        id = "uncordon"
        section = "per-node"
        title = "Uncordon {{ node }}"
        not_before = { step = "drain", wait = "5m" }
        checks = ["uncordoned"]
        """, clock=clock)
    s = run.state
    assert s.path == ["drain[a]", "uncordon[a]", "drain[b]", "uncordon[b]"]
    run.tick("drain[a]", 0)
    assert s.status("uncordon[a]") == WAITING and s.steps["uncordon[a]"].gate_deadline == clock.now() + 300
    clock.advance(301)
    run.poll()
    run.tick("uncordon[a]", 0)
    assert s.current == "drain[b]"
    assert s.steps["uncordon[b]"].gate_deadline is None  # counts from b's own drain, not a's
    run.tick("drain[b]", 0)
    assert s.steps["uncordon[b]"].gate_deadline == clock.now() + 300


def test_items_n_at_a_time_where_the_author_allows_it(tmp_path):
    gate = tmp_path / "go"
    run = start(tmp_path, f"""
        [vars.hosts]
        default = "h1 h2 h3"
        [[steps]]
        id = "patch"
        title = "Patch {{{{ host }}}}"
        each = "host in hosts"
        parallel = 2
        run = "while [ ! -e {gate} ]; do sleep 0.02; done; echo patched {{{{ host }}}}"
        """)
    assert run.state.active == ["patch[h1]", "patch[h2]"]
    run.run_step("patch[h1]")
    run.run_step("patch[h2]")
    with pytest.raises(UserError, match="not the current step"):
        run.run_step("patch[h3]")
    assert wait_for(lambda: {run.state.status("patch[h1]"), run.state.status("patch[h2]")} == {"running"}, run=run)
    gate.write_text("go")
    assert wait_for(lambda: run.state.active == ["patch[h3]"], run=run)
    finish(run, "patch[h3]")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)


def test_an_empty_list_skips_the_step_as_planned(tmp_path):
    run = start(tmp_path, """
        [vars.clones]
        default = ""
        [[steps]]
        id = "delete"
        title = "Delete {{ clone }}"
        each = "clone in clones"
        run = "echo {{ clone }}"
        [[steps]]
        id = "end"
        title = "End"
        checks = ["ok"]
        """)
    assert run.state.status("delete") == SKIPPED and run.state.current == "end"


def test_a_list_that_does_not_evaluate_fails_the_step_in_words(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "list"
        title = "List"
        run = "true"
        capture = { nodes = "stdout" }
        [[steps]]
        id = "drain"
        title = "Drain"
        each = "node in nodes"
        run = "echo {{ node }}"
        """)
    run.skip("list", "not today")
    assert run.state.status("drain") == FAILED
    assert "each: undefined variable" in run.state.steps["drain"].error


# ---- recurring steps -----------------------------------------------------------------------------------
def test_a_recurring_step_runs_alongside_the_path_until_its_condition_holds(tmp_path):
    clock = FakeClock()
    run = start(tmp_path, """
        [vars.severity]
        default = "2"
        [[steps]]
        id = "declare"
        title = "Declare the incident"
        decide = { question = "Severity?", options = [{ label = "SEV2" },
                   { label = "SEV1", set = { severity = "1" } }] }
        [[steps]]
        id = "update"
        title = "Post a status update"
        every = "{{ '30m' if severity == '1' else '60m' }}"
        until = "steps.resolve.status == 'done'"
        checks = ["Posted the update"]
        [[steps]]
        id = "mitigate"
        title = "Mitigate"
        checks = ["Mitigated"]
        [[steps]]
        id = "resolve"
        title = "Resolve"
        checks = ["Resolved"]
        """, clock=clock)
    s = run.state
    run.decide("declare", "SEV1")
    assert s.vars["severity"] == "1"
    assert s.side == ["update[1]"] and s.current == "mitigate"  # the update does not hold the path
    assert s.active == ["mitigate", "update[1]"]
    run.tick("update[1]", 0)
    assert s.status("update") == WAITING and s.steps["update"].next_due == clock.now() + 1800
    clock.advance(1799)
    run.poll()
    assert s.side == ["update[1]"]
    clock.advance(1)
    run.poll()
    assert s.side == ["update[1]", "update[2]"] and s.status("update[2]") == NEEDS_YOU
    run.tick("mitigate", 0)
    run.tick("update[2]", 0)
    run.tick("resolve", 0)  # resolved: no third update
    assert s.outcome == "succeeded"
    assert s.status("update") == DONE and [e.data["number"] for e in events(run, ev.OCCURRENCE)] == [1, 2]


def test_the_end_of_the_run_ends_what_recurs(tmp_path):
    clock = FakeClock()
    run = start(tmp_path, """
        [[steps]]
        id = "update"
        title = "Update"
        every = "10m"
        checks = ["posted"]
        [[steps]]
        id = "fix"
        title = "Fix"
        checks = ["fixed"]
        """, clock=clock)
    run.tick("fix", 0)
    assert run.state.outcome == "succeeded"
    skipped = events(run, ev.SKIPPED)
    assert [(e.step, e.data["planned"]) for e in skipped] == [("update[1]", True)]
    assert run.state.status("update") == DONE


# ---- gotos and detours ------------------------------------------------------------------------------------
def test_a_decisions_goto_back_repeats_the_steps_from_there(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "deploy"
        title = "Deploy"
        run = "echo deploying"
        [[steps]]
        id = "smoke"
        title = "Smoke test"
        run = "echo smoke"
        [[steps]]
        id = "again"
        title = "Good?"
        decide = { question = "Smoke tests pass?", options = [{ label = "Yes" },
                   { label = "Again", goto = "smoke" }] }
        [[steps]]
        id = "announce"
        title = "Announce"
        checks = ["announced"]
        """)
    finish(run, "deploy")
    finish(run, "smoke")
    run.decide("again", "Again", "flaky network")
    s = run.state
    assert s.current == "smoke" and s.status("smoke") == PENDING and s.status("announce") == PENDING
    assert s.status("deploy") == DONE
    finish(run, "smoke")
    assert s.steps["smoke"].attempt == 2  # the journal keeps both passes apart
    assert run.journal.tail(run.run_id, "smoke", 1)[0] == ["smoke"]
    run.decide("again", "Yes")
    assert s.current == "announce"
    run.tick("announce", 0)
    assert s.outcome == "succeeded"


def test_a_detour_that_says_return_comes_back_and_a_one_way_goto_abandons_the_rest(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "upgrade"
        title = "Upgrade"
        decide = { question = "Healthy?", options = [{ label = "Yes" },
                   { label = "Recover", goto = "recover" }, { label = "Give up", goto = "revert" }] }
        [[steps]]
        id = "verify"
        title = "Verify"
        checks = ["verified"]
        [[sections]]
        id = "recover"
        title = "Recover"
        on_demand = true
        then = "return"
        [[steps]]
        id = "fix"
        section = "recover"
        title = "Fix"
        checks = ["fixed"]
        [[sections]]
        id = "revert"
        title = "Revert"
        on_demand = true
        [[steps]]
        id = "undo"
        section = "revert"
        title = "Undo"
        checks = ["undone"]
        """)
    s = run.state
    run.decide("upgrade", "Recover")
    assert s.current == "fix" and s.path == ["upgrade", "fix", "verify"]
    run.tick("fix", 0)
    assert s.current == "verify"  # back on the main path
    run.tick("verify", 0)
    assert s.outcome == "succeeded" and s.entered == ["recover"]

    run2 = start(tmp_path / "two", """
        [[steps]]
        id = "upgrade"
        title = "Upgrade"
        decide = { question = "Healthy?", options = [{ label = "Yes" }, { label = "Give up", goto = "revert" }] }
        [[steps]]
        id = "verify"
        title = "Verify"
        checks = ["verified"]
        [[sections]]
        id = "revert"
        title = "Revert"
        on_demand = true
        [[steps]]
        id = "undo"
        section = "revert"
        title = "Undo"
        checks = ["undone"]
        """) if (tmp_path / "two").mkdir() is None else None
    run2.decide("upgrade", "Give up")
    assert run2.state.status("verify") == ABANDONED  # not "pending" forever
    run2.tick("undo", 0)
    assert run2.state.outcome == "completed_on_demand"
    assert events(run2, ev.RUN_FINISHED)[0].data["section"] == "revert"


def test_an_option_can_say_where_the_run_goes_on_and_a_jump_returns_too(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        decide = { question = "?", options = [{ label = "Escalate", goto = "escalate", then = "c" }] }
        [[steps]]
        id = "b"
        title = "B"
        checks = ["b"]
        [[steps]]
        id = "c"
        title = "C"
        checks = ["c"]
        [[sections]]
        id = "escalate"
        title = "Escalate"
        on_demand = true
        then = "return"
        [[steps]]
        id = "page"
        section = "escalate"
        title = "Page the incident commander"
        checks = ["paged"]
        """)
    s = run.state
    run.decide("a", "Escalate")
    assert s.path == ["a", "page", "c"]  # the option's `then` wins over the section's
    run.tick("page", 0)
    assert s.current == "c" and s.status("b") == ABANDONED
    run.jump("escalate", "paged again")  # the operator's jump: the section's `then` brings it back
    assert s.path == ["a", "page", "c"] and s.current == "page" and s.status("page") == NEEDS_YOU
    run.tick("page", 0)
    assert s.current == "c"


def test_a_failed_step_goes_where_on_failure_says(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "pg-upgrade"
        title = "Run pg_upgrade"
        run = "echo 'schema restore failed'; exit 3"
        on_failure = "revert"
        [[steps]]
        id = "start-new"
        title = "Start the new server"
        run = "true"
        [[sections]]
        id = "revert"
        title = "Revert to the old cluster"
        on_demand = true
        [[steps]]
        id = "start-old"
        section = "revert"
        title = "Start the old server"
        run = "echo old server up"
        """)
    run.run_step("pg-upgrade")
    assert wait_for(lambda: run.state.current == "start-old", run=run)
    s = run.state
    assert s.status("pg-upgrade") == FAILED and s.status("start-new") == ABANDONED
    jump = events(run, ev.JUMP)[0]
    assert jump.step == "pg-upgrade" and jump.data["planned"] and jump.actor == "engine"
    assert "exit code 3" in jump.data["reason"]
    finish(run, "start-old")
    assert wait_for(lambda: run.state.outcome == "completed_on_demand", run=run)


def test_when_tests_an_earlier_steps_outcome(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "start-new"
        title = "Start the new server"
        run = "true"
        [[steps]]
        id = "if-started"
        title = "Point the application at it"
        when = "steps['start-new'].status == 'done'"
        checks = ["pointed"]
        [[steps]]
        id = "if-not"
        title = "Investigate"
        when = "steps['start-new'].status == 'skipped'"
        checks = ["looked"]
        """)
    finish(run, "start-new")
    s = run.state
    assert s.current == "if-started"
    run.tick("if-started", 0)
    assert s.status("if-not") == SKIPPED and s.outcome == "succeeded"


# ---- facts learned during the run -------------------------------------------------------------------------
def test_a_prompt_step_asks_with_the_start_forms_rules(tmp_path):
    run = start(tmp_path, """
        [vars.target]
        prompt = "Version to upgrade to"
        pattern = '^\\d+\\.\\d+\\.\\d+$'
        [[steps]]
        id = "ask"
        title = "Which version?"
        ask = "target"
        [[steps]]
        id = "plan"
        title = "Plan the upgrade to {{ target }}"
        run = "echo kubeadm upgrade plan v{{ target }}"
        """)
    s = run.state
    assert "target" not in s.vars and s.blockers("ask") == ["a value for target"]
    with pytest.raises(UserError, match=r"does not match"):
        run.answer("ask", "1.30")
    run.answer("ask", "1.30.2")
    assert s.vars["target"] == "1.30.2" and s.current == "plan"
    assert run.text_of_step("plan") == "Plan the upgrade to 1.30.2"
    answered = events(run, ev.ANSWERED)[0]
    assert answered.data == {"var": "target", "value": "1.30.2", "secret": False} and answered.actor == "tester"


def test_a_decision_sets_a_variable_and_later_durations_follow_it(tmp_path):
    clock = FakeClock()
    run = start(tmp_path, """
        [vars.severity]
        choices = ["1", "2", "3"]
        default = "3"
        [[steps]]
        id = "triage"
        title = "Triage"
        decide = { question = "How bad?", options = [{ label = "Bad", set = { severity = "1" } },
                   { label = "Typo", set = { severity = "x" } }] }
        [[steps]]
        id = "hold"
        title = "Hold"
        wait = "{{ 5 if severity == '1' else 60 }}m"
        """, clock=clock)
    with pytest.raises(UserError, match="'x' is not one of 1, 2, 3"):
        run.decide("triage", "Typo")
    run.decide("triage", "Bad")
    assert run.state.vars["severity"] == "1"
    assert events(run, ev.DECISION)[0].data["set"] == {"severity": "1"}
    assert run.state.steps["hold"].wait_deadline == clock.now() + 300


def test_the_fold_gives_the_same_state_to_a_resume(tmp_path):
    run = start(tmp_path, """
        [vars.nodes]
        default = "a b"
        [[steps]]
        id = "drain"
        title = "Drain {{ node }}"
        each = "node in nodes"
        checks = ["ok"]
        """)
    run.tick("drain[a]", 0)
    again = fold(run.book, run.journal.events(run.run_id), run.run_id)
    assert again.path == run.state.path and again.current == "drain[b]"
    assert again.bindings("drain[b]") == {"node": "b"} and again.status("drain[a]") == DONE


# ---- templates everywhere ---------------------------------------------------------------------------------
def test_until_and_capture_patterns_are_templates_whose_values_match_literally(tmp_path):
    run = start(tmp_path, """
        [vars.version]
        default = "1.2.3"
        [[steps]]
        id = "deploy"
        title = "Deploy {{ version }}"
        run = "echo 'build 1x2y3 ok'; echo 'build 1.2.3 ok'"
        capture = { line = "re:^(build {{ version }} ok)$" }
          [[steps.panes]]
          title = "Version of {{ version }}"
          tail = "echo 'Ready v1x2y3'; echo 'Ready v1.2.3'; sleep 30"
          until = "Ready v{{ version }}$"
        """)
    run.run_step("deploy")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert run.state.vars["line"] == "build 1.2.3 ok"
    assert events(run, ev.PANE_MATCHED)[0].data["line"] == "Ready v1.2.3"


def test_a_watch_pane_whose_command_fails_never_satisfies_until(tmp_path):
    marker = tmp_path / "healthy"
    run = start(tmp_path, f"""
        [[steps]]
        id = "watch"
        title = "Wait for health"
        checks = ["looked"]
          [[steps.panes]]
          watch = "if [ -e {marker} ]; then echo status: healthy; else echo 'error: expected status: healthy'; exit 1; fi"
          every = "0.05s"
          until = "status: healthy"
        """)
    run.tick("watch", 0)
    assert wait_for(lambda: len(run.journal.tail(run.run_id, "watch", 1, stream="pane0")[0]) >= 3, run=run)
    assert run.state.steps["watch"].panes_done == set() and run.state.current == "watch"
    marker.write_text("")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert events(run, ev.PANE_MATCHED)[0].data["line"] == "status: healthy"


def test_the_title_people_read_is_rendered_in_the_journal_and_its_words(tmp_path):
    header = '[runbook]\nid = "pg"\ntitle = "Upgrade PostgreSQL {{ old }} to {{ new }}"\n' \
             '[vars.old]\ndefault = "15"\n[vars.new]\ndefault = "16"\n'
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        checks = ["ok"]
        """, header=header)
    started = events(run, ev.RUN_STARTED)[0]
    assert started.data["title"] == "Upgrade PostgreSQL 15 to 16"
    assert run.journal.run(run.run_id).title == "Upgrade PostgreSQL 15 to 16"
    from deploytui.events.describe import describe
    assert "Run of Upgrade PostgreSQL 15 to 16" in describe(started).text


# ---- interactive steps keep their output -----------------------------------------------------------------
def test_an_interactive_step_keeps_a_typescript_of_the_hand_over(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "login"
        title = "Log in"
        interactive = true
        run = "echo 'Enter the MFA code:'; read -r code; echo \\"code accepted: $code\\"; test -t 0 && echo on a terminal"
        capture = { said = "re:code (accepted)" }
        """, handover=_answering("123456\n"))
    run.run_step("login")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    lines = run.journal.tail(run.run_id, "login")[0]
    # what the terminal showed: the prompt, the typed code echoed, the answer (typed ahead, the echo may come first)
    assert lines.index("Enter the MFA code:") < lines.index("code accepted: 123456") and "123456" in lines
    assert "on a terminal" in lines  # script gave it a terminal of its own
    assert lines[-1].startswith("(interactive: exit 0 after ") and "Script" not in " ".join(lines)
    assert run.state.vars["said"] == "accepted"


def test_without_script_the_hand_over_still_runs_and_says_why_there_is_no_typescript(tmp_path):
    import os
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("bash"), bin_dir / "bash")
    run = start(tmp_path, """
        [[steps]]
        id = "login"
        title = "Log in"
        interactive = true
        run = "exit 0"
        """, handover=_answering(""), env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    run.run_step("login")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    assert run.journal.tail(run.run_id, "login")[0][-1].endswith("; no typescript: `script` is not installed)")


def _answering(typed: str):
    """A hand-over as the app does it, with what the person types on standard input."""
    import subprocess

    def handover(argv, env=None, cwd=None):
        return subprocess.run(argv, env=env, cwd=cwd, input=typed.encode()).returncode

    return handover


def test_slack_hears_rendered_titles_and_items(tmp_path, httpserver):
    from werkzeug import Response

    posted = []
    httpserver.expect_request("/hook").respond_with_handler(
        lambda req: posted.append(req.get_json()["text"]) or Response("ok"))
    header = ('[runbook]\nid = "pg"\ntitle = "Upgrade PostgreSQL {{ old }} to {{ new }}"\n[vars.old]\ndefault = "15"\n'
              '[vars.new]\ndefault = "16"\n[vars.hook]\nsecret = true\ndefault = "' + httpserver.url_for("/hook")
              + '"\n[notify]\nslack = "{{ hook }}"\nevents = ["run_started", "step_finished", "items"]\n')
    run = start(tmp_path, """
        [vars.standbys]
        default = "replica-a"
        [[steps]]
        id = "sync"
        title = "Sync {{ standby }} with rsync"
        each = "standby in standbys"
        checks = ["synced"]
        """, header=header)
    run.tick("sync[replica-a]", 0)
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    for notifier in run._notifiers:
        notifier.flush(5)
    text = "\n".join(posted)
    assert "Run of Upgrade PostgreSQL 15 to 16" in text
    assert "Upgrade PostgreSQL 15 to 16: Sync replica-a with rsync: done" in text
    assert "Sync ‹standby› with rsync: once for each standby: replica-a" in text
    assert "{{" not in text


def test_the_record_shows_each_item_with_its_own_checks_attempts_and_output(tmp_path):
    from deploytui.reports.export import record

    run = start(tmp_path, """
        [vars.nodes]
        default = "n1 n2"
        [[steps]]
        id = "drain"
        title = "Drain {{ node }}"
        each = "node in nodes"
        run = "echo drained {{ node }}"
        checks = ["{{ node }} is cordoned"]
        [[steps]]
        id = "skipped-later"
        title = "Later"
        checks = ["x"]
        """)
    run.run_step("drain[n1]")
    assert wait_for(lambda: run.state.steps["drain[n1]"].command_ok, run=run)
    run.tick("drain[n1]", 0)
    run.skip("drain[n2]", "n2 is already on the new version")
    md = record(run.journal, run.run_id, "md")
    assert "Repeats once for each node in nodes" in md
    assert "##### Drain n1 (`drain[n1]`) [DONE]" in md
    assert "- ☑ n1 is cordoned — ticked by tester" in md
    assert "drained n1" in md
    assert "##### Drain n2 (`drain[n2]`) [SKIPPED]" in md and "n2 is already on the new version" in md
    html = record(run.journal, run.run_id, "html")
    assert "Drain n1" in html and "drain[n2]" in html
    doc = json.loads(record(run.journal, run.run_id, "json"))
    drain = next(st for sec in doc["sections"] for st in sec["steps"] if st["id"] == "drain")
    assert [(i["id"], i["values"], i["execution"]["status"]) for i in drain["items"]] == [
        ("drain[n1]", {"node": "n1"}, "done"), ("drain[n2]", {"node": "n2"}, "skipped")]


def test_run_and_plan_with_a_default_that_needs_a_value_nobody_gave(tmp_path):
    from .helpers import deploytui

    book = tmp_path / "b.toml"
    book.write_text('[runbook]\nid = "b"\ntitle = "Release {{ tag }}"\n[vars.version]\nprompt = "Version"\n'
                    '[vars.tag]\ndefault = "v{{ version }}"\n[[steps]]\nid = "t"\ntitle = "Tag {{ tag }}"\n'
                    'run = "echo {{ tag }}"\n')
    assert deploytui("check", book).returncode == 0
    plan = deploytui("plan", book)  # not on a terminal: the plan asks nobody, and names what it needs
    assert plan.returncode == 2 and plan.stderr.strip().endswith("the plan needs version: give --var version=VALUE")
    plan = deploytui("plan", book, "--var", "version=2.4.0")
    assert plan.returncode == 0 and "echo v2.4.0" in plan.stdout
    headless = deploytui("run", book, "--headless", "--journal", tmp_path / "j.db")
    assert headless.returncode == 2 and "no value for version, tag: give --var NAME=VALUE" in headless.stderr
    answers = tmp_path / "a.toml"
    answers.write_text('run = ["*"]\n')
    given = deploytui("run", book, "--headless", "--var", "version=2.4.0", "--answers", answers,
                      "--journal", tmp_path / "j.db")
    assert given.returncode == 0 and "v2.4.0" in given.stdout


def test_a_detour_that_returns_leaves_the_rest_of_the_path_as_it_was(tmp_path):
    """Items done side by side stay done; the step the run left stays as it was (its ticks too)."""
    run = start(tmp_path, """
        [vars.nodes]
        default = "a b c"
        [[steps]]
        id = "patch"
        title = "Patch {{ node }}"
        each = "node in nodes"
        parallel = 2
        checks = ["patched", "rebooted"]
        [[sections]]
        id = "recover"
        title = "Recover"
        on_demand = true
        then = "return"
        [[steps]]
        id = "fix"
        section = "recover"
        title = "Fix"
        checks = ["fixed"]
        """)
    s = run.state
    run.tick("patch[b]", 0)
    run.tick("patch[b]", 1)
    run.tick("patch[a]", 0)
    assert s.status("patch[b]") == DONE and s.current == "patch[a]"
    run.jump("recover", "a will not reboot")
    assert s.current == "fix"
    run.tick("fix", 0)
    assert s.current == "patch[a]" and s.steps["patch[a]"].checks == [True, False]
    assert s.status("patch[b]") == DONE and s.steps["patch[b]"].attempt == 1


def test_a_secret_asked_mid_run_never_reaches_the_journal(tmp_path):
    run = start(tmp_path, """
        [vars.db_password]
        prompt = "Password of the new cluster's postgres user"
        secret = true
        [[steps]]
        id = "ask"
        title = "Password?"
        ask = "db_password"
        [[steps]]
        id = "use"
        title = "Use it"
        run = "echo password is {{ db_password }}; test {{ db_password }} = s3cr3t-Value"
        """)
    with pytest.raises(UserError, match="at least"):
        run.answer("ask", "abc")  # the start form's rule: too short to mask
    run.answer("ask", "s3cr3t-Value")
    assert "db_password" not in run.state.vars
    finish(run, "use")
    assert run.state.status("use") == DONE
    assert events(run, ev.ANSWERED)[0].data == {"var": "db_password", "value": "[SECRET]", "secret": True}
    started = events(run, ev.STEP_STARTED)[-1].data["command"]
    assert "s3cr3t" not in started and "$DEPLOYTUI_SECRET_DB_PASSWORD" in started
    assert "s3cr3t-Value" not in "".join(run.journal.tail(run.run_id, "use")[0])


def test_going_back_before_a_repetition_lists_its_items_anew(tmp_path):
    nodes = tmp_path / "nodes"
    nodes.write_text("a\nb\n")
    run = start(tmp_path, f"""
        [[steps]]
        id = "list"
        title = "List"
        run = "cat {nodes}"
        capture = {{ nodes = "stdout" }}
        auto = true
        [[steps]]
        id = "drain"
        title = "Drain {{{{ node }}}}"
        each = "node in nodes"
        checks = ["drained"]
        [[steps]]
        id = "more"
        title = "More nodes?"
        decide = {{ question = "Did new nodes join?", options = [{{ label = "No" }},
                   {{ label = "Yes: list them again", goto = "list" }}] }}
        """)
    s = run.state
    assert wait_for(lambda: s.current == "drain[a]", run=run)
    run.tick("drain[a]", 0)
    run.tick("drain[b]", 0)
    nodes.write_text("a\nb\nc\n")
    run.decide("more", "Yes: list them again")
    assert wait_for(lambda: s.children.get("drain") == ["drain[a]", "drain[b]", "drain[c]"], run=run)
    assert s.current == "drain[a]" and s.steps["drain[a]"].attempt == 2  # a fresh pass; the attempt count goes on
    for n in "abc":
        run.tick(f"drain[{n}]", 0)
    run.decide("more", "No")
    assert s.outcome == "succeeded"
    assert [e.data["values"] for e in events(run, ev.ITEMS)] == [["a", "b"], ["a", "b", "c"]]


def test_a_step_the_run_left_for_a_rollback_is_recorded_as_left_not_as_never_on_the_path(tmp_path):
    """The recycle ran and its pane was still watching when the release manager rolled back: the record and
    the screen say it was left unfinished, with its attempt as it ended (seen: "not on this run's path" and
    an attempt still "running")."""
    from deploytui.reports.record import record_document

    run = start(tmp_path, """
        [[steps]]
        id = "recycle"
        title = "Recycle the IdP instances"
        run = "echo recycled"
        checks = ["The pool is healthy"]
        [[steps]]
        id = "after"
        title = "After"
        checks = ["ok"]
        [[sections]]
        id = "rollback"
        title = "Roll back"
        on_demand = true
        rollback = true
        [[steps]]
        id = "revert"
        section = "rollback"
        title = "Revert"
        checks = ["reverted"]
        """)
    run.run_step("recycle")
    assert wait_for(lambda: run.state.steps["recycle"].command_ok, run=run)
    run.jump("rollback", "the new instances are unhealthy")
    assert run.state.status("recycle") == LEFT and run.state.status("after") == ABANDONED
    run.tick("revert", 0)
    assert run.state.outcome == "rolled_back"
    doc, _ = record_document(run.journal, run.run_id)
    steps = {s["id"]: s for sec in doc["sections"] for s in sec["steps"]}
    recycle = steps["recycle"]["execution"]
    assert recycle["status"] == "left unfinished"
    [attempt] = recycle["attempts"]
    assert attempt["status"] == "left" and attempt["ok"] and attempt["exit_code"] == 0
    assert "recycled" in str(attempt["output"])
    assert steps["after"]["execution"]["status"] == "not on this run's path"


def test_the_record_lists_who_signed_off_a_step_when_and_for_which_command(tmp_path):
    from deploytui.reports.export import record

    run = start(tmp_path, """
        [[steps]]
        id = "drop"
        title = "Drop the old table"
        approve = 1
        run = "echo dropping old_users"
        """)
    run.sign_off("drop", "bob", 4242, "echo dropping old_users")
    run.run_step("drop")
    assert wait_for(lambda: run.state.outcome == "succeeded", run=run)
    md = record(run.journal, run.run_id, "md")
    assert "Signed off (four eyes):" in md
    assert re.search(r"- bob at \d\d:\d\d:\d\d, for `echo dropping old_users`", md), md
    html = record(run.journal, run.run_id, "html")
    assert re.search(r"<li>bob at \d\d:\d\d:\d\d, for <code>echo dropping old_users</code></li>", html)
    doc = json.loads(record(run.journal, run.run_id, "json"))
    [step] = [s for sec in doc["sections"] for s in sec["steps"] if s["id"] == "drop"]
    [signed] = step["execution"]["sign_offs"]
    assert (signed["user"], signed["uid"], signed["command"]) == ("bob", 4242, "echo dropping old_users")
    assert signed["ts"] <= step["execution"]["attempts"][0]["started"]
