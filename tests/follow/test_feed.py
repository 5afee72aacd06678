"""The read-only feed: a follower process sees a headless driver's step start, output and tick within
1 s of their commit, and never writes to the journal."""

import hashlib
import sqlite3
import time

import pytest

from deploytui.errors import UserError
from deploytui.events import kinds as ev
from deploytui.events.state import DONE
from deploytui.follow.feed import Follow, follow
from deploytui.journal import Journal

LATENCY = 1.0


def test_follower_sees_step_start_output_and_tick_within_a_second(driver):
    proc, journal, run_id = driver
    f = follow(journal)  # no RUN_ID: the active run
    assert f.run_id == run_id
    seen_events: dict[tuple[str, str | None], float] = {}
    late: list[str] = []
    lines: list[str] = []
    fetched_ahead = []
    for update in f.updates(timeout=30):  # fetched on one thread; applied by the reader (the screen's thread)
        now = time.time()
        if update.events:
            fetched_ahead.append(f.state.last_seq < update.events[-1].seq)
        f.apply(update)
        for e in update.events:
            seen_events.setdefault((e.kind, e.step), now)
            if now - e.ts > LATENCY:
                late.append(f"{e.kind} {e.step}: {now - e.ts:.2f}s")
        for c in update.chunks:
            lines += c.data.splitlines()
            if now - c.ts > LATENCY:
                late.append(f"output {c.data!r}: {now - c.ts:.2f}s")
    assert proc.wait(timeout=10) == 0
    assert fetched_ahead and all(fetched_ahead), "updates() must fetch only: the reader applies"
    assert not late, late
    assert (ev.STEP_STARTED, "build") in seen_events
    assert (ev.CHECK_TOGGLED, "confirm") in seen_events
    assert (ev.TIMER_STARTED, "soak") in seen_events
    assert (ev.RUN_FINISHED, None) in seen_events
    # the build's output came through the feed (it started after the follower did), in order
    assert lines == ["first line", "second line"]
    # and the folded state is the driver's
    assert f.state.outcome == "succeeded"
    assert f.state.steps["confirm"].checks == [True]
    assert all(f.state.status(s) == DONE for s in f.state.path)


def test_follower_never_writes(finished):
    journal, run_id = finished
    before = hashlib.sha256(journal.read_bytes()).hexdigest()
    f = follow(journal, run_id[:10])  # a prefix is enough
    assert f.state.outcome == "succeeded"
    assert not f.poll()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        f.journal.db.execute("INSERT INTO events (run_id, seq, ts, kind, step, actor, data) VALUES ('x', 1, 0, 'note', NULL, 'me', '{}')")
    f.close()
    assert hashlib.sha256(journal.read_bytes()).hexdigest() == before


def test_history_before_joining_comes_from_tail_without_duplicates(finished):
    journal, run_id = finished
    f = Follow(Journal(journal, readonly=True), run_id)
    cursor = f.chunk_cursor
    assert cursor > 0
    assert f.tail("build", "main", 1, upto=cursor) == (["first line", "second line"], 2)
    assert f.tail("build", "main", 1, upto=cursor - 1) == (["first line"], 1)
    assert f.tail("build", "main", 1, upto=cursor, lines=1) == (["second line"], 2)


def test_no_active_run_is_one_clear_line(finished):
    journal, _run_id = finished
    with pytest.raises(UserError, match="no active run to follow: give a RUN id"):
        follow(journal)
    with pytest.raises(UserError, match="no run 'nope'"):
        follow(journal, "nope")
