"""Every seed runbook rehearsed headless in the world (rules.py): its usual path, and its rollback or
disaster-recovery path under the fault that calls for it."""

from __future__ import annotations

import re
import subprocess

from deploytui.engine.headless import EXIT_DEADLINE, EXIT_FAILED, EXIT_NEEDS_PERSON, EXIT_OK
from deploytui.errors import UserError
from deploytui.events import kinds as ev
from deploytui.sandbox import rules

from .conftest import Person, until, waits

EVERYTHING = 'run = ["*"]\ntick = ["*"]\n'
OUT_OF_HOURS = '[override]\nschedule = "rehearsal"\n'


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout.strip()


def mergeable(world, repo: str, number_var: str):
    """What the reviewer of the pull request sees on GitHub: approved and CI green."""
    def ready(r):
        gh = world().github
        repo_ = gh.repo(repo)
        pr = next(p for p in repo_.pulls if str(p["number"]) == str(r.state.vars[number_var]))
        return gh._merge_refusal(repo_, pr) is None
    return ready


# ---------------------------------------------------------------- example
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
    assert not r.started("announce")


# ---------------------------------------------------------------- login.gov
LOGIN_GOV = EVERYTHING + OUT_OF_HOURS + """
[decide]
merge-conflicts = "No conflicts"
extra-servers = "No extra servers"
worried = "Looks healthy, continue"
rollback-decision = "None: keep the release"
"""


def approved_then_tick(step: str, number_var: str, repo: str = "18F/identity-idp"):
    def act(r, code):
        return waits(r, code, step, lambda: mergeable(lambda: r.world, repo, number_var)(r),
                     f"{step}: the pull request approved and CI green")
    return act


def test_login_gov_full_deploy(rehearse):
    person = Person({"pr-approved": approved_then_tick("pr-approved", "pr_number")})
    r = rehearse("login-gov-idp.toml", LOGIN_GOV, person=person, hold=("pr-approved",))
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "succeeded"
    assert r.state.vars["expected_rc"] == "112"
    matched = [e.data["line"] for e in r.events if e.kind == ev.PANE_MATCHED and e.step == "recycle"]
    assert matched and matched[0].startswith("All done! provision.sh finished")
    # the migration instance booted and provisioned in (scaled) time before the recycle went on
    migration = [m for m in r.world.aws.machines.values() if m.role == "migration"]
    assert migration and migration[0].shipped == len(migration[0].log())  # booted, provisioned, its log written
    gate = [e for e in r.events if e.kind == ev.TIMER_STARTED and e.step == "remove-old"]
    assert gate and gate[0].data["timer"] == "gate"
    recorded = "\n".join(r.recorded)
    assert 'title="Deploy RC 112 to Prod"' in recorded and '"status - promotion"' in recorded
    assert 'merge_method="merge"' in recorded and 'name="RC 112"' in recorded
    repo = r.world.vars["idp_repo"]
    tag = r.state.vars["release_tag"]
    assert git(repo, "rev-list", "-n1", tag) == git(repo, "rev-parse", "origin/stages/prod")
    assert not r.started("scale-out-new")


def test_login_gov_merge_before_review_is_refused_as_github_refuses_it(rehearse):
    # a person who ticks "approved" without looking: GitHub's branch protection says no
    r = rehearse("login-gov-idp.toml", LOGIN_GOV)
    assert r.code == EXIT_FAILED, r.text
    assert r.status("merge-pr") == "failed"
    assert "At least 1 approving review is required" in r.state.steps["merge-pr"].error


