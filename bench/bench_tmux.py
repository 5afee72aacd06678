"""The screen through a real terminal: deploytui runs inside tmux (120x40) and the screen is read back with
`capture-pane` (through a control-mode client, see tmuxterm.py). Every figure is printed beside a floor
measured in the same run, in the same tmux:

- key to screen while moving in the step list of a 37-step runbook (the shape of login-gov-idp.toml: its
  titles, bodies, checks and decisions; commands replaced by `echo`), idle and while the first step streams
  `seq`; floor: a bare Textual app that changes one label per key.
- `seq 2000000` and 1M lines of ANSI-coloured output in a step, from `r` to the last line on screen; floor:
  a plain shell printing the same output in the same tmux, from Enter to the last line on screen.
- a finished step repainted: `r` on a step whose command is `true`, to the step list's ✓.

    .venv/bin/python bench/bench_tmux.py            # all figures, RESULT lines
    .venv/bin/python bench/bench_tmux.py latency    # one group: latency, output, repaint
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w
from common import result
from tmuxterm import Tmux

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEPLOYTUI = str(Path(sys.executable).with_name("deploytui"))
COLS, ROWS = 120, 40
ENV = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "COLORTERM": "truecolor"}
ANSI_LINES = 1_000_000
SEQ_LINES = 2_000_000
ANSI_GEN = ('perl -e \'$|=0; for $i (1..{n}) {{ print "\\e[32m$i\\e[0m \\e[1;33mWARN\\e[0m line \\e[31mred\\e[0m '
            'and \\e[38;5;208mmore\\e[0m\\n" }}\'')

BARE_APP = '''
from textual.app import App
from textual.widgets import Label

class Bare(App):
    def compose(self):
        yield Label("key 0", id="l")
    n = 0
    def on_key(self, event):
        self.n += 1
        self.query_one("#l", Label).update(f"key {self.n}")

Bare().run()
'''


def load_avg() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def figures(ms: list[float]) -> str:
    return f"p95 {pct(ms, 95):.0f} ms (p50 {pct(ms, 50):.0f}, max {max(ms):.0f}, n={len(ms)})"


# ---------------------------------------------------------------------------------------------- runbooks
def shaped_runbook(stream: str | None, checks: bool = True) -> tuple[str, list[tuple[str, str]]]:
    """login-gov-idp.toml's steps (titles, bodies, checks, decisions, danger) with `echo` for every command,
    and, when `stream` is given, a first step that runs it. Returns (TOML, [(step id, title)])."""
    src = tomllib.loads((ROOT / "runbooks" / "login-gov-idp.toml").read_text())
    names = set(src.get("vars", {}))

    def plain(text: str) -> str:  # captured values do not exist here: name them instead
        return re.sub(r"\{\{\s*(\w+)[^}]*\}\}", lambda m: m.group(0) if m.group(1) in names else m.group(1), text)

    steps = []
    if stream:
        steps.append({"id": "flood", "section": src["steps"][0]["section"], "title": "Stream the output",
                      "run": stream, **({"checks": ["Looked at the output"]} if checks else {})})
    for s in src["steps"][:37 - len(steps)]:
        step = {k: s[k] for k in ("id", "section", "title", "body", "checks", "danger") if k in s}
        step = {k: plain(v) if isinstance(v, str) else [plain(x) for x in v] if isinstance(v, list) else v
                for k, v in step.items()}
        if "decide" in s:
            step["decide"] = {"question": plain(s["decide"]["question"]),
                              "options": [{"label": plain(o["label"])} for o in s["decide"]["options"]]}
        if "run" in s or "uses" in s:
            step["run"] = f"echo {s['id']}"
        steps.append(step)
    book = {"runbook": {k: src["runbook"][k] for k in ("id", "title", "environment", "release")},
            "vars": {k: v for k, v in src["vars"].items() if k in ("env", "rc", "deploy_type", "date")},
            "sections": src["sections"], "steps": steps}
    book["vars"]["rc"]["default"] = "112"
    given = {"env": "prod", "rc": "112", "deploy_type": "full", "date": "2027-01-12"}
    shown = [(s["id"], re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: given.get(m.group(1), m.group(0)), s["title"]))
             for s in steps]
    return tomli_w.dumps(book), shown


def stream_runbook(command: str) -> str:
    return tomli_w.dumps({"runbook": {"id": "stream", "title": "Stream"},
                          "steps": [{"id": "flood", "title": "Stream the output", "run": command,
                                     "checks": ["Looked at it"]},
                                    {"id": "after", "title": "After", "checks": ["x"]}]})


SHAPED_VARS = "--var env=prod --var rc=112 --var deploy_type=full --var date=2027-01-12"  # as shaped_runbook shows them


def deploytui(book: Path, journal: Path, given: str = "") -> str:
    return f"{DEPLOYTUI} run {book} {given} --journal {journal} --operator bench; sleep 600"


# ---------------------------------------------------------------------------------------------- latency
def right(row: str) -> str:
    """What a row shows right of the step list's border."""
    cut = max(row.find(c) for c in "▏▕│")
    return row[cut + 1:] if cut >= 0 else row


