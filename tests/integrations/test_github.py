"""github.* against a GitHub REST stand-in on pytest-httpserver; asserts on the requests it received."""

from __future__ import annotations

import pytest

from deploytui.errors import ActionError
from deploytui.integrations import github as gh

from .fake_github import FakeGitHub

pytestmark = pytest.mark.timeout(30)
REPO = "18F/identity-idp"


@pytest.fixture
def fake(httpserver):
    return FakeGitHub(httpserver, REPO)


@pytest.fixture
def env(fake):
    return {"GITHUB_TOKEN": "ghp_testtoken", "GITHUB_API_URL": fake.base}


def test_next_release_full_and_patch(fake, env, recorder):
    r = recorder(env)
    assert gh.next_release(r.ctx, repo=REPO) == {"number": "124", "title": "RC 124", "last": "123"}
    assert gh.next_release(r.ctx, repo=REPO, patch="true")["number"] == "123.1"
    assert r.secrets == ["ghp_testtoken", "ghp_testtoken"]  # the journal redacts it
    assert fake.requests[0][3] == "token ghp_testtoken" or fake.requests[0][3] == "Bearer ghp_testtoken"


def test_pull_request_with_labels_then_reused(fake, env, recorder):
    r = recorder(env)
    out = gh.pull_request(r.ctx, repo=REPO, head="stages/rc-2026-11-24", base="stages/prod",
                          title="Deploy RC 124 to Production", body="## Bug Fixes\n- x", labels="status - promotion")
    created = fake.calls("POST", f"/repos/{REPO}/pulls")[0][2]
    assert created["title"] == "Deploy RC 124 to Production" and created["base"] == "stages/prod"
    assert created["head"] == "stages/rc-2026-11-24" and created["body"] == "## Bug Fixes\n- x"
    assert fake.calls("POST", rf"/repos/{REPO}/issues/{out['number']}/labels")[0][2] == ["status - promotion"]
    again = gh.pull_request(r.ctx, repo=REPO, head="stages/rc-2026-11-24", base="stages/prod", title="x")
    assert again["number"] == out["number"] and again["reused"] is True
    assert len(fake.calls("POST", f"/repos/{REPO}/pulls")) == 1


def test_merge_uses_the_merge_method(fake, env, recorder):
    n = gh.pull_request(recorder(env).ctx, repo=REPO, head="a", base="b", title="t")["number"]
    out = gh.merge(recorder(env).ctx, repo=REPO, number=f"#{n}")
    assert out["sha"] == "abc123def4567890"
    assert fake.calls("PUT", rf"/repos/{REPO}/pulls/{n}/merge")[0][2]["merge_method"] == "merge"
    # already merged: no second PUT
    gh.merge(recorder(env).ctx, repo=REPO, number=str(n))
    assert len(fake.calls("PUT", rf"/repos/{REPO}/pulls/{n}/merge")) == 1
    with pytest.raises(ActionError, match="method must be merge, rebase or squash"):
        gh.merge(recorder(env).ctx, repo=REPO, number=str(n), method="fast-forward")


def test_release_notes_from_the_pull_request(fake, env, recorder):
    n = gh.pull_request(recorder(env).ctx, repo=REPO, head="a", base="b", title="t",
                        body="## Internal\n- Sessions: Redis 7")["number"]
    out = gh.release(recorder(env).ctx, repo=REPO, tag="2026-11-24T0930", title="RC 124", pr=str(n))
    sent = fake.calls("POST", f"/repos/{REPO}/releases")[0][2]
    assert sent["tag_name"] == "2026-11-24T0930" and sent["name"] == "RC 124"
    assert sent["body"] == "## Internal\n- Sessions: Redis 7"
    assert out["url"].endswith("/releases/tag/2026-11-24T0930")
    assert gh.next_release(recorder(env).ctx, repo=REPO)["number"] == "125"


def test_lightweight_tag_and_its_conflict(fake, env, recorder):
    gh.tag(recorder(env).ctx, repo=REPO, name="staging-12", sha="0123456789abcdef")
    assert fake.refs == {"refs/tags/staging-12": "0123456789abcdef"}
    with pytest.raises(ActionError, match="GitHub said 422: Reference already exists"):
        gh.tag(recorder(env).ctx, repo=REPO, name="staging-12", sha="0123456789abcdef")


