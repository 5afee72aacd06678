"""The registry of native actions (`uses = "aws.asg_recycle"`) and the context they run in.

Integrations register with `@action("name")`. An action is a plain function
`fn(ctx: ActionContext, **params) -> dict`: `params` are the step's rendered `with` table, the
returned dict is what `capture` can take. Progress goes through `ctx.log()`; a failure a person
can act on is `raise ActionError("one clear line")`. Actions import their heavy libraries (boto3,
github, git) inside the function so start-up stays fast."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import ActionError

__all__ = ["ActionContext", "ActionError", "ActionSpec", "action", "registry"]

_REGISTRY: dict[str, ActionSpec] = {}
_loaded = False


@dataclass
class ActionSpec:
    name: str
    func: Callable[..., dict | None]
    streaming: bool = False  # runs until cancelled (logs_tail) instead of once per `every`
    summary: str = ""

    @property
    def params(self) -> dict[str, inspect.Parameter]:
        ps = list(inspect.signature(self.func).parameters.values())[1:]  # skip ctx
        return {p.name: p for p in ps if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def takes_any(self) -> bool:
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(self.func).parameters.values())

    def check_params(self, given: dict[str, Any]) -> str | None:
        params = self.params
        if not self.takes_any():
            unknown = [k for k in given if k not in params]
            if unknown:
                return (f"{self.name} has no parameter {unknown[0]!r} "
                        f"(it takes: {', '.join(params) or 'nothing'})")
        missing = [n for n, p in params.items() if p.default is p.empty and n not in given]
        if missing:
            return f"{self.name} needs {', '.join(repr(m) for m in missing)}"
        return None


def action(name: str, *, streaming: bool = False) -> Callable:
    """Register a native action under `name` ("aws.servers")."""

    def register(func: Callable) -> Callable:
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ActionSpec(name, func, streaming, doc[0] if doc else "")
        return func

    return register


def registry() -> dict[str, ActionSpec]:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import load_all

        load_all()
    return _REGISTRY


@dataclass
class ActionContext:
    """What an action may use. Built by the engine for each call."""

    step_id: str
    log_lines: Callable[[list[str]], None]  # into the step's (or pane's) output, journaled
    vars: dict[str, Any] = field(default_factory=dict)
    rehearsal: bool = False
    time_scale: float = 1.0  # rehearsal: 15 minutes of waiting last 15 s at 60
    cancelled: threading.Event = field(default_factory=threading.Event)
    handover: Callable[..., int] | None = None  # hand the terminal to a program (gpg); returns exit code
    add_secret: Callable[[str], None] = lambda value: None
    on_table: Callable[[list[str], list[list[str]], set[int]], None] | None = None
    clock: Callable[[], float] = time.time
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # the environment the run started with
    step_started: float | None = None  # when this attempt of the step (whose action or pane this is) started
    _cleanups: list[Callable[[], Any]] = field(default_factory=list, repr=False)

    def closing(self, resource: Any) -> Any:
        """Give `resource` back, to be closed when the action ends (a git.Repo keeps `git cat-file` processes
        until it is closed)."""
        self._cleanups.append(resource.close)
        return resource

    def close(self) -> None:
        """Called by the engine when the action has ended, however it ended."""
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception:  # closing must not turn a finished action into a failure
                pass

    def log(self, line: str) -> None:
        self.log_lines(str(line).splitlines() or [""])

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early when cancelled; returns False if cancelled."""
        return not self.cancelled.wait(max(0.0, seconds))

    def scaled(self, seconds: float) -> float:
        """A real-world delay as it passes here (shorter in a time-scaled rehearsal)."""
        return seconds / (self.time_scale or 1.0)

    def table(self, columns: list[str], rows: list[list[Any]], bad_rows: set[int] | None = None) -> None:
        """Show a table: as aligned text lines in the journal, and as a native table where a UI listens."""
        cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        self.log_lines(["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells])
        if self.on_table:
            self.on_table([str(c) for c in columns], cells[1:], set(bad_rows or ()))

    def run_interactive(self, argv: list[str] | str, env: dict[str, str] | None = None) -> int:
        if self.handover is None:
            raise ActionError("this action needs a terminal (e.g. a GPG passphrase) and none is available")
        return self.handover(argv, env=env, cwd=self.cwd)
