"""Child processes: each in its own session and process group, in a pseudo-terminal by default, read in
chunks, with a timeout (TERM, then KILL after a grace).

A command is over when its main process exits: its output is drained briefly, and whatever it left running
(a daemon it started, say) is reported, not killed, because starting it may be the step's purpose. Every
process a command starts carries a mark in its environment (`DEPLOYTUI_PROCESS`), so deploytui finds them,
even those that left the session (`setsid`), when it must end a command (stop, timeout, quit) or when a
resume looks for what a killed deploytui left behind. A process whose environment was cleared (`env -i`,
`sudo`'s env_reset) has no mark: it is found through the command's session while it stays there; one that
clears its environment and leaves the session too is out of reach (docs/architecture.md)."""

from __future__ import annotations

import errno
import fcntl
import os
import platform
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

GRACE = 5.0  # seconds between TERM and KILL
READ_SIZE = 1 << 16
DRAIN = 0.5  # seconds to keep reading after the main process exited (its last words)
MARK = "DEPLOYTUI_PROCESS"  # environment variable carried by every process a command starts
INPUT_CHECK = 0.5  # headless: how often to look for a command waiting to read its terminal
_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(platform.machine())

_live: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()


@dataclass
class Exit:
    code: int | None  # the exit status; 128+N when signal N ended it
    signal: int | None = None
    stopped: str | None = None  # why deploytui ended it, or None when it ended by itself
    left: list[dict] = field(default_factory=list)  # {pid, command} still running after it exited


def mark_value(*parts: object) -> str:
    return "/".join(str(p) for p in parts)


def _set_controlling_tty() -> None:  # runs in the child between fork and exec
    try:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    except OSError:
        pass


def spawn(argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
          use_pty: bool = True, columns: int = 160, rows: int = 48,
          stdin_null: bool = False) -> tuple[subprocess.Popen, int, str]:
    """Start `argv` in a new session; returns the process, the fd to read its output from, and the name of
    its terminal ("" without a pty)."""
    if use_pty:
        master, slave = os.openpty()
        tty = os.ttyname(slave)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # no output processing (\n -> \r\n): the kernel then hands over 4 KiB reads instead of ~1 KiB ones,
        # four times the throughput for a chatty command; lines end at \n either way
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL if stdin_null else slave,
                                    stdout=slave, stderr=slave, start_new_session=True,
                                    preexec_fn=_set_controlling_tty, close_fds=True)
        finally:
            os.close(slave)
        read_fd = master
    else:
        r, w = os.pipe()
        tty = ""
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=w, stderr=w,
                                    start_new_session=True, close_fds=True)
        finally:
            os.close(w)
        read_fd = r
    with _live_lock:
        _live[proc.pid] = proc
    return proc, read_fd, tty


# ---- finding processes ------------------------------------------------------------------------------------
def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None for a process gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (ticks since boot), to tell it from a later process with its pid."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]
    except OSError:
        return ""


def marked(prefix: str) -> list[int]:
    """Live processes whose mark starts with `prefix` (a run, a step of it, or one attempt)."""
    return ours(prefix)


def ours(prefix: str, session: int | None = None) -> list[int]:
    """Live processes a command started: those whose mark starts with `prefix`, and (given its `session`, which
    its main process leads) those still in its session. The session reaches the children whose environment
    was cleared (`env -i`, sudo's env_reset), which carry no mark; the kernel never gives the session's
    number to another process while the session lives."""
    want = f"{MARK}={prefix}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat(int(name))
        if not fields or fields[0] in (b"Z", b"X"):  # gone, or a zombie: nothing left to end
            continue
        if session and int(fields[3]) == session:
            found.append(int(name))
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if any(entry == want or entry.startswith(want + b"/") for entry in environ.split(b"\0")):
            found.append(int(name))
    return sorted(found)


def _is_zombie(pid: int) -> bool:
    fields = _stat(pid)
    return not fields or fields[0] in (b"Z", b"X")


def describe(pids: list[int]) -> list[dict]:
    return [{"pid": pid, "command": command_line(pid)} for pid in pids]


