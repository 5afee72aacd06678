"""The screen's figures: the real app, headless (`run_test`, 120x40), each measurement in its own process so
its peak RSS and CPU time are that process's alone.

- plain output: `seq 2000000` in a step (pty -> spool -> journal -> OutputStore -> one `Log.write_lines`
  per 1/15 s), from pressing `r` to the step's last line on screen; ceiling `seq 2000000 > /dev/null`;
  naive baseline: a Textual app that `RichLog.write`s each line (20,000 lines, extrapolated).
- ANSI output: a perl generator of 2M coloured lines; the screen keeps the colours (decoded when drawn).
- peak RSS of the whole process after 2M lines (its VmHWM), and after 10M to show it does not grow.
- responsiveness: while `seq` streams at full speed, `down`/`up` keys go through the driver (as Pilot's)
  every 50 ms; latency is key to the first frame in which the detail pane shows the other step's title.
- start-up: a fresh process that loads runbooks/login-gov-idp.toml, builds the app and exits at the first
  frame of the run screen; best of 5; floor `python -c "import textual"`.
- idle CPU: a step with a 1 h `wait` countdown and 5 watch panes `every = "2s"`, 20 s of the app
  process's own CPU time (children, the watch commands, reported apart).

Frames: the headless driver skips turning compositor updates into terminal bytes; every frame here is
also encoded (`render_segments`) as it would be for a real terminal, so its cost is counted.

    .venv/bin/python bench/bench_tui.py            # all figures, RESULT lines
    .venv/bin/python bench/bench_tui.py child MODE ARGS...   # one measurement (what the parent runs)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import result

ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
ANSI_GEN = ('perl -e \'$|=0; for $i (1..{n}) {{ print "\\e[32m$i\\e[0m \\e[1;33mWARN\\e[0m line \\e[31mred\\e[0m '
            'and \\e[38;5;208mmore\\e[0m\\n" }}\'')


def stream_book(command: str) -> str:
    # the flood step keeps a check, so it stays current (and on screen) after its command ends
    return f'''
[runbook]
id = "bench"
title = "Bench"
[[steps]]
id = "flood"
title = "Flood"
run = {json.dumps(command)}
checks = ["looked at it"]
[[steps]]
id = "a"
title = "Step A"
checks = ["x"]
[[steps]]
id = "b"
title = "Step B"
checks = ["y"]
'''


IDLE_BOOK = '''
[runbook]
id = "idle"
title = "Idle"
[[steps]]
id = "soak"
title = "Soak"
wait = "1h"
checks = ["watched"]
''' + "".join(f'''  [[steps.panes]]
  title = "w{k}"
  watch = "echo {k} healthy; date +%T"
  every = "2s"
''' for k in range(5)) + "".join(f'''
[[steps]]
id = "later{k}"
title = "Later {k}"
wait = "{10 + k}m"
''' for k in range(9))


# ---------------------------------------------------------------------------------------------- child side
def vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Frames:
    """Wraps app._display: counts frames, encodes them like a terminal driver would, and calls `probe`
    (if set) after each one."""

    def __init__(self, app, encode: bool = True):
        self.app, self.count, self.probe = app, 0, None
        original = app._display

        def display(screen, renderable):
            original(screen, renderable)
            if renderable is None:
                return
            if encode and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            self.count += 1
            if self.probe is not None:
                self.probe(screen)

        app._display = display


def make_app(d: str, book_text: str):
    import deploytui.engine  # noqa: F401  (the CLI's import order)
    from deploytui.journal import Journal
    from deploytui.runbook.loader import parse
    from deploytui.tui.app import build_app

    journal = Journal(Path(d) / "j.sqlite3")
    app = build_app(journal=journal, book=parse(book_text, f"{d}/b.toml"), given={}, operator="bench",
                    form=False, env=dict(ENV), blink=False)
    return app, journal


def title_shown(app, step: str) -> bool:
    """The detail pane shows `step`'s title, laid out (it has a region on screen)."""
    from deploytui.tui.widgets.detail import StepDetail

    try:
        detail = app.screen.query_one(StepDetail)
    except Exception:
        return False
    if detail.step_id != step:
        return False
    titles = detail.query("#d-title")
    if not titles:
        return False
    t = titles.first()
    return app.book.step(step).title in str(t.render()) and t.region.area > 0


def send_key(app, key: str) -> None:
    """A key through the driver, as Pilot sends it, without Pilot's wait for the app to go idle."""
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)


