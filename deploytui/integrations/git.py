"""git actions on a local clone (GitPython, imported inside the functions)."""

from __future__ import annotations

from ..engine.actions import ActionContext, action
from ..errors import ActionError


@action("git.release_branch")
def release_branch(ctx: ActionContext, repo: str, sha: str, name: str = "", date: str = "",
                   remote: str = "origin", push: str = "true") -> dict:
    """Fetch, create a release branch (default stages/rc-DATE) at a sha and push it."""
    raise ActionError("not implemented yet")


@action("git.merge")
def merge(ctx: ActionContext, repo: str, source: str, into: str, strategy: str = "", message: str = "",
          remote: str = "origin", push: str = "true") -> dict:
    """Merge SOURCE into INTO (strategy e.g. "ours" to true-up after a patch release) and push."""
    raise ActionError("not implemented yet")


@action("git.tag")
def tag(ctx: ActionContext, repo: str, name: str = "", ref: str = "HEAD", message: str = "",
        sign: str = "false", remote: str = "origin", push: str = "true") -> dict:
    """Create an annotated tag (default name: UTC timestamp); sign=true hands the terminal to gpg."""
    raise ActionError("not implemented yet")


@action("git.revert")
def revert(ctx: ActionContext, repo: str, commit: str, branch: str = "", mainline: str = "1",
           remote: str = "origin", push: str = "false") -> dict:
    """Revert a commit (a merge commit with mainline 1) on a branch, optionally pushing it."""
    raise ActionError("not implemented yet")


@action("git.changelog")
def changelog(ctx: ActionContext, repo: str, base: str, head: str = "HEAD", fetch: str = "false",
              require: str = "true") -> dict:
    """Changelog between two refs from `changelog: CATEGORY, SUBCATEGORY, CHANGE` lines."""
    raise ActionError("not implemented yet")
