"""The rehearsal world: what `deploytui rehearse RUNBOOK` runs a real runbook against.

    world = build_world(book, workdir, time_scale=60)
    # world.env: the whole environment for the run (AWS -> moto on 127.0.0.1, GitHub -> the fake,
    #            fake credentials, tool stubs first on PATH); world.vars: values the runbook needs here
    world.refuse_outside(values)   # after the operator's --var values are merged in
    ... run the runbook with rehearsal=True, env=world.env, extra_vars=world.vars ...
    world.describe()               # lines for the screen; world.recorded() what GitHub/Slack got
    world.close()

Nothing in it can reach a real account: every URL in the environment and in the variables must be
on 127.0.0.1 (build_world refuses otherwise), real credentials and config files are replaced by
fake ones, and cloud CLIs (aws-vault, aws, gcloud, cf, kubectl, gh, psql) are stubs that refuse."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import UserError
from ..runbook.model import Runbook

LOCAL_HOST = "127.0.0.1"
LOGIN_GOV = {"login-gov-idp", "login-gov-pki", "login-gov-idp-recycle"}
# Tools with no local world: a step that calls one without a `rehearse` stand-in fails clearly.
STUB_TOOLS = ("aws-vault", "aws", "gcloud", "cf", "kubectl", "gh", "psql", "ssh", "ssm-instance")
# Environment variables that could carry real credentials or point a tool at a real account.
SCRUB = re.compile(r"^(AWS_|GITHUB_|GH_|SLACK_|GOOGLE_|CLOUDSDK_|GCLOUD_|KUBE|CF_|PG|DATABASE_URL|"
                   r"SSH_AUTH_SOCK|GPG_AGENT|GIT_)|(TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class RehearsalRefused(UserError):
    """The world would point somewhere other than this machine."""


@dataclass
class World:
    """A built rehearsal world. `env` and `vars` go to the run; `close()` stops its servers."""

    book_id: str
    workdir: Path
    time_scale: float
    env: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    github: Any = None  # GitHubWorld
    aws: Any = None  # AwsWorld
    git: dict[str, Path] = field(default_factory=dict)  # name -> bare origin
    _saved_environ: dict[str, str | None] = field(default_factory=dict)
    _closed: bool = False

    def describe(self) -> list[str]:
        """What the world is, for the screen's banner (the header also says REHEARSAL)."""
        scale = f"time scale {self.time_scale:g}x (a 15m gate lasts {format_scaled(900, self.time_scale)})"
        return [f"REHEARSAL of {self.book_id}: nothing leaves this machine; {scale}", *self.lines]

    def recorded(self) -> list[str]:
        """GitHub calls and Slack posts that were recorded instead of sent."""
        if self.github is None:
            return []
        return self.github.recorded_lines()

    def refuse_outside(self, values: dict[str, Any]) -> None:
        """Refuse (RehearsalRefused) if any variable value is a URL off this machine."""
        check_local(self.env, values)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.aws is not None:
            try:
                self.aws.stop()
            except Exception:
                pass
        if self.github is not None:
            self.github.stop()
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    def isolate_process(self) -> None:
        """In-process AWS clients (the actions, moto's autoscaler) read profiles and config files from
        this process's environment: point them at the world's fake ones until close()."""
        fake = {"AWS_PROFILE": None, "AWS_DEFAULT_PROFILE": None,
                "AWS_CONFIG_FILE": self.env["AWS_CONFIG_FILE"],
                "AWS_SHARED_CREDENTIALS_FILE": self.env["AWS_SHARED_CREDENTIALS_FILE"]}
        for name, value in fake.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def format_scaled(seconds: float, scale: float) -> str:
    from ..runbook.durations import format_duration

    return format_duration(seconds / (scale or 1.0))


