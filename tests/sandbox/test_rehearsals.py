"""Every runbook rehearsed headless to its end (or to where it must stop) in the local world."""

from __future__ import annotations

import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

from deploytui.engine import events as ev
from deploytui.engine.clock import FakeClock
from deploytui.engine.headless import EXIT_DEADLINE, EXIT_FAILED, EXIT_OK

EVERYTHING = 'run = ["*"]\ntick = ["*"]\n'
OUT_OF_HOURS = '[override]\nschedule = "rehearsal"\n'


def test_example_keeps_the_release(rehearse):
    r = rehearse("example.toml", EVERYTHING + '[decide]\nkeep-or-roll-back = "Healthy, keep it"\n')
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "succeeded"
    assert "released 1.0.0 to staging" in r.text
    assert not r.started("restore")


def test_example_rolls_back_through_the_on_demand_section(rehearse):
    r = rehearse("example.toml", EVERYTHING + '[decide]\nkeep-or-roll-back = "Roll back"\n')
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    assert r.started("restore") and r.started("retro")
    assert not r.started("announce")  # the run ends with the rollback section
    workdir = r.world.vars["workdir"]
    assert not (workdir and __import__("os").path.exists(f"{workdir}/current"))


def test_getgov_stable_hotfix(rehearse):
    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + """
[vars]
release_kind = "hotfix"
[decide]
is-critical = "Critical: fix it on stable now"
healthy = "Healthy"
""")
    assert r.code == EXIT_OK, r.text
    # triage came before the out-of-cycle release
    order = [e.step for e in r.events if e.kind == ev.STEP_STARTED]
    assert order.index("is-critical") < order.index("hotfix-branch") < order.index("tag-hotfix-stable")
    assert r.state.vars["stable_base"] == "v1.1.0"  # branched off the latest stable tag, not main
    assert r.state.vars["hotfix_tag"] == "v1.1.1"  # patch bumped
    assert r.state.vars["staging_state"] == "ahead"  # staging-3 is ahead of stable
    assert r.started("staging-merge")
    written = "\n".join(r.recorded)
    assert 'refs/tags/v1.1.1' in written and 'refs/tags/staging-4' in written
    assert "/pulls/1/merge" in written  # merged to main only after both tags
    assert written.index("refs/tags/staging-4") < written.index("/pulls/1/merge")
    assert not r.started("find-tags") and not r.started("cf-login")


def test_getgov_not_critical_stops_before_touching_stable(rehearse):
    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + """
[vars]
release_kind = "hotfix"
[decide]
is-critical = "Not critical"
""")
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    assert not r.started("hotfix-branch")
    assert r.recorded == []


def test_getgov_weekly_release_tags_last_weeks_staging_commit_for_stable(rehearse):
    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + '[decide]\nhealthy = "Healthy"\n')
    assert r.code == EXIT_OK, r.text
    repo = r.world.vars["repo_dir"]
    staging3 = subprocess.run(["git", "-C", repo, "rev-list", "-n1", "staging-3"], capture_output=True,
                              text=True).stdout.strip()
    assert r.state.vars["stable_sha"] == staging3
    assert r.state.vars["stable_tag"] == "v1.2.0" and r.state.vars["staging_tag"] == "staging-4"


def test_getgov_reset_database_is_refused_for_stable(rehearse):
    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + """
[vars]
migrate_env = "stable"
[decide]
healthy = "500 errors: run Migrate data"
migrate-fixed = "A migration fails against existing data: reset the database"
""")
    assert r.code == EXIT_FAILED, r.text
    assert r.status("reset-guard") == "failed"
    assert "never run on stable" in r.text
    assert not r.started("reset-db")
    assert any("migrate.yaml/dispatches" in x for x in r.recorded)
    assert not any("reset-db.yaml" in x for x in r.recorded)


def _london(hh: int, mm: int) -> float:
    return datetime(2026, 11, 24, hh, mm, tzinfo=ZoneInfo("Europe/London")).timestamp()  # a Tuesday


def test_vetspire_deploys_inside_the_window(rehearse):
    r = rehearse("vetspire.toml", EVERYTHING + """
[decide]
go-no-go = "Go: push production"
healthy = "Healthy: the deployment is done"
""", clock=FakeClock(_london(9, 5)))
    assert r.code == EXIT_OK, r.text
    repo = r.world.vars["repo_dir"]
    log = subprocess.run(["git", "-C", repo, "log", "--format=%s", "origin/production"], capture_output=True,
                         text=True).stdout
    assert "Invoice totals column" in log  # staging went to production
    assert "CREATE INDEX CONCURRENTLY" in r.state.vars["migrations"]


def test_vetspire_stops_when_the_window_deadline_passes(rehearse):
    clock = FakeClock(_london(12, 0))

    def late(e):  # the migration dry run drags on past 12:30
        if e.kind == ev.STEP_FINISHED and e.step == "dry-run":
            clock.advance(45 * 60)

    r = rehearse("vetspire.toml", EVERYTHING + '[decide]\ngo-no-go = "Go: push production"\n',
                 clock=clock, on_event=late)
    assert r.code == EXIT_DEADLINE, r.text
    assert r.state.deadline_passed
    assert not r.started("push-production")  # production was never pushed
    assert r.state.outcome is None


def test_vetspire_pods_down_rolls_back_to_the_last_good_image(rehearse):
    r = rehearse("vetspire.toml", EVERYTHING + """
[decide]
go-no-go = "Go: push production"
healthy = "Pods missing or down: roll back"
""", clock=FakeClock(_london(9, 5)))
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    sha = r.state.vars["good_sha"]
    manifest = (__import__("pathlib").Path(r.world.vars["repo_dir"]) / "k8s/production.deployment.yaml").read_text()
    assert f"gcr.io/vetspire-app/vetspire:release-{sha}" in manifest
    assert r.started("apply") and not r.started("connect-production")
