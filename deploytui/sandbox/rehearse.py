"""The rehearsal world: what `deploytui rehearse RUNBOOK` runs a real runbook against.

    world = build_world(book, workdir, time_scale=60, faults={"unhealthy-instances"})
    # world.env: the whole environment for the run (AWS -> moto, GitHub and Slack -> the world's server,
    #            the world's own HOME and TMPDIR, its tools first on PATH, no real credentials);
    # world.vars: values the runbook needs here; world.clock: the run's clock
    ... run the runbook with rehearsal=True, env=world.env, clock=world.clock, started=world.started() ...
    world.save(path)                 # everything needed to build it again: build_world(..., restore=path)
    world.close()

How the systems behave is in rules.py; which faults can be injected in faults.py; the seal that keeps
every process of a rehearsal off the network in seal.py. This module lays each seed's world out."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import UserError
from ..runbook.loader import LineMap, Problem
from ..runbook.model import Runbook
from . import gitlab_world, rules
from .clock import WorldClock
from .faults import LOGIN_GOV
from .tools import PROVIDED

LOCAL_HOST = "127.0.0.1"
# Tools the world does not model: a stand-in says so instead of a confusing failure. (Called by full
# path they run, sealed off the network, and fail there.)
NOT_PROVIDED = ("cf", "psql", "ssh", "ssm-instance", "aws")
# Environment variables that could carry real credentials or point a tool at a real account.
SCRUB = re.compile(r"^(AWS_|GITHUB_|GH_|GITLAB_|GLAB_|SLACK_|GOOGLE_|CLOUDSDK_|GCLOUD_|KUBE|CF_|PG|DATABASE_URL|"
                   r"SSH_AUTH_SOCK|GPG_AGENT|GIT_|DOCKER_|VAULT_|AZURE_|ARM_|DIGITALOCEAN|HEROKU|"
                   r"NEWRELIC|SENTRY|DEPLOYTUI_REHEARSAL)|(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_KEY|"
                   r"ACCESS_KEY|PRIVATE_KEY)", re.IGNORECASE)
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
SNAPSHOT_FORMAT = 1


class RehearsalRefused(UserError):
    """The rehearsal cannot be held safely or faithfully."""


@dataclass
class World:
    """A built rehearsal world. `env`, `vars` and `clock` go to the run; `close()` stops its servers."""

    book_id: str
    workdir: Path
    clock: WorldClock
    faults: frozenset[str] = frozenset()
    ident: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    env: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    seal: str = ""  # how it is kept off the network: "network namespace", or "none: REASON"
    github: Any = None  # GitHubWorld: the world's HTTP server
    aws: Any = None  # AwsWorld
    gcp: Any = None  # GcpWorld
    git: dict[str, Path] = field(default_factory=dict)  # name -> bare origin
    snapshot_path: Path | None = None
    _saver: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _save_lock: threading.Lock = field(default_factory=threading.Lock)
    made_workdir: bool = True  # an empty directory the operator gave stays (emptied) at the end
    _closed: bool = False
    _saved_environ: dict[str, str | None] = field(default_factory=dict)

    @property
    def time_scale(self) -> float:
        return self.clock.scale

    def describe(self) -> list[str]:
        """What the world is, for the screen's banner (the header also says REHEARSAL). Never the faults."""
        from ..runbook.durations import format_duration

        scale = f"time scale {self.time_scale:g}x (a 15m gate lasts {format_duration(900 / self.time_scale)})"
        sealed = "nothing leaves this machine" if self.seal.startswith("network") else \
            f"NOT SEALED ({self.seal.removeprefix('none: ')})"
        return [f"REHEARSAL of {self.book_id}: {sealed}; {scale}", *self.lines]

    def started(self) -> dict:
        """What the run's record keeps about its world (run_started's faults, seal and world)."""
        return {"faults": sorted(self.faults), "seal": self.seal,
                "world": {"id": self.ident, "snapshot": str(self.snapshot_path or ""), "workdir": str(self.workdir),
                          "clock_offset": round(self.clock.offset, 3), "time_scale": self.time_scale}}

    def recorded(self) -> list[str]:
        """GitHub calls and Slack posts that were recorded instead of sent."""
        return self.github.recorded_lines() if self.github is not None else []

    def refuse_outside(self, values: dict[str, Any], book: Runbook | None = None) -> None:
        """Unsealed only: refuse a variable whose value is an address off this machine that a step would
        reach (a URL only shown to the operator is fine)."""
        if self.seal.startswith("network"):
            return
        check_local(self.env, {k: v for k, v in values.items() if book is None or k in reached_vars(book)})

    def isolate_process(self) -> None:
        """moto and in-process AWS clients read profiles and config files from this process's environment:
        point them at the world's until close()."""
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            self._saved_environ.setdefault(name, os.environ.get(name))
            if name in self.env:
                os.environ[name] = self.env[name]
            else:
                os.environ.pop(name, None)

    # -- keeping it for a resume ---------------------------------------------------------------
    def save(self, path: Path | None = None) -> None:
        """Everything needed to build this world again, in one file (0600)."""
        path = path or self.snapshot_path
        if path is None or self._closed:
            return
        with self._save_lock:
            state = {"format": SNAPSHOT_FORMAT, "book_id": self.book_id, "ident": self.ident,
                     "workdir": str(self.workdir), "faults": sorted(self.faults), "seal": self.seal,
                     "clock": {"scale": self.clock.scale, "offset": self.clock.offset},
                     "vars": self.vars, "lines": self.lines, "git": {k: str(v) for k, v in self.git.items()},
                     "github": self.github.snapshot() if self.github else None,
                     "aws": self.aws.snapshot() if self.aws else None,
                     "gcp": self.gcp.snapshot() if self.gcp else None}
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
                data = json.dumps(state, default=str).encode()
                info = tarfile.TarInfo("world.json")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                tar.add(self.workdir, arcname="workdir", filter=_no_locks)
            os.replace(tmp, path)

    def keep_saved(self, every: float = 2.0) -> None:
        """Save now and every few seconds until close() (a killed rehearsal resumes from the last save)."""
        self.save()

        def loop():
            while not self._stop.wait(every):
                try:
                    self.save()
                except Exception:  # a failed save must not end the rehearsal; the next one may work
                    pass

        self._saver = threading.Thread(target=loop, name="world-saver", daemon=True)
        self._saver.start()

    def forget(self) -> None:
        """The run is over: its world will not be wanted again."""
        if self.snapshot_path:
            self.snapshot_path.unlink(missing_ok=True)

    def close(self, save: bool = True) -> None:
        if self._closed:
            return
        self._stop.set()
        if self._saver is not None:
            self._saver.join(timeout=10)
        if save and self.snapshot_path:
            self.save()
        self._closed = True
        for part in (self.aws, self.github):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    pass
        if self.made_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            for child in self.workdir.iterdir() if self.workdir.exists() else ():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() and not child.is_symlink() \
                    else child.unlink(missing_ok=True)
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc) -> None:
        self.close(save=False)


