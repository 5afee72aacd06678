"""git actions on a local clone (GitPython, imported inside the functions)."""

from __future__ import annotations

import functools
import re

from ..errors import ActionError
from ._params import flag, number
from .registry import ActionContext, action

CATEGORIES = ("User-Facing Improvements", "Bug Fixes", "Internal", "Upcoming Features")
CHANGELOG_LINE = re.compile(r"^[\s*-]*changelog\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
SKIP = "[skip changelog]"


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

    return git.Repo(path or ctx.cwd or ".", search_parent_directories=False)


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
    """Fetch, create a release branch (default stages/rc-DATE) at a sha and push it."""
    r = _repo(ctx, repo)
    r.git.fetch(remote)
    commit = _resolve(r, sha, remote)
    branch = name or f"stages/rc-{date or ctx.now().strftime('%Y-%m-%d')}"
    existing = [ref for ref in r.remote(remote).refs if ref.remote_head == branch]
    if existing and existing[0].commit.hexsha != commit:
        raise ActionError(f"{remote}/{branch} already exists at {existing[0].commit.hexsha[:9]}: "
                          f"choose another name or date")
    r.git.branch("-f", branch, commit)
    ctx.log(f"branch {branch} at {commit[:9]} ({r.commit(commit).summary})")
    if flag(push, "push"):
        r.git.push(remote, f"{commit}:refs/heads/{branch}")
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
    if flag(push, "push"):
        r.git.push(remote, f"{into}:refs/heads/{into}")
        ctx.log(f"pushed {into} to {remote}")
    return {"sha": head, "branch": into}


@action("git.tag")
@_git_errors
def tag(ctx: ActionContext, repo: str, name: str = "", ref: str = "HEAD", message: str = "",
        sign: str = "false", remote: str = "origin", push: str = "true") -> dict:
    """Create an annotated tag (default name: UTC timestamp); sign=true hands the terminal to gpg."""
    r = _repo(ctx, repo)
    name = name or ctx.now().strftime("%Y%m%d%H%M%S")
    message = message or f"{name} release"
    sha = _resolve(r, ref, remote) if ref != "HEAD" else r.head.commit.hexsha
    if name in [t.name for t in r.tags]:
        raise ActionError(f"tag {name} already exists in {r.working_dir}")
    if flag(sign, "sign"):
        code = ctx.run_interactive(["git", "-C", r.working_dir, "tag", "-s", name, "-m", message, sha])
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
    if flag(push, "push"):
        r.git.push(remote, f"{r.active_branch.name}:refs/heads/{r.active_branch.name}")
        ctx.log(f"pushed {r.active_branch.name} to {remote}")
    return {"sha": head, "reverted": target.hexsha, "branch": r.active_branch.name}


def parse_changelog(messages: list[tuple[str, str]]) -> dict:
    """login.gov's changelog_check: (sha, message) pairs -> entries by category, invalid and missing."""
    entries: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    invalid, missing, skipped = [], [], 0
    for sha, msg in messages:
        if SKIP in msg.lower():
            skipped += 1
            continue
        lines = CHANGELOG_LINE.findall(msg)
        if not lines:
            missing.append(f"{sha[:9]} {msg.strip().splitlines()[0] if msg.strip() else ''}")
            continue
        for line in lines:
            parts = [p.strip() for p in line.split(",", 2)]
            cat = next((c for c in CATEGORIES if c.lower() == parts[0].lower()), None)
            if len(parts) < 3 or not all(parts) or cat is None:
                invalid.append(f"{sha[:9]} changelog: {line.strip()}")
                continue
            entries[cat].append(f"{parts[1]}: {parts[2]} ({sha[:9]})")
    md = []
    for cat in CATEGORIES:
        if entries[cat]:
            md += [f"## {cat}", ""] + [f"- {e}" for e in entries[cat]] + [""]
    return {"markdown": "\n".join(md).strip(), "count": sum(len(v) for v in entries.values()),
            "counts": {c: len(v) for c, v in entries.items()}, "invalid": len(invalid),
            "invalid_entries": invalid, "missing": missing, "skipped": skipped}


@action("git.changelog")
@_git_errors
def changelog(ctx: ActionContext, repo: str, base: str, head: str = "HEAD", fetch: str = "false",
              require: str = "true") -> dict:
    """Changelog between two refs from `changelog: CATEGORY, SUBCATEGORY, CHANGE` lines."""
    r = _repo(ctx, repo)
    if flag(fetch, "fetch"):
        r.git.fetch("origin")
    b = _resolve(r, base, "origin")
    h = r.head.commit.hexsha if head == "HEAD" else _resolve(r, head, "origin")
    commits = [c for c in r.iter_commits(f"{b}..{h}", no_merges=True)]
    out = parse_changelog([(c.hexsha, c.message) for c in reversed(commits)])
    out["commits"] = len(commits)
    for line in out["invalid_entries"]:
        ctx.log(f"invalid changelog entry: {line} (categories: {', '.join(CATEGORIES)})")
    for line in out["missing"]:
        ctx.log(f"no changelog line: {line}")
    ctx.log(out["markdown"] or "(no changelog entries)")
    ctx.log(f"{out['count']} changelog entries from {len(commits)} commits ({base}..{head}); "
            f"{out['invalid']} invalid, {len(out['missing'])} missing, {out['skipped']} skipped")
    if flag(require, "require") and out["count"] == 0:
        raise ActionError(f"no valid changelog entries between {base} and {head}: add "
                          f"`changelog: CATEGORY, SUBCATEGORY, CHANGE` lines to the commits")
    return out
