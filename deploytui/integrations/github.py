"""GitHub actions (PyGithub, imported inside the functions). Token from GITHUB_TOKEN or gh's hosts.yml;
base URL from `api_url` or GITHUB_API_URL (Enterprise, tests)."""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ActionError
from ._params import MISSING, dig, flag, getenv, mapping, number, seconds, words
from ._releases import next_rc
from .registry import ActionContext, action

DEFAULT_API = "https://api.github.com"


def _gh_hosts_token(host: str) -> str | None:
    """oauth_token for HOST in gh's hosts.yml (a flat YAML file: `host:` then indented keys)."""
    base = os.environ.get("GH_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "gh")
    path = Path(base) / "hosts.yml"
    if not path.is_file():
        return None
    current = None
    for line in path.read_text().splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1].strip().strip("'\"")
        elif current == host and line.strip().startswith("oauth_token:"):
            return line.split(":", 1)[1].strip().strip("'\"") or None
    return None


def token_for(ctx: ActionContext, api_url: str) -> str:
    token = getenv(ctx, "GITHUB_TOKEN") or getenv(ctx, "GH_TOKEN")
    host = urlparse(api_url).hostname or "github.com"
    host = "github.com" if host == "api.github.com" else host
    if not token:
        token = _gh_hosts_token(host)
    if not token and shutil.which("gh"):  # newer gh keeps the token in the keyring
        got = subprocess.run(["gh", "auth", "token", "--hostname", host], capture_output=True, text=True)
        token = got.stdout.strip() if got.returncode == 0 else None
    if not token:
        raise ActionError(f"no GitHub token for {host}: set GITHUB_TOKEN or run gh auth login")
    return token


