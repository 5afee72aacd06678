"""git.* on real repositories: a bare origin and a clone, laid out by the sandbox."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

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


def commit(path, message, name=None):
    """A commit with this message in the clone (a file per commit, so none is empty)."""
    name = name or f"f{len(list(path.iterdir()))}.txt"
    (path / name).write_text(message)
    at(path, "add", name)
    at(path, "commit", "-q", "-m", message)
    return at(path, "rev-parse", "HEAD")


# Squashed pull requests as identity-idp merges them, oldest first (subject, body).
SAMPLES = [
    ("Add passkey copy (#201)", "* Add passkey copy\n\n* changelog: User-Facing Improvements, Passkeys, clarify the copy"),
    ("Fix phone format (#202)", "Changelog: Bug fixes, Phone, format numbers"),
    ("Tidy account page (#203)", "changelog: Improvements, Account, tidy the page"),  # legacy name
    ("Typo category (#204)", "changelog: Bug Fixs, Login, handle lockout"),  # 1 edit from Bug Fixes
    ("changelog: Internal, CI, Cache gems (#205)", ""),  # the subject carries it
    ("Bump nokogiri (#206)", "Signed-off-by: dependabot[bot] <support@github.com>"),
    ("Lower case (#207)", "changelog:internal,Sessions,move to redis"),
    ("Two lines (#208)", "changelog: Bug Fixes, MFA, first\nchangelog: Internal, MFA, second"),  # the first wins
    ("Skip (#209)", "[skip changelog]"),
    ("No line (#210)", ""),
    ("Indented (#211)", "  changelog: Bug Fixes, Login, indented"),  # not at the start of the line
    ("Far category (#212)", "changelog: Security, Login, rotate keys"),  # no category within 3 edits
    ("Part 2 (#213)", "changelog: Bug Fixes, Phone, format numbers"),  # same change as #202: one line
]
PULL = "https://github.com/18F/identity-idp/pull"
# What scripts/changelog_check.rb -b BASE -s HEAD prints for SAMPLES (worked out from the script).
EXPECTED = f"""## User-Facing Improvements
- Account: Tidy the page ([#203]({PULL}/203))
- Passkeys: Clarify the copy ([#201]({PULL}/201))

## Bug Fixes
- Login: Handle lockout ([#204]({PULL}/204))
- MFA: First ([#208]({PULL}/208))
- Phone: Format numbers ([#202]({PULL}/202), [#213]({PULL}/213))

## Internal
- CI: Cache gems (#205) ([#205]({PULL}/205))
- Dependencies: Update dependencies to resolve security advisories ([#206]({PULL}/206))
- Sessions: Move to redis ([#207]({PULL}/207))

!!! Invalid Changelog Entries !!!
Indented (#211)
No line (#210)"""


def test_changelog_follows_changelog_check_rb(gw, recorder):
    at(gw.clone, "checkout", "-q", "-b", "work", "origin/main")
    base = at(gw.clone, "rev-parse", "HEAD")
    for subject, body in SAMPLES:
        commit(gw.clone, f"{subject}\n\n{body}".strip())
    r = recorder()
    out = gitactions.changelog(r.ctx, repo=str(gw.clone), base=base, head="HEAD", pull_url=PULL)
    assert out["markdown"] == EXPECTED
    assert out["count"] == 9 and out["skipped"] == 1 and out["invalid"] == 2
    assert out["counts"] == {"User-Facing Improvements": 2, "Bug Fixes": 4, "Internal": 3, "Upcoming Features": 0}
    assert out["dropped"] == ["Far category (#212): 'Security' is not a category"]
    assert "dropped (category not within 3 edits" in r.text


def test_changelog_requires_a_valid_line_unless_skipped(gw, recorder):
    at(gw.clone, "checkout", "-q", "-b", "work", "origin/main")
    base = at(gw.clone, "rev-parse", "HEAD")
    commit(gw.clone, "No changelog here")
    with pytest.raises(ActionError, match="no valid changelog line between .* add `changelog: CATEGORY"):
        gitactions.changelog(recorder().ctx, repo=str(gw.clone), base=base)
    commit(gw.clone, "Bump a gem\n\n[skip changelog]")
    out = gitactions.changelog(recorder().ctx, repo=str(gw.clone), base=base)  # the script exits 0 then
    assert out["count"] == 0 and out["markdown"] == "!!! Invalid Changelog Entries !!!\nNo changelog here"


def test_changelog_between_prod_and_main(gw, recorder):
    out = gitactions.changelog(recorder().ctx, repo=str(gw.clone), base="stages/prod", head="main")
    assert out["markdown"].startswith("## User-Facing Improvements\n- Account: Tidy the account page\n"
                                      "- In-person proofing: Clarify the barcode page")
    assert "Format international phone numbers" not in out["markdown"]  # already in production
    assert out["skipped"] == 1


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


def test_default_tag_name_is_bin_tag_releases(gw, recorder):
    at_174942 = datetime(2026, 11, 23, 17, 49, 42, tzinfo=UTC).timestamp()
    out = gitactions.tag(recorder(clock=lambda: at_174942).ctx, repo=str(gw.clone), ref="main")
    assert out["tag"] == "2026-11-23T174942"  # TAG=$(date -u +"%Y-%m-%dT%H%M%S")
    assert "2026-11-23T174942 release" in at(gw.origin, "cat-file", "-p", "2026-11-23T174942")


FAKE_GPG = """#!/bin/sh
# stands in for gpg -bsau KEY: notes the terminal it was told to ask on; git needs SIG_CREATED on the
# status fd and an armored signature
echo "$GPG_TTY" > "$GPG_TTY_SEEN"
cat >/dev/null
echo "[GNUPG:] SIG_CREATED D 1 8 00 1700000000 ABCDEF" >&2
printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nZmFrZQ==\\n-----END PGP SIGNATURE-----\\n'
"""


def on_a_terminal(argv, env=None, cwd=None):
    """A hand-over like the app's: the program gets a real terminal (a pty) as stdin/stdout/stderr."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                start_new_session=True)
        code = proc.wait(timeout=30)
        on_a_terminal.tty = os.ttyname(slave)
        return code
    finally:
        os.close(slave)
        os.close(master)


def test_signed_tag_hands_the_terminal_over_with_gpg_tty(gw, recorder, tmp_path):
    gpg = tmp_path / "fake-gpg"
    gpg.write_text(FAKE_GPG)
    gpg.chmod(0o755)
    seen = tmp_path / "gpg-tty"
    env = {**os.environ, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gpg.program", "GIT_CONFIG_VALUE_0": str(gpg),
           "GPG_TTY_SEEN": str(seen)}
    env.pop("GPG_TTY", None)
    gitactions.tag(recorder(env, handover=on_a_terminal).ctx, repo=str(gw.clone), name="signed-1", sign="true")
    assert "BEGIN PGP SIGNATURE" in at(gw.origin, "cat-file", "-p", "signed-1")
    assert seen.read_text().strip() == on_a_terminal.tty  # export GPG_TTY=$(tty), as the seed says

    with pytest.raises(ActionError, match=r"git tag -s signed-2 failed \(exit 1\): check gpg-agent"):
        gitactions.tag(recorder(handover=lambda argv, env=None, cwd=None: 1).ctx,
                       repo=str(gw.clone), name="signed-2", sign="true")


def test_release_branch_when_it_is_already_checked_out(gw, recorder):
    # the seed's own commands: git checkout SHA; git checkout -b stages/rc-DATE
    at(gw.clone, "checkout", "-q", gw.main_sha)
    at(gw.clone, "checkout", "-q", "-b", "stages/rc-2026-11-24")
    r = recorder()
    out = gitactions.release_branch(r.ctx, repo=str(gw.clone), sha=gw.main_sha, name="stages/rc-2026-11-24")
    assert out["sha"] == gw.main_sha
    assert at(gw.origin, "rev-parse", "refs/heads/stages/rc-2026-11-24") == gw.main_sha
    assert at(gw.clone, "rev-parse", "--abbrev-ref", "stages/rc-2026-11-24@{upstream}") == \
        "origin/stages/rc-2026-11-24"  # like git push -u
    # checked out at another commit (a clean tree): the branch moves to the sha
    at(gw.clone, "checkout", "-q", "-b", "stages/rc-2026-11-26", gw.prod_sha)
    gitactions.release_branch(recorder().ctx, repo=str(gw.clone), sha=gw.main_sha, name="stages/rc-2026-11-26")
    assert at(gw.clone, "rev-parse", "HEAD") == gw.main_sha
    assert at(gw.origin, "rev-parse", "refs/heads/stages/rc-2026-11-26") == gw.main_sha


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


def _cat_files() -> list[int]:
    """`git cat-file` processes this test process started (GitPython keeps them per open repository)."""
    me, found = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError):
            continue
        if ppid == me and b"cat-file" in cmd:
            found.append(int(pid))
    return found


def test_an_action_leaves_no_git_processes_behind(gw, recorder):
    before = set(_cat_files())  # other tests' repositories, not this one's
    r = recorder()
    gitactions.changelog(r.ctx, repo=str(gw.clone), base="stages/prod", head="main")
    assert set(_cat_files()) - before  # GitPython's readers, while the repository is open
    r.ctx.close()  # what the engine does when an action ends
    assert set(_cat_files()) - before == set()
