"""git actions on a local clone (GitPython, imported inside the functions)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from ..errors import ActionError
from ._params import flag, number
from .registry import ActionContext, action

if TYPE_CHECKING:
    from git import Repo

# scripts/changelog_check.rb (identity-idp): a commit's first body line (else its subject) of the form
# `changelog: CATEGORY, SUBCATEGORY, CHANGE`; the category is the one within 3 edits of a known one.
CATEGORIES = ("User-Facing Improvements", "Bug Fixes", "Internal", "Upcoming Features")
LEGACY_CATEGORIES = {"Improvements": "User-Facing Improvements"}  # still accepted, filed as the new name
MAX_CATEGORY_DISTANCE = 3
CHANGELOG_LINE = re.compile(r"^(?:\* )?[cC]hangelog: ?(?P<category>[\w -/]{2,}), ?(?P<subcategory>[\w -]{2,}), "
                            r"?(?P<change>.+)$", re.ASCII)  # Ruby's \w is ASCII; `[ -/]` is a range, as there
SKIP = "[skip changelog]"
DEPENDABOT = "Signed-off-by: dependabot[bot] <support@github.com>"
SECURITY_ENTRY = {"category": "Internal", "subcategory": "Dependencies",
                  "change": "Update dependencies to resolve security advisories"}
LOG_FORMAT = "--pretty=title: %s%nbody:%b%nDELIMITER"  # the script's own, so subjects read the same

def _git_errors(func):
    @functools.wraps(func)
    def wrapper(ctx, *args, **kwargs):
        from git import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

        try:
            return func(ctx, *args, **kwargs)
        except (InvalidGitRepositoryError, NoSuchPathError) as err:
            raise ActionError(f"not a git repository: {err}") from None
        except GitCommandError as err:
            detail = [ln.strip() for ln in str(err.stderr or err.stdout or "").splitlines() if ln.strip()]
            verb = err.command[1] if isinstance(err.command, list) and len(err.command) > 1 else "command"
            last = detail[-1].strip("'") if detail else f"exit {err.status}"
            raise ActionError(f"git {verb} failed: {last}") from None

    return wrapper


def _repo(ctx: ActionContext, path: str):
    import git

    return ctx.closing(git.Repo(path or ctx.cwd or ".", search_parent_directories=False))


def _resolve(repo, ref: str, remote: str) -> str:
    """A sha for ref, preferring the remote's branch of that name."""
    for candidate in (f"{remote}/{ref}", ref):
        try:
            return repo.commit(candidate).hexsha
        except Exception:
            continue
    raise ActionError(f"unknown commit or branch {ref!r} in {repo.working_dir}: fetch, or check the name")


def _clean(repo) -> None:
    if repo.is_dirty(untracked_files=False):
        raise ActionError(f"{repo.working_dir} has uncommitted changes: commit or stash them first")


@action("git.release_branch")
@_git_errors
def release_branch(ctx: ActionContext, repo: str, sha: str, name: str = "", date: str = "",
                   remote: str = "origin", push: str = "true") -> dict:
    """Fetch, create a release branch (default stages/rc-DATE) at a sha and push it (git push -u)."""
    r = _repo(ctx, repo)
    r.git.fetch(remote)
    commit = _resolve(r, sha, remote)
    branch = name or f"stages/rc-{date or ctx.now().strftime('%Y-%m-%d')}"
    existing = [ref for ref in r.remote(remote).refs if ref.remote_head == branch]
    if existing and existing[0].commit.hexsha != commit:
        raise ActionError(f"{remote}/{branch} already exists at {existing[0].commit.hexsha[:9]}: "
                          f"choose another name or date")
    checked_out = not r.head.is_detached and r.active_branch.name == branch
    if checked_out and r.head.commit.hexsha != commit:
        # the seed's own commands leave you on the branch; git branch -f cannot move a checked-out branch
        _clean(r)
        r.git.reset("--keep", commit)
    elif not checked_out:
        r.git.branch("-f", branch, commit)
    ctx.log(f"branch {branch} at {commit[:9]} ({r.commit(commit).summary})"
            + (" (checked out here)" if checked_out else ""))
    if flag(push, "push"):
        r.git.push(remote, f"{commit}:refs/heads/{branch}")
        r.git.branch(f"--set-upstream-to={remote}/{branch}", branch)
        ctx.log(f"pushed {branch} to {remote}")
    return {"branch": branch, "sha": commit}