def _rollback_person(repo: str) -> Person:
    def recycle(r, code):  # watches the pool-health pane before ticking: the new hosts go unhealthy
        return waits(r, code, "recycle", lambda: re.search(r"\bunhealthy\b", r.output("recycle")),
                     "the pool shows unhealthy instances")

    def worried(r, code):
        if code != EXIT_NEEDS_PERSON or r.state.current != "worried":
            return False
        r.run.decide("worried", "Roll back", "new instances fail their health checks")
        return True

    def scale_out_new(r, code):  # scale-remove-new-instances refuses while the recycle runs: wait, again
        if code != EXIT_FAILED or "recycle still in progress" not in (r.state.steps["scale-out-new"].error or ""):
            return False
        aws = r.world.aws
        until(lambda: not any(a for g in ("prod-idp", "prod-pivcac", "prod-worker")
                              for a in aws.client("autoscaling").describe_scheduled_actions(
                                  AutoScalingGroupName=g)["ScheduledUpdateGroupActions"]), 60, "the recycle's end")
        r.run.rerun("scale-out-new", "the recycle has finished", confirm="prod")
        return True

    return Person({"recycle": recycle, "worried": worried, "scale-out-new": scale_out_new,
                   "pr-approved": approved_then_tick("pr-approved", "pr_number", repo),
                   "revert-approved": approved_then_tick("revert-approved", "revert_pr", repo)})


ROLLBACK = LOGIN_GOV.replace('worried = "Looks healthy, continue"\n', "")  # the person decides, looking


def test_login_gov_health_checks_fail_and_the_release_is_rolled_back(rehearse):
    r = rehearse("login-gov-idp.toml", ROLLBACK, faults={"unhealthy-instances"}, person=_rollback_person("18F/identity-idp"),
                 hold=("pr-approved", "revert-approved", "recycle"))
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "rolled_back"
    for step in ("scale-out-new", "revert-branch", "revert-commit", "revert-pr", "revert-merge",
                 "rollback-recycle", "rollback-remove-old", "retrospective"):
        assert r.status(step) == "done", step
    # the fault showed where the real one would: the pool health pane, never a banner
    pane = r.output("recycle", "pane1")
    assert "unhealthy" in pane and "unhealthy-instances" not in r.output("recycle")
    assert not r.started("tag-release") and not r.started("remove-old")
    # the reverted release's instances are healthy: the world ends with only them, all healthy
    aws = r.world.aws

    def live():
        return [m for m in aws.machines.values() if not m.gone and m.role == "idp"]

    until(lambda: all(m.sha == aws.sha for m in live()), 10, "the group to terminate the unprotected old instances")
    assert len(live()) == 4 and not any(m.fails for m in live())
    subject = git(r.world.vars["idp_repo"], "log", "-1", "--format=%s", "origin/revert-rc-112")
    assert subject.startswith("Revert")
    assert r.run.journal.events(r.run.run_id)[0].data["faults"] == ["unhealthy-instances"]


def test_login_gov_pki_health_checks_fail_and_the_release_is_rolled_back(rehearse):
    answers = ROLLBACK.replace('rollback-decision = "None: keep the release"',
                               'rollback-decision = "None: the deploy is complete"')
    r = rehearse("login-gov-pki.toml", answers, faults={"unhealthy-instances"},  # merge requests on GitLab
                 person=_rollback_person("gitlab:lg/identity-pki"), hold=("pr-approved", "revert-approved", "recycle"))
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "rolled_back"
    assert all(r.status(s) == "done" for s in ("scale-out-new", "revert-merge", "rollback-recycle"))
    live = [m for m in r.world.aws.machines.values() if not m.gone and m.role == "pivcac"]
    assert live and not any(m.fails for m in live)


def test_login_gov_config_recycle_refuses_to_remove_old_instances_while_new_ones_fail(rehearse):
    r = rehearse("login-gov-idp-recycle.toml", EVERYTHING, faults={"unhealthy-instances"})
    assert r.code == EXIT_FAILED, r.text
    assert r.status("remove-old") == "failed"
    assert "is not Healthy and InService" in r.state.steps["remove-old"].error
    assert sum(e.kind == ev.RETRIED and e.step == "remove-old" for e in r.events) == 5


def test_login_gov_config_recycle(rehearse):
    r = rehearse("login-gov-idp-recycle.toml", EVERYTHING)
    assert r.code == EXIT_OK, r.text
    assert r.status("config-recycle") == "done" and r.status("remove-old") == "done"
    assert r.status("passenger-restart") == "skipped"


