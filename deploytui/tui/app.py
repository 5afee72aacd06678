"""The full-screen app a release manager drives a deploy from.

`run_app` is what `deploytui run` calls; `build_app` is the factory the tests and screenshots share.
The app never changes run state itself: it calls the engine's intents and re-renders from the events
that come back (posted from engine threads as messages)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable

from textual.app import App, SuspendNotSupported, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Button, Checkbox

from ..engine.clock import Clock
from ..engine.run import Run
from ..errors import UserError
from ..events import kinds as ev
from ..events.state import DONE, FAILED, INTERRUPTED, NEEDS_YOU, PENDING
from ..reports.estimate import usual_durations
from ..runbook.model import Runbook
from ..runbook.variables import clock_builtins, resolve
from . import calm_garbage_collector
from .messages import EngineEvent
from .notify import osc_sequences
from .output import OutputStore
from .screens.dialogs import (
    AnswerDialog,
    ChoiceDialog,
    ConfirmDialog,
    DangerDialog,
    DiffDialog,
    ReasonDialog,
    StopDialog,
    TextDialog,
)
from .screens.run import DriveScreen
from .screens.start import ScheduleDialog, VarsForm
from .view import journal_loader, live_view

FLUSH_HZ = 15
LONG_COMMAND = 10.0  # seconds: a command this long may have sent the operator to another window


class DeployApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "deploytui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, journal, book: Runbook | None, *, values: dict[str, str] | None = None,
                 need_form: bool = False, operator: str | None = None, break_lock: str | None = None,
                 time_scale: float = 1.0, rehearsal: bool = False, env: dict | None = None,
                 banner: list[str] | None = None, clock: Clock | None = None, blink: bool = True,
                 faults: list[str] | None = None, seal: str = "", on_run=None,
                 world: dict | None = None):
        super().__init__()
        self.faults, self.seal, self.world = list(faults or []), seal, world  # a rehearsal's, for run_started
        self.on_run = on_run  # told of the run once it exists (the CLI publishes it for followers)
        self.journal, self.book = journal, book
        self.values, self.need_form = dict(values or {}), need_form
        self.operator, self.break_lock = operator, break_lock
        self.time_scale, self.rehearsal, self.env = time_scale, rehearsal, env
        self.banner = banner or []
        self.clock = clock
        self.blink = blink
        self.current_run: Run | None = None
        self.view = None
        self.error: UserError | None = None
        self.attention: list[str] = []  # what rang the bell (tests read it)
        self.quitting = False

    # ---- starting ---------------------------------------------------------------------------
    def attach(self, run: Run) -> None:
        self.current_run, self.book = run, run.book
        if self.on_run is not None:
            self.on_run(run)
        store = OutputStore(loader=journal_loader(self.journal, run.run_id, run.state))
        self.view = live_view(run, store, usual_durations(self.journal, run.book.runbook.id))
        run.subscribe(lambda e: self.post_message(EngineEvent(e)), store.add, store.add_table)

    exit_requested = False  # SIGTERM or SIGHUP came before the app was running (run_app)

    def on_mount(self) -> None:
        if self.exit_requested:
            self.exit()
            return
        calm_garbage_collector()
        if not self.blink:
            self.cursor_blink = False
        if self.current_run is not None:
            self.call_later(self.show_run)
        elif self.need_form and set(self.book.vars) - set(self.book.asked_vars()):
            self.push_screen(VarsForm(self.book, self.values, self.banner), self.start_run)
        else:
            self.call_later(self.start_run, self.values)

    async def start_run(self, values: dict[str, str] | None) -> None:
        if values is None:
            self.exit()
            return
        try:
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

    def _runbook_change(self):
        """The runbook_changed event of this opening of the run (resume), if the file changed."""
        run = self.current_run
        for e in reversed(run.journal.events(run.run_id, after=max(0, run.state.last_seq - 50))):
            if e.kind == ev.RUNBOOK_CHANGED:
                return e
            if e.kind == ev.RESUMED:
                return None
        return None

    async def show_run(self) -> None:
        await self.push_screen(DriveScreen(self.view))
        self.set_interval(1 / FLUSH_HZ, self.flush_output, name="flush")
        self.set_interval(1.0, self.second, name="poll")
        s = self.current_run.state
        if self.banner and not self.need_form:  # the variables form already showed it
            self.notify("\n".join(self.banner[:1]), title="Rehearsal", timeout=8)
        if s.schedule and s.schedule.get("needs_override") and "schedule" not in s.overrides:
            self.push_screen(ScheduleDialog(s.schedule), self._schedule_answer)
        elif s.schedule and s.schedule.get("problems") == [] and s.schedule.get("day"):
            self.notify(f"Schedule guard: ok ({s.schedule['day']})", timeout=4)
        changed = self._runbook_change()
        if changed is not None:
            self.push_screen(DiffDialog(f"The runbook changed since this run started "
                                        f"({changed.data['old_sha'][:12]} → {changed.data['new_sha'][:12]})",
                                        changed.data.get("diff", "")))
        current = s.current
        if current and s.status(current) == INTERRUPTED:
            self.notify(f"Step '{current}' was interrupted: re-run it (R), or mark it done (d) or failed (f).",
                        severity="warning", timeout=15)

    def _schedule_answer(self, reason: str | None) -> None:
        if reason is None:
            problems = "; ".join(self.current_run.state.schedule.get("problems", []))
            self.intent(self.current_run.abort, f"stopped at the schedule guard: {problems}")
            self.notify("Run aborted at the schedule guard. q quits.", severity="warning")
            return
        self.intent(self.current_run.override, "schedule", reason)

    # ---- engine -> screen ---------------------------------------------------------------------
    @property
    def run_screen(self) -> DriveScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DriveScreen):
                return screen
        return None

    def on_engine_event(self, message: EngineEvent) -> None:
        e = message.event
        screen = self.run_screen
        if screen is not None:
            screen.refresh_view()
        self._maybe_attention(e)
        if e.kind == ev.RUN_FINISHED:
            outcome = (e.data.get("outcome") or "").replace("_", " ")
            self.notify(f"Run finished: {outcome}. q quits.", timeout=30)
            self.attend("deploytui", f"run finished: {outcome}")

    def _maybe_attention(self, e: ev.Event) -> None:
        if self.current_run is None or e.step is None:
            return
        title = self.view.title(e.step) if e.step else ""
        if e.kind == ev.TIMER_EXPIRED:
            self.attend(title, "the wait is over" if e.data.get("timer") == "wait" else "the gate is open")
        elif e.kind == ev.COMMAND_FINISHED and not e.data.get("ok"):
            self.attend(title, f"failed: {e.data.get('error')}")
        elif e.kind == ev.COMMAND_FINISHED and (e.data.get("duration") or 0) >= LONG_COMMAND:
            self.attend(title, "finished; the run needs you")
        elif e.kind == ev.DEADLINE_PASSED:
            self.attend("deploy window", "the deadline has passed")

    def attend(self, title: str, body: str) -> None:
        """Ring the bell and send a desktop notification through the terminal."""
        self.attention.append(f"{title}: {body}")
        self.bell()
        driver = getattr(self, "_driver", None)
        if driver is not None and not self.is_headless:
            driver.write(osc_sequences(f"deploytui: {title}", body))

    def flush_output(self) -> None:
        screen = self.run_screen
        if screen is not None and screen.is_current:
            screen.pull()

    def second(self) -> None:
        if self.current_run is None or self.quitting:
            return
        try:
            self.current_run.poll()
        except UserError:
            pass
        screen = self.run_screen
        if screen is not None:
            screen.tick()

    # ---- intents ------------------------------------------------------------------------------
    def intent(self, fn, *args, **kw) -> bool:
        """Call an engine intent; its refusal is a one-line notification."""
        try:
            fn(*args, **kw)
            return True
        except UserError as e:
            self.notify(str(e), severity="error", timeout=8)
            return False

    @property
    def selected(self) -> str | None:
        screen = self.run_screen
        return screen.selected if screen is not None else None

    def _step_title(self, sid: str) -> str:
        return self.view.title(sid)

    def action_primary(self) -> None:
        """Enter on a step: what it waits for — run it, decide, or tick the next check."""
        sid = self.selected
        if not sid or self.current_run is None:
            return
        s, step, st = self.current_run.state, self.book.step(sid), self.current_run.state.steps[sid]
        status = s.status(sid)
        if status in (FAILED, INTERRUPTED):
            self.action_rerun()
        elif status == PENDING and step.has_command and sid in s.active:
            self.action_run_step()
        elif status == NEEDS_YOU and step.ask and not st.answered:
            self.action_answer()
        elif status == NEEDS_YOU and step.decide and st.decision is None and all(st.checks) is not None:
            self.action_decide()
        elif status == NEEDS_YOU and False in st.checks and not step.decide:
            self.action_tick(st.checks.index(False))

    def action_run_step(self) -> None:
        sid = self.selected
        if not sid or self.current_run is None:
            return
        step = self.book.step(sid)
        status = self.current_run.state.status(sid)
        if status in (FAILED, INTERRUPTED) or (status == DONE and step.has_command):
            self.action_rerun()
            return
        if step.danger and sid in self.current_run.state.active:
            why = self.current_run.allowed(sid).why_not("run")
            if why:  # say why before asking anyone to type anything
                self.notify(why, severity="warning", timeout=8)
                return
            self.push_screen(DangerDialog(self._step_title(sid), self.current_run.danger_word(),
                                          self.view.command(sid)),
                             lambda typed: typed and self.intent(self.current_run.run_step, sid, confirm=typed))
            return
        self.intent(self.current_run.run_step, sid)

    def action_rerun(self) -> None:
        sid = self.selected
        if not sid or self.current_run is None:
            return
        step = self.book.step(sid)

        def with_reason(reason: str | None) -> None:
            if not reason:
                return
            if step.danger and step.has_command and sid in self.current_run.state.active:
                self.push_screen(DangerDialog(self._step_title(sid), self.current_run.danger_word(),
                                              self.view.command(sid)),
                                 lambda typed: typed and self.intent(self.current_run.rerun, sid, reason, confirm=typed))
            else:
                self.intent(self.current_run.rerun, sid, reason)

        self.push_screen(ReasonDialog(f"Re-run: {self._step_title(sid)}"), with_reason)

    def action_skip(self) -> None:
        sid = self.selected
        if sid and self.current_run is not None:
            self._stopping_first(sid, "skip", "Stop it and skip the step",
                                 lambda: self.push_screen(ReasonDialog(f"Skip: {self._step_title(sid)}"),
                                                          lambda r: r and self.intent(self.current_run.skip, sid, r)))

    def action_mark(self, status: str) -> None:
        sid = self.selected
        if sid and self.current_run is not None:
            self._stopping_first(
                sid, status, f"Stop it and mark the step {status}",
                lambda: self.push_screen(ReasonDialog(f"Mark {status}: {self._step_title(sid)}"),
                                         lambda r: r and self.intent(self.current_run.mark, sid, status, r)))

    def _stopping_first(self, sid: str, intent: str, yes: str, then) -> None:
        """Skip, done and failed on a step whose command runs stop that command: ask before anything else, in
        a dialog that keys typed for the command's own prompt cannot confirm."""
        allowed = self.current_run.allowed(sid)
        if intent not in allowed:
            self.notify(allowed.why_not(intent) or "not possible now", severity="warning", timeout=8)
            return
        if not allowed.running:
            then()
            return
        self.push_screen(StopDialog(f"{self._step_title(sid)} is running", "Its command is still running. "
                                    "Stopping it ends it (TERM, then KILL), and the journal records that.", yes),
                         lambda stop: stop and then())

    def action_view_command(self) -> None:
        sid = self.selected
        command = self.view.command(sid) if sid and self.view else None
        if not command:
            self.notify("This step has no command.", severity="warning")
            return
        self.push_screen(TextDialog(f"Command of {self._step_title(sid)}", command))

    def action_override(self) -> None:
        """Override what blocks: the schedule, the deploy window's deadline, or the selected step's gate."""
        if self.current_run is None:
            return
        if self.current_run.schedule_blocks():
            self.push_screen(ScheduleDialog(self.current_run.state.schedule), self._schedule_answer)
        elif self.current_run.deadline_blocks():
            self.action_override_what("deadline")
        else:
            self.action_override_what("gate")

    def action_override_what(self, what: str) -> None:
        sid = self.selected if what == "gate" else None
        if self.current_run is None or (what == "gate" and not sid):
            return
        title = f"Override the gate of {self._step_title(sid)}" if sid else f"Override the {what}"
        self.push_screen(ReasonDialog(title),
                         lambda r: r and self.intent(self.current_run.override, what, r, sid))

    def action_rollback(self) -> None:
        if self.current_run is None:
            return
        sections = [s for s in self.book.sections if s.on_demand and self.book.steps_of_section(s.id)]
        if not sections:
            self.notify("This runbook has no on-demand section to jump to.", severity="warning")
            return

        def jump(index: int | None) -> None:
            if index is None:
                return
            sec = sections[index]
            self.push_screen(ReasonDialog(f"Jump to: {self.view.text(sec.title)}"),
                             lambda r: r and self.intent(self.current_run.jump, sec.id, r))

        if len(sections) == 1:
            jump(0)
        else:
            self.push_screen(ChoiceDialog("Jump to which section?", [self.view.text(s.title) for s in sections]), jump)

    def action_decide(self, option: int | None = None) -> None:
        sid = self.selected
        if not sid or self.current_run is None:
            return
        step = self.book.step(sid)
        if not step.decide:
            self.notify(f"Step '{sid}' has no decision.", severity="warning")
            return

        question = self.view.text(step.decide.question, sid)

        def chosen(index: int | None) -> None:
            if index is None:
                return
            label = self.view.text(step.decide.options[index].label, sid)
            self.push_screen(ReasonDialog(f"{question} → {label}", "Reason (optional):", required=False),
                             lambda r: r is not None and self.intent(self.current_run.decide, sid, index, r))

        if option is not None:
            chosen(option)
        else:
            self.push_screen(ChoiceDialog(question, [self.view.text(o.label, sid) + (f" → {o.goto}" if o.goto else "")
                                                     for o in step.decide.options]), chosen)

    def action_answer(self) -> None:
        """A prompt step: ask for its value, checked as the start form checks it."""
        sid = self.selected
        if not sid or self.current_run is None:
            return
        step = self.book.step(sid)
        if not step.ask:
            self.notify(f"Step '{sid}' asks for nothing.", severity="warning")
            return
        why = self.current_run.allowed(sid).why_not("answer")
        if why:
            self.notify(why, severity="warning", timeout=8)
            return
        spec = self.book.vars[step.ask]
        self.push_screen(AnswerDialog(self._step_title(sid), step.ask, spec, self.view.text(spec.prompt, sid)
                                      if spec.prompt else step.ask),
                         lambda value: value is not None and self.intent(self.current_run.answer, sid, value))

    def action_tick(self, index: int) -> None:
        sid = self.selected
        if not sid or self.current_run is None:
            return
        st = self.current_run.state.steps[sid]
        if index >= len(st.checks):
            return
        self.intent(self.current_run.tick, sid, index, not st.checks[index])

    def action_note(self) -> None:
        if self.current_run is None:
            return
        sid = self.selected
        self.push_screen(ReasonDialog("Add a note to the journal", "Note:", placeholder="what happened"),
                         lambda text: text and self.intent(self.current_run.note, text, sid)
                         and self.notify("Note added to the journal."))

    def action_copy_command(self) -> None:
        sid = self.selected
        command = self.view.command(sid) if sid and self.view else None
        if not command:
            self.notify("This step has no command to copy.", severity="warning")
            return
        self.copy_to_clipboard(command)
        self.notify("Command copied to the clipboard (OSC 52).")

    def action_end_pane(self) -> None:
        sid = self.selected
        if not sid or self.current_run is None:
            return
        step, st = self.book.step(sid), self.current_run.state.steps[sid]
        waiting = [k for k, p in enumerate(step.panes) if p.until and k not in st.panes_done]
        if not waiting:
            self.notify("No pane of this step is waiting for a line.", severity="warning")
            return

        def end(choice: int | None) -> None:
            if choice is None:
                return
            k = waiting[choice]
            self.push_screen(ReasonDialog(f"Stop waiting for /{self.view.text(step.panes[k].until, sid)}/"),
                             lambda r: r and self.intent(self.current_run.end_pane, sid, k, r))

        if len(waiting) == 1:
            end(0)
        else:
            self.push_screen(ChoiceDialog("End which pane's wait?",
                                          [self.view.text(step.panes[k].title, sid) if step.panes[k].title
                                           else f"pane {k + 1}" for k in waiting]), end)

    def action_full_output(self) -> None:
        """The selected step's whole output, from the journal, in a pager (the terminal is handed over)."""
        sid = self.selected
        if not sid or self.current_run is None:
            return
        path = write_full_output(self.journal, self.current_run.run_id, sid, self.current_run.state.steps[sid].attempt or None)
        pager = shlex.split(os.environ.get("PAGER") or "less -R +G")
        try:
            with self.suspend():
                subprocess.call([*pager, path])
        except (SuspendNotSupported, OSError):
            self.notify(f"Full output written to {path}", timeout=10)
            return
        finally:
            self.full_output_path = path
        os.unlink(path)

    export_dir: str | None = None  # where a terminal saves exports (None: the user's downloads directory)
    EXPORT_FORMATS = [("Markdown (pastes into Confluence and GitHub)", "md"), ("Standalone HTML", "html"),
                      ("JSON", "json")]

    def action_export(self) -> None:
        """The deploy record so far, delivered as a file (downloads dir, or the browser when served)."""
        if self.current_run is None:
            return
        run = self.current_run

        def deliver(choice: int | None) -> None:
            if choice is None:
                return
            import io

            from ..reports.export import record

            fmt = self.EXPORT_FORMATS[choice][1]
            text = record(self.journal, run.run_id, fmt, secrets=run.secret_values())
            name = f"deploy-record-{run.run_id}.{fmt}"
            self.deliver_text(io.StringIO(text), save_directory=self.export_dir, save_filename=name, name=name)

        self.push_screen(ChoiceDialog("Export the deploy record as", [label for label, _ in self.EXPORT_FORMATS]),
                         deliver)

    def on_delivery_complete(self, event) -> None:
        self.notify(f"Deploy record saved: {event.path or event.name}", timeout=10)

    def on_delivery_failed(self, event) -> None:
        self.notify(f"Export failed: {event.exception}", severity="error", timeout=10)

    def action_abort(self) -> None:
        if self.current_run is not None:
            self.push_screen(ReasonDialog("Abort the run"), lambda r: r and self.intent(self.current_run.abort, r))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    async def action_quit(self) -> None:
        running = [sid for sid, st in self.current_run.state.steps.items() if st.command_running] if self.current_run else []
        if not running:
            await self.shutdown()
            return
        names = ", ".join(self._step_title(s) for s in running)
        self.push_screen(ConfirmDialog("Quit while a command runs?",
                                       f"Running: {names}\nQuitting stops it (TERM, then KILL) and records "
                                       "that; the run stays open to resume.", yes="Quit"),
                         lambda yes: yes and self.call_later(self.shutdown))

    async def shutdown(self) -> None:
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

    # ---- widgets -> intents ---------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("opt-"):
            self.action_decide(int(bid[4:]))
        elif bid.startswith("act-"):
            {"run": self.action_run_step, "rerun": self.action_rerun, "skip": self.action_skip,
             "done": lambda: self.action_mark(DONE), "failed": lambda: self.action_mark(FAILED),
             "gate": lambda: self.action_override_what("gate"), "answer": self.action_answer}[bid[4:]]()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        cid = event.checkbox.id or ""
        sid = self.selected
        if cid.startswith("chk-") and sid and self.current_run is not None:
            index = int(cid[4:])
            if self.current_run.state.steps[sid].checks[index] != event.value:
                if not self.intent(self.current_run.tick, sid, index, event.value):
                    with event.checkbox.prevent(Checkbox.Changed):
                        event.checkbox.value = not event.value

    def on_option_list_option_selected(self, event) -> None:
        if event.option_list.id == "steps":
            self.action_primary()

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

    # ---- command palette ------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.current_run is None:
            return
        yield from (
            SystemCommand("Run step", "Run the selected step's command (r)", self.action_run_step),
            SystemCommand("Re-run step", "Run the selected step again, with a reason (R)", self.action_rerun),
            SystemCommand("Skip step", "Skip the selected step, with a reason (s)", self.action_skip),
            SystemCommand("Mark step done", "With a reason (d)", lambda: self.action_mark(DONE)),
            SystemCommand("Mark step failed", "With a reason (f)", lambda: self.action_mark(FAILED)),
            SystemCommand("Decide", "Answer the selected step's decision", self.action_decide),
            SystemCommand("Override gate", "Open the selected step's not_before gate, with a reason",
                          lambda: self.action_override_what("gate")),
            SystemCommand("Override schedule", "Go on outside the usual schedule, with a reason",
                          lambda: self.action_override_what("schedule")),
            SystemCommand("Override deadline", "Go on past the deploy window, with a reason",
                          lambda: self.action_override_what("deadline")),
            SystemCommand("Jump to rollback", "Enter an on-demand section, with a reason (b)", self.action_rollback),
            SystemCommand("End pane wait", "Stop waiting for a pane's line, with a reason (e)", self.action_end_pane),
            SystemCommand("Add note", "Write a note into the journal (n)", self.action_note),
            SystemCommand("Copy command", "Copy the selected step's command to the clipboard (c)",
                          self.action_copy_command),
            SystemCommand("View command", "The selected step's whole command (v)", self.action_view_command),
            SystemCommand("Open full output", "The selected step's whole output from the journal (O)",
                          self.action_full_output),
            SystemCommand("Toggle dark/light theme", "(t)", self.action_toggle_theme),
            SystemCommand("Export record", "Save the deploy record for the CAB (md, html, json)", self.action_export),
            SystemCommand("Abort run", "End the run as aborted, with a reason", self.action_abort),
        )


