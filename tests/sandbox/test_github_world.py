"""The fake GitHub answers PyGithub the way GitHub does for our actions, and records every request."""

from __future__ import annotations

import json
import urllib.request

import pytest
from github import Auth, Github, GithubException

from deploytui.sandbox.github_world import GitHubWorld


@pytest.fixture
def gh():
    with GitHubWorld() as world:
        yield world


def client(gh: GitHubWorld) -> Github:
    return Github(base_url=gh.url, auth=Auth.Token("fake"), retry=None)


def test_listens_only_on_loopback(gh):
    assert gh.url.startswith("http://127.0.0.1:")
    with pytest.raises(ValueError):
        GitHubWorld(host="0.0.0.0")


def test_releases_newest_first_and_create(gh):
    gh.seed_releases("18F/identity-idp", ["RC 110", "RC 111"])
    repo = client(gh).get_repo("18F/identity-idp")
    assert [r.name for r in repo.get_releases()] == ["RC 111", "RC 110"]
    rel = repo.create_git_release(tag="20261124093000", name="RC 112", message="notes")
    assert rel.name == "RC 112"
    assert [r.name for r in repo.get_releases()][0] == "RC 112"
    with pytest.raises(GithubException) as err:
        repo.create_git_release(tag="20261124093000", name="again", message="")
    assert err.value.status == 422


def test_pull_request_labels_merge_once(gh):
    repo = client(gh).get_repo("18F/identity-idp")
    pr = repo.create_pull(base="stages/prod", head="stages/rc-2026-11-24", title="Deploy RC 112 to Prod", body="b")
    pr.add_to_labels("status - promotion")
    again = repo.get_pull(pr.number)
    assert [lab.name for lab in again.labels] == ["status - promotion"]
    assert [p.number for p in repo.get_pulls(state="open", head="18F:stages/rc-2026-11-24", base="stages/prod")] \
        == [pr.number]
    with pytest.raises(GithubException):  # one open PR per head and base, as on GitHub
        repo.create_pull(base="stages/prod", head="stages/rc-2026-11-24", title="dup", body="")
    status = again.merge(merge_method="merge")
    assert status.merged
    assert repo.get_pull(pr.number).merged
    with pytest.raises(GithubException) as err:
        repo.get_pull(pr.number).merge()
    assert err.value.status == 405


def test_on_merge_hook_supplies_the_sha_or_refuses(gh):
    seen = []
    gh.on_merge = lambda name, pr: seen.append((name, pr["head"]["ref"], pr["base"]["ref"])) or "a" * 40
    repo = client(gh).get_repo("o/r")
    pr = repo.create_pull(base="main", head="fix", title="Fix", body="")
    assert pr.merge().sha == "a" * 40
    assert seen == [("o/r", "fix", "main")]

    def refuse(name, pr):
        raise RuntimeError("conflict")

    gh.on_merge = refuse
    pr2 = repo.create_pull(base="main", head="other", title="Other", body="")
    with pytest.raises(GithubException) as err:
        pr2.merge()
    assert "conflict" in str(err.value.data)


def test_tag_refs_are_unique(gh):
    repo = client(gh).get_repo("cisagov/manage.get.gov")
    ref = repo.create_git_ref("refs/tags/staging-4", "b" * 40)
    assert ref.ref == "refs/tags/staging-4"
    with pytest.raises(GithubException):
        repo.create_git_ref("refs/tags/staging-4", "c" * 40)
    assert gh.repo("cisagov/manage.get.gov").refs["refs/tags/staging-4"] == "b" * 40


def test_workflow_dispatch_creates_a_run_that_completes(gh):
    repo = client(gh).get_repo("cisagov/manage.get.gov")
    gh.repo("cisagov/manage.get.gov").fail["reset-db.yaml"] = "failure"
    wf = repo.get_workflow("migrate.yaml")
    assert wf.create_dispatch("main", {"environment": "stable"})
    run = wf.get_runs(branch="main")[0]
    assert run.event == "workflow_dispatch"
    assert repo.get_workflow_run(run.id).status == "completed"
    assert repo.get_workflow_run(run.id).conclusion == "success"
    bad = repo.get_workflow("reset-db.yaml")
    bad.create_dispatch("main", {"environment": "sandbox"})
    run = bad.get_runs()[0]
    assert repo.get_workflow_run(run.id).conclusion == "failure"
    assert list(repo.get_workflow("other.yml").get_runs()) == []  # an empty list, not an error


def test_commit_status_defaults_to_success_and_can_fail(gh):
    repo = client(gh).get_repo("alphagov/frontend")
    assert repo.get_commit("release_42").get_combined_status().state == "success"
    gh.repo("alphagov/frontend").statuses["release_43"] = "failure"
    assert repo.get_commit("release_43").get_combined_status().state == "failure"


def test_every_write_is_recorded_in_order(gh):
    repo = client(gh).get_repo("18F/identity-idp")
    repo.create_pull(base="stages/prod", head="rc", title="Deploy RC 112 to Prod", body="")
    repo.create_git_ref("refs/tags/x", "d" * 40)
    writes = gh.writes()
    assert [(w.method, w.path) for w in writes] == [("POST", "/repos/18F/identity-idp/pulls"),
                                                    ("POST", "/repos/18F/identity-idp/git/refs")]
    assert "Deploy RC 112 to Prod" in gh.recorded_lines()[0]
    assert any(r.method == "GET" for r in gh.requests)


def test_documents_release_app_and_slack(gh):
    url = gh.add_document("idp/api/deploy.json", {"git_sha": "abc"})
    assert json.load(urllib.request.urlopen(url)) == {"git_sha": "abc"}
    gh.add_document("release/applications", {"content-publisher": {"deploy_freeze": True}})
    frozen = json.load(urllib.request.urlopen(gh.url + "/_world/release/applications/content-publisher.json"))
    free = json.load(urllib.request.urlopen(gh.url + "/_world/release/applications/frontend.json"))
    assert frozen["deploy_freeze"] is True and free["deploy_freeze"] is False
    req = urllib.request.Request(gh.url + "/_world/slack", data=b'{"text": "deployed"}', method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req)
    assert gh.slack == [{"text": "deployed"}]
    assert gh.writes()[-1].path == "/_world/slack"
