"""The full-screen app a release manager drives a deploy from.

`run_app` is what `deploytui run` calls; `build_app` is the factory the tests and screenshots share. The app
starts the run (the variables form, the schedule guard) and then shows the drive screen, which holds the run
and turns keys into its intents. Nothing here changes run state itself: events come back from engine threads
as messages and the screen redraws from them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from textual.app import SuspendNotSupported

from ..engine.clock import Clock
from ..engine.run import Run
from ..errors import UserError
from ..events import kinds as ev
from ..events.describe import outcome_words
from ..events.state import INTERRUPTED
from ..journal import Journal
from ..journal.store import default_path
from ..reports.estimate import usual_durations
from ..runbook.model import Runbook
from ..runbook.variables import clock_builtins, resolve
from .base import RunApp
from .config import Config
from .messages import EngineEvent
from .output import OutputStore
from .screens.dialogs import ChoiceDialog, DiffDialog
from .screens.end import EndDialog
from .screens.run import DriveScreen
from .screens.start import ScheduleDialog, VarsForm
from .view import journal_loader, live_view

LONG_COMMAND = 10.0  # seconds: a command this long may have sent the operator to another window


def run_commands(run_id: str, journal_path: Path | str, rehearsal: bool = False) -> dict[str, str]:
    """The commands that reopen, follow and export this run (naming the journal unless it is the default).
    A rehearsal reopens in its own world (`run --resume` refuses it)."""
    journal = "" if Path(journal_path) == default_path() else f" --journal {shlex.quote(str(journal_path))}"
    reopen = "rehearse" if rehearsal else "run"
    return {"resume": f"deploytui {reopen} --resume {run_id}{journal}",
            "follow": f"deploytui follow {run_id}{journal}",
            "export": f"deploytui export {run_id}{journal} --format md -o deploy-record-{run_id}.md",
            "show": f"deploytui show {run_id}{journal}"}


class DeployApp(RunApp):
    TITLE = "deploytui"

    def __init__(self, journal: Journal, book: Runbook | None, *, values: dict[str, str] | None = None,
                 need_form: bool = False, operator: str | None = None, break_lock: str | None = None,
                 time_scale: float = 1.0, rehearsal: bool = False, env: dict | None = None,
                 banner: list[str] | None = None, clock: Clock | None = None, blink: bool = True,
                 faults: list[str] | None = None, seal: str = "", config: Config | None = None, on_run=None,
                 world: dict | None = None, before_start=None):
        super().__init__(config=config, blink=blink)
        self.faults, self.seal, self.world = list(faults or []), seal, world  # a rehearsal's, for run_started
        self.on_run = on_run  # told of the run once it exists (the CLI publishes it for followers)
        self.before_start = before_start  # (values) before a new run starts: may refuse it (a blocked app)
        self.fleet_board: tuple | None = None  # (read the board, where): a [fleet] runbook's team store
        self.journal: Journal = journal
        self.book = book
        self.values, self.need_form = dict(values or {}), need_form
        self.operator, self.break_lock = operator, break_lock
        self.time_scale, self.rehearsal, self.env = time_scale, rehearsal, env
        self.banner = banner or []
        self.clock = clock
        self.current_run: Run | None = None  # the app keeps it only to start and close it
        self.error: UserError | None = None
        self.quitting = False

    # ---- starting ---------------------------------------------------------------------------
    def attach(self, run: Run) -> None:
        self.current_run, self.book = run, run.book
        if self.on_run is not None:
            self.on_run(run)
        store = OutputStore(loader=journal_loader(self.journal, run.run_id, run.state))
        self.view = live_view(run, store, usual_durations(self.journal, run.book.runbook.id))
        def tell(event: ev.Event) -> None:
            self.post_message(EngineEvent(event))

        run.subscribe(tell, store.add, store.add_table)

    exit_requested = False  # SIGTERM or SIGHUP came before the app was running (run_app)

    def on_mount(self) -> None:
        if self.exit_requested:
            self.exit()
            return
        super().on_mount()
        if self.current_run is not None:
            self.call_later(self.show_run)
        elif self.need_form and self.book is not None and set(self.book.vars) - set(self.book.asked_vars()):
            self.push_screen(VarsForm(self.book, self.values, self.banner), self.start_run)
        else:
            self.call_later(self.start_run, self.values)

    async def start_run(self, values: dict[str, str] | None) -> None:
        if values is None or self.book is None:
            self.exit()
            return
        try:
            if self.before_start is not None:
                self.before_start(values)
            run = Run.start(self.journal, self.book, values, operator=self.operator, clock=self.clock,
                            time_scale=self.time_scale, rehearsal=self.rehearsal, env=self.env,
                            handover=self.handover, break_lock=self.break_lock, faults=self.faults,
                            seal=self.seal, world=self.world)
        except UserError as e:
            self.error = e
            self.exit(return_code=e.exit_code)
            return
        self.attach(run)
        await self.show_run()

    async def show_run(self) -> None:
        run = self.current_run
        assert run is not None
        history = run.journal.events(run.run_id, after=max(0, run.state.last_seq - 500))
        await self.push_screen(DriveScreen(run, self.view, history))
        s = run.state
        if self.banner and not self.need_form:  # the variables form already showed it
            self.notify("\n".join(self.banner[:1]), title="Rehearsal", timeout=8)
        if s.schedule and s.schedule.get("needs_override") and "schedule" not in s.overrides:
            self.push_screen(ScheduleDialog(s.schedule), self.schedule_answer)
        elif s.schedule and s.schedule.get("problems") == [] and s.schedule.get("day"):
            self.notify(f"Schedule guard: ok ({s.schedule['day']})", timeout=4)
        changed = next((e for e in reversed(history) if e.kind in (ev.RUNBOOK_CHANGED, ev.RESUMED)), None)
        if changed is not None and changed.kind == ev.RUNBOOK_CHANGED:
            self.push_screen(DiffDialog(f"The runbook changed since this run started "
                                        f"({changed.data['old_sha'][:12]} → {changed.data['new_sha'][:12]})",
                                        changed.data.get("diff", "")))
        current = s.current
        if current and s.status(current) == INTERRUPTED:
            self.notify(f"Step '{current}' was interrupted: re-run it (R), or mark it done (d) or failed (f).",
                        severity="warning", timeout=15)
        if s.outcome:
            self.push_screen(EndDialog(run, run_commands(run.run_id, run.journal.path, run.rehearsal)))

    def schedule_answer(self, reason: str | None) -> None:
        run = self.current_run
        assert run is not None
        screen = self.run_screen
        intent = screen.intent if isinstance(screen, DriveScreen) else None
        if reason is None:
            problems = "; ".join((run.state.schedule or {}).get("problems", []))
            if intent:
                intent(run.abort, f"stopped at the schedule guard: {problems}")
            self.notify("Run aborted at the schedule guard. q quits.", severity="warning")
            return
        if intent:
            intent(run.override, "schedule", reason)

    # ---- engine -> screen ---------------------------------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        e = message.event
        screen = self.run_screen
        if screen is not None:
            screen.heard(e)
        self._maybe_attention(e)
        if e.kind == ev.RUN_FINISHED and self.current_run is not None:
            outcome = outcome_words(e.data.get("outcome"))
            self.attend("deploytui", f"run finished: {outcome}")
            run = self.current_run
            self.push_screen(EndDialog(run, run_commands(run.run_id, run.journal.path, run.rehearsal)))

    def _maybe_attention(self, e: ev.Event) -> None:
        if self.current_run is None or e.step is None:
            return
        title = self.view.title(e.step)
        if e.kind == ev.TIMER_EXPIRED:
            self.attend(title, "the wait is over" if e.data.get("timer") == "wait" else "the gate is open")
        elif e.kind == ev.COMMAND_FINISHED and not e.data.get("ok"):
            self.attend(title, f"failed: {e.data.get('error')}")
        elif e.kind == ev.COMMAND_FINISHED and (e.data.get("duration") or 0) >= LONG_COMMAND:
            self.attend(title, "finished; the run needs you")
        elif e.kind == ev.DEADLINE_PASSED:
            self.attend("deploy window", "the deadline has passed")

    # ---- the record -----------------------------------------------------------------------------
    EXPORT_FORMATS = [("Markdown (pastes into Confluence and GitHub)", "md"), ("Standalone HTML", "html"),
                      ("JSON", "json")]

    def export_record(self, run: Run) -> None:
        """The deploy record so far, as a file in the export directory (or the browser, when served)."""

        def deliver(choice: int | None) -> None:
            if choice is None:
                return
            import io

            from ..reports.export import record

            fmt = self.EXPORT_FORMATS[choice][1]
            text = record(self.journal, run.run_id, fmt, secrets=run.secret_values())
            assert isinstance(text, str)  # md, html and json are text (only pdf is bytes)
            name = f"deploy-record-{run.run_id}.{fmt}"
            self.deliver_text(io.StringIO(text), save_filename=name, name=name)

        self.push_screen(ChoiceDialog(f"Export the deploy record to {self.config.exports} as",
                                      [label for label, _ in self.EXPORT_FORMATS]), deliver)

    def resume_command(self, run: Run) -> str:
        return run_commands(run.run_id, run.journal.path, run.rehearsal)["resume"]

    # ---- quitting -------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        if self.quitting:
            return
        self.quitting = True
        if self.current_run is not None:
            self.notify("Stopping commands…")
            self.run_worker(self.current_run.close, thread=True, group="quit", exclusive=True, exit_on_error=False,
                            description="stop commands and panes")
        else:
            self.exit()

    def on_worker_state_changed(self, event) -> None:
        if event.worker.group == "quit" and event.worker.is_finished:
            self.exit()

    # ---- interactive steps ----------------------------------------------------------------------
    def handover(self, argv, env=None, cwd=None) -> int:
        """Called by the engine on a worker thread: give the terminal to an interactive command."""
        return self.call_from_thread(self._hand_over, argv, env, cwd)

    def _hand_over(self, argv, env, cwd) -> int:
        shell = isinstance(argv, str)
        try:
            with self.suspend():
                print(f"\ndeploytui: the terminal is yours for: {argv if shell else shlex.join(argv)}\n", flush=True)
                return subprocess.call(argv, env=env, cwd=cwd, shell=shell)
        except SuspendNotSupported:
            self.notify("This terminal cannot be handed over; the command runs without one.", severity="warning")
            return subprocess.call(argv, env=env, cwd=cwd, shell=shell, stdin=subprocess.DEVNULL)


def build_app(*, journal, book: Runbook | None, given: dict[str, str] | None = None, resume_id: str | None = None,
              operator: str | None = None, break_lock: str | None = None, time_scale: float = 1.0,
              rehearsal: bool = False, env: dict | None = None, extra_vars: dict | None = None,
              banner: list[str] | None = None, clock: Clock | None = None, blink: bool = True,
              form: bool | None = None, faults: list[str] | None = None, seal: str = "",
              config: Config | None = None, on_run=None, world: dict | None = None,
              before_start=None) -> DeployApp:
    """The app, ready to run. Bad --var values and resume problems raise UserError here, before the
    screen opens. `form`: show the variables form (default: unless every variable was given)."""
    given = dict(given or {})
    if resume_id:
        app = DeployApp(journal, book, operator=operator, env=env, banner=banner, clock=clock, blink=blink,
                        config=config, on_run=on_run)
        app.attach(Run.resume(journal, resume_id, operator=operator, clock=clock, env=env, handover=app.handover,
                              given=given, book=book))
        return app
    if book is None:
        raise UserError("give a RUNBOOK file, or --resume RUN", 2)
    supplied = {**(extra_vars or {}), **given}
    values, missing = resolve(book, supplied, environ=env, builtins=clock_builtins(clock))
    asked = book.asked_vars()  # asked by a prompt step during the run, not by the form
    need_form = form if form is not None else bool(missing) or any(n not in given and n not in asked
                                                                   for n in book.vars)
    return DeployApp(journal, book, values=values, need_form=need_form, operator=operator, break_lock=break_lock,
                     time_scale=time_scale, rehearsal=rehearsal, env=env, banner=banner, clock=clock, blink=blink,
                     faults=faults, seal=seal, config=config, on_run=on_run, world=world,
                     before_start=before_start)


def run_app(*, journal, book, given, resume_id, operator, break_lock, time_scale, rehearsal, env, extra_vars,
            banner, faults=None, seal="", config: Config | None = None, on_run=None, clock: Clock | None = None,
            world: dict | None = None, before_start=None, fleet_board: tuple | None = None) -> None:
    """What `deploytui run` (and `rehearse`) calls for the full-screen app. SIGTERM and a closed terminal
    (SIGHUP) end the app like a quit: the run's commands are ended and the journal says why. A run left open
    is named on the way out, with the command that resumes it."""
    import asyncio
    import threading

    from ..engine.ending import ending_signals, reason_for

    app = build_app(journal=journal, book=book, given=given, resume_id=resume_id, operator=operator,
                    break_lock=break_lock, time_scale=time_scale, rehearsal=rehearsal, env=env,
                    extra_vars=extra_vars, banner=banner, faults=faults, seal=seal, config=config,
                    on_run=on_run, clock=clock, world=world, before_start=before_start)
    app.fleet_board = fleet_board
    received: list[int] = []
    closing: list[threading.Thread] = []
    over = threading.Event()

    def close_run(signum: int) -> None:
        if app.current_run is not None:
            app.current_run.close(reason_for(signum), signal=signum)
        if not over.wait(10):  # the app could not end (its terminal is gone): the run is closed, so end here
            journal.close()
            os._exit(128 + signum)

    def on_signal(signum: int) -> None:
        received.append(signum)
        app.exit_requested = True  # seen at mount when the app had not started yet
        # end the commands and journal why at once, on a thread: the terminal may be gone (SIGHUP), and the
        # app's own shutdown then waits on writes to it that never finish
        if not closing:
            closing.append(threading.Thread(target=close_run, args=(signum,), name="ending", daemon=True))
            closing[0].start()
        try:
            asyncio.get_running_loop().call_soon(app.exit)
        except RuntimeError:  # the app has not started, or has already stopped
            pass

    try:
        with ending_signals(on_signal):
            app.run()
    finally:
        over.set()
        for thread in closing:
            thread.join(30)
        run = app.current_run
        if run is not None and not closing:
            run.close("the operator quit")
        journal.close()
    if received:
        sys.exit(128 + received[0])
    if app.error is not None:
        raise app.error
    if run is not None and not run.state.outcome:
        print(f"deploytui: run {run.run_id} is still open. Resume it with:\n  {app.resume_command(run)}")
