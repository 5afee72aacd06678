"""One `deploytui rehearse` from the command line to the end: checks, the seal, the world, what is left.

    req = Request(runbook=..., faults=(...), ...)
    if must_seal(req): seal.seal_and_exec(reexec_argv(req), reexec_env(req))    # never returns
    world, book = open_world(req)          # in the sealed process (or an unsealed one, with its reason)
    ... cli.start_run(..., env=world.env, clock=world.clock, started=world.started()) ...
    lines = close_world(world, journal)    # keeps or forgets the saved world; what to tell the operator"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..journal import Journal
from ..runbook.loader import load
from ..runbook.model import Runbook
from . import faults as fault_catalogue
from . import seal
from .rehearse import RehearsalRefused, World, build_world

VARS_ENV = "DEPLOYTUI_REHEARSAL_VARS"  # --var values reach the sealed process here, not in its argv


@dataclass
class Request:
    runbook: Path | None = None
    resume_id: str | None = None
    var_pairs: tuple[str, ...] = ()
    time_scale: float = 60.0
    faults: tuple[str, ...] = ()
    start_at: str | None = None
    unsealed: str | None = None
    headless: bool = False
    answers: Path | None = None
    operator: str | None = None
    no_output: bool = False
    workdir: Path | None = None
    journal: Path = field(default_factory=Path)


def check(req: Request) -> Runbook | None:
    """Everything that can be refused before the world is built, in one line each."""
    if bool(req.runbook) == bool(req.resume_id):
        raise UserError("give a RUNBOOK to rehearse, or --resume RUN", 2)
    if req.resume_id:
        if req.faults or req.start_at or req.workdir:
            raise UserError("--resume brings the rehearsal's own world back: --fault, --start-at and --workdir "
                            "belong to a new rehearsal", 2)
        saved_world(req.journal, req.resume_id)
        return None
    book = load(req.runbook or Path())  # given: exactly one of RUNBOOK and --resume is (above)
    fault_catalogue.check(req.faults, book.runbook.id)
    return book


def saved_world(journal_path: Path, run_id: str) -> Path:
    """The saved world of an open rehearsal run, or a one-line refusal."""
    if not Path(journal_path).exists():
        raise UserError(f"{journal_path}: no journal yet (nothing has been rehearsed)", 2)
    journal = Journal(journal_path, readonly=True)
    try:
        row = journal.run(run_id)
        if not row.rehearsal:
            raise UserError(f"run {row.id} is not a rehearsal: resume it with `deploytui run --resume {row.id}`", 2)
        if row.finished is not None:
            raise UserError(f"rehearsal {row.id} already finished ({row.outcome}); start a new one", 2)
        events = journal.events(row.id)
        snapshot = ((events[0].data.get("world") or {}).get("snapshot") if events else "") or ""
    finally:
        journal.close()
    if not snapshot or not Path(snapshot).is_file():
        raise UserError(f"rehearsal {run_id}'s world was not saved ({snapshot or 'no world recorded'}): "
                        "it cannot be brought back; start a new rehearsal", 2)
    return Path(snapshot)


def must_seal(req: Request) -> bool:
    """True when this process must re-execute itself sealed; refuses when it cannot and no reason to go
    unsealed was given."""
    if seal.inside() or req.unsealed:
        return False
    why = seal.unavailable()
    if why:
        raise RehearsalRefused(f"rehearsal refused: it cannot be sealed off the network here ({why}); rehearse "
                               "where Linux namespaces are allowed, or pass --unsealed REASON (the record keeps it)", 2)
    return True


def reexec_argv(req: Request) -> list[str]:
    argv = ["rehearse"]
    argv += [str(Path(req.runbook).resolve())] if req.runbook else ["--resume", req.resume_id or ""]
    if not req.resume_id:
        argv += ["--time-scale", repr(req.time_scale)]
    for f in req.faults:
        argv += ["--fault", f]
    for flag, text in (("--start-at", req.start_at), ("--operator", req.operator)):
        if text:
            argv += [flag, text]
    paths: tuple[tuple[str, Path | None], ...] = (("--answers", req.answers), ("--workdir", req.workdir),
                                                  ("--journal", req.journal))
    for flag, value in paths:
        if value:
            argv += [flag, str(Path(value).resolve())]
    argv += [flag for flag, on in (("--headless", req.headless), ("--no-output", req.no_output)) if on]
    return argv


def reexec_env(req: Request) -> dict[str, str]:
    return {**os.environ, VARS_ENV: json.dumps(list(req.var_pairs))}


def passed_vars(req: Request) -> tuple[str, ...]:
    """--var values: given here, or passed to the sealed process by the one that sealed it."""
    if seal.inside() and os.environ.get(VARS_ENV):
        return tuple(json.loads(os.environ[VARS_ENV]))
    return req.var_pairs


def open_world(req: Request) -> tuple[World, Runbook | None]:
    """In the process that will hold the world: finish the seal, build (or bring back) the world, and make
    this process's own environment the world's (in-process actions read it too)."""
    book = load(req.runbook) if req.runbook else None
    journal_dir = Path(req.journal).resolve().parent
    given_existed = req.workdir is not None and Path(req.workdir).exists()  # the operator's: emptied, not removed
    sealed = seal.inside()
    if sealed:
        keep: list[str | Path] = [journal_dir, *(Path(p).resolve() for p in (req.runbook, req.answers) if p)]
        if str(journal_dir) in seal.PRIVATE_DIRS:
            raise RehearsalRefused(f"rehearsal refused: the journal {req.journal} is directly in {journal_dir}, "
                                   "which a sealed rehearsal replaces: give it a directory of its own", 2)
        if req.workdir:
            Path(req.workdir).mkdir(parents=True, exist_ok=True)
            keep.append(Path(req.workdir).resolve())
        snapshot: Path | None = saved_world(req.journal, req.resume_id) if req.resume_id else None
        if snapshot is not None:  # the world comes back where it was: a private /tmp has room for it
            keep = [p for p in keep if p != snapshot]
        seal.finish(keep)
    else:
        snapshot = saved_world(req.journal, req.resume_id) if req.resume_id else None
    how = "network namespace (loopback only; private /tmp and /run)" if sealed else f"none: {req.unsealed}"
    saves = journal_dir / "rehearsals"
    if snapshot is not None:
        from .rehearse import _load

        state = _load(snapshot)
        book = book or _book_of(req)
        world = build_world(book, state["workdir"], seal=how, restore=snapshot, snapshot_path=snapshot)
    else:
        # sealed: the namespace's own /tmp (the operator's TMPDIR may be hidden by it), gone with it
        scratch = "/tmp" if sealed else None
        workdir = Path(req.workdir) if req.workdir else Path(tempfile.mkdtemp(prefix="deploytui-rehearse-",
                                                                               dir=scratch))
        assert book is not None  # a new rehearsal has its RUNBOOK (check() refused it otherwise)
        world = build_world(book, workdir, req.time_scale, faults=frozenset(req.faults), start_at=req.start_at,
                            seal=how)
        world.snapshot_path = saves / f"{world.ident}.tar.gz"
        world.made_workdir = not given_existed
    world.keep_saved()
    os.environ.clear()
    os.environ.update(world.env)
    return world, book


def _book_of(req: Request) -> Runbook:
    journal = Journal(req.journal, readonly=True)
    try:
        row = journal.run(req.resume_id or "")
        if row.path and Path(row.path).exists():
            return load(row.path)
        from ..runbook.loader import parse

        return parse(row.runbook_text, row.path or "<journal>")
    finally:
        journal.close()


def close_world(world: World, journal_path: Path) -> list[str]:
    """End of the process: the world goes; its save stays while its run is open. Lines for the operator."""
    run_id, finished = _run_of(world, journal_path)
    recorded = world.recorded()
    world.close(save=not finished)
    lines = ["recorded instead of sent:", *[f"  {x}" for x in recorded]] if recorded else []
    if finished:
        world.forget()
    elif run_id:
        lines.append(f"rehearsal {run_id} is still open: `deploytui rehearse --resume {run_id}` brings its world back")
    else:
        world.forget()  # no run was started in it
    return lines


def _run_of(world: World, journal_path: Path) -> tuple[str | None, bool]:
    if not Path(journal_path).exists():
        return None, False
    journal = Journal(journal_path, readonly=True)
    try:
        for row in journal.runs(50):
            if not row.rehearsal:
                continue
            events = journal.events(row.id)
            if events and (events[0].data.get("world") or {}).get("id") == world.ident:
                return row.id, row.finished is not None
    finally:
        journal.close()
    return None, False
