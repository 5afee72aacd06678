"""Benchmark: the run screen while a command prints as fast as it can (`seq 2000000`).

Measures how fast moving in the step list responds while output streams, how many lines per second
reach the journal and the screen, and the process's memory. Run: `python bench/tui_stream.py`."""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import deploytui.engine  # noqa: F401
from deploytui.journal import Journal
from deploytui.runbook.loader import parse
from deploytui.tui.app import build_app
from deploytui.tui.widgets.detail import StepDetail
from deploytui.tui.widgets.steplist import StepList

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
BOOK = f'''
[runbook]
id = "bench"
title = "Bench"
[[steps]]
id = "flood"
title = "Flood"
run = "seq {LINES}"
[[steps]]
id = "a"
title = "A"
checks = ["x"]
[[steps]]
id = "b"
title = "B"
checks = ["y"]
'''


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shows(app, step: str) -> bool:
    """The detail pane has been re-composed for `step` (its title is on screen)."""
    detail = app.screen.query_one(StepDetail)
    titles = detail.query("#d-title")
    return detail.step_id == step and bool(titles) and app.book.step(step).title in str(titles.first().render())


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        journal = Journal(Path(d) / "j.sqlite3")
        app = build_app(journal=journal, book=parse(BOOK, f"{d}/b.toml"), given={}, operator="bench", form=False,
                        env={"PATH": "/usr/bin:/bin"})
        async with app.run_test(size=(120, 40)) as pilot:
            while not app.screen.query(StepDetail):
                await pilot.pause()
            rss0 = rss_mb()
            t0 = time.monotonic()
            await pilot.press("r")
            run = app.current_run
            latencies, peak = [], rss0
            steps = app.screen.query_one(StepList)
            keys = ["down", "up"]
            k = 0
            while run.state.steps["flood"].command_ok is None:
                key = keys[k % 2]
                k += 1
                want = "a" if key == "down" else "flood"
                t = time.monotonic()
                # what the down/up key does, without Pilot's wait for every widget to go idle
                steps.action_cursor_down() if key == "down" else steps.action_cursor_up()
                while not shows(app, want):
                    await asyncio.sleep(0.001)
                latencies.append((time.monotonic() - t) * 1000)
                peak = max(peak, rss_mb())
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - t0
            await pilot.pause(0.3)
            if steps.selected_step != "flood":
                await pilot.press("up")
                await pilot.pause(0.3)
            log = app.screen.query_one("#main-log")
            shown = log.line_count
            stored = sum(c.lines for c in journal.chunks(run.run_id, "flood"))
            chunks = sum(1 for _ in journal.chunks(run.run_id, "flood"))
        run.close()
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"lines: {LINES:,} in {elapsed:.1f}s = {LINES / elapsed:,.0f} lines/s through pty, journal and screen")
    print(f"journal: {stored:,} lines in {chunks:,} chunks")
    print(f"step-list moves during the flood: {len(latencies)}; latency p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
          f"max {latencies[-1]:.0f} ms")
    print(f"memory (RSS): {rss0:.0f} MB before, {peak:.0f} MB peak during; Log holds {shown:,} lines (max_lines)")


if __name__ == "__main__":
    asyncio.run(main())
