"""`deploytui share`: the real driver app in a tmux session on its own socket, two real tmux clients in
ptys of different sizes, one read-only. Keys typed through the read-only client change nothing in the
journal; the same key through the driver's client does (so the test can fail)."""

import fcntl
import os
import pty
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from .helpers import ROOT, wait_for_run

pytestmark = pytest.mark.timeout(90)

SHARED_BOOK = '''\
[runbook]
id = "shared"
title = "Shared deploy"
environment = "{{ env }}"
[vars.env]
default = "staging"
[[steps]]
id = "confirm"
title = "Confirm the change window"
checks = ["The change is approved", "The channel knows"]
[[steps]]
id = "build"
title = "Build"
run = "echo built"
'''


class Client:
    """A tmux client in a pty of a given size, its output drained so it never blocks."""

    def __init__(self, socket, session, cols, rows, readonly, flags=()):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        env["TERM"] = "xterm-256color"
        argv = ["tmux", "-S", str(socket), "attach", *(["-r"] if readonly else []),
                *(["-f", ",".join(flags)] if flags else []), "-t", session]
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self):
        try:
            while os.read(self.master, 65536):
                pass
        except OSError:
            pass

    def type(self, data: str):
        os.write(self.master, data.encode())

    def resize(self, cols, rows):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.killpg(self.proc.pid, signal.SIGWINCH)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        finally:
            os.close(self.master)


def tmux(socket, *args):
    return subprocess.run(["tmux", "-S", str(socket), *args], capture_output=True, text=True, timeout=10).stdout


def events(journal, run_id):
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return db.execute("SELECT seq, kind, step, data FROM events WHERE run_id = ? ORDER BY seq",
                          (run_id,)).fetchall()
    finally:
        db.close()


def wait_until(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def shared(tmp_path):
    import grp

    book = tmp_path / "shared.toml"
    book.write_text(SHARED_BOOK)
    journal = tmp_path / "journal.sqlite3"
    socket = tmp_path / "share" / "deploy.sock"
    group = grp.getgrgid(os.getgid()).gr_name
    out = subprocess.run([sys.executable, "-m", "deploytui", "share", "--socket", str(socket), "--session", "rel",
                          "--group", group, "--", sys.executable, "-m", "deploytui", "run", str(book), "--var",
                          "env=staging", "--journal", str(journal)], cwd=ROOT, capture_output=True, text=True,
                         timeout=30, stdin=subprocess.DEVNULL)
    try:
        assert out.returncode == 0, out.stderr
        yield socket, journal, group, out.stdout
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, timeout=10)


def test_share_prints_the_commands_and_sets_up_tmux(shared):
    socket, journal, group, stdout = shared
    follow_socket = socket.parent / "rel.follow.sock"
    lines = stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "deploytui follow --socket" in line)
    mirror = next(i for i, line in enumerate(lines) if "attach -f read-only,ignore-size" in line)
    assert first < mirror  # a follower of their own is the first choice; the mirror comes second
    assert lines[first].strip() == f"deploytui follow --socket {follow_socket}"
    assert lines[mirror].strip() == f"tmux -S {socket} attach -f read-only,ignore-size -t rel"
    assert f"members of group {group} may connect" in stdout
    wait_for_run(journal)
    assert wait_until(follow_socket.exists)
    mode = os.stat(follow_socket).st_mode
    assert stat.S_ISSOCK(mode) and mode & stat.S_IRGRP and mode & stat.S_IWGRP and not mode & stat.S_IROTH
    mode = os.stat(socket).st_mode
    assert stat.S_ISSOCK(mode) and mode & stat.S_IRGRP and mode & stat.S_IWGRP and not mode & stat.S_IROTH
    assert os.stat(socket.parent).st_mode & 0o777 == 0o710
    assert tmux(socket, "show-options", "-s", "escape-time").split() == ["escape-time", "10"]
    assert tmux(socket, "show-options", "-g", "window-size").split() == ["window-size", "manual"]
    assert tmux(socket, "show-options", "-g", "allow-passthrough").split() == ["allow-passthrough", "on"]
    run_id = wait_for_run(journal)
    # the journal records the tmux session the run was shared in
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    (recorded,) = db.execute("SELECT tmux FROM runs WHERE id = ?", (run_id,)).fetchone()
    db.close()
    assert recorded == f"rel ({socket})"