PASSENGER_RESTART = '[vars]\nkind = "passenger-restart"\n[decide]\nprod-restart-warning = "Emergency: restart anyway"\n'


def test_login_gov_passenger_restart_sends_the_accounts_document(rehearse):
    r = rehearse("login-gov-idp-recycle.toml", EVERYTHING + PASSENGER_RESTART)
    assert r.code == EXIT_OK, r.text
    assert "prod-ssm-cmd-passenger-restart: Success on 4 instance(s)" in r.output("passenger-restart")


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


def test_login_gov_migration_fails_and_the_migration_pane_says_so(rehearse):
    seen = []

    def recycle(r, code):  # the person reads the migration log: db:migrate aborts, provision.sh never finishes
        if code != EXIT_NEEDS_PERSON or r.state.current != "recycle" or seen:
            return False
        until(lambda: "PG::DuplicateTable" in r.output("recycle", "pane0"), 60, "the migration's error")
        seen.append(r.output("recycle", "pane0"))
        return False  # a person decides what next; the rehearsal shows what they would see

    person = Person({"pr-approved": approved_then_tick("pr-approved", "pr_number"), "recycle": recycle})
    r = rehearse("login-gov-idp.toml", LOGIN_GOV, faults={"migration-fails"}, person=person,
                 hold=("pr-approved", "recycle"), time_scale=60)
    assert seen, r.text
    assert "rake aborted!" in seen[0] and "All done!" not in seen[0]
    assert not r.state.steps["recycle"].panes_done  # the pane still waits for "All done!"
    assert "migration-fails" not in r.text  # no banner: the log says it


def test_login_gov_session_expires_and_resuming_brings_a_new_one(rehearse):
    resumed = []

    def recycle(r, code):  # the panes say the session expired mid-recycle: quit, run aws-vault again, resume
        if code != EXIT_NEEDS_PERSON or r.state.current != "recycle":
            return False
        if not resumed:
            until(lambda: "AWS session expired" in r.output("recycle", "pane0"), 60, "the expired session")
            rehearse.resume(r)  # `deploytui rehearse --resume RUN` in a new aws-vault session
            resumed.append(r.run.run_id)
        until(lambda: "All done! provision.sh finished" in r.output("recycle", "pane0"), 60, "the migration log")
        r.run.tick("recycle", 0)
        return True

    person = Person({"pr-approved": approved_then_tick("pr-approved", "pr_number"), "recycle": recycle})
    # the session runs out five (world) minutes after the recycle began, before the migration's log is done
    r = rehearse("login-gov-idp.toml", LOGIN_GOV + '[skip]\nsoak = "rehearsing the expired session"\n',
                 faults={"aws-session-expires"}, person=person, hold=("pr-approved", "recycle"), time_scale=60)
    assert resumed, r.text
    assert r.code == EXIT_OK, r.text
    assert r.run.run_id == resumed[0]  # the same run, in its world brought back
    assert r.status("remove-old") == "done" and r.state.outcome == "succeeded"


def test_login_gov_error_spike_shows_in_monitor_deploy(rehearse):
    person = Person({"pr-approved": approved_then_tick("pr-approved", "pr_number")})
    answers = LOGIN_GOV.replace('worried = "Looks healthy, continue"', 'worried = "Roll back"') + \
        '[vars]\nmonitor_deploy = "yes"\n'
    r = rehearse("login-gov-idp.toml", answers, faults={"error-spike"}, person=person, hold=("pr-approved",),
                 max_seconds=20)
    shown = "\n".join(r.handed)  # monitor-deploy is interactive: it prints on the terminal
    assert re.search(r"new \w+\s+4\.81", shown), shown
    assert r.state.steps["worried"].decision is not None


