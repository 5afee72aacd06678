"""Before the run: the variables form, then the schedule guard's verdict."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select

from ...runbook.model import Runbook
from ...runbook.variables import problem
from .dialogs import EntryDialog


def reflow(text: str) -> str:
    """A TOML description as the screen wraps it: its paragraphs kept, its line breaks not."""
    return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))


class VarsForm(Screen[dict]):
    """One field per variable: prompt, default, choices, inline pattern errors. Dismisses with values."""

    BINDINGS = [Binding("ctrl+s", "submit", "Start the run", priority=True),
                Binding("escape", "quit_app", "Quit")]

    def __init__(self, book: Runbook, values: dict[str, str], banner: list[str] | None = None):
        super().__init__()
        self.book, self.values, self.banner = book, values, banner or []
        asked = book.asked_vars()  # a prompt step asks for these when the run gets there
        self.fields = {n: spec for n, spec in book.vars.items() if n not in asked or n in values}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            # the runbook's own words are text, never markup: "`[fleet]` holds..." must read as written
            yield Label(self.book.runbook.title, classes="form-title", markup=False)
            for line in self.banner:
                yield Label(line, classes="banner", markup=False)
            if self.book.runbook.description:
                yield Label(reflow(self.book.runbook.description), classes="hint", markup=False)
            for name, spec in self.fields.items():
                with Vertical(classes="field"):
                    label = spec.prompt or name
                    yield Label(f"{escape(label)} [dim]({name})[/dim]" if spec.prompt else name,
                                classes="field-label")
                    if spec.description:
                        yield Label(reflow(spec.description), classes="hint", markup=False)
                    value = self.values.get(name)
                    if value is None and spec.default and "{" in spec.default:
                        hint = f"leave empty for {spec.default}"  # a default made of values asked above
                    else:
                        hint = spec.pattern or ""
                    if spec.choices:
                        yield Select([(c, c) for c in spec.choices], value=value if value in spec.choices
                                     else Select.NULL, id=f"var-{name}", allow_blank=value not in spec.choices,
                                     compact=True)
                    else:
                        yield Input(value or "", id=f"var-{name}", password=spec.secret,
                                    placeholder=hint, compact=True)
                    yield Label("", id=f"err-{name}", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start the run (ctrl+s)", id="start", variant="success", compact=True)
                yield Button("Quit (esc)", id="quit", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        firsts = self.query("Input, Select")
        if firsts:
            firsts.first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query("Input, Select"))
        i = inputs.index(event.input) if event.input in inputs else -1
        if 0 <= i < len(inputs) - 1:
            inputs[i + 1].focus()
        else:
            self.action_submit()

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "")[4:]
        if name in self.fields:
            self._check(name, event.value, final=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self.action_submit()
        else:
            self.action_quit_app()

    def _value(self, name: str) -> str:
        widget = self.query_one(f"#var-{name}")
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        assert isinstance(widget, Input)
        return widget.value

    def _check(self, name: str, value: str, final: bool) -> bool:
        err = self.query_one(f"#err-{name}", Label)
        spec = self.book.vars[name]
        if value or spec.default == "":  # an empty default declares the variable optional
            why = problem(name, spec, value)
        else:
            why = "a value is needed" if final else None
        err.update(why or "")
        return why is None

    def action_submit(self) -> None:
        typed = {name: self._value(name) for name in self.fields}
        # an empty field whose default uses fields above it takes that default, now that they have values
        filled = self._defaults({n: v for n, v in typed.items() if v or self.book.vars[n].default == ""})
        values = {n: typed[n] or filled.get(n, "") for n in typed}
        ok = [self._check(name, v, final=True) for name, v in values.items()]
        if all(ok):
            self.dismiss(values)
        else:
            bad = [n for n, good in zip(values, ok) if not good]
            self.query_one(f"#var-{bad[0]}").focus()

    def _defaults(self, typed: dict[str, str]) -> dict[str, str]:
        from ...errors import UserError
        from ...runbook.variables import resolve

        try:
            return resolve(self.book, typed)[0]
        except UserError:  # a typed value that will not do: its field says why
            return {}

    def action_quit_app(self) -> None:
        self.app.exit()


class ScheduleDialog(EntryDialog):
    """The schedule guard's verdict when it needs an override: a reason to go on, or stop."""

    classes_ = "dialog warning"
    ok_label, cancel_label, cancel_id = "Override and go on", "Stop (abort the run)", "stop"
    ok_variant = "warning"
    placeholder = "reason"

    def __init__(self, verdict: dict):
        super().__init__("Schedule guard: " + verdict.get("verdict", "").replace("_", " "),
                         [f"• {p}" for p in verdict.get("problems", [])]
                         + ["To go on anyway, give a reason (it goes into the record):"])
        self.verdict = verdict

    def problem(self, text: str) -> str | None:
        return None if text else "Overriding the schedule needs a reason."
