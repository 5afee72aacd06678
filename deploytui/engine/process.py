"""Child processes: each in its own session and process group, in a pseudo-terminal by default, read in
chunks, with a timeout (TERM, then KILL after a grace). Every live group is tracked so quitting can kill
them all: no orphans."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable

GRACE = 5.0  # seconds between TERM and KILL
READ_SIZE = 1 << 16

_live: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()


def _set_controlling_tty() -> None:  # runs in the child between fork and exec
    try:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    except OSError:
        pass


def spawn(argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
          use_pty: bool = True, columns: int = 160, rows: int = 48) -> tuple[subprocess.Popen, int]:
    """Start `argv` in a new session; returns the process and the fd to read its output from."""
    if use_pty:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                    start_new_session=True, preexec_fn=_set_controlling_tty, close_fds=True)
        finally:
            os.close(slave)
        read_fd = master
    else:
        r, w = os.pipe()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=w, stderr=w,
                                    start_new_session=True, close_fds=True)
        finally:
            os.close(w)
        read_fd = r
    with _live_lock:
        _live[proc.pid] = proc
    return proc, read_fd


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


def live_pids() -> list[int]:
    with _live_lock:
        return list(_live)


def run(argv: list[str], on_output: Callable[[bytes], None], *, cwd: str | None = None,
        env: dict[str, str] | None = None, use_pty: bool = True, timeout: float | None = None,
        cancel: threading.Event | None = None, grace: float = GRACE,
        on_idle: Callable[[], None] | None = None, idle_every: float = 0.05) -> tuple[int, str | None]:
    """Run to completion, feeding output chunks to `on_output`.

    Returns (exit code, why it was stopped or None). Cancelling or timing out kills the whole group.
    `on_idle` is called at least every `idle_every` seconds (the spool flushes on time with it)."""
    proc, fd = spawn(argv, cwd=cwd, env=env, use_pty=use_pty)
    started = time.monotonic()
    stopped: str | None = None
    try:
        while True:
            if cancel is not None and cancel.is_set() and stopped is None:
                stopped = "cancelled"
                threading.Thread(target=kill_group, args=(proc, grace), daemon=True).start()
            if timeout is not None and stopped is None and time.monotonic() - started > timeout:
                stopped = f"timed out after {timeout:g}s"
                threading.Thread(target=kill_group, args=(proc, grace), daemon=True).start()
            ready, _, _ = select.select([fd], [], [], idle_every)
            if ready:
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError as e:  # EIO: the pty's other side is closed
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                on_output(data)
            if on_idle:
                on_idle()
        code = proc.wait()
        # members of the group that outlived the leader (backgrounded) must not become orphans
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return code, stopped
    finally:
        os.close(fd)
        with _live_lock:
            _live.pop(proc.pid, None)
