"""Headless mode: run what needs no person (`auto` steps, timers), answer the rest from an answers file,
print progress lines (or JSON lines, `--progress jsonl`), and stop at the first step that needs a person.

Exit codes (EXIT_MEANINGS says each in words; README "Headless runs" documents them)."""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..events import kinds as ev
from ..events.describe import describe, is_deviation
from ..events.state import FAILED, INTERRUPTED, NEEDS_YOU, PENDING, RUNNING, WAITING
from ..runbook.model import base_id
from . import planner
from .run import Run

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_NEEDS_PERSON, EXIT_DEADLINE, EXIT_BLOCKED = 0, 1, 2, 3, 4, 5
EXIT_MEANINGS = {
    EXIT_OK: "the run finished (succeeded, rolled back as planned, or ended in an on-demand section)",
    EXIT_FAILED: "a step failed, the run was aborted, or its lock was taken",
    EXIT_REFUSED: "deploytui refused to start: a bad runbook, flag, value or answers file, or a locked run",
    EXIT_NEEDS_PERSON: "a person is needed: resume the run on a terminal, or answer it (--answers)",
    EXIT_DEADLINE: "the deploy window's deadline passed: a person decides to go on or stop",
    EXIT_BLOCKED: "the app's pipeline is blocked, or an app that cannot deploy together with it is deploying",
    130: "deploytui was interrupted (Ctrl-C or a signal); the run stays open to resume",
}


def exit_meaning(code: int) -> str:
    return EXIT_MEANINGS.get(code, f"exit code {code}: an unexpected end (see the log)")
ANSWER_KEYS = {"run", "tick", "decide", "skip", "override", "vars", "end_pane", "reasons", "rerun"}


@dataclass
class Answers:
    """What a person would do, for a run without one. Step ids may name a repeated step (`drain`): the
    answer then holds for each of its items (`drain[node-1]`, ...), unless an item has its own."""

    run: set[str] = field(default_factory=set)  # steps a person would press run on ("*": all)
    tick: set[str] = field(default_factory=set)  # steps whose checks are all ticked ("*": all)
    decide: dict[str, str] = field(default_factory=dict)  # step -> option label
    reasons: dict[str, str] = field(default_factory=dict)  # step -> reason for its decision
    skip: dict[str, str] = field(default_factory=dict)  # step -> reason
    override: dict[str, str] = field(default_factory=dict)  # schedule|deadline|gate|gate.STEP -> reason
    end_pane: dict[str, str] = field(default_factory=dict)  # step -> reason (end its `until` panes)
    vars: dict[str, str] = field(default_factory=dict)  # start values, and the answers of prompt steps
    rerun: dict[str, str] = field(default_factory=dict)  # failed or interrupted step -> reason to run it again

    def may_run(self, step: str) -> bool:
        return "*" in self.run or step in self.run or base_id(step) in self.run

    def may_tick(self, step: str) -> bool:
        return "*" in self.tick or step in self.tick or base_id(step) in self.tick

    @staticmethod
    def of(table: dict[str, str], step: str) -> str | None:
        """The answer in `table` for `step`: its own, else its repeated step's."""
        return table.get(step, table.get(base_id(step)))


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
        if key == "vars" and isinstance(value, dict):  # numbers and booleans are values too
            value = {k: v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
                     for k, v in value.items()}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise UserError(f"{path}: [{key}]: give step-id = \"text\" pairs", 2)
        return dict(value)

    return Answers(ids("run"), ids("tick"), table("decide"), table("reasons"), table("skip"), table("override"),
                   table("end_pane"), {k: str(v) for k, v in table("vars").items()}, table("rerun"))


def answers_of(events: list[ev.Event]) -> dict:
    """What the people of a run did, as an answers file (`deploytui answers RUN`): replayed with
    `--headless --answers`, a new run does the same. Values a prompt step was given are kept; the values
    the run started with are not (give them with --var: a rehearsal world's own differ each time)."""
    maps: dict[str, dict[str, str]] = {key: {} for key in ("decide", "reasons", "skip", "override", "end_pane",
                                                          "rerun", "vars")}
    sets: dict[str, set[str]] = {"run": set(), "tick": set()}
    for e in events:
        if not e.by_person:
            continue
        p, sid = e.payload, e.step or ""
        match p:
            case ev.StepStarted() if p.command or p.action:
                sets["run"].add(sid)
            case ev.CheckToggled() if p.checked:
                sets["tick"].add(sid)
            case ev.Decision():
                maps["decide"][sid] = p.label
                if p.reason:
                    maps["reasons"][sid] = p.reason
            case ev.Skipped():
                maps["skip"][sid] = p.reason
            case ev.Override():
                maps["override"]["gate." + sid if p.what == "gate" and sid else p.what] = p.reason
            case ev.PaneEnded():
                maps["end_pane"][sid] = p.reason
            case ev.Rerun():
                maps["rerun"][sid] = p.reason
            case ev.Answered() if not p.secret:
                maps["vars"][p.var] = p.value
    out: dict[str, Any] = {k: v for k, v in maps.items() if v}
    out.update({k: sorted(v) for k, v in sets.items() if v})
    return out


