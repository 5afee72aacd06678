"""The seal: a rehearsal runs, whole, where nothing can reach a real system.

`deploytui rehearse` re-executes itself under `unshare --net --mount` (plus `--map-root-user` for an
ordinary user). In the new namespaces:
- the network has only its own loopback, brought up here: the world's servers listen on it; any other
  address fails at once (no route, connection refused), whatever the program, its path or its
  credentials;
- /tmp, /var/tmp, /run and /dev/shm are fresh, empty tmpfs: no Unix socket of this machine (a local
  database, docker, ssh-agent, D-Bus, tmux) is reachable, and the world's scratch directory vanishes
  with the namespace even when the process is killed. The paths the rehearsal was given (journal,
  runbook, answers, work directory) are bound back in.

    reason = unavailable()                 # None when the seal can be made here
    seal_and_exec(argv, env)               # never returns
    if inside(): finish(keep=[...])        # in the re-executed process"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

MARK = "DEPLOYTUI_REHEARSAL_SEAL"  # set on the re-executed process; `inside()` checks the namespace itself
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/run", "/dev/shm")
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000


def unshare_argv() -> list[str]:
    tool = shutil.which("unshare") or "unshare"
    return [tool, "--net", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


def unavailable() -> str | None:
    """Why the seal cannot be made here (one phrase), or None."""
    argv = unshare_argv()
    if not Path(argv[0]).is_absolute():
        return "the unshare program (util-linux) is not installed"
    try:
        res = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as err:
        return f"unshare could not run: {err}"
    if res.returncode != 0:
        return (res.stderr.strip().splitlines() or [f"unshare exited {res.returncode}"])[-1]
    return None


def seal_and_exec(argv: list[str], env: dict[str, str]) -> None:
    """Replace this process with `deploytui ARGV...` inside new network and mount namespaces."""
    sys.stdout.flush()
    sys.stderr.flush()
    cmd = [*unshare_argv(), "--", sys.executable, "-m", "deploytui", *argv]
    os.execve(cmd[0], cmd, {**env, MARK: "1"})


def interfaces() -> list[str]:
    """Network interfaces of this process's namespace (/proc/self/net, not /sys, which shows the host's)."""
    with open("/proc/self/net/dev") as f:
        return [line.split(":", 1)[0].strip() for line in f.readlines()[2:] if ":" in line]


def inside() -> bool:
    """True in a process re-executed by seal_and_exec whose network namespace really has only loopback."""
    return os.environ.get(MARK) == "1" and interfaces() == ["lo"]


def finish(keep: list[str | Path]) -> None:
    """In the sealed process: bring loopback up, make the private directories fresh, bind `keep` back."""
    _loopback_up()
    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        if libc.mount(_c(source), _c(target), _c(fstype), ctypes.c_ulong(flags), _c(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {target}: {os.strerror(err)}")

    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here leaks to the host's mounts
    private = [d for d in PRIVATE_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    back = _outermost([Path(p).resolve() for p in keep if p and Path(p).exists()])
    back = [p for p in back if any(p == Path(d) or Path(d) in p.parents for d in private)]
    fds = {p: (os.open(p, os.O_PATH), p.is_dir()) for p in back}  # reachable after the tmpfs hides them
    try:
        for d in private:
            mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        for p, (fd, is_dir) in fds.items():
            if is_dir:
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.touch()
            mount(f"/proc/self/fd/{fd}", str(p), None, MS_BIND | MS_REC)
    finally:
        for fd, _ in fds.values():
            os.close(fd)


def _outermost(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda x: len(x.parts)):
        if not any(q == p or q in p.parents for q in out):
            out.append(p)
    return out


def _c(value: str | None):
    return None if value is None else value.encode()


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        try:
            flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req)[:18])[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))
        except OSError as err:
            if err.errno != errno.EEXIST:
                raise