def end(pids: list[int], grace: float = GRACE) -> None:
    """TERM the processes (and their groups), then KILL what is left after `grace` seconds."""
    if not pids:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        if sig == signal.SIGKILL:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(not _is_zombie(p) and os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.05)


def waiting_for_input(pgid: int, tty: str) -> bool:
    """Whether a process of group `pgid` is blocked reading from terminal `tty` (nobody will type)."""
    if _READ_SYSCALL is None or not tty:
        return False
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.getpgid(int(name)) != pgid:
                continue
            with open(f"/proc/{name}/syscall") as f:
                parts = f.read().split()
        except (OSError, ValueError):
            continue
        if len(parts) > 1 and parts[0] == str(_READ_SYSCALL):
            try:
                if os.readlink(f"/proc/{name}/fd/{int(parts[1], 16)}") == tty:
                    return True
            except (OSError, ValueError):
                continue
    return False


# ---- ending ---------------------------------------------------------------------------------------------
def kill_group(proc: subprocess.Popen, grace: float = GRACE) -> None:
    """TERM the process group, then KILL whatever is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; members of its group may linger (e.g. a backgrounded child)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break


def kill_all(grace: float = 2.0) -> int:
    """Kill every process group we started that is still alive; returns how many there were."""
    with _live_lock:
        procs = list(_live.values())
    threads = [threading.Thread(target=kill_group, args=(p, grace), daemon=True) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(grace + 6)
    return len(procs)


def run(argv: list[str], on_output: Callable[[bytes], None], *, cwd: str | None = None,
        env: dict[str, str] | None = None, use_pty: bool = True, timeout: float | None = None,
        cancel: threading.Event | None = None, grace: float = GRACE,
        on_idle: Callable[[], None] | None = None, idle_every: float = 0.05,
        on_start: Callable[[int], None] | None = None, mark: str | None = None,
        no_input: bool = False) -> Exit:
    """Run until the main process exits, feeding output chunks to `on_output`.

    Cancelling or timing out ends the whole command (its group and every process carrying its `mark`).
    `on_idle` is called at least every `idle_every` seconds (the spool flushes on time with it);
    `on_start(pid)` once the process exists. With `no_input` (headless), a command that waits to read its
    terminal is ended at once: nobody will type."""
    env = dict(os.environ if env is None else env)
    if mark:
        env[MARK] = mark
    proc, fd, tty = spawn(argv, cwd=cwd, env=env, use_pty=use_pty)
    if on_start:
        on_start(proc.pid)
    started = time.monotonic()
    stopped: str | None = None
    exited_at: float | None = None
    next_input_check = started + INPUT_CHECK
    ender: threading.Thread | None = None

    def stop(why: str) -> None:
        nonlocal stopped, ender
        stopped = why
        ender = threading.Thread(target=_end_command, args=(proc, mark, grace), daemon=True)
        ender.start()

    try:
        while True:
            now = time.monotonic()
            if stopped is None and exited_at is None:
                if cancel is not None and cancel.is_set():
                    stop("cancelled")
                elif timeout is not None and now - started > timeout:
                    stop(f"timed out after {timeout:g}s")
                elif no_input and now >= next_input_check:
                    next_input_check = now + INPUT_CHECK
                    if waiting_for_input(proc.pid, tty):
                        stop("it waited for input on its terminal, and nobody can type in headless mode")
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > DRAIN:
                break  # what it left behind may hold the terminal open for ever
            ready, _, _ = select.select([fd], [], [], idle_every)
            if ready:
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError as e:  # EIO: the pty's other side is closed
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    if exited_at is None:
                        proc.wait()
                    break
                on_output(data)
            if on_idle:
                on_idle()
        code = proc.wait()
        if ender is not None:
            ender.join()
        left = [] if stopped or not mark else describe(ours(mark, proc.pid))
        if code < 0:
            return Exit(128 - code, -code, stopped, left)
        return Exit(code, None, stopped, left)
    finally:
        os.close(fd)
        with _live_lock:
            _live.pop(proc.pid, None)


def _end_command(proc: subprocess.Popen, mark: str | None, grace: float) -> None:
    """End a command: its process group, then every process that carries its mark (daemons included) or is
    still in its session."""
    kill_group(proc, grace)
    if mark:
        end(ours(mark, proc.pid), grace=1.0)
