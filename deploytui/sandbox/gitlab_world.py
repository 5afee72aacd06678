"""login.gov's GitLab (identity-pki: its merge requests and releases page) in the rehearsal world, served
under /_world/gitlab/api/v4 by the world's server. A merge request is kept as the world's GitHub keeps a
pull request (in a repository named `gitlab:GROUP/PROJECT`), so review, pipeline and protection follow
the same rules (rules.py); only the API's shape is GitLab's."""

from __future__ import annotations

import re
from typing import Any

from .github_world import GitHubWorld, Repo

PREFIX = "/_world/gitlab/"
API = PREFIX + "api/v4"


def project(world: GitHubWorld, path: str) -> Repo:
    return world.repo(f"gitlab:{path}")


def serve(world: GitHubWorld) -> None:
    """Answer GitLab's API on the world's server (call once the server runs)."""

    def handle(method: str, path: str, query: dict[str, str], body: Any) -> tuple:
        m = re.fullmatch(r"api/v4/projects/(.+?)/(releases|merge_requests)(?:/(\d+))?(/merge)?", path)
        if not m:
            return 404, {"message": "404 Not Found"}
        repo, what, iid, merge = project(world, m.group(1)), m.group(2), m.group(3), m.group(4)
        body = body if isinstance(body, dict) else {}
        if what == "releases" and method == "GET":
            return 200, [{"name": r["name"], "tag_name": r["tag_name"], "description": r["body"]}
                         for r in reversed(repo.releases)], {"X-Next-Page": ""}
        if what != "merge_requests":
            return 405, {"message": "405 Method Not Allowed"}
        if iid is None and method == "GET":
            state = query.get("state", "all")
            mrs = [p for p in repo.pulls if state in ("all", _state(p))
                   and query.get("source_branch", p["head"]["ref"]) == p["head"]["ref"]
                   and query.get("target_branch", p["base"]["ref"]) == p["base"]["ref"]]
            return 200, [_mr(world, repo, p) for p in mrs], {"X-Next-Page": ""}
        if iid is None and method == "POST":
            status, pr = world.handle("POST", f"/repos/{repo.full_name}/pulls", {}, {
                "head": body.get("source_branch"), "base": body.get("target_branch"), "title": body.get("title"),
                "body": body.get("description", "")})[:2]
            if status != 201:
                return 409, {"message": [pr.get("message", "")]}
            created = _pull(repo, pr["number"])
            assert created is not None  # the world's GitHub has just made it
            return 201, _mr(world, repo, created)
        pr = _pull(repo, int(iid or 0))
        if pr is None:
            return 404, {"message": "404 Not found"}
        if merge and method == "PUT":
            status, out = world.handle("PUT", f"/repos/{repo.full_name}/pulls/{pr['number']}/merge", {},
                                       {"merge_method": "merge"})[:2]
            if status != 200:  # not approved, the pipeline not passed, or already merged
                return 405, {"message": "405 Method Not Allowed"}
            return 200, _mr(world, repo, pr)
        if method == "PUT":
            for name in [x.strip() for x in str(body.get("add_labels", "")).split(",") if x.strip()]:
                world.handle("POST", f"/repos/{repo.full_name}/issues/{pr['number']}/labels", {}, [name])
            return 200, _mr(world, repo, pr)
        return 200, _mr(world, repo, pr)

    world.services[PREFIX] = handle


def _pull(repo: Repo, number: int) -> dict | None:
    return next((p for p in repo.pulls if p["number"] == number), None)


def _state(pr: dict) -> str:
    """GitLab's word for a merge request's state: opened, merged or closed (unmerged)."""
    return "merged" if pr["merged"] else "opened" if pr["state"] == "open" else "closed"


def _mr(world: GitHubWorld, repo: Repo, pr: dict) -> dict:
    name = repo.full_name.removeprefix("gitlab:")
    blocked = pr["state"] == "open" and world._merge_refusal(repo, pr) is not None
    return {"iid": pr["number"], "title": pr["title"], "description": pr["body"], "state": _state(pr),
            "source_branch": pr["head"]["ref"], "target_branch": pr["base"]["ref"], "sha": pr["head"]["sha"],
            "merge_commit_sha": pr["merge_commit_sha"], "labels": [x["name"] for x in pr["labels"]],
            "detailed_merge_status": "not_approved" if blocked else "mergeable",
            "web_url": f"https://gitlab.login.gov/{name}/-/merge_requests/{pr['number']}"}