def _no_locks(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out git's lock files (a save can catch git at work) and the world's TMPDIR."""
    if info.name.endswith(".lock") or info.name == "workdir/tmp" or info.name.startswith("workdir/tmp/"):
        return None
    return info


def check_local(env: dict[str, str], values: dict[str, Any]) -> None:
    """Every URL in the environment and in the variables must be on 127.0.0.1."""
    for where, mapping in (("environment variable", env), ("variable", values)):
        for name, value in mapping.items():
            if isinstance(value, str) and URL.match(value.strip()):
                host = urlsplit(value.strip()).hostname
                if host != LOCAL_HOST:
                    raise RehearsalRefused(
                        f"rehearsal refused: {where} {name} points at {host or value}, not {LOCAL_HOST}, and this "
                        "rehearsal is not sealed off the network", 2)


def reached_vars(book: Runbook) -> set[str]:
    """Variables a step's command, action, pane or notification uses (not only its text for people)."""
    from ..runbook import templates

    texts: list[str] = [book.notify.slack] if book.notify and book.notify.slack else []
    for s in book.steps:
        texts += [s.run or "", s.rehearse or "", s.cwd or "", json.dumps(s.with_), json.dumps(s.env)]
        for p in s.panes:
            texts += [p.tail or "", p.watch or "", p.cwd or "", json.dumps(p.with_), json.dumps(p.env),
                      p.rehearse or ""]
    names: set[str] = set()
    for t in texts:
        if "{" in t:
            try:
                names |= templates.referenced_names(t)
            except Exception:
                pass
    return names


# ---------------------------------------------------------------- building
def build_world(book: Runbook, workdir: str | Path, time_scale: float = 60.0, *,
                faults: frozenset[str] | set[str] = frozenset(), start_at: str | None = None,
                seal: str = "none: built in-process", restore: str | Path | None = None,
                snapshot_path: str | Path | None = None) -> World:
    """Lay out the local world `book` needs under WORKDIR and start its servers; with `restore`, build
    the world a saved rehearsal left (same workdir, state, faults and clock) instead."""
    from .clock import start_offset
    from .gcp_world import GcpWorld
    from .github_world import GitHubWorld

    saved = _load(Path(restore)) if restore else None
    if saved is not None:
        workdir = Path(saved["workdir"])
        if workdir.exists() and any(workdir.iterdir()):
            raise RehearsalRefused(f"cannot bring the rehearsal's world back: {workdir} is in use", 2)
        clock = WorldClock(saved["clock"]["scale"], saved["clock"]["offset"])
        faults = frozenset(saved["faults"])
    else:
        workdir = Path(workdir).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            raise RehearsalRefused(f"--workdir {workdir} is not empty: give a new or empty directory", 2)
        clock = WorldClock(time_scale, start_offset(book.schedule, start_at))
    made = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    world = World(book_id=book.runbook.id, workdir=workdir, clock=clock, faults=frozenset(faults), seal=seal,
                  snapshot_path=Path(snapshot_path) if snapshot_path else None, made_workdir=made)
    scenario = SCENARIOS.get(book.runbook.id, Scenario())
    # back on its old port: the run's variables (a webhook, a document's URL) name it
    port = saved["github"]["port"] if saved is not None else 0
    try:
        world.github = GitHubWorld(clock=clock, faults=world.faults, port=port).start()
    except OSError as err:
        world.close(save=False)
        raise RehearsalRefused(f"cannot bring the rehearsal's world back: port {port} is taken ({err.strerror})",
                               2) from None
    try:
        if saved is not None:
            world.ident = saved["ident"]
            _untar(saved["_tar"], workdir)
            world.github.restore(saved["github"])
            world.vars, world.lines = saved["vars"], saved["lines"]
            world.git = {k: Path(v) for k, v in saved["git"].items()}
        world.env = _base_env(book, world, scenario)
        if scenario.gcp:
            world.gcp = GcpWorld(clock=clock, faults=world.faults)
            if saved is not None:
                world.gcp.restore(saved["gcp"])
            world.github.services["/_world/gcp/"] = world.gcp.handle
        if scenario.aws:
            world.isolate_process()
            from .aws_world import start_world

            world.aws = start_world(["prod"], clock=clock, faults=world.faults,
                                    restore=saved["aws"] if saved is not None else None)
            world.env.update(world.aws.env)
            world.aws.run_autoscaler(every=0.2)
        if saved is None:
            world.vars["slack_webhook"] = world.github.url + "/_world/slack"
            world.lines.append(f"GitHub and Slack: the world's server at {world.github.url} records what would "
                               "have been sent")
            scenario.lay_out(world, book)
            world.vars = {k: v for k, v in world.vars.items() if k in book.vars}
            if clock.offset:
                from datetime import datetime

                world.lines.append("the world's clock starts at "
                                   f"{datetime.fromtimestamp(clock.now()).astimezone():%a %d %b %H:%M %Z}")
        scenario.wire(world, book)
    except BaseException:
        world.close(save=False)
        raise
    return world


def _load(path: Path) -> dict:
    try:
        tar = tarfile.open(path, "r:gz")
        member = tar.extractfile("world.json")
        if member is None:
            raise KeyError("world.json")
        state = json.loads(member.read())
    except (OSError, KeyError, tarfile.TarError, ValueError) as err:
        raise RehearsalRefused(f"{path}: the rehearsal's saved world cannot be read ({err})", 2) from None
    if state.get("format") != SNAPSHOT_FORMAT:
        raise RehearsalRefused(f"{path}: saved by another version of deploytui", 2)
    state["_tar"] = tar
    return state


def _untar(tar: tarfile.TarFile, workdir: Path) -> None:
    members = []
    for m in tar.getmembers():
        if m.name.startswith("workdir/"):
            m.name = m.name[len("workdir/"):]
            if m.islnk():  # git clones of local repositories hard-link their objects
                m.linkname = m.linkname.removeprefix("workdir/")
            members.append(m)
    tar.extractall(workdir, members=members, filter="tar")
    tar.close()


def _base_env(book: Runbook, world: World, scenario: Scenario) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SCRUB.search(k)}
    for spec in book.vars.values():  # the operator's own clones and tokens stay out of the world
        if spec.from_env:
            env.pop(spec.from_env, None)
    home = world.workdir / "home"
    for d in (".config/gcloud", ".cf", ".config/gh", ".kube", "bin", ".aws"):
        (home / d).mkdir(parents=True, exist_ok=True)
    (world.workdir / "tmp").mkdir(exist_ok=True)
    (home / ".aws" / "config").write_text("[default]\nregion = us-west-2\n")
    (home / ".aws" / "credentials").write_text("")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Rehearsal Operator\n\temail = rehearsal@example.gov\n"
                         "[commit]\n\tgpgsign = false\n[tag]\n\tgpgSign = false\n[init]\n\tdefaultBranch = main\n"
                         "[pull]\n\trebase = false\n[advice]\n\tdetachedHead = false\n")
    bindir = home / "bin"
    for tool in PROVIDED:
        _script(bindir / tool, f'exec {shlex.quote(sys.executable)} -m deploytui.sandbox.tools {tool} "$@"\n')
    for tool in NOT_PROVIDED:
        if tool in PROVIDED or (tool == "aws" and shutil.which("aws")):
            continue
        _script(bindir / tool, f'echo "rehearsal: {tool} is not part of the rehearsal world '
                               '(give this step a rehearse stand-in)" >&2\nexit 127\n')
    url = world.github.url
    env.update({
        "HOME": str(home),
        "TMPDIR": str(world.workdir / "tmp"),
        "PATH": f"{bindir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        "DEPLOYTUI_REHEARSAL": "1",
        "DEPLOYTUI_WORLD_URL": url,
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GITHUB_API_URL": url,
        "GITHUB_TOKEN": "rehearsal-not-a-real-token",
        "GH_TOKEN": "rehearsal-not-a-real-token",
        "GH_HOST": "github.com",
        "GH_CONFIG_DIR": str(home / ".config" / "gh"),
        "GITLAB_TOKEN": "rehearsal-not-a-real-token",
        "SLACK_WEBHOOK_URL": url + "/_world/slack",
        "CLOUDSDK_CONFIG": str(home / ".config" / "gcloud"),
        "CF_HOME": str(home / ".cf"),
        "KUBECONFIG": str(home / ".kube" / "config"),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        **scenario.env,
    })
    return env


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


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
    origin.parent.mkdir(parents=True, exist_ok=True)
    _git(world.workdir, "init", "-q", "--bare", "-b", branches[0], str(origin))
    _git(seed, "remote", "add", "origin", str(origin))
    _git(seed, "push", "-q", "origin", *branches)
    if tags:
        _git(seed, "push", "-q", "--tags", "origin")
    clone = world.workdir / name
    _git(world.workdir, "clone", "-q", str(origin), str(clone))
    for b in branches[1:]:
        _git(clone, "branch", "-q", "--track", b, f"origin/{b}")
    world.git[name] = origin
    return clone


