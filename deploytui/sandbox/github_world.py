"""A small fake GitHub REST API on 127.0.0.1 for rehearsals and tests.

It answers what the github.* actions call through PyGithub (repositories, releases, pull requests
with labels and merges, git refs, workflow dispatches and their runs, commit statuses) and RECORDS
every request, so a rehearsal can show "GitHub actions recorded instead of sent". It also serves the
other small HTTP documents a rehearsal needs (a staging deploy.json, the GOV.UK Release app, an
error-rate endpoint) under /_world/, and records Slack webhook posts at /_world/slack.

    gh = GitHubWorld().start()      # gh.url -> http://127.0.0.1:PORT, use as GITHUB_API_URL
    gh.seed_releases("18F/identity-idp", ["RC 110", "RC 111"])
    ...
    gh.writes()                     # the POST/PUT/PATCH/DELETE requests, in order
    gh.stop()
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_sha(*parts: Any) -> str:
    return sha1("\0".join(str(p) for p in parts).encode()).hexdigest()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int

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
    statuses: dict[str, str] = field(default_factory=dict)  # ref or sha -> state
    fail: dict[str, str] = field(default_factory=dict)  # workflow file -> conclusion other than success


class GitHubWorld:
    """The fake's state, its HTTP server, and what it recorded."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, owner_login: str = "rehearsal-bot"):
        if host != "127.0.0.1":
            raise ValueError("the fake GitHub only listens on 127.0.0.1")
        self.host, self.port, self.login = host, port, owner_login
        self.repos: dict[str, Repo] = {}
        self.documents: dict[str, Any] = {}  # "/_world/..." -> JSON value
        self.slack: list[dict] = []  # bodies posted to /_world/slack
        self.requests: list[Recorded] = []
        # called as on_merge(full_name, pull) when a pull request is merged; returns the merge sha
        # (a rehearsal merges the branch in its local origin) or None; an exception refuses the merge
        self.on_merge: Callable[[str, dict], str | None] | None = None
        self._ids = itertools.count(1000)
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
                self.repos[full_name] = Repo(full_name)
            return self.repos[full_name]

    def seed_releases(self, full_name: str, titles: list[str]) -> None:
        repo = self.repo(full_name)
        for i, title in enumerate(titles):
            tag = f"2026{i + 1:02d}01000000"
            repo.releases.append(self._release(repo, {"tag_name": tag, "name": title, "body": f"Notes of {title}"}))
            repo.refs[f"refs/tags/{tag}"] = fake_sha(full_name, tag)

    def seed_pull(self, full_name: str, head: str, base: str, title: str, body: str = "") -> int:
        repo = self.repo(full_name)
        pr = self._pull(repo, {"head": head, "base": base, "title": title, "body": body})
        repo.pulls.append(pr)
        return pr["number"]

    def add_document(self, path: str, value: Any) -> str:
        """Serve `value` as JSON at /_world/PATH; returns its URL."""
        path = "/_world/" + path.lstrip("/")
        self.documents[path] = value
        return self.url + path

    # -- what happened ------------------------------------------------------------------------
    def writes(self) -> list[Recorded]:
        """The requests that would have changed GitHub (and Slack posts), in order."""
        return [r for r in self.requests if r.method in WRITE_METHODS]

    def recorded_lines(self) -> list[str]:
        return [r.line() for r in self.writes()]

    # -- JSON shapes --------------------------------------------------------------------------
    def _api(self, path: str) -> str:
        return self.url + path

    def _repo_json(self, repo: Repo) -> dict:
        owner, name = repo.full_name.split("/", 1)
        return {"id": abs(hash(repo.full_name)) % 10**8, "name": name, "full_name": repo.full_name,
                "owner": {"login": owner, "id": 1, "type": "Organization", "url": self._api(f"/users/{owner}")},
                "private": False, "default_branch": "main", "url": self._api(f"/repos/{repo.full_name}"),
                "html_url": f"https://github.com/{repo.full_name}"}

    def _release(self, repo: Repo, body: dict) -> dict:
        rid = next(self._ids)
        tag = body.get("tag_name", "")
        return {"id": rid, "tag_name": tag, "name": body.get("name") or tag, "body": body.get("body", ""),
                "draft": bool(body.get("draft", False)), "prerelease": bool(body.get("prerelease", False)),
                "target_commitish": body.get("target_commitish", "main"), "created_at": _now(),
                "published_at": _now(), "author": {"login": self.login},
                "url": self._api(f"/repos/{repo.full_name}/releases/{rid}"),
                "html_url": f"https://github.com/{repo.full_name}/releases/tag/{tag}",
                "assets": [], "upload_url": self._api(f"/repos/{repo.full_name}/releases/{rid}/assets{{?name,label}}")}

    def _pull(self, repo: Repo, body: dict) -> dict:
        number = len(repo.pulls) + 1  # numbers follow creation order
        head = str(body.get("head", ""))
        head_ref = head.split(":", 1)[-1]
        owner = repo.full_name.split("/")[0]
        return {"id": next(self._ids), "number": number, "state": "open", "title": body.get("title", ""),
                "body": body.get("body", ""), "draft": bool(body.get("draft", False)),
                "head": {"ref": head_ref, "label": f"{owner}:{head_ref}", "sha": fake_sha(repo.full_name, head_ref)},
                "base": {"ref": body.get("base", "main"), "label": f"{owner}:{body.get('base', 'main')}",
                         "sha": fake_sha(repo.full_name, body.get("base", "main"))},
                "merged": False, "mergeable": True, "mergeable_state": "clean", "merged_at": None,
                "merge_commit_sha": None, "labels": [], "user": {"login": self.login}, "created_at": _now(),
                "url": self._api(f"/repos/{repo.full_name}/pulls/{number}"),
                "issue_url": self._api(f"/repos/{repo.full_name}/issues/{number}"),
                "html_url": f"https://github.com/{repo.full_name}/pull/{number}"}

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

    def _advance_run(self, run: dict) -> dict:
        """Each look at a run moves it on: queued -> in_progress -> completed (so polling is exercised)."""
        if run["status"] == "queued":
            run["status"] = "in_progress"
        elif run["status"] == "in_progress":
            run["status"] = "completed"
            run["conclusion"] = run.pop("_conclusion", "success")
            run["updated_at"] = _now()
        return run

    @staticmethod
    def _public(run: dict) -> dict:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    # -- routing ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path.startswith("/_world/"):
            if path == "/_world/slack" and method == "POST":
                self.slack.append(body if isinstance(body, dict) else {"raw": body})
                return 200, "ok"
            if method == "GET" and path in self.documents:
                return 200, self.documents[path]
            m = re.fullmatch(r"/_world/release/applications/([^/]+)\.json", path)
            if m and method == "GET":
                apps = self.documents.get("/_world/release/applications", {})
                app = apps.get(m.group(1), {})
                return 200, {"name": m.group(1), "deploy_freeze": bool(app.get("deploy_freeze", False)),
                             "automatic_deploys_enabled": bool(app.get("automatic_deploys_enabled", True)),
                             "notes": app.get("notes", "")}
            return 404, {"message": f"no document at {path} in the rehearsal world"}
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

    def _repo_route(self, repo: Repo, method: str, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
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
        # pull requests and their labels
        if rest == "/pulls" and method == "GET":
            pulls = [p for p in repo.pulls if query.get("state", "open") in ("all", p["state"])]
            if "head" in query:
                pulls = [p for p in pulls if query["head"] in (p["head"]["label"], p["head"]["ref"])]
            if "base" in query:
                pulls = [p for p in pulls if p["base"]["ref"] == query["base"]]
            return 200, pulls
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
            return 201, pr
        m = re.fullmatch(r"/(?:pulls|issues)/(\d+)(/merge|/labels)?", rest)
        if m:
            n = int(m.group(1))
            pr = next((p for p in repo.pulls if p["number"] == n), None)
            if pr is None:
                return 404, {"message": "Not Found"}
            sub = m.group(2)
            if sub is None and method == "GET":
                return 200, pr
            if sub is None and method == "PATCH":
                pr.update({k: v for k, v in body.items() if k in ("title", "body", "state", "base")})
                return 200, pr
            if sub == "/merge" and method == "GET":
                return (204, None) if pr["merged"] else (404, {"message": "Not Found"})
            if sub == "/merge" and method == "PUT":
                if pr["merged"] or pr["state"] != "open":
                    return 405, {"message": "Pull Request is not mergeable"}
                sha = fake_sha(repo.full_name, "merge", n)
                if self.on_merge is not None:
                    try:
                        sha = self.on_merge(repo.full_name, pr) or sha
                    except Exception as err:
                        return 405, {"message": f"Pull Request is not mergeable: {err}"}
                pr.update(merged=True, state="closed", merged_at=_now(), merge_commit_sha=sha,
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
        # commits and statuses
        m = re.fullmatch(r"/commits/([^/]+)(/status)?", rest)
        if m and method == "GET":
            ref = m.group(1)
            sha = ref if re.fullmatch(r"[0-9a-f]{40}", ref) else fake_sha(repo.full_name, ref)
            if m.group(2):
                state = next((st for key, st in repo.statuses.items()
                              if ref in (key, fake_sha(repo.full_name, key))), repo.statuses.get("*", "success"))
                return 200, {"state": state, "sha": sha, "total_count": 1, "statuses": [
                    {"state": state, "context": "ci", "description": f"CI {state}"}]}
            return 200, {"sha": sha, "url": self._api(f"/repos/{repo.full_name}/commits/{sha}"),
                         "commit": {"message": ref}}
        # actions
        m = re.fullmatch(r"/actions/workflows/([^/]+)(/dispatches|/runs)?", rest)
        if m:
            wid, sub = m.group(1), m.group(2)
            if sub is None and method == "GET":
                return 200, self._workflow(repo, wid)
            if sub == "/dispatches" and method == "POST":
                rid = next(self._ids)
                run = {"id": rid, "name": wid.rsplit(".", 1)[0], "workflow_id": self._workflow(repo, wid)["id"],
                       "head_branch": body.get("ref", "main"), "head_sha": fake_sha(repo.full_name, body.get("ref")),
                       "event": "workflow_dispatch", "status": "queued", "conclusion": None,
                       "run_number": len(repo.runs) + 1, "created_at": _now(), "updated_at": _now(),
                       "url": self._api(f"/repos/{repo.full_name}/actions/runs/{rid}"),
                       "jobs_url": self._api(f"/repos/{repo.full_name}/actions/runs/{rid}/jobs"),
                       "logs_url": self._api(f"/repos/{repo.full_name}/actions/runs/{rid}/logs"),
                       "html_url": f"https://github.com/{repo.full_name}/actions/runs/{rid}",
                       "_workflow": wid, "_inputs": body.get("inputs", {}),
                       "_conclusion": repo.fail.get(wid, "success")}
                repo.runs.append(run)
                return 204, None
            if sub == "/runs" and method == "GET":
                runs = [self._public(self._advance_run(r)) for r in reversed(repo.runs) if r["_workflow"] == wid
                        and query.get("branch", r["head_branch"]) == r["head_branch"]
                        and query.get("event", r["event"]) == r["event"]]
                return 200, {"total_count": len(runs), "workflow_runs": runs}
        if rest == "/actions/runs" and method == "GET":
            runs = [self._public(self._advance_run(r)) for r in reversed(repo.runs)]
            return 200, {"total_count": len(runs), "workflow_runs": runs}
        m = re.fullmatch(r"/actions/runs/(\d+)(/jobs)?", rest)
        if m and method == "GET":
            run = next((r for r in repo.runs if r["id"] == int(m.group(1))), None)
            if run is None:
                return 404, {"message": "Not Found"}
            if m.group(2):
                job = {"id": run["id"] + 1, "run_id": run["id"], "name": run["name"],
                       "status": run["status"], "conclusion": run["conclusion"],
                       "url": run["url"] + "/jobs/1", "html_url": run["html_url"] + "/job/1"}
                return 200, {"total_count": 1, "jobs": [job]}
            return 200, self._public(self._advance_run(run))
        return 404, {"message": "Not Found (the rehearsal GitHub does not know this call)"}

    def _ref_json(self, repo: Repo, ref: str) -> dict:
        return {"ref": ref, "node_id": ref, "url": self._api(f"/repos/{repo.full_name}/git/{ref}"),
                "object": {"sha": repo.refs[ref], "type": "commit",
                           "url": self._api(f"/repos/{repo.full_name}/git/commits/{repo.refs[ref]}")}}


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
        try:
            status, payload = self.world.handle(self.command, path, query, body)
        except Exception as err:  # a bug in the fake must not hang the client
            status, payload = 500, {"message": f"fake GitHub error: {type(err).__name__}: {err}"}
        self.world.requests.append(Recorded(self.command, path, query, body, status))
        data = b"" if payload is None else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Remaining", "4999")
        self.send_header("X-RateLimit-Reset", "4102444800")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