def check_local(env: dict[str, str], values: dict[str, Any]) -> None:
    """Every URL in the environment and in the variables must be on 127.0.0.1."""
    for where, mapping in (("environment variable", env), ("variable", values)):
        for name, value in mapping.items():
            if isinstance(value, str) and URL.match(value.strip()):
                host = urlsplit(value.strip()).hostname
                if host != LOCAL_HOST:
                    raise RehearsalRefused(
                        f"rehearsal refused: {where} {name} points at {host or value}, not {LOCAL_HOST}; "
                        "a rehearsal never reaches a real account", 2)


def build_world(book: Runbook, workdir: str | Path, time_scale: float = 60.0) -> World:
    """Lay out the local world `book` needs under WORKDIR and start its servers."""
    from .github_world import GitHubWorld

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    world = World(book_id=book.runbook.id, workdir=workdir, time_scale=float(time_scale or 1.0))
    world.github = GitHubWorld().start()
    try:
        world.env = _base_env(book, workdir, world.github.url)
        world.vars["slack_webhook"] = world.github.url + "/_world/slack"
        world.lines.append(f"GitHub: a fake API at {world.github.url}: calls are recorded instead of sent")
        world.lines.append("Slack: posts are recorded at the fake, not sent")
        builder = _BUILDERS.get(book.runbook.id)
        if builder is not None:
            builder(world, book)
        world.lines.append(f"cloud CLIs ({', '.join(STUB_TOOLS)}) refuse; steps use their `rehearse` stand-ins")
        world.vars = {k: v for k, v in world.vars.items() if k in book.vars}
        _refuse_unset_urls(book, world.vars)
        check_local(world.env, world.vars)
    except BaseException:
        world.close()
        raise
    return world


