"""Headless mode: run what needs no person (`auto` steps, timers), answer the rest from an answers file,
print progress lines, and stop at the first step that needs a person.

Exit codes: 0 finished, 1 a step failed, 3 a person is needed, 4 the deploy window's deadline passed."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import UserError
from ..events import kinds as ev
from ..events.describe import describe
from ..events.state import FAILED, NEEDS_YOU, PENDING, RUNNING, WAITING
from .run import Run

EXIT_OK, EXIT_FAILED, EXIT_NEEDS_PERSON, EXIT_DEADLINE = 0, 1, 3, 4
ANSWER_KEYS = {"run", "tick", "decide", "skip", "override", "vars", "end_pane", "reasons"}


@dataclass
class Answers:
    run: set[str] = field(default_factory=set)  # steps a person would press run on ("*": all)
    tick: set[str] = field(default_factory=set)  # steps whose checks are all ticked ("*": all)
    decide: dict[str, str] = field(default_factory=dict)  # step -> option label
    reasons: dict[str, str] = field(default_factory=dict)  # step -> reason for its decision
    skip: dict[str, str] = field(default_factory=dict)  # step -> reason
    override: dict[str, str] = field(default_factory=dict)  # schedule|deadline|gate|gate.STEP -> reason
    end_pane: dict[str, str] = field(default_factory=dict)  # step -> reason (end its `until` panes)
    vars: dict[str, str] = field(default_factory=dict)

    def may_run(self, step: str) -> bool:
        return "*" in self.run or step in self.run

    def may_tick(self, step: str) -> bool:
        return "*" in self.tick or step in self.tick


def load_answers(path: str | Path | None) -> Answers:
    if path is None:
        return Answers()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such answers file", 2) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a TOML answers file: {e}", 2) from None
    unknown = set(data) - ANSWER_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key {sorted(unknown)[0]!r} (answers take: {', '.join(sorted(ANSWER_KEYS))})",
                        2)

    def ids(key: str) -> set[str]:
        value = data.get(key, [])
        if value is True or value == "*":
            return {"*"}
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise UserError(f"{path}: {key}: give a list of step ids, or \"*\"", 2)
        return set(value)

    def table(key: str) -> dict[str, str]:
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise UserError(f"{path}: [{key}]: give step-id = \"text\" pairs", 2)
        return dict(value)

    return Answers(ids("run"), ids("tick"), table("decide"), table("reasons"), table("skip"), table("override"),
                   table("end_pane"), {k: str(v) for k, v in table("vars").items()})


class Printer:
    """Prints progress for a person or a CI log. A reader that went away (`| head`) or a closed terminal
    stops the printing, never the run: what runs and what is recorded do not depend on who is watching."""

    def __init__(self, echo: Callable[[str], None]):
        self._echo = echo
        self.gone = False

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        try:
            self._echo(line)
        except (BrokenPipeError, OSError, ValueError):  # ValueError: a closed stream
            self.gone = True


def progress_printer(run: Run, echo: Callable[[str], None], show_output: bool = True) -> Printer:
    """Subscribe `echo` to the run: one line per event (in the words of `events.describe`), and the commands'
    output. Returns the printer, whose `gone` says the reader left."""
    printer = echo if isinstance(echo, Printer) else Printer(echo)

    def on_event(e: ev.Event) -> None:
        if e.kind in QUIET:
            return
        printer(f"{datetime.fromtimestamp(e.ts).strftime('%H:%M:%S')} {describe(e, run.text_of_step).text}")

    def on_output(step: str, attempt: int, stream: str, text: str) -> None:
        if stream == "main":
            printer(text.rstrip("\n"))

    run.subscribe(on_event, on_output if show_output else None)
    return printer


QUIET = {ev.PROCESS_STARTED}  # bookkeeping a person watching a CI log need not read


def drive(run: Run, answers: Answers, echo: Callable[[str], None], *, sleep: Callable[[float], None] = time.sleep,
          max_seconds: float | None = None) -> int:
    """Drive the run as far as it goes without a person; returns the exit code."""
    echo = echo if isinstance(echo, Printer) else Printer(echo)
    started = time.monotonic()
    book = run.book
    while True:
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            echo("stopped: headless time limit reached")
            return EXIT_NEEDS_PERSON
        run.poll()
        s = run.state
        if s.outcome:
            section = f" ({run.state.entered[-1]})" if run.state.entered else ""
            echo(f"run {run.run_id} finished: {s.outcome}{section}")
            return EXIT_OK if s.outcome != "aborted" else EXIT_FAILED
        if s.schedule and s.schedule.get("needs_override") and "schedule" not in s.overrides:
            if "schedule" in answers.override:
                run.override("schedule", answers.override["schedule"])
                continue
            echo("needs a person: the schedule guard says " + "; ".join(s.schedule["problems"])
                 + " (answer [override] schedule = \"reason\")")
            return EXIT_NEEDS_PERSON
        if run.deadline_blocks():
            if "deadline" in answers.override:
                run.override("deadline", answers.override["deadline"])
                continue
            echo("stopped: the deploy window's deadline has passed; a person must decide to go on or stop")
            return EXIT_DEADLINE
        if s.lock_lost:
            echo(f"stopped: this run's lock was taken by {s.lock_lost}")
            return EXIT_FAILED
        cur = s.current
        if cur is None:  # the end of the path: the next poll finishes the run
            continue
        step, st = book.step(cur), s.steps[cur]
        status = s.status(cur)
        if cur in answers.skip and st.final is None and not st.command_running:
            run.skip(cur, answers.skip[cur])
            continue
        if status == RUNNING:
            run.wait_idle(timeout=0.2)
            continue
        if status == FAILED:
            echo(f"stopped: step '{cur}' failed: {st.error or 'marked failed'}")
            return EXIT_FAILED
        if status == "interrupted":
            echo(f"needs a person: step '{cur}' was interrupted; re-run it or mark it")
            return EXIT_NEEDS_PERSON
        if status == WAITING or (status == PENDING and st.gate_deadline and not st.gate_open):
            gate_answer = answers.override.get(f"gate.{cur}") or answers.override.get("gate")
            if not st.activated and gate_answer:
                run.override("gate", gate_answer, cur)
                continue
            deadline = st.wait_deadline if st.activated else st.gate_deadline
            sleep(max(0.01, min(0.5, (deadline or 0) - run.clock.now())))
            continue
        if status == PENDING:
            if step.has_command and not step.auto:
                if not answers.may_run(cur):
                    echo(f"needs a person: step '{cur}' ({run.title(step)}) waits for someone to run it")
                    return EXIT_NEEDS_PERSON
                run.run_step(cur, confirm=run.danger_word())
                continue
            sleep(0.05)
            continue
        if status == NEEDS_YOU:
            progressed = False
            if not step.decide and not all(st.checks):
                if not answers.may_tick(cur):
                    echo(f"needs a person: step '{cur}' has checks to confirm")
                    return EXIT_NEEDS_PERSON
                for i, done in enumerate(st.checks):
                    if not done:
                        run.tick(cur, i)
                progressed = True
            elif step.decide and st.decision is None and (not step.has_command or st.command_ok):
                if cur not in answers.decide:
                    echo(f"needs a person: step '{cur}' asks: {run.text(step.decide.question)}")
                    return EXIT_NEEDS_PERSON
                run.decide(cur, answers.decide[cur], answers.reasons.get(cur, ""))
                progressed = True
            elif any(p.until for p in step.panes) and cur in answers.end_pane:
                for k, pane in enumerate(step.panes):
                    if pane.until and k not in st.panes_done:
                        run.end_pane(cur, k, answers.end_pane[cur])
                progressed = True
            if not progressed:
                sleep(0.05)  # panes still watching for their `until` line
            continue
        sleep(0.05)
