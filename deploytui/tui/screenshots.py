"""SVG screenshots of the main screens, from a demo runbook with a fixed clock and a scratch journal.

`python -m deploytui.tui.screenshots [DIR]` writes DIR/<scene>-<cols>x<rows>.svg (default: screenshots/).
The snapshot tests build the same scenes (tests/tui/test_snapshots.py)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from ..engine.clock import FakeClock
from ..engine.run import Run
from ..journal import Journal
from ..runbook.loader import parse
from .app import DeployApp, build_app
from .config import Config
from .screens.help import HelpScreen
from .widgets.detail import StepDetail
from .widgets.panes import OutputLog

T0 = 1_799_744_400.0  # Tue 2027-01-12 09:00 UTC
SIZES = [(80, 24), (120, 40), (250, 70)]
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}

DEMO = r'''
[runbook]
id = "idp-demo"
title = "Deploy the IdP to production"
environment = "{{ env }}"
release = "RC {{ rc }}"

[vars.env]
prompt = "Environment"
choices = ["prod", "staging"]
default = "prod"
[vars.rc]
prompt = "Release candidate number"
pattern = '^\d+$'
default = "112"

[[sections]]
id = "pre"
title = "Pre-deploy"
[[sections]]
id = "prod"
title = "Production"
[[sections]]
id = "rollback"
title = "Rolling back"
on_demand = true

[[steps]]
id = "changelog"
section = "pre"
title = "Run the smoke tests against RC {{ rc }}"
body = "The release candidate's smoke tests, against staging, before anything reaches **production**."
run = """
printf '\\033[1mSmoke tests for RC %s\\033[0m\\n' {{ rc }}
for t in "sign in|412" "sign up|388" "reset password|297" "PIV/CAC|640" "IdV: document capture|905" "IdV: phone|533"; do
  printf '  \\033[32m✓\\033[0m %-24s \\033[2m%s ms\\033[0m\\n' "${t%%|*}" "${t##*|}"
