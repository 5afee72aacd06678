"""The world's HTTP server on 127.0.0.1: a small GitHub REST API, Slack's incoming webhooks, and the
other documents and services a rehearsal needs (under /_world/), played by the world's rules (rules.py).

GitHub answers what the github.* actions and `gh` call through PyGithub (repositories, releases, pull
requests with labels, reviews and merges under branch protection, git refs, GitHub Actions check runs
and workflow runs that queue, run and conclude as world time passes) and RECORDS every request, so a
rehearsal can show what would have been sent. Slack answers 429 with Retry-After when posted to too
fast, and 503 while it is down.

    gh = GitHubWorld(clock=WorldClock(scale=60)).start()   # gh.url -> http://127.0.0.1:PORT
    gh.seed_releases("18F/identity-idp", ["RC 110", "RC 111"])
    gh.writes(); gh.snapshot(); gh.stop()
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from hashlib import sha1
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import rules
from .clock import WorldClock

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
Reply = tuple  # (status, payload) or (status, payload, headers)


def fake_sha(*parts: Any) -> str:
    return sha1("\0".join(str(p) for p in parts).encode()).hexdigest()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    token: bool = False  # it carried a token (Authorization), as a private repository's read needs

    def line(self) -> str:
        """One line for a screen: `POST /repos/o/r/pulls  "Deploy RC 112 to Prod"`."""
        what = ""
        if isinstance(self.body, dict):
            keys = [k for k in ("title", "tag_name", "name", "ref", "sha", "merge_method", "text", "labels", "inputs")
                    if k in self.body][:2]
            what = "  ".join(f"{k}={json.dumps(self.body[k])[:60]}" for k in keys)
        elif isinstance(self.body, list):
            what = json.dumps(self.body)[:80]
        return f"{self.method} {self.path}" + (f"  {what}" if what else "") + f"  -> {self.status}"


@dataclass
class Repo:
    full_name: str
    releases: list[dict] = field(default_factory=list)  # oldest first
    pulls: list[dict] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/tags/x" -> sha
    labels: dict[str, dict] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    checks: dict[str, list[dict]] = field(default_factory=dict)  # sha -> check runs
    ci: list[str] = field(default_factory=lambda: ["build"])  # check runs CI makes on each new head
    protected: dict[str, dict] = field(default_factory=dict)  # branch -> {"reviews": n, "checks": [...]}
    tag_workflows: list[list[str]] = field(default_factory=list)  # [regex, workflow file] started by a tag
    fail: dict[str, str] = field(default_factory=dict)  # workflow file -> conclusion other than success
    origin: str = ""  # a local bare repository whose branches are this repository's
    files: dict[str, str] = field(default_factory=dict)  # path -> text on the default branch (contents API)


class GitHubWorld:
    """The server's state, its HTTP server, and what it recorded."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, owner_login: str = "rehearsal-bot",
                 clock: WorldClock | None = None, faults: frozenset[str] | set[str] = frozenset()):
        if host != "127.0.0.1":
            raise ValueError("the fake GitHub only listens on 127.0.0.1")
        self.host, self.port, self.login = host, port, owner_login
        self.clock = clock or WorldClock()
        self.faults = frozenset(faults)
        self.repos: dict[str, Repo] = {}
        self.documents: dict[str, Any] = {}  # "/_world/..." -> JSON value, or a callable giving it
        self.services: dict[str, Callable[[str, str, dict, Any], Reply]] = {}  # "/_world/PREFIX" -> handler
        self.slack: list[dict] = []  # bodies posted to /_world/slack
        self.requests: list[Recorded] = []
        # on_merge(full_name, pull) when a pull request is merged: the merge sha (a rehearsal merges the
        # branch in its local origin) or None; an exception refuses the merge
        self.on_merge: Callable[[str, dict], str | None] | None = None
        # conclusion(repo, run) when a workflow run is created: (conclusion, jobs as [(name, conclusion)])
        self.conclusion: Callable[[Repo, dict], tuple[str, list[tuple[str, str]]]] | None = None
        self.on_ref: Callable[[Repo, str, str], None] | None = None  # a ref was created: (repo, ref, sha)
        self.before_read: Callable[[], None] | None = None  # bring time-driven state up to date
        self.default_ci: list[str] = ["build"]  # check runs CI makes, for repositories not told otherwise
        self.fresh_commits = False  # a commit first seen now was just pushed (its CI starts now)
        self._ids = itertools.count(1000)
        self._slack_tokens, self._slack_at = float(rules.SLACK_BURST), self.clock.now()
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> GitHubWorld:
        world = self

        class Handler(_Handler):
            pass

        Handler.world = world
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubWorld:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- seeding ------------------------------------------------------------------------------
    def repo(self, full_name: str) -> Repo:
        with self._lock:
            if full_name not in self.repos:
                self.repos[full_name] = Repo(full_name, ci=list(self.default_ci))
            return self.repos[full_name]

    def seed_releases(self, full_name: str, titles: list[str]) -> None:
        repo = self.repo(full_name)
        for i, title in enumerate(titles):
            tag = f"2026-{i + 1:02d}-01T000000"  # bin/tag-release's names
            repo.releases.append(self._release(repo, {"tag_name": tag, "name": title, "body": f"Notes of {title}"}))
            repo.refs[f"refs/tags/{tag}"] = fake_sha(full_name, tag)

    def seed_pull(self, full_name: str, head: str, base: str, title: str, body: str = "",
                  approved: bool = False) -> int:
        """A pull request opened before the rehearsal (`approved`: reviewed, its CI long finished)."""
        repo = self.repo(full_name)
        pr = self._pull(repo, {"head": head, "base": base, "title": title, "body": body})
        if approved:
            pr["_opened"] = self.clock.now() - 86400 * 2
            self._ci(repo, pr["head"]["sha"], since=pr["_opened"])
        repo.pulls.append(pr)
        return pr["number"]

    def seed_run(self, full_name: str, workflow: str, branch: str, sha: str, conclusion: str = "success",
                 days_ago: float = 14.0, event: str = "push") -> dict:
        """A workflow run that finished before the rehearsal."""
        repo = self.repo(full_name)
        return self._new_run(repo, workflow, branch, sha, event, {}, started=self.clock.now() - days_ago * 86400,
                             outcome=(conclusion, [(workflow.rsplit(".", 1)[0], conclusion)]))

    def add_document(self, path: str, value: Any) -> str:
        """Serve `value` (or what the callable `value()` gives) as JSON at /_world/PATH; returns its URL."""
        path = "/_world/" + path.lstrip("/")
        self.documents[path] = value
        return self.url + path

    # -- what happened ------------------------------------------------------------------------
    def writes(self) -> list[Recorded]:
        """The requests that would have changed GitHub (and Slack posts), in order."""
        return [r for r in self.requests if r.method in WRITE_METHODS]

    def recorded_lines(self) -> list[str]:
        return [r.line() for r in self.writes()]

    # -- time-driven state ----------------------------------------------------------------------
    def head_sha(self, repo: Repo, ref: str) -> str:
        """The commit a branch, tag or sha names: from the local origin when there is one."""
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            return ref
        for key in (ref, f"refs/tags/{ref}", f"refs/heads/{ref}"):
            if key in repo.refs:
                return repo.refs[key]
        if repo.origin:
            import subprocess

            got = subprocess.run(["git", "--git-dir", repo.origin, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
                                 capture_output=True, text=True)
            if got.returncode == 0:
                return got.stdout.strip()
        return fake_sha(repo.full_name, ref)

    def _ci(self, repo: Repo, sha: str, since: float | None = None) -> list[dict]:
        """CI's check runs on a commit, started when the commit was pushed (or `since`)."""
        if sha not in repo.checks:
            started = self.clock.now() if since is None else since
            red = "ci-red" in self.faults and since is None  # a commit pushed in the rehearsal goes red
            repo.checks[sha] = [{"id": next(self._ids), "name": name, "head_sha": sha, "_t0": started,
                                 "_conclusion": "failure" if red and k == 0 else "success"}
                                for k, name in enumerate(repo.ci)]
        return repo.checks[sha]

    def _check_json(self, repo: Repo, c: dict) -> dict:
        age = self.clock.since(c["_t0"])
        status = "queued" if age < rules.WORKFLOW_QUEUE_SECONDS else \
            "in_progress" if age < rules.CI_SECONDS else "completed"
        return {"id": c["id"], "name": c["name"], "head_sha": c["head_sha"], "status": status,
                "conclusion": c["_conclusion"] if status == "completed" else None,
                "started_at": _iso(c["_t0"]), "app": {"slug": "github-actions", "name": "GitHub Actions"},
                "completed_at": _iso(self.clock.at(c["_t0"], rules.CI_SECONDS)) if status == "completed" else None,
                "html_url": f"https://github.com/{repo.full_name}/runs/{c['id']}",
                "url": self._api(f"/repos/{repo.full_name}/check-runs/{c['id']}")}

    def approvals(self, pr: dict) -> list[dict]:
        """A teammate approves a pull request a while after it was opened (nobody approves their own)."""
        opened = pr.get("_opened", pr.get("_t0", 0))
        if pr["state"] == "open" or pr.get("merged"):
            if self.clock.since(opened) >= rules.REVIEW_SECONDS:
                return [{"id": pr["id"] + 1, "user": {"login": "rehearsal-reviewer"}, "state": "APPROVED",
                         "submitted_at": _iso(self.clock.at(opened, rules.REVIEW_SECONDS))}]
        return []

    def _merge_refusal(self, repo: Repo, pr: dict) -> str | None:
        rule = repo.protected.get(pr["base"]["ref"])
        if not rule:
            return None
        if len(self.approvals(pr)) < rule.get("reviews", 0):
            return rules.MERGE_NEEDS_REVIEW.format(n=rule["reviews"])
        checks = {c["name"]: self._check_json(repo, c) for c in self._ci(repo, pr["head"]["sha"])}
        for name in rule.get("checks", ()):
            c = checks.get(name)
            if c is None or c["status"] != "completed":
                return rules.MERGE_CHECK_EXPECTED.format(name=name)
            if c["conclusion"] != "success":
                return rules.MERGE_CHECK_FAILING.format(name=name)
        return None

    def _new_run(self, repo: Repo, workflow: str, branch: str, sha: str, event: str, inputs: dict,
                 started: float | None = None, outcome: tuple[str, list] | None = None) -> dict:
        rid = next(self._ids)
        run = {"id": rid, "name": workflow.rsplit(".", 1)[0], "workflow_id": self._workflow(repo, workflow)["id"],
               "head_branch": branch, "head_sha": sha, "event": event, "status": "queued", "conclusion": None,
               "run_number": len(repo.runs) + 1, "display_title": f"{workflow.rsplit('.', 1)[0]} on {branch}",
               "path": f".github/workflows/{workflow}",
               "url": self._api(f"/repos/{repo.full_name}/actions/runs/{rid}"),
               "jobs_url": self._api(f"/repos/{repo.full_name}/actions/runs/{rid}/jobs"),
               "logs_url": self._api(f"/repos/{repo.full_name}/actions/runs/{rid}/logs"),
               "html_url": f"https://github.com/{repo.full_name}/actions/runs/{rid}",
               "_workflow": workflow, "_inputs": inputs, "_t0": self.clock.now() if started is None else started}
        if outcome is None:
            outcome = self.conclusion(repo, run) if self.conclusion else \
                (repo.fail.get(workflow, "success"), [(run["name"], repo.fail.get(workflow, "success"))])
        run["_conclusion"], run["_jobs"] = outcome[0], [list(j) for j in outcome[1]]
        repo.runs.append(run)
        return run

    def run_json(self, run: dict) -> dict:
        age = self.clock.since(run["_t0"])
        status = "queued" if age < rules.WORKFLOW_QUEUE_SECONDS else \
            "in_progress" if age < rules.WORKFLOW_QUEUE_SECONDS + rules.WORKFLOW_RUN_SECONDS else "completed"
        out = {k: v for k, v in run.items() if not k.startswith("_")}
        out.update(status=status, conclusion=run["_conclusion"] if status == "completed" else None,
                   created_at=_iso(run["_t0"]), run_started_at=_iso(run["_t0"]),
                   updated_at=_iso(min(self.clock.now(), self.clock.at(
                       run["_t0"], rules.WORKFLOW_QUEUE_SECONDS + rules.WORKFLOW_RUN_SECONDS))))
        return out

    def finished(self, run: dict) -> bool:
        return self.run_json(run)["status"] == "completed"

    def _jobs_json(self, run: dict) -> list[dict]:
        public = self.run_json(run)
        jobs = []
        for k, (name, conclusion) in enumerate(run["_jobs"]):
            if public["status"] != "completed":  # jobs run one after another; a failed one ends the run
                status, concl = ("in_progress" if k == 0 and public["status"] == "in_progress" else "queued"), None
            else:
                status, concl = "completed", conclusion
            jobs.append({"id": run["id"] * 10 + k, "run_id": run["id"], "name": name, "status": status,
                         "conclusion": concl, "url": run["url"] + f"/jobs/{k}",
                         "html_url": run["html_url"] + f"/job/{k}"})
        return jobs

    # -- snapshot ---------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            return {"repos": {k: asdict(r) for k, r in self.repos.items()},
                    "documents": {k: v for k, v in self.documents.items() if not callable(v)},
                    "slack": list(self.slack), "requests": [asdict(r) for r in self.requests],
                    "next_id": next(self._ids), "port": self.port}

    def restore(self, state: dict) -> None:
        with self._lock:
            self.repos = {k: Repo(**r) for k, r in state["repos"].items()}
            self.documents.update(state["documents"])
            self.slack = list(state["slack"])
            self.requests = [Recorded(**r) for r in state["requests"]]
            self._ids = itertools.count(state["next_id"])

    # -- JSON shapes --------------------------------------------------------------------------
    def _api(self, path: str) -> str:
        return self.url + path

    def _repo_json(self, repo: Repo) -> dict:
        owner, name = repo.full_name.split("/", 1)
        return {"id": int(fake_sha(repo.full_name)[:7], 16), "name": name, "full_name": repo.full_name,
                "owner": {"login": owner, "id": 1, "type": "Organization", "url": self._api(f"/users/{owner}")},
                "private": False, "default_branch": "main", "url": self._api(f"/repos/{repo.full_name}"),
                "html_url": f"https://github.com/{repo.full_name}"}

    def _release(self, repo: Repo, body: dict) -> dict:
        rid = next(self._ids)
        tag = body.get("tag_name", "")
        now = _iso(self.clock.now())
        return {"id": rid, "tag_name": tag, "name": body.get("name") or tag, "body": body.get("body", ""),
                "draft": bool(body.get("draft", False)), "prerelease": bool(body.get("prerelease", False)),
                "target_commitish": body.get("target_commitish", "main"), "created_at": now,
                "published_at": now, "author": {"login": self.login},
                "url": self._api(f"/repos/{repo.full_name}/releases/{rid}"),
                "html_url": f"https://github.com/{repo.full_name}/releases/tag/{tag}",
                "assets": [], "upload_url": self._api(f"/repos/{repo.full_name}/releases/{rid}/assets{{?name,label}}")}

    def _pull(self, repo: Repo, body: dict) -> dict:
        number = len(repo.pulls) + 1  # numbers follow creation order
        head_ref = str(body.get("head", "")).split(":", 1)[-1]
        base = body.get("base", "main")
        owner = repo.full_name.split("/")[0]
        return {"id": next(self._ids), "number": number, "state": "open", "title": body.get("title", ""),
                "body": body.get("body", ""), "draft": bool(body.get("draft", False)),
                "head": {"ref": head_ref, "label": f"{owner}:{head_ref}", "sha": self.head_sha(repo, head_ref)},
                "base": {"ref": base, "label": f"{owner}:{base}", "sha": self.head_sha(repo, base)},
                "merged": False, "mergeable": True, "mergeable_state": "blocked" if base in repo.protected else "clean",
                "merged_at": None, "merge_commit_sha": None, "labels": [], "user": {"login": self.login},
                "created_at": _iso(self.clock.now()), "_opened": self.clock.now(),
                "url": self._api(f"/repos/{repo.full_name}/pulls/{number}"),
                "issue_url": self._api(f"/repos/{repo.full_name}/issues/{number}"),
                "html_url": f"https://github.com/{repo.full_name}/pull/{number}"}

    def _pull_json(self, repo: Repo, pr: dict) -> dict:
        out = {k: v for k, v in pr.items() if not k.startswith("_")}
        if pr["state"] == "open" and pr["base"]["ref"] in repo.protected:
            out["mergeable_state"] = "blocked" if self._merge_refusal(repo, pr) else "clean"
        return out

    def _label(self, repo: Repo, name: str) -> dict:
        if name not in repo.labels:
            repo.labels[name] = {"id": next(self._ids), "name": name, "color": "ededed", "description": "",
                                 "url": self._api(f"/repos/{repo.full_name}/labels/{name}")}
        return repo.labels[name]

    def _workflow(self, repo: Repo, wid: str) -> dict:
        return {"id": int(fake_sha(repo.full_name, wid)[:7], 16), "name": wid.rsplit(".", 1)[0], "path":
                f".github/workflows/{wid}", "state": "active",
                "url": self._api(f"/repos/{repo.full_name}/actions/workflows/{wid}"),
                "html_url": f"https://github.com/{repo.full_name}/actions/workflows/{wid}"}

    # -- routing ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        with self._lock:
            if self.before_read is not None:
                self.before_read()
            return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        if path.startswith("/_world/"):
            return self._world_route(method, path, query, body)
        if path == "/user":
            return 200, {"login": self.login, "id": 1, "type": "User", "url": self._api("/user")}
        if path == "/rate_limit":
            core = {"limit": 5000, "remaining": 4999, "reset": 4102444800, "used": 1}
            return 200, {"resources": {"core": core, "search": core, "graphql": core}, "rate": core}
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m:
            return 404, {"message": "Not Found (the rehearsal GitHub does not know this call)"}
        repo, rest = self.repo(m.group(1)), m.group(2) or ""
        return self._repo_route(repo, method, rest, query, body)

    def _world_route(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        if path == "/_world/slack" and method == "POST":
            return self._slack(body)
        if method == "GET" and path in self.documents:
            value = self.documents[path]
            return 200, value() if callable(value) else value
        for prefix, service in self.services.items():
            if path.startswith(prefix):
                return service(method, path[len(prefix):], query, body)
        m = re.fullmatch(r"/_world/release/applications/([^/]+)\.json", path)
        if m and method == "GET":
            apps = self.documents.get("/_world/release/applications", {})
            app = apps.get(m.group(1), {})
            return 200, {"name": m.group(1), "deploy_freeze": bool(app.get("deploy_freeze", False)),
                         "automatic_deploys_enabled": bool(app.get("automatic_deploys_enabled", True)),
                         "notes": app.get("notes", "")}
        return 404, {"message": f"no document at {path} in the rehearsal world"}

    def _slack(self, body: Any) -> Reply:
        if "slack-down" in self.faults:
            return 503, "service_unavailable"
        now = self.clock.now()
        self._slack_tokens = min(float(rules.SLACK_BURST),
                                 self._slack_tokens + self.clock.since(self._slack_at) * rules.SLACK_PER_SECOND)
        self._slack_at = now
        if self._slack_tokens < 1:
            wait = self.clock.real((1 - self._slack_tokens) / rules.SLACK_PER_SECOND)
            return 429, "rate_limited", {"Retry-After": str(max(1, math.ceil(wait)))}
        self._slack_tokens -= 1
        self.slack.append(body if isinstance(body, dict) else {"raw": body})
        return 200, "ok"

    def _repo_route(self, repo: Repo, method: str, rest: str, query: dict[str, str], body: Any) -> Reply:
        body = body if body is not None else {}
        if rest == "" and method == "GET":
            return 200, self._repo_json(repo)
        # releases
        if rest == "/releases" and method == "GET":
            return 200, list(reversed(repo.releases))
        if rest == "/releases" and method == "POST":
            if any(r["tag_name"] == body.get("tag_name") for r in repo.releases):
                return 422, {"message": "Validation Failed", "errors": [{"code": "already_exists", "field": "tag_name"}]}
            rel = self._release(repo, body)
            repo.releases.append(rel)
            return 201, rel
        if rest == "/releases/latest" and method == "GET":
            published = [r for r in repo.releases if not r["draft"] and not r["prerelease"]]
            return (200, published[-1]) if published else (404, {"message": "Not Found"})
        m = re.fullmatch(r"/releases/tags/(.+)", rest)
        if m and method == "GET":
            for r in repo.releases:
                if r["tag_name"] == m.group(1):
                    return 200, r
            return 404, {"message": "Not Found"}
        m = re.fullmatch(r"/releases/(\d+)", rest)
        if m:
            for r in repo.releases:
                if r["id"] == int(m.group(1)):
                    if method == "PATCH":
                        r.update({k: v for k, v in body.items() if k in ("name", "body", "draft", "prerelease")})
                    return 200, r
            return 404, {"message": "Not Found"}
        # pull requests, their reviews and labels
        if rest == "/pulls" and method == "GET":
            pulls = [p for p in repo.pulls if query.get("state", "open") in ("all", p["state"])]
            if "head" in query:
                pulls = [p for p in pulls if query["head"] in (p["head"]["label"], p["head"]["ref"])]
            if "base" in query:
                pulls = [p for p in pulls if p["base"]["ref"] == query["base"]]
            return 200, [self._pull_json(repo, p) for p in pulls]
        if rest == "/pulls" and method == "POST":
            for key in ("head", "base", "title"):
                if not body.get(key):
                    return 422, {"message": f"Validation Failed: {key} is missing"}
            head_ref = str(body["head"]).split(":", 1)[-1]
            if any(p["state"] == "open" and p["head"]["ref"] == head_ref and p["base"]["ref"] == body["base"]
                   for p in repo.pulls):
                return 422, {"message": f"A pull request already exists for {head_ref}."}
            pr = self._pull(repo, body)
            repo.pulls.append(pr)
            self._ci(repo, pr["head"]["sha"])
            return 201, self._pull_json(repo, pr)
        m = re.fullmatch(r"/(?:pulls|issues)/(\d+)(/merge|/labels|/reviews)?", rest)
        if m:
            n = int(m.group(1))
            numbered = [p for p in repo.pulls if p["number"] == n]
            if not numbered:
                return 404, {"message": "Not Found"}
            pr = numbered[0]
            sub = m.group(2)
            if sub is None and method == "GET":
                return 200, self._pull_json(repo, pr)
            if sub is None and method == "PATCH":
                pr.update({k: v for k, v in body.items() if k in ("title", "body", "state", "base")})
                return 200, self._pull_json(repo, pr)
            if sub == "/reviews" and method == "GET":
                return 200, self.approvals(pr)
            if sub == "/reviews" and method == "POST":
                return 422, {"message": "Unprocessable Entity", "errors": ["Can not approve your own pull request"]}
            if sub == "/merge" and method == "GET":
                return (204, None) if pr["merged"] else (404, {"message": "Not Found"})
            if sub == "/merge" and method == "PUT":
                if pr["merged"] or pr["state"] != "open":
                    return 405, {"message": "Pull Request is not mergeable"}
                refusal = self._merge_refusal(repo, pr)
                if refusal:
                    return 405, {"message": refusal,
                                 "documentation_url": "https://docs.github.com/articles/about-protected-branches"}
                sha = fake_sha(repo.full_name, "merge", n)
                if self.on_merge is not None:
                    try:
                        sha = self.on_merge(repo.full_name, pr) or sha
                    except Exception as err:
                        return 405, {"message": f"Pull Request is not mergeable: {err}"}
                pr.update(merged=True, state="closed", merged_at=_iso(self.clock.now()), merge_commit_sha=sha,
                          _merge_method=body.get("merge_method", "merge"))
                return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
            if sub == "/labels" and method in ("POST", "PUT"):
                names = body if isinstance(body, list) else body.get("labels", [])
                names = [x if isinstance(x, str) else x.get("name", "") for x in names]
                if method == "PUT":
                    pr["labels"] = []
                for name in names:
                    if name not in [lab["name"] for lab in pr["labels"]]:
                        pr["labels"].append(self._label(repo, name))
                return 200, pr["labels"]
            if sub == "/labels" and method == "GET":
                return 200, pr["labels"]
        m = re.fullmatch(r"/labels(?:/(.+))?", rest)
        if m:
            if method == "POST":
                return 201, self._label(repo, body.get("name", ""))
            if m.group(1):
                return 200, self._label(repo, m.group(1))
            return 200, list(repo.labels.values())
        # git refs and tags
        if rest == "/git/refs" and method == "POST":
            ref, sha = body.get("ref", ""), body.get("sha", "")
            if not ref.startswith("refs/") or not re.fullmatch(r"[0-9a-f]{7,40}", sha or ""):
                return 422, {"message": "Validation Failed: ref must start with refs/ and sha be a commit"}
            if ref in repo.refs:
                return 422, {"message": "Reference already exists"}
            repo.refs[ref] = sha
            self._tagged(repo, ref, sha)
            return 201, self._ref_json(repo, ref)
        m = re.fullmatch(r"/git/refs?/(.+)", rest)
        if m and method == "GET":
            ref = "refs/" + m.group(1)
            return (200, self._ref_json(repo, ref)) if ref in repo.refs else (404, {"message": "Not Found"})
        if m and method == "DELETE":
            ref = "refs/" + m.group(1)
            return (204, None) if repo.refs.pop(ref, None) else (422, {"message": "Reference does not exist"})
        if rest == "/git/tags" and method == "POST":
            sha = fake_sha(repo.full_name, "tag", body.get("tag"))
            return 201, {"sha": sha, "tag": body.get("tag"), "message": body.get("message", ""),
                         "object": {"sha": body.get("object"), "type": "commit"},
                         "url": self._api(f"/repos/{repo.full_name}/git/tags/{sha}")}
        # commits: GitHub Actions reports check runs; the combined *status* has no statuses
        m = re.fullmatch(r"/commits/([^/]+)(/status|/check-runs|/statuses)?", rest)
        if m and method == "GET":
            ref = m.group(1)
            sha = self.head_sha(repo, ref)
            if m.group(2) == "/status":
                return 200, {"state": "pending", "sha": sha, "total_count": 0, "statuses": [],
                             "repository": self._repo_json(repo)}
            if m.group(2) == "/statuses":
                return 200, []
            if m.group(2) == "/check-runs":
                since = None if self.fresh_commits else self.clock.now() - 86400  # else pushed long ago
                runs = [self._check_json(repo, c) for c in self._ci(repo, sha, since=since)]
                return 200, {"total_count": len(runs), "check_runs": runs}
            return 200, {"sha": sha, "url": self._api(f"/repos/{repo.full_name}/commits/{sha}"),
                         "commit": {"message": ref}}
        # actions
        m = re.fullmatch(r"/actions/workflows/([^/]+)(/dispatches|/runs)?", rest)
        if m:
            wid, sub = m.group(1), m.group(2)
            if sub is None and method == "GET":
                return 200, self._workflow(repo, wid)
            if sub == "/dispatches" and method == "POST":
                ref = body.get("ref", "main")
                started = self._new_run(repo, wid, ref, self.head_sha(repo, ref), "workflow_dispatch",
                                        body.get("inputs", {}))
                if body.get("return_run_details"):  # GitHub names the run it started when asked (2026-02)
                    return 200, {"workflow_run_id": started["id"], "run_url": started["url"],
                                 "html_url": started["html_url"]}
                return 204, None
            if sub == "/runs" and method == "GET":
                return 200, self._runs_json(repo, query, lambda r: r["_workflow"] == wid)
        if rest.startswith("/contents/") and method == "GET":
            path = rest[len("/contents/"):]
            if path not in repo.files:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/contents"}
            raw = repo.files[path].encode()
            sha = sha1(b"blob %d\0" % len(raw) + raw).hexdigest()  # git's blob id
            return 200, {"type": "file", "encoding": "base64", "size": len(raw), "name": path.rsplit("/", 1)[-1],
                         "path": path, "sha": sha, "content": base64.b64encode(raw).decode(),
                         "url": self._api(f"/repos/{repo.full_name}/contents/{path}"),
                         "html_url": f"https://github.com/{repo.full_name}/blob/main/{path}"}
        if rest == "/actions/runs" and method == "GET":
            return 200, self._runs_json(repo, query, lambda r: True)
        m = re.fullmatch(r"/actions/runs/(\d+)(/jobs)?", rest)
        if m and method == "GET":
            run = next((r for r in repo.runs if r["id"] == int(m.group(1))), None)
            if run is None:
                return 404, {"message": "Not Found"}
            if m.group(2):
                jobs = self._jobs_json(run)
                return 200, {"total_count": len(jobs), "jobs": jobs}
            return 200, self.run_json(run)
        return 404, {"message": "Not Found (the rehearsal GitHub does not know this call)"}

    def _runs_json(self, repo: Repo, query: dict[str, str], which: Callable[[dict], bool]) -> dict:
        runs = [self.run_json(r) for r in reversed(repo.runs) if which(r)
                and query.get("branch", r["head_branch"]) == r["head_branch"]
                and query.get("event", r["event"]) == r["event"]
                and query.get("head_sha", r["head_sha"]) == r["head_sha"]]
        if "status" in query:
            runs = [r for r in runs if query["status"] in (r["status"], r["conclusion"])]
        return {"total_count": len(runs), "workflow_runs": runs}

    def _tagged(self, repo: Repo, ref: str, sha: str) -> None:
        """A pushed tag starts the workflows the repository runs on such tags."""
        if ref.startswith("refs/tags/"):
            tag = ref[len("refs/tags/"):]
            for pattern, workflow in repo.tag_workflows:
                if re.match(pattern, tag):
                    self._new_run(repo, workflow, tag, sha, "push", {})
        if self.on_ref is not None:
            self.on_ref(repo, ref, sha)

    def _ref_json(self, repo: Repo, ref: str) -> dict:
        return {"ref": ref, "node_id": ref, "url": self._api(f"/repos/{repo.full_name}/git/{ref}"),
                "object": {"sha": repo.refs[ref], "type": "commit",
                           "url": self._api(f"/repos/{repo.full_name}/git/commits/{repo.refs[ref]}")}}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    world: GitHubWorld
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (no request lines on a TUI)
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path.rstrip("/")) or "/"
        for prefix in ("/api/v3",):  # GitHub Enterprise-style base URLs work too
            if path.startswith(prefix + "/"):
                path = path[len(prefix):]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        headers: dict[str, str] = {}
        try:
            reply = self.world.handle(self.command, path, query, body)
            status, payload = reply[0], reply[1]
            headers = reply[2] if len(reply) > 2 else {}
        except Exception as err:  # a bug in the fake must not hang the client
            status, payload = 500, {"message": f"fake GitHub error: {type(err).__name__}: {err}"}
        self.world.requests.append(Recorded(self.command, path, query, body, status,
                                            token=bool(self.headers.get("Authorization"))))
        data = b"" if payload is None else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if isinstance(payload, str)
                         else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Remaining", "4999")
        self.send_header("X-RateLimit-Reset", "4102444800")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