def write_full_output(journal, run_id: str, step: str, attempt: int | None) -> str:
    """Copy a step's output from the journal to a private temp file, chunk by chunk."""
    fd, path = tempfile.mkstemp(prefix=f"deploytui-{step}-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for chunk in journal.chunks(run_id, step, attempt):
            if chunk.stream != "main":
                continue
            out.write(chunk.data)
    return path


def build_app(*, journal, book: Runbook | None, given: dict[str, str] | None = None, resume_id: str | None = None,
              operator: str | None = None, break_lock: str | None = None, time_scale: float = 1.0,
              rehearsal: bool = False, env: dict | None = None, extra_vars: dict | None = None,
              banner: list[str] | None = None, clock: Clock | None = None, blink: bool = True,
              form: bool | None = None, faults: list[str] | None = None, seal: str = "",
              on_run=None, world: dict | None = None) -> DeployApp:
    """The app, ready to run. Bad --var values and resume problems raise UserError here, before the
    screen opens. `form`: show the variables form (default: unless every variable was given)."""
    given = dict(given or {})
    if resume_id:
        app = DeployApp(journal, book, operator=operator, env=env, banner=banner, clock=clock, blink=blink,
                        on_run=on_run)
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
                     faults=faults, seal=seal, on_run=on_run, world=world)


