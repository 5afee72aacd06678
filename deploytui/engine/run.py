"""One run of a runbook: its life cycle and a person's intents in, events out.

The UI (or the headless driver) never changes state itself: it calls an intent here (`run_step`, `tick`,
`decide`, `skip`, ...). Each intent asks the planner whether it is possible now (`planner.refusal`),
commits events to the journal, folds them into `self.state`, and only then tells the listeners. What the
run does by itself comes from `planner.next_move`; commands, actions and panes run in the executor.

The run keeps its own time: a ticker thread opens gates, ends waits and notices the deploy window's
deadline whether or not a screen is polling."""

from __future__ import annotations

import difflib
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..events import kinds as ev
from ..events.state import DONE, FAILED, SETTLED, RunState, apply, fold
from ..journal import Journal, RunWriter, new_run_id
from ..runbook import templates
from ..runbook.loader import parse
from ..runbook.model import Runbook, Step, sign_offs_needed
from ..runbook.variables import SECRET_VAR, env_name, from_environment, masked, problem, secret_values
from ..text.redact import MASK, Redactor
from . import planner, process, schedule
from .clock import Clock
from .executor import Executor, Outcome, trim

if TYPE_CHECKING:
    from ..integrations.lock import DynamoLock

EventListener = Callable[[ev.Event], None]
OutputListener = Callable[[str, int, str, str], None]  # step, attempt, stream, text
TableListener = Callable[[str, int, list[str], list[list[str]], set[int]], None]  # step, pane, cols, rows, bad
Handover = Callable[..., int]  # (argv, env=, cwd=) -> exit code, with the terminal handed over

