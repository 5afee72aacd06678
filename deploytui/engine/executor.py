"""Running what steps ask for: shell commands (in a pty, in their own process group), native actions, and
live panes, each on a worker thread. Output goes through a Spool into the journal in batches; what a
command did is reported back to the run (`Run.command_ended`), which journals it and moves on.

The executor never decides what happens next (planner.py) and never changes the run's state itself."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ActionError
from ..integrations.registry import ActionContext, registry
from ..runbook import templates
from ..runbook.durations import format_duration, parse_duration, seconds_of
from ..runbook.model import Pane, Step
from . import process
from .spool import Spool, strip_ansi

if TYPE_CHECKING:
    from .run import Run

MAX_OUTPUTS_JSON = 16_384  # an action's outputs as journaled; bigger values are trimmed


@dataclass
class Outcome:
    """What one attempt of a command or action came to."""

    exit_code: int | None = 1
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    captured: dict[str, str] = field(default_factory=dict)
    signal: int | None = None
    stopped: str | None = None
    left: list[dict] = field(default_factory=list)
    lines: int = 0
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.error is None and self.stopped is None


class Executor:
    """Workers are waited for through an Event each, never `Thread.join`: on Python 3.11 a join interrupted by
    a signal handler's exception (SIGTERM ending the driver) marks the still-running thread as stopped."""

    def __init__(self, run: Run):
        self.run = run
        self.workers: dict[str, threading.Event] = {}  # step -> set when its command has been reported
        self.cancels: dict[str, threading.Event] = {}
        self.panes: dict[str, list[tuple[threading.Thread, threading.Event]]] = {}

    # ---- commands and actions --------------------------------------------------------------------------------
    def start(self, step: Step, attempt: int) -> None:
        cancel, finished = threading.Event(), threading.Event()
        self.cancels[step.id] = cancel
        self.workers[step.id] = finished
        worker = threading.Thread(target=self._execute, args=(step, attempt, cancel, finished),
                                  name=f"step-{step.id}", daemon=True)
        worker.start()

    def busy(self) -> frozenset[str]:
        return frozenset(sid for sid, done in self.workers.items() if not done.is_set())

    def cancel(self, step_id: str) -> None:
        cancel = self.cancels.get(step_id)
        if cancel:
            cancel.set()

    def cancel_all(self) -> None:
        for cancel in list(self.cancels.values()):
            cancel.set()

    def join(self, timeout: float) -> bool:
        """Wait until no command runs (at most `timeout` seconds); True when none does."""
        end = time.monotonic() + timeout
        for done in list(self.workers.values()):
            if not done.wait(timeout=max(0.0, end - time.monotonic())):
                return False
        return True

    def _spool(self, step_id: str, attempt: int, stream: str, watch: list[re.Pattern] | None = None,
               on_match: Callable[[int, str, str], None] | None = None) -> Spool:
        run = self.run

        def commit(text: str) -> str:
            # committed and told as one: a follower joining reads the journal up to a cut that the pushes
            # it then receives continue exactly (run.output_lock), no chunk missing or shown twice
            with run.output_lock:
                clean = run.writer.output(step_id, attempt, stream, text, run.clock.now())
                run.tell_output(step_id, attempt, stream, clean)
            return clean

        return Spool(commit, [], watch, on_match, redactor=run.redactor)

    def _execute(self, step: Step, attempt: int, cancel: threading.Event, finished: threading.Event) -> None:
        try:
            self._execute_step(step, attempt, cancel)
        finally:
            self.cancels.pop(step.id, None)
            if self.workers.get(step.id) is finished:
                del self.workers[step.id]
            finished.set()

    def _execute_step(self, step: Step, attempt: int, cancel: threading.Event) -> None:
        run = self.run
        captures: dict[str, str] = {}
        try:
            patterns = {var: re.compile(templates.pattern(spec[3:], run.variables(step.id)), re.M)
                        for var, spec in step.capture.items() if spec.startswith("re:")}
        except (templates.TemplateProblem, re.error) as e:
            run.command_ended(step, attempt, Outcome(error=f"capture: {e}"))
            return
        try:
            retry_delay = seconds_of(step.retry_delay, run.variables(step.id))
        except ValueError as e:  # not a duration, or a template that does not render
            run.command_ended(step, attempt, Outcome(error=f"retry_delay: {e}"))
            return
        names = list(patterns)

        def on_match(i: int, line: str, value: str) -> None:
            captures[names[i]] = value

        retries = max(0, step.retries)
        started = time.monotonic()
        result, spool = Outcome(), None
        try:
            for n in range(retries + 1):
                spool = self._spool(step.id, attempt, "main", list(patterns.values()), on_match)
                captures.clear()
                result = self._execute_once(step, attempt, spool, cancel)
                spool.flush(final=True)
                if result.ok or cancel.is_set() or n == retries:
                    break
                run.retrying(step, attempt, f"{result.error or f'exit {result.exit_code}'}; retry {n + 1} of {retries}")
                if retry_delay:
                    cancel.wait(retry_delay / run.time_scale)  # scaled in rehearsal
        except Exception as e:  # a bug of ours must still end as one line and a failed step
            result = Outcome(error=f"internal error: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
        if result.ok and spool is not None:
            result.captured, why = self._captures(step, spool, result.outputs, captures, result.exit_code or 0)
            if why:
                result.error = why
        if not result.ok and result.error is None and result.stopped is None:
            result.error = f"exit code {result.exit_code}"
        result.lines = spool.lines if spool else 0
        result.duration = round(time.monotonic() - started, 3)
        run.command_ended(step, attempt, result)

    def _execute_once(self, step: Step, attempt: int, spool: Spool, cancel: threading.Event) -> Outcome:
        run = self.run
        variables = run.variables(step.id)
        try:
            timeout = seconds_of(step.timeout, variables)
        except (ValueError, templates.TemplateProblem) as e:
            return Outcome(error=f"timeout: {e}")
        try:
            cwd = templates.render(step.cwd, variables) if step.cwd else None
            env = {**run.env, **{k: templates.render(v, variables) for k, v in step.env.items()}}
        except templates.TemplateProblem as e:
            return Outcome(error=f"env: {e}")
        env.setdefault("TERM", "xterm-256color")
        script = step.rehearse if (run.rehearsal and step.rehearse) else step.run
        if script:
            try:
                command = templates.render(script, variables, shell=True, secrets=run.secret_names())
            except templates.TemplateProblem as e:
                return Outcome(error=f"run: {e}")
            env.update(templates.secret_environment(variables, run.secret_names()))
            argv = ["bash", "-euo", "pipefail", "-c", command]
            if cwd and not os.path.isdir(cwd) and not (run.rehearsal and step.rehearse):
                return Outcome(error=f"cwd: {cwd} is not a directory")
            if cwd and not os.path.isdir(cwd):
                cwd = None  # a rehearsal stand-in runs where the real directory does not exist
            mark = process.mark_value(run.run_id, step.id, attempt)
            if step.interactive:
                t0 = time.monotonic()
                with typescript(argv, env) as (recorded, shown_env, path):
                    code = run.handover(recorded, env={**shown_env, process.MARK: mark}, cwd=cwd)
                    kept = replay_typescript(path, spool.feed) if path else False
                spool.write_lines([f"(interactive: exit {code} after {format_duration(time.monotonic() - t0)}"
                                   + ("" if kept else "; no typescript: `script` is not installed") + ")"])
                return Outcome(exit_code=code, error=None if code == 0 else f"exit code {code}")
            ended = process.run(argv, spool.feed, cwd=cwd, env=env, use_pty=step.pty, timeout=timeout,
                                cancel=cancel, on_idle=spool.tick, grace=run.kill_grace, mark=mark,
                                on_start=lambda pid: run.process_started(step, attempt, pid),
                                no_input=run.headless)
            return Outcome(exit_code=ended.code, signal=ended.signal, stopped=ended.stopped, left=ended.left,
                           error=_stop_words(ended.stopped, run, step.id))
        return self.call_action(step.id, step.uses or "", step.with_, spool, cancel, timeout, variables, cwd)

    def call_action(self, step_id: str, name: str, with_: dict, spool: Spool, cancel: threading.Event,
                    timeout: float | None, variables: dict, cwd: str | None,
                    on_table: Callable | None = None) -> Outcome:
        run = self.run
        spec = registry().get(name)
        if spec is None:
            return Outcome(error=f"unknown action {name!r}")
        try:
            params = templates.render_value(with_, variables)
        except templates.TemplateProblem as e:
            return Outcome(error=f"with: {e}")
        timed_out = threading.Event()

        def time_out() -> None:
            timed_out.set()
            cancel.set()

        timer = threading.Timer(timeout, time_out) if timeout else None
        ctx = ActionContext(step_id=step_id, log_lines=spool.write_lines, vars=dict(variables),
                            rehearsal=run.rehearsal, time_scale=run.time_scale, cancelled=cancel,
                            handover=run.handover, add_secret=run.redactor.add, on_table=on_table,
                            clock=run.clock.now, cwd=cwd, env=dict(run.env),
                            step_started=run.state.steps[step_id].started)
        try:
            if timer:
                timer.start()
            result = spec.func(ctx, **params) or {}
            outputs = result if isinstance(result, dict) else {"result": result}
            if timed_out.is_set():
                return Outcome(outputs=outputs, stopped=f"timed out after {timeout:g}s",
                               error=f"timed out after {timeout:g}s")
            if cancel.is_set():
                return Outcome(outputs=outputs, stopped="cancelled", error=_stop_words("cancelled", run, step_id))
            return Outcome(exit_code=0, outputs=outputs)
        except ActionError as e:
            spool.write_lines([f"error: {e}"])
            return Outcome(error=str(e))
        except Exception as e:
            spool.write_lines(traceback.format_exc().splitlines())
            return Outcome(error=f"{name}: {type(e).__name__}: {e}")
        finally:
            if timer:
                timer.cancel()
            ctx.close()

    def _captures(self, step: Step, spool: Spool, outputs: dict, matched: dict[str, str],
                  code: int) -> tuple[dict[str, str], str | None]:
        run = self.run
        out: dict[str, str] = {}
        lines = [strip_ansi(x) for x in spool.raw_tail]  # real values; secrets among them are masked on record
        for var, spec in step.capture.items():
            if spec.startswith("re:"):
                if var not in matched:
                    return out, f"capture {var}: no output line matched {spec[3:]}"
                out[var] = matched[var]
            elif spec == "exit_code":
                out[var] = str(code)
            elif step.uses and not (run.rehearsal and step.rehearse) and spec not in ("stdout", "last_line"):
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
            elif run.rehearsal and step.rehearse:
                # a rehearsal stand-in prints `field=value` lines for what the real action would return
                found = [x.split("=", 1)[1].strip() for x in lines if x.startswith(spec + "=")]
                if not found:
                    return out, f"capture {var}: the rehearsal stand-in printed no `{spec}=...` line"
                out[var] = found[-1]
        return out, None

    # ---- live panes --------------------------------------------------------------------------------------------
    def start_panes(self, step: Step) -> None:
        if not step.panes or step.id in self.panes or self.run.closed:
            return
        runners = []
        for k, pane in enumerate(step.panes):
            stop = threading.Event()
            t = threading.Thread(target=self._run_pane, args=(step, k, pane, stop), name=f"pane-{step.id}-{k}",
                                 daemon=True)
            runners.append((t, stop))
        self.panes[step.id] = runners
        for t, _ in runners:
            t.start()

    def stop_panes(self, step_id: str) -> None:
        for _, stop in self.panes.pop(step_id, []):
            stop.set()

    def stop_all_panes(self) -> None:
        for sid in list(self.panes):
            self.stop_panes(sid)

    def _run_pane(self, step: Step, k: int, pane: Pane, stop: threading.Event) -> None:
        run = self.run
        attempt = run.state.steps[step.id].attempt or 1
        stream = f"pane{k}"
        variables = run.variables(step.id)
        try:
            watch = [re.compile(templates.pattern(pane.until, variables))] if pane.until else []
        except (templates.TemplateProblem, re.error) as e:
            spool = self._spool(step.id, attempt, stream)
            spool.write_lines([f"pane stopped: until: {e}"])
            return

        def matched(_i: int, line: str, _value: str) -> None:
            run.pane_matched(step, k, line)

        def table(cols, rows, bad) -> None:
            run.tell_table(step.id, k, cols, rows, bad)

        every = parse_duration(pane.every) if pane.every is not None else 15.0
        mark = process.mark_value(run.run_id, step.id, attempt, stream)
        try:
            cwd = templates.render(pane.cwd, variables) if pane.cwd else None
            env = {**run.env, **{n: templates.render(v, variables) for n, v in pane.env.items()}}
            env.update(templates.secret_environment(variables, run.secret_names()))
            if cwd and not os.path.isdir(cwd) and run.rehearsal:
                cwd = None
            tail = pane.rehearse if (run.rehearsal and pane.rehearse) else pane.tail  # a stand-in streams once
            if tail:
                spool = self._spool(step.id, attempt, stream, watch, matched)
                command = templates.render(tail, variables, shell=True, secrets=run.secret_names())
                process.run(["bash", "-euo", "pipefail", "-c", command], spool.feed, cwd=cwd, env=env,
                            cancel=stop, on_idle=spool.tick, mark=mark)
                spool.flush(final=True)
                return
            spec = registry().get(pane.uses) if pane.uses else None
            while not stop.is_set():
                if pane.watch:
                    # a watch pane's `until` counts only output of a run that succeeded: a failing command
                    # that prints the awaited words (an error message quoting them) must not satisfy it
                    spool = self._spool(step.id, attempt, stream)
                    lines: list[str] = []
                    spool.add_listener(lines.append)
                    command = templates.render(pane.watch, variables, shell=True, secrets=run.secret_names())
                    ended = process.run(["bash", "-euo", "pipefail", "-c", command], spool.feed, cwd=cwd, env=env,
                                        cancel=stop, on_idle=spool.tick, timeout=max(every * 4, 60), mark=mark)
                    spool.flush(final=True)
                    if ended.code == 0 and ended.stopped is None and watch:
                        text = strip_ansi("".join(lines))
                        for line in text.splitlines():
                            if watch[0].search(line):
                                matched(0, line, "")
                                break
                else:
                    spool = self._spool(step.id, attempt, stream, watch, matched)
                    result = self.call_action(step.id, pane.uses or "", pane.with_, spool, stop, None, variables, cwd,
                                              on_table=table)
                    if result.error and not stop.is_set():
                        spool.write_lines([f"error: {result.error}"])
                    spool.flush(final=True)
                if spec is not None and spec.streaming:
                    return
                if stop.wait(every):
                    return
        except Exception as e:  # a pane's failure is shown in the pane, never kills the run
            spool = self._spool(step.id, attempt, stream)
            spool.write_lines([f"pane stopped: {type(e).__name__}: {e}"])
            spool.flush(final=True)


@contextmanager
def typescript(argv: list[str], env: dict[str, str]) -> Iterator[tuple[list[str], dict[str, str], str | None]]:
    """An interactive command wrapped in `script` (util-linux), so what the terminal showed during the
    hand-over is kept: (argv to run, its environment, the typescript file, or None without `script`)."""
    tool = shutil.which("script", path=env.get("PATH"))
    if tool is None:
        yield argv, env, None
        return
    folder = tempfile.mkdtemp(prefix="deploytui-typescript-")  # 0700: the session may show private things
    path = os.path.join(folder, "typescript")
    command = shlex.join((["env", f"SHELL={env['SHELL']}"] if env.get("SHELL") else []) + argv)
    try:
        # script runs `$SHELL -c COMMAND`: /bin/sh reads the POSIX quoting shlex wrote, whatever the user's shell
        yield [tool, "--quiet", "--return", "--flush", "--command", command, path], {**env, "SHELL": "/bin/sh"}, path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_TYPESCRIPT_HEAD = re.compile(rb"\AScript started on [^\n]*\n")
_TYPESCRIPT_TAIL = re.compile(rb"\n?Script done on [^\n]*\n?\Z")


def replay_typescript(path: str, feed: Callable[[bytes], None], chunk: int = 64 * 1024) -> bool:
    """Feed a typescript into the step's output, without the lines `script` adds before and after, a chunk
    at a time (a long session can be large). False when there is none (the command never ran)."""
    try:
        f = open(path, "rb")
    except OSError:
        return False
    with f:
        held, first = b"", True
        while data := f.read(chunk):
            data = held + data
            if first:
                data, first = _TYPESCRIPT_HEAD.sub(b"", data, count=1), False
            feed(data[:-4096])  # the last bytes wait: they may be the closing line
            held = data[-4096:]
        feed(_TYPESCRIPT_TAIL.sub(b"\n", held))
    return True


def _stop_words(stopped: str | None, run: Run, step_id: str) -> str | None:
    """The error a stopped command records, in words that say who or what stopped it."""
    if stopped is None:
        return None
    if stopped == "cancelled":
        return run.stop_reasons.get(step_id) or run.interrupt_reason or "stopped"
    return stopped


def trim(outputs: dict) -> dict:
    text = json.dumps(outputs, default=str)
    if len(text) <= MAX_OUTPUTS_JSON:
        return json.loads(text)
    return {"(trimmed)": text[:MAX_OUTPUTS_JSON]}