def run_app(*, journal, book, given, resume_id, operator, break_lock, time_scale, rehearsal, env, extra_vars,
            banner, faults=None, seal="", on_run=None, clock: Clock | None = None,
            world: dict | None = None) -> None:
    """What `deploytui run` (and `rehearse`) calls for the full-screen app. SIGTERM and a closed terminal
    (SIGHUP) end the app like a quit: the run's commands are ended and the journal says why."""
    import asyncio

    from ..engine.ending import ending_signals, reason_for

    app = build_app(journal=journal, book=book, given=given, resume_id=resume_id, operator=operator,
                    break_lock=break_lock, time_scale=time_scale, rehearsal=rehearsal, env=env,
                    extra_vars=extra_vars, banner=banner, faults=faults, seal=seal, on_run=on_run,
                    clock=clock, world=world)
    received: list[int] = []
    closing = threading.Lock()

    def finish(signum: int) -> None:
        """End the run's commands and journal why, then leave: for when the screen cannot be shut down in
        good order (the terminal is gone, and Textual's writer waits for it for ever)."""
        with closing:
            if app.current_run is not None:
                app.current_run.close(reason_for(signum), signal=signum)
            journal.close()
            os._exit(128 + signum)

    def on_signal(signum: int) -> None:
        if received:
            return
        received.append(signum)
        app.exit_requested = True  # seen at mount when the app had not started yet
        if signum == signal.SIGHUP:  # no terminal to restore: do not wait for the screen
            threading.Thread(target=finish, args=(signum,), name="hang-up", daemon=True).start()
            return
        watchdog = threading.Timer(10.0, finish, args=(signum,))  # the screen's shutdown, if it hangs
        watchdog.daemon = True
        watchdog.start()
        try:
            asyncio.get_running_loop().call_soon(app.exit)
        except RuntimeError:  # the app has not started, or has already stopped
            pass

    try:
        with ending_signals(on_signal):
            app.run()
    finally:
        with closing:
            if app.current_run is not None:
                signum = received[0] if received else None
                app.current_run.close(reason_for(signum) if signum else "the operator quit", signal=signum)
    if received:
        sys.exit(128 + received[0])
    if app.error is not None:
        raise app.error
