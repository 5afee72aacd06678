"""The three commands' refusals are one clear line and an exit code, never a traceback."""

import subprocess
import sys

from .helpers import ROOT


def deploytui(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "deploytui", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line(proc, code, text):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], proc.stderr


def test_follow_and_serve_without_a_journal(tmp_path):
    for cmd in ("follow", "serve"):
        one_line(deploytui(cmd, "--journal", tmp_path / "none.sqlite3"), 2, "no journal yet")


def test_follow_with_no_active_run_or_unknown_run(finished):
    journal, _run_id = finished
    one_line(deploytui("follow", "--journal", journal), 2, "no active run to follow: give a RUN id")
    one_line(deploytui("serve", "nope", "--journal", journal), 1, "no run 'nope'")


def test_share_refusals(tmp_path):
    one_line(deploytui("share", "--detach"), 2, "give the command to share after `--`")
    one_line(deploytui("share", "--detach", "--", "no-such-command-here"), 2, "no-such-command-here: no such command")
    one_line(deploytui("share", "--group", "no-such-group-here", "--", "true"), 2, "no group 'no-such-group-here'")
    socket = tmp_path / "s" / "x.sock"
    first = deploytui("share", "--detach", "--socket", socket, "--session", "one", "--", "sleep", "30")
    try:
        assert first.returncode == 0, first.stderr
        one_line(deploytui("share", "--detach", "--socket", socket, "--", "sleep", "30"), 1,
                 "a tmux server is already running there")
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, timeout=10)