# ---------------------------------------------------------------- get.gov
def test_getgov_weekly_release_tags_last_weeks_staging_commit_for_stable(rehearse):
    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + '[decide]\nhealthy = "Healthy"\n')
    assert r.code == EXIT_OK, r.text
    repo = r.world.vars["repo_dir"]
    assert r.state.vars["stable_sha"] == git(repo, "rev-list", "-n1", "staging-3")
    assert r.state.vars["stable_tag"] == "v1.2.0" and r.state.vars["staging_tag"] == "staging-4"
    runs = {x["_workflow"]: x["_conclusion"] for x in r.world.github.repo("cisagov/manage.get.gov").runs}
    assert runs == {"deploy-stable.yaml": "success", "deploy-staging.yaml": "success"}


def _migration_person() -> Person:
    def migrate(r, code):  # Migrate data failed: a migration fails against existing data
        if code != EXIT_FAILED or r.state.current != "migrate-data":
            return False
        assert "ended failure" in r.state.steps["migrate-data"].error
        r.run.skip("migrate-data", "Migrate data failed: the migration fails against existing data")
        return True

    return Person({"migrate-data": migrate})


GETGOV_MIGRATION = EVERYTHING + OUT_OF_HOURS + """
[decide]
healthy = "500 errors: run Migrate data"
migrate-fixed = "A migration fails against existing data: reset the database"
"""


def test_getgov_migration_fails_and_staging_is_reset(rehearse):
    r = rehearse("getgov.toml", GETGOV_MIGRATION + '[vars]\nmigrate_env = "staging"\n', faults={"migration-fails"},
                 person=_migration_person())
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    # the fault shows where the real one would: the deploy's run in GitHub Actions fails at its migrate job
    assert "job migrate: failure" in r.output("deploys-done[staging]")
    assert "ended failure: https://github.com/cisagov/manage.get.gov/actions/runs/" in r.text
    runs = r.world.github.repo("cisagov/manage.get.gov").runs
    by = {x["_workflow"]: x for x in runs}
    assert by["deploy-stable.yaml"]["_conclusion"] == "failure"  # the deploy's migrate job failed
    assert ["deploy", "success"] in by["deploy-stable.yaml"]["_jobs"] and \
        ["migrate", "failure"] in by["deploy-stable.yaml"]["_jobs"]
    assert by["migrate.yaml"]["_conclusion"] == "failure"
    assert by["reset-db.yaml"]["_inputs"] == {"environment": "staging"} and by["reset-db.yaml"]["_conclusion"] == "success"
    assert r.status("reload-fixtures") == "done"


def test_getgov_migration_fails_on_stable_and_the_reset_is_refused(rehearse):
    r = rehearse("getgov.toml", GETGOV_MIGRATION, faults={"migration-fails"}, person=_migration_person())
    assert r.code == EXIT_FAILED, r.text
    assert r.status("reset-guard") == "failed"
    assert "never run on stable" in r.text
    assert not r.started("reset-db")
    assert not any("reset-db.yaml" in x for x in r.recorded)


def test_getgov_stable_hotfix(rehearse):
    def fix_reviewed(r, code):  # the engineer pushes the fix, opens the pull request, waits for its review
        if code != EXIT_NEEDS_PERSON or r.state.current != "fix-reviewed":
            return False
        repo = r.world.vars["repo_dir"]
        (__import__("pathlib").Path(repo) / "src/registrar/fix.py").write_text("# the fix\n")
        for args in (("add", "-A"), ("commit", "-qm", "Fix the critical bug"), ("push", "-q", "origin", "HEAD")):
            subprocess.run(["git", "-C", repo, *args], env=r.world.env, check=True, capture_output=True)
        from github import Auth, Github

        gh = Github(base_url=r.world.github.url, auth=Auth.Token("x")).get_repo("cisagov/manage.get.gov")
        gh.create_pull(base="main", head="hotfix/critical", title="Fix the critical bug on stable", body="")
        return waits(r, code, "fix-reviewed", lambda: mergeable(lambda: r.world, "cisagov/manage.get.gov",
                                                                "hotfix_pr")(r), "review and CI")

    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + """
[vars]
release_kind = "hotfix"
hotfix_branch = "hotfix/critical"
hotfix_pr = "1"
[decide]
is-critical = "Critical: fix it on stable now"
healthy = "Healthy"
""", person=Person({"fix-reviewed": fix_reviewed}), hold=("fix-reviewed",))
    assert r.code == EXIT_OK, r.text
    order = [e.step for e in r.events if e.kind == ev.STEP_STARTED]
    assert order.index("is-critical") < order.index("hotfix-branch") < order.index("tag-hotfix-stable")
    assert r.state.vars["stable_base"] == "v1.1.0" and r.state.vars["hotfix_tag"] == "v1.1.1"
    assert r.state.vars["staging_state"] == "ahead"
    written = "\n".join(r.recorded)
    assert written.index("refs/tags/staging-4") < written.index("/pulls/1/merge")