def _seed(world: World, name: str) -> Path:
    seed = world.workdir / "seed" / name
    seed.mkdir(parents=True)
    _git(seed, "init", "-q", "-b", "main")
    return seed


def _merge_in_origin(world: World, origin: Path, head: str, base: str, number: int) -> str | None:
    """What GitHub's merge button does, done in the local origin (so `git pull` sees it)."""
    work = world.workdir / "seed" / f"merge-{origin.stem}-{number}"
    shutil.rmtree(work, ignore_errors=True)
    _git(world.workdir, "clone", "-q", str(origin), str(work))
    branches = _git(work, "branch", "-r").split()
    if f"origin/{head}" not in branches or f"origin/{base}" not in branches:
        return None  # a branch the rehearsal never pushed: GitHub's record is enough
    _git(work, "checkout", "-q", base)
    _git(work, "merge", "-q", "--no-ff", f"origin/{head}", "-m", f"Merge pull request #{number} from {head}")
    _git(work, "push", "-q", "origin", base)
    sha = _git(work, "rev-parse", "HEAD")
    shutil.rmtree(work, ignore_errors=True)
    return sha


def _merges_into(world: World, repos: dict[str, Path], then: Callable | None = None) -> None:
    def on_merge(full_name: str, pr: dict) -> str | None:
        origin = repos.get(full_name)
        if origin is None:
            return None
        sha = _merge_in_origin(world, origin, pr["head"]["ref"], pr["base"]["ref"], pr["number"])
        if sha and then is not None:
            then(full_name, pr, sha)
        return sha

    world.github.on_merge = on_merge


