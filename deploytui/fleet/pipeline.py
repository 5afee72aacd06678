"""A [fleet] runbook's run as RFC-070's pipeline, around the engine: it refuses to start while its app is
blocked or an app it cannot deploy together with is deploying; it marks its app as deploying; it is shipped
to the team store; and when it fails it blocks the app and ends, so the team looks before the next release
and no lock is left behind (the block, not a stale lock, is what stops the next one)."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from ..engine.headless import EXIT_BLOCKED, EXIT_FAILED
from ..engine.run import Run
from ..errors import UserError
from ..integrations.store import STORE_ENV, DirStore, Store, open_store
from ..journal import Journal
from ..runbook import templates
from ..runbook.model import Runbook
from . import blocks
from .ship import Shipper


def team_store(url: str | None, journal_path: Path | None, env=None) -> tuple[Store, bool]:
    """The team store named (--team-store, DEPLOYTUI_TEAM_STORE), else the journal's own directory for the
    fleet's state; the flag says whether it is a team's (runs are shipped there)."""
    env = os.environ if env is None else env
    url = url or env.get(STORE_ENV)
    if url:
        return open_store(url, env), True
    from ..journal import default_path

    return DirStore(Path(journal_path or default_path()).parent / "fleet"), False


def app_of(book: Runbook, values: dict[str, str]) -> str:
    spec = book.fleet
    text = (spec.app if spec and spec.app else "") or book.runbook.environment
    try:
        return templates.render(text, {**templates.builtins(), **values}) if text else ""
    except templates.TemplateProblem as e:
        raise UserError(f"{book.path}: [fleet] app: {e}", 2) from None


class Pipeline:
    def __init__(self, store: Store, shared: bool, book: Runbook, app: str):
        self.store, self.shared, self.book, self.app = store, shared, book, app
        self.shipper: Shipper | None = None
        self.run: Run | None = None
        self.claimed = ""  # the claim's id until the run has one; then the run's
        self._beating = threading.Event()

    @classmethod
    def before(cls, book: Runbook, values: dict[str, str], store: Store, shared: bool,
               operator: str = "") -> Pipeline:
        """Claim the app (blocks.claim: atomic against apps it cannot deploy with) before the run starts;
        refuse (exit 5, one line) when it may not deploy now."""
        pipeline = cls(store, shared, book, app_of(book, values))
        pipeline.claim(operator)
        return pipeline

    def claim(self, operator: str, run_id: str = "") -> None:
        if self.book.fleet is None:
            return
        token = run_id or f"claim-{uuid.uuid4().hex[:12]}"
        why = blocks.claim(self.store, self.app, token, operator, self.book.fleet.exclusive)
        if why:
            raise UserError(why, EXIT_BLOCKED)
        self.claimed = token

    def attach(self, run: Run, journal: Journal) -> None:
        self.run = run
        if self.book.fleet is not None:
            if self.claimed and self.claimed != run.run_id:
                claimed = self.claimed
                _try(run, "name the run in the app's deploying mark",
                     lambda: blocks.adopt(self.store, self.app, claimed, run.run_id))
            elif not self.claimed:  # a resumed run: the app is deploying again
                _try(run, "mark the app as deploying in the team store",
                     lambda: blocks.claim(self.store, self.app, run.run_id, run.operator, []))
            self.claimed = run.run_id
            self._board()
            threading.Thread(target=self._beat, name="fleet-mark", daemon=True).start()
        if self.shared:
            self.shipper = Shipper(self.store, journal, run.run_id,
                                   on_problem=lambda why: _say(run, f"the team store is not reachable ({why}): "
                                                                   "the run goes on; its record is shipped later"),
                                   board=self.board_entry if self.book.fleet is not None else None)
            run.subscribe(self.shipper.poke, self.shipper.poke)
            self.shipper.start()
            self.shipper.poke()

    def board_entry(self) -> dict:
        """This app's line on the fleet board: its latest run, the stage (section) it is at, how it ended."""
        run = self.run
        assert run is not None
        s = run.state
        at = s.current or (s.path[-1] if s.path else None)
        return {"app": self.app, "run": run.run_id, "release": s.info.get("release") or "",
                "team": s.info.get("team") or "", "stage": (run.book.step(at).section or "") if at else "",
                "step": at or "", "outcome": s.outcome or "running", "dry": bool(s.info.get("dry")),
                "operator": run.operator}

    def after(self, code: int) -> None:
        """The headless driver stopped with `code`: a failed pipeline blocks its app and ends its run (which
        gives back its locks); then the rest is shipped, within a deadline."""
        run = self.run
        if run is None:
            return
        if self.book.fleet is not None and code == EXIT_FAILED and not run.state.outcome:
            failed = [sid for sid in run.state.path if run.state.steps[sid].error] or ["?"]
            why = f"run {run.run_id} failed at {failed[0]}: {run.state.steps[failed[0]].error}" \
                if failed[0] != "?" else f"run {run.run_id} failed"
            team = run.state.info.get("team")
            _try(run, f"block {self.app}", lambda: blocks.set_block(
                self.store, self.app, True, why + (f"; {team} to look" if team else ""), by="deploytui"))
            run.abort(f"the pipeline failed: {self.app} is blocked until someone unblocks it", actor="deploytui")

    def _board(self) -> None:
        """This app's board entry, where a team store's shipper does not write it (the machine's own store)."""
        if self.shared or self.book.fleet is None or self.run is None:
            return
        try:
            blocks.put_board_entry(self.store, self.board_entry())
        except UserError:
            pass

    def _beat(self) -> None:
        """While the driver lives its mark stays fresh; a driver killed (`kill -9`) stops this, and after
        blocks.MARK_TTL its mark no longer counts."""
        while not self._beating.wait(blocks.MARK_BEAT):
            try:
                blocks.beat(self.store, self.app, self.claimed)
            except UserError:  # the store is down: the mark may go stale, which only frees the app sooner
                pass

    def close(self, timeout: float = 10.0) -> bool:
        """The run ended (its app no longer deploying), never started, or stopped open; ship the rest
        within `timeout`. False when the store has not got all of it yet."""
        self._beating.set()
        self._board()
        run = self.run
        if self.book.fleet is not None and self.claimed and (run is None or run.state.outcome):
            try:
                blocks.release(self.store, self.app, self.claimed)
            except UserError as e:
                if run is not None:
                    _say(run, f"could not clear the app's deploying mark: {e}")
        return self.shipper.close(timeout) if self.shipper is not None else True


def _try(run: Run, what: str, act) -> None:
    """Do `act` on the store; a store that fails is said in the run, never the end of it."""
    try:
        act()
    except UserError as e:
        _say(run, f"could not {what}: {e}")


def _say(run: Run, text: str) -> None:
    if run.state.outcome:  # nothing is added after the run's last event; the command line says it instead
        return
    try:
        run.note(text)
    except UserError:  # the run has ended meanwhile
        pass
