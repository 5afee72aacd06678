"""Dialogs that return values: a reason, a typed confirmation, yes/no, a choice. Escape cancels."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.button import ButtonVariant
from textual.widgets.option_list import Option


class Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class EntryDialog(Dialog):
    """A line of text to give, checked before the dialog closes with it: a reason, a typed name.
    Subclasses set what it says and `problem(text)`, the inline error for text that will not do."""

    classes_ = "dialog"
    ok_label, cancel_label, cancel_id = "OK", "Cancel (Esc)", "cancel"
    ok_variant: ButtonVariant = "primary"
    input_id, placeholder = "reason", "why"

    def __init__(self, title: str, lines: list[str]):
        super().__init__()
        self.title_text, self.lines = title, lines

    def compose(self) -> ComposeResult:
        with Vertical(classes=self.classes_):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # a step title: text, not markup
            for line in self.lines:
                yield Label(line)
            yield Input(placeholder=self.placeholder, id=self.input_id)
            yield Label("", id="error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.ok_label, id="ok", variant=self.ok_variant, compact=True)
                yield Button(self.cancel_label, id=self.cancel_id, compact=True)

    def problem(self, text: str) -> str | None:
        return None

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        text = self.query_one(f"#{self.input_id}", Input).value.strip()
        why = self.problem(text)
        if why:
            self.query_one("#error", Label).update(why)
            return
        self.dismiss(text)


class ReasonDialog(EntryDialog):
    """Ask for a line of text. `required`: empty is refused with an inline error."""

    def __init__(self, title: str, prompt: str = "Reason (goes into the journal):", required: bool = True,
                 placeholder: str = "why"):
        super().__init__(title, [prompt])
        self.required, self.placeholder = required, placeholder

    def problem(self, text: str) -> str | None:
        return "A reason is needed: it goes into the record." if self.required and not text else None


class AnswerDialog(EntryDialog):
    """A prompt step's question: the value is checked as the start form checks it (choices, pattern)."""

    ok_label, placeholder, input_id = "Answer", "value", "answer"

    def __init__(self, title: str, name: str, spec, prompt: str):
        lines = [prompt] + ([spec.description] if spec.description else []) + (
            [f"One of: {', '.join(spec.choices)}"] if spec.choices else [])
        super().__init__(title, lines)
        self.var, self.spec = name, spec
        self.placeholder = spec.pattern or "value"

    def on_mount(self) -> None:
        box = self.query_one(f"#{self.input_id}", Input)
        box.password = self.spec.secret
        box.focus()

    def problem(self, text: str) -> str | None:
        from ...runbook.variables import problem

        if not text:
            return "A value is needed."
        return problem(self.var, self.spec, text)


