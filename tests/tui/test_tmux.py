"""End to end in a real terminal: the app runs inside tmux, is driven with send-keys, read with
capture-pane, and the window is resized in the middle of the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploytui.journal import Journal

from .conftest import HERE

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
DEPLOYTUI = str(Path(sys.executable).with_name("deploytui"))


class Tmux:
    def __init__(self, tmp_path: Path):
        self.socket = f"deploytui-test-{os.getpid()}-{tmp_path.name}"
        self.session = "t"

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def size(self) -> tuple[int, int]:
        w, h = self("display-message", "-p", "-t", self.session, "#{window_width} #{window_height}").split()
        return int(w), int(h)


@pytest.fixture
def tmux(tmp_path):
    t = Tmux(tmp_path)
    yield t
    subprocess.run(["tmux", "-L", t.socket, "kill-server"], capture_output=True)


def test_drive_a_runbook_to_the_end_in_tmux_with_a_resize(tmux, tmp_path):
    db = tmp_path / "journal.sqlite3"
    command = (f"{DEPLOYTUI} run {HERE / 'small.toml'} --journal {db} --operator tester; "
               f"echo EXITED $?; sleep 60")
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "100", "-y", "30",
         "-e", "TERM=xterm-256color", command)
    tmux("set-option", "-g", "escape-time", "10")
    screen = tmux.wait_for("Say hello")
    assert "Small deploy" in screen and "staging" in screen and "tester" in screen
    tmux.keys("r")
    tmux.wait_for("hello from the runbook")
    tmux.wait_for("● Check the greeting")
    tmux.keys("1")
    tmux.wait_for("✓ Check the greeting")
    tmux.wait_for("›○ Log in interactively", timeout=10)  # the wait ran out

    tmux("resize-window", "-t", tmux.session, "-x", "80", "-y", "24")  # a smaller client attached
    assert tmux.size() == (80, 24)
    screen = tmux.wait_for("Log in interactively")
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "Quit" in lines[-1]  # the footer is on the last row, laid out for 80 columns

    tmux.keys("r")  # the terminal is handed over to the interactive command
    tmux.wait_for("type ok:")
    time.sleep(1.0)  # Textual's input thread lets go of the terminal a moment after the prompt shows
    tmux.keys("ok", "Enter")
    tmux.wait_for("✓ Log in interactively")
    tmux("resize-window", "-t", tmux.session, "-x", "160", "-y", "45")
    tmux.wait_for("● Go on?")
    tmux.keys("Enter")  # the decision
    tmux.wait_for("Continue")
    tmux.keys("1")
    tmux.wait_for("Reason (optional)")
    tmux.keys("Enter")
    tmux.wait_for("›○ Say goodbye")
    tmux.keys("r")
    screen = tmux.wait_for("succeeded")
    assert "✓ Say goodbye" in screen and len(screen.splitlines()[0]) <= 160
    tmux.keys("q")
    tmux.wait_for("EXITED 0")

    journal = Journal(db, readonly=True)
    [run] = journal.runs()
    assert run.outcome == "succeeded" and run.operator == "tester"
    kinds = [(e.kind, e.step) for e in journal.events(run.id)]
    assert ("decision", "go") in kinds and ("skipped", "undo") not in kinds
    finished = [e for e in journal.events(run.id) if e.kind == "command_finished" and e.step == "login"]
    assert finished[0].data["exit_code"] == 0


def test_closing_the_terminal_ends_the_commands_and_journals_why(tmux, tmp_path):
    """The release manager's laptop lid closes, or the tmux window is killed: SIGHUP. The running command,
    `pty = false` and deaf to HUP, is ended, and the journal says the driver stopped and why."""
    db, pids = tmp_path / "journal.sqlite3", tmp_path / "pids"
    book = tmp_path / "book.toml"
    book.write_text('[runbook]\nid = "hup"\ntitle = "Hang up"\n[[steps]]\nid = "work"\ntitle = "Work"\n'
                    'pty = false\n'
                    f'run = "trap \'\' HUP; echo $$ > {pids}; sleep 300 & echo $! >> {pids}; wait"\n')
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "100", "-y", "30",
         "-e", "TERM=xterm-256color", f"{DEPLOYTUI} run {book} --journal {db} --operator tester")
    tmux.wait_for("Work")
    tmux.keys("r")
    end = time.monotonic() + 15
    while time.monotonic() < end and not (pids.exists() and len(pids.read_text().split()) == 2):
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    tmux("kill-session", "-t", tmux.session)  # the terminal goes away: SIGHUP
    journal = Journal(db, readonly=True)
    [run] = journal.runs()
    end = time.monotonic() + 30
    while time.monotonic() < end and journal.events(run.id)[-1].kind != "run_interrupted":
        time.sleep(0.05)
    last = journal.events(run.id)[-1]
    assert last.kind == "run_interrupted", f"the last event is {last.kind}"
    assert last.data["signal"] == 1 and last.data["ended"] == ["work"]
    for pid in children:
        end = time.monotonic() + 10
        while time.monotonic() < end and os.path.exists(f"/proc/{pid}") and \
                open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.05)
        alive = os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        if alive:
            os.kill(pid, 9)
        assert not alive, f"pid {pid} outlived the terminal"