def test_read_only_client_cannot_change_the_run(shared):
    socket, journal, _group, _ = shared
    run_id = wait_for_run(journal)
    assert wait_until(lambda: "Confirm the change window" in tmux(socket, "capture-pane", "-p", "-t", "rel"))
    follower = Client(socket, "rel", 120, 40, readonly=True)
    driver = Client(socket, "rel", 90, 28, readonly=False)
    try:
        def clients():
            rows = tmux(socket, "list-clients", "-F", "#{client_readonly} #{client_width}x#{client_height}")
            return sorted(rows.split("\n")[:-1])

        def window_size():
            return tmux(socket, "display-message", "-p", "-t", "rel", "#{window_width}x#{window_height}").strip()

        assert wait_until(lambda: clients() == ["0 90x28", "1 120x40"]), clients()
        assert wait_until(lambda: window_size() == "90x27"), window_size()  # the driver's size, not the pair's
        before = events(journal, run_id)
        # everything a person might try through the read-only client: tick, run, skip, mark, quit
        for key in ["1", "2", "r", "s", "d", "f", "\r", " ", "q", "\x11", "\x03"]:
            follower.type(key)
        # the same key through the driver's client, typed after them, is a tick in the journal: once it is
        # there, the follower's keys (earlier) have been through tmux too, and they did nothing
        driver.type("1")
        assert wait_until(lambda: any(e[1] == "check_toggled" for e in events(journal, run_id)), 10)
        after = events(journal, run_id)
        new = after[len(before):]
        assert after[:len(before)] == before
        assert [e[1] for e in new] == ["check_toggled"] and new[0][2] == "confirm", new
        assert "rel" in tmux(socket, "list-sessions", "-F", "#{session_name}")  # the app did not quit
        assert follower.proc.poll() is None  # and the follower is still watching
        # keys typed through the bigger read-only client (attached without ignore-size, the old way) did not
        # take the window over
        assert window_size() == "90x27"  # 28 rows less tmux's status line
        # and the screen the follower watches shows it
        def shown() -> str:
            return tmux(socket, "capture-pane", "-p", "-t", "rel")

        assert wait_until(lambda: "Waiting for: 1 check" in shown() and "☑ 1. The change is approved" in shown()
                          and "☐ 2. The channel knows" in shown()), shown()
    finally:
        follower.close()
        driver.close()


def test_share_never_changes_the_mode_of_a_directory_it_was_given(tmp_path):
    given = tmp_path / "shared-sockets"
    given.mkdir()
    given.chmod(0o1777)
    book = tmp_path / "shared.toml"
    book.write_text(SHARED_BOOK)
    socket = given / "deploy.sock"
    out = subprocess.run([sys.executable, "-m", "deploytui", "share", "--socket", str(socket), "--session", "keep",
                          "--detach", "--", sys.executable, "-m", "deploytui", "run", str(book), "--var",
                          "env=staging", "--journal", str(tmp_path / "j.db")], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    try:
        assert out.returncode == 0, out.stderr
        assert stat.S_IMODE(os.stat(given).st_mode) == 0o1777
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, timeout=10)


def test_share_says_why_the_command_did_not_start(tmp_path):
    book = tmp_path / "shared.toml"
    book.write_text(SHARED_BOOK)
    socket = tmp_path / "s" / "deploy.sock"
    out = subprocess.run([sys.executable, "-m", "deploytui", "share", "--socket", str(socket), "--session", "bad",
                          "--detach", "--", sys.executable, "-m", "deploytui", "run", str(book), "--var",
                          "nosuch=1", "--journal", str(tmp_path / "j.db")], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "the shared command did not start" in out.stderr and "unknown variable 'nosuch'" in out.stderr
    assert "[exited]" not in out.stderr


def test_only_the_driver_sizes_the_shared_window(shared):
    # pairs attached as printed (ignore-size) never resize it; when the driver detached, every pair's
    # window fell to the last pair's size (80x23)
    socket, journal, _group, _ = shared
    wait_for_run(journal)

    def window_size():
        return tmux(socket, "display-message", "-p", "-t", "rel", "#{window_width}x#{window_height}").strip()

    driver = Client(socket, "rel", 120, 40, readonly=False)
    assert wait_until(lambda: window_size() == "120x39"), window_size()  # 40 rows less tmux's status line
    mirror = Client(socket, "rel", 80, 24, readonly=False, flags=("read-only", "ignore-size"))
    second = Client(socket, "rel", 100, 30, readonly=False, flags=("ignore-size",))  # the co-driver's line
    try:
        assert wait_until(lambda: len(tmux(socket, "list-clients").splitlines()) == 3)
        second.type("j")  # a key through a co-driver's smaller terminal
        driver.resize(110, 35)  # the driver's own terminal still sizes the window
        assert wait_until(lambda: window_size() == "110x34"), window_size()
        driver.close()
        assert wait_until(lambda: len(tmux(socket, "list-clients").splitlines()) == 2)
        mirror.resize(70, 20)  # a pair's terminal changing size, now the only client, changes nothing either
        assert wait_until(lambda: "70x20" in tmux(socket, "list-clients", "-F", "#{client_width}x#{client_height}"))
        assert window_size() == "110x34"
        driver = Client(socket, "rel", 90, 28, readonly=False)  # the driver comes back
        assert wait_until(lambda: window_size() == "90x27"), window_size()
        # the sizing hook said nothing on the shared screen (a failed hook's view there took the next key)
        assert tmux(socket, "display-message", "-p", "-t", "rel", "#{pane_in_mode}").strip() == "0"
    finally:
        for client in (mirror, second, driver):
            client.close()
