"""One run of a runbook: intents in, events out.

The UI (or the headless driver) never changes state itself: it calls an intent here (`run_step`,
`tick`, `decide`, `skip`, ...). Each intent validates, commits events to the journal, folds them into
`self.state`, and only then tells the listeners. Commands and actions run on worker threads; their
output goes through a Spool into the journal in batches."""

from __future__ import annotations

import difflib
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..errors import ActionError, UserError
from ..events import kinds as ev
from ..events.state import DONE, FAILED, RunState, apply, fold
from ..integrations.registry import ActionContext, registry
from ..journal import Journal, RunWriter, new_run_id
from ..runbook import templates
from ..runbook.durations import format_duration, parse_duration
from ..runbook.loader import parse
from ..runbook.model import Pane, Runbook, Step
from ..runbook.variables import masked, secret_values
from ..text.redact import Redactor
from . import process, schedule
from .clock import Clock
from .spool import Spool, strip_ansi

EventListener = Callable[[ev.Event], None]
OutputListener = Callable[[str, int, str, str], None]  # step, attempt, stream, text
TableListener = Callable[[str, int, list[str], list[list[str]], set[int]], None]  # step, pane, cols, rows, bad
Handover = Callable[..., int]  # (argv, env=, cwd=) -> exit code, with the terminal handed over

MAX_OUTPUTS_JSON = 16_384  # an action's outputs as journaled; bigger values are trimmed


def default_handover(argv: list[str] | str, env: dict[str, str] | None = None, cwd: str | None = None) -> int:
    import subprocess

    return subprocess.call(argv, env=env, cwd=cwd, shell=isinstance(argv, str))