@action("git.merge")
@_git_errors
def merge(ctx: ActionContext, repo: str, source: str, into: str, strategy: str = "", message: str = "",
          remote: str = "origin", push: str = "true") -> dict:
    """Merge SOURCE into INTO (strategy e.g. "ours" to true-up after a patch release) and push."""
    from git import GitCommandError

    r = _repo(ctx, repo)
    _clean(r)
    r.git.fetch(remote)
    src = _resolve(r, source, remote)
    if into in [h.name for h in r.heads]:
        r.git.checkout(into)
        if f"{remote}/{into}" in [ref.name for ref in r.remote(remote).refs]:
            r.git.merge("--ff-only", f"{remote}/{into}")
    else:
        r.git.checkout("-b", into, f"{remote}/{into}")
    args = ["--no-ff", "-m", message or f"Merge {source} into {into}"]
    if strategy:
        args += ["-s", strategy]
    try:
        r.git.merge(*args, src)
    except GitCommandError:
        r.git.merge("--abort")
        raise ActionError(f"merging {source} into {into} conflicts: resolve it by hand (the merge was aborted)") from None
    head = r.head.commit.hexsha
    ctx.log(f"merged {source} ({src[:9]}) into {into}{f' with strategy {strategy}' if strategy else ''}: {head[:9]}")
    _push_branch(ctx, r, remote, into, push)
    return {"sha": head, "branch": into}


TAG_FORMAT = "%Y-%m-%dT%H%M%S"  # bin/tag-release: TAG=$(date -u +"%Y-%m-%dT%H%M%S")
# gpg asks for the passphrase on the terminal named by GPG_TTY; the seed exports GPG_TTY=$(tty) first
WITH_GPG_TTY = 'if t=$(tty); then GPG_TTY="$t"; export GPG_TTY; fi; exec "$@"'


@action("git.tag")
@_git_errors
def tag(ctx: ActionContext, repo: str, name: str = "", ref: str = "HEAD", message: str = "",
        sign: str = "false", remote: str = "origin", push: str = "true") -> dict:
    """Create an annotated tag (default name: bin/tag-release's UTC timestamp); sign=true hands the
    terminal to gpg with GPG_TTY set."""
    r = _repo(ctx, repo)
    name = name or ctx.now().strftime(TAG_FORMAT)
    message = message or f"{name} release"
    sha = _resolve(r, ref, remote) if ref != "HEAD" else r.head.commit.hexsha
    if name in [t.name for t in r.tags]:
        raise ActionError(f"tag {name} already exists in {r.working_dir}")
    if flag(sign, "sign"):
        argv = ["sh", "-c", WITH_GPG_TTY, "tag-release", "git", "-C", r.working_dir, "tag", "-s", name,
                "-m", message, sha]
        code = ctx.run_interactive(argv, env=dict(ctx.env) or None)
        if code != 0:
            raise ActionError(f"git tag -s {name} failed (exit {code}): check gpg-agent and your signing key")
    else:
        r.create_tag(name, ref=sha, message=message)
    ctx.log(f"tagged {sha[:9]} as {name}{' (signed)' if flag(sign, 'sign') else ''}")
    if flag(push, "push"):
        r.git.push(remote, f"refs/tags/{name}")
        ctx.log(f"pushed tag {name} to {remote}")
    return {"tag": name, "sha": sha}


