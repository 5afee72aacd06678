"""`deploytui share`: run a command (a deploy) inside a tmux session pairs can attach to.

The session gets its own tmux server on its own socket, so its settings touch nobody else's tmux:
a short `escape-time` (Escape reaches the app at once, not after tmux's 500 ms) and `window-size latest`
(the window follows the client used last, so one small terminal does not shrink everyone). The socket is
made group-readable and -writable (tmux needs both to connect; what a client may do is tmux's `-r`), and
on tmux 3.3+ the server's access list lets the group's members in read-only and only named co-drivers
with write access. The run's journal records the session (the engine reads $TMUX in run_started)."""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

ESCAPE_TIME_MS = 10
_SESSION_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Shared:
    socket: Path
    session: str
    command: list[str]
    group: str | None
    readers: list[str] = field(default_factory=list)  # users let in read-only (tmux server-access)
    writers: list[str] = field(default_factory=list)  # co-drivers let in with write access

    @property
    def follow_command(self) -> str:
        return f"tmux -S {shlex.quote(str(self.socket))} attach -r -t {shlex.quote(self.session)}"

    @property
    def drive_command(self) -> str:
        return f"tmux -S {shlex.quote(str(self.socket))} attach -t {shlex.quote(self.session)}"

    def instructions(self) -> list[str]:
        who = f"group {self.group}" if self.group else "your group"
        lines = [f"deploytui: sharing `{shlex.join(self.command)}` in tmux session {self.session!r}",
                 f"  socket: {self.socket} ({who} may connect)",
                 "  pairs, to follow (read-only):",
                 f"    {self.follow_command}",
                 "  a second driver (can type into the run):",
                 f"    {self.drive_command}"]
        if self.writers:
            lines.append(f"  co-drivers with write access: {', '.join(self.writers)}")
        lines.append("  or, a read-only follower with its own size and scroll: deploytui follow")
        return lines


def tmux_version() -> tuple[int, int]:
    try:
        out = subprocess.run(["tmux", "-V"], capture_output=True, text=True, timeout=5).stdout
    except FileNotFoundError:
        raise UserError("tmux is not installed: `deploytui share` needs it (or use `deploytui follow`)") from None
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _tmux(socket: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["tmux", "-S", str(socket), *args], capture_output=True, text=True, timeout=10,
                          env=env)
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(f"tmux {args[0]}: {msg[0] if msg else f'exit {proc.returncode}'}")
    return proc


def default_session() -> str:
    return "deploy-" + time.strftime("%H%M%S")


def default_socket(session: str) -> Path:
    """A socket in a directory of its own under the temp dir (tmux's default directory is private to you)."""
    base = Path(os.environ.get("TMPDIR") or "/tmp") / f"deploytui-share-{getpass.getuser()}"
    return base / f"{session}.sock"


def group_members(group: str) -> list[str]:
    g = grp.getgrnam(group)
    members = set(g.gr_mem) | {p.pw_name for p in pwd.getpwall() if p.pw_gid == g.gr_gid}
    return sorted(members - {getpass.getuser(), "root"})


def share(command: list[str], *, socket: Path | None = None, group: str | None = None, session: str | None = None,
          co_drivers: tuple[str, ...] = (), size: tuple[int, int] | None = None) -> Shared:
    """Start `command` in a new detached tmux session on its own group-reachable socket; return how to reach it."""
    if not command:
        raise UserError("give the command to share after `--`, e.g. deploytui share -- deploytui run RUNBOOK", 2)
    if shutil.which(command[0]) is None and not os.path.exists(command[0]):
        raise UserError(f"{command[0]}: no such command", 2)
    version = tmux_version()
    session = session or default_session()
    if not _SESSION_OK.match(session):
        raise UserError(f"session name {session!r}: use letters, digits, - and _ only", 2)
    gid = None
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise UserError(f"no group {group!r} on this host", 2) from None
    for user in co_drivers:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise UserError(f"--co-driver {user}: no such user on this host", 2) from None
    socket = Path(socket) if socket else default_socket(session)
    socket = socket.absolute()
    if socket.exists() and _tmux(socket, "list-sessions", check=False).returncode == 0:
        raise UserError(f"{socket}: a tmux server is already running there; pick another --socket or --session")
    # a directory we create: ours, the group may traverse it (x) but not list or add to it. A directory we
    # were given keeps its mode and group: deploytui never changes what it did not create.
    created = not socket.parent.exists()
    try:
        socket.parent.mkdir(parents=True, exist_ok=True)
        if created:
            os.chmod(socket.parent, 0o710)
            if gid is not None:
                os.chown(socket.parent, -1, gid)
    except OSError as e:
        raise UserError(f"{socket.parent}: cannot prepare the socket directory: {e.strerror or e}") from None
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    args = ["new-session", "-d", "-s", session, "-c", os.getcwd()]
    if size:
        args += ["-x", str(size[0]), "-y", str(size[1])]
    # server options first, in the same tmux command, so they hold before the app reads its first key
    # allow-passthrough: the app's desktop notifications reach the attached terminals (tmux drops them otherwise);
    # set-clipboard stays tmux's default (external): the app copies through `tmux load-buffer -w`
    _tmux(socket, "start-server", ";", "set-option", "-s", "escape-time", str(ESCAPE_TIME_MS), ";",
          "set-option", "-g", "window-size", "latest", ";", "set-option", "-g", "allow-passthrough", "on", ";",
          *args, "--", *command, env=env)
    try:
        if gid is not None:
            os.chown(socket, -1, gid)
        os.chmod(socket, stat.S_IMODE(os.stat(socket).st_mode) | stat.S_IRGRP | stat.S_IWGRP)
    except OSError as e:
        _tmux(socket, "kill-server", check=False)
        raise UserError(f"{socket}: cannot make the socket group-readable: {e.strerror or e}") from None
    readers = group_members(group) if group else []
    readers = [u for u in readers if u not in co_drivers]
    if version >= (3, 3):  # tmux's own access list: group members read-only, co-drivers writable
        for user in readers:
            _tmux(socket, "server-access", "-a", user, check=False)
            _tmux(socket, "server-access", "-r", user, check=False)
        for user in co_drivers:
            _tmux(socket, "server-access", "-a", user, check=False)
            _tmux(socket, "server-access", "-w", user, check=False)
    return Shared(socket=socket, session=session, command=list(command), group=group, readers=readers,
                  writers=list(co_drivers))


def attach(shared: Shared) -> int:
    """Attach this terminal to the shared session as its driver."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    return subprocess.call(["tmux", "-S", str(shared.socket), "attach", "-t", shared.session], env=env)