def _github(ctx: ActionContext, api_url: str):
    from github import Auth, Github, GithubRetry

    url = (api_url or getenv(ctx, "GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    token = token_for(ctx, url)
    ctx.add_secret(token)
    # PyGithub spaces requests (0.25 s, writes 1 s) as GitHub asks; a local stand-in needs no spacing
    local = urlparse(url).hostname in ("127.0.0.1", "localhost")
    return Github(auth=Auth.Token(token), base_url=url, retry=GithubRetry(total=3), timeout=30,
                  lazy=True, seconds_between_requests=0 if local else 0.25,
                  seconds_between_writes=0 if local else 1.0)


def _repo(ctx: ActionContext, repo: str, api_url: str):
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo or ""):
        raise ActionError(f"repo must be OWNER/NAME, not {repo!r}")
    return _github(ctx, api_url).get_repo(repo)


def _gh_errors(func):
    @functools.wraps(func)
    def wrapper(ctx, *args, **kwargs):
        import requests
        from github import (
            BadCredentialsException,
            GithubException,
            RateLimitExceededException,
            UnknownObjectException,
        )

        try:
            return func(ctx, *args, **kwargs)
        except BadCredentialsException:
            raise ActionError("GitHub rejected the token (401): run gh auth login or set GITHUB_TOKEN") from None
        except RateLimitExceededException:
            raise ActionError("GitHub rate limit exceeded: wait until it resets and re-run the step") from None
        except UnknownObjectException as err:
            path = getattr(err, "_deploytui_path", "") or kwargs.get("repo", "")
            said = (err.data or {}).get("message", "") if isinstance(err.data, dict) else ""
            detail = f": {said}" if said and said != "Not Found" else ""
            raise ActionError(f"GitHub: not found ({path}{detail}): check the name, or the token cannot see it") from None
        except GithubException as err:
            data = err.data if isinstance(err.data, dict) else {}
            detail = data.get("message", "") or str(err.data)
            errs = [e.get("message") or e.get("code", "") for e in data.get("errors", []) if isinstance(e, dict)]
            raise ActionError(f"GitHub said {err.status}: {'; '.join([detail, *errs]).strip('; ')}") from None
        except requests.exceptions.RequestException as err:
            raise ActionError(f"cannot reach GitHub: {type(err).__name__}: check the network or api_url") from None

    return wrapper


@action("github.next_release")
@_gh_errors
def next_release(ctx: ActionContext, repo: str, patch: str = "false", prefix: str = "RC",
                 api_url: str = "") -> dict:
    """From the last `RC N` release, the next full (N+1) or patch (N.1) release number."""
    releases = [(rel.name, rel.tag_name) for rel in _repo(ctx, repo, api_url).get_releases()]
    out = next_rc(releases, flag(patch, "patch"), prefix, repo)
    ctx.log(f"last release {prefix} {out['last']}; next {'patch' if flag(patch, 'patch') else 'release'} "
            f"{out['title']}")
    return out


@action("github.pull_request")
@_gh_errors
def pull_request(ctx: ActionContext, repo: str, head: str, base: str, title: str, body: str = "",
                 labels: str = "", draft: str = "false", api_url: str = "") -> dict:
    """Open a pull request (or reuse the open one for the same head and base) with labels."""
    r = _repo(ctx, repo, api_url)
    owner = repo.split("/")[0]
    existing = list(r.get_pulls(state="open", head=f"{owner}:{head}", base=base))
    if existing:
        pr = existing[0]
        ctx.log(f"reusing open pull request #{pr.number}: {pr.html_url}")
    else:
        pr = r.create_pull(base=base, head=head, title=title, body=body, draft=flag(draft, "draft"))
        ctx.log(f"opened pull request #{pr.number} {title!r} ({head} -> {base}): {pr.html_url}")
    wanted = words(labels)
    if wanted:
        pr.add_to_labels(*wanted)
        ctx.log(f"labels: {', '.join(wanted)}")
    return {"number": pr.number, "url": pr.html_url, "reused": bool(existing)}


@action("github.merge")
@_gh_errors
def merge(ctx: ActionContext, repo: str, number: str, method: str = "merge", title: str = "",
          message: str = "", api_url: str = "") -> dict:
    """Merge a pull request; method `merge` by default (never squash unless asked)."""
    if method not in ("merge", "rebase", "squash"):
        raise ActionError(f"method must be merge, rebase or squash, not {method!r}")
    n = _number(number)
    pr = _repo(ctx, repo, api_url).get_pull(n)
    if pr.merged:
        ctx.log(f"#{n} is already merged ({pr.merge_commit_sha[:9]})")
        return {"sha": pr.merge_commit_sha, "merged": True, "number": n}
    kw = {"merge_method": method}
    if title:
        kw["commit_title"] = title
    if message:
        kw["commit_message"] = message
    status = pr.merge(**kw)
    if not status.merged:
        raise ActionError(f"GitHub did not merge #{n}: {status.message}")
    ctx.log(f"merged #{n} ({method}): {status.sha[:9]}")
    return {"sha": status.sha, "merged": True, "number": n}


def _number(value) -> int:
    return number(str(value).lstrip("#"), "number")


@action("github.release")
@_gh_errors
def release(ctx: ActionContext, repo: str, tag: str, title: str = "", notes: str = "", pr: str = "",
            target: str = "", prerelease: str = "false", draft: str = "false", tag_wait: str = "0",
            api_url: str = "") -> dict:
    """Create a release for a tag; notes default to the body of pull request `pr`. With `tag_wait`, first
    wait that long for the tag to reach GitHub (pushed elsewhere and mirrored): GitHub would otherwise
    create the tag itself, on the default branch."""
    from github import UnknownObjectException

    r = _repo(ctx, repo, api_url)
    wait = seconds(tag_wait, "tag_wait")
    if wait:
        deadline = ctx.clock() + ctx.scaled(wait)  # the mirror's time: shorter in a time-scaled rehearsal
        while True:
            try:
                ref = r.get_git_ref(f"tags/{tag}")
                ctx.log(f"tag {tag} is on GitHub at {ref.object.sha[:9]}")
                break
            except UnknownObjectException:
                if ctx.clock() > deadline or not ctx.sleep(ctx.scaled(min(10.0, wait))):
                    raise ActionError(f"tag {tag} is not on GitHub ({repo}) after {tag_wait}: wait for the mirror "
                                      f"and re-run the step") from None
    if not notes and pr:
        notes = r.get_pull(_number(pr)).body or ""
    kw = {"tag": tag, "name": title or tag, "message": notes, "draft": flag(draft, "draft"),
          "prerelease": flag(prerelease, "prerelease")}
    if target:
        kw["target_commitish"] = target
    rel = r.create_git_release(**kw)
    ctx.log(f"release {rel.name!r} for tag {tag}: {rel.html_url}")
    return {"id": rel.id, "url": rel.html_url, "tag": tag, "title": rel.name}


@action("github.tag")
@_gh_errors
def tag(ctx: ActionContext, repo: str, name: str, sha: str, api_url: str = "") -> dict:
    """Create a lightweight tag ref (e.g. staging-N) at a sha."""
    ref = _repo(ctx, repo, api_url).create_git_ref(f"refs/tags/{name}", sha)
    ctx.log(f"tag {name} -> {sha[:9]} in {repo}")
    return {"ref": ref.ref, "sha": sha, "tag": name}


@action("github.file")
@_gh_errors
def file(ctx: ActionContext, repo: str, path: str, ref: str = "main", fields: dict | str = "",
         expect: dict | str = "", api_url: str = "") -> dict:
    """Read a YAML or JSON file from a repository with your GitHub token (the contents API, as GOV.UK's
    deploy workflow reads `automatic_deploys_enabled` from govuk-helm-charts' image-tag files); each of
    `fields` = {name = "dotted.key"} becomes an output, and a key the file lacks is an error. `expect` =
    {"dotted.key" = "value"}: the step fails unless the file says so (a freeze stops the pipeline)."""
    import yaml

    found = _repo(ctx, repo, api_url).get_contents(path, ref=ref)
    if isinstance(found, list):
        raise ActionError(f"{repo}:{path} is a directory, not a file")
    text = found.decoded_content.decode("utf-8", "replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ActionError(f"{repo}:{path} at {ref} is not YAML or JSON: {str(err).splitlines()[0]}") from None
    ctx.log(f"{repo}:{path} at {ref} ({found.sha[:9]})")
    out: dict = {"sha": found.sha}
    for name, key in mapping(fields, "fields").items():
        value = dig(data, str(key))
        if value is MISSING:
            raise ActionError(f"{repo}:{path} at {ref} has no {key!r}")
        out[name] = _as_yq(value)
        ctx.log(f"{name} = {out[name]}")
    wrong = []
    for key, wanted in mapping(expect, "expect").items():
        value = dig(data, str(key))
        shown = "(absent)" if value is MISSING else _as_yq(value)
        ctx.log(f"{key}: {shown} (expected {wanted})")
        if shown != str(wanted):
            wrong.append(f"{key} is {shown}, not {wanted}")
    if wrong:
        raise ActionError(f"{repo}:{path} at {ref}: {'; '.join(wrong)}")
    return out


def _as_yq(value):
    """A YAML value as `yq` prints it (true/false), which is how GOV.UK's scripts compare them."""
    return str(value).lower() if isinstance(value, bool) else value


@action("github.workflow")
@_gh_errors
def workflow(ctx: ActionContext, repo: str, workflow: str, ref: str = "main", inputs: dict | str = "",
             timeout: str = "3600", poll: str = "10", api_url: str = "") -> dict:
    """Dispatch a workflow_dispatch workflow with inputs and follow its run to the conclusion."""
    r = _repo(ctx, repo, api_url)
    wf = r.get_workflow(workflow)
    given = {k: str(v) for k, v in mapping(inputs, "inputs").items()}
    before = {run.id for run in itertools.islice(wf.get_runs(event="workflow_dispatch", branch=ref), 20)}
    # GitHub names the run a dispatch started when asked (return_run_details, since February 2026): two
    # pipelines dispatching the same smoke tests at once each follow their own run
    _, started = wf._requester.requestJsonAndCheck(
        "POST", f"{wf.url}/dispatches", input={"ref": ref, "inputs": given, "return_run_details": True})
    ctx.log(f"dispatched {wf.name} on {ref}" + (f" with {given}" if given else ""))
    every = ctx.scaled(max(0.1, seconds(poll, "poll")))  # GitHub's time: shorter in a time-scaled rehearsal
    deadline = ctx.clock() + ctx.scaled(seconds(timeout, "timeout"))
    run = r.get_workflow_run(started["workflow_run_id"]) if started and started.get("workflow_run_id") else None
    if run is None:
        ctx.log(f"GitHub did not say which run the dispatch started (an older GitHub Enterprise Server?): "
                f"following the newest new run of {wf.name}, which a dispatch made at the same moment could share")
    while run is None:  # the run shows up a few seconds after the dispatch
        new = [x for x in itertools.islice(wf.get_runs(event="workflow_dispatch", branch=ref), 20)
               if x.id not in before]
        if new:
            run = max(new, key=lambda x: x.id)
            break
        if ctx.clock() > deadline or not ctx.sleep(every):
            raise ActionError(f"no run of {wf.name} appeared after the dispatch: see {wf.html_url}")
    return _follow(ctx, r, run, wf.name, deadline, every, timeout)


def _follow(ctx: ActionContext, r, run, name: str, deadline: float, every: float, timeout: str) -> dict:
    """Follow a workflow run job by job to its conclusion; anything but success is the action's error."""
    ctx.log(f"run {run.id}: {run.html_url}")
    seen: dict[str, str] = {}
    while True:
        run = r.get_workflow_run(run.id)
        for job in run.jobs():
            state = job.conclusion or job.status
            if seen.get(job.name) != state:
                seen[job.name] = state
                ctx.log(f"job {job.name}: {state}")
        if run.status == "completed":
            break
        if ctx.clock() > deadline:
            raise ActionError(f"{name} run {run.id} still {run.status} after {timeout}: {run.html_url}")
        if not ctx.sleep(every):
            raise ActionError(f"stopped following {name} run {run.id} (it goes on): {run.html_url}")
    ctx.log(f"{name} run {run.id}: {run.conclusion}")
    if run.conclusion != "success":
        raise ActionError(f"{name} run {run.id} ended {run.conclusion}: {run.html_url}")
    return {"run_id": run.id, "conclusion": run.conclusion, "url": run.html_url}


@action("github.run")
@_gh_errors
def pushed_run(ctx: ActionContext, repo: str, ref: str, sha: str = "", workflow: str = "", timeout: str = "3600",
               poll: str = "15", api_url: str = "") -> dict:
    """Follow the GitHub Actions run that a push of `ref` (a branch or a tag) started, job by job, to its
    conclusion: the deploy a `git push origin production` or a release tag sets off. The run is of `sha`, or
    of the ref's commit now: a run left by an earlier push of the same branch is never taken for this one."""
    r = _repo(ctx, repo, api_url)
    every = ctx.scaled(max(0.1, seconds(poll, "poll")))  # GitHub's time: shorter in a time-scaled rehearsal
    deadline = ctx.clock() + ctx.scaled(seconds(timeout, "timeout"))
    if not sha.strip():  # PyGithub's get_commit(ref).sha would give back the ref itself without asking
        _, commit = r._requester.requestJsonAndCheck("GET", f"{r.url}/commits/{ref}")
        sha = commit["sha"]
    sha = sha.strip()
    name = f"{workflow or 'GitHub Actions'} on {ref}"
    ctx.log(f"waiting for the run of {name} at {sha[:9]}")
    wf = r.get_workflow(workflow) if workflow else None
    while True:  # GitHub starts the run a few seconds after the push
        runs = (wf.get_runs(branch=ref, event="push", head_sha=sha) if wf is not None
                else r.get_workflow_runs(branch=ref, event="push", head_sha=sha))
        run = next(iter(itertools.islice(runs, 1)), None)
        if run is not None:
            break
        if ctx.clock() > deadline or not ctx.sleep(every):
            raise ActionError(f"no GitHub Actions run started for {ref} at {sha[:9]}: "
                              f"see https://github.com/{repo}/actions")
    return _follow(ctx, r, run, run.name or name, deadline, every, timeout)

RED = {"failure", "cancelled", "timed_out", "action_required", "startup_failure", "stale", "error"}
GREEN = {"success", "neutral", "skipped"}


def _ci_rows(commit, skip: set[str]) -> list[list[str]]:
    """[kind, name, state] for every check run (GitHub Actions reports these) and commit status."""
    rows = [["check run", cr.name, cr.conclusion or cr.status] for cr in commit.get_check_runs()
            if cr.name not in skip]
    combined = commit.get_combined_status()
    rows += [["status", s.context, s.state] for s in combined.statuses if s.context not in skip]
    return rows


@action("github.checks")
@_gh_errors
def checks(ctx: ActionContext, repo: str, ref: str, timeout: str = "1800", every: str = "30", ignore: str = "",
           api_url: str = "") -> dict:
    """Wait until CI is green for a ref: its check runs (GitHub Actions) and commit statuses, polled with
    the token (unauthenticated, GitHub allows 60 requests an hour)."""
    r = _repo(ctx, repo, api_url)
    skip = set(words(ignore))
    pause = ctx.scaled(max(0.05, seconds(every, "every")))  # CI's time: shorter in a time-scaled rehearsal
    deadline = ctx.clock() + ctx.scaled(seconds(timeout, "timeout"))
    last = None
    while True:
        rows = _ci_rows(r.get_commit(ref), skip)
        red = [row for row in rows if row[2] in RED]
        waiting = [row for row in rows if row[2] not in RED | GREEN]
        if rows != last:
            ctx.table(["kind", "name", "state"], rows, {n for n, row in enumerate(rows) if row[2] in RED})
            last = rows
        if red:
            raise ActionError(f"CI is red for {ref} in {repo}: " + ", ".join(f"{n} {s}" for _, n, s in red))
        if rows and not waiting:
            ctx.log(f"CI is green for {ref}: {len(rows)} check(s)")
            return {"state": "success", "checks": len(rows), "names": [row[1] for row in rows]}
        what = (f"{len(waiting)} of {len(rows)} check(s) still running" if rows
                else "no check run or status has reported yet")
        if ctx.clock() + pause > deadline:
            raise ActionError(f"CI for {ref} is not green after {timeout}: {what}")
        if not ctx.sleep(pause):
            raise ActionError(f"cancelled while waiting for CI on {ref}: {what}")


@action("github.last_success")
@_gh_errors
def last_success(ctx: ActionContext, repo: str, branch: str, workflow: str = "", exclude: str = "",
                 api_url: str = "") -> dict:
    """The newest successful GitHub Actions run on a branch (of one workflow, if given) whose commit is not
    in `exclude`: the last good deploy when the newest one, which may have succeeded too, is the bad one."""
    r = _repo(ctx, repo, api_url)
    bad = [s.strip() for s in words(exclude)]
    kw = {"branch": branch, "status": "success"}
    runs = r.get_workflow(workflow).get_runs(**kw) if workflow else r.get_workflow_runs(**kw)
    skipped = 0
    for run in itertools.islice(runs, 100):
        if any(run.head_sha.startswith(b) or b.startswith(run.head_sha) for b in bad if b):
            skipped += 1
            continue
        ctx.log(f"last good: run {run.id} ({run.name}, {run.created_at:%Y-%m-%d %H:%M} UTC) of {run.head_sha[:9]}"
                + (f"; skipped {skipped} successful run(s) of {', '.join(b[:9] for b in bad)}" if skipped else ""))
        return {"head_sha": run.head_sha, "run_id": run.id, "url": run.html_url}
    raise ActionError(f"no successful run on {branch} in {repo} other than {', '.join(b[:9] for b in bad) or '-'} "
                      f"among the last 100: find the last good commit by hand")
