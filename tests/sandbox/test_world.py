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
        assert env.get("AWS_SECRET_ACCESS_KEY", "") != "real-secret"
        assert env["HOME"].startswith(str(world.workdir)) and env["TMPDIR"].startswith(str(world.workdir))
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


def test_tools_the_world_lacks_say_so_and_its_own_answer_from_the_world(tmp_path):
    book = load(RUNBOOKS / "vetspire.toml")
    with build_world(book, tmp_path / "w") as world:
        for tool in ("cf", "psql", "ssh"):
            res = subprocess.run([tool, "--version"], env=world.env, capture_output=True, text=True)
            assert res.returncode == 127
            assert "not part of the rehearsal world" in res.stderr
        listed = subprocess.run(["gcloud", "sql", "instances", "list", "--format=value(name)"], env=world.env,
                                capture_output=True, text=True)
        assert listed.returncode == 0 and "vetspire-production" in listed.stdout.split()
        pods = subprocess.run(["kubectl", "get", "pods"], env=world.env, capture_output=True, text=True)
        assert pods.returncode == 1 and "localhost:8080 was refused" in pods.stderr  # no credentials yet


def test_refuses_a_url_that_leaves_the_machine_when_unsealed(tmp_path):
    book = load(RUNBOOKS / "login-gov-idp.toml")
    with build_world(book, tmp_path / "w") as world:
        with pytest.raises(RehearsalRefused, match="staging_deploy_url points at idp.staging.login.gov"):
            world.refuse_outside({**world.vars, "staging_deploy_url": "https://idp.staging.login.gov/api/deploy.json"},
                                 book)
        world.seal = "network namespace"  # sealed: the address is unreachable anyway
        world.refuse_outside({**world.vars, "staging_deploy_url": "https://idp.staging.login.gov/api/deploy.json"},
                             book)
    with pytest.raises(RehearsalRefused, match="AWS_ENDPOINT_URL"):
        check_local({"AWS_ENDPOINT_URL": "https://ec2.us-west-2.amazonaws.com"}, {})


DISPLAY_ONLY = """
[runbook]
id = "unknown-service"
title = "t"
[vars.dashboard]
default = "https://one.newrelic.com/dashboards/deploys"
[vars.api]
default = "https://api.example.com/deploy"
[[steps]]
id = "look"
title = "Look at {{ dashboard }}"
body = "Open {{ dashboard }} and watch the error rate."
checks = ["Looked"]
[[steps]]
id = "call"
title = "Call the API"
run = "curl -sS {{ api }}"
"""


def test_a_display_only_url_default_does_not_refuse(tmp_path):
    book = parse(DISPLAY_ONLY, "x.toml")
    with build_world(book, tmp_path / "w") as world:
        world.refuse_outside({"dashboard": "https://one.newrelic.com/dashboards/deploys",
                              "api": "http://127.0.0.1:9/deploy"}, book)
        with pytest.raises(RehearsalRefused, match="variable api points at api.example.com"):
            world.refuse_outside({"dashboard": "https://x", "api": "https://api.example.com/deploy"}, book)


def test_login_gov_world_merges_promotion_into_local_origin(tmp_path):
    from github import Auth, Github, GithubException

    book = load(RUNBOOKS / "login-gov-idp.toml")
    with build_world(book, tmp_path / "w", time_scale=1) as world:
        clone = world.vars["idp_repo"]
        subprocess.run(["git", "-C", clone, "push", "-q", "origin", "origin/main:refs/heads/stages/rc-test"],
                       check=True, env=world.env)
        repo = Github(base_url=world.github.url, auth=Auth.Token("x"), retry=None).get_repo("18F/identity-idp")
        pr = repo.create_pull(base="stages/prod", head="stages/rc-test", title="Deploy RC 112 to Prod", body="")
        with pytest.raises(GithubException) as err:  # stages/prod is protected: a review first, and CI
            pr.merge()
        assert err.value.status == 405 and "approving review" in str(err.value.data)
        world.clock.offset += 3600  # an hour later: reviewed, CI done
        sha = pr.merge().sha
        subprocess.run(["git", "-C", clone, "fetch", "-q"], check=True, env=world.env)
        top = subprocess.run(["git", "-C", clone, "rev-parse", "origin/stages/prod"], capture_output=True,
                             text=True, env=world.env).stdout.strip()
        assert top == sha
        assert world.aws.sha == sha  # new instances will carry the release