def detail_title(lines: list[str]) -> str:
    """The detail pane's first line."""
    return right(lines[1]) if len(lines) > 1 else ""


def step_latencies(t: Tmux, titles: list[str], presses: int, start: int = 0) -> list[float]:
    """Move down the list and back up (arrows), each key timed to the first capture whose detail shows the
    newly selected step's title."""
    ms = []
    i = start
    direction = 1
    for _ in range(presses):
        if not 0 <= i + direction < len(titles):
            direction = -direction
        i += direction
        want = titles[i][:28]
        t0 = time.monotonic()
        t.keys("Down" if direction > 0 else "Up")
        t1 = t.wait(lambda lines, want=want: want in detail_title(lines), timeout=10)
        ms.append((t1 - t0) * 1000)
        time.sleep(0.03)
    return ms


def bare_latencies(presses: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d, Tmux("bare", COLS, ROWS, ENV) as t:
        script = Path(d) / "bare.py"
        script.write_text(BARE_APP)
        t.start(f"{PYTHON} {script}")
        t.wait(lambda lines: "key 0" in lines[0])
        ms = []
        for n in range(1, presses + 1):
            t0 = time.monotonic()
            t.keys("j")
            t1 = t.wait(lambda lines, n=n: f"key {n}" in lines[0], timeout=10)
            ms.append((t1 - t0) * 1000)
            time.sleep(0.03)
        return ms


def app_latencies(presses: int, stream: str | None) -> tuple[list[float], str]:
    text, steps = shaped_runbook(stream)
    titles = [title for _, title in steps]
    with tempfile.TemporaryDirectory() as d, Tmux("app", COLS, ROWS, ENV) as t:
        book, journal = Path(d) / "book.toml", Path(d) / "j.sqlite3"
        book.write_text(text)
        t.start(deploytui(book, journal, SHAPED_VARS), cwd=d)
        t.wait(lambda lines: titles[0][:28] in detail_title(lines), timeout=30)
        time.sleep(1.0)  # the first frames, the engine's first moves
        note = ""
        if stream:
            t.keys("r")
            t.wait(lambda lines: any(re.fullmatch(r"\s*\d{4,}\s*", x[40:]) for x in lines))  # lines flowing
        ms = step_latencies(t, titles, presses)
        if stream:
            last = t.screen()
            note = "still streaming at the end" if not any("✓" in x[:40] and "Stream" in x for x in last) else \
                "the stream ended before the last key"
        return ms, note


def bench_latency(presses: int = 120) -> None:
    print(f"latency: {load_avg()} before")
    bare = bare_latencies(presses)
    idle, _ = app_latencies(presses, None)
    streaming, note = app_latencies(presses, "seq 40000000")
    bare2 = bare_latencies(presses)
    floor = figures(bare + bare2)
    result("key to screen, moving in the 37-step list (j/k), idle, tmux 120x40", figures(idle), "p95 <= 30 ms",
           f"floor, bare Textual app: {floor}")
    result("key to screen, moving in the 37-step list while the first step streams `seq`", figures(streaming),
           "p95 <= 50 ms", f"floor, bare Textual app: {floor}; {note}")
    print(f"latency: {load_avg()} after")


# ---------------------------------------------------------------------------------------------- output
def shell_time(command: str, last: str) -> float:
    """A plain shell in the same tmux: Enter to the screen showing the last line and the prompt after it."""
    with Tmux("shell", COLS, ROWS, ENV) as t:
        t.start("env PS1='$ ' bash --norc --noprofile")
        t.wait(lambda lines: lines[0].startswith("$"))
        t0 = time.monotonic()
        t.keys(f"{command}; echo END-OF-OUTPUT", "Enter")
        t1 = t.wait(lambda lines: any(x.strip() == last for x in lines) and
                    any(x.startswith("END-OF-OUTPUT") for x in lines), timeout=300, every=0.005)
        return t1 - t0


def app_time(command: str, last: str) -> tuple[float, bool]:
    """deploytui in the same tmux: `r` to the step's last line on screen. Also: were colours on screen?"""
    with tempfile.TemporaryDirectory() as d, Tmux("out", COLS, ROWS, ENV) as t:
        book, journal = Path(d) / "book.toml", Path(d) / "j.sqlite3"
        book.write_text(stream_runbook(command))
        t.start(deploytui(book, journal), cwd=d)
        t.wait(lambda lines: "Stream the output" in detail_title(lines), timeout=30)
        time.sleep(0.5)
        t0 = time.monotonic()
        t.keys("r")
        t1 = t.wait(lambda lines: any(right(x).strip() == last for x in lines)
                    and any("● Stream the output" in x[:40] for x in lines), timeout=300, every=0.005)
        colours = coloured_on_screen(t, last)
        return t1 - t0, colours


def pty_time(command: str) -> float:
    """What the engine's part cannot beat: a bare Python loop reading the command's output from a pty, as
    fast as it comes (nothing stored, nothing shown)."""
    import fcntl
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", command], stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
    while True:
        select.select([master], [], [], 0.1)
        try:
            data = os.read(master, 1 << 16)
        except BlockingIOError:
            continue
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
    proc.wait()
    os.close(master)
    return time.monotonic() - t0


def coloured_on_screen(t: Tmux, last: str) -> bool:
    """The last line shows as text (no escape sequence left in it as `[32m`) in at least four colours."""
    plain = [right(x) for x in t.screen() if last in x]
    styled = [right(x) for x in t.command("capture-pane -p -e -t b") if last.split()[-1] in x]
    if not plain or not styled or "[0m" in plain[-1] or "[32m" in plain[-1]:
        return False
    return len(set(re.findall(r"\x1b\[([0-9;]*)m", styled[-1]))) >= 4


def bench_output(repeat: int = int(os.environ.get("BENCH_REPEAT", "3"))) -> None:
    """Each app run right after a plain-shell run of the same output (the machine's load changes both alike):
    the figure is the median of the ratios of those pairs."""
    print(f"output: {load_avg()} before")
    ansi_last = f"{ANSI_LINES} WARN line red and more"
    for what, command, last in ((f"`seq {SEQ_LINES}`", f"seq {SEQ_LINES}", str(SEQ_LINES)),
                                (f"{ANSI_LINES:,} ANSI-coloured lines", ANSI_GEN.format(n=ANSI_LINES), ansi_last)):
        pairs, colours, reader = [], [], []
        for _ in range(repeat):
            shell = shell_time(command, last)
            app, coloured = app_time(command, last)
            pairs.append((shell, app))
            colours.append(coloured)
            reader.append(pty_time(command))
        ratios = [a / s for s, a in pairs]
        kept = "" if "seq" in what else f"; colours on screen: {'yes' if all(colours) else 'NO'}"
        result(f"{what} in a step, `r` to the last line on screen (median of {repeat} pairs)",
               f"ratio {statistics.median(ratios):.2f} (app {statistics.median(a for _, a in pairs):.2f} s){kept}",
               "ratio <= 1.0" + (", colours kept" if kept else ""),
               "floor, plain shell in the same tmux: " + ", ".join(f"{s:.2f}/{a:.2f} s" for s, a in pairs)
               + f"; a bare Python loop reading it from a pty: {statistics.median(reader):.2f} s")
    print(f"output: {load_avg()} after")


# ---------------------------------------------------------------------------------------------- repaint
def bench_repaint(repeat: int = 5) -> None:
    """`r` on a step whose command is `true`, in the 37-step runbook, to the ✓ in the driver's step list; the
    floor is the same run's follower (`deploytui follow`, polling the journal) in its own tmux."""
    text, steps = shaped_runbook("true", checks=False)
    driver_ms, follower_ms = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d, Tmux("repaint", COLS, ROWS, ENV) as t, \
                Tmux("follower", COLS, ROWS, ENV) as f:
            book, journal = Path(d) / "book.toml", Path(d) / "j.sqlite3"
            book.write_text(text)
            t.start(deploytui(book, journal, SHAPED_VARS), cwd=d)
            t.wait(lambda lines: "Stream the output" in detail_title(lines), timeout=30)
            f.start(f"{DEPLOYTUI} follow --journal {journal}; sleep 600", cwd=d)
            f.wait(lambda lines: any("Stream the output" in right(x) for x in lines[:4]), timeout=30)
            time.sleep(0.5)

            def done(lines: list[str]) -> bool:
                return any("✓ Stream the output" in x[:40] for x in lines)

            seen: dict[str, float] = {}
            t0 = time.monotonic()
            t.keys("r")
            while len(seen) < 2 and time.monotonic() - t0 < 10:
                for name, term in (("driver", t), ("follower", f)):
                    if name not in seen and done(term.screen()):
                        seen[name] = time.monotonic()
            driver_ms.append((seen.get("driver", float("inf")) - t0) * 1000)
            follower_ms.append((seen.get("follower", float("inf")) - t0) * 1000)
    result(f"a finished step repainted: `r` on `true` to the ✓ in the 37-step list (median of {repeat})",
           f"{statistics.median(driver_ms):.0f} ms (max {max(driver_ms):.0f})", "<= the follower",
           f"floor, its follower in its own tmux: {statistics.median(follower_ms):.0f} ms "
           f"(max {max(follower_ms):.0f})")


GROUPS = {"latency": bench_latency, "output": bench_output, "repaint": bench_repaint}

if __name__ == "__main__":
    os.chdir(ROOT)
    for name in (sys.argv[1:] or list(GROUPS)):
        GROUPS[name]()
