"""A small GitHub REST stand-in on pytest-httpserver: answers the calls PyGithub makes and records them."""

from __future__ import annotations

import json
import re

from werkzeug import Request, Response


class FakeGitHub:
    def __init__(self, httpserver, repo="18F/identity-idp"):
        self.base = httpserver.url_for("/api/v3").rstrip("/")
        self.repo = repo
        self.requests: list[tuple[str, str, dict | None, str]] = []  # method, path, json, auth header
        self.releases = [{"id": 1, "name": "RC 122", "tag_name": "2026-11-10"},
                         {"id": 2, "name": "RC 123", "tag_name": "2026-11-17"},
                         {"id": 3, "name": "RC 121.1", "tag_name": "2026-11-05"}]
        self.pulls: dict[int, dict] = {}
        self.refs: dict[str, str] = {}
        self.runs: list[dict] = [{"id": 500, "status": "completed", "conclusion": "success"}]
        self.run_conclusion = "success"
        self.run_details = True  # GitHub names the run a dispatch started (an older GHES does not)
        self.dispatched_alongside = False
        # ref -> check runs, each a list of (status, conclusion) it goes through, one per poll
        self.check_runs: dict[str, dict[str, list[tuple[str, str | None]]]] = {}
        self.statuses: dict[str, dict[str, str]] = {}  # ref -> context -> state
        self.branch_runs: list[dict] = []  # push runs, oldest first: {branch, head_sha, conclusion}
        self.heads: dict[str, str] = {}  # branch or tag -> the commit it points at
        httpserver.expect_request(re.compile(r"/api/v3/.*")).respond_with_handler(self.handle)

    def calls(self, method, pattern):
        return [r for r in self.requests if r[0] == method and re.fullmatch(pattern, r[1])]

    def _pull(self, n):
        p = self.pulls[n]
        return {"number": n, "url": f"{self.base}/repos/{self.repo}/pulls/{n}",
                "issue_url": f"{self.base}/repos/{self.repo}/issues/{n}",
                "html_url": f"https://github.com/{self.repo}/pull/{n}", **p}

    def _run(self, run):
        url = f"{self.base}/repos/{self.repo}/actions/runs/{run['id']}"
        return {"id": run["id"], "status": run["status"], "conclusion": run.get("conclusion"), "url": url,
                "jobs_url": f"{url}/jobs", "html_url": f"https://github.com/{self.repo}/actions/runs/{run['id']}",
                "event": run.get("event", "workflow_dispatch"), "name": run.get("name", "Migrate data"),
                "head_sha": run.get("head_sha", "0" * 40), "head_branch": run.get("head_branch", "main")}

    def handle(self, request: Request) -> Response:
        body = json.loads(request.data) if request.data else None
        path = request.path.removeprefix("/api/v3")
        self.requests.append((request.method, path, body, request.headers.get("Authorization", "")))
        if not request.headers.get("Authorization", "").endswith("ghp_testtoken"):
            return self._json({"message": "Bad credentials"}, 401)
        r = f"/repos/{self.repo}"
        m = request.method
        if m == "GET" and path == f"{r}/releases":
            return self._json(self.releases)
        if m == "GET" and path == f"{r}/pulls":
            head, base = request.args.get("head", ""), request.args.get("base", "")
            return self._json([self._pull(n) for n, p in self.pulls.items() if p["state"] == "open"
                               and f"{self.repo.split('/')[0]}:{p['head']['ref']}" == head
                               and p["base"]["ref"] == base])
        if m == "POST" and path == f"{r}/pulls":
            n = 700 + len(self.pulls)
            self.pulls[n] = {"state": "open", "title": body["title"], "body": body.get("body"), "merged": False,
                             "head": {"ref": body["head"]}, "base": {"ref": body["base"]}, "labels": []}
            return self._json(self._pull(n), 201)
        if mm := re.fullmatch(rf"{r}/issues/(\d+)/labels", path):
            self.pulls[int(mm.group(1))]["labels"] += [{"name": x} for x in (body["labels"] if isinstance(body, dict) else body)]
            return self._json(self.pulls[int(mm.group(1))]["labels"])
        if m == "GET" and (mm := re.fullmatch(rf"{r}/pulls/(\d+)", path)):
            n = int(mm.group(1))
            return self._json(self._pull(n)) if n in self.pulls else self._json({"message": "Not Found"}, 404)
        if m == "PUT" and (mm := re.fullmatch(rf"{r}/pulls/(\d+)/merge", path)):
            p = self.pulls[int(mm.group(1))]
            p.update(merged=True, state="closed", merge_commit_sha="abc123def4567890")
            return self._json({"sha": "abc123def4567890", "merged": True, "message": "Pull Request successfully merged"})
        if m == "POST" and path == f"{r}/releases":
            rel = {"id": 10 + len(self.releases), "name": body.get("name"), "tag_name": body["tag_name"],
                   "body": body.get("body"), "html_url": f"https://github.com/{self.repo}/releases/tag/{body['tag_name']}"}
            self.releases.insert(0, rel)
            return self._json(rel, 201)
        if m == "GET" and (mm := re.fullmatch(rf"{r}/git/ref/(.+)", path)):
            ref = f"refs/{mm.group(1)}"
            if ref not in self.refs:
                return self._json({"message": "Not Found"}, 404)
            return self._json({"ref": ref, "object": {"sha": self.refs[ref], "type": "commit"}})
        if m == "POST" and path == f"{r}/git/refs":
            if body["ref"] in self.refs:
                return self._json({"message": "Reference already exists"}, 422)
            self.refs[body["ref"]] = body["sha"]
            return self._json({"ref": body["ref"], "object": {"sha": body["sha"], "type": "commit"}}, 201)
        if m == "GET" and (mm := re.fullmatch(rf"{r}/commits/([^/]+)/check-runs", path)):
            runs = []
            for name, steps in self.check_runs.get(mm.group(1), {}).items():
                status, conclusion = steps.pop(0) if len(steps) > 1 else steps[0]
                runs.append({"id": len(runs) + 1, "name": name, "status": status, "conclusion": conclusion})
            return self._json({"total_count": len(runs), "check_runs": runs})
        if m == "GET" and (mm := re.fullmatch(rf"{r}/commits/([^/]+)/status", path)):
            got = self.statuses.get(mm.group(1), {})
            states = set(got.values())
            # GitHub says "pending" when nothing has reported a status
            state = "failure" if states & {"failure", "error"} else "success" if states == {"success"} else "pending"
            return self._json({"state": state, "sha": "0" * 40, "total_count": len(got),
                               "statuses": [{"context": c, "state": st} for c, st in got.items()]})
        if m == "GET" and (mm := re.fullmatch(rf"{r}/commits/([^/]+)", path)):
            return self._json({"sha": self.heads.get(mm.group(1), mm.group(1))})
        if m == "GET" and path == f"{r}/actions/runs":
            runs = [{**self._run({"id": 900 + i, "status": "completed", **x}), "name": "Deploy production",
                     "head_sha": x["head_sha"], "head_branch": x["branch"], "event": "push",
                     "created_at": f"2026-11-{10 + i:02d}T10:00:00Z"}
                    for i, x in enumerate(self.branch_runs)]
            for x in self.runs:  # a push's run is listed once GitHub has started it
                if x.get("event") == "push" and x.setdefault("listed", 0) >= x.get("starts_after", 0):
                    runs.append(self._run(x))
                x["listed"] = x.get("listed", 0) + 1
            args = request.args
            runs = [x for x in runs if x["head_branch"] == args.get("branch", x["head_branch"])
                    and x["event"] == args.get("event", x["event"])
                    and x["head_sha"] == args.get("head_sha", x["head_sha"])
                    and args.get("status") in (None, x["conclusion"])]
            return self._json({"total_count": len(runs), "workflow_runs": runs[::-1]})
        # GitHub takes the workflow's id or its file name in the path
        wf = re.sub(r"/actions/workflows/migrate\.yaml", "/actions/workflows/42", path)
        wf, path = f"{r}/actions/workflows/42", wf
        if m == "GET" and path == wf:
            return self._json({"id": 42, "name": "Migrate data", "url": f"{self.base}{wf}",
                               "html_url": f"https://github.com/{self.repo}/actions/workflows/migrate.yaml"})
        if m == "GET" and path == f"{wf}/runs":
            return self._json({"total_count": len(self.runs),
                               "workflow_runs": [self._run(x) for x in reversed(self.runs)]})
        if m == "POST" and path == f"{wf}/dispatches":
            ours = {"id": 501 + len(self.runs), "status": "queued", "conclusion": None, "polls": 0}
            self.runs.append(ours)
            if self.dispatched_alongside:  # another pipeline dispatched the same workflow at the same moment
                self.runs.append({"id": 501 + len(self.runs), "status": "queued", "conclusion": None, "polls": 0,
                                  "other": True})
            if self.run_details and (request.get_json(silent=True) or {}).get("return_run_details"):
                return self._json({"workflow_run_id": ours["id"],
                                   "run_url": f"{self.base}{r}/actions/runs/{ours['id']}",
                                   "html_url": f"https://github.com/{self.repo}/actions/runs/{ours['id']}"})
            return Response(status=204)
        if m == "GET" and (mm := re.fullmatch(rf"{r}/actions/runs/(\d+)", path)):
            run = next(x for x in self.runs if x["id"] == int(mm.group(1)))
            run["polls"] = run.get("polls", 0) + 1
            if run["status"] != "completed":  # queued -> in_progress -> completed
                run["status"] = "in_progress" if run["polls"] < 3 else "completed"
                if run["status"] == "completed":
                    run["conclusion"] = self.run_conclusion
            return self._json(self._run(run))
        if m == "GET" and (mm := re.fullmatch(rf"{r}/actions/runs/(\d+)/jobs", path)):
            run = next(x for x in self.runs if x["id"] == int(mm.group(1)))
            job = {"id": 9, "name": run.get("job", "migrate"), "status": run["status"],
                   "conclusion": run.get("conclusion")}
            return self._json({"total_count": 1, "jobs": [job]})
        return self._json({"message": "Not Found"}, 404)

    @staticmethod
    def _json(data, status=200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")
