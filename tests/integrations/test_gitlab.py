"""gitlab.* against a GitLab REST stand-in on pytest-httpserver (login.gov's identity-pki lives there)."""

from __future__ import annotations

import pytest

from deploytui.errors import ActionError
from deploytui.integrations import github as gh
from deploytui.integrations import gitlab as gl

from .fake_github import FakeGitHub
from .fake_gitlab import FakeGitLab

pytestmark = pytest.mark.timeout(30)
REPO = "lg/identity-pki"


@pytest.fixture
def fake(httpserver):
    return FakeGitLab(httpserver, REPO)


@pytest.fixture
def env(fake):
    return {"GITLAB_TOKEN": "glpat-testtoken", "GITLAB_API_URL": fake.base}


def test_next_release_reads_every_page_of_the_releases(fake, env, recorder):
    r = recorder(env)
    assert gl.next_release(r.ctx, repo=REPO) == {"number": "151", "title": "RC 151", "last": "150.2"}
    assert gl.next_release(r.ctx, repo=REPO, patch="true")["number"] == "150.3"
    assert len(fake.calls("GET", r"/projects/lg%2Fidentity-pki/releases")) == 4  # two pages, twice
    assert r.secrets == ["glpat-testtoken", "glpat-testtoken"]


def test_merge_request_labelled_reused_and_merged_unsquashed(fake, env, recorder):
    r = recorder(env)
    out = gl.merge_request(r.ctx, repo=REPO, head="stages/rc-2026-11-24", base="stages/prod",
                           title="Deploy RC 151 to Prod", labels="status - promotion")
    assert out["number"] == 1 and out["url"].endswith("/merge_requests/1") and not out["reused"]
    assert fake.mrs[1]["labels"] == ["status - promotion"]
    again = gl.merge_request(r.ctx, repo=REPO, head="stages/rc-2026-11-24", base="stages/prod", title="x")
    assert again["reused"] and len(fake.calls("POST", r".*/merge_requests")) == 1
    fake.mrs[1]["description"] = "## Bug Fixes\n- PIV/CAC: Accept the new CA"  # edited by the reviewer
    merged = gl.merge(recorder(env).ctx, repo=REPO, number="!1")
    assert merged["merged"] and merged["sha"].startswith("feedface")
    assert merged["description"] == "## Bug Fixes\n- PIV/CAC: Accept the new CA"  # the release notes
    assert fake.calls("PUT", r".*/merge_requests/1/merge")[0][2] == {"squash": False}
    gl.merge(recorder(env).ctx, repo=REPO, number="1")  # already merged: no second PUT
    assert len(fake.calls("PUT", r".*/merge_requests/1/merge")) == 1


def test_gitlab_problems_are_one_line(fake, env, recorder, monkeypatch, tmp_path):
    gl.merge_request(recorder(env).ctx, repo=REPO, head="a", base="b", title="t")
    fake.mergeable = False
    with pytest.raises(ActionError, match=r"GitLab cannot merge !1 yet .*405.*approvals, a pipeline or conflicts"):
        gl.merge(recorder(env).ctx, repo=REPO, number="1")
    with pytest.raises(ActionError, match="GitLab: not found"):
        gl.merge(recorder(env).ctx, repo=REPO, number="99")
    with pytest.raises(ActionError, match="GitLab rejected the token"):
        gl.next_release(recorder({**env, "GITLAB_TOKEN": "glpat-wrong"}).ctx, repo=REPO)
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no glab
    with pytest.raises(ActionError, match="no GitLab token for 127.0.0.1: set GITLAB_TOKEN or run glab auth login"):
        gl.next_release(recorder({"GITLAB_API_URL": fake.base}).ctx, repo=REPO)


def test_github_release_waits_for_the_mirrored_tag(httpserver, recorder):
    hub = FakeGitHub(httpserver, "18F/identity-pki")
    env = {"GITHUB_TOKEN": "ghp_testtoken", "GITHUB_API_URL": hub.base}
    with pytest.raises(ActionError, match="tag 2026-11-24T101010 is not on GitHub .* wait for the mirror"):
        gh.release(recorder(env).ctx, repo="18F/identity-pki", tag="2026-11-24T101010", tag_wait="0.2")
    assert not hub.calls("POST", r".*/releases")  # GitHub would have made the tag on the default branch
    hub.refs["refs/tags/2026-11-24T101010"] = "abc1234def"
    out = gh.release(recorder(env).ctx, repo="18F/identity-pki", tag="2026-11-24T101010", title="RC 151",
                     notes="## Bug Fixes", tag_wait="0.2")
    assert out["title"] == "RC 151" and hub.calls("POST", r".*/releases")[0][2]["body"] == "## Bug Fixes"