# ---------------------------------------------------------------- one scenario per seed
@dataclass
class Scenario:
    """A seed's world: `lay_out` builds its state once; `wire` connects its parts (again on a resume)."""

    aws: bool = False
    gcp: bool = False
    env: dict[str, str] = field(default_factory=dict)
    stands_in: tuple[str, ...] = ()  # variables whose values the world provides (their URLs it serves)

    def lay_out(self, world: World, book: Runbook) -> None:
        pass

    def wire(self, world: World, book: Runbook) -> None:
        pass


class LoginGov(Scenario):
    def __init__(self):
        super().__init__(aws=True, stands_in=("staging_deploy_url", "idp_repo", "pki_repo", "devops_repo",
                                              "github_repo", "gitlab_repo", "gitlab_api", "slack_webhook"))

    @staticmethod
    def app(book: Runbook) -> str:
        return "identity-pki" if book.runbook.id == "login-gov-pki" else "identity-idp"

    def lay_out(self, world: World, book: Runbook) -> None:
        from .git_world import make_git_world

        app = self.app(book)
        gw = make_git_world(world.workdir / "git" / app)
        world.git[app] = gw.origin
        staging_sha = _git(gw.clone, "rev-parse", "origin/main~1")
        deploy = {"env": "staging", "branch": "main", "user": "root", "git_sha": staging_sha,
                  "git_date": "2026-11-23T08:00:00Z", "chef_run_timestamp": "20261123080000",
                  "instance_id": "i-0staging", "containers": {"branch": "main", "git_sha": staging_sha}}
        repo = f"18F/{app}"
        world.github.seed_releases(repo, ["RC 110", "RC 110.1", "RC 111"])
        if app == "identity-pki":  # its merge requests and releases page are on login.gov's GitLab
            world.github.seed_releases("gitlab:lg/identity-pki", ["RC 110", "RC 110.1", "RC 111"])
            world.vars.update({"gitlab_repo": "lg/identity-pki", "gitlab_api": world.github.url + gitlab_world.API})
        world.vars.update({
            "idp_repo": str(gw.clone), "pki_repo": str(gw.clone), "github_repo": repo, "rc": "112",
            "staging_deploy_url": world.github.add_document(f"{app}/api/deploy.json", deploy),
        })
        seed = _seed(world, "identity-devops")
        _commit(seed, "identity-devops", {
            "README.md": "# identity-devops (rehearsal)\n",
            "bin/monitor-deploy": "#!/bin/sh\n# compares the old and the new sha (CloudWatch Logs Insights)\n"
                                  'curl -sS --fail "$DEPLOYTUI_WORLD_URL/_world/login-gov/monitor-deploy/$1/$2"\n',
        }, executable=("bin/monitor-deploy",))
        world.vars["devops_repo"] = str(_publish(world, "identity-devops", seed, ["main"]))
        if "recycle-in-progress" in world.faults:
            self._teammates_recycle(world)
        world.lines.append(f"AWS: moto at {world.aws.endpoint}: prod laid out (login-vpc-prod, ASGs prod-idp, "
                           "prod-worker, prod-pivcac, prod-migration, target groups, cloud-init logs)")
        world.lines.append(f"git: origin {gw.origin} (main with changelog lines, stages/prod); clone {gw.clone}; "
                           f"staging deploy.json serves {staging_sha[:9]}; releases up to RC 111")

    @staticmethod
    def _teammates_recycle(world: World) -> None:
        from datetime import UTC, datetime

        asg = world.aws.client("autoscaling")
        now = world.clock.now()
        for group in ("prod-idp", "prod-worker"):
            n = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
            n = n["DesiredCapacity"]
            for name, after, size in zip(rules.RECYCLE_SCHEDULED_ACTIONS, (120, 720), (2 * n, n)):
                asg.put_scheduled_update_group_action(
                    AutoScalingGroupName=group, ScheduledActionName=name, DesiredCapacity=size,
                    StartTime=datetime.fromtimestamp(world.clock.at(now, after), UTC))

    def wire(self, world: World, book: Runbook) -> None:
        app = self.app(book)
        repo = world.github.repo(f"18F/{app}")
        repo.origin, repo.protected, repo.ci = str(world.git[app]), dict(rules.LOGIN_GOV_PROTECTED), ["build"]

        origins = {repo.full_name: world.git[app]}
        if app == "identity-pki":
            gitlab = gitlab_world.project(world.github, "lg/identity-pki")
            gitlab.origin, gitlab.protected, gitlab.ci = repo.origin, dict(rules.LOGIN_GOV_PROTECTED), ["build"]
            origins[gitlab.full_name] = world.git[app]
            gitlab_world.serve(world.github)

        def deployed(full_name: str, pr: dict, sha: str) -> None:
            if pr["base"]["ref"] == "stages/prod":
                world.aws.deploy(sha)  # new instances from now on carry the release's sha

        _merges_into(world, origins, deployed)
        world.github.services["/_world/login-gov/monitor-deploy/"] = lambda m, p, q, b: (200, self._monitor(world, p))

    @staticmethod
    def _monitor(world: World, path: str) -> str:
        """What bin/monitor-deploy prints: old and new sha side by side."""
        env, _, role = path.partition("/")
        aws = world.aws
        live = [m for m in aws.machines.values() if not m.gone and m.env == env and m.role == (role or "idp")]
        old = sorted({m.sha for m in live if m.sha != aws.sha})
        spike = "error-spike" in world.faults and aws.deploys > 0
        rows = [("old " + (old[0][:9] if old else "-"), "0.02", "18211", str(sum(m.sha != aws.sha for m in live))),
                ("new " + aws.sha[:9], "4.81" if spike else "0.02", "4410", str(sum(m.sha == aws.sha for m in live)))]
        out = [f"monitor-deploy {env} {role}: the last 15 minutes (CloudWatch Logs Insights)",
               f"{'sha':14} {'5XX%':>6} {'requests':>9} {'instances':>10}"]
        return "\n".join(out + [f"{a:14} {b:>6} {c:>9} {d:>10}" for a, b, c, d in rows]) + "\n"