@action("git.revert")
@_git_errors
def revert(ctx: ActionContext, repo: str, commit: str, branch: str = "", mainline: str = "1",
           remote: str = "origin", push: str = "false") -> dict:
    """Revert a commit (a merge commit with mainline 1) on a branch, optionally pushing it."""
    from git import GitCommandError

    r = _repo(ctx, repo)
    _clean(r)
    if branch:
        r.git.checkout(branch)
    target = r.commit(_resolve(r, commit, remote))
    args = ["--no-edit"] + (["-m", str(number(mainline, "mainline"))] if len(target.parents) > 1 else [])
    try:
        r.git.revert(*args, target.hexsha)
    except GitCommandError:
        r.git.revert("--abort")
        raise ActionError(f"reverting {target.hexsha[:9]} conflicts: resolve it by hand (the revert was aborted)") from None
    head = r.head.commit.hexsha
    ctx.log(f"reverted {target.hexsha[:9]} ({target.summary}) on {r.active_branch.name}: {head[:9]}")
    _push_branch(ctx, r, remote, r.active_branch.name, push)
    return {"sha": head, "reverted": target.hexsha, "branch": r.active_branch.name}


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (the script uses DidYouMean's)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _category(written: str) -> str | None:
    """The category within MAX_CATEGORY_DISTANCE edits (the known ones are at least 9 apart, so at most one)."""
    known = [*CATEGORIES, *LEGACY_CATEGORIES]
    near = [c for c in known if _distance(written, c) <= MAX_CATEGORY_DISTANCE]
    return LEGACY_CATEGORIES.get(near[0], near[0]) if near else None


def split_log(log: str) -> list[tuple[str, list[str]]]:
    """`git log LOG_FORMAT` -> (subject, non-empty body lines) per commit, as the script splits it."""
    commits = []
    for chunk in log.strip().split("DELIMITER"):
        if not chunk.strip():
            continue
        title, _, body = chunk.partition("\nbody:")
        lines = [ln for ln in title.splitlines() if ln]
        commits.append((lines[0].removeprefix("title: ") if lines else "",
                        [ln for ln in re.split(r"[\r\n]", body) if ln]))
    return commits


def _entry(title: str, lines: list[str]) -> dict | None:
    for line in [*lines, title]:
        if line == DEPENDABOT:
            return dict(SECURITY_ENTRY)
        m = CHANGELOG_LINE.match(line)
        if m:
            return m.groupdict()
    return None


def parse_changelog(commits: list[tuple[str, list[str]]], pull_url: str = "") -> dict:
    """changelog_check.rb's rules: (subject, body lines) per commit -> release notes, as the script prints
    them (entries under their category, then `!!! Invalid Changelog Entries !!!` and the commits with no
    valid line, for the reviewer to fix)."""
    entries, invalid, dropped, skipped = [], [], [], 0
    for title, lines in commits:
        if SKIP in title or any(SKIP in ln for ln in lines):
            skipped += 1
            continue
        found = _entry(title, lines)
        if found is None:
            invalid.append(title)
            continue
        category = _category(found["category"])
        if category is None:  # the script drops these without a word; we say so in the log
            dropped.append(f"{title}: {found['category']!r} is not a category")
            continue
        pr = re.search(r"\(#(\d+)\)", title)
        change = found["change"]
        entries.append({"category": category, "subcategory": found["subcategory"],
                        "change": change[:1].upper() + change[1:], "pr": pr.group(1) if pr else None})
    groups: dict[tuple[str, str], list[dict]] = {}
    for e in sorted(entries, key=lambda e: e["subcategory"]):
        groups.setdefault((e["category"], e["change"]), []).append(e)
    md = []
    for cat in CATEGORIES:
        mine = [(key, es) for key, es in groups.items() if key[0] == cat]
        if mine:
            md.append(f"## {cat}")
            for (_, change), es in mine:
                prs = sorted(e["pr"] for e in es if e["pr"])
                links = ", ".join(f"[#{n}]({pull_url.rstrip('/')}/{n})" if pull_url else f"#{n}" for n in prs)
                md.append(f"- {es[0]['subcategory']}: {change}{f' ({links})' if links else ''}")
            md.append("")
    text = "\n".join(md).strip()
    if invalid:
        text = f"{text}\n\n!!! Invalid Changelog Entries !!!\n" + "\n".join(invalid)
    return {"markdown": text.strip(), "count": len(entries),
            "counts": {c: sum(1 for e in entries if e["category"] == c) for c in CATEGORIES},
            "invalid": len(invalid), "invalid_entries": invalid, "dropped": dropped, "skipped": skipped}


@action("git.changelog")
@_git_errors
def changelog(ctx: ActionContext, repo: str, base: str, head: str = "HEAD", fetch: str = "false",
              require: str = "true", pull_url: str = "") -> dict:
    """Release notes between two refs, by changelog_check.rb's rules (`changelog: CATEGORY, SUB, CHANGE`)."""
    r = _repo(ctx, repo)
    if flag(fetch, "fetch"):
        r.git.fetch("origin")
    b = _resolve(r, base, "origin")
    h = r.head.commit.hexsha if head == "HEAD" else _resolve(r, head, "origin")
    commits = split_log(r.git.log(LOG_FORMAT, f"{b}..{h}"))
    out = parse_changelog(commits, pull_url)
    out["commits"] = len(commits)
    for line in out["dropped"]:
        ctx.log(f"dropped (category not within {MAX_CATEGORY_DISTANCE} edits of {', '.join(CATEGORIES)}): {line}")
    ctx.log(out["markdown"] or "(no changelog entries)")
    ctx.log(f"{out['count']} changelog entries from {len(commits)} commits ({base}..{head}); "
            f"{out['invalid']} without a valid changelog line, {len(out['dropped'])} dropped, "
            f"{out['skipped']} skipped")
    if flag(require, "require") and out["count"] == 0 and not out["skipped"]:
        raise ActionError(f"no valid changelog line between {base} and {head}: add `changelog: CATEGORY, "
                          f"SUBCATEGORY, CHANGE` to a commit, or [skip changelog]")
    return out


def _push_branch(ctx: ActionContext, r: Repo, remote: str, branch: str, push: Any) -> None:
    """Push the local `branch` to the same name on `remote`, when the step's `push` says so."""
    if flag(push, "push"):
        r.git.push(remote, f"{branch}:refs/heads/{branch}")
        ctx.log(f"pushed {branch} to {remote}")