class DangerDialog(EntryDialog):
    """A `danger` step: the whole command as it will run, then type the environment's name to run it."""

    classes_ = "dialog danger"
    ok_label, input_id = "Run", "confirm"
    ok_variant: ButtonVariant = "error"

    def __init__(self, step_title: str, expected: str, command: str | None = None):
        super().__init__(f"DANGER: {step_title}", [f"Type [b]{expected}[/b] to run it."])
        self.expected = self.placeholder = expected
        self.command = command

    def compose(self) -> ComposeResult:
        if not self.command:
            yield from super().compose()
            return
        from rich.text import Text
        from textual.containers import VerticalScroll
        from textual.widgets import Static

        with Vertical(classes=self.classes_):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # a step title: text, not markup
            yield Label("This runs, exactly:")
            with VerticalScroll(classes="danger-command"):
                yield Static(Text(self.command), id="danger-command", markup=False)
            for line in self.lines:
                yield Label(line)
            yield Input(placeholder=self.placeholder, id=self.input_id)
            yield Label("", id="error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.ok_label, id="ok", variant=self.ok_variant, compact=True)
                yield Button(self.cancel_label, id=self.cancel_id, compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#{self.input_id}", Input).focus()

    def problem(self, text: str) -> str | None:
        return None if text == self.expected else f"That is not {self.expected!r}; nothing ran."


class ConfirmDialog(Dialog):
    BINDINGS = [Binding("y", "yes", "Yes"), Binding("n", "cancel", "No")]

    def __init__(self, title: str, text: str, yes: str = "Yes"):
        super().__init__()
        self.title_text, self.text, self.yes = title, text, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # a step title: text, not markup
            yield Label(self.text, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_yes(self) -> None:
        self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True if event.button.id == "yes" else None)


class StopDialog(Dialog):
    """Stop a running command (to skip or mark its step)? Keys typed for the command's prompt must not say
    yes: there are no letter shortcuts, "Keep it running" has the focus, and Enter keeps it running."""

    def __init__(self, title: str, text: str, yes: str):
        super().__init__()
        self.title_text, self.text, self.yes = title, text, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog warning"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # a step title: text, not markup
            yield Label(self.text, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep it running", id="keep", variant="primary", compact=True)
                yield Button(self.yes, id="stop", variant="error", compact=True)
            yield Label("Tab to the other button and Enter, or click it; Esc keeps it running.", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True if event.button.id == "stop" else None)


class TextDialog(Dialog):
    """A long text to read whole (a command the box shows only in part), scrollable."""

    BINDINGS = [Binding("escape,enter,v", "cancel", "Close")]
    HINT = "Enter or Esc closes; c copies it."

    def __init__(self, title: str, text: str):
        super().__init__()
        self.title_text, self.text = title, text

    def body(self) -> RenderableType:
        from rich.text import Text

        return Text(self.text)

    def compose(self) -> ComposeResult:
        from textual.containers import VerticalScroll
        from textual.widgets import Static

        with Vertical(classes="dialog diff"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # a step title: text, not markup
            with VerticalScroll(classes="diff-body"):
                yield Static(self.body(), id="text", markup=False)
            yield Label(self.HINT, classes="hint")


class ChoiceDialog(Dialog):
    """Pick one of `options` (labels); returns its index."""

    def __init__(self, title: str, options: list[str]):
        super().__init__()
        self.title_text, self.options = title, options

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # a step title: text, not markup
            yield OptionList(*[Option(f"{i + 1}. {o}", id=str(i)) for i, o in enumerate(self.options)],
                             id="choices")
            yield Label("Enter chooses, Esc cancels", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_index)

    def on_key(self, event) -> None:
        if event.character and event.character.isdigit() and 0 < int(event.character) <= len(self.options):
            event.stop()
            self.dismiss(int(event.character) - 1)


class DiffDialog(TextDialog):
    """The runbook changed since the run started: show what changed before the operator goes on."""

    HINT = "The run goes on with the file as it is now. Enter or Esc closes."

    def body(self) -> RenderableType:
        from rich.syntax import Syntax

        return Syntax(self.text, "diff", theme="ansi_dark", word_wrap=True)


class SearchBar(Horizontal):
    """`/`: a search of the output on screen. Typing highlights matches; Enter goes to an older match, shift+Enter
    to a newer one; Esc closes it and clears the highlight."""

    DEFAULT_CSS = """
    SearchBar { height: 1; display: none; background: $boost; }
    SearchBar.open { display: block; }
    SearchBar Input { width: 40; border: none; height: 1; padding: 0 1; }
    SearchBar Label { width: 1fr; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "close", "Close", show=False),
                Binding("shift+enter", "newer", "Newer match", show=False)]

    @dataclass
    class Changed(Message):
        pattern: re.Pattern | None
        direction: int = -1
        again: bool = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the output (regex)", id="search-input", compact=True)
        yield Label("", id="search-said")

    def open(self) -> None:
        self.add_class("open")
        self.query_one(Input).focus()

    def say(self, text: str) -> None:
        self.query_one("#search-said", Label).update(text)

    def _pattern(self) -> re.Pattern | None:
        from .run import search_pattern

        return search_pattern(self.query_one(Input).value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self._pattern()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Changed(self._pattern(), -1, again=True))

    def action_newer(self) -> None:
        self.post_message(self.Changed(self._pattern(), 1, again=True))

    def action_close(self) -> None:
        self.remove_class("open")
        self.query_one(Input).value = ""
        self.post_message(self.Changed(None))
        for steps in self.screen.query("#steps"):
            steps.focus()