class GetGov(Scenario):
    def __init__(self):
        super().__init__(stands_in=("repo_dir", "github_repo", "slack_webhook"))

    def lay_out(self, world: World, book: Runbook) -> None:
        seed = _seed(world, "manage.get.gov")
        day, now = 86400, int(time.time())

        def at(days_ago: float) -> str:
            return f"@{int(now - days_ago * day)} +0000"

        files = {"src/deploy.sh": "#!/bin/sh\necho \"deploying to $1\"\n", "src/build.sh": "#!/bin/sh\necho build\n"}
        c1 = _commit(seed, "Initial registrar", {**files, "README.md": "# manage.get.gov\n"}, at(30),
                     executable=("src/deploy.sh", "src/build.sh"))
        c2 = _commit(seed, "Domain request form", {"src/registrar/forms.py": "# forms\n"}, at(15))
        _commit(seed, "DNSSEC settings page", {"src/registrar/dnssec.py": "# dnssec\n"}, at(10))
        c4 = _commit(seed, "Nameserver validation", {"src/registrar/ns.py": "# ns\n"}, at(8))
        _commit(seed, "Organization admin roles", {"src/registrar/roles.py": "# roles\n"}, at(2))
        _commit(seed, "Copy changes on the home page", {"src/registrar/home.html": "<p>.gov</p>\n"}, at(1))
        for name, sha, days_ago in (("staging-1", c1, 21), ("v1.0.0", c1, 14), ("staging-2", c2, 14),
                                    ("v1.1.0", c2, 7), ("staging-3", c4, 7)):
            _git(seed, "tag", "-a", name, sha, "-m", name, env={"GIT_COMMITTER_DATE": at(days_ago)})
        clone = _publish(world, "manage.get.gov", seed, ["main"], tags=True)
        world.vars.update({"repo_dir": str(clone), "github_repo": "cisagov/manage.get.gov"})
        world.lines.append(f"git: origin with main, tags staging-1..3 (staging-3 a week old) and v1.0.0, v1.1.0; "
                           f"clone {clone}; no pull request open yet")

    def wire(self, world: World, book: Runbook) -> None:
        repo = world.github.repo("cisagov/manage.get.gov")
        repo.origin = str(world.git["manage.get.gov"])
        repo.protected, repo.ci = dict(rules.GETGOV_PROTECTED), list(rules.GETGOV_PROTECTED["main"]["checks"])
        repo.tag_workflows = [[pattern, workflow] for pattern, workflow in rules.GETGOV_TAG_WORKFLOWS]
        _merges_into(world, {repo.full_name: world.git["manage.get.gov"]})

        def conclusion(r, run: dict) -> tuple[str, list[tuple[str, str]]]:
            """migration-fails: a migration fails against existing data until that database is reset."""
            wf = run["_workflow"]
            env = {"deploy-stable.yaml": "stable", "deploy-staging.yaml": "staging"}.get(
                wf, str(run["_inputs"].get("environment", "")))
            reset = any(x["_workflow"] == "reset-db.yaml" and x["_inputs"].get("environment") == env
                        and x["_conclusion"] == "success" for x in r.runs)
            broken = "migration-fails" in world.faults and not reset
            if wf in ("deploy-stable.yaml", "deploy-staging.yaml"):
                verdict = "failure" if broken else "success"
                return verdict, [("deploy", "success"), ("migrate", verdict)]
            if wf == "migrate.yaml":
                verdict = "failure" if broken else "success"
                return verdict, [("migrate", verdict)]
            return r.fail.get(wf, "success"), [(wf.rsplit(".", 1)[0], r.fail.get(wf, "success"))]

        world.github.conclusion = conclusion


