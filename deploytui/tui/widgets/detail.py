"""The selected step: its title, body, command (and, in a rehearsal, the real command it practises), what it
waits for, its checks, countdown, decision and the buttons of what the engine allows now, then its outputs.

Its widgets are made once and updated in place when the selection or the state changes: moving in the step
list costs a few label updates, not a new layout of dozens of widgets. Buttons, checks and options post
`Intent` messages; the screen acts on them."""

from __future__ import annotations

from rich.markdown import Markdown
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Digits, Label, Static

from ...engine import planner
from ...engine.planner import Allowed
from ...events import state as status_of
from ..messages import Intent
from ..view import RunView
from .choices import CheckList, DecisionList
from .header import clock_text
from .panes import OutputArea
from .steplist import GLYPHS, WORDS

# the buttons of a step, in the order they show; each appears when the engine allows its intent
BUTTONS = [
    (planner.ANSWER, "Answer", "⏎", "success"),
    (planner.RUN, "Run", "r", "success"),
    (planner.RERUN, "Re-run", "R", "default"),
    (planner.OVERRIDE_GATE, "Override gate", "o", "warning"),
    (planner.END_PANE, "End pane wait", "e", "default"),
    (planner.MARK_DONE, "Mark done", "d", "default"),
    (planner.MARK_FAILED, "Mark failed", "f", "default"),
    (planner.SKIP, "Skip", "s", "default"),
]
ROOMY = 90  # columns of the detail from which a button also names its key


def countdown(view: RunView, step_id: str) -> tuple[str, float] | None:
    """(what, deadline) when the step shows a timer: its `wait`, or its `not_before` gate."""
    st, s = view.state.steps[step_id], view.state
    status = s.status(step_id)
    if status == status_of.WAITING and st.activated and st.wait_deadline and not st.wait_expired:
        return "Wait ends in", st.wait_deadline
    if st.gate_deadline and not st.gate_open and not st.activated and st.final is None:
        return "Gate opens in", st.gate_deadline
    return None


class CommandBox(Static):
    """A command as it will run. When the box cannot show all of it, its border says how many lines are hidden
    and that `v` shows the whole (a `--quiet` at the end of a long command must not go unseen)."""

    MAX_ROWS = 6  # keep in step with .command's max-height (rows + 2 for the border) in app.tcss

    def __init__(self, title: str = "command", **kw):
        super().__init__("", markup=False, **kw)
        self.command = ""
        self.border_title = title
        self.border_subtitle = "c copies"
        self.note = "c copies"

    def set_command(self, command: str | None, note: str = "c copies") -> None:
        self.display = bool(command)
        if command != self.command or note != self.note:
            self.command, self.note = command or "", note
            self.update(Text(self.command))
            self._say_hidden()

    def hidden_lines(self, width: int) -> int:
        if width <= 0:
            return 0
        return max(0, len(Text(self.command).wrap(self.app.console, width)) - self.MAX_ROWS)

    def _say_hidden(self) -> None:
        hidden = self.hidden_lines(self.content_region.width)
        self.border_subtitle = f"+{hidden} lines · v shows all · {self.note}" if hidden else self.note

    def on_resize(self) -> None:
        self._say_hidden()


class IntentButton(Button):
    def __init__(self, intent: str, label: str, key: str, variant: str, **kw):
        super().__init__(f"{label} ({key})", variant=variant, compact=True, **kw)  # type: ignore[arg-type]
        self.intent, self.word, self.key = intent, label, key
        self.with_key = True

    def roomy(self, roomy: bool) -> None:
        """With its key when there is room; the key bar names the keys anyway."""
        self.with_key = roomy
        self._relabel()

    def label_as(self, word: str) -> None:
        self.word = word
        self._relabel()

    def _relabel(self) -> None:
        label = f"{self.word} ({self.key})" if self.with_key else self.word
        if str(self.label) != label:
            self.label = label