def test_getgov_not_critical_stops_before_touching_stable(rehearse):
    r = rehearse("getgov.toml", EVERYTHING + OUT_OF_HOURS + """
[vars]
release_kind = "hotfix"
[decide]
is-critical = "Not critical"
""")
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    assert [x for x in r.recorded if "/_world/slack" not in x] == []


# ---------------------------------------------------------------- GOV.UK
GOVUK = '[vars]\napp = "frontend"\nrelease_tag = "v42"\n'


def test_govuk_pipeline_runs_headless_without_a_person(rehearse):
    r = rehearse("govuk-cd.toml", GOVUK)
    assert r.code == EXIT_OK, r.text
    assert "CI is green for v42" in r.output("ci-green")  # GitHub Actions' check runs, after they ran
    # the freeze read where GOV.UK's workflow reads it, with the token, for each environment
    reads = [x for x in r.world.github.requests if "govuk-helm-charts/contents/charts/app-config/image-tags" in x.path]
    assert [x.path.rsplit("image-tags/", 1)[1] for x in reads] == [
        "integration/frontend", "staging/frontend", "production/frontend"]
    assert all(x.token and x.status == 200 for x in reads)
    assert "automatic_deploys_enabled: true (expected true)" in r.output("freeze-integration")
    envs = [x for x in r.recorded if "deploy.yml/dispatches" in x]
    assert ["integration" in envs[0], "staging" in envs[1], "production" in envs[2]] == [True] * 3
    assert r.world.github.slack, "Slack heard the steps"


def test_govuk_ci_goes_red_and_the_gate_stays_shut(rehearse):
    r = rehearse("govuk-cd.toml", GOVUK, faults={"ci-red"})
    assert r.code == EXIT_FAILED, r.text
    assert "CI is red for v42" in r.state.steps["ci-green"].error
    assert not any("dispatches" in x for x in r.recorded)


def test_govuk_error_spike_in_staging_holds_the_pipeline(rehearse):
    r = rehearse("govuk-cd.toml", EVERYTHING + GOVUK + """
[decide]
error-spike = "Hold the pipeline"
""", faults={"error-spike"}, max_seconds=180)
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "completed_on_demand"
    # compared with the rate before the deploy, both from Prometheus' query API
    assert float(r.state.vars["error_rate"]) > 3 * float(r.state.vars["baseline_error_rate"])
    assert "0.002 before it" in r.output("error-rate-verdict")
    assert r.status("team-notified") == "done" and r.status("unblock") == "done"
    assert not r.started("deploy-production")
    envs = [x for x in r.recorded if "deploy.yml/dispatches" in x]
    assert len(envs) == 2 and "staging" in envs[1]


def test_govuk_pipeline_stops_at_a_frozen_app(rehearse):
    r = rehearse("govuk-cd.toml", '[vars]\napp = "content-publisher"\nrelease_tag = "v7"\n')
    assert r.code == EXIT_FAILED, r.text
    assert r.status("freeze-integration") == "failed"
    assert "automatic_deploys_enabled is false, not true" in r.state.steps["freeze-integration"].error
    assert not any("dispatches" in x for x in r.recorded)


