"""Real `deploytui follow` processes in tmux, following a driver's published socket, read back with
`capture-pane` (issue 17): ticked and unticked checks look different; a pair sees only what a pair can do
(no driver keys, sign-off only with --sign); output beyond the last 5,000 lines is marked, and the full
output comes through the socket."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from .helpers import ROOT
from .test_publish import BOOK as PUBLISHED

pytestmark = pytest.mark.timeout(120)

# test_publish's run (a 30,001-line stream, checks, a step that asks for a sign-off), with two checks here
BOOK = PUBLISHED.replace('checks = ["looked"]', 'checks = ["Looked at the stream", "Told the channel"]')
assert BOOK != PUBLISHED

DRIVER = textwrap.dedent('''\
    """A driver as `deploytui run` makes one (engine and publisher); it ticks the first check only."""
    import sys, threading, time
    from deploytui.cli import publish
    from deploytui.engine.run import Run
    from deploytui.journal import Journal
    from deploytui.runbook.loader import load
    run = Run.start(Journal(sys.argv[2]), load(sys.argv[1]), {}, operator="driver")
    publish(run)
    while run.state.current != "look":
        time.sleep(0.02)
    run.tick("look", 0, True)
    print("ticked", flush=True)
    threading.Event().wait()
    ''')

DRIVER_KEYS = ("Re-run", "Run ", "Skip", "Done", "Failed", "Override", "Note", "Rollback", "End wait")


def until(what: str, cond, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Term:
    def __init__(self, name: str, cols: int, rows: int):
        self.socket = f"deploytui-test-{name}-{os.getpid()}"
        self.cols, self.rows = cols, rows

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10).stdout

    def start(self, command: str) -> None:
        env = ["-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", "-e", "COLORTERM=truecolor"]
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(self.cols), "-y", str(self.rows),
                  *env, command)

    def screen(self, styled: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if styled else []), "-t", "t")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)

    def shows(self, text: str, timeout: float = 30.0) -> str:
        return until(f"{text!r} on screen", lambda: s if text in (s := self.screen()) else "", timeout)

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def published(tmp_path):
    book, journal, sock = tmp_path / "book.toml", tmp_path / "j.db", tmp_path / "run.sock"
    book.write_text(BOOK)
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(book), str(journal)], stdout=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "DEPLOYTUI_PUBLISH": str(sock)}, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ticked"
        yield sock
    finally:
        proc.kill()
        proc.wait()


def follower(name: str, sock, *flags: str) -> Term:
    term = Term(name, 100, 30)
    deploytui = os.path.join(os.path.dirname(sys.executable), "deploytui")
    term.start(f"{deploytui} follow --socket {sock} {' '.join(flags)}; sleep 600")
    return term


def test_a_pair_sees_ticks_apart_and_only_the_keys_a_pair_has(published):
    plain, signer = follower("plain", published), follower("signer", published, "--sign")
    try:
        screen = plain.shows("Told the channel")
        # 1. ticked and unticked checks look different: the box, and its colour
        assert "☑ 1. Looked at the stream" in screen and "☐ 2. Told the channel" in screen, screen
        styled = plain.screen(styled=True).splitlines()
        boxes = [re.search(r"((?:\x1b\[[0-9;]*m)*)([☑☐])", line) for line in styled if "☑" in line or "☐" in line]
        assert len(boxes) == 2 and boxes[0].group(1) != boxes[1].group(1), boxes  # type: ignore[union-attr]
        # 2. the key bar, help and palette offer no driver key, and no sign-off without --sign
        keybar = screen.rstrip("\n").splitlines()[-1]
        assert "Help" in keybar and "Quit" in keybar and not [k for k in (*DRIVER_KEYS, "Sign") if k in keybar], keybar
        plain.keys("?")
        help_screen = plain.shows("Keys")
        assert "Search the output" in help_screen and "Sign off" not in help_screen, help_screen
        assert not [k for k in DRIVER_KEYS if k in help_screen], help_screen
        plain.keys("Escape")
        plain.keys("C-p")
        plain.shows("Search for commands")
        plain.keys("sign")
        palette = until("the palette to filter", lambda: s if "sign" in (s := plain.screen()) else "")
        assert "Sign off" not in palette, palette
        plain.keys("Escape")
        # with --sign, on the step that asks for a sign-off: A is offered
        signer.shows("Told the channel")
        signer.keys("j")
        bar = until("A in the signer's key bar",
                    lambda: s if "Sign off" in (s := signer.screen().rstrip("\n").splitlines()[-1]) else "")
        assert "A Sign off" in bar, bar
        signer.keys("?")
        assert "Sign off" in signer.shows("Keys")
    finally:
        plain.close()
        signer.close()


def test_a_pair_is_told_of_the_lines_before_the_last_5000_and_reads_all_of_them_through_the_socket(published):
    pair = follower("full", published)
    try:
        pair.shows("Told the channel")
        pair.keys("k")  # the stream's step: its last 5,000 lines of 30,001
        screen = pair.shows("✓ Stream  done")
        screen = pair.shows("earlier lines not shown here")
        assert "▲ 25,001 earlier lines not shown here · O shows all" in screen, screen
        assert "30000" in screen and "streamed" in screen
        pair.keys("O")  # the whole output, from the driver's journal through its socket
        screen = pair.shows("30,001 lines")
        assert "from the driver" in screen and "still coming" not in screen, screen
        pair.keys("g")
        top = pair.shows("       1 1")
        assert "       2 2" in top, top
        pair.keys("/")
        pair.shows("search all of the output")  # the box is seen (it was hidden under the status line)
        pair.type("^2999[0-9]$")
        pair.keys("Enter")
        assert "10 matches" in pair.shows("matches for")
    finally:
        pair.close()


def test_followers_whose_terminal_is_killed_are_gone_within_seconds(published):
    """A tmux server killed under its followers (SIGHUP, the pty gone): none may linger (seen on main: a
    follower hung for ever in Textual's shutdown, its writer queue never drained)."""
    terms = [follower(f"gone{k}", published) for k in range(4)]
    for term in terms:
        term.shows("Told the channel")
    pids = [int(t.tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip()) for t in terms]
    for term in terms:
        term.close()

    def alive() -> list[int]:
        out = subprocess.run(["pgrep", "-f", f"follow --socket {published}"], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    end = time.monotonic() + 8
    while alive() and time.monotonic() < end:
        time.sleep(0.1)
    assert not alive(), f"followers still running after their terminals were killed (shells were {pids})"