# ---------------------------------------------------------------- environment
def _base_env(book: Runbook, workdir: Path, github_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SCRUB.search(k)}
    for spec in book.vars.values():  # the operator's own clones and tokens stay out of the world
        if spec.from_env:
            env.pop(spec.from_env, None)
    home = workdir / "home"
    for d in ("aws", "gcloud", "cf", "gh", "kube", "bin"):
        (home / d).mkdir(parents=True, exist_ok=True)
    (home / "aws" / "config").write_text("[default]\nregion = us-west-2\n")
    (home / "aws" / "credentials").write_text("")
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Rehearsal Operator\n\temail = rehearsal@example.gov\n"
                         "[commit]\n\tgpgsign = false\n[tag]\n\tgpgSign = false\n[init]\n\tdefaultBranch = main\n"
                         "[pull]\n\trebase = false\n[advice]\n\tdetachedHead = false\n")
    bindir = home / "bin"
    for tool in STUB_TOOLS:
        stub = bindir / tool
        stub.write_text("#!/bin/sh\n"
                        f"echo \"rehearsal: {tool} is not available in the rehearsal world "
                        "(give this step a rehearse stand-in)\" >&2\nexit 127\n")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env.update({
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "DEPLOYTUI_REHEARSAL": "1",
        "AWS_CONFIG_FILE": str(home / "aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GITHUB_API_URL": github_url,
        "GITHUB_TOKEN": "rehearsal-not-a-real-token",
        "GH_TOKEN": "rehearsal-not-a-real-token",
        "GH_CONFIG_DIR": str(home / "gh"),
        "SLACK_WEBHOOK_URL": github_url + "/_world/slack",
        "CLOUDSDK_CONFIG": str(home / "gcloud"),
        "CF_HOME": str(home / "cf"),
        "KUBECONFIG": str(home / "kube" / "config"),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    })
    return env


def _refuse_unset_urls(book: Runbook, values: dict[str, str]) -> None:
    """A variable whose default is a real URL must be given a local stand-in by the world."""
    for name, spec in book.vars.items():
        if name in values or not spec.default:
            continue
        if URL.match(spec.default) and urlsplit(spec.default).hostname != LOCAL_HOST:
            raise RehearsalRefused(
                f"rehearsal refused: variable {name} defaults to {spec.default}, and the rehearsal world "
                "has no local stand-in for it", 2)


# ---------------------------------------------------------------- git helpers
def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    base.update({"GIT_AUTHOR_NAME": "Release Bot", "GIT_AUTHOR_EMAIL": "release@example.gov",
                 "GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": "release@example.gov",
                 "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    base.update(env or {})
    res = subprocess.run(["git", *args], cwd=cwd, env=base, capture_output=True, text=True)
    if res.returncode != 0:
        raise UserError(f"rehearsal world: git {args[0]} failed: {(res.stderr or res.stdout).strip()[:200]}", 1)
    return res.stdout.strip()


def _write(root: Path, rel: str, text: str, executable: bool = False) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(0o755)


def _commit(work: Path, message: str, files: dict[str, str], when: str | None = None,
            executable: tuple[str, ...] = ()) -> str:
    for rel, text in files.items():
        _write(work, rel, text, rel in executable)
    _git(work, "add", "-A")
    dates = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {}
    _git(work, "commit", "-q", "-m", message, env=dates)
    return _git(work, "rev-parse", "HEAD")


def _publish(world: World, name: str, seed: Path, branches: list[str], tags: bool = False) -> Path:
    """Push SEED's branches to a bare origin WORKDIR/origin/NAME.git and clone it to WORKDIR/NAME."""
    origin = world.workdir / "origin" / f"{name}.git"
    if origin.exists():
        shutil.rmtree(origin)
    origin.parent.mkdir(parents=True, exist_ok=True)
    _git(world.workdir, "init", "-q", "--bare", "-b", branches[0], str(origin))
    _git(seed, "remote", "add", "origin", str(origin))
    _git(seed, "push", "-q", "origin", *branches)
    if tags:
        _git(seed, "push", "-q", "--tags", "origin")
    clone = world.workdir / name
    if clone.exists():
        shutil.rmtree(clone)
    _git(world.workdir, "clone", "-q", str(origin), str(clone))
    for b in branches[1:]:
        _git(clone, "branch", "-q", "--track", b, f"origin/{b}")
    world.git[name] = origin
    return clone


def _seed(world: World, name: str) -> Path:
    seed = world.workdir / "seed" / name
    if seed.exists():
        shutil.rmtree(seed)
    seed.mkdir(parents=True)
    _git(seed, "init", "-q", "-b", "main")
    return seed


def _merge_in_origin(world: World, origin: Path, head: str, base: str, number: int) -> str | None:
    """What GitHub's merge button does, done in the local origin (so `git pull` sees it)."""
    work = world.workdir / "seed" / f"merge-{origin.stem}-{number}"
    if work.exists():
        shutil.rmtree(work)
    _git(world.workdir, "clone", "-q", str(origin), str(work))
    branches = _git(work, "branch", "-r")
    if f"origin/{head}" not in branches.split() or f"origin/{base}" not in branches.split():
        return None  # a branch the rehearsal never pushed: GitHub's record is enough
    _git(work, "checkout", "-q", base)
    _git(work, "merge", "-q", "--no-ff", f"origin/{head}", "-m", f"Merge pull request #{number} from {head}")
    _git(work, "push", "-q", "origin", base)
    sha = _git(work, "rev-parse", "HEAD")
    shutil.rmtree(work, ignore_errors=True)
    return sha


def _merges_into(world: World, repos: dict[str, Path], then=None) -> None:
    def on_merge(full_name: str, pr: dict) -> str | None:
        origin = repos.get(full_name)
        if origin is None:
            return None
        sha = _merge_in_origin(world, origin, pr["head"]["ref"], pr["base"]["ref"], pr["number"])
        if sha and then is not None:
            then(full_name, pr, sha)
        return sha

    world.github.on_merge = on_merge


# ---------------------------------------------------------------- per runbook
def _login_gov(world: World, book: Runbook) -> None:
    from moto.moto_api._internal.models import moto_api_backend

    from .aws_world import start_world
    from .git_world import make_git_world

    world.isolate_process()
    moto_api_backend.reset()  # moto keeps one account per process: start it empty
    world.aws = start_world(["prod"])
    world.env.update(world.aws.env)
    world.aws.run_autoscaler(every=0.2)
    world.lines.append(f"AWS: moto at {world.aws.endpoint}: prod laid out (login-vpc-prod, ASGs prod-idp, "
                       "prod-worker, prod-pivcac, prod-migration, target groups, cloud-init logs)")
    app = "identity-pki" if book.runbook.id == "login-gov-pki" else "identity-idp"
    gw = make_git_world(world.workdir / "git" / app)
    world.git[app] = gw.origin
    staging_sha = _git(gw.clone, "rev-parse", "origin/main~1")
    deploy = {"env": "staging", "branch": "main", "user": "root", "git_sha": staging_sha,
              "git_date": "2026-11-23T08:00:00Z", "chef_run_timestamp": "20261123080000",
              "instance_id": "i-0staging", "containers": {"branch": "main", "git_sha": staging_sha}}
    repo = f"18F/{app}"
    world.github.seed_releases(repo, ["RC 110", "RC 110.1", "RC 111"])
    world.vars.update({
        "idp_repo": str(gw.clone), "pki_repo": str(gw.clone), "github_repo": repo, "rc": "112",
        "staging_deploy_url": world.github.add_document(f"{app}/api/deploy.json", deploy),
    })

    def deployed(full_name: str, pr: dict, sha: str) -> None:
        if pr["base"]["ref"] == "stages/prod" and world.aws is not None:
            world.aws.deploy(sha)  # new instances from now on carry the release's sha

    _merges_into(world, {repo: gw.origin}, deployed)
    # identity-devops: the clone whose bin/ scripts the seed runs (monitor-deploy)
    seed = _seed(world, "identity-devops")
    _commit(seed, "identity-devops", {
        "README.md": "# identity-devops (rehearsal)\n",
        "bin/monitor-deploy": "#!/bin/sh\necho \"monitor-deploy $1 $2 (rehearsal)\"\n"
                              "printf '%-10s %8s %8s %10s\\n' sha 5XX% requests instances\n"
                              "printf '%-10s %8s %8s %10s\\n' old 0.02 18211 4 new 0.02 4410 4\n",
    }, executable=("bin/monitor-deploy",))
    world.vars["devops_repo"] = str(_publish(world, "identity-devops", seed, ["main"]))
    world.lines.append(f"git: origin {gw.origin} (main with changelog lines, stages/prod); clone {gw.clone}; "
                       f"staging deploy.json serves {staging_sha[:9]}; releases up to RC 111")


def _getgov(world: World, book: Runbook) -> None:
    seed = _seed(world, "manage.get.gov")
    day = 86400
    import time as _time

    now = int(_time.time())

    def at(days_ago: float) -> str:
        return f"@{int(now - days_ago * day)} +0000"

    files = {"src/deploy.sh": "#!/bin/sh\necho \"deploying to $1\"\n", "src/build.sh": "#!/bin/sh\necho build\n"}
    c1 = _commit(seed, "Initial registrar", {**files, "README.md": "# manage.get.gov\n"}, at(30),
                 executable=("src/deploy.sh", "src/build.sh"))
    c2 = _commit(seed, "Domain request form", {"src/registrar/forms.py": "# forms\n"}, at(15))
    c3 = _commit(seed, "DNSSEC settings page", {"src/registrar/dnssec.py": "# dnssec\n"}, at(10))
    c4 = _commit(seed, "Nameserver validation", {"src/registrar/ns.py": "# ns\n"}, at(8))
    _commit(seed, "Organization admin roles", {"src/registrar/roles.py": "# roles\n"}, at(2))
    _commit(seed, "Copy changes on the home page", {"src/registrar/home.html": "<p>.gov</p>\n"}, at(1))

    def tag(name: str, sha: str, days_ago: float) -> None:
        _git(seed, "tag", "-a", name, sha, "-m", name, env={"GIT_COMMITTER_DATE": at(days_ago)})

    tag("staging-1", c1, 21)
    tag("v1.0.0", c1, 14)
    tag("staging-2", c2, 14)
    tag("v1.1.0", c2, 7)
    tag("staging-3", c4, 7)
    clone = _publish(world, "manage.get.gov", seed, ["main"], tags=True)
    repo = "cisagov/manage.get.gov"
    pr = world.github.seed_pull(repo, "hotfix/critical", "main", "Fix the critical bug on stable")
    _merges_into(world, {repo: world.git["manage.get.gov"]})
    world.vars.update({"repo_dir": str(clone), "github_repo": repo, "sandbox": "rehearsal",
                       "hotfix_pr": str(pr), "hotfix_branch": "hotfix/critical", "migrate_env": "rehearsal"})
    del c3
    world.lines.append(f"git: origin with main, tags staging-1..3 (staging-3 a week old) and v1.0.0, v1.1.0; "
                       f"clone {clone}; hotfix pull request #{pr} waiting")


def _govuk(world: World, book: Runbook) -> None:
    gh = world.github
    gh.add_document("release/applications", {
        "content-publisher": {"deploy_freeze": True, "notes": "frozen while the editor migration runs"},
        "whitehall": {"automatic_deploys_enabled": False},
    })
    world.vars.update({
        "github_api": gh.url,
        "release_app_url": gh.url + "/_world/release",
        "error_rate_url": gh.add_document("grafana/error-rate", {"error_rate": 0.002, "window": "15m"}),
    })
    world.lines.append("Release app: content-publisher is frozen, whitehall has automatic deploys off; "
                       "other apps deploy")
    world.lines.append("CI is green for every release; staging error rate 0.2%; deploy and smoke-test "
                       "workflows succeed at the fake GitHub")


def _vetspire(world: World, book: Runbook) -> None:
    seed = _seed(world, "vetspire")
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: vetspire-api\nspec:\n  template:\n"
                  "    spec:\n      containers:\n        - name: api\n"
                  "          image: gcr.io/vetspire-app/vetspire:release\n")
    diff = ("#!/bin/sh\n# the migrations between $1 and HEAD, as SQL to dry-run\n"
            "git diff --name-only \"$1\"...HEAD -- priv/repo/migrations | while read -r f; do\n"
            "  echo \"-- $f\"; cat \"$f\"\ndone\n")
    _commit(seed, "Vetspire", {"README.md": "# Vetspire\n", "scripts/diff_migrations": diff,
                               "k8s/production.deployment.yaml": deployment}, executable=("scripts/diff_migrations",))
    _commit(seed, "Appointment reminders by SMS", {"lib/reminders.ex": "# sms\n"})
    _git(seed, "branch", "production")
    _commit(seed, "Add index on appointments.starts_at", {
        "priv/repo/migrations/20261110_appointments_index.sql":
            "CREATE INDEX CONCURRENTLY appointments_starts_at ON appointments (starts_at);\n"})
    _commit(seed, "Invoice totals column", {
        "priv/repo/migrations/20261112_invoice_total.sql":
            "ALTER TABLE invoices ADD COLUMN total_cents bigint;\n"})
    _git(seed, "branch", "staging")
    _commit(seed, "Lab results page", {"lib/labs.ex": "# labs\n"})
    _git(seed, "checkout", "-q", "-b", "master")
    clone = _publish(world, "vetspire", seed, ["master", "staging", "production"])
    world.vars["repo_dir"] = str(clone)
    world.lines.append(f"git: origin with master > staging > production (two migrations waiting); clone {clone}")
    world.lines.append("gcloud, kubectl: stand-ins print what they would do; no database is cloned or deleted")


def _example(world: World, book: Runbook) -> None:
    world.vars["workdir"] = str(world.workdir / "example")


_BUILDERS = {
    "login-gov-idp": _login_gov, "login-gov-pki": _login_gov, "login-gov-idp-recycle": _login_gov,
    "getgov": _getgov, "govuk-cd": _govuk, "vetspire": _vetspire, "example": _example,
}
