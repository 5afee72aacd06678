"""The shipped runbooks repeat where their seeds do: login.gov recycles each role whose configuration changed,
Vetspire deletes each old database clone, get.gov follows the deploy to each environment. Rehearsed with the
real command (`deploytui rehearse --headless`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from deploytui.events import kinds as ev
from deploytui.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = 'run = ["*"]\ntick = ["*"]\n[override]\nschedule = "rehearsal"\ndeadline = "rehearsal"\n'


def rehearse(tmp_path, name: str, answers: str):
    a = tmp_path / "answers.toml"
    a.write_text(EVERYTHING + answers)
    j = tmp_path / "journal.sqlite3"
    res = subprocess.run([sys.executable, "-m", "deploytui", "rehearse", str(ROOT / "runbooks" / name), "--headless",
                          "--time-scale", "600", "--answers", str(a), "--journal", str(j), "--no-output"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    journal = Journal(j, readonly=True)
    row = journal.runs(1)[0]
    return res, row, journal.events(row.id)


def done(events) -> set[str]:
    return {e.step for e in events if e.kind == ev.STEP_FINISHED and e.data["status"] == "done"}


def test_login_gov_recycles_each_role_one_at_a_time(tmp_path):
    res, row, events = rehearse(tmp_path, "login-gov-idp-recycle.toml", '[vars]\nroles = "idp pivcac"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    assert {"config-recycle[idp]", "config-recycle-role[pivcac]", "remove-old"} <= done(events)
    skipped = {e.step for e in events if e.kind == ev.SKIPPED}
    assert {"config-recycle[pivcac]", "config-recycle-role[idp]"} <= skipped  # the IdP's own recycle is its own
    order = [e.step for e in events if e.kind == ev.STEP_STARTED]
    assert order.index("config-recycle-role[pivcac]") > order.index("config-recycle[idp]")


def test_vetspire_deletes_each_old_clone_with_its_own_confirmation(tmp_path):
    res, row, events = rehearse(tmp_path, "vetspire.toml", '[decide]\ngo-no-go = "Go: push production"\n'
                                                          'healthy = "Healthy: the deployment is done"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    # the world's gcloud lists the old clones of earlier deploys (today's, just made, is kept)
    [items] = [e.data for e in events if e.kind == ev.ITEMS and e.data["of"] == "prune-clone"]
    old = items["values"]
    assert len(old) >= 2 and all(re.fullmatch(r"vetspire-production-clone-\d{4}-\d{2}-\d{2}", c) for c in old), old
    assert items["var"] == "clone" and items["labels"] == old
    assert {f"prune-clone[{c}]" for c in old} <= done(events)  # each deleted after its own confirmation


def test_getgov_follows_the_deploy_to_each_environment(tmp_path):
    res, row, events = rehearse(tmp_path, "getgov.toml", '[decide]\nhealthy = "Healthy"\n')
    assert res.returncode == 0, res.stdout + res.stderr
    # each item follows its own tag's deploy run in GitHub Actions to success
    finished = [e.step for e in events if e.kind == ev.STEP_FINISHED and e.step.startswith("deploys")]
    assert finished == ["deploys-done[staging]", "deploys-done[stable]"]
    assert {"deploys-done[staging]", "deploys-done[stable]"} <= done(events)