def session_facts() -> dict[str, str]:
    tty = ""
    try:
        tty = os.ttyname(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    tmux = os.environ.get("TMUX", "")
    session = ""
    if tmux:
        import subprocess

        try:
            session = subprocess.run(["tmux", "display-message", "-p", "#S"], capture_output=True, text=True,
                                     timeout=2).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        session = f"{session} ({tmux.split(',')[0]})" if session else tmux.split(",")[0]
    return {"host": socket.gethostname(), "tty": tty, "tmux": session, "pid": str(os.getpid())}


class Run:
    kill_grace = process.GRACE  # seconds between TERM and KILL when a step times out or is stopped

    def __init__(self, journal: Journal, book: Runbook, run_id: str, *, operator: str, clock: Clock | None = None,
                 time_scale: float = 1.0, rehearsal: bool = False, env: dict[str, str] | None = None,
                 handover: Handover | None = None, redactor: Redactor | None = None):
        self.journal = journal
        self.book = book
        self.run_id = run_id
        self.operator = operator
        self.clock = clock or Clock()
        self.time_scale = time_scale or 1.0
        self.rehearsal = rehearsal
        self.env = dict(os.environ if env is None else env)
        self.handover = handover or default_handover
        self.redactor = redactor or Redactor(environ=self.env)
        self.writer = RunWriter(journal, run_id, self.redactor)
        self.state: RunState = fold(book, [], run_id)
        self.secrets: dict[str, str] = {}
        self.lock_key = ""
        self._lock = threading.RLock()
        self._event_listeners: list[EventListener] = []
        self._output_listeners: list[OutputListener] = []
        self._table_listeners: list[TableListener] = []
        self._workers: dict[str, threading.Thread] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._panes: dict[str, list[tuple[threading.Thread, threading.Event]]] = {}
        self._closed = False
        self._notifier = None  # Slack, when the runbook has [notify]
        self._shared_lock = None  # DynamoDB, when the runbook has [lock]

    # ---- opening a run ---------------------------------------------------------------------
    @classmethod
    def start(cls, journal: Journal, book: Runbook, values: dict[str, str], *, operator: str | None = None,
              clock: Clock | None = None, time_scale: float = 1.0, rehearsal: bool = False,
              env: dict[str, str] | None = None, handover: Handover | None = None,
              break_lock: str | None = None, started: dict[str, Any] | None = None) -> Run:
        """Begin a new run with resolved variable `values` (see runbook.variables.resolve). `started`: more
        for the run_started event (a rehearsal's faults, seal and world)."""
        clock = clock or Clock()
        operator = operator or templates.current_operator()
        now = clock.now()
        run_id = new_run_id(now)
        redactor = Redactor(secret_values(book, values), environ=os.environ if env is None else env)
        run = cls(journal, book, run_id, operator=operator, clock=clock, time_scale=time_scale,
                  rehearsal=rehearsal, env=env, handover=handover, redactor=redactor)
        run.secrets = {k: v for k, v in values.items() if book.vars.get(k) and book.vars[k].secret}
        base = run._builtins()
        environment = run._render_header(book.runbook.environment, {**base, **values})
        release = run._render_header(book.runbook.release, {**base, **values})
        facts = session_facts()
        run.lock_key = lock_key(book, environment, rehearsal)
        # who held it, for the record, before a --break-lock takes it
        previous = journal.lock_holder(run.lock_key) if run.lock_key and break_lock else None
        holder = run.lock_key and journal.take_lock(run.lock_key, run_id, operator, facts["host"], os.getpid(),
                                                    now, force=bool(break_lock))
        if holder:
            raise UserError(_lock_message(book, environment, holder), 2)
        try:
            shared_holder = run._take_shared_lock(force=bool(break_lock), reason=f"{operator}: deploying")
        except UserError:
            journal.release_lock(run.lock_key, run_id)
            raise
        journal.create_run(run_id, runbook_id=book.runbook.id, title=book.runbook.title, path=book.path,
                           sha256=book.sha256, runbook_text=redactor.text(book.text), environment=environment,
                           release=release, operator=operator, host=facts["host"], tty=facts["tty"],
                           tmux=facts["tmux"], rehearsal=rehearsal, started=now,
                           vars=redactor.value(masked(book, values)))
        run._start_notifier({**base, **values})
        run.emit(ev.RUN_STARTED, None, operator, runbook_id=book.runbook.id, title=book.runbook.title,
                 path=book.path, sha256=book.sha256, vars=masked(book, values), operator=operator,
                 environment=environment, release=release, time_scale=run.time_scale, rehearsal=rehearsal,
                 **facts, **(started or {}))
        if break_lock:
            held = previous or shared_holder or {}
            run.emit(ev.LOCK_BROKEN, None, operator, reason=break_lock, shared_holder=shared_holder,
                     holder=f"run {held['run_id']} ({held.get('operator')} on {held.get('host')})"
                     if held.get("run_id") else held.get("holder"))
        checked = schedule.check(book.schedule, now)
        if rehearsal and checked.get("deadline"):  # what is left of the window passes time_scale times faster
            checked["deadline"] = now + (checked["deadline"] - now) / run.time_scale
        run.emit(ev.SCHEDULE_CHECKED, None, "engine", **checked)
        run.advance()
        return run

    @classmethod
    def resume(cls, journal: Journal, run_id: str, *, operator: str | None = None, clock: Clock | None = None,
               env: dict[str, str] | None = None, handover: Handover | None = None,
               secrets: dict[str, str] | None = None, book: Runbook | None = None) -> Run:
        """Reopen a run from its journal. A step found running is marked interrupted; a runbook file that
        changed since the run started is used, and the change is journaled as a diff."""
        row = journal.run(run_id)
        if row.finished is not None:
            raise UserError(f"run {row.id} already finished ({row.outcome}); start a new run instead", 2)
        operator = operator or templates.current_operator()
        events = journal.events(row.id)
        snapshot = parse(row.runbook_text, row.path or "<journal>")
        changed = None
        if book is None:
            book = snapshot
            if row.path and os.path.exists(row.path):
                from ..runbook.loader import load

                current = load(row.path)
                if current.sha256 != row.sha256:
                    book, changed = current, (row.runbook_text, current.text)
                else:
                    book = current
        elif book.sha256 != row.sha256:
            changed = (row.runbook_text, book.text)
        started = events[0].data if events and events[0].kind == ev.RUN_STARTED else {}
        if row.rehearsal and (env or {}).get("DEPLOYTUI_REHEARSAL") != "1":  # never against real accounts
            raise UserError(f"run {row.id} is a rehearsal: resume it in its world with "
                            f"`deploytui rehearse --resume {row.id}`", 2)
        secrets = {k: v for k, v in (secrets or {}).items() if k in book.vars and book.vars[k].secret}
        env_map = os.environ if env is None else env
        for name, spec in book.vars.items():
            if spec.secret and name not in secrets and spec.from_env and env_map.get(spec.from_env):
                secrets[name] = env_map[spec.from_env]
        missing = [n for n, s in book.vars.items() if s.secret and n in started.get("vars", {}) and n not in secrets]
        if missing:
            raise UserError(f"resuming needs the secret variable(s) {', '.join(missing)} again: "
                            f"give them with --var or their environment variable", 2)
        redactor = Redactor(list(secrets.values()), environ=env_map)
        run = cls(journal, book, row.id, operator=operator, clock=clock,
                  time_scale=float(started.get("time_scale", 1.0)), rehearsal=bool(started.get("rehearsal")),
                  env=env, handover=handover, redactor=redactor)
        run.secrets = secrets
        run.state = fold(book, events, row.id)
        run.state.vars.update(secrets)
        run.lock_key = lock_key(book, row.environment, row.rehearsal)
        facts = session_facts()
        holder = journal.lock_holder(run.lock_key) if run.lock_key else None
        if holder and holder["run_id"] == row.id and holder["pid"] != os.getpid() and \
                holder["host"] == facts["host"] and _pid_alive(holder["pid"]):
            raise UserError(f"run {row.id} is open in another deploytui (pid {holder['pid']}); "
                            "use `deploytui follow` to watch it", 2)
        other = run.lock_key and journal.take_lock(run.lock_key, row.id, operator, facts["host"], os.getpid(),
                                                   run.clock.now())
        if other:
            raise UserError(_lock_message(book, row.environment, other), 2)
        run._take_shared_lock(force=False, reason=f"{operator}: resumed")
        run._start_notifier(run.variables())
        run.emit(ev.RESUMED, None, operator, operator=operator, **facts)
        if changed:
            diff = "".join(difflib.unified_diff(changed[0].splitlines(True), changed[1].splitlines(True),
                                                "runbook at start", "runbook now", n=2))
            run.emit(ev.RUNBOOK_CHANGED, None, "engine", old_sha=row.sha256, new_sha=book.sha256,
                     diff=diff[:20_000])
        for sid, st in run.state.steps.items():
            if st.command_running:
                run.emit(ev.STEP_INTERRUPTED, sid, "engine", attempt=st.attempt)
        current = run.state.current
        if current and run.state.steps[current].activated and run.state.steps[current].final is None:
            run._start_panes(run.book.step(current))
        run.advance()
        return run

    # ---- events and listeners ---------------------------------------------------------------
    def subscribe(self, on_event: EventListener | None = None, on_output: OutputListener | None = None,
                  on_table: TableListener | None = None) -> None:
        if on_event:
            self._event_listeners.append(on_event)
        if on_output:
            self._output_listeners.append(on_output)
        if on_table:
            self._table_listeners.append(on_table)

    def emit(self, kind: str, step: str | None, actor: str, **data: Any) -> ev.Event:
        """Commit an event, fold it in, then tell the listeners (in that order, always)."""
        with self._lock:
            event = self.writer.event(kind, step, actor, data, self.clock.now())
            apply(self.state, event)
            for listener in list(self._event_listeners):
                try:
                    listener(event)
                except Exception:  # a broken listener must not break the run
                    traceback.print_exc(file=sys.stderr)
            return event

    def _output(self, step: str, attempt: int, stream: str, text: str) -> None:
        for listener in list(self._output_listeners):
            listener(step, attempt, stream, text)

    # ---- helpers ---------------------------------------------------------------------------
    def _builtins(self) -> dict[str, Any]:
        now = datetime.fromtimestamp(self.clock.now()).astimezone()
        return {**templates.builtins(now, self.operator), "run_id": self.run_id, "rehearsal": self.rehearsal}

    def variables(self) -> dict[str, Any]:
        info = self.state.info
        return {**self._builtins(), "environment": info.get("environment", ""), "release": info.get("release", ""),
                **self.state.vars, **self.secrets}

    @staticmethod
    def _render_header(text: str, values: dict) -> str:
        try:
            return templates.render(text, values) if text else ""
        except templates.TemplateProblem as e:
            raise UserError(f"runbook: {e}", 2) from None

    def title(self, step: Step) -> str:
        """The step's title with its variables filled in (as written, if they are not known yet)."""
        if "{" not in step.title:
            return step.title
        try:
            return templates.render(step.title, self.variables())
        except templates.TemplateProblem:
            return step.title

    def resolved_command(self, step: Step) -> str | None:
        """The shell command as it will run (or the action and its parameters), for screens and plans."""
        try:
            if self.rehearsal and step.rehearse:
                return templates.render(step.rehearse, self.variables(), shell=True).strip()
            if step.run:
                return templates.render(step.run, self.variables(), shell=True).strip()
            if step.uses:
                params = templates.render_value(step.with_, self.variables())
                return f"{step.uses} {json.dumps(params, default=str)}"
        except templates.TemplateProblem as e:
            return f"(cannot render yet: {e})"
        return None

    def _require(self, step_id: str) -> Step:
        try:
            return self.book.step(step_id)
        except KeyError:
            raise UserError(f"no step {step_id!r} in this runbook", 2) from None

    @staticmethod
    def _reason(reason: str | None, what: str) -> str:
        if not reason or not reason.strip():
            raise UserError(f"{what} needs a reason", 2)
        return reason.strip()

    def _check_open(self) -> None:
        if self.state.outcome:
            raise UserError(f"run {self.run_id} has finished ({self.state.outcome})", 2)

    def gate_deadline(self, step: Step) -> float | None:
        """When a `not_before` gate opens (epoch), or None if it does not apply."""
        nb = step.not_before
        if not nb:
            return None
        if nb.at:
            try:
                text = templates.render(nb.at, self.variables())
                return datetime.fromisoformat(text.strip()).timestamp()
            except (templates.TemplateProblem, ValueError):
                return None
        ref = self.state.steps.get(nb.step or "")
        if ref is None or ref.final != DONE or ref.finished is None:
            return None
        return ref.finished + parse_duration(nb.wait or 0) / self.time_scale

    def deadline_blocks(self) -> bool:
        return self.state.deadline_passed and "deadline" not in self.state.overrides

    def schedule_blocks(self) -> bool:
        sched = self.state.schedule or {}
        return bool(sched.get("needs_override")) and "schedule" not in self.state.overrides

    # ---- automatic progress -----------------------------------------------------------------
    def advance(self) -> None:
        """Move the run forward as far as it goes without a person: skip steps whose `when` is false,
        start gates and timers, activate steps with no command, start `auto` steps, finish complete
        steps, and finish the run at the end of its path."""
        with self._lock:
            if self._closed or self.state.outcome:
                return
            for _ in range(10_000):  # bounded: each pass either changes state or stops
                if not self._advance_once():
                    break

    def _advance_once(self) -> bool:
        s = self.state
        cur = s.current
        if cur is None:
            if s.path:
                on_demand = s.entered[-1] if s.entered else None
                self.emit(ev.RUN_FINISHED, None, "engine",
                          outcome="completed_on_demand" if on_demand else "succeeded", section=on_demand)
                self._release()
            return False
        st, step = s.steps[cur], self.book.step(cur)
        if st.final == FAILED or st.interrupted:
            return False
        if not st.activated:
            if step.when and not st.command_running:
                try:
                    ok = bool(templates.evaluate(step.when, self.variables()))
                except templates.TemplateProblem as e:
                    self.emit(ev.SKIPPED, cur, "engine", reason=f"when: {step.when}: {e}")
                    return True
                if not ok:
                    self.emit(ev.SKIPPED, cur, "engine", reason=f"when: {step.when} is false")
                    return True
            if step.not_before and not st.gate_open:
                deadline = self.gate_deadline(step)
                if deadline is None:
                    pass  # the gate's reference did not run (skipped): nothing to wait for
                elif st.gate_deadline is None:
                    self.emit(ev.TIMER_STARTED, cur, "engine", timer="gate", deadline=deadline,
                              seconds=max(0.0, deadline - self.clock.now()))
                    return True
                elif self.clock.now() < st.gate_deadline:
                    return False
                else:
                    self.emit(ev.TIMER_EXPIRED, cur, "engine", timer="gate")
                    return True
            if self.deadline_blocks() or self.schedule_blocks():
                return False
            if not step.has_command:
                self.emit(ev.STEP_STARTED, cur, "engine", attempt=st.attempt + 1)
                self._after_activation(step)
                return True
            if step.auto and not step.interactive and not step.danger and cur not in self._workers:
                self._start(step, actor="auto")
                return True
            return False
        if st.command_running:
            return False
        if st.command_ok and step.wait and st.wait_deadline is None:
            self._start_wait(step)
            return True
        if step.wait and st.wait_deadline is not None and not st.wait_expired and \
                self.clock.now() >= st.wait_deadline:
            self.emit(ev.TIMER_EXPIRED, cur, "engine", timer="wait")
            return True
        if s.complete(cur):
            self._stop_panes(cur)
            self.emit(ev.STEP_FINISHED, cur, "engine", status=DONE, exit_code=st.exit_code,
                      duration=round(self.clock.now() - (st.started or self.clock.now()), 3))
            return True
        return False

    def _after_activation(self, step: Step) -> None:
        self._start_panes(step)
        if step.wait and not step.has_command:
            self._start_wait(step)

    def _start_wait(self, step: Step) -> None:
        seconds = parse_duration(step.wait) / self.time_scale
        self.emit(ev.TIMER_STARTED, step.id, "engine", timer="wait", deadline=self.clock.now() + seconds,
                  seconds=seconds)

    def poll(self) -> None:
        """Called about once a second by whoever drives the run: timers and the deploy window."""
        with self._lock:
            if self._closed or self.state.outcome:
                return
            s = self.state
            if s.deadline and not s.deadline_passed and self.clock.now() >= s.deadline:
                self.emit(ev.DEADLINE_PASSED, None, "engine", deadline=s.deadline)
            self.advance()

    # ---- intents ---------------------------------------------------------------------------
    def run_step(self, step_id: str, *, actor: str | None = None, confirm: str | None = None) -> None:
        """Start the current step's command or action. `confirm` is the environment name typed for a
        `danger` step."""
        actor = actor or self.operator
        with self._lock:
            self._check_open()
            step = self._require(step_id)
            st = self.state.steps[step_id]
            if self.state.current != step_id:
                raise UserError(f"step '{step_id}' is not the current step (the current step is "
                                f"'{self.state.current}')", 2)
            if not step.has_command:
                raise UserError(f"step '{step_id}' has no command to run", 2)
            if st.command_running or step_id in self._workers:
                raise UserError(f"step '{step_id}' is already running", 2)
            if st.final == FAILED or st.interrupted:
                raise UserError(f"step '{step_id}' {'failed' if st.final == FAILED else 'was interrupted'}: "
                                "re-run it with a reason, mark it, or skip it", 2)
            if st.activated and st.command_ok:
                raise UserError(f"step '{step_id}' has already run; re-run it with a reason", 2)
            if step.not_before and not st.gate_open and st.gate_deadline and self.clock.now() < st.gate_deadline:
                until = datetime.fromtimestamp(st.gate_deadline).strftime("%H:%M:%S")
                raise UserError(f"step '{step_id}' is gated until {until}; override the gate with a reason", 2)
            if self.deadline_blocks():
                raise UserError("the deploy window's deadline has passed: override it with a reason to go on", 2)
            if self.schedule_blocks():
                raise UserError("the schedule guard says: " + "; ".join(self.state.schedule["problems"])
                                + ": override the schedule with a reason to go on", 2)
            if step.danger:
                environment = self.state.info.get("environment") or step_id
                if (confirm or "").strip() != environment:
                    raise UserError(f"step '{step_id}' is marked danger: type {environment!r} to run it", 2)
            self._start(step, actor=actor)

    def _start(self, step: Step, actor: str) -> None:
        st = self.state.steps[step.id]
        attempt = st.attempt + 1
        command = self.resolved_command(step)
        data: dict[str, Any] = {"attempt": attempt}
        if step.uses and not (self.rehearsal and step.rehearse):
            data["action"] = step.uses
            data["with"] = templates.render_value(step.with_, self.variables())
        else:
            data["command"] = command
        if step.interactive:
            data["interactive"] = True
        self.emit(ev.STEP_STARTED, step.id, actor, **data)
        self._start_panes(step)
        cancel = threading.Event()
        self._cancels[step.id] = cancel
        worker = threading.Thread(target=self._execute, args=(step, attempt, cancel), name=f"step-{step.id}",
                                  daemon=True)
        self._workers[step.id] = worker
        worker.start()

    def tick(self, step_id: str, index: int, checked: bool = True, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._require(step_id)
            if not 0 <= index < len(step.checks):
                raise UserError(f"step '{step_id}' has no check #{index + 1}", 2)
            if self.state.steps[step_id].final is not None:
                raise UserError(f"step '{step_id}' is finished; re-run it to change its checks", 2)
            if self.state.steps[step_id].checks[index] == checked:
                return
            self.emit(ev.CHECK_TOGGLED, step_id, actor or self.operator, index=index, label=step.checks[index],
                      checked=checked)
            self.advance()

    def decide(self, step_id: str, option: int | str, reason: str = "", *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._require(step_id)
            if not step.decide:
                raise UserError(f"step '{step_id}' has no decision", 2)
            st = self.state.steps[step_id]
            if self.state.current != step_id or not st.activated:
                raise UserError(f"step '{step_id}' is not waiting for a decision", 2)
            if st.decision is not None:
                raise UserError(f"step '{step_id}' is already decided ({st.decision['label']})", 2)
            options = step.decide.options
            if isinstance(option, str):
                matches = [i for i, o in enumerate(options) if o.label.lower() == option.lower()]
                if not matches:
                    raise UserError(f"step '{step_id}': no option {option!r} "
                                    f"(options: {', '.join(o.label for o in options)})", 2)
                option = matches[0]
            if not 0 <= option < len(options):
                raise UserError(f"step '{step_id}' has no option #{option + 1}", 2)
            opt = options[option]
            self.emit(ev.DECISION, step_id, actor or self.operator, option=option, label=opt.label, goto=opt.goto,
                      reason=(reason or "").strip(), question=step.decide.question,
                      criteria=[c for c, t in zip(step.checks, st.checks) if t])
            self.advance()

    def skip(self, step_id: str, reason: str, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            self._require(step_id)
            reason = self._reason(reason, "skipping a step")
            st = self.state.steps[step_id]
            if st.final in (DONE, "skipped"):
                raise UserError(f"step '{step_id}' is already {st.final}", 2)
            self._cancel_step(step_id)
            self.emit(ev.SKIPPED, step_id, actor or self.operator, reason=reason)
            self.advance()

    def rerun(self, step_id: str, reason: str, *, actor: str | None = None, confirm: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._require(step_id)
            reason = self._reason(reason, "re-running a step")
            st = self.state.steps[step_id]
            if st.command_running:
                raise UserError(f"step '{step_id}' is still running", 2)
            if not (st.activated or st.final or st.interrupted):
                raise UserError(f"step '{step_id}' has not run yet", 2)
            if step_id not in self.state.path:
                raise UserError(f"step '{step_id}' is not on this run's path", 2)
            self._stop_panes(step_id)
            self.emit(ev.RERUN, step_id, actor or self.operator, reason=reason, attempt=st.attempt + 1)
            if step.has_command and self.state.current == step_id:
                self.run_step(step_id, actor=actor, confirm=confirm if step.danger else None)
            else:
                self.advance()

    def mark(self, step_id: str, status: str, reason: str, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            self._require(step_id)
            if status not in (DONE, FAILED):
                raise UserError(f"mark a step done or failed, not {status!r}", 2)
            reason = self._reason(reason, f"marking a step {status}")
            self._cancel_step(step_id)
            self._stop_panes(step_id)
            self.emit(ev.MARKED, step_id, actor or self.operator, status=status, reason=reason)
            self.advance()

    def override(self, what: str, reason: str, step_id: str | None = None, *, actor: str | None = None) -> None:
        """Override a gate (`what="gate"`, with the step), the schedule or the deploy window's deadline."""
        with self._lock:
            self._check_open()
            reason = self._reason(reason, f"overriding the {what}")
            if what == "gate":
                if not step_id:
                    raise UserError("overriding a gate needs the step", 2)
                self._require(step_id)
            elif what not in ("schedule", "deadline"):
                raise UserError(f"nothing called {what!r} can be overridden (gate, schedule, deadline)", 2)
            self.emit(ev.OVERRIDE, step_id, actor or self.operator, what=what, reason=reason)
            self.advance()

    def end_pane(self, step_id: str, pane: int, reason: str, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._require(step_id)
            if not 0 <= pane < len(step.panes):
                raise UserError(f"step '{step_id}' has no pane #{pane + 1}", 2)
            reason = self._reason(reason, "ending a pane's wait")
            self.emit(ev.PANE_ENDED, step_id, actor or self.operator, pane=pane, reason=reason)
            self.advance()

    def note(self, text: str, step_id: str | None = None, *, actor: str | None = None) -> None:
        if not text.strip():
            raise UserError("an empty note says nothing", 2)
        self.emit(ev.NOTE, step_id, actor or self.operator, text=text.strip())

    def jump(self, target: str, reason: str, *, actor: str | None = None) -> None:
        """Enter an on-demand section (rollback, disaster recovery) from wherever the run is."""
        with self._lock:
            self._check_open()
            reason = self._reason(reason, "jumping to another section")
            sec = self.book.section(target)
            if sec is None or not self.book.steps_of_section(target):
                raise UserError(f"no section {target!r} with steps in this runbook", 2)
            cur = self.state.current
            if cur:
                if self.state.steps[cur].command_running:
                    raise UserError(f"step '{cur}' is still running; stop it before jumping", 2)
                self._stop_panes(cur)
            self.emit(ev.JUMP, cur, actor or self.operator, target=target, reason=reason)
            self.advance()

    def abort(self, reason: str, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            reason = self._reason(reason, "aborting the run")
            for sid in list(self._cancels):
                self._cancel_step(sid)
            self._stop_all_panes()
            self.emit(ev.RUN_FINISHED, None, actor or self.operator, outcome="aborted", reason=reason)
            self._release()

    def close(self, reason: str = "the operator quit") -> list[str]:
        """Stop everything this process started (commands, panes); the run stays open to resume.
        Returns the steps whose commands were killed (each recorded as a failed command)."""
        with self._lock:
            killed = [sid for sid, st in self.state.steps.items() if st.command_running and sid in self._workers]
            self._closed = True
            for sid in list(self._cancels):
                self._cancels[sid].set()
            self._stop_all_panes()
            workers = list(self._workers.values())
        for w in workers:
            w.join(timeout=process.GRACE + 8)
        process.kill_all(grace=1.0)
        if self.state.outcome:
            self._release()
        if self._notifier is not None:
            self._notifier.close(timeout=5.0)
        return killed

    def _release(self) -> None:
        if self.lock_key:
            self.journal.release_lock(self.lock_key, self.run_id)
        if self._shared_lock is not None:
            try:
                self._shared_lock.release(f"run {self.run_id}")
            except UserError as e:
                self.emit(ev.NOTE, None, "engine", text=f"could not release the shared lock: {e}")

    def _take_shared_lock(self, force: bool, reason: str) -> dict | None:
        """The cross-machine lock of `[lock] dynamodb_table`; returns the previous holder when forced."""
        spec = self.book.lock
        if not spec or not spec.dynamodb_table or not self.lock_key:
            return None
        from ..integrations.lock import DynamoLock

        self._shared_lock = DynamoLock(spec.dynamodb_table, self.lock_key, spec.region or "", env=self.env)
        return self._shared_lock.acquire(f"run {self.run_id}", reason=reason, force=force)

    def _start_notifier(self, variables: dict[str, Any]) -> None:
        spec = self.book.notify
        if not spec or not spec.slack:
            return
        try:
            url = templates.render(spec.slack, variables).strip()
        except templates.TemplateProblem as e:
            self.emit(ev.NOTIFY_FAILED, None, "engine", error=f"notify.slack: {e}")
            return
        if not url:
            return
        from ..integrations.slack import SlackNotifier

        self.redactor.add(url)

        def failed(line: str) -> None:
            self.emit(ev.NOTIFY_FAILED, None, "engine", error=line)

        self._notifier = SlackNotifier(url, spec.events, on_failure=failed)
        self.subscribe(lambda event: self._notifier.notify(event, self.state))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no command of this run is running (headless driver and tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            workers = [w for w in self._workers.values() if w.is_alive()]
            if not workers:
                return True
            workers[0].join(timeout=min(0.2, max(0.0, end - time.monotonic())))
        return False

    def _cancel_step(self, step_id: str) -> None:
        cancel = self._cancels.get(step_id)
        if cancel:
            cancel.set()

    # ---- executing commands and actions ----------------------------------------------------------
    def _spool(self, step_id: str, attempt: int, stream: str, watch: list[re.Pattern] | None = None,
               on_match: Callable[[int, str, str], None] | None = None) -> Spool:
        def commit(text: str) -> str:
            return self.writer.output(step_id, attempt, stream, text, self.clock.now())

        def tell(text: str) -> None:
            self._output(step_id, attempt, stream, text)

        return Spool(commit, [tell], watch, on_match)

    def _execute(self, step: Step, attempt: int, cancel: threading.Event) -> None:
        captures: dict[str, str] = {}
        patterns = {var: re.compile(spec[3:], re.M) for var, spec in step.capture.items() if spec.startswith("re:")}
        names = list(patterns)

        def on_match(i: int, line: str, value: str) -> None:
            captures[names[i]] = value

        retries = max(0, step.retries)
        started = time.monotonic()
        code, error, outputs, spool = 1, None, {}, None
        try:
            for n in range(retries + 1):
                spool = self._spool(step.id, attempt, "main", list(patterns.values()), on_match)
                captures.clear()
                code, error, outputs = self._execute_once(step, spool, cancel)
                spool.flush(final=True)
                if code == 0 or cancel.is_set() or n == retries:
                    break
                self.emit(ev.RETRIED, step.id, "engine", attempt=attempt, reason=f"{error or f'exit {code}'}; "
                          f"retry {n + 1} of {retries}")
                if step.retry_delay:
                    cancel.wait(parse_duration(step.retry_delay) / self.time_scale)  # scaled in rehearsal
        except Exception as e:  # a bug of ours must still end as one line and a failed step
            code, error = 1, f"internal error: {type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        ok = code == 0
        captured: dict[str, str] = {}
        if ok and spool is not None:
            captured, why = self._captures(step, spool, outputs, captures, code)
            if why:
                ok, error = False, why
        if not ok and error is None:
            error = f"exit code {code}"
        if cancel.is_set() and self._closed:
            error = "stopped: the operator quit while it ran"
        with self._lock:
            self.emit(ev.COMMAND_FINISHED, step.id, "engine", attempt=attempt, exit_code=code, ok=ok,
                      duration=round(time.monotonic() - started, 3), error=error,
                      outputs=_trim(outputs), captured=captured,
                      lines=spool.lines if spool else 0)
            self._workers.pop(step.id, None)
            self._cancels.pop(step.id, None)
            if not ok and self.state.steps[step.id].final is None:  # not when skipped or marked while it ran
                self._stop_panes(step.id)
                self.emit(ev.STEP_FINISHED, step.id, "engine", status=FAILED, exit_code=code, error=error)
            if not self._closed:
                self.advance()

    def _execute_once(self, step: Step, spool: Spool, cancel: threading.Event) -> tuple[int, str | None, dict]:
        variables = self.variables()
        timeout = parse_duration(step.timeout) if step.timeout else None
        cwd = templates.render(step.cwd, variables) if step.cwd else None
        env = {**self.env, **{k: templates.render(v, variables) for k, v in step.env.items()}}
        env.setdefault("TERM", "xterm-256color")
        script = step.rehearse if (self.rehearsal and step.rehearse) else step.run
        if script:
            try:
                command = templates.render(script, variables, shell=True)
            except templates.TemplateProblem as e:
                return 1, f"run: {e}", {}
            argv = ["bash", "-euo", "pipefail", "-c", command]
            if cwd and not os.path.isdir(cwd):
                if script is not step.run:  # a rehearsal stand-in runs where the world is
                    cwd = None
                else:
                    return 1, f"cwd: {cwd} is not a directory", {}
            if step.interactive:
                t0 = time.monotonic()
                code = self.handover(argv, env=env, cwd=cwd)
                spool.write_lines([f"(interactive: exit {code} after {format_duration(time.monotonic() - t0)})"])
                return code, None if code == 0 else f"exit code {code}", {}
            code, stopped = process.run(argv, spool.feed, cwd=cwd, env=env, use_pty=step.pty, timeout=timeout,
                                        cancel=cancel, on_idle=spool.tick, grace=self.kill_grace)
            return code, stopped, {}
        return self._call_action(step.id, step.uses or "", step.with_, spool, cancel, timeout, variables, cwd)

    def _call_action(self, step_id: str, name: str, with_: dict, spool: Spool, cancel: threading.Event,
                     timeout: float | None, variables: dict, cwd: str | None,
                     on_table: Callable | None = None) -> tuple[int, str | None, dict]:
        spec = registry().get(name)
        if spec is None:
            return 1, f"unknown action {name!r}", {}
        try:
            params = templates.render_value(with_, variables)
        except templates.TemplateProblem as e:
            return 1, f"with: {e}", {}
        timer = threading.Timer(timeout, cancel.set) if timeout else None
        ctx = ActionContext(step_id=step_id, log_lines=spool.write_lines, vars=dict(variables),
                            rehearsal=self.rehearsal, time_scale=self.time_scale, cancelled=cancel,
                            handover=self.handover, add_secret=self.redactor.add, on_table=on_table,
                            clock=self.clock.now, cwd=cwd, env=dict(self.env))
        try:
            if timer:
                timer.start()
            result = spec.func(ctx, **params) or {}
            if cancel.is_set():
                return 1, f"timed out after {timeout:g}s" if timer and not self._closed else "cancelled", result
            return 0, None, result if isinstance(result, dict) else {"result": result}
        except ActionError as e:
            spool.write_lines([f"error: {e}"])
            return 1, str(e), {}
        except Exception as e:
            spool.write_lines(traceback.format_exc().splitlines())
            return 1, f"{name}: {type(e).__name__}: {e}", {}
        finally:
            if timer:
                timer.cancel()

    def _captures(self, step: Step, spool: Spool, outputs: dict, matched: dict[str, str],
                  code: int) -> tuple[dict[str, str], str | None]:
        out: dict[str, str] = {}
        lines = [strip_ansi(x) for x in spool.tail]
        for var, spec in step.capture.items():
            if spec.startswith("re:"):
                if var not in matched:
                    return out, f"capture {var}: no output line matched {spec[3:]}"
                out[var] = matched[var]
            elif spec == "exit_code":
                out[var] = str(code)
            elif step.uses and not (self.rehearsal and step.rehearse) and spec not in ("stdout", "last_line"):
                value: Any = outputs
                for part in spec.split("."):
                    if not isinstance(value, dict) or part not in value:
                        return out, f"capture {var}: {step.uses} gave no output {spec!r} (it gave: " \
                                    f"{', '.join(outputs) or 'nothing'})"
                    value = value[part]
                out[var] = value if isinstance(value, str) else json.dumps(value, default=str)
            elif spec == "last_line":
                non_empty = [x for x in lines if x.strip()]
                out[var] = non_empty[-1].strip() if non_empty else ""
            elif spec == "stdout":
                out[var] = "\n".join(lines).strip()
            elif self.rehearsal and step.rehearse:
                # a rehearsal stand-in prints `field=value` lines for what the real action would return
                found = [x.split("=", 1)[1].strip() for x in lines if x.startswith(spec + "=")]
                if not found:
                    return out, f"capture {var}: the rehearsal stand-in printed no `{spec}=...` line"
                out[var] = found[-1]
        return out, None

    # ---- live panes ------------------------------------------------------------------------
    def _start_panes(self, step: Step) -> None:
        if not step.panes or step.id in self._panes or self._closed:
            return
        runners = []
        for k, pane in enumerate(step.panes):
            stop = threading.Event()
            t = threading.Thread(target=self._run_pane, args=(step, k, pane, stop), name=f"pane-{step.id}-{k}",
                                 daemon=True)
            runners.append((t, stop))
        self._panes[step.id] = runners
        for t, _ in runners:
            t.start()

    def _stop_panes(self, step_id: str) -> None:
        for _, stop in self._panes.pop(step_id, []):
            stop.set()

    def _stop_all_panes(self) -> None:
        for sid in list(self._panes):
            self._stop_panes(sid)

    def _run_pane(self, step: Step, k: int, pane: Pane, stop: threading.Event) -> None:
        attempt = self.state.steps[step.id].attempt or 1
        stream = f"pane{k}"
        watch = [re.compile(pane.until)] if pane.until else []

        def matched(_i: int, line: str, _value: str) -> None:
            with self._lock:
                st = self.state.steps[step.id]
                if k not in st.panes_done and st.final is None and not self._closed:
                    self.emit(ev.PANE_MATCHED, step.id, "engine", pane=k, line=line[:500])
                    self.advance()

        def table(cols, rows, bad) -> None:
            for listener in list(self._table_listeners):
                listener(step.id, k, cols, rows, bad)

        every = parse_duration(pane.every) if pane.every is not None else 15.0
        try:
            variables = self.variables()
            cwd = templates.render(pane.cwd, variables) if pane.cwd else None
            env = {**self.env, **{n: templates.render(v, variables) for n, v in pane.env.items()}}
            tail = pane.rehearse if (self.rehearsal and pane.rehearse) else pane.tail  # a stand-in streams once
            if tail:
                spool = self._spool(step.id, attempt, stream, watch, matched)
                argv = ["bash", "-euo", "pipefail", "-c", templates.render(tail, variables, shell=True)]
                if tail is pane.rehearse and cwd and not os.path.isdir(cwd):
                    cwd = None
                process.run(argv, spool.feed, cwd=cwd, env=env, cancel=stop, on_idle=spool.tick)
                spool.flush(final=True)
                return
            spec = registry().get(pane.uses) if pane.uses else None
            while not stop.is_set():
                spool = self._spool(step.id, attempt, stream, watch, matched)
                if pane.watch:
                    argv = ["bash", "-euo", "pipefail", "-c", templates.render(pane.watch, variables, shell=True)]
                    process.run(argv, spool.feed, cwd=cwd, env=env, cancel=stop, on_idle=spool.tick,
                                timeout=max(every * 4, 60))
                else:
                    code, error, _ = self._call_action(step.id, pane.uses or "", pane.with_, spool, stop, None,
                                                       variables, cwd, on_table=table)
                    if error and not stop.is_set():
                        spool.write_lines([f"error: {error}"])
                spool.flush(final=True)
                if spec is not None and spec.streaming:
                    return
                if stop.wait(every):
                    return
        except Exception as e:  # a pane's failure is shown in the pane, never kills the run
            spool = self._spool(step.id, attempt, stream)
            spool.write_lines([f"pane stopped: {type(e).__name__}: {e}"])
            spool.flush(final=True)


def lock_key(book: Runbook, environment: str, rehearsal: bool) -> str:
    """One open run per runbook and environment. A rehearsal holds no lock: it touches nothing real, and
    practice runs left open must not stand in the way of the next one."""
    return "" if rehearsal else f"{book.runbook.id}:{environment}"


def _trim(outputs: dict) -> dict:
    text = json.dumps(outputs, default=str)
    if len(text) <= MAX_OUTPUTS_JSON:
        return json.loads(text)
    return {"(trimmed)": text[:MAX_OUTPUTS_JSON]}


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_message(book: Runbook, environment: str, holder: dict) -> str:
    since = datetime.fromtimestamp(holder["since"]).strftime("%Y-%m-%d %H:%M") if holder.get("since") else "?"
    what = f"{book.runbook.id}" + (f" ({environment})" if environment else "")
    return (f"{what} is locked by run {holder['run_id']}: {holder['operator']} on {holder['host']} since {since}. "
            f"Resume it with `deploytui run --resume {holder['run_id']}`, or take over with --break-lock REASON")