TICK_SECONDS = 0.5  # how often the run's own ticker looks at its timers
BEAT_EVERY = 2  # ticks between heartbeats: a follower calls a driver silent for 5 s stopped


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
                 handover: Handover | None = None, redactor: Redactor | None = None, headless: bool = False):
        self.journal = journal
        self.book = book
        self.run_id = run_id
        self.operator = operator
        self.clock = clock or Clock()
        self.time_scale = time_scale or 1.0
        self.rehearsal = rehearsal
        self.headless = headless  # commands that wait for terminal input are ended: nobody can type
        self.env = dict(os.environ if env is None else env)
        self.handover = handover or default_handover
        self.redactor = redactor or Redactor(environ=self.env)
        self.writer = RunWriter(journal, run_id, self.redactor)
        self.state: RunState = fold(book, [], run_id)
        self.secrets: dict[str, str] = {}  # declared secret variables: name -> value (never journaled)
        self.captured_secrets: dict[str, str] = {}  # captured values that are secrets (masked in the journal)
        self.lock_key = ""
        self.stop_reasons: dict[str, str] = {}  # step -> why its command is being stopped
        self._pending_stop: dict[str, tuple[str, str, str]] = {}  # step -> (then, reason, actor)
        self.interrupt_reason: str | None = None
        self._lock = threading.RLock()
        self.output_lock = threading.Lock()  # held while a chunk is committed and told (see executor._spool)
        self._event_listeners: list[EventListener] = []
        self._output_listeners: list[OutputListener] = []
        self._table_listeners: list[TableListener] = []
        self.executor = Executor(self)
        self._survivors: dict[str, list[int]] = {}  # step -> pids a killed deploytui left running
        self._closed = False
        self._ticker: threading.Thread | None = None
        self.published_at = ""  # the socket the run is published on for followers (follow.publish)
        self._notifiers: list = []  # Slack, one per channel of the runbook's [notify]
        self._shared_lock: DynamoLock | None = None  # DynamoDB, when the runbook has [lock]

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- opening a run ---------------------------------------------------------------------------------------
    @classmethod
    def start(cls, journal: Journal, book: Runbook, values: dict[str, str], *, operator: str | None = None,
              clock: Clock | None = None, time_scale: float = 1.0, rehearsal: bool = False,
              env: dict[str, str] | None = None, handover: Handover | None = None,
              break_lock: str | None = None, headless: bool = False, faults: list[str] | None = None,
              seal: str = "", world: dict[str, Any] | None = None) -> Run:
        """Begin a new run with resolved variable `values` (see runbook.variables.resolve). A rehearsal also
        records its `faults`, its `seal` and how to bring its `world` back."""
        clock = clock or Clock()
        operator = operator or templates.current_operator()
        now = clock.now()
        run_id = new_run_id(now)
        redactor = Redactor(secret_values(book, values), environ=os.environ if env is None else env)
        run = cls(journal, book, run_id, operator=operator, clock=clock, time_scale=time_scale,
                  rehearsal=rehearsal, env=env, handover=handover, redactor=redactor, headless=headless)
        run.secrets = {k: v for k, v in values.items() if book.vars.get(k) and book.vars[k].secret}
        base = {**run._builtins(), **values}
        shown = {**base, **{n: templates.SECRET_SHOWN for n in run.secrets}}  # the header is on every screen
        environment = run._render_header(book.runbook.environment, shown)
        release = run._render_header(book.runbook.release, shown)
        title = templates.for_people(book.runbook.title, shown)
        facts = session_facts()
        fleet = run._fleet_facts(shown, environment)
        run.lock_key = lock_key(book, environment, rehearsal)
        previous = journal.lock_holder(run.lock_key) if run.lock_key else None
        if previous and break_lock and _held_here(previous, facts["host"]):
            raise UserError(f"{book.runbook.id}" + (f" ({environment})" if environment else "")
                            + f" is locked by run {previous['run_id']}, open in a live deploytui on this host "
                            f"(pid {previous['pid']}, {previous['operator']}): quit that one (or "
                            f"`deploytui follow {previous['run_id']}`); --break-lock is for a lock whose "
                            "holder is gone", 2)
        local_holder = run.lock_key and journal.take_lock(run.lock_key, run_id, operator, facts["host"],
                                                          os.getpid(), now, force=bool(break_lock))
        if local_holder:
            raise UserError(_lock_message(book, environment, local_holder), 2)
        try:
            shared_holder = run._take_shared_lock(force=bool(break_lock), reason=f"{operator}: deploying")
        except UserError:
            journal.release_lock(run.lock_key, run_id)
            raise
        try:
            journal.create_run(run_id, runbook_id=book.runbook.id, title=title, path=book.path,
                               sha256=book.sha256, runbook_text=redactor.source(book.text), environment=environment,
                               release=release, operator=operator, host=facts["host"], tty=facts["tty"],
                               tmux=facts["tmux"], rehearsal=rehearsal, started=now,
                               vars=redactor.value(masked(book, values)))
        except BaseException:
            run._give_back_locks()
            raise
        try:
            run.beat()  # a follower that finds the run finds its driver alive
            run._start_notifier({**base})
            run.emit(ev.RunStarted(runbook_id=book.runbook.id, title=title, path=book.path,
                                   sha256=book.sha256, vars=masked(book, values), operator=operator,
                                   environment=environment, release=release, time_scale=run.time_scale,
                                   rehearsal=rehearsal, faults=list(faults or []), seal=seal,
                                   world=dict(world or {}), **facts, **fleet),
                     actor=operator)
            if break_lock and (previous or shared_holder):
                holder = (f"run {previous['run_id']} ({previous.get('operator')} on {previous.get('host')})"
                          if previous else str((shared_holder or {}).get("holder")))
                run.emit(ev.LockBroken(reason=break_lock, shared_holder=shared_holder, holder=holder), actor=operator)
            checked = schedule.check(book.schedule, now, base)
            if rehearsal and checked.get("deadline"):  # what is left of the window passes time_scale x faster
                checked["deadline"] = now + (checked["deadline"] - now) / run.time_scale
            run.emit(ev.ScheduleChecked(**checked))
        except BaseException:  # a run that could not even start must not hold a lock (a full disk, say)
            run._give_back_locks()
            raise
        run.advance()
        run._start_ticker()
        return run

    @classmethod
    def resume(cls, journal: Journal, run_id: str, *, operator: str | None = None, clock: Clock | None = None,
               env: dict[str, str] | None = None, handover: Handover | None = None,
               secrets: dict[str, str] | None = None, book: Runbook | None = None, headless: bool = False,
               given: dict[str, str] | None = None) -> Run:
        """Reopen a run from its journal. A step found running is marked interrupted (and what its command
        left alive is found); a runbook file that changed since the run started is used, and the change is
        journaled as a diff. `given` are the --var values of this invocation: a value that differs from the
        run's is refused rather than silently dropped."""
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
        given = dict(given or secrets or {})
        secrets = {k: v for k, v in given.items() if k in book.vars and book.vars[k].secret}
        env_map = os.environ if env is None else env
        for name, spec in book.vars.items():
            found = from_environment(name, spec, env_map) if spec.secret and name not in secrets else None
            if found is not None:
                secrets[name] = found
        missing = [n for n, s in book.vars.items() if s.secret and n in started.get("vars", {}) and n not in secrets]
        if missing:
            where = ", ".join(env_name(n) for n in missing)
            raise UserError(f"resuming needs the secret variable(s) {', '.join(missing)} again: set {where} (or "
                            "their from_env variable) in the environment", 2)
        run_vars = started.get("vars", {})
        differ = [f"{k}={v!r} (the run has {run_vars[k]!r})" for k, v in given.items()
                  if k in run_vars and k not in secrets and str(run_vars[k]) != v]
        if differ:
            raise UserError(f"run {row.id} was started with other values: {'; '.join(differ)}. Resume it without "
                            "them, or start a new run", 2)
        redactor = Redactor(list(secrets.values()), environ=env_map)
        run = cls(journal, book, row.id, operator=operator, clock=clock,
                  time_scale=float(started.get("time_scale", 1.0)), rehearsal=bool(started.get("rehearsal")),
                  env=env, handover=handover, redactor=redactor, headless=headless)
        run.secrets = secrets
        run.state = fold(book, events, row.id)
        # captured secrets are masked in the journal: a later step that needs one says so (undefined variable)
        for name in [k for k, v in run.state.vars.items() if v == MASK]:
            del run.state.vars[name]
        run.lock_key = lock_key(book, row.environment, row.rehearsal)
        facts = session_facts()
        holder = journal.lock_holder(run.lock_key) if run.lock_key else None
        if holder and holder["run_id"] == row.id and str(holder["pid"]) != str(os.getpid()) and \
                _held_here(holder, facts["host"]):
            raise UserError(f"run {row.id} is open in another deploytui (pid {holder['pid']}); "
                            "use `deploytui follow` to watch it", 2)
        other = run.lock_key and journal.take_lock(run.lock_key, row.id, operator, facts["host"], os.getpid(),
                                                   run.clock.now())
        if other:
            raise UserError(_lock_message(book, row.environment, other), 2)
        run._take_shared_lock(force=False, reason=f"{operator}: resumed")
        run._start_notifier(run.variables())
        run.emit(ev.Resumed(operator=operator, **facts), actor=operator)
        if changed:
            diff = "".join(difflib.unified_diff(changed[0].splitlines(True), changed[1].splitlines(True),
                                                "runbook at start", "runbook now", n=2))
            run.emit(ev.RunbookChanged(old_sha=row.sha256, new_sha=book.sha256, diff=diff[:20_000]))
        for sid, st in run.state.steps.items():
            if st.command_running:
                run.emit(ev.StepInterrupted(attempt=st.attempt), step=sid)
            if st.interrupted:
                started = st.process or {}  # its session, if it ran on this boot (a pid is not unique across)
                session = started.get("pid") if started.get("boot_id") == process.boot_id() else None
                alive = process.ours(process.mark_value(run.run_id, sid, st.attempt), session)
                if alive:
                    run._survivors[sid] = alive
                    run.emit(ev.SurvivorsFound(attempt=st.attempt, processes=process.describe(alive)), step=sid)
        for sid in run.state.active:
            if run.state.steps[sid].activated and run.state.steps[sid].final is None:
                run.executor.start_panes(run.state.step(sid))
        run.advance()
        run._start_ticker()
        return run

    # ---- events and listeners --------------------------------------------------------------------------------
    def subscribe(self, on_event: EventListener | None = None, on_output: OutputListener | None = None,
                  on_table: TableListener | None = None) -> None:
        if on_event:
            self._event_listeners.append(on_event)
        if on_output:
            self._output_listeners.append(on_output)
        if on_table:
            self._table_listeners.append(on_table)

    def subscribe_from_start(self, on_event: EventListener, on_output: OutputListener | None = None) -> None:
        """Subscribe, first handing the listeners what the run committed before (its events, then its output):
        nothing is committed in between, so a listener that joins after the run started misses nothing."""
        with self._lock, self.output_lock:
            for e in self.journal.events(self.run_id):
                _guarded(on_event, e)
            if on_output is not None:
                for c in self.journal.chunks(self.run_id):
                    _guarded(on_output, c.step, c.attempt, c.stream, c.data)
            self.subscribe(on_event, on_output)

    def emit(self, payload: ev.Payload, step: str | None = None, actor: str = "engine") -> ev.Event:
        """Commit an event, fold it in, then tell the listeners (in that order, always)."""
        with self._lock:
            event = self.writer.event(payload.KIND, step, actor, payload.to_data(), self.clock.now())
            apply(self.state, event)
            for listener in list(self._event_listeners):
                _guarded(listener, event)
            return event

    def tell_output(self, step: str, attempt: int, stream: str, text: str) -> None:
        """Hand committed output to the screens: a broken view never changes the run."""
        for listener in list(self._output_listeners):
            _guarded(listener, step, attempt, stream, text)

    def tell_table(self, step: str, pane: int, cols, rows, bad) -> None:
        for listener in list(self._table_listeners):
            _guarded(listener, step, pane, cols, rows, bad)

    # ---- what people read ----------------------------------------------------------------------------------
    def _builtins(self) -> dict[str, Any]:
        now = datetime.fromtimestamp(self.clock.now()).astimezone()
        return {**templates.builtins(now, self.operator), "run_id": self.run_id, "rehearsal": self.rehearsal}

    def variables(self, step_id: str | None = None) -> dict[str, Any]:
        """Every value a template may use, secrets included: for commands and actions, never for display.
        For an item of a repeated step (`drain[node-1]`), its own variable (`node`) too."""
        info = self.state.info
        return {**self._builtins(), "environment": info.get("environment", ""), "release": info.get("release", ""),
                "steps": self.state.outcomes(), **self.state.vars, **self.secrets, **self.captured_secrets,
                **self.state.bindings(step_id)}

    def secret_names(self) -> set[str]:
        return set(self.secrets) | set(self.captured_secrets)

    def secret_values(self) -> list[str]:
        return list(self.secrets.values()) + list(self.captured_secrets.values())

    def text(self, template: str | None, step: str | None = None) -> str:
        """Any runbook text a person or a pair reads (titles, questions, checks), with secrets masked; `step`
        gives an item its own variable."""
        return templates.for_people(template, self.variables(step), secrets=self.secret_names())

    def title(self, step: Step) -> str:
        return self.text_of_step(step.id)

    def text_of_step(self, step_id: str) -> str:
        """A step's title as people read it (what `events.describe` names a step by); an item says which."""
        try:
            return self.state.titled(step_id, self.text(self.book.step(step_id).title, step_id))
        except KeyError:  # a repeated section names itself by its title
            sec = self.book.section(step_id)
            return self.text(sec.title) if sec is not None else step_id

    @staticmethod
    def _render_header(text: str, values: dict) -> str:
        try:
            return templates.render(text, values) if text else ""
        except templates.TemplateProblem as e:
            raise UserError(f"runbook: {e}", 2) from None

    def resolved_command(self, step: Step) -> str | None:
        """The shell command as it will run (secrets as environment references), or the action and its
        parameters (secrets masked): what screens, pairs and plans show."""
        script = step.rehearse if (self.rehearsal and step.rehearse) else step.run
        try:
            if script:
                return templates.render(script, self.variables(step.id), shell=True,
                                        secrets=self.secret_names()).strip()
            if step.uses:
                shown = {**self.variables(step.id), **{n: templates.SECRET_SHOWN for n in self.secret_names()}}
                params = templates.render_value(step.with_, shown)
                return f"{step.uses} {_json(params)}"
        except templates.TemplateProblem as e:
            return f"(cannot render yet: {e})"
        return None

    def practised_command(self, step: Step) -> str | None:
        """In a rehearsal, the real command a stand-in takes the place of (None otherwise)."""
        if not (self.rehearsal and step.rehearse):
            return None
        try:
            if step.run:
                return templates.render(step.run, self.variables(step.id), shell=True,
                                        secrets=self.secret_names()).strip()
            if step.uses:
                return f"{step.uses} {_json(templates.render_value(step.with_, self.variables(step.id)))}"
        except templates.TemplateProblem as e:
            return f"(cannot render yet: {e})"
        return None

    # ---- what the planner decides --------------------------------------------------------------------------
    def situation(self) -> planner.Situation:
        return planner.Situation(state=self.state, now=self.clock.now(), variables=self.variables,
                                 time_scale=self.time_scale, busy=self.executor.busy(),
                                 survivors=frozenset(self._survivors),
                                 command_of=lambda sid: self.resolved_command(self.state.step(sid)))

    def allowed(self, step_id: str) -> planner.Allowed:
        """What a step allows now (for the screens): the same rules the intents enforce."""
        with self._lock:
            return planner.allowed(self.situation(), step_id)

    def _refuse(self, intent: str, step_id: str) -> Step:
        why = planner.refusal(self.situation(), intent, step_id)
        if why:
            raise UserError(why, 2)
        return self.state.step(step_id)

    def gate_deadline(self, step: Step) -> float | None:
        return planner.gate_deadline(self.situation(), step)

    def deadline_blocks(self) -> bool:
        return planner.deadline_blocks(self.state)

    def schedule_blocks(self) -> bool:
        return planner.schedule_blocks(self.state)

    @staticmethod
    def _reason(reason: str | None, what: str) -> str:
        if not reason or not reason.strip():
            raise UserError(f"{what} needs a reason", 2)
        return reason.strip()

    def _check_open(self) -> None:
        if self.state.outcome:
            raise UserError(f"run {self.run_id} has finished ({self.state.outcome})", 2)
        if self._closed:
            raise UserError(f"run {self.run_id} is closing", 2)

    # ---- automatic progress ----------------------------------------------------------------------------------
    def advance(self) -> None:
        """Move the run forward as far as it goes without a person (see planner.next_move)."""
        with self._lock:
            if self._closed or self.state.outcome:
                return
            for _ in range(10_000):  # bounded: each move changes the state
                move = planner.next_move(self.situation())
                if move is None or not self._apply(move):
                    break

    def _apply(self, move: planner.Move) -> bool:
        sid = move.step or ""  # only FinishRun has no step
        match move:
            case planner.FinishRun():
                self.emit(ev.RunFinished(outcome=move.outcome, section=move.section))
                self._release()
            case planner.SkipStep():
                self.executor.stop_panes(sid)
                self.emit(ev.Skipped(reason=move.reason, planned=move.planned), step=sid)
            case planner.FailStep():
                self.emit(ev.StepFinished(status=FAILED, error=move.error), step=sid)
            case planner.ListItems():
                self.emit(ev.Items(of=move.of, var=move.var, values=list(move.values), labels=list(move.labels)))
            case planner.Recur():
                self.emit(ev.Occurrence(of=sid, number=move.number, due=move.due, next_due=move.next_due))
            case planner.Route():
                self.executor.stop_panes(sid)
                self.emit(ev.Jump(target=move.target, reason=move.reason, then=move.then, planned=True), step=sid)
            case planner.StartGate():
                self.emit(ev.TimerStarted(timer="gate", deadline=move.deadline, seconds=move.seconds), step=sid)
            case planner.OpenGate():
                self.emit(ev.TimerExpired(timer="gate"), step=sid)
            case planner.Activate():
                if not self._still_holding_lock():
                    return False
                st = self.state.steps[sid]
                self.emit(ev.StepStarted(attempt=st.attempt + 1), step=sid)
                self.executor.start_panes(self.state.step(sid))
            case planner.StartAuto():
                if not self._still_holding_lock():
                    return False
                self._start(self.state.step(sid), actor="auto")
            case planner.StartWait():
                self.emit(ev.TimerStarted(timer="wait", deadline=move.deadline, seconds=move.seconds), step=sid)
            case planner.EndWait():
                self.emit(ev.TimerExpired(timer="wait"), step=sid)
            case planner.FinishStep():
                self.executor.stop_panes(sid)
                self.emit(ev.StepFinished(status=DONE, exit_code=move.exit_code, duration=move.duration), step=sid)
                return self._still_holding_lock()
        return True

    def _still_holding_lock(self) -> bool:
        """Before a step starts: has someone broken this run's lock? Then the run stops, and says so."""
        if not self.lock_key or self.state.lock_lost:
            return not self.state.lock_lost
        holder = self.journal.lock_holder(self.lock_key)
        if holder is None or holder["run_id"] == self.run_id:
            return True
        self.emit(ev.LockLost(holder=f"run {holder['run_id']} ({holder.get('operator')} on {holder.get('host')})"))
        return False

    def poll(self) -> None:
        """Timers and the deploy window. The run's own ticker calls it; drivers and tests may too."""
        with self._lock:
            if self._closed or self.state.outcome:
                return
            s = self.state
            if s.deadline and not s.deadline_passed and self.clock.now() >= s.deadline:
                self.emit(ev.DeadlinePassed(deadline=s.deadline))
            self.advance()

    def beat(self) -> None:
        """Tell followers this driver is alive (the journal's drivers table, about once a second)."""
        self.journal.beat(self.run_id, os.getpid(), socket.gethostname(), time.time(), self.published_at)

    def _start_ticker(self) -> None:
        self.beat()  # before anyone can look for the run's driver

        def tick() -> None:
            beats = 1
            while not self._closed and not self.state.outcome:
                try:
                    if beats % BEAT_EVERY == 0:
                        try:
                            self.beat()
                        except UserError:  # a busy journal: this beat is skipped, the next one is a second away
                            pass  # (a follower waits 5 s of silence); the ticker must not stop over it
                    beats += 1
                    time.sleep(TICK_SECONDS)
                    self.poll()
                except Exception:  # a failing journal write is reported by the intent that meets it next
                    traceback.print_exc(file=sys.stderr)
                    return

        self._ticker = threading.Thread(target=tick, name=f"ticker-{self.run_id}", daemon=True)
        self._ticker.start()

    # ---- what the executor reports ----------------------------------------------------------------------------
    def process_started(self, step: Step, attempt: int, pid: int) -> None:
        self.emit(ev.ProcessStarted(attempt=attempt, pid=pid, start_time=process.start_time(pid) or 0,
                                    boot_id=process.boot_id()), step=step.id)

    def retrying(self, step: Step, attempt: int, reason: str) -> None:
        self.emit(ev.Retried(attempt=attempt, reason=reason), step=step.id)

    def pane_matched(self, step: Step, pane: int, line: str) -> None:
        with self._lock:
            st = self.state.steps[step.id]
            if pane not in st.panes_done and st.final is None and not self._closed:
                self.emit(ev.PaneMatched(pane=pane, line=line[:500]), step=step.id)
                self.advance()

    def command_ended(self, step: Step, attempt: int, result: Outcome) -> None:
        """A command or action finished (or was stopped): journal it, then what follows from it."""
        with self._lock:
            captured = self._keep_captured_secrets(step, result.captured) if result.ok else {}
            self.emit(ev.CommandFinished(attempt=attempt, exit_code=result.exit_code, ok=result.ok,
                                         duration=result.duration, error=result.error, outputs=trim(result.outputs),
                                         captured=captured, lines=result.lines, signal=result.signal,
                                         stopped=result.stopped), step=step.id)
            if result.left:
                self.emit(ev.LeftRunning(attempt=attempt, processes=result.left), step=step.id)
            self.stop_reasons.pop(step.id, None)
            pending = self._pending_stop.pop(step.id, None)
            if pending:
                then, reason, actor = pending
                self.executor.stop_panes(step.id)
                if then == "skip":
                    self.emit(ev.Skipped(reason=reason), step=step.id, actor=actor)
                else:
                    self.emit(ev.Marked(status=then, reason=reason), step=step.id, actor=actor)
            elif self._closed and result.stopped:
                self.emit(ev.StepInterrupted(attempt=attempt), step=step.id)
            elif not result.ok:
                self.executor.stop_panes(step.id)
                self.emit(ev.StepFinished(status=FAILED, exit_code=result.exit_code, error=result.error),
                          step=step.id)
            if not self._closed:
                self.advance()

    def _keep_captured_secrets(self, step: Step, captured: dict[str, str]) -> dict[str, str]:
        """Captured values that are secrets (declared so, or shaped like a token) stay real for later steps
        and are masked wherever they are written or shown."""
        for name, value in captured.items():
            spec = self.book.vars.get(name)
            if (spec is not None and spec.secret) or (value and self.redactor.text(str(value)) != str(value)):
                self.captured_secrets[name] = str(value)
                self.redactor.add(str(value))
        return captured

    # ---- intents ---------------------------------------------------------------------------------------------
    def run_step(self, step_id: str, *, actor: str | None = None, confirm: str | None = None) -> None:
        """Start the current step's command or action. `confirm` is the environment name typed for a
        `danger` step."""
        actor = actor or self.operator
        with self._lock:
            self._check_open()
            step = self._refuse(planner.RUN, step_id)
            if planner.needs_confirmation(self.situation(), planner.RUN, step_id):
                expected = self.danger_word()
                if (confirm or "").strip() != expected:
                    raise UserError(f"step '{step_id}' is marked danger: type {expected!r} to run it", 2)
            if not self._still_holding_lock():
                raise UserError(f"this run's lock was taken by {self.state.lock_lost}: it stops here", 2)
            self._start(step, actor=actor)

    def danger_word(self) -> str:
        """What a person types to run a `danger` step: the environment's name."""
        return self.state.info.get("environment") or "yes"

    def _start(self, step: Step, actor: str) -> None:
        st = self.state.steps[step.id]
        attempt = st.attempt + 1
        if step.uses and not (self.rehearsal and step.rehearse):
            shown = {**self.variables(step.id), **{n: templates.SECRET_SHOWN for n in self.secret_names()}}
            payload = ev.StepStarted(attempt=attempt, action=step.uses, params=templates.render_value(step.with_, shown),
                                     interactive=step.interactive)
        else:
            payload = ev.StepStarted(attempt=attempt, command=self.resolved_command(step), interactive=step.interactive)
        self.emit(payload, step=step.id, actor=actor)
        self.executor.start_panes(step)
        self.executor.start(step, attempt)

    def tick(self, step_id: str, index: int, checked: bool = True, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._refuse(planner.TICK, step_id)
            if not 0 <= index < len(step.checks):
                raise UserError(f"step '{step_id}' has no check #{index + 1}", 2)
            if self.state.steps[step_id].checks[index] == checked:
                return
            self.emit(ev.CheckToggled(index=index, label=self.text(step.checks[index], step_id), checked=checked),
                      step=step_id, actor=actor or self.operator)
            self.advance()

    def decide(self, step_id: str, option: int | str, reason: str = "", *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._refuse(planner.DECIDE, step_id)
            assert step.decide is not None
            st = self.state.steps[step_id]
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
            values = self._option_values(step_id, opt.set)
            then = opt.then or (planner.then_of(self.book, opt.goto) if opt.goto else None)
            self.emit(ev.Decision(option=option, label=self.text(opt.label, step_id), goto=opt.goto, then=then,
                                  reason=(reason or "").strip(), question=self.text(step.decide.question, step_id),
                                  criteria=[self.text(c, step_id) for c, t in zip(step.checks, st.checks) if t],
                                  set=values),
                      step=step_id, actor=actor or self.operator)
            self.advance()

    def _option_values(self, step_id: str, assignments: dict[str, str]) -> dict[str, str]:
        """The variables an option sets, rendered now and held to their declarations (choices, pattern)."""
        values = {}
        for name, template in assignments.items():
            try:
                value = templates.render(template, self.variables(step_id)).strip()
            except templates.TemplateProblem as e:
                raise UserError(f"step '{step_id}': set {name}: {e}", 2) from None
            spec = self.book.vars.get(name)
            why = problem(name, spec, value) if spec is not None else None
            if why:
                raise UserError(f"step '{step_id}': set {why}", 2)
            values[name] = value
        return values

    def answer(self, step_id: str, value: str, *, actor: str | None = None) -> None:
        """Answer a prompt step: its variable takes `value`, checked as the start form checks it."""
        with self._lock:
            self._check_open()
            step = self._refuse(planner.ANSWER, step_id)
            name = step.ask or ""
            spec = self.book.vars[name]
            value = (value or "").strip()
            if not value and spec.default != "":  # an empty default declares the variable optional
                raise UserError(f"{name}: a value is needed", 2)
            why = problem(name, spec, value)
            if why:
                raise UserError(why, 2)
            if spec.secret:
                self.secrets[name] = value
                self.redactor.add(value)
            self.emit(ev.Answered(var=name, value=SECRET_VAR if spec.secret else value, secret=spec.secret),
                      step=step_id, actor=actor or self.operator)
            self.advance()

    def skip(self, step_id: str, reason: str, *, actor: str | None = None) -> None:
        """Skip a step. A running one is stopped first; it is skipped once its command has ended."""
        self._stop_or_finish(step_id, "skip", self._reason(reason, "skipping a step"), actor or self.operator,
                             planner.SKIP)

    def mark(self, step_id: str, status: str, reason: str, *, actor: str | None = None) -> None:
        """Mark a step done or failed. A running one is stopped first, then marked."""
        if status not in (DONE, FAILED):
            raise UserError(f"mark a step done or failed, not {status!r}", 2)
        self._stop_or_finish(step_id, status, self._reason(reason, f"marking a step {status}"),
                             actor or self.operator, status)

    def _stop_or_finish(self, step_id: str, then: str, reason: str, actor: str, intent: str) -> None:
        with self._lock:
            self._check_open()
            self._refuse(intent, step_id)
            if step_id in self.state.children and step_id not in self.state.items:
                # a repeated step: its items not yet done are skipped; a recurring one ends
                for kid in self.state.children[step_id]:
                    if self.state.steps[kid].final not in SETTLED:
                        self.executor.stop_panes(kid)
                        self.emit(ev.Skipped(reason=reason), step=kid, actor=actor)
                if self.state.steps[step_id].recurring or not self.state.children[step_id]:
                    self.emit(ev.Skipped(reason=reason), step=step_id, actor=actor)
                self.advance()
                return
            st = self.state.steps[step_id]
            if st.command_running or step_id in self.executor.busy():
                # one clear sequence: stop requested, the command ends by signal, then skipped / marked
                self.emit(ev.StopRequested(then=then, reason=reason), step=step_id, actor=actor)
                words = {"skip": "skip it", DONE: "mark it done", FAILED: "mark it failed"}[then]
                self.stop_reasons[step_id] = f"stopped by {actor} to {words}: {reason}"
                self._pending_stop[step_id] = (then, reason, actor)
                self.executor.cancel(step_id)
                return
            self.executor.stop_panes(step_id)
            if then == "skip":
                self.emit(ev.Skipped(reason=reason), step=step_id, actor=actor)
            else:
                self.emit(ev.Marked(status=then, reason=reason), step=step_id, actor=actor)
            self.advance()

    def rerun(self, step_id: str, reason: str, *, actor: str | None = None, confirm: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._refuse(planner.RERUN, step_id)
            reason = self._reason(reason, "re-running a step")
            if planner.needs_confirmation(self.situation(), planner.RERUN, step_id) and \
                    (confirm or "").strip() != self.danger_word():
                raise UserError(f"step '{step_id}' is marked danger: type {self.danger_word()!r} to run it", 2)
            st = self.state.steps[step_id]
            self.executor.stop_panes(step_id)
            self.emit(ev.Rerun(reason=reason, attempt=st.attempt + 1), step=step_id, actor=actor or self.operator)
            if step.has_command and step_id in self.state.active:
                self.run_step(step_id, actor=actor, confirm=confirm if step.danger else None)
            else:
                self.advance()

    def override(self, what: str, reason: str, step_id: str | None = None, *, actor: str | None = None) -> None:
        """Override a gate (`what="gate"`, with the step), the schedule or the deploy window's deadline."""
        with self._lock:
            self._check_open()
            reason = self._reason(reason, f"overriding the {what}")
            if what == "gate":
                if not step_id:
                    raise UserError("overriding a gate needs the step", 2)
                self._refuse(planner.OVERRIDE_GATE, step_id)
            elif what not in ("schedule", "deadline", "hold"):
                raise UserError(f"nothing called {what!r} can be overridden (gate, schedule, deadline, hold)", 2)
            self.emit(ev.Override(what=what, reason=reason), step=step_id, actor=actor or self.operator)
            self.advance()

    def end_pane(self, step_id: str, pane: int, reason: str, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            step = self._refuse(planner.END_PANE, step_id)
            if not 0 <= pane < len(step.panes):
                raise UserError(f"step '{step_id}' has no pane #{pane + 1}", 2)
            reason = self._reason(reason, "ending a pane's wait")
            self.emit(ev.PaneEnded(pane=pane, reason=reason), step=step_id, actor=actor or self.operator)
            self.advance()

    def end_survivors(self, step_id: str, reason: str, *, actor: str | None = None) -> None:
        """End what a killed deploytui's command left running, so the step can be re-run or marked."""
        with self._lock:
            self._check_open()
            self._refuse(planner.END_SURVIVORS, step_id)
            reason = self._reason(reason, "ending an interrupted command")
            st = self.state.steps[step_id]
            pids = process.marked(process.mark_value(self.run_id, step_id, st.attempt))
            procs = process.describe(pids)
            process.end(pids, grace=self.kill_grace)
            self._survivors.pop(step_id, None)
            self.emit(ev.SurvivorsFound(attempt=st.attempt, processes=procs, ended=True, reason=reason),
                      step=step_id, actor=actor or self.operator)

    def sign_off(self, step_id: str, user: str, uid: int, command: str) -> None:
        """A second person approves `step_id`'s command (the four-eyes rule). `user` and `uid` are what the
        kernel says of the signer's process (follow.publish); `command` is the command they were shown."""
        with self._lock:
            self._check_open()
            step = self._require_step(step_id)
            need, group = sign_offs_needed(self.book, step)
            if not need:
                raise UserError(f"step '{step_id}' asks for no sign-off", 2)
            if uid == os.getuid() or user == self.operator:
                raise UserError("the driver cannot sign off their own deploy: another person signs, as themselves", 2)
            if group and user not in _members(group):
                raise UserError(f"step '{step_id}' needs a sign-off from someone in {group}; {user} is not", 2)
            st = self.state.steps[step_id]
            if st.final is not None or st.command_running:
                raise UserError(f"step '{step_id}' has already run", 2)
            current = self.resolved_command(step) or ""
            if command.strip() != current.strip():
                raise UserError(f"step '{step_id}': its command changed since you saw it: look at it again", 2)
            if any(s["user"] == user and s["command"] == current for s in st.sign_offs):
                raise UserError(f"{user} has already signed off step '{step_id}'", 2)
            self.emit(ev.SignedOff(user=user, uid=uid, command=current), step=step_id, actor=user)
            self.advance()

    def _require_step(self, step_id: str) -> Step:
        try:
            return self.state.step(step_id)
        except KeyError:
            raise UserError(f"no step {step_id!r} in this runbook", 2) from None

    def note(self, text: str, step_id: str | None = None, *, actor: str | None = None) -> None:
        if not text.strip():
            raise UserError("an empty note says nothing", 2)
        self.emit(ev.Note(text=text.strip()), step=step_id, actor=actor or self.operator)

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
                self.executor.stop_panes(cur)
            self.emit(ev.Jump(target=target, reason=reason, then=planner.then_of(self.book, target)), step=cur,
                      actor=actor or self.operator)
            self.advance()

    def abort(self, reason: str, *, actor: str | None = None) -> None:
        with self._lock:
            self._check_open()
            reason = self._reason(reason, "aborting the run")
            self.interrupt_reason = f"the run was aborted by {actor or self.operator}"
            self.executor.cancel_all()
            self.executor.stop_all_panes()
        self.executor.join(process.GRACE + 8)
        with self._lock:
            self.emit(ev.RunFinished(outcome="aborted", reason=reason), actor=actor or self.operator)
            self._release()

    @classmethod
    def abort_closed(cls, journal: Journal, run_id: str, reason: str, *, operator: str | None = None,
                     clock: Clock | None = None) -> Run:
        """End an open run that no deploytui is driving (`deploytui abort RUN --reason ...`): what its dead
        driver left running is ended, the run finishes as aborted, and its lock is released. A run open in a
        live deploytui on this host is refused: abort it there."""
        operator = operator or templates.current_operator()
        reason = cls._reason(reason, "aborting a run")
        row = journal.run(run_id)
        if row.finished is not None:
            raise UserError(f"run {row.id} already finished ({row.outcome})", 2)
        book = parse(row.runbook_text, row.path or "<journal>")
        run = cls(journal, book, row.id, operator=operator, clock=clock)
        run.state = fold(book, journal.events(row.id), row.id)
        run.lock_key = lock_key(book, row.environment, row.rehearsal)
        holder = journal.lock_holder(run.lock_key) if run.lock_key else None
        if holder and holder["run_id"] == row.id and _held_here(holder, socket.gethostname()) and \
                str(holder["pid"]) != str(os.getpid()):
            raise UserError(f"run {row.id} is open in a live deploytui (pid {holder['pid']}, {holder['operator']}): "
                            "abort it there, or quit that one first", 2)
        run._closed = True  # nothing starts: no ticker, no advance
        for sid, st in run.state.steps.items():
            if st.command_running:
                run.emit(ev.StepInterrupted(attempt=st.attempt), step=sid)
            if run.state.steps[sid].interrupted:
                alive = process.marked(process.mark_value(row.id, sid, st.attempt))
                if alive:
                    procs = process.describe(alive)
                    process.end(alive, grace=cls.kill_grace)
                    run.emit(ev.SurvivorsFound(attempt=st.attempt, processes=procs, ended=True, reason=reason),
                             step=sid, actor=operator)
        run.emit(ev.RunFinished(outcome="aborted", reason=reason), actor=operator)
        if run.lock_key and holder and holder["run_id"] == row.id:
            journal.release_lock(run.lock_key, row.id)
        if book.lock and book.lock.dynamodb_table and run.lock_key:
            from ..integrations.lock import DynamoLock

            try:
                DynamoLock(book.lock.dynamodb_table, run.lock_key, book.lock.region or "",
                           env=dict(os.environ)).release(f"run {row.id}")
            except UserError as e:
                run.emit(ev.Note(text=f"could not release the shared lock: {e}"))
        return run

    # ---- closing ----------------------------------------------------------------------------------------------
    def close(self, reason: str = "the operator quit", signal: int | None = None) -> list[str]:
        """Stop everything this process started (commands, panes); the run stays open to resume, and the
        journal says why the driver stopped. Returns the steps whose commands were ended."""
        with self._lock:
            if self._closed:
                return []
            running = [sid for sid, st in self.state.steps.items() if st.command_running]
            self.interrupt_reason = f"the run was interrupted: {reason}"
            self._closed = True
            self.executor.cancel_all()
            self.executor.stop_all_panes()
        self.executor.join(process.GRACE + 8)
        process.kill_all(grace=1.0)
        for sid in running:  # daemons a stopped command started, and pty=false children that left the group
            st = self.state.steps[sid]
            process.end(process.marked(process.mark_value(self.run_id, sid, st.attempt)), grace=1.0)
        try:
            if self.state.outcome:
                self._release()
            else:
                self.emit(ev.RunInterrupted(reason=reason, signal=signal, ended=running))
            self.journal.stop_beating(self.run_id)
        except Exception:  # a full disk must not keep the process from ending its children
            traceback.print_exc(file=sys.stderr)
        for notifier in self._notifiers:
            notifier.close(timeout=5.0)
        return running

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no command of this run is running (headless driver and tests)."""
        return self.executor.join(timeout)

    def _release(self) -> None:
        if self.lock_key:
            self.journal.release_lock(self.lock_key, self.run_id)
        if self._shared_lock is not None:
            try:
                self._shared_lock.release(f"run {self.run_id}")
            except UserError as e:
                self.emit(ev.Note(text=f"could not release the shared lock: {e}"))

    def _fleet_facts(self, shown: dict[str, Any], environment: str) -> dict[str, str]:
        """[fleet]: the app this run deploys, its team, and whether it runs dry or holds before a section."""
        spec = self.book.fleet
        if spec is None:
            return {}
        app = self._render_header(spec.app, shown) if spec.app else environment
        dry, hold = spec.mode(app)
        return {"app": app, "team": self._render_header(spec.team, shown) if spec.team else "", "dry": dry,
                "hold": hold}

    def _give_back_locks(self) -> None:
        """A run that could not start gives back every lock it took: the journal's and the shared one."""
        self.journal.release_lock(self.lock_key, self.run_id)
        if self._shared_lock is not None:
            try:
                self._shared_lock.release(f"run {self.run_id}")
            except UserError:  # the table is unreachable: its holder names this run, which never started
                pass

    def _take_shared_lock(self, force: bool, reason: str) -> dict | None:
        """The cross-machine lock of `[lock] dynamodb_table`; returns the previous holder when forced."""
        spec = self.book.lock
        if not spec or not spec.dynamodb_table or not self.lock_key:
            return None
        from ..integrations.lock import DynamoLock

        self._shared_lock = DynamoLock(spec.dynamodb_table, self.lock_key, spec.region or "", env=self.env)
        return self._shared_lock.acquire(f"run {self.run_id}", reason=reason, force=force)

    def _start_notifier(self, variables: dict[str, Any]) -> None:
        if not self.book.notify:
            return
        from ..integrations.slack import notifiers

        def failed(line: str) -> None:
            self.emit(ev.NotifyFailed(error=line))

        for notifier in notifiers(self.book.notify, lambda text: templates.render(text, variables), failed,
                                  self.redactor.add, self.redactor.text):
            self._notifiers.append(notifier)
            self.subscribe(self._notify_with(notifier))

    def _notify_with(self, notifier: Any) -> Callable[[ev.Event], None]:
        return lambda event: notifier.notify(event, self.state, self.text_of_step)


def _guarded(listener: Callable, *args: Any) -> None:
    try:
        listener(*args)
    except Exception:  # a broken view must never change the run
        try:
            traceback.print_exc(file=sys.stderr)
        except OSError:  # nobody reads stderr any more (`2>&1 | head`)
            pass


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def lock_key(book: Runbook, environment: str, rehearsal: bool) -> str:
    """One open run per runbook and environment. A rehearsal holds no lock: it touches nothing real, and
    practice runs left open must not stand in the way of the next one."""
    return "" if rehearsal else f"{book.runbook.id}:{environment}"


def _pid_alive(pid: int | str | None) -> bool:
    try:
        pid = int(pid or 0)
    except ValueError:
        return False
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _members(group: str) -> set[str]:
    import grp
    import pwd

    try:
        g = grp.getgrnam(group)
    except KeyError:
        return set()
    return set(g.gr_mem) | {p.pw_name for p in pwd.getpwall() if p.pw_gid == g.gr_gid}


def _held_here(holder: dict, host: str) -> bool:
    """A lock held by a live process on this host (not a crashed one's leftover)."""
    return holder.get("host") == host and _pid_alive(holder.get("pid"))


def _lock_message(book: Runbook, environment: str, holder: dict) -> str:
    since = datetime.fromtimestamp(holder["since"]).strftime("%Y-%m-%d %H:%M") if holder.get("since") else "?"
    what = f"{book.runbook.id}" + (f" ({environment})" if environment else "")
    return (f"{what} is locked by run {holder['run_id']}: {holder['operator']} on {holder['host']} since {since}. "
            f"Resume it with `deploytui run --resume {holder['run_id']}`, or take over with --break-lock REASON")
