"""Engine and journal figures: durable event appends, output chunk throughput, folding a 100,000-event
run, and `seq 2000000` through the engine to the journal (no screen; bench_tui.py measures the screen)."""

import os
import subprocess
import tempfile
import time
from pathlib import Path

from common import result, timer

from deploytui.engine.clock import Clock
from deploytui.engine.run import Run
from deploytui.events.state import fold
from deploytui.journal import Journal
from deploytui.runbook.loader import parse

BOOK = """
[runbook]
id = "bench"
title = "Bench"
[[steps]]
id = "seq"
title = "seq"
run = "seq 2000000"
pty = {pty}
[[steps]]
id = "c"
title = "c"
checks = ["a", "b"]
"""


def journal_appends(tmp: Path) -> None:
    j = Journal(tmp / "append.db")
    n = 2000
    with timer() as t:
        for i in range(n):
            j.append("r", "check_toggled", "c", "bench", {"index": i % 2, "checked": True}, time.time())
    result("journal append of discrete events (each durable)", f"{n / t.seconds:,.0f} events/s", ">= 1,000 events/s")
    chunk = ("x" * 79 + "\n") * 13_000  # ~1 MB, the spool's flush size
    n = 100
    with timer() as t:
        for _ in range(n):
            j.append_output("r", "seq", 1, "main", chunk, time.time())
    result("journal output chunks", f"{n * len(chunk) / t.seconds / 1e6:,.0f} MB/s", ">= 50 MB/s")


def fold_100k(tmp: Path) -> None:
    book = parse(BOOK.format(pty="true"), "bench.toml")
    j = Journal(tmp / "fold.db")
    rows = [("big", i + 1, time.time(), "check_toggled", "c", "bench", f'{{"index": {i % 2}, "checked": {str(i % 3 == 0).lower()}}}')
            for i in range(100_000)]
    with j._lock:
        j.db.execute("BEGIN")
        j.db.executemany("INSERT INTO events (run_id, seq, ts, kind, step, actor, data) VALUES (?,?,?,?,?,?,?)", rows)
        j.db.execute("COMMIT")
    with timer() as t:
        events = j.events("big")
        state = fold(book, events, "big")
    assert state.last_seq == 100_000
    result("resume (read + fold) of a 100,000-event run", f"{t.seconds:.2f} s", "<= 1 s")


def stream_seq(tmp: Path, pty: bool) -> None:
    book = parse(BOOK.format(pty=str(pty).lower()), "bench.toml")
    j = Journal(tmp / f"seq-{pty}.db")
    run = Run.start(j, book, {}, operator="bench", clock=Clock())
    with timer() as t:
        run.run_step("seq")
        while run.state.current == "seq":
            time.sleep(0.005)
    lines = j.tail(run.run_id, "seq", lines=1)[1]
    assert lines == 2_000_000, lines
    run.close()
    label = "pty" if pty else "pipe"
    result(f"`seq 2000000` through the engine into the journal ({label}, no screen)",
           f"{lines / t.seconds:,.0f} lines/s", ">= 500k lines/s end to end (with the screen: bench_tui)",
           "")


def seq_ceiling() -> float:
    with timer() as t:
        subprocess.run(["seq", "2000000"], stdout=subprocess.DEVNULL, check=True)
    return 2_000_000 / t.seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        journal_appends(tmp)
        fold_100k(tmp)
        ceiling = seq_ceiling()
        result("ceiling: `seq 2000000 > /dev/null`", f"{ceiling:,.0f} lines/s", "-")
        for pty in (True, False):
            stream_seq(tmp, pty)


if __name__ == "__main__":
    os.environ.setdefault("DEPLOYTUI_OPERATOR", "bench")
    main()