def answers_toml(events: list[ev.Event], run_id: str) -> str:
    import tomli_w

    return f"# answers made from run {run_id}: deploytui run RUNBOOK --headless --answers THIS_FILE\n" + \
        tomli_w.dumps(answers_of(events))


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
        e = unspoiled(e)
        printer(f"{datetime.fromtimestamp(e.ts).strftime('%H:%M:%S')} {describe(e, run.text_of_step).text}")

    def on_output(step: str, attempt: int, stream: str, text: str) -> None:
        if stream == "main":
            printer(text.rstrip("\n"))

    run.subscribe_from_start(on_event, on_output if show_output else None)
    return printer


def jsonl_printer(run: Run, echo: Callable[[str], None], show_output: bool = True) -> Printer:
    """`--progress jsonl`: one JSON object per line for CI logs and scripts (fields in README "Headless
    runs"). Every event (its data as journaled: secrets already masked), output lines, the driver's words,
    and last `{"type": "exit", ...}` (see `exit_line`)."""
    printer = echo if isinstance(echo, Printer) else Printer(echo)

    def on_event(e: ev.Event) -> None:
        e = unspoiled(e)
        said = describe(e, run.text_of_step)
        printer(_json_line({"type": "event", "run": run.run_id, "seq": e.seq, "ts": e.ts, "kind": e.kind,
                            "step": e.step, "actor": e.actor, "by_person": e.by_person, "text": said.text,
                            "tone": said.tone, "deviation": is_deviation(e), "data": e.data}))

    def on_output(step: str, attempt: int, stream: str, text: str) -> None:
        for line in text.splitlines():
            printer(_json_line({"type": "output", "run": run.run_id, "step": step, "attempt": attempt,
                                "stream": stream, "line": line}))

    run.subscribe_from_start(on_event, on_output if show_output else None)
    return Printer(lambda line: printer(driver_line(line, run.run_id)))


def driver_line(text: str, run_id: str) -> str:
    """What the driver says (why it stopped, a rehearsal's banner), as a JSON line."""
    return _json_line({"type": "driver", "run": run_id, "text": text})


def unspoiled(e: ev.Event) -> ev.Event:
    """The event as whoever practises may see it while the run goes on: which faults a rehearsal injected is
    for the record, afterwards."""
    if e.kind == ev.RUN_STARTED and e.data.get("faults"):
        return ev.Event(e.seq, e.ts, e.kind, e.step, e.actor, {**e.data, "faults": []})
    return e


def exit_line(code: int, run_id: str | None) -> str:
    """The last JSON line of a headless run: how it ended, in a code and in words."""
    return _json_line({"type": "exit", "run": run_id, "code": code, "meaning": exit_meaning(code)})


def _json_line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))


QUIET = {ev.PROCESS_STARTED}  # bookkeeping a person watching a CI log need not read


