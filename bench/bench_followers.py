"""What followers cost the driver: a headless driver streams `seq 2000000` through its pty into the journal
while 0, 1 or 10 followers keep up with it, over the driver's published socket (the way `deploytui follow`
goes now) and, for comparison, by polling the journal (the way it went before). Figures: the stream's wall
time and the driver process's CPU seconds, beside the same with no follower (the floor). The followers are
separate processes that apply every event and output chunk as the screen would, without drawing it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import result

ROOT = Path(__file__).resolve().parent.parent
LINES = 2_000_000
BOOK = textwrap.dedent(f'''\
    [runbook]
    id = "bench-followers"
    title = "Followers"
    [[steps]]
    id = "wait"
    title = "Wait for the followers"
    run = "while [ ! -e READY ]; do sleep 0.05; done"
    auto = true
    [[steps]]
    id = "stream"
    title = "Stream"
    auto = true
    run = "seq {LINES}"
    ''')

FOLLOWER = textwrap.dedent('''\
    import sys, time
    from deploytui.follow.client import SocketFollow
    from deploytui.follow.feed import Follow
    from deploytui.journal import Journal
    how, where, ready = sys.argv[1:4]
    feed = SocketFollow(where) if how == "socket" else Follow(Journal(where, readonly=True))
    open(ready, "a").close()
    lines = 0
    while not feed.state.outcome:
        update = feed.poll()
        lines += sum(c.lines for c in update.chunks)
        if not update:
            time.sleep(0.2)  # the journal follower's poll interval; the socket one just waits for pushes
    print(lines)
    ''')


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(how: str, followers: int) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-followers-"))
    book, journal, sock = tmp / "book.toml", tmp / "j.db", tmp / "run.sock"
    book.write_text(BOOK.replace("READY", str(tmp / "READY")))
    driver = subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", "--no-output",
                               "--journal", str(journal)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              env={**os.environ, "DEPLOYTUI_PUBLISH": str(sock)})
    while not sock.exists():
        time.sleep(0.02)
    procs = []
    for n in range(followers):
        ready = tmp / f"ready{n}"
        procs.append(subprocess.Popen([sys.executable, "-c", FOLLOWER, how,
                                       str(sock if how == "socket" else journal), str(ready)], cwd=ROOT,
                                      stdout=subprocess.PIPE, text=True))
        while not ready.exists():
            time.sleep(0.02)
    before = cpu_seconds(driver.pid)
    (tmp / "READY").touch()
    t0 = time.perf_counter()
    from deploytui.journal import Journal

    j = Journal(journal, readonly=True)
    (run_id,) = j.db.execute("SELECT id FROM runs").fetchone()
    while True:
        done = [e for e in j.events(run_id) if e.kind == "command_finished" and e.step == "stream"]
        if done:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(driver.pid) - before
    driver.wait(timeout=60)
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert int(out.strip() or 0) >= LINES, f"a {how} follower missed lines: {out}"
    return wall, cpu


def main() -> None:
    floor_wall, floor_cpu = min(one("socket", 0) for _ in range(2))
    result("seq 2M, no follower (floor)", f"{floor_wall:.1f} s, driver CPU {floor_cpu:.1f} s", "-")
    for how, n in (("socket", 1), ("socket", 10), ("journal", 10)):
        wall, cpu = one(how, n)
        result(f"seq 2M, {n} follower{'s' if n > 1 else ''} over the {how}",
               f"{wall:.1f} s, driver CPU {cpu:.1f} s",
               "close to the floor" if how == "socket" else "(the old way, for comparison)",
               f"x{wall / floor_wall:.2f} wall, x{cpu / floor_cpu:.2f} CPU of the floor")


if __name__ == "__main__":
    main()
