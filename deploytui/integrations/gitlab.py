"""GitLab actions over its REST API (httpx): login.gov keeps identity-pki on its own GitLab, with the
releases page there and the release notes on GitHub. Token from GITLAB_TOKEN or glab's login; base URL
from `api_url` or GITLAB_API_URL."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import quote, urlparse

from ..errors import ActionError
from ._params import flag, getenv, number, words
from ._releases import next_rc
from .registry import ActionContext, action

DEFAULT_API = "https://gitlab.login.gov/api/v4"


def _token(ctx: ActionContext, host: str) -> str:
    token = getenv(ctx, "GITLAB_TOKEN") or getenv(ctx, "GITLAB_ACCESS_TOKEN")
    if not token and shutil.which("glab"):
        got = subprocess.run(["glab", "config", "get", "token", "--host", host], capture_output=True, text=True)
        token = got.stdout.strip() if got.returncode == 0 else None
    if not token:
        raise ActionError(f"no GitLab token for {host}: set GITLAB_TOKEN or run glab auth login")
    return token


class _GitLab:
    """One project's API, every answer checked: a failure is one line naming the call."""

    def __init__(self, ctx: ActionContext, repo: str, api_url: str):
        import httpx

        if "/" not in (repo or ""):
            raise ActionError(f"repo must be GROUP/PROJECT, not {repo!r}")
        self.base = (api_url or getenv(ctx, "GITLAB_API_URL") or DEFAULT_API).rstrip("/")
        token = _token(ctx, urlparse(self.base).hostname or "")
        ctx.add_secret(token)
        self.repo = repo
        self.project = f"/projects/{quote(repo, safe='')}"
        self.http = httpx.Client(base_url=self.base, headers={"PRIVATE-TOKEN": token}, timeout=30)

    def call(self, method: str, path: str, **kw):
        import httpx

        try:
            resp = self.http.request(method, self.project + path, **kw)
        except httpx.HTTPError as err:
            raise ActionError(f"cannot reach GitLab at {self.base}: {type(err).__name__}: check the network or VPN") from None
        if resp.status_code < 400:
            return resp.json() if resp.content else None, resp
        try:
            detail = resp.json().get("message") or resp.json().get("error") or ""
        except ValueError:
            detail = resp.text.strip()[:80]
        what = f"{method} {self.repo}{path}"
        if resp.status_code == 401:
            raise ActionError("GitLab rejected the token (401): set GITLAB_TOKEN or run glab auth login")
        if resp.status_code == 404:
            raise ActionError(f"GitLab: not found ({what}): check the name, or the token cannot see it")
        raise ActionError(f"GitLab said {resp.status_code} to {what}: {detail}".rstrip(": "))

    def all(self, path: str, **params) -> list:
        out, page = [], "1"
        while page:
            data, resp = self.call("GET", path, params={**params, "per_page": 100, "page": page})
            out += data
            page = resp.headers.get("X-Next-Page", "")
        return out


@action("gitlab.next_release")
def next_release(ctx: ActionContext, repo: str, patch: str = "false", prefix: str = "RC", api_url: str = "") -> dict:
    """From the last `RC N` release on a GitLab project's releases page, the next full or patch number."""
    gl = _GitLab(ctx, repo, api_url)
    out = next_rc([(r.get("name"), r.get("tag_name")) for r in gl.all("/releases")], flag(patch, "patch"),
                  prefix, repo)
    ctx.log(f"last release {prefix} {out['last']}; next {'patch' if flag(patch, 'patch') else 'release'} "
            f"{out['title']}")
    return out


def _mr(mr: dict) -> dict:
    return {"number": mr["iid"], "url": mr.get("web_url", ""), "description": mr.get("description") or ""}


@action("gitlab.merge_request")
def merge_request(ctx: ActionContext, repo: str, head: str, base: str, title: str, body: str = "",
                  labels: str = "", api_url: str = "") -> dict:
    """Open a merge request (or reuse the open one for the same branches) with labels."""
    gl = _GitLab(ctx, repo, api_url)
    existing = gl.all("/merge_requests", state="opened", source_branch=head, target_branch=base)
    if existing:
        mr = existing[0]
        ctx.log(f"reusing open merge request !{mr['iid']}: {mr.get('web_url', '')}")
    else:
        mr, _ = gl.call("POST", "/merge_requests", json={"source_branch": head, "target_branch": base,
                                                         "title": title, "description": body})
        ctx.log(f"opened merge request !{mr['iid']} {title!r} ({head} -> {base}): {mr.get('web_url', '')}")
    wanted = words(labels)
    if wanted:
        mr, _ = gl.call("PUT", f"/merge_requests/{mr['iid']}", json={"add_labels": ",".join(wanted)})
        ctx.log(f"labels: {', '.join(wanted)}")
    return {**_mr(mr), "reused": bool(existing)}


@action("gitlab.merge")
def merge(ctx: ActionContext, repo: str, number: str, api_url: str = "") -> dict:
    """Merge a merge request, never squashed; returns its description (the release notes)."""
    gl = _GitLab(ctx, repo, api_url)
    iid = _number(number)
    mr, _ = gl.call("GET", f"/merge_requests/{iid}")
    if mr.get("state") == "merged":
        ctx.log(f"!{iid} is already merged ({(mr.get('merge_commit_sha') or '')[:9]})")
    else:
        try:
            mr, _ = gl.call("PUT", f"/merge_requests/{iid}/merge", json={"squash": False})
        except ActionError as err:
            if " 405 " in str(err) or " 406 " in str(err):
                raise ActionError(f"GitLab cannot merge !{iid} yet ({err}): approvals, a pipeline or conflicts "
                                  f"stand in the way: see {mr.get('web_url', '')}") from None
            raise
        ctx.log(f"merged !{iid}: {(mr.get('merge_commit_sha') or mr.get('sha') or '')[:9]}")
    return {**_mr(mr), "sha": mr.get("merge_commit_sha") or mr.get("sha") or "", "merged": True}


def _number(value) -> int:
    return number(str(value).lstrip("!#"), "number")
