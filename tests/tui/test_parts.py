"""The Textual-free parts of the screen: the output store, terminal notifications, window estimates,
and the import rule (only deploytui.tui imports Textual)."""

from __future__ import annotations

import os
import subprocess
import sys

from deploytui.engine.run import Run
from deploytui.reports.estimate import remaining_seconds
from deploytui.tui.app import write_full_output
from deploytui.tui.notify import osc_sequences
from deploytui.tui.output import OutputStore, clean_line


def test_clean_line_strips_colour_controls_and_carriage_return_rewrites():
    assert clean_line("\x1b[1;31mERROR\x1b[0m disk full") == "ERROR disk full"
    assert clean_line("progress 10%\rprogress 100%") == "progress 100%"
    assert clean_line("\x1b]0;title\x07bell\x07 here\tx") == "bell here\tx"
    assert clean_line("plain │ box") == "plain │ box"


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


def test_osc_notifications_plain_and_wrapped_for_tmux():
    plain = osc_sequences("deploytui: Soak", "the wait is over", in_tmux=False)
    assert plain == "\x1b]9;deploytui: Soak: the wait is over\x07\x1b]777;notify;deploytui: Soak;the wait is over\x07"
    wrapped = osc_sequences("t", "b\x1b;x", in_tmux=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]9;t: bx\x07") and wrapped.endswith("\x1b\\")


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


def test_full_output_comes_from_the_journal(journal, clock, make_book):
    book = make_book('[runbook]\nid = "f"\ntitle = "F"\n[[steps]]\nid = "s"\ntitle = "S"\nrun = "seq 1 50000"\n')
    run = Run.start(journal, book, {}, operator="x", clock=clock, env={"PATH": "/usr/bin:/bin"})
    try:
        run.run_step("s")
        assert run.wait_idle(30)
        path = write_full_output(journal, run.run_id, "s", 1)
        text = open(path).read()
        os.unlink(path)
        assert text.splitlines() == [str(i) for i in range(1, 50001)]
    finally:
        run.close()


def test_core_does_not_import_textual():
    code = ("import sys, deploytui.engine.run, deploytui.journal, deploytui.tui.output, deploytui.tui.view, "
            "deploytui.reports.estimate, deploytui.tui.notify; print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
