"""The fake GitHub answers PyGithub the way GitHub does for our actions, and records every request."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from github import Auth, Github, GithubException

from deploytui.sandbox import rules
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


def test_workflow_runs_queue_run_and_conclude_as_world_time_passes(gh):
    repo = client(gh).get_repo("cisagov/manage.get.gov")
    gh.repo("cisagov/manage.get.gov").fail["reset-db.yaml"] = "failure"
    wf = repo.get_workflow("migrate.yaml")
    assert wf.create_dispatch("main", {"environment": "stable"})
    run = wf.get_runs(branch="main")[0]
    assert run.event == "workflow_dispatch" and run.status == "queued" and run.conclusion is None
    gh.clock.offset += rules.WORKFLOW_QUEUE_SECONDS
    assert repo.get_workflow_run(run.id).status == "in_progress"
    gh.clock.offset += rules.WORKFLOW_RUN_SECONDS
    done = repo.get_workflow_run(run.id)
    assert (done.status, done.conclusion) == ("completed", "success")
    bad = repo.get_workflow("reset-db.yaml")
    bad.create_dispatch("main", {"environment": "sandbox"})
    gh.clock.offset += rules.WORKFLOW_QUEUE_SECONDS + rules.WORKFLOW_RUN_SECONDS
    assert repo.get_workflow_run(bad.get_runs()[0].id).conclusion == "failure"
    assert list(repo.get_workflow("other.yml").get_runs()) == []  # an empty list, not an error


def test_ci_is_check_runs_and_the_commit_status_stays_pending(gh):
    repo = client(gh).get_repo("alphagov/frontend")
    status = repo.get_commit("release_42").get_combined_status()
    assert status.state == "pending" and status.total_count == 0  # GitHub Actions posts no statuses
    checks = list(repo.get_commit("release_42").get_check_runs())
    assert [c.name for c in checks] == ["build"] and checks[0].conclusion == "success"


def test_merging_into_a_protected_branch_needs_a_review_and_green_checks(gh):
    r = gh.repo("18F/identity-idp")
    r.protected = {"stages/prod": {"reviews": 1, "checks": ["build"]}}
    repo = client(gh).get_repo("18F/identity-idp")
    pr = repo.create_pull(base="stages/prod", head="stages/rc-1", title="Deploy RC 112 to Prod", body="")
    with pytest.raises(GithubException) as err:
        pr.merge()
    assert err.value.status == 405 and "At least 1 approving review" in err.value.data["message"]
    with pytest.raises(GithubException) as err:  # nobody approves their own pull request
        pr.create_review(event="APPROVE")
    assert err.value.status == 422
    gh.clock.offset += rules.REVIEW_SECONDS
    assert [x.state for x in pr.get_reviews()] == ["APPROVED"]
    with pytest.raises(GithubException) as err:
        pr.merge()
    assert err.value.data["message"] == 'Required status check "build" is expected.'
    gh.clock.offset += rules.CI_SECONDS
    assert pr.merge().merged


def test_ci_red_fails_the_checks_of_what_is_pushed_in_the_rehearsal(tmp_path):
    with GitHubWorld(faults={"ci-red"}) as world:
        world.repo("18F/identity-idp").protected = {"stages/prod": {"reviews": 1, "checks": ["build"]}}
        repo = client(world).get_repo("18F/identity-idp")
        pr = repo.create_pull(base="stages/prod", head="stages/rc-1", title="Deploy", body="")
        world.clock.offset += rules.CI_SECONDS
        check = list(repo.get_commit(pr.head.sha).get_check_runs())[0]
        assert (check.status, check.conclusion) == ("completed", "failure")
        with pytest.raises(GithubException) as err:
            pr.merge()
        assert err.value.data["message"] == 'Required status check "build" is failing.'


def test_slack_answers_429_with_retry_after_when_posted_to_too_fast(gh):
    def post():
        req = urllib.request.Request(gh.url + "/_world/slack", data=b'{"text": "x"}', method="POST")
        try:
            return urllib.request.urlopen(req).status, None
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Retry-After")

    answers = [post() for _ in range(rules.SLACK_BURST + 1)]
    assert [a[0] for a in answers[:-1]] == [200] * rules.SLACK_BURST
    assert answers[-1][0] == 429 and int(answers[-1][1]) >= 1
    assert len(gh.slack) == rules.SLACK_BURST


def test_slack_down_answers_503():
    with GitHubWorld(faults={"slack-down"}) as world:
        req = urllib.request.Request(world.url + "/_world/slack", data=b'{"text": "x"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)
        assert err.value.code == 503 and world.slack == []


def test_snapshot_brings_the_same_state_back(gh):
    gh.seed_releases("18F/identity-idp", ["RC 110"])
    client(gh).get_repo("18F/identity-idp").create_pull(base="stages/prod", head="rc", title="t", body="")
    with GitHubWorld() as other:
        other.restore(json.loads(json.dumps(gh.snapshot())))
        again = client(other).get_repo("18F/identity-idp")
        assert [p.title for p in again.get_pulls()] == ["t"] and [r.name for r in again.get_releases()] == ["RC 110"]
        assert [w.path for w in other.writes()] == [w.path for w in gh.writes()]


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
