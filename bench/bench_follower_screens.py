"""What real followers cost the driver's screen: the driver (`deploytui run`) in tmux 120x40, with 0, 1 and 10
`deploytui follow` processes, each in its own tmux 100x30, following the driver's published socket and drawing
what it shows (the current step's output included). Two figures per number of followers, beside the same with
none (the floor, measured in the same run, before and after):

- the `seq 2000000` stream: `r` on the driver to its last line on the driver's screen (each follower is then
  waited for until it shows the last line too: how far behind it drew it is printed);
- key latency: moving in the driver's 37-step list (bench_tmux's shape of login-gov-idp.toml) while its first
  step streams `seq`, each key to the first capture whose detail shows the step moved to (median, p95).

    .venv/bin/python bench/bench_follower_screens.py
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_tmux import (
    COLS,
    DEPLOYTUI,
    ENV,
    ROWS,
    SHAPED_VARS,
    deploytui,
    detail_title,
    load_avg,
    pct,
    right,
    shaped_runbook,
    step_latencies,
    stream_runbook,
)
from common import result
from tmuxterm import Tmux

ROOT = Path(__file__).resolve().parent.parent
SEQ = 2_000_000
PRESSES = 60
COUNTS = (0, 1, 10)


@contextlib.contextmanager
def followers(n: int, sock: Path, cwd: str):
    """`n` followers of the socket, each in its own tmux, started and showing the run before this yields."""
    with contextlib.ExitStack() as stack:
        terms = []
        for k in range(n):
            f = stack.enter_context(Tmux(f"follower{k}", 100, 30, ENV))
            f.start(f"{DEPLOYTUI} follow --socket {sock}; sleep 600", cwd=cwd)
            terms.append(f)
        for f in terms:
            f.wait(lambda lines: any("FOLLOWING" in x for x in lines[:3]), timeout=60)
        yield terms


def driver(t: Tmux, book: Path, journal: Path, sock: Path, given: str = "") -> None:
    t.env["DEPLOYTUI_PUBLISH"] = str(sock)
    t.start(deploytui(book, journal, given), cwd=str(book.parent))
    end = time.monotonic() + 30
    while not sock.exists():
        if time.monotonic() > end:
            raise TimeoutError("the driver never published its run")
        time.sleep(0.05)


def stream_time(n: int) -> tuple[float, float]:
    """`r` to the last line on the driver's screen; and the slowest follower's lag behind the driver."""
    with tempfile.TemporaryDirectory() as d, Tmux("driver", COLS, ROWS, dict(ENV)) as t:
        book, journal, sock = Path(d) / "book.toml", Path(d) / "j.sqlite3", Path(d) / "run.sock"
        book.write_text(stream_runbook(f"seq {SEQ}"))
        driver(t, book, journal, sock)
        t.wait(lambda lines: "Stream the output" in detail_title(lines), timeout=30)
        last = str(SEQ)
        with followers(n, sock, d) as fs:
            time.sleep(0.5)  # the followers' first frames settle
            t0 = time.monotonic()
            t.keys("r")
            t1 = t.wait(lambda lines: any(right(x).strip() == last for x in lines), timeout=300, every=0.005)
            lag = 0.0
            for f in fs:
                tf = f.wait(lambda lines: any(right(x).strip() == last for x in lines), timeout=120, every=0.01)
                lag = max(lag, tf - t1)
        return t1 - t0, lag


def key_latency(n: int) -> list[float]:
    text, steps = shaped_runbook("seq 40000000")
    titles = [title for _, title in steps]
    with tempfile.TemporaryDirectory() as d, Tmux("driver", COLS, ROWS, dict(ENV)) as t:
        book, journal, sock = Path(d) / "book.toml", Path(d) / "j.sqlite3", Path(d) / "run.sock"
        book.write_text(text)
        driver(t, book, journal, sock, SHAPED_VARS)
        t.wait(lambda lines: titles[0][:28] in detail_title(lines), timeout=30)
        with followers(n, sock, d) as fs:
            time.sleep(1.0)
            t.keys("r")
            for term in (t, *fs):  # lines flowing on the driver and on every follower
                term.wait(lambda lines: sum(right(x).strip().isdigit() for x in lines) > 5, timeout=60)
            return step_latencies(t, titles, PRESSES)


def main() -> None:
    print(f"follower screens: {load_avg()} before")
    streams: dict[int, list[tuple[float, float]]] = {n: [] for n in COUNTS}
    keys: dict[int, list[float]] = {n: [] for n in COUNTS}
    for n in (*COUNTS, 0):  # the floor before and after the others
        streams[n].append(stream_time(n))
        keys[n] += key_latency(n)
        print(f"  {n} followers: stream {streams[n][-1][0]:.2f} s (followers' lag {streams[n][-1][1]:.2f} s), "
              f"keys p50 {statistics.median(keys[n]):.0f} ms · {load_avg()}", flush=True)
    floor_s = statistics.median(s for s, _ in streams[0])
    floor_k = statistics.median(keys[0])
    floor = (f"floor, no follower: {', '.join(f'{s:.2f}' for s, _ in streams[0])} s; keys p50 {floor_k:.0f} ms "
             f"(p95 {pct(keys[0], 95):.0f}, n={len(keys[0])})")
    for n in COUNTS[1:]:
        s, lag = streams[n][0]
        result(f"driver's `seq {SEQ}` stream with {n} `deploytui follow` screen{'s' if n > 1 else ''} on its socket "
               "(tmux, `r` to the last line)", f"{s:.2f} s (x{s / floor_s:.2f}); followers' last line "
               f"{lag:.2f} s after the driver's", "close to the floor", floor)
        k = keys[n]
        result(f"driver's key latency with {n} follower screen{'s' if n > 1 else ''}, moving in the 37-step list "
               "while `seq` streams", f"p50 {statistics.median(k):.0f} ms (x{statistics.median(k) / floor_k:.2f}; "
               f"p95 {pct(k, 95):.0f}, n={len(k)})", "close to the floor", floor)
    print(f"follower screens: {load_avg()} after")


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