class GovUk(Scenario):
    def __init__(self):
        super().__init__(stands_in=("github_api", "prometheus_url", "slack_webhook", "team_webhook"))

    def lay_out(self, world: World, book: Runbook) -> None:
        gh = world.github
        gh.add_document("release/applications", {
            app: {"deploy_freeze": True, "notes": why} for app, why in rules.GOVUK_FROZEN.items()})
        charts = gh.repo(rules.GOVUK_HELM_CHARTS)
        for env in rules.GOVUK_ENVIRONMENTS:
            for app in rules.GOVUK_APPS:
                on = "false" if app in rules.GOVUK_FROZEN else "true"
                charts.files[f"charts/app-config/image-tags/{env}/{app}"] = (
                    f"image_tag: v41\nautomatic_deploys_enabled: {on}\npromote_deployment: {on}\n")
        world.vars.update({"github_api": gh.url, "prometheus_url": gh.url + "/_world/prometheus",
                           "team_webhook": gh.url + "/_world/slack"})  # the app team's channel
        world.lines.append(f"govuk-helm-charts: {', '.join(rules.GOVUK_FROZEN)} frozen (automatic_deploys_enabled: "
                           f"false); {len(rules.GOVUK_APPS) - len(rules.GOVUK_FROZEN)} other apps deploy")
        world.lines.append("GitHub Actions: CI reports check runs; deploy and smoke-test workflows queue and run; "
                           "Prometheus answers each app's 5xx rate")

    def wire(self, world: World, book: Runbook) -> None:
        gh = world.github

        def staged(app: str) -> bool:
            repo = gh.repos.get(f"alphagov/{app}")
            return repo is not None and any(r["_workflow"] == "deploy.yml" and gh.finished(r)
                                            and r["_inputs"].get("environment") == "staging" for r in repo.runs)

        def prometheus(method: str, path: str, query: dict[str, str], body: Any) -> tuple:
            if method != "GET" or path != "/api/v1/query":
                return 404, {"status": "error", "error": f"no {path} in the rehearsal Prometheus"}
            m = re.search(r'app="([^"]+)"', query.get("query", ""))
            if m is None:
                return 400, {"status": "error", "errorType": "bad_data", "error": "the query names no app"}
            spike = "error-spike" in world.faults and staged(m.group(1))
            rate = rules.GOVUK_SPIKE_RATE if spike else rules.GOVUK_ERROR_RATE
            return 200, {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [world.clock.now(), f"{rate:g}"]}]}}

        gh.services["/_world/prometheus"] = prometheus
        gh.default_ci, gh.fresh_commits = list(rules.GOVUK_CHECKS), True  # a release CI has just built