def test_workflow_dispatch_is_followed_to_its_conclusion(fake, env, recorder):
    r = recorder(env)
    out = gh.workflow(r.ctx, repo=REPO, workflow="migrate.yaml", ref="main",
                      inputs={"environment": "stable"}, poll="0.05")
    assert fake.calls("POST", rf"/repos/{REPO}/actions/workflows/(42|migrate.yaml)/dispatches")[0][2] == {
        "ref": "main", "inputs": {"environment": "stable"}, "return_run_details": True}
    assert out["run_id"] == 502 and out["conclusion"] == "success"  # not the earlier run 500
    assert "job migrate: in_progress" in r.lines and "job migrate: success" in r.lines

    fake.run_conclusion = "failure"
    with pytest.raises(ActionError, match=r"Migrate data run 503 ended failure: https://github.com/"):
        gh.workflow(recorder(env).ctx, repo=REPO, workflow="migrate.yaml", inputs="environment=stable", poll="0.05")


def test_a_dispatch_follows_its_own_run_when_another_pipeline_dispatches_at_the_same_moment(fake, env, recorder):
    """Two apps' pipelines run the same smoke tests at once: each follows the run GitHub says it started,
    never the newest one (seen before: two apps followed the same smoke-test run)."""
    fake.dispatched_alongside = True
    r = recorder(env)
    out = gh.workflow(r.ctx, repo=REPO, workflow="migrate.yaml", inputs={"app": "frontend"}, poll="0.05")
    ours, other = fake.runs[-2:]
    assert other.get("other") and other["id"] > ours["id"]
    assert out["run_id"] == ours["id"]
    assert fake.calls("POST", rf"/repos/{REPO}/actions/workflows/(42|migrate.yaml)/dispatches")[-1][2][
        "return_run_details"] is True
    # a GitHub that does not name the run: the newest new one, and the log says what that risks
    fake.run_details = False
    r = recorder(env)
    out = gh.workflow(r.ctx, repo=REPO, workflow="migrate.yaml", poll="0.05")
    assert out["run_id"] == fake.runs[-1]["id"]
    assert any("a dispatch made at the same moment could share" in line for line in r.lines)



def test_a_push_s_deploy_run_is_the_one_of_its_commit(fake, env, recorder):
    """`git push origin production` starts the deploy: deploytui follows the run of the commit pushed, never
    the run an earlier push left on the branch, and waits while GitHub has not started it yet."""
    new, old = "a" * 40, "b" * 40
    fake.heads["production"] = new
    fake.runs += [{"id": 601, "status": "completed", "conclusion": "success", "event": "push",
                   "head_branch": "production", "head_sha": old, "name": "Deploy production"},
                  {"id": 602, "status": "queued", "conclusion": None, "event": "push", "head_branch": "production",
                   "head_sha": new, "name": "Deploy production", "job": "deploy", "starts_after": 2}]
    fake.run_conclusion = "failure"  # its pods crash
    r = recorder(env)
    with pytest.raises(ActionError, match=r"Deploy production run 602 ended failure: https://github.com/"):
        gh.pushed_run(r.ctx, repo=REPO, ref="production", poll="0.05")
    assert "job deploy: in_progress" in r.lines and "job deploy: failure" in r.lines
    listed = fake.calls("GET", rf"/repos/{REPO}/actions/runs")
    assert len(listed) == 3  # twice before GitHub had started it
    with pytest.raises(ActionError, match=r"no GitHub Actions run started for staging at ccccccccc: see https://"):
        gh.pushed_run(recorder(env).ctx, repo=REPO, ref="staging", sha="c" * 40, poll="0.05", timeout="0.3")

