"""What the screen shows, apart from where it comes from.

Widgets read a `RunView`: the folded state, the runbook, recent output, a clock, a way to render titles and
commands, and what the engine allows a person to do now. `live_view` wraps a running `Run`; the follower
builds the same view from the journal (read-only: it allows nothing). No Textual here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.clock import Clock
from ..engine.planner import STEP_INTENTS, Allowed
from ..events.state import RunState
from ..runbook import templates
from ..runbook.model import Runbook, Step
from .output import OutputStore

NOTHING = Allowed({i: "this screen only follows the run" for i in STEP_INTENTS})
_NAME = re.compile(r"\{\{-?\s*([A-Za-z_]\w*)")


def journal_loader(journal, run_id: str, state: RunState) -> Callable[[str, str], tuple[list[str], int]]:
    """Fill a stream from the journal: the last lines of the step's current attempt."""

    def load(step: str, stream: str) -> tuple[list[str], int]:
        st = state.steps.get(step)
        if st is None or not st.attempt:
            return [], 0
        return journal.tail(run_id, step, st.attempt, lines=2000, stream=stream)

    return load


@dataclass(frozen=True)
class Source:
    """One output a step's detail shows: a stream of a step (its command's, or a pane's), and the pane whose
    native table may stand in for the lines."""

    title: str
    step: str
    stream: str = "main"
    table: int | None = None
    evidence: bool = False  # another step's output, shown because this step's decision weighs it


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
    allowed_for: Callable[[str], Allowed] | None = None  # the engine's answer; None: nothing is allowed here
    practised_for: Callable[[str], str | None] = lambda step_id: None
    _memo: dict = field(default_factory=dict, repr=False)

    def _remembered(self, key: tuple, make: Callable[[], Any]) -> Any:
        """What a text renders to, until the next event: variables only change with events (a capture, a
        decision), and rendering a template costs a Jinja compile, at every move in the step list."""
        if self._memo.get("seq") != self.state.last_seq:
            self._memo.clear()
            self._memo["seq"] = self.state.last_seq
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def text(self, template: str | None, step: str | None = None) -> str:
        """Any runbook text a person reads, with the run's variables filled in and secrets masked
        (`templates.for_people`: unknown variables show as ‹name›, never as template syntax). `step` gives
        an item of a repeated step its own variable."""
        if not template or "{" not in template:
            return template or ""
        if self.render is not None:
            render = self.render
            return self._remembered(("text", template, step), lambda: render(template, step))
        return self._remembered(("text", template, step), lambda: templates.for_people(
            template, {**self.variables(), **self.state.bindings(step)}))

    def title(self, step_id: str) -> str:
        """A step's title as people read it; an item's says which item it is."""
        return self.state.titled(step_id, self.text(self.book.step(step_id).title, step_id))

    def text_of_step(self, step_id: str) -> str:
        try:
            return self.text(self.book.step(step_id).title)
        except KeyError:
            return step_id

    def command(self, step_id: str) -> str | None:
        return self._remembered(("command", step_id), lambda: self.command_for(step_id))

    def practised(self, step_id: str) -> str | None:
        """In a rehearsal: the real command the stand-in (`command`) practises."""
        return self._remembered(("practised", step_id), lambda: self.practised_for(step_id))

    def allowed(self, step_id: str) -> Allowed:
        if self.read_only or self.allowed_for is None:
            return NOTHING
        return self.allowed_for(step_id)

    def sources(self, step_id: str) -> tuple[Source, ...]:
        """What the step's output area shows: its command's output, its panes, then its evidence."""
        step = self.book.step(step_id)
        own = [Source("Output", step_id)] if step.has_command else []
        own += [Source(self.text(p.title, step_id) or f"pane {k + 1}", step_id, f"pane{k}", table=k)
                for k, p in enumerate(step.panes)]
        for other in evidence(self.book, step_id):
            title = self.title(other.id)
            own.append(Source(title, other.id, evidence=True))
            own += [Source(f"{title}: {self.text(p.title) or f'pane {k + 1}'}", other.id, f"pane{k}", table=k,
                           evidence=True) for k, p in enumerate(other.panes)]
        return tuple(own)


def evidence(book: Runbook, step_id: str) -> list[Step]:
    """The steps whose output a person weighs at a step that asks them something (a decision, checks): the
    steps just before it that ran by themselves (`auto`), and the steps that captured a value its text uses
    ("Review the changelog" shows the step that generated it). Their output is shown beside the step's own."""
    step = book.step(step_id)
    if not (step.decide or step.checks):
        return []
    index = [s.id for s in book.steps].index(step.id)  # an item's evidence is its step's
    found: list[Step] = []
    for before in reversed(book.steps[:index]):
        if not before.auto or before.section != step.section:
            break
        found.insert(0, before)
    used = set(_NAME.findall(_texts(step)))
    for before in book.steps[:index]:
        if before not in found and used & set(before.capture) and before.has_command:
            found.append(before)
    return found


def _texts(step: Step) -> str:
    parts = [step.title, step.body or "", step.run or "", *step.checks, repr(step.with_)]
    if step.decide:
        parts += [step.decide.question, *(o.label for o in step.decide.options)]
    return "\n".join(parts)


def live_view(run, store: OutputStore, usual: dict[str, float] | None = None) -> RunView:
    return RunView(state=run.state, book=run.book, store=store, clock=run.clock, variables=run.variables,
                   command_for=lambda sid: run.resolved_command(run.state.step(sid)), usual=usual or {},
                   render=run.text, allowed_for=run.allowed,
                   practised_for=lambda sid: run.practised_command(run.state.step(sid)))
