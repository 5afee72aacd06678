"""A small GitLab REST (v4) stand-in on pytest-httpserver: a project's releases and merge requests."""

from __future__ import annotations

import json
import re

from werkzeug import Request, Response


class FakeGitLab:
    def __init__(self, httpserver, repo="lg/identity-pki", token="glpat-testtoken"):
        self.base = httpserver.url_for("/api/v4").rstrip("/")
        self.repo, self.token = repo, token
        self.requests: list[tuple[str, str, dict | None, str]] = []  # method, path, json, PRIVATE-TOKEN
        # 150 releases, so the list takes two pages
        self.releases = [{"name": f"RC {n}", "tag_name": f"2026-01-{n % 28 + 1:02d}T120000"} for n in range(1, 151)]
        self.releases[3] = {"name": "RC 150.2", "tag_name": "2026-11-20T101010"}
        self.mrs: dict[int, dict] = {}
        self.mergeable = True
        httpserver.expect_request(re.compile(r"/api/v4/.*")).respond_with_handler(self.handle)

    def calls(self, method, pattern):
        return [r for r in self.requests if r[0] == method and re.fullmatch(pattern, r[1])]

    def handle(self, request: Request) -> Response:
        body = json.loads(request.data) if request.data else None
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        path = raw.split("?", 1)[0].removeprefix("/api/v4")  # as sent: GitLab wants the project path %2F-encoded
        self.requests.append((request.method, path, body, request.headers.get("PRIVATE-TOKEN", "")))
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return self._json({"message": "401 Unauthorized"}, 401)
        p = f"/projects/{self.repo.replace('/', '%2F')}"
        m, q = request.method, request.args
        if m == "GET" and path == f"{p}/releases":
            page, per = int(q.get("page", 1)), int(q.get("per_page", 20))
            chunk = self.releases[(page - 1) * per:page * per]
            more = page * per < len(self.releases)
            return self._json(chunk, headers={"X-Next-Page": str(page + 1) if more else ""})
        if m == "GET" and path == f"{p}/merge_requests":
            return self._json([mr for mr in self.mrs.values() if mr["state"] == q.get("state")
                               and mr["source_branch"] == q.get("source_branch")
                               and mr["target_branch"] == q.get("target_branch")])
        if m == "POST" and path == f"{p}/merge_requests":
            iid = len(self.mrs) + 1
            self.mrs[iid] = {"iid": iid, "state": "opened", "title": body["title"], "labels": [],
                             "description": body.get("description", ""), "source_branch": body["source_branch"],
                             "target_branch": body["target_branch"],
                             "web_url": f"https://gitlab.login.gov/{self.repo}/-/merge_requests/{iid}"}
            return self._json(self.mrs[iid], 201)
        if mm := re.fullmatch(rf"{p}/merge_requests/(\d+)(/merge)?", path):
            mr = self.mrs.get(int(mm.group(1)))
            if mr is None:
                return self._json({"message": "404 Not found"}, 404)
            if m == "PUT" and mm.group(2):
                if not self.mergeable:
                    return self._json({"message": "405 Method Not Allowed"}, 405)
                mr.update(state="merged", merge_commit_sha="feedface" * 5, squash=body.get("squash"))
            elif m == "PUT":
                mr["labels"] += body.get("add_labels", "").split(",")
            return self._json(mr)
        return self._json({"message": "404 Not found"}, 404)

    @staticmethod
    def _json(data, status=200, headers=None) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json", headers=headers)
