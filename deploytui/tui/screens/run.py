"""The run screen: header, step list, step detail, activity line and key bar. `RunScreen` shows a `RunView`
(the follower uses it as it is); `DriveScreen` holds the `Run` and turns keys, buttons, checks and options
into its intents, offering only what `Run.allowed` says a step allows now."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen

from ...engine import planner
from ...engine.planner import Allowed
from ...engine.run import Run
from ...errors import UserError
from ...events import kinds as ev
from ...events.describe import Said, describe
from ...events.state import DONE, FAILED, INTERRUPTED
from ..keys import COMMON, DRIVE, Key, bindings
from ..messages import Intent
from ..view import RunView
from ..widgets.bars import ActivityLine, Hint, KeyBar
from ..widgets.choices import DecisionList
from ..widgets.detail import StepDetail
from ..widgets.header import RunHeader
from ..widgets.panes import OutputLog
from ..widgets.steplist import StepList
from .dialogs import (
    AnswerDialog,
    ChoiceDialog,
    ConfirmDialog,
    DangerDialog,
    ReasonDialog,
    SearchBar,
    StopDialog,
    TextDialog,
)

QUIET = {ev.PROCESS_STARTED}
T = TypeVar("T")  # events the activity line does not need to show


@dataclass(frozen=True)
class Command:
    """One entry of the command palette."""

    title: str
    help: str
    run: Callable[[], object]


class RunScreen(Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (180, "-wide")]
    KEYS: list[Key] = COMMON
    BINDINGS = bindings(COMMON)

    def __init__(self, view: RunView, history: Iterable[ev.Event] = (), **kw):
        super().__init__(**kw)
        self.view = view
        self.followed: str | None = view.state.current  # the detail follows the current step
        self.activity: deque[tuple[float, Said]] = deque(maxlen=5000)
        self._refreshing = False
        self._dirty = False
        for e in history:
            self._remember(e)

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            yield StepList(id="steps")
            yield StepDetail(self.view, self.followed or self.view.book.steps[0].id, id="detail")
        with Vertical(id="bottom"):
            yield SearchBar(id="search")
            yield ActivityLine(id="activity")
            yield KeyBar(id="keys")

    def on_mount(self) -> None:
        steps = self.query_one(StepList)
        steps.load(self.view)
        steps.select_step(self.followed or self.view.book.steps[0].id)
        steps.focus()
        self.query_one(RunHeader).show(self.view)
        if self.activity:
            self.query_one(ActivityLine).said(*self.activity[-1])
        self.show_keys()

    # ---- what the screen shows ------------------------------------------------------------------
    @property
    def selected(self) -> str | None:
        try:
            return self.query_one(StepList).selected_step or self.view.state.current
        except NoMatches:
            return self.view.state.current

    @property
    def detail(self) -> StepDetail:
        return self.query_one(StepDetail)

    def heard(self, event: ev.Event) -> None:
        """An event from the run: remember it for the activity feed, and redraw once for a burst of them."""
        if self._remember(event) and self.is_mounted:
            self.query_one(ActivityLine).said(*self.activity[-1])
        self.refresh_view()

    def _remember(self, event: ev.Event) -> bool:
        if event.kind in QUIET:
            return False
        self.activity.append((event.ts, describe(event, self._title)))
        return True

    def _title(self, step_id: str) -> str:
        try:
            return self.view.title(step_id)
        except KeyError:
            return step_id

    def refresh_view(self) -> None:
        """Redraw after events: once per burst (a command's end brings four or five events at once)."""
        self._dirty = True
        if not self._refreshing:
            self._refreshing = True
            self.call_later(self._refresh)

    async def _refresh(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                if not self.is_mounted or not self.query(StepList):
                    return
                steps = self.query_one(StepList)
                steps.show(self.view)
                self.query_one(RunHeader).show(self.view)
                current = self.view.state.current
                if current and current != self.followed:
                    if steps.selected_step in (self.followed, None):
                        steps.select_step(current)  # the highlight message shows it
                    self.followed = current
                self.detail.show(steps.selected_step or current)
                self.show_keys()
        finally:
            self._refreshing = False

    @on(StepList.OptionHighlighted, "#steps")
    def _highlighted(self, event: StepList.OptionHighlighted) -> None:
        """A click, or a move the list made itself: show the step (moves by key were shown already)."""
        sid = event.option.id
        if sid and not sid.startswith("§") and sid != self.detail.step_id:
            self.detail.show(sid)
            self.show_keys()

    def tick(self) -> None:
        """Once a second: the clocks."""
        try:
            self.query_one(RunHeader).show(self.view)
            self.detail.tick()
        except NoMatches:  # composing, or closing
            pass

    def pull(self) -> int:
        """New output onto the screen (the app calls it 15 times a second)."""
        try:
            return self.detail.output.pull(self.view.store)
        except NoMatches:  # still composing, or already closing
            return 0

    # ---- keys -------------------------------------------------------------------------------------
    def allowed(self) -> Allowed:
        sid = self.selected
        return self.view.allowed(sid) if sid else self.view.allowed(self.view.book.steps[0].id)

    def hints(self) -> list[Hint]:
        """The key bar: the keys that do something now (intents only when the engine allows them)."""
        allowed, sid = self.allowed(), self.selected
        out = []
        for key in self.KEYS:
            if not key.rank or (key.intent and key.intent not in allowed):
                continue
            if key.action == "rollback" and not self._on_demand():
                continue
            if key.action in ("search", "full_output", "copy_command") and not self._has_output(sid):
                continue
            out.append(Hint(key.display, key.short or key.label, key.rank))
        if sid and planner.DECIDE in allowed:
            decide = self.view.book.step(sid)
            n = len(decide.decide.options) if decide.decide and not decide.checks else 0
            out.append(Hint(f"1-{min(n, 9)}" if n > 1 else "⏎", "Decide", 9))
        if sid and planner.ANSWER in allowed:
            out.append(Hint("⏎", "Answer", 9))
        step = self.view.book.step(sid) if sid else None
        if step is not None and planner.TICK in allowed and step.checks:
            n = min(9, len(step.checks))
            out.append(Hint("1" if n == 1 else f"1-{n}", "Tick", 9))
        out.sort(key=lambda h: h.rank)
        return [h for h in out if h.key != "q"] + [h for h in out if h.key == "q"]  # help first, quit last

    def _on_demand(self) -> bool:
        book = self.view.book
        return any(s.on_demand and book.steps_of_section(s.id) for s in book.sections)

    def _has_output(self, sid: str | None) -> bool:
        return bool(sid and self.view.sources(sid))

    def show_keys(self) -> None:
        try:
            self.query_one(KeyBar).show(self.hints())
        except NoMatches:
            pass

    def on_descendant_focus(self) -> None:
        self.show_keys()

    def action_move(self, by: int) -> None:
        """↑/↓, j/k: the list's highlight and the detail change in one go, so they reach the terminal in one
        frame (through the list's own highlight message the detail came a frame later, 20-30 ms)."""
        steps = self.query_one(StepList)
        steps.action_cursor_down() if by > 0 else steps.action_cursor_up()
        sid = steps.selected_step
        if sid and sid != self.detail.step_id:
            self.detail.show(sid)
            self.show_keys()

    def action_current(self) -> None:
        current = self.view.state.current
        if current:
            self.query_one(StepList).select_step(current)
            self.query_one(StepList).focus()

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_activity(self) -> None:
        from .help import ActivityScreen

        self.app.push_screen(ActivityScreen(list(self.activity)))

    def action_fleet(self) -> None:
        from .fleet import FleetBoardScreen

        board = getattr(self.app, "fleet_board", None)
        if board is None:
            self.notify("No fleet board: this runbook has no [fleet] table.", timeout=5)
            return
        self.app.push_screen(FleetBoardScreen(*board))

    def action_pane(self, by: int) -> None:
        area = self.detail.output
        sources = area.sources
        if len(sources) < 2:
            self.notify("This step has one output: nothing to switch to.", timeout=4)
            return
        if area.wide:
            self.notify("All panes are side by side here.", timeout=4)
            return
        pane = area.active_pane()
        current = list(area.query("LivePane")).index(pane) if pane is not None else 0
        area.switch((current + by) % len(sources))

    def action_search(self) -> None:
        if self._log() is None:
            self.notify("This step has no output to search.", severity="warning", timeout=4)
            return
        self.query_one(SearchBar).open()

    def _log(self) -> OutputLog | None:
        pane = self.detail.output.active_pane() if self.detail.output.display else None
        return pane.output_log if pane is not None and hasattr(pane, "output_log") else None

    @on(SearchBar.Changed)
    def _search(self, event: SearchBar.Changed) -> None:
        log = self._log()
        if log is None:
            return
        log.search(event.pattern)
        bar = self.query_one(SearchBar)
        if event.pattern is None:
            bar.say("")
            return
        found = log.matches()
        if not found:
            bar.say("no match in the lines on screen · O searches the whole output")
            return
        # the nearest match above the bottom of what is shown (newest first), then further up with Enter
        bottom = int(log.scroll_y) + log.size.height - 1
        before = [y for y in found if y <= bottom - (1 if event.again else 0)] if event.direction < 0 else \
            [y for y in found if y > int(log.scroll_y)]
        y = (before[-1] if event.direction < 0 else before[0]) if before else \
            (found[-1] if event.direction < 0 else found[0])
        log.sticky = False  # reading a match: new output must not pull the view away from it
        log.scroll_to(y=max(0, y - log.size.height // 2), animate=False)
        bar.say(f"line {y + 1} · {len(found)} matching lines · Enter: older, shift+Enter: newer")

    def action_full_output(self) -> None:
        sid = self.selected
        pane = self.detail.output.active_pane() if self.detail.output.display else None
        if not sid or pane is None:
            self.notify("This step has no output.", severity="warning", timeout=4)
            return
        source = pane.source
        attempt = self.view.state.steps[source.step].attempt
        title = self.view.title(source.step) + (f" · {source.title}" if source.stream != "main" else "")
        self.app.open_full_output(source, title, self.view.state.run_id, attempt)  # type: ignore[attr-defined]

    def action_view_command(self) -> None:
        sid = self.selected
        command = self.view.command(sid) if sid else None
        if not sid or not command:
            self.notify("This step has no command.", severity="warning")
            return
        practised = self.view.practised(sid)
        if practised:
            command = f"# the real command, practised:\n{practised}\n\n# the stand-in that runs here:\n{command}"
        self.app.push_screen(TextDialog(f"Command of {self.view.title(sid)}", command))

    def action_copy_command(self) -> None:
        sid = self.selected
        command = self.view.command(sid) if sid else None
        if not command:
            self.notify("This step has no command to copy.", severity="warning")
            return
        self.app.copy_text(command, "the command")  # type: ignore[attr-defined]

    async def action_quit(self) -> None:
        await self.app.action_quit()

    # ---- the command palette ----------------------------------------------------------------------
    def commands(self) -> list[Command]:
        """Every action of this screen for the palette: each key, each check and pane of the selected step."""
        out = []
        for key in self.KEYS:
            if key.action in ("app.command_palette", "app.focus_next", "move(1)", "move(-1)") or \
                    key.action.startswith("tick("):
                continue
            out.append(Command(key.palette or key.label, f"key {key.display}", self._runner(key.action)))
        sid = self.selected
        if sid:
            for k, source in enumerate(self.detail.output.sources):
                out.append(Command(f"Switch to pane: {source.title}", "show this output",
                                   partial(self.detail.output.switch, k)))
        return out

    def _runner(self, action: str) -> Callable[[], object]:
        return lambda: self.run_action(action)


class DriveScreen(RunScreen):
    """The run screen with the operator's intents: keys, buttons, checks and options become `Run` intents."""

    KEYS = [*DRIVE, *COMMON]
    BINDINGS = bindings(DRIVE)

    def __init__(self, run: Run, view: RunView, history: Iterable[ev.Event] = (), **kw):
        super().__init__(view, history, **kw)
        self.run = run

    def _step_title(self, sid: str) -> str:
        return self.view.title(sid)

    def intent(self, fn: Callable, *args, **kw) -> bool:
        """Call an engine intent; its refusal is a one-line notification."""
        try:
            fn(*args, **kw)
            return True
        except UserError as e:
            self.notify(str(e), severity="error", timeout=8)
            return False

    def ask(self, dialog: Screen[T], then: Callable[[T], object], empty: bool = False) -> None:
        """Open a dialog; `then(answer)` once it is answered (not cancelled, and not empty unless `empty`)."""

        def answered(answer: T | None) -> None:
            if answer is not None and (answer or empty):
                then(answer)

        self.app.push_screen(dialog, answered)

    def refuse(self, allowed: Allowed, intent: str) -> None:
        self.notify(allowed.why_not(intent) or "not possible now", severity="warning", timeout=8)

    @on(Intent)
    def _intent(self, message: Intent) -> None:
        message.stop()
        sid = message.step
        match message.intent:
            case planner.RUN:
                self.run_step(sid)
            case planner.RERUN:
                self.rerun(sid)
            case planner.SKIP:
                self.skip(sid)
            case planner.MARK_DONE | planner.MARK_FAILED:
                self.mark(sid, message.intent)
            case planner.OVERRIDE_GATE:
                self.override_what("gate", sid)
            case planner.END_PANE:
                self.end_pane(sid)
            case planner.END_SURVIVORS:
                self.end_survivors(sid)
            case planner.TICK if message.arg is not None:
                if not self.intent(self.run.tick, sid, message.arg, message.value):
                    self.refresh_view()
            case planner.DECIDE:
                self.decide(sid, message.arg)
            case planner.ANSWER:
                self.answer(sid)

    @on(StepList.OptionSelected, "#steps")
    def _entered(self, event: StepList.OptionSelected) -> None:
        event.stop()
        self.action_primary()

    # ---- keys -> intents ------------------------------------------------------------------------------
    def action_primary(self) -> None:
        """Enter on a step: what it waits for, as the engine allows it — decide, tick the next check, run it,
        or re-run it after a failure; else say why nothing can happen."""
        sid = self.selected
        if not sid:
            return
        allowed, st, step = self.run.allowed(sid), self.run.state.steps[sid], self.run.book.step(sid)
        status = self.run.state.status(sid)
        if planner.ANSWER in allowed:
            self.answer(sid)
        elif planner.DECIDE in allowed:
            options = self.query_one(DecisionList)
            self.set_focus(options)  # now: a digit typed right after Enter must reach the options
            options.highlighted = options.highlighted or 0
        elif planner.TICK in allowed and False in st.checks and not step.decide:
            self.action_tick(st.checks.index(False))
        elif planner.RUN in allowed:
            self.run_step(sid)
        elif planner.RERUN in allowed and status in (FAILED, INTERRUPTED):
            self.rerun(sid)
        elif step.has_command:
            self.refuse(allowed, planner.RUN)
        elif step.decide:
            self.refuse(allowed, planner.DECIDE)
        elif step.ask:
            self.refuse(allowed, planner.ANSWER)
        else:
            self.notify(f"Nothing to do on this step now: {self.view.state.status(sid).replace('_', ' ')}.",
                        timeout=4)

    def action_run(self) -> None:
        sid = self.selected
        if not sid:
            return
        allowed = self.run.allowed(sid)
        status = self.run.state.status(sid)
        if planner.RUN not in allowed and planner.RERUN in allowed and \
                (status in (FAILED, INTERRUPTED) or (status == DONE and self.run.book.step(sid).has_command)):
            self.rerun(sid)
        else:
            self.run_step(sid)

    def run_step(self, sid: str) -> None:
        allowed = self.run.allowed(sid)
        if planner.RUN not in allowed:
            self.refuse(allowed, planner.RUN)  # e.g. gated: until when, and how to override
            return
        if planner.RUN in allowed.confirm:
            self.ask(DangerDialog(self._step_title(sid), self.run.danger_word(), self.view.command(sid)),
                     lambda typed: self.intent(self.run.run_step, sid, confirm=typed))
            return
        self.intent(self.run.run_step, sid)

    def action_rerun(self) -> None:
        if self.selected:
            self.rerun(self.selected)

    def rerun(self, sid: str) -> None:
        allowed = self.run.allowed(sid)
        if planner.RERUN not in allowed:
            self.refuse(allowed, planner.RERUN)
            return

        def with_reason(reason: str) -> None:
            if planner.RERUN in self.run.allowed(sid).confirm:
                self.ask(DangerDialog(self._step_title(sid), self.run.danger_word(), self.view.command(sid)),
                         lambda typed: self.intent(self.run.rerun, sid, reason, confirm=typed))
            else:
                self.intent(self.run.rerun, sid, reason)

        self.ask(ReasonDialog(f"Re-run: {self._step_title(sid)}"), with_reason)

    def action_skip(self) -> None:
        if self.selected:
            self.skip(self.selected)

    def skip(self, sid: str) -> None:
        self._stopping_first(sid, planner.SKIP, "Stop it and skip the step",
                             lambda: self.ask(ReasonDialog(f"Skip: {self._step_title(sid)}"),
                                              lambda r: self.intent(self.run.skip, sid, r)))

    def action_mark(self, status: str) -> None:
        if self.selected:
            self.mark(self.selected, status)

    def mark(self, sid: str, status: str) -> None:
        self._stopping_first(
            sid, status, f"Stop it and mark the step {status}",
            lambda: self.ask(ReasonDialog(f"Mark {status}: {self._step_title(sid)}"),
                             lambda r: self.intent(self.run.mark, sid, status, r)))

    def _stopping_first(self, sid: str, intent: str, yes: str, then: Callable[[], object]) -> None:
        """Skip, done and failed on a step whose command runs stop that command: ask before anything else, in
        a dialog that keys typed for the command's own prompt cannot confirm."""
        allowed = self.run.allowed(sid)
        if intent not in allowed:
            self.refuse(allowed, intent)
            return
        if not allowed.running:
            then()
            return
        self.ask(StopDialog(f"{self._step_title(sid)} is running", "Its command is still running. "
                            "Stopping it ends it (TERM, then KILL), and the journal records that.", yes),
                 lambda stop: then())

    def action_override(self) -> None:
        """Override what blocks: the schedule, the deploy window's deadline, or the selected step's gate."""
        from .start import ScheduleDialog

        if self.run.schedule_blocks():
            self.app.push_screen(ScheduleDialog(self.run.state.schedule or {}),
                                 self.app.schedule_answer)  # type: ignore[attr-defined]
        elif self.run.deadline_blocks():
            self.override_what("deadline")
        elif self.selected:
            self.override_what("gate", self.selected)

    def override_what(self, what: str, sid: str | None = None) -> None:
        if what == "gate":
            if not sid:
                return
            allowed = self.run.allowed(sid)
            if planner.OVERRIDE_GATE not in allowed:
                self.refuse(allowed, planner.OVERRIDE_GATE)
                return
        title = f"Override the gate of {self._step_title(sid)}" if sid else f"Override the {what}"
        self.ask(ReasonDialog(title), lambda r: self.intent(self.run.override, what, r, sid))

    def action_rollback(self) -> None:
        book = self.run.book
        sections = [s for s in book.sections if s.on_demand and book.steps_of_section(s.id)]
        if not sections:
            self.notify("This runbook has no on-demand section to jump to.", severity="warning")
            return

        def jump(index: int) -> None:
            sec = sections[index]
            self.ask(ReasonDialog(f"Jump to: {self.view.text(sec.title)}"),
                     lambda r: self.intent(self.run.jump, sec.id, r))

        if len(sections) == 1:
            jump(0)
        else:
            self.ask(ChoiceDialog("Jump to which section?", [self.view.text(s.title) for s in sections]), jump,
                     empty=True)

    def decide(self, sid: str, option: int | None) -> None:
        allowed = self.run.allowed(sid)
        if planner.DECIDE not in allowed:
            self.refuse(allowed, planner.DECIDE)
            return
        decide = self.run.book.step(sid).decide
        assert decide is not None
        if option is None:
            self.action_primary()
            return
        label = self.view.text(decide.options[option].label, sid)
        self.ask(ReasonDialog(f"{self.view.text(decide.question, sid)} → {label}", "Reason (optional):",
                              required=False),
                 lambda r: self.intent(self.run.decide, sid, option, r), empty=True)

    def answer(self, sid: str) -> None:
        """A prompt step: ask for its value, checked as the start form checks it."""
        allowed = self.run.allowed(sid)
        if planner.ANSWER not in allowed:
            self.refuse(allowed, planner.ANSWER)
            return
        name = self.run.book.step(sid).ask
        assert name is not None
        spec = self.run.book.vars[name]
        prompt = self.view.text(spec.prompt, sid) if spec.prompt else name
        self.ask(AnswerDialog(self._step_title(sid), name, spec, prompt),
                 lambda value: self.intent(self.run.answer, sid, value))

    def action_tick(self, index: int) -> None:
        sid = self.selected
        if not sid:
            return
        st, step = self.run.state.steps[sid], self.run.book.step(sid)
        allowed = self.run.allowed(sid)
        if not step.checks and step.decide and planner.DECIDE in allowed:  # no checks: the digits decide
            if index < len(step.decide.options):
                self.decide(sid, index)
            return
        if index >= len(step.checks):
            return
        if planner.TICK not in allowed:
            self.refuse(allowed, planner.TICK)
            return
        self.intent(self.run.tick, sid, index, not st.checks[index])

    def action_end_pane(self) -> None:
        if self.selected:
            self.end_pane(self.selected)

    def end_pane(self, sid: str) -> None:
        allowed = self.run.allowed(sid)
        if planner.END_PANE not in allowed:
            self.refuse(allowed, planner.END_PANE)
            return
        step, st = self.run.book.step(sid), self.run.state.steps[sid]
        waiting = [k for k, p in enumerate(step.panes) if p.until and k not in st.panes_done]

        def end(choice: int) -> None:
            k = waiting[choice]
            self.ask(ReasonDialog(f"Stop waiting for /{self.view.text(step.panes[k].until, sid)}/"),
                     lambda r: self.intent(self.run.end_pane, sid, k, r))

        if len(waiting) == 1:
            end(0)
        else:
            self.ask(ChoiceDialog("End which pane's wait?", [self.view.text(step.panes[k].title, sid) or f"pane {k + 1}"
                                                             for k in waiting]), end, empty=True)

    def action_end_survivors(self) -> None:
        if self.selected:
            self.end_survivors(self.selected)

    def end_survivors(self, sid: str) -> None:
        allowed = self.run.allowed(sid)
        if planner.END_SURVIVORS not in allowed:
            self.refuse(allowed, planner.END_SURVIVORS)
            return
        self.ask(ReasonDialog(f"End what the interrupted command of {self._step_title(sid)} left"),
                 lambda r: self.intent(self.run.end_survivors, sid, r))

    def action_note(self) -> None:
        sid = self.selected
        def note(text: str) -> None:
            if self.intent(self.run.note, text, sid):
                self.notify("Note added to the journal.")

        self.ask(ReasonDialog("Add a note to the journal", "Note:", placeholder="what happened"), note)

    def action_export(self) -> None:
        self.app.export_record(self.run)  # type: ignore[attr-defined]

    def action_abort(self) -> None:
        self.ask(ReasonDialog("Abort the run"), lambda r: self.intent(self.run.abort, r))

    async def action_quit(self) -> None:
        """Quitting mid-deploy asks (and says how to come back); a finished run just quits."""
        s = self.run.state
        if s.outcome:
            await self.app.action_quit()
            return
        running = [sid for sid, st in s.steps.items() if st.command_running]
        resume = self.app.resume_command(self.run)  # type: ignore[attr-defined]
        text = f"The run stays open: resume it with\n  {resume}"
        if not running:
            self.ask(ConfirmDialog("Quit in the middle of the deploy?", text, yes="Quit"),
                     lambda yes: self.app.call_later(self.app.action_quit))
            return
        # a command is running: keys typed for its prompt ("query") must not answer yes
        names = ", ".join(self._step_title(x) for x in running)
        text = f"Running: {names}\nQuitting stops it (TERM, then KILL) and records that.\n" + text
        self.ask(StopDialog("Quit in the middle of the deploy?", text, yes="Quit and stop it"),
                 lambda stop: self.app.call_later(self.app.action_quit))

    def commands(self) -> list[Command]:
        out = super().commands()
        sid = self.selected
        if not sid:
            return out
        step = self.run.book.step(sid)
        for i, label in enumerate(step.checks):
            out.append(Command(f"Tick check {i + 1}: {self.view.text(label, sid)}", "tick or untick it",
                               partial(self.action_tick, i)))
        if step.decide:
            for i, o in enumerate(step.decide.options):
                out.append(Command(f"Decide: {self.view.text(o.label, sid)}", self.view.text(step.decide.question, sid),
                                   partial(self.decide, sid, i)))
        if step.ask:
            out.append(Command(f"Answer: a value for {step.ask}", self._step_title(sid), partial(self.answer, sid)))
        out.append(Command("Abort the run", "end the run as aborted, with a reason", self.action_abort))
        for what in ("schedule", "deadline"):
            out.append(Command(f"Override the {what}", "with a reason", partial(self.override_what, what)))
        return out


def search_pattern(text: str) -> re.Pattern | None:
    """What `/` searches for: a regular expression when it is one, else the text as it is; case-insensitive
    unless it has a capital letter."""
    if not text:
        return None
    flags = 0 if any(c.isupper() for c in text) else re.IGNORECASE
    try:
        return re.compile(text, flags)
    except re.error:
        return re.compile(re.escape(text), flags)
