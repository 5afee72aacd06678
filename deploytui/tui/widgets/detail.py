"""The selected step: its body, resolved command, checks, countdown, decision and actions, and its
output panes. It re-composes when the step or its shape changes and updates in place otherwise, so
ticking a check does not move the focus."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Digits, Label, Markdown, Static

from ...events.state import (
    ABANDONED,
    DONE,
    FAILED,
    INTERRUPTED,
    NEEDS_YOU,
    PENDING,
    RUNNING,
    SKIPPED,
    WAITING,
)
from ..view import RunView
from .header import clock_text
from .panes import OutputArea
from .steplist import GLYPHS, WORDS


def countdown(view: RunView, step_id: str) -> tuple[str, float] | None:
    """(what, deadline) when the step shows a timer: its `wait`, or its `not_before` gate."""
    st, s = view.state.steps[step_id], view.state
    status = s.status(step_id)
    if status == WAITING and st.activated and st.wait_deadline and not st.wait_expired:
        return "Wait ends in", st.wait_deadline
    if st.gate_deadline and not st.gate_open and not st.activated and st.final is None:
        return "Gate opens in", st.gate_deadline
    if st.recurring and st.final is None and st.next_due and status == WAITING:
        return f"#{st.occurrences + 1} due in", st.next_due
    return None


class CommandBox(Static):
    """The step's command as it will run. When the box cannot show all of it, its border says how many lines
    are hidden and that `v` shows the whole (a `--quiet` at the end of a long command must not go unseen)."""

    MAX_ROWS = 6  # keep in step with #d-command's max-height (rows + 2 for the border) in app.tcss

    def __init__(self, command: str, **kw):
        super().__init__(Text(command), markup=False, **kw)
        self.command = command
        self.border_title = "command"
        self.border_subtitle = "c copies"

    def hidden_lines(self, width: int) -> int:
        if width <= 0:
            return 0
        return max(0, len(Text(self.command).wrap(self.app.console, width)) - self.MAX_ROWS)

    def on_resize(self) -> None:
        hidden = self.hidden_lines(self.content_region.width)
        self.border_subtitle = f"+{hidden} lines · v shows all · c copies" if hidden else "c copies"


class StepDetail(Vertical):
    def __init__(self, view: RunView, step_id: str | None, **kw):
        super().__init__(**kw)
        self.view, self.step_id = view, step_id
        self.shape: tuple = ()

    # ---- building ---------------------------------------------------------------------------
    def _shape(self) -> tuple:
        if not self.step_id:
            return ()
        s, st = self.view.state, self.view.state.steps[self.step_id]
        return (self.step_id, s.status(self.step_id), self.step_id in s.active, st.attempt,
                st.decision is not None, countdown(self.view, self.step_id) is not None, bool(s.outcome),
                st.error)

    def compose(self) -> ComposeResult:
        self.shape = self._shape()
        self._output_area: OutputArea | None = None
        if not self.step_id:
            yield Label("No step selected.")
            return
        view, sid = self.view, self.step_id
        step, st, s = view.book.step(sid), view.state.steps[sid], view.state
        status = s.status(sid)
        with VerticalScroll(id="info"):
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
            yield Label(title, id="d-title")
            if step.body:
                yield Markdown(view.text(step.body, sid), id="d-body")
            command = view.command(sid)
            if command:
                yield CommandBox(command, id="d-command")
            yield Label(self._status_text(), id="d-status")
            for i, label in enumerate(step.checks):
                yield Checkbox(f"{i + 1}. {view.text(label, sid)}", st.checks[i] if i < len(st.checks) else False,
                               id=f"chk-{i}", disabled=view.read_only or st.final is not None)
            timer = countdown(view, sid)
            if timer:
                with Horizontal(id="d-countdown"):
                    yield Label(timer[0], id="d-countdown-label")
                    yield Digits(clock_text(timer[1] - view.clock.now()), id="d-digits")
            if step.decide:
                yield Label(Text(view.text(step.decide.question, sid), style="bold"), id="d-question")
                with Horizontal(id="d-options"):
                    for i, opt in enumerate(step.decide.options):
                        chosen = st.decision is not None and st.decision.get("option") == i
                        label = view.text(opt.label, sid) + (f" → {opt.goto}" if opt.goto else "")
                        yield Button(Text(("✓ " if chosen else "") + label), id=f"opt-{i}", compact=True,
                                     variant="primary" if chosen else "default",
                                     disabled=view.read_only or st.decision is not None
                                     or not (st.activated and sid in s.active))
            if not view.read_only and not s.outcome:
                with Horizontal(id="d-actions"):
                    yield from self._buttons(status)
        if (step.has_command or step.panes) and sid not in s.children:
            titles = [view.text(p.title, sid) if p.title else f"pane {k + 1}" for k, p in enumerate(step.panes)]
            self._output_area = OutputArea(sid, step.has_command or step.interactive, titles, id="output")
            yield self._output_area

    def _buttons(self, status: str):
        step, s = self.view.book.step(self.step_id), self.view.state
        current = self.step_id in s.active
        st = s.steps[self.step_id]
        if self.step_id in s.children:  # a repeated or recurring step: its items act; it may be skipped whole
            if status not in (DONE, SKIPPED, ABANDONED):
                yield Button("Skip the rest (s)", id="act-skip", compact=True)
            return
        if step.ask and current and st.activated and not st.answered and st.final is None:
            yield Button("Answer (Enter)", id="act-answer", variant="success", compact=True)
        if status in (INTERRUPTED, FAILED):
            yield Button("Re-run (R)", id="act-rerun", variant="warning", compact=True)
            yield Button("Mark done (d)", id="act-done", compact=True)
            yield Button("Mark failed (f)", id="act-failed", compact=True)
        elif current and step.has_command and status == PENDING and not st.gate_deadline or \
                current and step.has_command and status == PENDING and st.gate_open:
            yield Button("Run (r)", id="act-run", variant="error" if step.danger else "success", compact=True)
        elif status == DONE and step.has_command:
            yield Button("Re-run (R)", id="act-rerun", compact=True)
        if status == WAITING and not st.activated:
            yield Button("Override gate (o)", id="act-gate", variant="warning", compact=True)
        if status not in (DONE, SKIPPED):
            yield Button("Skip (s)", id="act-skip", compact=True)

    def _status_text(self) -> Text:
        view, sid = self.view, self.step_id
        s, st, step = view.state, view.state.steps[sid], view.book.step(sid)
        status = s.status(sid)
        t = Text()
        if status == INTERRUPTED:
            t.append("Interrupted: deploytui stopped while this step ran. ", style="bold red")
            t.append("Re-run it (R), or mark it done (d) or failed (f) with a reason.")
        elif status == FAILED:
            t.append(f"Failed: {st.error or st.reason or 'marked failed'}", style="bold red")
            t.append("  Re-run (R), mark done (d), or skip (s).", style="dim")
        elif status == SKIPPED:
            t.append(f"Skipped: {st.reason or ''}", style="dim")
        elif status == DONE:
            t.append("Done", style="green")
            if st.reason:
                t.append(f" (marked: {st.reason})", style="dim")
            elif st.exit_code is not None:
                t.append(f" · exit {st.exit_code}", style="dim")
        elif status == RUNNING:
            t.append("Running…", style="bold cyan")
        elif sid in s.children:
            t.append(self._items_text(), style="dim" if status in (DONE, SKIPPED) else "")
        elif status == ABANDONED:
            t.append("Not on this run's path: a goto led elsewhere", style="dim")
        elif status == PENDING and sid in s.active and not s.outcome:
            if st.gate_deadline and not st.gate_open:
                t.append("Gated: the timer below must run out (or override it with o).", style="yellow")
            elif step.has_command:
                t.append("Ready: press r to run" + (" (asks you to type the environment name)"
                                                    if step.danger else ""), style="bold")
                if step.interactive:
                    t.append(" · hands the terminal to the command", style="yellow")
        elif status == PENDING and sid not in s.path:
            t.append("Not on this run's path", style="dim")
        elif status == PENDING:
            t.append("Not reached yet", style="dim")
        elif status == WAITING and not st.activated:
            t.append("Gated: it may run when the timer below runs out (or override it with o).", style="yellow")
        elif status in (NEEDS_YOU, WAITING):
            left = s.blockers(sid, lambda template: view.text(template, sid))
            if left:
                t.append("Waiting for: " + "; ".join(left), style="magenta" if status == NEEDS_YOU else "yellow")
        if status == DONE and step.decide and st.decision:
            t.append(f"\nDecided: {st.decision.get('label')}" + (f" ({st.decision['reason']})"
                                                                 if st.decision.get("reason") else ""))
        return t

    def _items_text(self) -> str:
        """A repeated or recurring step: how far its items have come."""
        s, sid = self.view.state, self.step_id
        step, kids = self.view.book.step(sid), s.children[sid]
        settled = sum(s.status(k) in (DONE, SKIPPED) for k in kids)
        if s.steps[sid].recurring or step.every is not None:
            return f"Every {step.every}: {len(kids)} so far" + (f", until {step.until}" if step.until else "")
        return f"Once for each item: {settled} of {len(kids)} done" + (
            f", {step.parallel} at a time" if step.parallel > 1 else "")

    # ---- updating ---------------------------------------------------------------------------
    def show(self, step_id: str | None) -> None:
        if step_id != self.step_id or self._shape() != self.shape:
            self.step_id = step_id
            self.shape = self._shape()
            self.refresh(recompose=True)
            return
        self.update_in_place()

    def update_in_place(self) -> None:
        if not self.step_id:
            return
        st = self.view.state.steps[self.step_id]
        for i, value in enumerate(st.checks):
            for box in self.query(f"#chk-{i}").results(Checkbox):
                if box.value != value:
                    with box.prevent(Checkbox.Changed):
                        box.value = value
        for label in self.query("#d-status").results(Label):
            label.update(self._status_text())
        self.tick()

    def tick(self) -> None:
        """Once a second: the countdown."""
        if not self.step_id:
            return
        timer = countdown(self.view, self.step_id)
        for digits in self.query("#d-digits").results(Digits):
            if timer:
                digits.update(clock_text(timer[1] - self.view.clock.now()))

    @property
    def output(self) -> OutputArea | None:
        """The output area on screen (kept from compose: the app asks 15 times a second)."""
        area = getattr(self, "_output_area", None)  # None until the first compose
        return area if area is not None and area.is_attached else None
