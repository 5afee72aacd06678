"""git.* on real repositories: a bare origin and a clone, laid out by the sandbox."""

from __future__ import annotations

import os
import subprocess

import pytest

from deploytui.errors import ActionError
from deploytui.integrations import git as gitactions
from deploytui.sandbox.git_world import make_git_world

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def gw(tmp_path):
    return make_git_world(tmp_path)


def at(path, *args):
    return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True).stdout.strip()


def test_release_branch_is_pushed_at_the_sha(gw, recorder):
    r = recorder()
    out = gitactions.release_branch(r.ctx, repo=str(gw.clone), sha=gw.main_sha[:12], date="2026-11-24")
    assert out == {"branch": "stages/rc-2026-11-24", "sha": gw.main_sha}
    assert at(gw.origin, "rev-parse", "refs/heads/stages/rc-2026-11-24") == gw.main_sha
    with pytest.raises(ActionError, match="origin/stages/rc-2026-11-24 already exists at"):
        gitactions.release_branch(r.ctx, repo=str(gw.clone), sha=gw.prod_sha, date="2026-11-24")
    with pytest.raises(ActionError, match="unknown commit or branch 'deadbeef'"):
        gitactions.release_branch(r.ctx, repo=str(gw.clone), sha="deadbeef")


def test_changelog_between_prod_and_main(gw, recorder):
    r = recorder()
    out = gitactions.changelog(r.ctx, repo=str(gw.clone), base="stages/prod", head="main")
    assert out["count"] == 3 and out["commits"] == 6 and out["skipped"] == 1
    assert out["counts"] == {"User-Facing Improvements": 1, "Bug Fixes": 0, "Internal": 1, "Upcoming Features": 1}
    assert out["markdown"].startswith("## User-Facing Improvements\n\n- In-person proofing: Clarify the barcode page")
    assert "Bug Fixes" not in out["markdown"]  # that change is already in production
    assert out["invalid"] == 1 and "changelog: Improvements, Account, Tidy the account page" in out["invalid_entries"][0]
    assert len(out["missing"]) == 1 and out["missing"][0].endswith("Fix a typo in a comment")
    assert "invalid changelog entry:" in r.text
    with pytest.raises(ActionError, match="no valid changelog entries between main and main"):
        gitactions.changelog(recorder().ctx, repo=str(gw.clone), base="main", head="main")


def test_merge_ours_trues_up_main_after_a_patch(gw, recorder):
    at(gw.clone, "checkout", "-q", "-b", "stages/prod", "origin/stages/prod")
    (gw.clone / "hotfix.txt").write_text("patch\n")
    at(gw.clone, "add", "hotfix.txt")
    at(gw.clone, "commit", "-q", "-m", "Hotfix\n\nchangelog: Bug Fixes, Login, Hotfix")
    at(gw.clone, "push", "-q", "origin", "stages/prod")
    patch = at(gw.clone, "rev-parse", "HEAD")
    main_tree = at(gw.origin, "rev-parse", "main^{tree}")

    out = gitactions.merge(recorder().ctx, repo=str(gw.clone), source="stages/prod", into="main", strategy="ours")
    assert at(gw.origin, "rev-parse", "main") == out["sha"]
    assert at(gw.origin, "rev-parse", "main^{tree}") == main_tree  # ours: nothing of the patch's content
    assert at(gw.origin, "rev-list", "--parents", "-n1", "main").split()[1:] == [gw.main_sha, patch]


def test_annotated_tag_is_pushed(gw, recorder):
    out = gitactions.tag(recorder().ctx, repo=str(gw.clone), name="20261124093000", ref="main")
    assert at(gw.origin, "cat-file", "-t", "20261124093000") == "tag"
    assert at(gw.origin, "rev-parse", "20261124093000^{commit}") == gw.main_sha == out["sha"]
    assert "20261124093000 release" in at(gw.origin, "cat-file", "-p", "20261124093000")
    with pytest.raises(ActionError, match="tag 20261124093000 already exists"):
        gitactions.tag(recorder().ctx, repo=str(gw.clone), name="20261124093000")


FAKE_GPG = """#!/bin/sh
# stands in for gpg -bsau KEY: git needs SIG_CREATED on the status fd and an armored signature
cat >/dev/null
echo "[GNUPG:] SIG_CREATED D 1 8 00 1700000000 ABCDEF" >&2
printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nZmFrZQ==\\n-----END PGP SIGNATURE-----\\n'
"""


def test_signed_tag_hands_the_terminal_over(gw, recorder, tmp_path):
    gpg = tmp_path / "fake-gpg"
    gpg.write_text(FAKE_GPG)
    gpg.chmod(0o755)
    handed = []

    def handover(argv, env=None, cwd=None):
        handed.append(argv)
        extra = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gpg.program", "GIT_CONFIG_VALUE_0": str(gpg)}
        return subprocess.call(argv, env={**os.environ, **extra})

    gitactions.tag(recorder(handover=handover).ctx, repo=str(gw.clone), name="signed-1", sign="true")
    assert handed[0][:2] == ["git", "-C"] and "-s" in handed[0]
    assert "BEGIN PGP SIGNATURE" in at(gw.origin, "cat-file", "-p", "signed-1")

    with pytest.raises(ActionError, match=r"git tag -s signed-2 failed \(exit 1\): check gpg-agent"):
        gitactions.tag(recorder(handover=lambda argv, env=None, cwd=None: 1).ctx,
                       repo=str(gw.clone), name="signed-2", sign="true")


def test_revert_merge_commit_with_mainline_1(gw, recorder):
    at(gw.clone, "checkout", "-q", "main")
    merge = gw.merges["redis-sessions"]
    out = gitactions.revert(recorder().ctx, repo=str(gw.clone), commit=merge, branch="main", push="true")
    assert out["reverted"] == merge and at(gw.origin, "rev-parse", "main") == out["sha"]
    files = at(gw.origin, "ls-tree", "--name-only", "main").split()
    assert "redis-sessions.txt" not in files and "passkeys.txt" in files


def test_not_a_repository(tmp_path, recorder):
    with pytest.raises(ActionError, match="not a git repository"):
        gitactions.changelog(recorder().ctx, repo=str(tmp_path), base="a", head="b")
