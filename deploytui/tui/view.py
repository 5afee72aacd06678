"""What the screen shows, apart from where it comes from.

Widgets read a `RunView`: the folded state, the runbook, recent output, a clock and a way to render
titles and commands. `LiveView` wraps a running `Run`; a read-only follower can build the same view
from the journal (fold the events, `OutputStore(loader=journal_loader(...))`). No Textual here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.clock import Clock
from ..events.state import RunState
from ..runbook import templates
from ..runbook.model import Runbook
from .output import OutputStore


def journal_loader(journal, run_id: str, state: RunState) -> Callable[[str, str], tuple[list[str], int]]:
    """Fill a stream from the journal: the last lines of the step's current attempt."""

    def load(step: str, stream: str) -> tuple[list[str], int]:
        st = state.steps.get(step)
        if st is None or not st.attempt:
            return [], 0
        return journal.tail(run_id, step, st.attempt, lines=2000, stream=stream)

    return load


@dataclass
class RunView:
    state: RunState
    book: Runbook
    store: OutputStore
    clock: Clock
    variables: Callable[[], dict] = dict
    command_for: Callable[[str], str | None] = lambda step_id: None
    read_only: bool = False
    usual: dict[str, float] = field(default_factory=dict)
    render: Callable[..., str] | None = None  # the run's own renderer (template, step): it knows the secrets

    def text(self, template: str | None, step: str | None = None) -> str:
        """Any runbook text a person reads, with the run's variables filled in and secrets masked
        (`templates.for_people`: unknown variables show as ‹name›, never as template syntax). `step` gives
        an item of a repeated step its own variable."""
        if self.render is not None:
            return self.render(template, step)
        return templates.for_people(template, {**self.variables(), **self.state.bindings(step)})

    def title(self, step_id: str) -> str:
        """A step's title as people read it; an item's says which item it is."""
        return self.state.titled(step_id, self.text(self.book.step(step_id).title, step_id))

    def text_of_step(self, step_id: str) -> str:
        try:
            return self.text(self.book.step(step_id).title)
        except KeyError:
            return step_id

    def command(self, step_id: str) -> str | None:
        return self.command_for(step_id)


def live_view(run, store: OutputStore, usual: dict[str, float] | None = None) -> RunView:
    return RunView(state=run.state, book=run.book, store=store, clock=run.clock, variables=run.variables,
                   command_for=lambda sid: run.resolved_command(run.state.step(sid)), usual=usual or {},
                   render=run.text)
