"""RFC-070's Done-when, through the faithful rehearsal world: the GOV.UK runbook, run headless as the shipped
workflow runs it, for three apps at once, each its own sealed rehearsal (its own world, its own journal) and
one fleet store beside their journals: one app blocked, one not trusted to deploy by itself, one whose
release makes the staging error rate spike. Each ends as the RFC says."""

import json
import os
import subprocess
import sys
from pathlib import Path

from core.helpers import deploytui

from deploytui.engine.headless import EXIT_BLOCKED, EXIT_NEEDS_PERSON
from deploytui.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
GOVUK = ROOT / "runbooks/govuk-cd.toml"


def test_three_govuk_apps_at_once_through_the_rehearsal_world(tmp_path):
    env = {**os.environ, "DEPLOYTUI_TEAM_STORE": ""}  # the fleet store beside the journals (a rehearsal's own)
    assert deploytui("block", "frontend", "--reason", "content-store migration first", "--operator", "alice",
                     "--journal", tmp_path / "frontend.sqlite3", env=env).returncode == 0
    apps = {"frontend": [], "whitehall": [], "collections": ["--fault", "error-spike"]}
    procs = {app: subprocess.Popen(
        [sys.executable, "-m", "deploytui", "rehearse", str(GOVUK), "--headless", "--time-scale", "600",
         "--var", f"app={app}", "--var", "release_tag=v42", "--journal", str(tmp_path / f"{app}.sqlite3"), *extra],
        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for app, extra in apps.items()}
    done = {app: (p.wait(timeout=240), *p.communicate()) for app, p in procs.items()}

    def dispatched(out: str, app: str, environment: str) -> bool:
        return any(f"/repos/alphagov/{app}/actions/workflows/deploy.yml/dispatches" in line
                   and f'"environment": "{environment}"' in line for line in out.splitlines())

    # blocked: refused in one line, before a run or a world's request exists
    code, out, err = done["frontend"]
    assert code == EXIT_BLOCKED, out + err
    assert err.strip().startswith("deploytui: frontend's pipeline is blocked by alice since ")
    assert Journal(tmp_path / "frontend.sqlite3", readonly=True).runs() == []
    # not trusted: integration and staging by itself, then it stops before production for a person
    code, out, err = done["whitehall"]
    assert code == EXIT_NEEDS_PERSON, out + err
    assert "whitehall is not trusted to deploy by itself" in out
    assert dispatched(out, "whitehall", "staging") and not dispatched(out, "whitehall", "production")
    # the spike: the rate after the staging deploy against the one before it; the team told at once; a person
    code, out, err = done["collections"]
    assert code == EXIT_NEEDS_PERSON, out + err
    assert "needs a person: step 'error-spike' asks: Promote this release to production?" in out
    assert dispatched(out, "collections", "staging") and not dispatched(out, "collections", "production")
    [run] = Journal(tmp_path / "collections.sqlite3", readonly=True).runs()
    assert run.rehearsal and "error-spike" in json.dumps(Journal(tmp_path / "collections.sqlite3",
                                                                 readonly=True).events(run.id)[0].data)
    alert = [line for line in out.splitlines() if "/_world/slack" in line and "rotating_light" in line]
    assert alert, out
    # the board: every app, where it stopped, and the block
    board = deploytui("board", "--json", "--journal", tmp_path / "frontend.sqlite3", env=env)
    rows = {r["app"]: r for r in json.loads(board.stdout)}
    assert rows["frontend"]["block"]["by"] == "alice"
    assert rows["whitehall"]["stage"] == "production" and rows["whitehall"]["outcome"] == "running"
    assert rows["collections"]["stage"] == "staging" and rows["collections"]["release"] == "v42"
