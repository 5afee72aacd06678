"""Every runbook rehearsed headless to its end (or to where it must stop) in the local world."""

from __future__ import annotations

import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

from deploytui.engine.clock import FakeClock
from deploytui.engine.headless import EXIT_DEADLINE, EXIT_FAILED, EXIT_OK
from deploytui.events import kinds as ev

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
    assert r.state.outcome == "rolled_back"
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
    assert [x for x in r.recorded if "/_world/slack" not in x] == []  # nothing sent to GitHub


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
    assert r.state.outcome == "rolled_back"
    sha = r.state.vars["good_sha"]
    manifest = (__import__("pathlib").Path(r.world.vars["repo_dir"]) / "k8s/production.deployment.yaml").read_text()
    assert f"gcr.io/vetspire-app/vetspire:release-{sha}" in manifest
    assert r.started("apply") and not r.started("connect-production")


# ---------------------------------------------------------------- login.gov
LOGIN_GOV_FULL = EVERYTHING + OUT_OF_HOURS + """
[decide]
merge-conflicts = "No conflicts"
extra-servers = "No extra servers"
worried = "Looks healthy, continue"
rollback-decision = "None: keep the release"
"""


def test_login_gov_full_deploy(rehearse):
    r = rehearse("login-gov-idp.toml", LOGIN_GOV_FULL)
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "succeeded"
    assert r.state.vars["expected_rc"] == "112"
    matched = [e.data["line"] for e in r.events if e.kind == ev.PANE_MATCHED and e.step == "recycle"]
    assert matched and matched[0].startswith("All done! provision.sh finished")
    # the 15-minute gate ran (scaled) between the recycle and removing the old instances
    gate = [e for e in r.events if e.kind == ev.TIMER_STARTED and e.step == "remove-old"]
    assert gate and gate[0].data["timer"] == "gate"
    recorded = "\n".join(r.recorded)
    assert 'title="Deploy RC 112 to Prod"' in recorded
    assert '"status - promotion"' in recorded
    assert 'merge_method="merge"' in recorded
    assert 'name="RC 112"' in recorded
    # the promotion merge went into the local origin, and the tag onto it
    repo = r.world.vars["idp_repo"]
    tag = r.state.vars["release_tag"]
    tagged = subprocess.run(["git", "-C", repo, "rev-list", "-n1", tag], capture_output=True, text=True).stdout
    prod = subprocess.run(["git", "-C", repo, "rev-parse", "origin/stages/prod"], capture_output=True, text=True).stdout
    assert tagged.strip() == prod.strip()
    assert not r.started("scale-out-new")


def test_login_gov_rollback_path(rehearse):
    answers = LOGIN_GOV_FULL.replace('rollback-decision = "None: keep the release"', 'rollback-decision = "Roll back"')
    r = rehearse("login-gov-idp.toml", answers)
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "rolled_back"
    for step in ("scale-out-new", "revert-branch", "revert-commit", "revert-pr", "revert-merge",
                 "rollback-recycle", "rollback-remove-old", "retrospective"):
        assert r.status(step) == "done", step
    assert not r.started("tag-release")  # a rolled-back release is not tagged
    recorded = "\n".join(r.recorded)
    assert 'title="Revert RC 112"' in recorded
    repo = r.world.vars["idp_repo"]
    subject = subprocess.run(["git", "-C", repo, "log", "-1", "--format=%s", "origin/revert-rc-112"],
                             capture_output=True, text=True).stdout
    assert subject.startswith("Revert")


def test_login_gov_pki_deploy(rehearse):
    r = rehearse("login-gov-pki.toml", LOGIN_GOV_FULL.replace('worried = "Looks healthy, continue"\n',
                                                              'worried = "Looks healthy, continue"\n')
                 .replace('rollback-decision = "None: keep the release"',
                          'rollback-decision = "None: the deploy is complete"')
                 .replace('merge-conflicts = "No conflicts"', 'merge-conflicts = "Conflicts: true up with main"'))
    assert r.code == EXIT_OK, r.text
    assert r.status("true-up") == "done"  # merge -s ours onto the RC branch
    assert 'title="Deploy RC 112 to Prod"' in "\n".join(r.recorded)


def test_login_gov_config_recycle(rehearse):
    r = rehearse("login-gov-idp-recycle.toml", EVERYTHING)
    assert r.code == EXIT_OK, r.text
    assert r.status("config-recycle") == "done" and r.status("remove-old") == "done"
    assert r.status("passenger-restart") == "skipped"


def test_login_gov_passenger_restart_in_prod_can_be_called_off(rehearse):
    r = rehearse("login-gov-idp-recycle.toml", EVERYTHING + """
[vars]
kind = "passenger-restart"
[decide]
prod-restart-warning = "No: do not restart"
""")
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    assert not r.started("passenger-restart")


# ---------------------------------------------------------------- GOV.UK
def test_govuk_pipeline_runs_headless_without_a_person(rehearse):
    r = rehearse("govuk-cd.toml", '[vars]\napp = "frontend"\nrelease_tag = "release_42"\n')
    assert r.code == EXIT_OK, r.text
    envs = [x for x in r.recorded if "deploy.yml/dispatches" in x]
    assert ["integration" in envs[0], "staging" in envs[1], "production" in envs[2]] == [True] * 3
    assert r.world.github.slack, "Slack heard the steps"


def test_govuk_pipeline_stops_at_a_frozen_app(rehearse):
    r = rehearse("govuk-cd.toml", '[vars]\napp = "content-publisher"\nrelease_tag = "release_7"\n')
    assert r.code == EXIT_FAILED, r.text
    assert r.status("freeze-gate") == "failed"
    assert "frozen in the Release app" in r.text
    assert not r.started("deploy-integration")
    assert not any("dispatches" in x for x in r.recorded)


def test_govuk_error_spike_needs_a_person(rehearse):
    def spike(world):
        world.github.add_document("grafana/error-rate", {"error_rate": 0.09})

    r = rehearse("govuk-cd.toml", '[vars]\napp = "frontend"\nrelease_tag = "release_43"\n', prepare=spike)
    assert r.code == 3, r.text  # a person decides: hold or promote
    assert "needs a person: step 'error-spike'" in r.text
    assert not r.started("deploy-production")
