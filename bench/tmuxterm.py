"""A real terminal for the benchmarks: a private tmux server, driven through one control-mode client.

A control-mode client (`tmux -C`) takes commands on stdin and answers each between `%begin` and `%end`, so
`send-keys` and `capture-pane` cost a pipe round trip (~0.2 ms) rather than a tmux process (~3 ms): the
screen can be polled every millisecond. Pane output is not sent to the client (`no-output`), so a pane that
streams millions of lines costs the client nothing."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable


class Tmux:
    made = 0

    def __init__(self, name: str, cols: int = 120, rows: int = 40, env: dict[str, str] | None = None):
        Tmux.made += 1
        self.socket = f"deploytui-bench-{name}-{os.getpid()}-{Tmux.made}"
        self.cols, self.rows = cols, rows
        self.env = env or {}
        self.client: subprocess.Popen | None = None

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if done.returncode:
            raise RuntimeError(f"tmux {' '.join(args[:3])}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, cwd: str | None = None) -> None:
        """A new session of cols x rows running `command` (through sh), and the control client attached."""
        env_args = [a for k, v in self.env.items() for a in ("-e", f"{k}={v}")]
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(self.cols), "-y", str(self.rows),
                   *(["-c", cwd] if cwd else []), *env_args, command)
        for option in (("escape-time", "0"), ("window-size", "manual"), ("remain-on-exit", "on"),
                       ("history-limit", "2000")):
            self._tmux("set-option", "-g", *option)
        self._tmux("resize-window", "-t", "b", "-x", str(self.cols), "-y", str(self.rows))
        self.client = subprocess.Popen(["tmux", "-L", self.socket, "-C", "attach", "-t", "b"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._read_block("attach")  # the client's first block answers the attach itself
        self.command("refresh-client -f no-output")
        self.command(f"resize-window -t b -x {self.cols} -y {self.rows}")

    def command(self, line: str) -> list[str]:
        """One tmux command through the control client; its output lines."""
        assert self.client is not None and self.client.stdin and self.client.stdout
        self.client.stdin.write(line + "\n")
        self.client.stdin.flush()
        return self._read_block(line)

    def _read_block(self, line: str) -> list[str]:
        assert self.client is not None and self.client.stdout
        out: list[str] = []
        inside = False
        while True:
            got = self.client.stdout.readline()
            if not got:
                raise RuntimeError(f"tmux control client ended during {line!r}")
            got = got.rstrip("\n")
            if got.startswith("%begin"):
                inside = True
                out = []
            elif got.startswith("%end") and inside:
                return out
            elif got.startswith("%error") and inside:
                raise RuntimeError(f"tmux: {line!r}: {' '.join(out)}")
            elif inside:
                out.append(got)

    def screen(self) -> list[str]:
        return self.command("capture-pane -p -t b")

    def keys(self, *keys: str) -> None:
        self.command("send-keys -t b " + " ".join(_quote(k) for k in keys))

    def wait(self, cond: Callable[[list[str]], bool], timeout: float = 30.0, every: float = 0.0005) -> float:
        """Poll the screen until `cond(lines)`; the monotonic time of the first capture that showed it."""
        end = time.monotonic() + timeout
        while True:
            lines = self.screen()
            t = time.monotonic()
            if cond(lines):
                return t
            if t > end:
                raise TimeoutError("the screen never showed it:\n" + "\n".join(lines))
            if every:
                time.sleep(every)

    def pane_pid(self) -> int:
        return int(self.command("display-message -p -t b '#{pane_pid}'")[0])

    def dead(self) -> bool:
        return self.command("display-message -p -t b '#{pane_dead}'")[0] == "1"

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            self.client.wait(timeout=5)
            self.client = None
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(key: str) -> str:
    if key.replace("-", "").replace("+", "").isalnum():
        return key
    return "'" + key.replace("'", "'\\''") + "'"