def drive(run: Run, answers: Answers, echo: Callable[[str], None], *, sleep: Callable[[float], None] = time.sleep,
          max_seconds: float | None = None) -> int:
    """Drive the run as far as it goes without a person; returns the exit code. Every step that may act now
    (the current one, items side by side, occurrences of recurring steps) is answered in turn; the driver
    stops for a person only once nothing else can move."""
    echo = echo if isinstance(echo, Printer) else Printer(echo)
    started = time.monotonic()
    reran: set[str] = set()  # each answered re-run happens once per invocation: a step that fails again stops
    while True:
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            echo("stopped: headless time limit reached")
            return EXIT_NEEDS_PERSON
        run.poll()
        s = run.state
        if s.outcome:
            ended_in = s.outcome == "completed_on_demand" and s.path  # the section the run ended in
            section = f" ({run.book.step(s.path[-1]).section})" if ended_in else ""
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
        active = s.active
        if any(planner.held(s, sid) for sid in active):
            if "hold" in answers.override:
                run.override("hold", answers.override["hold"])
                continue
            echo(f"needs a person: {s.info.get('app')} is not trusted to deploy by itself: a person takes it into "
                 f"{s.info.get('hold')} (resume the run, or answer [override] hold = \"reason\")")
            return EXIT_NEEDS_PERSON
        if not active:  # the end of the path (the next poll finishes the run), or a recurrence's next one
            if s.current is None and not s.recurring_open() and not run.executor.busy():
                continue
            sleep(0.05)
            continue
        stops, busy = [], False
        progressed = False
        for sid in active:  # each active step gets its turn, the occurrences beside the path too
            if run.state.outcome:
                break
            if sid not in run.state.active:
                continue  # an answer to an earlier one moved it on
            verdict = _answer(run, sid, answers, reran, sleep)
            if verdict is True:
                progressed = True
                continue
            if verdict is None:
                busy = True
            elif isinstance(verdict, tuple):
                stops.append(verdict)
        if progressed:
            continue
        if stops and not busy:
            code, line = stops[0]
            echo(line)
            return code
        sleep(0.05)


def _answer(run: Run, sid: str, answers: Answers, reran: set[str], sleep) -> bool | None | tuple[int, str]:
    """Act on one active step as the answers say: True when something was done, None while it waits for
    time or a command, (exit code, line) when it needs what the answers do not give."""
    s = run.state
    step, st = s.step(sid), s.steps[sid]
    status = s.status(sid)
    skip = Answers.of(answers.skip, sid)
    if skip is not None and st.final is None and not st.command_running:
        run.skip(sid, skip)
        return True
    if status == RUNNING:
        run.wait_idle(timeout=0.2)
        return None
    if status in (FAILED, INTERRUPTED):
        reason = Answers.of(answers.rerun, sid)
        if reason is not None and sid not in reran and sid not in run.executor.busy():
            reran.add(sid)
            run.rerun(sid, reason, confirm=run.danger_word())
            return True
        if status == FAILED:
            return EXIT_FAILED, f"stopped: step '{sid}' failed: {st.error or 'marked failed'}" + (
                "" if reason is None else " (again, after the answered re-run)")
        return EXIT_NEEDS_PERSON, f"needs a person: step '{sid}' was interrupted; re-run it or mark it " \
                                  "(answer [rerun] " + f"\"{sid}\" = \"reason\")"
    if status == WAITING or (status == PENDING and st.gate_deadline and not st.gate_open):
        gate_answer = answers.override.get(f"gate.{sid}") or answers.override.get(f"gate.{base_id(sid)}") \
            or answers.override.get("gate")
        if not st.activated and st.gate_deadline and gate_answer:
            run.override("gate", gate_answer, sid)
            return True
        deadline = st.wait_deadline if st.activated else st.gate_deadline
        sleep(max(0.01, min(0.5, (deadline or 0) - run.clock.now())))
        return None
    if status == PENDING:
        if step.has_command and not step.auto:
            if not answers.may_run(sid):
                return EXIT_NEEDS_PERSON, f"needs a person: step '{sid}' ({run.title(step)}) waits for someone to run it"
            run.run_step(sid, confirm=run.danger_word())
            return True
        return None
    if status == NEEDS_YOU:
        if step.ask and not st.answered:
            value = answers.vars.get(step.ask, s.vars.get(step.ask))
            if value is None:
                return EXIT_NEEDS_PERSON, f"needs a person: step '{sid}' asks for {step.ask} (answer [vars] " \
                                          f"{step.ask} = \"value\")"
            run.answer(sid, str(value))
            return True
        if not step.decide and not all(st.checks):
            if not answers.may_tick(sid):
                return EXIT_NEEDS_PERSON, f"needs a person: step '{sid}' has checks to confirm"
            for i, done in enumerate(st.checks):
                if not done:
                    run.tick(sid, i)
            return True
        if step.decide and st.decision is None and (not step.has_command or st.command_ok):
            choice = Answers.of(answers.decide, sid)
            if choice is None:
                return EXIT_NEEDS_PERSON, f"needs a person: step '{sid}' asks: {run.text(step.decide.question, sid)}"
            run.decide(sid, choice, Answers.of(answers.reasons, sid) or "")
            return True
        reason = Answers.of(answers.end_pane, sid)
        if any(p.until for p in step.panes) and reason is not None:
            for k, pane in enumerate(step.panes):
                if pane.until and k not in st.panes_done:
                    run.end_pane(sid, k, reason)
            return True
    return None  # panes still watching for their `until` line, a wait running out