done
printf '  \\033[33m!\\033[0m %-24s \\033[33mslow: 2.4 s\\033[0m\\n' "IdV: address"
printf '\\033[32m7 passed\\033[0m, \\033[33m1 slow\\033[0m\\n'
"""

[[steps]]
id = "announce"
section = "pre"
title = "Announce the deploy in #login-devops"
checks = ["Posted the changelog", "Paged the on-call engineer"]

[[steps]]
id = "servers"
section = "prod"
title = "List the servers"
auto = true
run = """
printf '\\033[1m%-20s %-8s %-10s %-8s %s\\033[0m\\n' INSTANCE GROUP STATE SHA AGE
printf '%-20s %-8s \\033[32m%-10s\\033[0m %-8s %s\\n' i-0a1b2c3d4e5f60718 idp running 4f2a9c1 6d
printf '%-20s %-8s \\033[32m%-10s\\033[0m %-8s %s\\n' i-0b2c3d4e5f6071829 idp running 4f2a9c1 6d
printf '%-20s %-8s \\033[32m%-10s\\033[0m %-8s %s\\n' i-0c3d4e5f607182930 worker running 4f2a9c1 6d
printf '%-20s %-8s \\033[33m%-10s\\033[0m %-8s %s\\n' i-0d4e5f60718293041 idp pending 9e1b7d0 2m
"""

[[steps]]
id = "sizes"
section = "prod"
title = "Check the auto scaling groups"
auto = true
run = """
printf '\\033[1m%-12s %8s %4s %4s %10s\\033[0m\\n' GROUP DESIRED MIN MAX INSTANCES
printf '%-12s %8s %4s %4s \\033[31m%10s\\033[0m\\n' prod-idp 2 2 8 3
printf '%-12s %8s %4s %4s %10s\\n' prod-worker 1 1 4 1
"""

[[steps]]
id = "extra"
section = "prod"
title = "Extra servers running?"
body = "Compare the servers with the groups' desired capacity (both are shown below)."
decide = { question = "Are there more servers than the groups' desired capacity?", options = [
  { label = "No extra servers", goto = "recycle" },
  { label = "Extra servers: scale in the old instances first" },
  { label = "Not sure: ask #login-devops before going on" } ] }

[[steps]]
id = "scale-in-first"
section = "prod"
title = "Scale in the old instances first"
run = "echo scaling in"

[[steps]]
id = "recycle"
section = "prod"
title = "Recycle the IdP instances"
danger = true
run = "echo recycling asg-{{ env }}-idp"

[[steps]]
id = "scale-in"
section = "prod"
title = "Scale in the old instances"
body = "Old and new instances serve together for 15 minutes before the old ones go."
not_before = { step = "recycle", wait = "15m" }
run = "echo scaling in the old instances"

[[steps]]
id = "decide"
section = "prod"
title = "Roll back?"
body = "Roll back when any of the criteria below is true."
checks = ["Error visible to users?", "Error creates bad data?", "Needs > 15 min to judge?"]
decide = { question = "Any of the criteria true?", options = [
  { label = "Healthy, continue" },
  { label = "Roll back", goto = "rollback" } ] }

[[steps]]
id = "restore"
section = "rollback"
title = "Recycle back to the previous release"
danger = true
run = "echo rolling back"
'''

SCHEDULE = '\n[schedule]\ndays = ["Mon", "Wed"]\navoid = ["Tue"]\n'


async def settle(pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        await pilot.pause()
        try:
            if cond():
                break
        except Exception:
            pass
        await asyncio.sleep(0.02)
    await pilot.pause(0.5)  # let what reacts to the last change (recomposes behind a dialog) finish
    await pilot.wait_for_scheduled_animations()


def _on_run_screen(app: DeployApp) -> bool:
    return app.current_run is not None and bool(app.screen.query(StepDetail))


async def _advance_to(pilot, app: DeployApp, step: str) -> None:
    run = app.current_run
    assert run is not None
    while run.state.current != step:
        cur = run.state.current
        assert cur is not None
        st, s = run.state.steps[cur], run.book.step(cur)
        if st.gate_deadline and not st.gate_open:
            run.override("gate", "demo", cur)
        elif s.has_command and not st.activated and not s.auto:
            run.run_step(cur, confirm=run.state.info["environment"])
            await settle(pilot, partial(_command_ended, run, cur))
        elif s.decide and st.activated:
            run.decide(cur, 0, "demo")
        elif st.activated:
            for i in range(len(st.checks)):
                run.tick(cur, i)
        await pilot.pause()


def _command_ended(run: Run, step: str) -> bool:
    return run.state.steps[step].command_ok is not None


async def _finish(pilot, app: DeployApp, clock: FakeClock) -> None:
    clock.advance(754)
    app.second()
    app.clear_notifications()
    await pilot.pause(0.3)


def scenes() -> dict[str, tuple[str, bool, Callable]]:
    """name -> (runbook text, show the form, run_before(pilot, app, clock))."""

    async def form(pilot, app, clock):
        await settle(pilot, lambda: app.screen.query("#var-rc") and app.focused is not None)
        app.screen.set_focus(None)  # as in the schedule scene: no racing text cursor in the shot
        await pilot.pause(0.2)

    async def schedule(pilot, app, clock):
        await settle(pilot, lambda: app.screen.query_one("#reason").has_focus)
        app.screen.set_focus(None)  # a text cursor's first paint races the shot: leave it out
        await pilot.pause(0.2)

    async def output(pilot, app, clock):
        await settle(pilot, lambda: _on_run_screen(app))
        await pilot.press("r")
        await settle(pilot, lambda: app.current_run.state.steps["changelog"].command_ok)
        await pilot.press("up")  # the screen followed the run to the next step: back to the output
        await settle(pilot, lambda: app.screen.query_one("#main-log").line_count >= 9
                     and app.screen.query_one("#main-log").is_vertical_scroll_end)
        await _finish(pilot, app, clock)

    async def gate(pilot, app, clock):
        await settle(pilot, lambda: _on_run_screen(app))
        await _advance_to(pilot, app, "scale-in")
        # the run's own ticker starts the gate a moment after the step becomes current: shoot it started
        await settle(pilot, lambda: app.current_run.state.steps["scale-in"].gate_deadline is not None)
        clock.advance(754)
        await _finish(pilot, app, clock)
        # the run's ticker opens the gate on its own thread: shoot once the screen has said so
        await settle(pilot, lambda: "the gate is open" in str(app.screen.query_one("#activity").render()))

    async def decision(pilot, app, clock):
        """A decision with its evidence: the two steps before it that ran by themselves."""
        await settle(pilot, lambda: _on_run_screen(app))
        await _advance_to(pilot, app, "extra")
        await settle(pilot, lambda: app.screen.query_one(StepDetail).step_id == "extra" and all(
            log.line_count >= 3 for log in app.screen.query(OutputLog) if log.display))
        await _finish(pilot, app, clock)

    async def help(pilot, app, clock):
        await settle(pilot, lambda: _on_run_screen(app))
        await _finish(pilot, app, clock)
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen))

    return {"form": (DEMO, True, form), "schedule": (DEMO + SCHEDULE, False, schedule), "output": (DEMO, False, output),
            "gate": (DEMO, False, gate), "decision": (DEMO, False, decision), "help": (DEMO, False, help)}


def make_scene(name: str, workdir: str) -> tuple[DeployApp, Callable[..., Awaitable[None]]]:
    """The app for a scene and its `run_before(pilot)` (the shape pytest-textual-snapshot wants), with a
    fresh journal in `workdir`."""
    text, form, before = scenes()[name]
    book = parse(text, f"{workdir}/demo.toml")
    clock = FakeClock(T0)
    journal = Journal(tempfile.mkstemp(dir=workdir, prefix=name, suffix=".sqlite3")[1])
    app = build_app(journal=journal, book=book, given={}, operator="alice", clock=clock, env=ENV, blink=False,
                    form=form, config=Config(path=Path(workdir) / "config.toml"))

    async def run_before(pilot) -> None:
        await before(pilot, app, clock)

    return app, run_before


async def _shoot(name: str, size: tuple[int, int], out: Path, workdir: str) -> Path:
    app, before = make_scene(name, workdir)
    path = out / f"{name}-{size[0]}x{size[1]}.svg"
    try:
        async with app.run_test(size=size) as pilot:
            await before(pilot)
            path.write_text(app.export_screenshot(title=f"deploytui: {name}"), encoding="utf-8")
    finally:
        if app.current_run is not None:
            app.current_run.close()
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        for name in scenes():
            for size in SIZES:
                print(asyncio.run(_shoot(name, size, out, workdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