async def ready(app, pilot) -> None:
    from deploytui.tui.widgets.detail import StepDetail

    while not app.screen.query(StepDetail):
        await pilot.pause()
    await pilot.pause(0.2)


async def child_stream(command: str, lines: int, last: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        app, journal = make_app(d, stream_book(command))
        async with app.run_test(size=SIZE) as pilot:
            await ready(app, pilot)
            frames = Frames(app)
            rss0 = vm("VmRSS")
            t0 = time.perf_counter()
            send_key(app, "r")
            while app.current_run.state.steps["flood"].attempt == 0:
                await asyncio.sleep(0.001)
            run = app.current_run
            st = run.state.steps["flood"]
            while st.command_ok is None:
                await asyncio.sleep(0.002)
            t_done = time.perf_counter()
            seen = {}

            def probe(_screen):
                logs = app.screen.query("#main-log")
                if "t" not in seen and logs and logs.first().line_count and \
                        logs.first().plain(logs.first().line_count - 1) == last:
                    seen["t"] = time.perf_counter()

            frames.probe = probe
            while "t" not in seen and time.perf_counter() - t_done < 30:
                await asyncio.sleep(0.002)
            t_screen = seen.get("t", float("nan"))
            log = app.screen.query_one("#main-log")
            shown = log.line_count
            escapes = sum("\x1b" in x for x in log.lines)
            stored = sum(c.lines for c in journal.chunks(run.run_id, "flood"))
            coloured = any("\x1b[" in c.data for c in journal.chunks(run.run_id, "flood"))
            ok = st.command_ok
        run.close()
        journal.close()
    return {"lines": lines, "to_done": t_done - t0, "to_screen": t_screen - t0, "stored": stored, "shown": shown,
            "escapes_on_screen": escapes, "journal_coloured": coloured, "ok": ok, "rss_before": rss0,
            "frames": frames.count, "hwm": vm("VmHWM")}


async def child_latency(lines: int) -> dict:
    from deploytui.tui.widgets.steplist import StepList

    with tempfile.TemporaryDirectory() as d:
        app, journal = make_app(d, stream_book(f"seq {lines}"))
        async with app.run_test(size=SIZE) as pilot:
            await ready(app, pilot)
            frames = Frames(app)
            send_key(app, "r")
            while app.current_run.state.steps["flood"].attempt == 0:
                await asyncio.sleep(0.001)
            run = app.current_run
            st = run.state.steps["flood"]
            steps = app.screen.query_one(StepList)
            latencies = []
            pending = {}

            def probe(_screen):
                if pending and title_shown(app, pending["want"]):
                    latencies.append((time.perf_counter() - pending["t"]) * 1000)
                    pending.clear()

            frames.probe = probe
            k = 0
            t_start = time.perf_counter()
            while st.command_ok is None:
                key, want = ("down", "a") if k % 2 == 0 else ("up", "flood")
                k += 1
                n = len(latencies)
                pending.update(want=want, t=time.perf_counter())
                send_key(app, key)
                while len(latencies) == n and time.perf_counter() - pending.get("t", 0) < 5:
                    await asyncio.sleep(0.001)
                if len(latencies) == n:  # never shown within 5 s: count it as 5 s and resynchronise
                    latencies.append(5000.0)
                    pending.clear()
                    steps.select_step(want)
                    await pilot.pause(0.1)
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - t_start
        run.close()
        journal.close()
    return {"latencies": latencies, "elapsed": elapsed, "lines": lines, "ok": st.command_ok, "hwm": vm("VmHWM")}


async def child_naive(lines: int) -> dict:
    from textual.app import App
    from textual.widgets import RichLog

    out = {}

    class Naive(App):
        def compose(self):
            yield RichLog(id="log")

        async def feed(self) -> None:
            log = self.query_one(RichLog)
            t0 = time.perf_counter()
            proc = await asyncio.create_subprocess_exec("seq", str(lines), stdout=asyncio.subprocess.PIPE)
            async for raw in proc.stdout:
                log.write(raw.decode().rstrip("\n"))
            await proc.wait()
            out["to_done"] = time.perf_counter() - t0
            out["t0"] = t0

    app = Naive()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        frames = Frames(app)
        seen = {}
        log = app.query_one(RichLog)

        def probe(_screen):
            if "to_done" in out and "t" not in seen and len(log.lines) >= lines:
                seen["t"] = time.perf_counter()

        frames.probe = probe
        await app.feed()
        while "t" not in seen and time.perf_counter() - out["t0"] < 120:
            await asyncio.sleep(0.002)
        out["to_screen"] = seen.get("t", float("nan")) - out["t0"]
        out["shown"] = len(log.lines)
    return {**out, "lines": lines, "hwm": vm("VmHWM")}


def child_startup(t_spawn: float) -> dict:
    """What `deploytui run runbooks/login-gov-idp.toml` does up to its first frame, headless."""
    import deploytui.cli  # noqa: F401
    from deploytui.engine.headless import drive  # noqa: F401  (start_run imports it)
    from deploytui.journal import Journal
    from deploytui.runbook.loader import load
    from deploytui.tui.app import build_app
    from deploytui.tui.screens.run import RunScreen

    out = {}
    with tempfile.TemporaryDirectory() as d:
        journal = Journal(Path(d) / "j.sqlite3")
        book = load(ROOT / "runbooks" / "login-gov-idp.toml")
        app = build_app(journal=journal, book=book, given={"rc": "112"}, operator="bench", form=False,
                        env=dict(ENV), blink=False)
        frames = Frames(app)

        def probe(screen):
            if "first" not in out and isinstance(screen, RunScreen):
                out["first"] = time.time() - t_spawn
                app.exit()

        frames.probe = probe
        app.run(headless=True, size=SIZE)
        if app.current_run is not None:
            app.current_run.close()
        journal.close()
    return out


async def child_idle(seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        app, journal = make_app(d, IDLE_BOOK)
        async with app.run_test(size=SIZE) as pilot:
            await ready(app, pilot)
            frames = Frames(app)
            await asyncio.sleep(3)  # panes started, first watch output shown
            run = app.current_run
            s0, c0, w0, f0 = os.times(), None, time.perf_counter(), frames.count
            c0 = s0.children_user + s0.children_system
            await asyncio.sleep(seconds)
            s1, w1 = os.times(), time.perf_counter()
            st = run.state.steps["soak"]
            countdown = bool(app.screen.query("#d-digits"))
            pane_lines = sum(app.view.store.total("soak", f"pane{k}") for k in range(5))
            status = run.state.status("soak")
        run.close()
        journal.close()
    wall = w1 - w0
    return {"wall": wall, "cpu": (s1.user + s1.system - s0.user - s0.system), "children_cpu":
            (s1.children_user + s1.children_system - c0), "frames": frames.count - f0, "countdown": countdown,
            "pane_lines": pane_lines, "status": status, "activated": st.activated, "hwm": vm("VmHWM")}


def child(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "plain":
        n = int(argv[1])
        out = asyncio.run(child_stream(f"seq {n}", n, str(n)))
    elif mode == "ansi":
        n = int(argv[1])
        out = asyncio.run(child_stream(ANSI_GEN.format(n=n), n, f"{n} WARN line red and more"))
    elif mode == "latency":
        out = asyncio.run(child_latency(int(argv[1])))
    elif mode == "naive":
        out = asyncio.run(child_naive(int(argv[1])))
    elif mode == "startup":
        out = child_startup(float(argv[1]))
    elif mode == "idle":
        out = asyncio.run(child_idle(float(argv[1])))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("CHILD " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------------------------- parent side
def spawn(*args: str, timeout: float = 300) -> tuple[dict, float, float]:
    """One child measurement; a failed one is reported and tried once more."""
    try:
        return spawn_once(*args, timeout=timeout)
    except RuntimeError as e:
        print(f"retried once: {e}")
        return spawn_once(*args, timeout=timeout)


def spawn_once(*args: str, timeout: float = 300) -> tuple[dict, float, float]:
    """Run one child measurement: (its JSON, wall seconds, its peak RSS in MB: VmHWM, the whole process)."""
    t = time.time()
    argv = [sys.executable, str(Path(__file__).resolve()), "child", *args]
    if args[0] == "startup":
        argv.append(repr(t))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    wall = time.time() - t
    data = None
    for line in stdout.splitlines():
        if line.startswith("CHILD "):
            data = json.loads(line[6:])
    if proc.returncode != 0 or data is None:
        tail = (stderr.strip().splitlines() or ["?"])[-1]
        Path(tempfile.gettempdir(), f"bench_tui_{args[0]}.err").write_text(stderr)
        raise RuntimeError(f"child {' '.join(args)} failed ({proc.returncode}): {tail}")
    rss = data.get("hwm")
    return data, wall, rss


def best_wall(argv: list[str], n: int = 5) -> float:
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
    return best


def k(rate: float) -> str:
    return f"{rate / 1000:,.0f}k lines/s"


def main() -> None:
    n = 2_000_000
    # ceilings: the generators alone
    seq_ceiling = n / best_wall(["seq", str(n)], 3)
    ansi_ceiling = n / best_wall(["bash", "-c", ANSI_GEN.format(n=n)], 3)
    result("ceiling: `seq 2000000 > /dev/null`", k(seq_ceiling), "-")
    result("ceiling: ANSI generator (perl, 2M coloured lines) > /dev/null", k(ansi_ceiling), "-")

    naive, _, _ = spawn("naive", "20000")
    naive_rate = naive["lines"] / naive["to_screen"]
    result("naive baseline: Textual `RichLog.write` per line (20,000 lines, headless)", k(naive_rate), "-",
           f"2M lines would take {n / naive_rate / 60:,.1f} min")

    plain, _, plain_rss = spawn("plain", str(n))
    rate = n / plain["to_screen"]
    assert plain["stored"] == n, plain
    result("plain `seq 2000000` through a step's pane, `r` to last line on screen",
           f"{k(rate)} ({plain['to_screen']:.2f} s; command done at {plain['to_done']:.2f} s)", ">= 500k lines/s",
           f"x{rate / naive_rate:,.0f} naive; {rate / seq_ceiling:.0%} of ceiling")
    print(f"plain: journal {plain['stored']:,} lines, Log holds {plain['shown']:,}, {plain['frames']} frames")

    ansi, _, ansi_rss = spawn("ansi", str(n))
    arate = n / ansi["to_screen"]
    kept = "colours stripped on screen" if ansi["escapes_on_screen"] == 0 else \
        "colours kept on screen (Rich's ANSI decoder, for the lines drawn)"
    kept += ", kept in the journal" if ansi["journal_coloured"] else ", not in the journal"
    result("ANSI-coloured 2M lines through a step's pane", f"{k(arate)} ({ansi['to_screen']:.2f} s; {kept})",
           ">= 200k lines/s", f"x{arate / naive_rate:,.0f} naive; {arate / ansi_ceiling:.0%} of ceiling")

    result("peak RSS of the whole app process after 2M lines (plain / ANSI)",
           f"{plain_rss:.0f} / {ansi_rss:.0f} MB", "<= 200 MB",
           f"x{plain_rss / plain['rss_before']:.1f} the app before streaming ({plain['rss_before']:.0f} MB)")

    big = 10_000_000
    plain10, _, rss10 = spawn("plain", str(big), timeout=600)
    result("peak RSS after 10M lines (does it grow with output?)",
           f"{rss10:.0f} MB ({k(big / plain10['to_screen'])})", "<= 200 MB", f"x{rss10 / plain_rss:.2f} the 2M run")

    lat, _, _ = spawn("latency", "6000000", timeout=600)
    ms = sorted(lat["latencies"])
    p50, p95 = ms[len(ms) // 2], ms[max(0, int(len(ms) * 0.95) - 1)]
    result(f"key in the step list to screen change while `seq` streams ({len(ms)} presses)",
           f"p95 {p95:.0f} ms (p50 {p50:.0f}, max {ms[-1]:.0f})", "p95 <= 50 ms",
           f"stream ran at {k(lat['lines'] / lat['elapsed'])} meanwhile")

    firsts = [spawn("startup")[0]["first"] for _ in range(5)]
    floor = best_wall([sys.executable, "-c", "import textual"])
    bare = best_wall([sys.executable, "-c", "pass"])
    result("start-up to first frame of login-gov-idp.toml (whole process, headless, best of 5)",
           f"{min(firsts):.2f} s (median {sorted(firsts)[2]:.2f})", "<= 0.6 s",
           f"floor `import textual` {floor:.2f} s (x{min(firsts) / floor:.1f}); bare python {bare:.2f} s")

    idle, _, _ = spawn("idle", "20")
    pct = idle["cpu"] / idle["wall"] * 100
    result("idle CPU: 1 h countdown + 5 watch panes every 2 s, app process, 20 s",
           f"{pct:.1f}% of one core ({idle['frames']} frames)", "<= 5%",
           f"watch commands (children) {idle['children_cpu'] / idle['wall'] * 100:.1f}%")
    print(f"idle: soak status {idle['status']}, countdown shown {idle['countdown']}, "
          f"{idle['pane_lines']} pane lines")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2:])
    else:
        main()