class Vetspire(Scenario):
    def __init__(self):
        super().__init__(gcp=True, env={"GH_REPO": rules.VETSPIRE_REPO}, stands_in=("repo_dir", "slack_webhook"))

    def lay_out(self, world: World, book: Runbook) -> None:
        seed = _seed(world, "vetspire")
        deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: vetspire-api\nspec:\n  replicas: 3\n"
                      "  template:\n    spec:\n      containers:\n        - name: api\n"
                      f"          image: {rules.VETSPIRE_IMAGE}\n")
        diff = ("#!/bin/sh\n# the SQL of the migrations between $1 and HEAD, to dry-run on the clone\n"
                "git diff --name-only \"$1\"...HEAD -- api/priv/repo/migrations | while read -r f; do\n"
                "  echo \"-- $f\"; sed -n 's/^ *execute \"\\(.*\\)\"$/\\1/p' \"$f\"\ndone\n")
        mig = "defmodule Vetspire.Repo.Migrations.{name} do\n  use Ecto.Migration\n  def up do\n    execute \"{sql}\"\n  end\nend\n"
        _commit(seed, "Vetspire", {"README.md": "# Vetspire\n", "scripts/diff_migrations": diff,
                                   rules.VETSPIRE_MANIFEST: deployment}, executable=("scripts/diff_migrations",))
        good = _commit(seed, "Appointment reminders by SMS", {"api/lib/reminders.ex": "# sms\n"})
        _git(seed, "branch", "production")
        _commit(seed, "Add index on appointments.starts_at", {
            "api/priv/repo/migrations/20261110_appointments_index.exs": mig.format(
                name="AppointmentsIndex",
                sql="CREATE INDEX CONCURRENTLY appointments_starts_at ON appointments (starts_at);")})
        _commit(seed, "Invoice totals column", {
            "api/priv/repo/migrations/20261112_invoice_total.exs": mig.format(
                name="InvoiceTotal", sql="ALTER TABLE invoices ADD COLUMN total_cents bigint;")})
        _git(seed, "branch", "staging")
        _commit(seed, "Lab results page", {"api/lib/labs.ex": "# labs\n"})
        _git(seed, "checkout", "-q", "-b", "master")
        clone = _publish(world, "vetspire", seed, ["master", "staging", "production"])
        first = _git(seed, "rev-parse", "production~1")
        gh = world.github
        for sha, days in ((first, 28), (good, 14)):
            gh.seed_run(rules.VETSPIRE_REPO, rules.VETSPIRE_DEPLOY_WORKFLOWS["production"], "production", sha,
                        days_ago=days)
        from datetime import date, timedelta

        today = date.fromtimestamp(world.clock.now())
        world.gcp.seed("vetspire-production", [str(today - timedelta(days=14 * k))
                                               for k in range(rules.CLONES_KEPT_BEFORE, 0, -1)], good)
        world.vars["repo_dir"] = str(clone)
        world.lines.append(f"git: origin with master > staging > production (two migrations waiting); clone {clone}")
        world.lines.append("Google Cloud: Cloud SQL vetspire-production and earlier clones; cluster vetspire-api-prod "
                           "runs production; gcloud, kubectl and gh answer from the world")

    def wire(self, world: World, book: Runbook) -> None:
        gh, gcp = world.github, world.gcp
        repo = gh.repo(rules.VETSPIRE_REPO)
        repo.origin = str(world.git["vetspire"])
        heads = Path(repo.origin) / "refs" / "heads"
        seen = {b: (heads / b).read_text().strip() for b in rules.VETSPIRE_DEPLOY_WORKFLOWS if (heads / b).exists()}

        def conclusion(r, run: dict) -> tuple[str, list[tuple[str, str]]]:
            """pods-down: the first production deployment of the rehearsal fails, its pods crash."""
            bad = "pods-down" in world.faults and run["head_branch"] == "production" and not gcp.bad_shas \
                and run["event"] == "push"
            if bad:
                gcp.bad_shas.append(run["head_sha"])
            return ("failure" if bad else "success"), [("build", "success"), ("deploy", "failure" if bad else "success")]

        def settle() -> None:
            """A push to production or staging starts its deployment; a finished production one rolls out."""
            for branch, workflow in rules.VETSPIRE_DEPLOY_WORKFLOWS.items():
                ref = heads / branch
                sha = ref.read_text().strip() if ref.exists() else ""
                if sha and seen.get(branch) != sha:
                    seen[branch] = sha
                    gh._new_run(repo, workflow, branch, sha, "push", {},
                                started=ref.stat().st_mtime + world.clock.offset)
            for run in repo.runs:
                if run["head_branch"] == "production" and run["id"] not in gcp.applied and gh.finished(run):
                    gcp.applied.append(run["id"])
                    gcp.deployed(run["head_sha"])

        gh.conclusion = conclusion
        gh.before_read = settle
        inner = gcp.handle

        def handle(method, path, query, body):
            with gh._lock:
                settle()
            return inner(method, path, query, body)

        gh.services["/_world/gcp/"] = handle


class Example(Scenario):
    def lay_out(self, world: World, book: Runbook) -> None:
        world.vars["workdir"] = str(world.workdir / "example")


_LOGIN_GOV = LoginGov()
SCENARIOS: dict[str, Scenario] = {
    **{rid: _LOGIN_GOV for rid in LOGIN_GOV},
    "getgov": GetGov(), "govuk-cd": GovUk(), "vetspire": Vetspire(), "example": Example(),
}


