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
        # the snapshot plugin sets COLUMNS and LINES for the test session: the app in tmux would believe them
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=10, env=env).stdout

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
    end = time.monotonic() + 10
    lines = tmux.screen().splitlines()
    while time.monotonic() < end and not (lines and "Quit" in lines[-1]):  # laid out again for 80 columns
        time.sleep(0.05)
        lines = tmux.screen().splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "Quit" in lines[-1] and "Help" in lines[-1]  # the key bar on the last row, its essential keys kept
    assert "Small deploy" in lines[0]  # and the title

    tmux.keys("r")  # the terminal is handed over to the interactive command
    tmux.wait_for("\ntype ok:")  # the prompt on its own line (the command box shows the words too)
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


def test_copy_inside_tmux_goes_through_tmux_and_quitting_says_how_to_resume(tmux, tmp_path):
    """Inside tmux an application's OSC 52 does not reach the outer terminal with tmux's default settings:
    `c` puts the command in tmux's buffer (load-buffer -w) and says so. Quitting mid-deploy asks, then prints
    the command that resumes the run."""
    db = tmp_path / "journal.sqlite3"
    config = tmp_path / "config.toml"
    command = (f"{DEPLOYTUI} run {HERE / 'small.toml'} --journal {db} --operator tester; echo EXITED $?; sleep 60")
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "120", "-y", "40",
         "-e", "TERM=xterm-256color", "-e", f"DEPLOYTUI_CONFIG={config}", command)
    tmux("set-option", "-g", "escape-time", "10")
    tmux.wait_for("Say hello")
    tmux.keys("c")
    tmux.wait_for("Copied the command")
    assert tmux("show-buffer").strip() == "echo hello from the runbook"
    tmux.keys("q")
    tmux.wait_for("Quit in the middle of the deploy?")
    tmux.keys("y")
    screen = tmux.wait_for("EXITED 0")
    [run] = Journal(db, readonly=True).runs()
    assert f"deploytui: run {run.id} is still open. Resume it with:" in screen
    assert f"deploytui run --resume {run.id} --journal {db}" in screen.replace("\n", "")


def test_the_theme_chosen_stays_chosen(tmux, tmp_path):
    db = tmp_path / "journal.sqlite3"
    config = tmp_path / "settings" / "config.toml"
    command = f"{DEPLOYTUI} run {HERE / 'small.toml'} --journal {db} --operator tester; echo EXITED $?; sleep 60"
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "120", "-y", "40",
         "-e", "TERM=xterm-256color", "-e", f"DEPLOYTUI_CONFIG={config}", command)
    tmux.wait_for("Say hello")
    tmux.keys("t")
    tmux.wait_for("textual-light")
    end = time.monotonic() + 10
    while time.monotonic() < end and not config.exists():
        time.sleep(0.05)
    text = config.read_text()
    assert 'theme = "textual-light"' in text
    from deploytui.tui.config import load

    assert load(config).theme == "textual-light" and load(config).ours


def test_notifications_leave_tmux_only_where_passthrough_is_on(tmux, tmp_path):
    """What the app sends the terminal for a desktop notification, asked from inside a real tmux pane."""
    out = tmp_path / "out"
    probe = (f"{sys.executable} -c \"import os; from deploytui.tui.terminal import notification; "
             f"open('{out}.tmp', 'w').write(repr(notification('t', 'b'))); os.replace('{out}.tmp', '{out}')\"")
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, f"{probe}; sleep 30")
    end = time.monotonic() + 10
    while time.monotonic() < end and not out.exists():
        time.sleep(0.05)
    assert out.read_text() == "''"  # tmux's default drops them: only the bell rings
    out.unlink()
    tmux("set-option", "-g", "allow-passthrough", "on")
    tmux("new-window", "-t", tmux.session, f"{probe}; sleep 30")
    end = time.monotonic() + 10
    while time.monotonic() < end and not out.exists():
        time.sleep(0.05)
    assert out.read_text().startswith("'\\x1bPtmux;")
