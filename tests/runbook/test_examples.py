"""The three example runbooks from public procedures of different shapes, each rehearsed to its end with the
real command (`deploytui rehearse --headless`): an upgrade repeated per machine (kubeadm), a database
migration with a point of no return (pg_upgrade), a major incident with recurring updates (PagerDuty)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.engine.clock import FakeClock
from deploytui.engine.run import Run
from deploytui.events import kinds as ev
from deploytui.integrations.registry import registry
from deploytui.journal import Journal
from deploytui.runbook.lint import check_file
from deploytui.runbook.loader import load
from deploytui.runbook.variables import resolve

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "runbooks" / "examples"
EVERYTHING = 'run = ["*"]\ntick = ["*"]\n'


def rehearse(tmp_path, name: str, answers: str, practise: str = "") -> tuple[subprocess.CompletedProcess, Journal]:
    a = tmp_path / "answers.toml"
    a.write_text(EVERYTHING + answers)
    journal = tmp_path / "journal.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "DEPLOYTUI_PRACTISE"}
    if practise:
        env["DEPLOYTUI_PRACTISE"] = practise
    res = subprocess.run([sys.executable, "-m", "deploytui", "rehearse", str(EXAMPLES / name), "--headless",
                          "--time-scale", "600", "--answers", str(a), "--journal", str(journal), "--no-output"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    return res, Journal(journal, readonly=True)


def the_run(journal: Journal):
    row = journal.runs(1)[0]
    return row, journal.events(row.id)


def started(events, step: str) -> list[int]:
    return [e.data["attempt"] for e in events if e.kind == ev.STEP_STARTED and e.step == step]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_check_clean_and_name_their_source(path):
    book, problems = check_file(str(path), registry())
    assert book is not None and problems == []
    assert book.runbook.source.startswith("https://")
    assert sorted(p.name for p in EXAMPLES.glob("*.toml")) == ["kubeadm-upgrade.toml", "major-incident.toml",
                                                               "pg-upgrade.toml"]


# ---- kubeadm: per machine -----------------------------------------------------------------------------------
def test_kubeadm_upgrades_control_planes_one_by_one_and_workers_two_at_a_time(tmp_path):
    res, journal = rehearse(tmp_path, "kubeadm-upgrade.toml", '[vars]\nversion = "1.30.2"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    row, events = the_run(journal)
    assert row.outcome == "succeeded"
    lists = {e.data["of"]: e.data["values"] for e in events if e.kind == ev.ITEMS}
    assert lists == {"control-planes": ["cp-2", "cp-3"], "workers": ["worker-1", "worker-2", "worker-3"]}
    order = [(e.kind, e.step) for e in events if e.kind in (ev.STEP_STARTED, ev.STEP_FINISHED)]
    # control planes one at a time: cp-3 starts after cp-2 is uncordoned
    assert order.index((ev.STEP_STARTED, "cp-kubeadm[cp-3]")) > order.index((ev.STEP_FINISHED, "cp-uncordon[cp-2]"))
    # workers two at a time: worker-2 starts before worker-1 is done, worker-3 only after one of them is
    assert order.index((ev.STEP_STARTED, "w-kubeadm[worker-2]")) < order.index((ev.STEP_FINISHED, "w-uncordon[worker-1]"))
    first_done = min(order.index((ev.STEP_FINISHED, f"w-uncordon[worker-{n}]")) for n in (1, 2))
    assert order.index((ev.STEP_STARTED, "w-kubeadm[worker-3]")) > first_done
    drained = journal.tail(row.id, "w-drain[worker-3]")[0]
    assert drained[-1] == "node/worker-3 drained"
    answered = [e for e in events if e.kind == ev.ANSWERED]
    assert [(e.step, e.data["value"]) for e in answered] == [("pick", "1.30.2")]


def test_kubeadm_recovers_from_a_failed_apply_and_comes_back(tmp_path):
    res, journal = rehearse(tmp_path, "kubeadm-upgrade.toml", '[rerun]\nfirst-apply = "recovered: kubeadm upgrade '
                                                              'is idempotent"\n[vars]\nversion = "1.30.2"\n',
                            practise="apply-fails")
    assert res.returncode == 0, res.stdout + res.stderr
    row, events = the_run(journal)
    assert row.outcome == "succeeded"
    route = [e for e in events if e.kind == ev.JUMP]
    assert [(e.step, e.data["target"], e.data["planned"]) for e in route] == [("first-apply", "recover", True)]
    assert started(events, "force") == [1]
    assert started(events, "first-apply") == [1, 2]  # re-run after the recovery (it is idempotent), with a reason
    assert [e.data["reason"] for e in events if e.kind == ev.RERUN] == ["recovered: kubeadm upgrade is idempotent"]
    assert "Bring cp-1 back to v1.29.6" in res.stdout


# ---- pg_upgrade: a point of no return ------------------------------------------------------------------------
def test_pg_upgrade_to_the_end(tmp_path):
    res, journal = rehearse(tmp_path, "pg-upgrade.toml", '[decide]\npoint-of-no-return = "Start the new server"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    row, events = the_run(journal)
    assert row.outcome == "succeeded" and row.title == "Upgrade PostgreSQL 15 to 16 on db-1"
    for standby in ("db-2", "db-3"):
        assert started(events, f"rsync[{standby}]") == [1] and started(events, f"start-standby[{standby}]") == [1]
    assert started(events, "delete-old") == [1] and not started(events, "start-old")


def test_pg_upgrade_reverted_before_the_new_server_started(tmp_path):
    res, journal = rehearse(tmp_path, "pg-upgrade.toml", '[decide]\npoint-of-no-return = "Revert to the old cluster"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    row, events = the_run(journal)
    assert row.outcome == "completed_on_demand"
    assert started(events, "start-old") == [1] and not started(events, "start-new")
    skipped = {e.step: e.data for e in events if e.kind == ev.SKIPPED}
    assert skipped["from-backup"]["planned"]  # the new server never started: no backup needed


def test_a_failed_pg_upgrade_goes_back_to_the_old_cluster_by_itself(tmp_path):
    res, journal = rehearse(tmp_path, "pg-upgrade.toml", "", practise="pg-upgrade-fails")
    assert res.returncode == 0, res.stdout + res.stderr
    row, events = the_run(journal)
    assert row.outcome == "completed_on_demand"
    assert [e.data["target"] for e in events if e.kind == ev.JUMP] == ["revert"]
    assert started(events, "unsuffix") == [1] and started(events, "start-old") == [1]
    assert not started(events, "rsync[db-2]") and not started(events, "start-new")


# ---- a major incident: updates that recur until it is resolved --------------------------------------------
def test_major_incident_to_the_end(tmp_path):
    res, journal = rehearse(tmp_path, "major-incident.toml", '[vars]\ndeputy = "Dana"\nscribe = "Sam"\n'
                                                             '[decide]\nseverity = "SEV-2"\n'
                                                             'recovered = "Recovered, or recovering"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    row, events = the_run(journal)
    assert row.outcome == "succeeded"
    assert "Deputy: Dana, Scribe: Sam" in res.stdout  # the roles, posted to the (recorded) Slack
    assert [e.data["number"] for e in events if e.kind == ev.OCCURRENCE and e.data["of"] == "status-update"] == [1]


def test_major_incident_escalates_comes_back_and_slows_its_updates_when_it_runs_long(tmp_path):
    clock = FakeClock()
    book = load(EXAMPLES / "major-incident.toml")
    values, missing = resolve(book, {"slack_webhook": ""}, environ={})
    assert missing == []
    run = Run.start(Journal(tmp_path / "j.sqlite3"), book, values, operator="ic", clock=clock, rehearsal=True)
    try:
        s = run.state
        run.tick("join", 0)
        run.answer("ask-deputy", "Dana")
        run.answer("ask-scribe", "Sam")
        assert s.status("announce-roles") == "skipped"  # no webhook
        run.decide("severity", "SEV-2")
        assert s.current == "initial" and s.side == []  # the updates start once the scope is posted
        for step in ("initial", "scoping", "cause", "repair"):
            run.tick(step, 0)
        assert s.side == ["status-update[1]", "exec-summary[1]"]
        run.tick("status-update[1]", 0)
        run.decide("recovered", "Escalated to SEV-1", "error rate doubled")
        assert s.vars["severity"] == "1" and s.current == "page-ic"
        run.tick("page-ic", 0)
        run.tick("notify", 0)
        run.tick("notify", 1)
        assert s.current == "recovered" and s.steps["recovered"].decision is None  # asked again
        clock.advance(20 * 60)
        run.poll()
        assert "status-update[2]" in s.side  # every 20 minutes
        run.tick("status-update[2]", 0)
        run.decide("recovered", "A long incident: update hourly")
        assert s.vars["update_every"] == "60m" and s.current == "recovered"
        clock.advance(20 * 60)
        run.poll()
        assert "status-update[3]" in s.side  # was due on the old cadence
        run.tick("status-update[3]", 0)
        assert s.steps["status-update"].next_due == clock.now() + 3600  # then hourly
        run.decide("recovered", "Recovered, or recovering")
        run.tick("resolution", 0)
        for i in range(3):
            run.tick("call-over", i)
        run.tick("postmortem", 0)
        run.tick("postmortem", 1)
        assert s.outcome == "succeeded" and s.info["release"] == "SEV-2"
    finally:
        run.close()
