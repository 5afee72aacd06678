"""The command-line tools the rehearsal world provides, as the real ones answer: `gcloud` (Cloud SQL
clones, cluster credentials), `kubectl` (apply, get pods, rollout status), `gh` (run list) and
`aws-vault exec`. Each is a small program on the world's PATH that asks the world's server
($DEPLOYTUI_WORLD_URL) for what it shows, so a fault shows up in their output, where the real one would.

    python -m deploytui.sandbox.tools gcloud sql instances list --project vetspire-app

Only the standard library: they start on every call."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PROVIDED = ("gcloud", "kubectl", "gh", "aws-vault")


def _call(method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    url = os.environ.get("DEPLOYTUI_WORLD_URL", "").rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            return err.code, {}
    except OSError as err:
        print(f"cannot reach the rehearsal world at {url}: {err}", file=sys.stderr)
        sys.exit(2)


def _opts(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words and --flag value / --flag=value / --switch options."""
    words, opts, i = [], {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
        elif a.startswith("-") and a != "-":
            k = a.lstrip("-")
            if i + 1 < len(args) and not args[i + 1].startswith("-") and k not in ("quiet", "q", "async", "wide"):
                opts[k] = args[i + 1]
                i += 1
            else:
                opts[k] = ""
        else:
            words.append(a)
        i += 1
    return words, opts


def _age(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


# ---------------------------------------------------------------- gcloud
def gcloud(args: list[str]) -> int:
    words, opts = _opts(args)
    project = opts.get("project", "vetspire-app")
    if words[:1] == ["beta"]:
        words = words[1:]
    if words[:3] == ["sql", "instances", "clone"] and len(words) == 5:
        return _sql_clone(words[3], words[4], project)
    if words[:3] == ["sql", "instances", "list"]:
        _, rows = _call("GET", "/_world/gcp/sql/instances")
        prefix = opts.get("filter", "").removeprefix("name:")
        names = [r["name"] for r in rows if r["name"].startswith(prefix)]
        if opts.get("format", "").startswith("value(name)"):
            print("\n".join(names))
        else:
            print(f"{'NAME':44} {'DATABASE_VERSION':17} {'LOCATION':14} STATUS")
            for r in rows:
                if r["name"] in names:
                    print(f"{r['name']:44} {'POSTGRES_15':17} {'us-central1-a':14} {r['state']}")
        return 0
    if words[:3] == ["sql", "instances", "delete"] and len(words) == 4:
        code, got = _call("DELETE", f"/_world/gcp/sql/instances/{words[3]}")
        if code != 200:
            print(f"ERROR: (gcloud.sql.instances.delete) HTTPError {code}: {got.get('error')}", file=sys.stderr)
            return 1
        print("Deleting Cloud SQL instance...done.", file=sys.stderr)
        print(f"Deleted [https://sqladmin.googleapis.com/sql/v1beta4/projects/{project}/instances/{words[3]}].",
              file=sys.stderr)
        return 0
    if words[:2] == ["sql", "connect"]:
        print("ERROR: (gcloud.sql.connect) the rehearsal world has no database to connect to: "
              "this step needs a `rehearse` stand-in", file=sys.stderr)
        return 1
    if words[:3] == ["container", "clusters", "get-credentials"] and len(words) == 4:
        print("Fetching cluster endpoint and auth data.", file=sys.stderr)
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        zone = opts.get("zone") or opts.get("region", "us-central1")
        context = f"gke_{project}_{zone}_{words[3]}"
        with open(path, "w") as f:
            f.write(f"apiVersion: v1\nkind: Config\ncurrent-context: {context}\ncontexts:\n- name: {context}\n")
        print(f"kubeconfig entry generated for {words[3]}.", file=sys.stderr)
        return 0
    print(f"ERROR: (gcloud) the rehearsal world does not model `gcloud {' '.join(args)}`", file=sys.stderr)
    return 2


def _sql_clone(source: str, dest: str, project: str) -> int:
    code, got = _call("POST", f"/_world/gcp/sql/instances/{dest}", {"source": source})
    if code != 200:
        print(f"ERROR: (gcloud.sql.instances.clone) HTTPError {code}: {got.get('error')}", file=sys.stderr)
        return 1
    print("Cloning Cloud SQL instance...", end="", file=sys.stderr, flush=True)
    minute = 60 / got["scale"]  # a dot a world minute, as gcloud's spinner turns
    while True:
        code, now = _call("GET", f"/_world/gcp/sql/instances/{dest}")
        left = now["ready_at"] - now["now"]
        if left <= 0:
            break
        time.sleep(min(minute, left, 1.0))
        print(".", end="", file=sys.stderr, flush=True)
    print("done.", file=sys.stderr)
    print(f"Created [https://sqladmin.googleapis.com/sql/v1beta4/projects/{project}/instances/{dest}].",
          file=sys.stderr)
    print(f"{'NAME':44} {'DATABASE_VERSION':17} {'LOCATION':14} {'TIER':18} STATUS")
    print(f"{dest:44} {'POSTGRES_15':17} {'us-central1-a':14} {'db-custom-8-32768':18} RUNNABLE")
    return 0


# ---------------------------------------------------------------- kubectl
def kubectl(args: list[str]) -> int:
    config = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not os.path.isfile(config) or "current-context:" not in open(config).read():
        print("The connection to the server localhost:8080 was refused - did you specify the right host or port?",
              file=sys.stderr)
        return 1
    words, opts = _opts(args)
    if words[:1] == ["apply"] and "f" in opts:
        path = opts["f"]
        if not os.path.isfile(path):
            print(f'error: the path "{path}" does not exist', file=sys.stderr)
            return 1
        code, got = _call("POST", "/_world/gcp/k8s/apply", {"manifest": open(path).read()})
        if code != 200:
            print(got.get("error", "error"), file=sys.stderr)
            return 1
        print(got["out"])
        return 0
    if words[:2] in (["get", "pods"], ["get", "pod"], ["get", "po"]):
        _, got = _call("GET", "/_world/gcp/k8s/pods")
        wide = opts.get("o") == "wide"
        head = f"{'NAME':32} {'READY':7} {'STATUS':18} {'RESTARTS':10} AGE"
        print(head + ("   IP           NODE" if wide else ""))
        for k, p in enumerate(got["pods"]):
            line = f"{p['name']:32} {p['ready']:7} {p['status']:18} {p['restarts']!s:10} {_age(p['age'])}"
            print(line + (f"   10.8.{k}.{17 + k:<5} {p['node']}" if wide else ""))
        return 0
    if words[:2] == ["rollout", "status"]:
        while True:
            _, got = _call("GET", "/_world/gcp/k8s/pods")
            pods = got["pods"]
            if any(p["status"] == "CrashLoopBackOff" for p in pods):
                print(f'error: deployment "{words[2].split("/")[-1]}" exceeded its progress deadline', file=sys.stderr)
                return 1
            if all(p["status"] == "Running" for p in pods):
                print(f'deployment "{words[2].split("/")[-1]}" successfully rolled out')
                return 0
            time.sleep(0.2)
    print(f"error: the rehearsal world does not model `kubectl {' '.join(args)}`", file=sys.stderr)
    return 1


# ---------------------------------------------------------------- gh
GH_FIELDS = {"headSha": "head_sha", "headBranch": "head_branch", "status": "status", "conclusion": "conclusion",
             "databaseId": "id", "displayTitle": "display_title", "workflowName": "name", "createdAt": "created_at",
             "url": "html_url", "event": "event", "number": "run_number"}


def gh(args: list[str]) -> int:
    words, opts = _opts(args)
    repo = opts.get("R") or opts.get("repo") or os.environ.get("GH_REPO", "")
    if words[:2] != ["run", "list"]:
        print(f"the rehearsal world does not model `gh {' '.join(args)}`", file=sys.stderr)
        return 1
    if not repo:
        print("failed to determine base repo: set GH_REPO or pass -R OWNER/REPO", file=sys.stderr)
        return 1
    query = "&".join(f"{k}={opts[k]}" for k in ("branch", "status", "event") if opts.get(k))
    code, got = _call("GET", f"/repos/{repo}/actions/runs" + (f"?{query}" if query else ""))
    if code != 200:
        print(f"HTTP {code}: {got.get('message') if isinstance(got, dict) else got}", file=sys.stderr)
        return 1
    runs = got["workflow_runs"]
    if opts.get("workflow"):
        runs = [r for r in runs if opts["workflow"] in (r["name"], r["path"].rsplit("/", 1)[-1])]
    runs = runs[:int(opts.get("limit") or opts.get("L") or 20)]
    if "json" not in opts:
        for r in runs:
            print("\t".join(str(x) for x in (r["conclusion"] or r["status"], r["display_title"], r["name"],
                                             r["head_branch"], r["event"], r["id"])))
        return 0
    fields = [f for f in opts["json"].split(",") if f]
    items = [{f: r.get(GH_FIELDS.get(f, f)) for f in fields} for r in runs]
    out = _jq(items, opts["jq"]) if opts.get("jq") else items
    print(out if isinstance(out, str) else json.dumps(out, indent=2))
    return 0


def _jq(value: object, expr: str) -> object:
    """The jq `gh --jq` is given most: `.`, `.[N]`, `.[]`, `.field`, chained (`.[0].headSha`)."""
    import re

    results = [value]
    for part in re.findall(r"\.\[\d*\]|\.[A-Za-z_][A-Za-z0-9_]*|\.", expr.strip()):
        nxt = []
        for v in results:
            if part == ".":
                nxt.append(v)
            elif part == ".[]":
                nxt.extend(v if isinstance(v, list) else [])
            elif part.startswith(".["):
                k = int(part[2:-1])
                nxt.append(v[k] if isinstance(v, list) and -len(v) <= k < len(v) else None)
            else:
                nxt.append(v.get(part[1:]) if isinstance(v, dict) else None)
        results = nxt
    return "\n".join("null" if r is None else r if isinstance(r, str) else json.dumps(r) for r in results)


# ---------------------------------------------------------------- aws-vault
def aws_vault(args: list[str]) -> int:
    if len(args) >= 2 and args[0] == "exec":
        rest = args[2:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if rest:  # the session is the world's: its credentials are in the environment already
            os.execvp(rest[0], rest)
    print("aws-vault: the rehearsal world models `aws-vault exec PROFILE -- COMMAND` (its session is the "
          "world's)", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    tool = {"gcloud": gcloud, "kubectl": kubectl, "gh": gh, "aws-vault": aws_vault}.get(name)
    if tool is None:
        print(f"no tool {name!r} in the rehearsal world", file=sys.stderr)
        return 127
    return tool(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
