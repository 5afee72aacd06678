"""The shipped runbooks: they lint clean, name their seeds, and carry the seeds' procedures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.integrations.registry import registry
from deploytui.runbook import templates
from deploytui.runbook.lint import check_file
from deploytui.runbook.loader import load
from deploytui.sandbox.aws_world import cloud_init_log

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((ROOT / "runbooks").glob("*.toml"))
SEEDS = {
    "login-gov-idp": "000_96494e3a0874b910.txt",
    "login-gov-idp-recycle": "000_96494e3a0874b910.txt",
    "login-gov-pki": "001_40551cfe52969130.txt",
    "getgov": "002_d20c8da61a10c869.txt",
    "govuk-cd": "003_b1b64179d8a3c279.txt",
    "vetspire": "004_40e80441187b8e46.txt",
}


def book(name: str):
    return load(ROOT / "runbooks" / name)


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.name)
def test_lints_clean(path):
    loaded, problems = check_file(str(path), registry())
    assert loaded is not None and problems == []


def test_deploytui_check_is_clean_on_every_runbook():
    res = subprocess.run([sys.executable, "-m", "deploytui", "check", *map(str, RUNBOOKS)], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(": ok:") == len(RUNBOOKS)


@pytest.mark.parametrize("rid,seed", SEEDS.items())
def test_each_runbook_names_its_seed(rid, seed):
    assert book(f"{rid}.toml").runbook.source == seed


def test_every_on_demand_section_has_steps_and_a_way_in():
    for path in RUNBOOKS:
        b = load(path)
        gotos = {o.goto for s in b.steps if s.decide for o in s.decide.options}
        for sec in b.sections:
            if sec.on_demand:
                assert b.steps_of_section(sec.id), (path.name, sec.id)
                assert sec.id in gotos, (path.name, sec.id)


def test_login_gov_cadence_and_deploy_types():
    b = book("login-gov-idp.toml")
    assert b.schedule.days == ["Tue", "Thu"] and b.schedule.avoid == ["Fri"] and b.schedule.holidays == "US"
    assert b.vars["deploy_type"].choices == ["full", "patch", "off-cycle"]
    # the deploy type changes the steps
    variables = {"deploy_type": "patch", "env": "prod", "monitor_deploy": "no"}
    assert templates.evaluate(b.step("patch-branch").when, variables)
    assert not templates.evaluate(b.step("cut-branch").when, variables)
    assert templates.evaluate(b.step("announce-plan").when, {**variables, "deploy_type": "off-cycle"})


def test_login_gov_promotion_pull_request():
    step = book("login-gov-idp.toml").step("promotion-pr")
    params = templates.render_value(step.with_, {"github_repo": "18F/identity-idp", "date": "2026-11-24",
                                                 "rc": "112", "changelog": "notes"})
    assert params["title"] == "Deploy RC 112 to Prod"
    assert params["labels"] == "status - promotion"
    assert params["base"] == "stages/prod" and params["head"] == "stages/rc-2026-11-24"
    assert book("login-gov-idp.toml").step("true-up").with_["strategy"] == "ours"
    assert book("login-gov-idp.toml").step("merge-pr").with_["method"] == "merge"  # never squashed


def test_login_gov_recycle_watches_the_migration_until_provision_finishes():
    import re

    step = book("login-gov-idp.toml").step("recycle")
    assert step.danger and step.uses == "aws.asg_recycle"
    until = step.panes[0].until
    assert any(re.search(until, line) for line in cloud_init_log("prod", "migration", "i-1", "abc123456"))
    assert step.panes[1].uses == "aws.servers"


def test_login_gov_gates_and_soak():
    b = book("login-gov-idp.toml")
    gate = b.step("remove-old").not_before
    assert (gate.step, gate.wait) == ("recycle", "15m")
    assert b.step("remove-old").when == "env == 'prod'"  # PRODUCTION ONLY
    assert b.step("soak").wait == "1h"
    decision = b.step("rollback-decision")
    assert len(decision.checks) == 4
    assert {o.goto for o in decision.decide.options} == {None, "rollback"}
    rollback = [s.id for s in b.steps_of_section("rollback")]
    assert rollback[0] == "scale-out-new" and rollback[-1] == "retrospective"
    assert b.step("revert-commit").with_["mainline"] == "1"


def test_recycle_variants():
    b = book("login-gov-idp-recycle.toml")
    assert b.vars["kind"].choices == ["config-recycle", "no-migration-recycle", "passenger-restart"]
    assert b.step("no-migration-recycle").with_["skip_migration"] == "true"
    assert b.step("passenger-restart").with_["document"] == "passenger-restart"
    assert "not safe for prod" in b.section("restart").body


def test_pki_uses_the_pivcac_role():
    b = book("login-gov-pki.toml")
    for sid in ("asg-size", "recycle", "remove-old", "scale-out-new"):
        assert b.step(sid).with_["role"] == "pivcac", sid
    assert "pivcac.staging" in b.vars["staging_deploy_url"].default


def test_getgov_release_rules():
    b = book("getgov.toml")
    assert b.schedule.days == ["Wed"]
    assert b.vars["release_kind"].choices == ["weekly", "hotfix", "sandbox"]
    ids = [s.id for s in b.steps]
    assert ids.index("is-critical") < ids.index("hotfix-branch")  # triage precedes the out-of-cycle release
    assert "stable" in b.step("reset-guard").run
    assert b.step("cf-login").interactive and b.step("cf-login").rehearse


def test_govuk_pipeline_is_automatic_except_where_a_person_is_needed():
    b = book("govuk-cd.toml")
    main = [s for s in b.main_steps()]
    people = [s.id for s in main if not s.auto]
    assert people == ["error-spike"]
    assert b.step("error-spike").when
    order = [s.id for s in main]
    assert order.index("freeze-integration") < order.index("deploy-integration") < order.index("smoke-integration") \
        < order.index("freeze-staging") < order.index("error-baseline") < order.index("deploy-staging") \
        < order.index("smoke-staging") < order.index("error-rate") < order.index("freeze-production") \
        < order.index("deploy-production")
    assert b.notify and b.notify.slack
    assert b.fleet and b.fleet.untrusted == ["whitehall"] and "router" in b.fleet.exclusive


def test_govuk_release_tags_are_vn_as_its_deploy_workflow_wants():
    from deploytui.errors import UserError
    from deploytui.runbook.variables import resolve

    b = book("govuk-cd.toml")
    assert resolve(b, {"app": "frontend", "release_tag": "v42"})[1] == []
    with pytest.raises(UserError, match=r"release_tag: 'release_42' does not match"):
        resolve(b, {"app": "frontend", "release_tag": "release_42"})


def test_vetspire_window_and_disaster_recovery():
    b = book("vetspire.toml")
    w = b.schedule.window
    assert (w.start, w.end, w.tz) == ("09:00", "12:30", "Europe/London")
    assert "{{ date }}" in b.step("db-clone").run
    assert b.vars["keep_clones"].default == "4"
    assert {s.id for s in b.sections if s.on_demand} == {"defer", "pods-down", "db-locked"}
    assert any("30 seconds" in c for c in b.step("dry-run").checks)
    assert len(b.step("jira").checks) == 7
    from deploytui.sandbox.rehearse import gaps

    assert gaps(b) == []  # the world's gcloud, kubectl and gh play the rest; psql sessions have stand-ins
    assert b.step("dry-run").rehearse and b.step("connect-production").rehearse


def test_shell_values_are_quoted():
    step = book("login-gov-idp.toml").step("revert-branch")
    rendered = templates.render(step.run, {"rc": "1; rm -rf /"}, shell=True)
    assert "revert-rc-'1; rm -rf /'" in rendered