def test_token_problems_are_one_line(fake, recorder, monkeypatch, tmp_path):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setenv("GH_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no gh binary
    with pytest.raises(ActionError, match="no GitHub token for 127.0.0.1: set GITHUB_TOKEN or run gh auth login"):
        gh.next_release(recorder({"GITHUB_API_URL": fake.base}).ctx, repo=REPO)
    (tmp_path / "hosts.yml").write_text("127.0.0.1:\n    user: rm\n    oauth_token: ghp_wrong\n")
    with pytest.raises(ActionError, match="GitHub rejected the token"):
        gh.next_release(recorder({"GITHUB_API_URL": fake.base}).ctx, repo=REPO)
    assert fake.requests[-1][3].endswith("ghp_wrong")  # hosts.yml was read
    with pytest.raises(ActionError, match="not found"):
        gh.merge(recorder({"GITHUB_TOKEN": "ghp_testtoken", "GITHUB_API_URL": fake.base}).ctx,
                 repo=REPO, number="999")


def test_workflow_first_ever_run(fake, env, recorder):
    fake.runs = []  # a workflow never run before: PyGithub's empty run list must not trip us
    out = gh.workflow(recorder(env).ctx, repo=REPO, workflow="migrate.yaml", poll="0.05")
    assert out["run_id"] == 501 and out["conclusion"] == "success"


def test_ci_from_check_runs_and_statuses_with_the_token(fake, env, recorder):
    fake.check_runs["release_42"] = {"test": [("queued", None), ("in_progress", None), ("completed", "success")],
                                     "lint": [("completed", "success")]}
    r = recorder(env)
    out = gh.checks(r.ctx, repo=REPO, ref="release_42", every="0.05", timeout="10")
    assert out["state"] == "success" and sorted(out["names"]) == ["lint", "test"]
    polls = fake.calls("GET", rf"/repos/{REPO}/commits/release_42/(check-runs|status)")
    assert len(polls) == 6 and all(p[3].endswith("ghp_testtoken") for p in polls)  # authenticated, every time
    assert r.tables[0][1][0] == ["check run", "test", "queued"]

    fake.statuses["release_43"] = {"ci/jenkins": "success"}  # an older CI reporting statuses only
    assert gh.checks(recorder(env).ctx, repo=REPO, ref="release_43", every="0.05")["names"] == ["ci/jenkins"]


def test_ci_red_or_silent_is_a_failure(fake, env, recorder):
    fake.check_runs["release_44"] = {"test": [("completed", "failure")], "lint": [("completed", "success")]}
    with pytest.raises(ActionError, match="CI is red for release_44 in 18F/identity-idp: test failure"):
        gh.checks(recorder(env).ctx, repo=REPO, ref="release_44", every="0.05")
    # a failing check named in `ignore` does not count
    assert gh.checks(recorder(env).ctx, repo=REPO, ref="release_44", ignore="test")["names"] == ["lint"]
    fake.statuses["release_45"] = {"ci/jenkins": "pending"}
    with pytest.raises(ActionError, match="not green after 0.2: 1 of 1 check"):
        gh.checks(recorder(env).ctx, repo=REPO, ref="release_45", every="0.05", timeout="0.2")
    with pytest.raises(ActionError, match="no check run or status has reported yet"):
        gh.checks(recorder(env).ctx, repo=REPO, ref="release_46", every="0.05", timeout="0.2")


def test_last_good_deploy_is_not_the_bad_one(fake, env, recorder):
    good, bad = "1111111aaaaaaa", "2222222bbbbbbb"
    fake.branch_runs = [{"branch": "production", "head_sha": "0000000fffffff", "conclusion": "success"},
                        {"branch": "production", "head_sha": good, "conclusion": "success"},
                        {"branch": "master", "head_sha": "3333333ccccccc", "conclusion": "success"},
                        {"branch": "production", "head_sha": bad, "conclusion": "failure"},
                        {"branch": "production", "head_sha": bad, "conclusion": "success"}]  # pods crashed after
    r = recorder(env)
    out = gh.last_success(r.ctx, repo=REPO, branch="production", exclude=bad[:9])
    assert out["head_sha"] == good  # `gh run list --status success --limit 1` would give the bad release
    assert "skipped 1 successful run(s) of 2222222bb" in r.text
    req = fake.calls("GET", rf"/repos/{REPO}/actions/runs")[0]
    assert req[3].endswith("ghp_testtoken")
    with pytest.raises(ActionError, match="no successful run on production .* other than 1111111aa, 0000000ff, 2222222bb"):
        gh.last_success(recorder(env).ctx, repo=REPO, branch="production", exclude=f"{good},0000000fffffff,{bad}")
