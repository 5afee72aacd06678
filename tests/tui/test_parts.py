"""The Textual-free parts of the screen: the output store, terminal notifications, window estimates,
and the import rule (only deploytui.tui imports Textual)."""

from __future__ import annotations

import subprocess
import sys

from deploytui.engine.run import Run
from deploytui.reports.estimate import remaining_seconds
from deploytui.tui.output import OutputStore, for_display, last_lines
from deploytui.tui.screens.output import JournalLines
from deploytui.tui.terminal import notification


def test_a_line_keeps_its_colours_for_the_screen_and_loses_what_a_terminal_would_not_show():
    assert for_display("\x1b[1;31mERROR\x1b[0m disk full") == "\x1b[1;31mERROR\x1b[0m disk full"
    assert for_display("progress 10%\rprogress 100%") == "progress 100%"  # a redraw: the one cleaner
    assert for_display("\x1b]0;title\x07bell\x07 here\tx") == "bell here\tx"
    assert for_display("plain │ box") == "plain │ box"


def test_last_lines_of_a_chunk_without_splitting_it_all():
    for text in ["a\nb\nc\n", "a\nb\nc", "", "\n", "x", "\n\n", "a\n\nb\n"]:
        lines = text.split("\n")[:-1] if text.endswith("\n") else (text.split("\n") if text else [])
        for n in (1, 2, 5):
            assert last_lines(text, n) == lines[-n:], (text, n)


def test_store_keeps_a_bounded_tail_and_hands_out_only_new_lines():
    store = OutputStore(keep=100)
    store.add("s", 1, "main", "".join(f"{i}\n" for i in range(1000)))
    gen, total, lines, restart = store.since("s", "main", -1, 0)
    assert (total, len(lines), lines[0], lines[-1], restart) == (1000, 100, "900", "999", True)
    store.add("s", 1, "main", "a\nb\n")
    gen2, total2, new, restart2 = store.since("s", "main", gen, total)
    assert (gen2, total2, new, restart2) == (gen, 1002, ["a", "b"], False)
    assert store.since("s", "main", gen, total2)[2] == []
    store.add("s", 1, "main", "".join(f"{i}\n" for i in range(500)))  # the view fell behind the ring
    _, total_behind, behind, restart_behind = store.since("s", "main", gen, total2)
    assert (total_behind, len(behind), behind[-1], restart_behind) == (1502, 100, "499", False)
    store.add("s", 2, "main", "again\n")  # a new attempt starts the stream over
    gen3, _, lines3, restart3 = store.since("s", "main", gen, total2)
    assert gen3 != gen and lines3 == ["again"] and restart3
    store.add("s", 1, "main", "late line of attempt 1\n")
    assert store.total("s", "main") == 1


def test_store_fills_unseen_streams_from_the_loader():
    calls = []

    def loader(step, stream):
        calls.append((step, stream))
        return ["x", "y"], 5000

    store = OutputStore(loader=loader)
    assert store.since("s", "pane0", -1, 0)[1:3] == (5000, ["x", "y"])
    store.since("s", "pane0", -1, 0)
    assert calls == [("s", "pane0")]


def test_notifications_plain_wrapped_for_tmux_passthrough_or_not_at_all():
    plain = notification("deploytui: Soak", "the wait is over", tmux=False)
    assert plain == "\x1b]9;deploytui: Soak: the wait is over\x07\x1b]777;notify;deploytui: Soak;the wait is over\x07"
    wrapped = notification("t", "b\x1b;x", tmux=True, passthrough=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]9;t: bx\x07") and wrapped.endswith("\x1b\\")
    assert notification("t", "b", tmux=True, passthrough=False) == ""  # tmux would drop it: the bell rings instead


def test_remaining_time_counts_timers_and_gates(journal, clock, make_book):
    book = make_book('''
[runbook]
id = "w"
title = "W"
[[steps]]
id = "a"
title = "A"
wait = "10m"
[[steps]]
id = "b"
title = "B"
not_before = { step = "a", wait = "15m" }
run = "true"
''')
    run = Run.start(journal, book, {}, operator="x", clock=clock)
    try:
        assert remaining_seconds(run.state, {}, clock.now()) == 600 + 900
        assert remaining_seconds(run.state, {"b": 30}, clock.now()) == 600 + 30
    finally:
        run.close()


def test_full_output_comes_from_the_journal_a_chunk_at_a_time(journal, clock, make_book):
    book = make_book('[runbook]\nid = "f"\ntitle = "F"\n[[steps]]\nid = "s"\ntitle = "S"\nrun = "seq 1 50000"\n')
    run = Run.start(journal, book, {}, operator="x", clock=clock, env={"PATH": "/usr/bin:/bin"})
    try:
        run.run_step("s")
        assert run.wait_idle(30)
        lines = JournalLines(journal, run.run_id, "s", 1)
        assert [line for _, line in lines.lines()] == [str(i) for i in range(1, 50001)]
        assert len(lines._split) <= 6  # a few chunks held split, never all of them
    finally:
        run.close()


class Chunks:
    """A journal's two read calls over chunks that end mid-line."""

    def __init__(self, texts: list[str]):
        self.texts = texts

    def chunk_index(self, run_id, step, attempt, stream="main", after=0):
        return [(i + 1, t.count("\n")) for i, t in enumerate(self.texts) if i + 1 > after]

    def chunk_text(self, chunk_id):
        return self.texts[chunk_id - 1]


def test_journal_lines_join_lines_that_chunks_cut():
    chunks = Chunks(["one\ntw", "o\nthr", "ee", "\nfour\n", "fi"])
    lines = JournalLines(chunks, "r", "s", 1)
    assert lines.total == 5
    assert [lines.line(i) for i in range(5)] == ["one", "two", "three", "four", "fi"]
    chunks.texts += ["ve\n"]
    lines.update()
    assert lines.total == 5 and lines.line(4) == "five"


def test_core_does_not_import_textual():
    code = ("import sys, deploytui.engine.run, deploytui.journal, deploytui.tui.output, deploytui.tui.view, "
            "deploytui.reports.estimate, deploytui.tui.terminal, deploytui.tui.config; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