# ---------------------------------------------------------------- what a rehearsal cannot play
LOCAL_TOOLS = frozenset("""
bash sh echo printf cat grep egrep fgrep sed awk cut sort uniq head tail tr wc tee xargs test [ [[ true false
sleep date mkdir rm rmdir cp mv ls find touch env basename dirname readlink realpath pwd cd export read set
unset exit return local shift source . eval exec trap wait command type printenv seq yes stat chmod ln tar
gzip gunzip base64 sha256sum sha1sum md5sum timeout column diff comm paste join fold nl od xxd jq git curl
wget python3 python perl if then else elif fi for while until do done case esac in function select time
""".split())
SEPARATORS = {";", "&&", "||", "|", "&", "(", "!", "then", "do", "else", "elif", "if", "while", "until", "`",
              "$(", "time", "exec", "command", "{"}


def commands_in(script: str) -> list[str]:
    """The programs a shell script runs (first word of each simple command), in order."""
    text = re.sub(r"\{\{.*?\}\}", "X", script)
    text = re.sub(r"\{%.*?%\}", "", text)
    text = re.sub(r"\$\(\(.*?\)\)", "0", text)  # arithmetic
    text = text.replace("$(", " $( ").replace("`", " ` ")
    lines = [re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines()]  # comments start a word
    lex = shlex.shlex(" ; ".join(lines), posix=True, punctuation_chars=";&|()<>")
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        tokens = list(lex)
    except ValueError:
        return []
    out, start, redirect = [], True, False
    for tok in tokens:
        if redirect:  # the word after > < >& is a file or a descriptor
            redirect = False
            continue
        if set(tok) <= set("<>&") and ("<" in tok or ">" in tok):
            redirect = True
            continue
        if tok in SEPARATORS or set(tok) <= set(";&|("):
            start = True
            continue
        if tok == ")":
            start = False
            continue
        if start:
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tok):
                continue  # an assignment before the command
            if not tok.startswith("$") and tok not in ("}", "fi", "done", "esac"):
                out.append(tok)
            start = False
    return out


def gaps(book: Runbook) -> list[str]:
    """`deploytui check --rehearsal`: the steps and panes that would call what the rehearsal world does
    not provide, and have no `rehearse` stand-in, as FILE:LINE: where: field: what lines."""
    scenario = SCENARIOS.get(book.runbook.id)
    provided = LOCAL_TOOLS | set(PROVIDED)
    lines = LineMap(book.text)
    out: list[Problem] = []

    def problem(loc: tuple, where: str, field_: str, message: str) -> None:
        out.append(Problem(book.path, lines.find(loc), where, field_, message))

    def shell(script: str, loc: tuple, where: str, field_: str, blocks: bool) -> None:
        for cmd in commands_in(script):
            name = cmd.rsplit("/", 1)[-1]
            if cmd.startswith(("./", "../")) or (name in provided and "/" not in cmd.lstrip("/") and
                                                 (shutil.which(name) or name in PROVIDED or name in LOCAL_TOOLS)):
                continue
            if cmd.startswith("/") and name in provided:
                continue
            problem(loc, where, field_, f"calls {cmd}, which the rehearsal world does not provide"
                    + (": the rehearsal waits here until the pane is ended by hand" if blocks else "")
                    + "; give it a `rehearse` stand-in")
        for url in re.findall(r"https?://[^\s'\"]+", script):
            host = urlsplit(url).hostname or ""
            if host not in (LOCAL_HOST, "localhost") and "{{" not in url:
                problem(loc, where, field_, f"reaches {url}, which the rehearsal world does not serve; give it "
                                            "a `rehearse` stand-in")

    def action(name: str, with_: dict, loc: tuple, where: str, field_: str) -> None:
        family = name.split(".", 1)[0]
        if family == "aws" and not (scenario and scenario.aws):
            problem(loc, where, field_, f"uses {name}, and the world of {book.runbook.id} has no AWS account")
        elif family == "http":
            url = str(with_.get("url", "")).strip()
            base = re.match(r"\{\{\s*(\w+)\s*\}\}", url)  # the world serves what a stood-in variable names
            served = base.group(1) in (scenario.stands_in if scenario else ()) if base else \
                urlsplit(url).hostname in (LOCAL_HOST, "localhost")
            if not served:
                problem(loc, where, field_, f"uses {name} on {url}, which the rehearsal world does not serve")

    for i, s in enumerate(book.steps):
        where, loc = f"step '{s.id}'", ("steps", i)
        if not s.rehearse:
            if s.run:
                shell(s.run, loc + ("run",), where, "run", False)
            if s.uses:
                action(s.uses, s.with_, loc + ("uses",), where, "uses")
        for k, p in enumerate(s.panes):
            if p.rehearse:
                continue
            ploc = loc + ("panes", k)
            for f in ("tail", "watch"):
                if getattr(p, f):
                    shell(getattr(p, f), ploc + (f,), where, f"panes[{k}].{f}", bool(p.until))
            if p.uses:
                action(p.uses, p.with_, ploc + ("uses",), where, f"panes[{k}].uses")
    out.sort(key=lambda p: p.line or 0)
    return [str(p) for p in out]
