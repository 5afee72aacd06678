"""GitHub actions (PyGithub, imported inside the functions). Token from GITHUB_TOKEN or gh's hosts.yml;
base URL from `api_url` or GITHUB_API_URL (Enterprise, tests)."""

from __future__ import annotations

from ..engine.actions import ActionContext, action
from ..errors import ActionError


@action("github.next_release")
def next_release(ctx: ActionContext, repo: str, patch: str = "false", prefix: str = "RC",
                 api_url: str = "") -> dict:
    """From the last `RC N` release, the next full (N+1) or patch (N.1) release number."""
    raise ActionError("not implemented yet")


@action("github.pull_request")
def pull_request(ctx: ActionContext, repo: str, head: str, base: str, title: str, body: str = "",
                 labels: str = "", draft: str = "false", api_url: str = "") -> dict:
    """Open a pull request (or reuse the open one for the same head and base) with labels."""
    raise ActionError("not implemented yet")


@action("github.merge")
def merge(ctx: ActionContext, repo: str, number: str, method: str = "merge", title: str = "",
          message: str = "", api_url: str = "") -> dict:
    """Merge a pull request; method `merge` by default (never squash unless asked)."""
    raise ActionError("not implemented yet")


@action("github.release")
def release(ctx: ActionContext, repo: str, tag: str, title: str = "", notes: str = "", pr: str = "",
            target: str = "", prerelease: str = "false", draft: str = "false", api_url: str = "") -> dict:
    """Create a release for a tag; notes default to the body of pull request `pr`."""
    raise ActionError("not implemented yet")


@action("github.tag")
def tag(ctx: ActionContext, repo: str, name: str, sha: str, api_url: str = "") -> dict:
    """Create a lightweight tag ref (e.g. staging-N) at a sha."""
    raise ActionError("not implemented yet")


@action("github.workflow")
def workflow(ctx: ActionContext, repo: str, workflow: str, ref: str = "main", inputs: dict | str = "",
             timeout: str = "3600", poll: str = "10", api_url: str = "") -> dict:
    """Dispatch a workflow_dispatch workflow with inputs and follow its run to the conclusion."""
    raise ActionError("not implemented yet")
