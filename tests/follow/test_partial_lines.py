"""Chunks that end mid-line (a long line, a progress bar) are joined, whether the follower joined before
them, between them or after them: no line is split, lost or shown twice."""

import time

import pytest

from deploytui.follow.feed import Follow
from deploytui.journal import Journal
from deploytui.tui.follow import FollowStore

from .helpers import BOOK

CHUNKS = ["first li", "ne\nsecond", " line\nthi", "rd line\n"]
EXPECTED = ["first line", "second line", "third line"]


def write_run(path):
    j = Journal(path)
    now = time.time()
    j.create_run("r1", runbook_id="follow-me", title="Follow me", path="follow.toml", sha256="x", runbook_text=BOOK,
                 environment="staging", release="", operator="driver", host="h", tty="", tmux="", rehearsal=False,
                 started=now, vars={})
    j.append("r1", "run_started", None, "driver", {"operator": "driver", "environment": "staging"}, now)
    j.append("r1", "step_started", "build", "engine", {"attempt": 1, "command": "echo"}, now)
    return j


@pytest.mark.parametrize("joined_after", range(len(CHUNKS) + 1))
def test_follower_joins_anywhere_in_split_lines(tmp_path, joined_after):
    path = tmp_path / "journal.sqlite3"
    writer = write_run(path)
    for data in CHUNKS[:joined_after]:
        writer.append_output("r1", "build", 1, "main", data, time.time())
    follow = Follow(Journal(path, readonly=True), "r1")
    store = FollowStore(follow)
    for data in CHUNKS[joined_after:]:
        writer.append_output("r1", "build", 1, "main", data, time.time())
        update = follow.poll()
        for c in update.chunks:
            store.add(c.step, c.attempt, c.stream, c.data)
        store.applied = update.last_chunk
    _gen, _total, lines, _restart = store.since("build", "main", -1, 0)
    assert lines == EXPECTED


def test_an_unfinished_last_line_shows_once_the_command_ends(tmp_path):
    path = tmp_path / "journal.sqlite3"
    writer = write_run(path)
    follow = Follow(Journal(path, readonly=True), "r1")
    store = FollowStore(follow)
    writer.append_output("r1", "build", 1, "main", "done\nno newline", time.time())
    for c in follow.poll().chunks:
        store.add(c.step, c.attempt, c.stream, c.data)
    assert store.since("build", "main", -1, 0)[2] == ["done"]
    writer.append("r1", "command_finished", "build", "engine", {"attempt": 1, "ok": True, "exit_code": 0},
                  time.time())
    follow.poll()
    assert store.since("build", "main", -1, 0)[2] == ["done", "no newline"]