# ---------------------------------------------------------------- Vetspire
TUESDAY_0905 = "2026-11-24T09:05+00:00"  # inside the 09:00-12:30 Europe/London window
VETSPIRE = EVERYTHING + OUT_OF_HOURS + '[decide]\ngo-no-go = "Go: push production"\n'


def test_vetspire_deploys_inside_the_window(rehearse):
    r = rehearse("vetspire.toml", VETSPIRE + 'healthy = "Healthy: the deployment is done"\n', start_at=TUESDAY_0905)
    assert r.code == EXIT_OK, r.text
    repo = r.world.vars["repo_dir"]
    assert "Invoice totals column" in git(repo, "log", "--format=%s", "origin/production")
    assert "CREATE INDEX CONCURRENTLY" in r.state.vars["migrations"]
    assert "Created [https://sqladmin.googleapis.com" in r.output("db-clone")  # the world's gcloud cloned it
    assert f"vetspire-production-clone-{r.state.vars['date']}" in r.world.gcp.instances
    assert len([n for n in r.world.gcp.instances if "-clone-" in n]) == 4  # pruned to this one and three before


PODS_DOWN = VETSPIRE + 'deployment-failed = "Pods missing or down: roll back"\n'


def test_vetspire_pods_down_rolls_back_to_the_last_good_image(rehearse):
    r = rehearse("vetspire.toml", PODS_DOWN, faults={"pods-down"}, start_at=TUESDAY_0905)
    # the fault shows where the real one would: the deployment's run fails in GitHub Actions, then the pods crash
    assert r.status("deployment-actions") == "failed"
    assert "job deploy: failure" in r.output("deployment-actions")
    assert re.search(r"run \d+ ended failure: https://github.com/", r.state.steps["deployment-actions"].error)
    assert "CrashLoopBackOff" in r.output("production-pods") or "ContainerCreating" in r.output("production-pods")
    assert not r.started("healthy")  # asked at once, not after the Sentry checks
    assert r.code == EXIT_OK, r.text
    assert r.state.outcome == "rolled_back"
    repo = r.world.vars["repo_dir"]
    good = git(repo, "rev-parse", "origin/production~2")  # the last production deploy before this one
    assert r.state.vars["good_sha"] == good  # from `gh run list`: the last successful deployment
    assert "CrashLoopBackOff" not in r.output("watch-pods") and "Running" in r.output("watch-pods")
    assert r.world.gcp.rollouts[-1].image == f"{rules.VETSPIRE_IMAGE}-{good}"
    runs = [x for x in r.world.github.repo(rules.VETSPIRE_REPO).runs if x["head_branch"] == "production"]
    assert runs[-1]["_conclusion"] == "failure"


def test_vetspire_slow_clone_overruns_the_window_and_the_deploy_is_deferred(rehearse):
    def deadline(r, code):
        if code != EXIT_DEADLINE:
            return False
        r.run.override("deadline", "the clone ate the window: defer the deployment")
        # the clone's next step is automatic, so the person tries until the run is between commands
        until(lambda: jumped(r, "defer", "at risk of not completing before 12:30"), 60, "the clone")
        return True

    def jumped(r, target, reason):
        try:
            r.run.jump(target, reason)
        except UserError as e:
            if "still running" not in str(e):
                raise
            return False
        return True

    r = rehearse("vetspire.toml", VETSPIRE, faults={"slow-clone"}, start_at="2026-11-24T12:10+00:00",
                 person=Person({"deadline": deadline}))
    assert r.code == EXIT_OK, r.text
    assert r.state.deadline_passed and r.state.outcome == "completed_on_demand"
    assert r.started("reschedule") and not r.started("push-production")
    assert r.status("undo-local-merge") == "skipped"  # deferred before the merge: nothing to undo
    passed = next(e for e in r.events if e.kind == ev.DEADLINE_PASSED)
    cloned = next(e for e in r.events if e.kind == ev.STEP_FINISHED and e.step == "db-clone")
    assert passed.seq < cloned.seq  # the window closed while the clone was still running

