"""build_world: everything points at 127.0.0.1, real credentials stay out, cloud CLIs refuse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploytui.runbook.loader import load, parse
from deploytui.sandbox.rehearse import RehearsalRefused, build_world, check_local

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@pytest.mark.parametrize("name", sorted(p.name for p in RUNBOOKS.glob("*.toml")))
def test_every_runbook_gets_a_local_world(name, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "prod-power")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_realtoken")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/real")
    monkeypatch.setenv("IDP_REPO", "/home/me/identity-idp")
    book = load(RUNBOOKS / name)
    with build_world(book, tmp_path / "w", time_scale=60) as world:
        env = world.env
        assert "AWS_PROFILE" not in env
        if "idp_repo" in book.vars:
            assert "IDP_REPO" not in env and world.vars["idp_repo"] != "/home/me/identity-idp"
        assert env["GITHUB_TOKEN"] != "ghp_realtoken"
        assert env.get("AWS_SECRET_ACCESS_KEY", "testing") == "testing"
        assert env["GITHUB_API_URL"].startswith("http://127.0.0.1:")
        assert env["SLACK_WEBHOOK_URL"].startswith("http://127.0.0.1:")
        if "AWS_ENDPOINT_URL" in env:
            assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        check_local(env, world.vars)  # does not raise
        assert world.describe()[0].startswith("REHEARSAL")
        assert set(world.vars) <= set(book.vars)
        for var in ("idp_repo", "pki_repo", "repo_dir", "devops_repo"):
            if var in world.vars:
                assert Path(world.vars[var], ".git").is_dir(), var


def test_cloud_clis_are_stubs_that_refuse(tmp_path):
    book = load(RUNBOOKS / "vetspire.toml")
    with build_world(book, tmp_path / "w") as world:
        for tool in ("gcloud", "kubectl", "aws-vault", "cf"):
            res = subprocess.run([tool, "--version"], env=world.env, capture_output=True, text=True)
            assert res.returncode == 127
            assert "not available in the rehearsal world" in res.stderr


def test_refuses_a_url_that_leaves_the_machine(tmp_path):
    book = load(RUNBOOKS / "login-gov-idp.toml")
    with build_world(book, tmp_path / "w") as world:
        with pytest.raises(RehearsalRefused, match="staging_deploy_url points at idp.staging.login.gov, not 127.0.0.1"):
            world.refuse_outside({**world.vars, "staging_deploy_url": "https://idp.staging.login.gov/api/deploy.json"})
    with pytest.raises(RehearsalRefused, match="AWS_ENDPOINT_URL"):
        check_local({"AWS_ENDPOINT_URL": "https://ec2.us-west-2.amazonaws.com"}, {})


def test_refuses_a_runbook_whose_real_url_has_no_stand_in(tmp_path):
    book = parse("""
[runbook]
id = "unknown-service"
title = "t"
[vars.api]
default = "https://api.example.com/deploy"
[[steps]]
id = "a"
title = "a"
run = "echo hi"
""", "x.toml")
    with pytest.raises(RehearsalRefused, match="variable api defaults to https://api.example.com"):
        build_world(book, tmp_path / "w")


def test_login_gov_world_merges_promotion_into_local_origin(tmp_path):
    from github import Auth, Github

    book = load(RUNBOOKS / "login-gov-idp.toml")
    with build_world(book, tmp_path / "w", time_scale=600) as world:
        clone = world.vars["idp_repo"]
        subprocess.run(["git", "-C", clone, "push", "-q", "origin", "origin/main:refs/heads/stages/rc-test"],
                       check=True, env=world.env)
        repo = Github(base_url=world.github.url, auth=Auth.Token("x")).get_repo("18F/identity-idp")
        pr = repo.create_pull(base="stages/prod", head="stages/rc-test", title="Deploy RC 112 to Prod", body="")
        sha = pr.merge().sha
        subprocess.run(["git", "-C", clone, "fetch", "-q"], check=True, env=world.env)
        top = subprocess.run(["git", "-C", clone, "rev-parse", "origin/stages/prod"], capture_output=True,
                             text=True, env=world.env).stdout.strip()
        assert top == sha
        assert world.aws.sha == sha  # new instances will carry the release
