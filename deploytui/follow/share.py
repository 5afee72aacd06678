"""`deploytui share`: run a command (a deploy) inside a tmux session pairs can attach to.

The session gets its own tmux server on its own socket, so its settings touch nobody else's tmux:
a short `escape-time` (Escape reaches the app at once, not after tmux's 500 ms), and a window whose size
only the driver sets (`sized_by_the_driver`): pairs attach with `ignore-size`, and when the driver detaches
the window keeps its size instead of falling to the last pair's terminal. The socket is
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

    follow_socket: Path | None = None  # the run published for followers of their own (follow/publish.py)
    ignore_size: bool = True  # tmux >= 3.2: pairs attach without resizing the driver's window

    @property
    def follow_command(self) -> str:
        """A follower of one's own: one's own size, scroll and selection (the first choice for a pair)."""
        return f"deploytui follow --socket {shlex.quote(str(self.follow_socket))}"

    @property
    def mirror_command(self) -> str:
        """The driver's very screen, read-only (at the driver's size: a smaller terminal sees part of it)."""
        flags = "-f read-only,ignore-size" if self.ignore_size else "-r"
        return f"tmux -S {shlex.quote(str(self.socket))} attach {flags} -t {shlex.quote(self.session)}"

    @property
    def drive_command(self) -> str:
        flags = "-f ignore-size " if self.ignore_size else ""
        return f"tmux -S {shlex.quote(str(self.socket))} attach {flags}-t {shlex.quote(self.session)}"

    def instructions(self) -> list[str]:
        who = f"members of group {self.group}" if self.group else "only you"
        lines = [f"deploytui: sharing `{shlex.join(self.command)}` in tmux session {self.session!r}",
                 f"  {who} may connect",
                 "  pairs, a follower of their own (their own size and scroll; `--sign` to sign off steps):",
                 f"    {self.follow_command}",
                 "  or the driver's screen itself, read-only:",
                 f"    {self.mirror_command}"]
        if self.writers:
            lines += [f"  co-drivers ({', '.join(self.writers)}), who can type into the run:",
                      f"    {self.drive_command}"]
        lines.append("  from another machine: ssh -L /tmp/deploy.sock:"
                     f"{self.follow_socket} HOST, then deploytui follow --socket /tmp/deploy.sock")
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
    if group is None:  # what "your group may connect" means: your primary group, named, let in on purpose
        group = grp.getgrgid(os.getgid()).gr_name
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
    follow_socket = socket.parent / f"{session}.follow.sock"
    args = ["new-session", "-d", "-s", session, "-c", os.getcwd(), "-e", f"DEPLOYTUI_PUBLISH={follow_socket}",
            "-e", f"DEPLOYTUI_PUBLISH_GROUP={group}"]
    if size:
        args += ["-x", str(size[0]), "-y", str(size[1])]
    # server options first, in the same tmux command, so they hold before the app reads its first key;
    # remain-on-exit until the command is seen running, so a start-up refusal can be shown, not "[exited]";
    # allow-passthrough: the app's desktop notifications reach the attached terminals (tmux drops them otherwise);
    # set-clipboard stays tmux's default (external): the app copies through `tmux load-buffer -w`
    _tmux(socket, "start-server", ";", "set-option", "-s", "escape-time", str(ESCAPE_TIME_MS), ";",
          "set-option", "-g", "remain-on-exit", "on", ";",
          "set-option", "-g", "allow-passthrough", "on", ";", *args, "--", *command, env=env)
    _tmux(socket, *sized_by_the_driver(socket, session, version), check=False)  # tmux 3.3a dies on a
    # manual window-size set before its first session: set once the session is there, before anyone attaches
    _started_or_say_why(socket, session)
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
                  writers=list(co_drivers), follow_socket=follow_socket, ignore_size=version >= (3, 2))


# the size of the client a hook fired for, or nothing for a pair (`ignore-size` or read-only), less tmux's
# status line
_DRIVER_SIZE = ("#{?#{||:#{m:*ignore-size*,#{client_flags}},#{client_readonly}},,"
                "#{client_width} #{e|-|:#{client_height},#{?#{==:#{status},off},0,1}}}")


def sized_by_the_driver(socket: Path, session: str, version: tuple[int, int]) -> list[str]:
    """tmux options (a `;`-joined command list) that let only the driver size the shared window.

    `window-size latest` let the last client used set the size; with pairs attached `ignore-size`, tmux still
    falls back to their sizes once the driver detaches (every pair dropped to 80x23). So the size is manual,
    and a hook sets it to the size of a client that attaches or resizes, unless it is a pair (ignore-size or
    read-only). A hook's `#{client_*}` may name another client than the one it fired for, so the hook asks
    tmux about `#{hook_client}` from a shell (run-shell expands formats once: every other `#` is doubled).
    The shell always succeeds and prints nothing: tmux shows a failed run-shell in the pane, and that view
    took the driver's next key."""
    if version < (3, 2):  # no ignore-size: pairs cannot be told apart; the last client used sets the size
        return ["set-option", "-g", "window-size", "latest"]
    tmux = f"tmux -S {shlex.quote(str(socket))}"
    script = (f'{tmux} display-message -p -c "$1" {shlex.quote(_DRIVER_SIZE)} | '
              f'{{ read -r w h && [ -n "$h" ] && {tmux} resize-window -t {shlex.quote(session)} -x "$w" -y "$h"; }}; true')
    hook = "run-shell -b " + shlex.quote("sh -c " + shlex.quote(script.replace("#", "##")) + " _ #{hook_client}")
    return ["set-hook", "-g", "client-attached", hook, ";", "set-hook", "-g", "client-resized", hook, ";",
            "set-option", "-g", "window-size", "manual"]


def _started_or_say_why(socket: Path, session: str, timeout: float = 5.0) -> None:
    """Wait until the command has taken the terminal (a full-screen app switches to the alternate screen),
    or has died: then say what it printed (a lock refusal, a bad --var), instead of leaving "[exited]"."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = _tmux(socket, "display-message", "-p", "-t", session, "#{pane_dead} #{alternate_on}",
                      check=False).stdout.split()
        if state[:1] == ["1"]:
            said = _tmux(socket, "capture-pane", "-p", "-J", "-S", "-", "-t", session,
                         check=False).stdout.strip().splitlines()
            _tmux(socket, "kill-server", check=False)
            said = [line.strip() for line in said if line.strip() and not line.startswith("Pane is dead")]
            why = " / ".join(said)[-600:] or "it exited at once, saying nothing"
            raise UserError(f"the shared command did not start: {why}", 2)
        if state[1:2] == ["1"]:
            break
        time.sleep(0.05)
    _tmux(socket, "set-option", "-g", "remain-on-exit", "off", check=False)


def attach(shared: Shared) -> int:
    """Attach this terminal to the shared session as its driver."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    return subprocess.call(["tmux", "-S", str(shared.socket), "attach", "-t", shared.session], env=env)