class StepDetail(Vertical):
    def __init__(self, view: RunView, step_id: str | None, **kw):
        super().__init__(**kw)
        self.view, self.step_id = view, step_id
        self.shown_body: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="info"):
            # what to act on first (at 80x24 the body may need scrolling to), then what the step is about
            yield Label("", id="d-title")
            yield Label("", id="d-status")
            with Horizontal(id="d-commands"):
                yield CommandBox("the real command (practised)", id="d-practised", classes="command")
                yield CommandBox(id="d-command", classes="command")
            yield CheckList(id="d-checks")
            with Horizontal(id="d-countdown"):
                yield Label("", id="d-countdown-label")
                yield Digits("", id="d-digits")
            yield Label("", id="d-question")
            yield DecisionList(id="d-options")
            with Horizontal(id="d-actions"):
                for intent, label, key, variant in BUTTONS:
                    yield IntentButton(intent, label, key, variant, id=f"act-{intent}")
            yield Static("", id="d-body")
        yield OutputArea(id="output")

    def on_mount(self) -> None:
        q = self.query_one  # the parts, found once: show() runs at every move in the step list
        self.w_title, self.w_body, self.w_status = q("#d-title", Label), q("#d-body", Static), q("#d-status", Label)
        self.w_commands = q("#d-commands")
        self.w_practised, self.w_command = q("#d-practised", CommandBox), q("#d-command", CommandBox)
        self.w_checks, self.w_question, self.w_options = q(CheckList), q("#d-question", Label), q(DecisionList)
        self.w_buttons, self.w_actions = list(self.query(IntentButton)), q("#d-actions")
        self.w_countdown, self.w_countdown_label = q("#d-countdown"), q("#d-countdown-label", Label)
        self.w_digits, self.w_info, self.w_output = q("#d-digits", Digits), q("#info"), q(OutputArea)
        self.show(self.step_id)

    # ---- updating ---------------------------------------------------------------------------
    def show(self, step_id: str | None) -> None:
        """Show `step_id` (another step, or the same one after an event). Synchronous, so that a move in the
        step list and the detail it shows reach the terminal in the same frame."""
        moved = step_id != self.step_id
        self.step_id = step_id
        if not step_id or not hasattr(self, "w_title"):
            return
        view = self.view
        step, st, s = view.book.step(step_id), view.state.steps[step_id], view.state
        status = s.status(step_id)
        allowed = view.allowed(step_id)
        self._title(status)
        if moved or self.shown_body is None:
            body = view.text(step.body, step_id) if step.body else ""
            if body != self.shown_body:
                self.shown_body = body
                self.w_body.update(Markdown(body) if body else "")
                self.w_body.display = bool(body)
        practised, command = view.practised(step_id), view.command(step_id)
        self.w_practised.set_command(practised, note="not run in a rehearsal")
        self.w_command.set_command(command, note="stand-in: what runs here · c copies" if practised else "c copies")
        self.w_commands.display = bool(command or practised)
        self.w_status.update(self._status_text(allowed))
        self.w_checks.set_checks(step_id, [view.text(c, step_id) for c in step.checks], st.checks,
                                 enabled=planner.TICK in allowed)
        decide = step.decide
        self.w_question.display = bool(decide)
        chosen = st.decision.get("option") if st.decision else None
        if decide:
            self.w_question.update(Text(view.text(decide.question, step_id), style="bold"))
        self.w_options.set_options_of(
            step_id, [_option_text(view, step_id, o.label, o.goto) for o in decide.options] if decide else [],
            chosen, enabled=planner.DECIDE in allowed)
        repeats = step_id in s.children and step_id not in s.items  # its items act; it may be skipped whole
        for button in self.w_buttons:
            button.display = button.intent in allowed
            if button.intent == planner.SKIP:
                button.label_as("Skip the rest" if repeats else "Skip")
            if button.intent == planner.RERUN:  # the way out of a failure stands out; otherwise it is a detour
                variant = "warning" if status in (status_of.FAILED, status_of.INTERRUPTED) else "default"
                if button.variant != variant:
                    button.variant = variant
        self.w_actions.display = not view.read_only and any(b.display for b in self.w_buttons)
        self.tick()
        sources = () if repeats else view.sources(step_id)  # a repeated step's output is its items'
        height = "100%" if not sources else "60%"  # an inline style: a class change would restyle the tree
        if str(self.w_info.styles.max_height) != height:
            self.w_info.styles.max_height = height
        self.w_output.show(sources)
        if moved:
            self.w_info.scroll_home(animate=False)

    def _title(self, status: str) -> None:
        view, sid = self.view, self.step_id
        assert sid is not None
        step, st = view.book.step(sid), view.state.steps[sid]
        glyph, style = GLYPHS[status]
        title = Text()
        title.append(f"{glyph} ", style=style)
        title.append(view.title(sid), style="bold")
        title.append(f"  {WORDS[status]}", style=style)
        if st.attempt > 1:
            title.append(f" · attempt {st.attempt}", style="dim")
        if step.danger:
            title.append("  DANGER", style="bold red")
        if step.interactive:
            title.append("  interactive", style="bold yellow")
        if step.auto:
            title.append("  runs by itself", style="dim")
        self.w_title.update(title)

    def _status_text(self, allowed: Allowed) -> Text:
        """What the step is doing or waits for, and the keys that act on it now (only what is allowed)."""
        view, sid = self.view, self.step_id
        assert sid is not None
        s, st, step = view.state, view.state.steps[sid], view.book.step(sid)
        status = s.status(sid)
        t = Text()
        if status == status_of.INTERRUPTED:
            t.append("Interrupted: deploytui stopped while this step ran.", style="bold red")
        elif status == status_of.FAILED:
            t.append(f"Failed: {st.error or st.reason or 'marked failed'}", style="bold red")
        elif status == status_of.SKIPPED:
            t.append(f"Skipped: {st.reason or ''}", style="dim")
        elif status == status_of.DONE:
            t.append("Done", style="green")
            if st.reason:
                t.append(f" (marked: {st.reason})", style="dim")
            elif st.exit_code is not None:
                t.append(f" · exit {st.exit_code}", style="dim")
            if step.decide and st.decision:
                t.append(f"\nDecided: {st.decision.get('label')}"
                         + (f" ({st.decision['reason']})" if st.decision.get("reason") else ""))
        elif status == status_of.RUNNING:
            t.append("Running…", style="bold cyan")
        elif sid in s.children and sid not in s.items:
            t.append(self._items_text(), style="dim" if status in (status_of.DONE, status_of.SKIPPED) else "")
        elif status == status_of.ABANDONED:
            t.append("Not on this run's path: a goto led elsewhere", style="dim")
        elif status == status_of.LEFT:
            t.append("Left unfinished: the run went elsewhere while it waited", style="yellow")
        elif planner.RUN in allowed:
            t.append("Ready: r runs it" + (", after you type the environment's name" if allowed.confirm else ""),
                     style="bold")
            if step.interactive:
                t.append(" · it hands the terminal to the command", style="yellow")
        elif status in (status_of.PENDING, status_of.WAITING) and not st.activated and st.gate_deadline and not st.gate_open:
            t.append("Gated: it may start when the timer below runs out", style="yellow")
        elif status == status_of.PENDING and sid not in s.path:
            t.append("Not on this run's path", style="dim")
        elif status == status_of.PENDING and sid not in s.active:
            t.append("Not reached yet", style="dim")
        elif status == status_of.PENDING:
            why = allowed.why_not(planner.RUN) if step.has_command and not view.read_only else None
            t.append(why or "The current step: the driver runs it next", style="yellow")
        elif status in (status_of.NEEDS_YOU, status_of.WAITING):
            left = [b for b in s.blockers(sid, lambda template: view.text(template, sid))
                    if not b.startswith("check: ")]
            unticked = st.checks.count(False) if not step.decide else 0
            if unticked:  # the checks are listed below: count them here
                left.append("1 check" if unticked == 1 else f"{unticked} checks")
            if left:
                t.append("Waiting for: " + "; ".join(left), style="magenta" if status == status_of.NEEDS_YOU else "yellow")
        keys = self._keys(allowed, step)
        if keys and not view.read_only:
            t.append("\n" + keys, style="dim")
        return t

    def _items_text(self) -> str:
        """A repeated or recurring step: how far its items have come."""
        s, sid = self.view.state, self.step_id
        assert sid is not None
        step, kids = self.view.book.step(sid), s.children[sid]
        settled = sum(s.status(k) in (status_of.DONE, status_of.SKIPPED) for k in kids)
        if s.steps[sid].recurring or step.every is not None:
            return f"Every {step.every}: {len(kids)} so far" + (f", until {step.until}" if step.until else "")
        return f"Once for each item: {settled} of {len(kids)} done" + (
            f", {step.parallel} at a time" if step.parallel > 1 else "")

    def _keys(self, allowed: Allowed, step) -> str:
        """The keys that act on this step now, as the engine allows them."""
        out = []
        if planner.ANSWER in allowed:
            out.append(f"Enter answers: a value for {step.ask}")
        if planner.DECIDE in allowed:
            n = len(step.decide.options) if not step.checks else 0
            out.append(f"1-{min(n, 9)} or Enter decides (or click an option)" if n > 1 else
                       "Enter decides (or click an option)")
        if planner.TICK in allowed and step.checks:
            n = len(step.checks)
            out.append("1 ticks" if n == 1 else f"1-{min(n, 9)} tick")
            if n > 9:
                out[-1] += " · Tab to the checks, ↑↓ and space for any of them"
        return " · ".join(out)

    def tick(self) -> None:
        """Once a second (and after each change): the countdown."""
        if not self.step_id or not hasattr(self, "w_countdown"):
            return
        timer = countdown(self.view, self.step_id)
        self.w_countdown.display = timer is not None
        if timer:
            self.w_countdown_label.update(timer[0])
            self.w_digits.update(clock_text(timer[1] - self.view.clock.now()))

    def on_resize(self) -> None:
        for button in getattr(self, "w_buttons", []):
            button.roomy(self.size.width >= ROOMY)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if isinstance(event.button, IntentButton) and self.step_id:
            event.stop()
            self.post_message(Intent(event.button.intent, self.step_id))

    @property
    def output(self) -> OutputArea:
        area = getattr(self, "w_output", None)  # None until mounted
        if area is None:
            raise NoMatches("the step's output area is not mounted yet")
        return area


def _option_text(view: RunView, step_id: str, label: str, goto: str | None) -> str:
    """An option as a person reads it: where it leads by that place's title (never a step id), unless the
    label already says it ("Roll back" to the section "Roll back")."""
    shown = view.text(label, step_id)
    if not goto:
        return shown
    section = view.book.section(goto)
    where = view.text(section.title if section else view.book.step(goto).title, step_id)
    return shown if where.casefold() in shown.casefold() else f"{shown} → {where}"
