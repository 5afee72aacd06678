"""`deploytui follow`: a read-only screen of a run, rebuilt from the journal and kept current by polling it.

It is the driver's run screen (header, step list, step detail, output panes, countdowns) over a
`RunView` built from the journal instead of a live `Run`: `read_only=True`, so it allows no intent; its keys
move, search, read the full output, copy and quit. Nothing here can change the run: the journal is opened
read-only and no engine is ever created. Each follower has its own size, selection and scroll; the feed is
polled on a worker thread and applied on the screen's thread."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Label

from ..engine.clock import Clock, FrozenClock
from ..errors import UserError
from ..follow.client import SocketFollow
from ..follow.feed import POLL_INTERVAL, Follow, Update
from ..runbook import templates
from ..runbook.model import sign_offs_needed
from ..runbook.variables import SECRET_VAR
from ..text.redact import MASK
from .base import RunApp
from .config import Config
from .keys import COMMON, FOLLOW, SIGN, bindings
from .output import KEEP_LINES, OutputStore
from .screens.run import RunScreen
from .view import RunView, Source
from .widgets.bars import Hint

Feeds = Follow | SocketFollow  # the journal's follower, or the driver's socket's


@dataclass
class FeedUpdate(Message):
    """What the feed found committed since its last poll (posted from the feed's thread)."""

    update: Update


class FollowStore(OutputStore):
    """Output for a follower who may join mid-step: a stream's history is read from the journal up to
    the chunk cursor already applied (`applied`), then the feed's chunks are added on top, so no line is
    lost or shown twice. Chunks may end mid-line: the unfinished line waits for the next chunk (or for
    the step's command to finish, `flush`)."""

    def __init__(self, follow: Feeds, keep: int = KEEP_LINES):
        super().__init__(keep=keep)
        self.follow = follow
        self.applied = follow.chunk_cursor
        self._primed: set[tuple[str, str, int]] = set()
        self._partial: dict[tuple[str, str, int], str] = {}

    def _prime(self, step: str, stream: str, attempt: int) -> None:
        key = (step, stream, attempt)
        if key in self._primed:
            return
        self._primed.add(key)
        text, total = self.follow.history(step, stream, attempt, upto=self.applied, lines=self.keep)
        self._add(step, attempt, stream, text, earlier=max(0, total - text.count("\n")))

    def _add(self, step: str, attempt: int, stream: str, text: str, earlier: int = 0) -> None:
        key = (step, stream, attempt)
        text = self._partial.pop(key, "") + text
        if not text.endswith("\n"):
            head, sep, rest = text.rpartition("\n")
            self._partial[key] = rest
            text = head + sep
        if text:
            super().add(step, attempt, stream, text, earlier)

    def add(self, step: str, attempt: int, stream: str, text: str, earlier: int = 0) -> None:
        self._prime(step, stream, attempt)
        self._add(step, attempt, stream, text, earlier)

    def flush(self, step: str) -> None:
        """The step's command ended: show its unfinished last lines as they are."""
        for key in [k for k in self._partial if k[0] == step]:
            rest = self._partial.pop(key)
            if rest:
                super().add(key[0], key[2], key[1], rest + "\n")

    def since(self, step: str, stream: str, generation: int, shown: int):
        st = self.follow.state.steps.get(step)
        if st is not None and st.attempt:
            self._prime(step, stream, st.attempt)
            if not st.command_running:
                self.flush(step)
        return super().since(step, stream, generation, shown)


def follow_view(follow: Feeds, store: OutputStore, clock: Clock) -> RunView:
    state = follow.state

    def variables() -> dict:
        info = state.info
        return {"environment": info.get("environment", ""), "release": info.get("release", ""), **state.vars}

    def secrets() -> list[str]:  # masked in the journal: shown as the driver shows them
        return [k for k, v in state.vars.items() if v in (MASK, SECRET_VAR)]

    def command_for(step_id: str) -> str | None:
        if step_id in follow.commands:  # what the driver actually ran
            return follow.commands[step_id]
        step = follow.book.step(step_id)
        if step.run:
            try:
                return templates.render(step.run, {**variables(), **state.bindings(step_id)}, shell=True,
                                        secrets=secrets()).strip()
            except templates.TemplateProblem:
                return step.run.strip()
        return step.uses or None

    def render(template: str | None, step: str | None = None) -> str:
        return templates.for_people(template, {**variables(), **state.bindings(step)}, secrets=secrets())

    return RunView(state=state, book=follow.book, store=store, clock=clock, variables=variables,
                   command_for=command_for, read_only=True, render=render)


class FollowScreen(RunScreen):
    """The run screen, read-only, with a line saying whose run this is and that it cannot be changed here."""

    KEYS = [*FOLLOW, *COMMON]
    BINDINGS = bindings(FOLLOW)

    def __init__(self, view: RunView, banner: str, history=(), sign: bool = False, **kw):
        super().__init__(view, history, **kw)
        self.banner = banner
        # a pair sees only what they can do: help, the palette and the key bar offer A only with --sign
        self.KEYS = [k for k in self.KEYS if sign or k is not SIGN]

    def compose(self) -> ComposeResult:
        yield Label(self.banner, id="follow-banner")
        yield from super().compose()

    def hints(self) -> list[Hint]:
        """Sign off shows only to a pair who may sign (`--sign`), on a step that asks for a sign-off."""
        sid = self.selected
        may = getattr(self.app, "signing", False) and sid is not None and \
            sign_offs_needed(self.view.book, self.view.book.step(sid))[0] > 0
        return [h for h in super().hints() if may or h.key != SIGN.display]


class FollowApp(RunApp):
    CSS_PATH = ["app.tcss", "follow.tcss"]  # type: ignore[assignment]
    TITLE = "deploytui follow"

    def __init__(self, follow: Feeds, *, clock: Clock | None = None, interval: float = POLL_INTERVAL,
                 blink: bool = True, config: Config | None = None, sign: bool = False):
        super().__init__(config=config, blink=blink)
        self.follow = follow
        self.journal = getattr(follow, "journal", None)  # a socket follower has none: full output asks the driver
        self.signing = sign  # `deploytui follow --sign`: this pair may sign off steps that ask for it
        self.clock = clock or Clock()
        self.interval = interval
        self.store = FollowStore(follow)
        self.view = follow_view(follow, self.store, self.clock)
        self.updates_seen = 0  # feed updates applied (tests read it)
        self._stop = threading.Event()  # set on the way out: the feed's loop ends with the app

    def banner(self) -> str:
        row, s = self.follow.row, self.follow.state
        who = s.info.get("operator") or row.operator
        where = f" in tmux {row.tmux}" if row.tmux else ""
        following = f"FOLLOWING {row.id} · driven by {who} on {row.host}{where} · read-only"
        if not s.outcome and self.follow.stopped:  # first, where 80 columns still show it
            return f" THE DRIVER HAS STOPPED{self._last_words()} · {following} "
        state = f" · finished: {s.outcome.replace('_', ' ')}" if s.outcome else " · open"
        return f" {following}{state} "

    def _last_words(self) -> str:
        """What happened last, for a pair whose driver went silent (also when it was before they joined)."""
        from ..events.describe import describe

        last = self.follow.last_event
        if last is None:
            return ""
        return f" · last: {describe(last, self.view.text_of_step).text}"

    def on_mount(self) -> None:
        super().on_mount()
        history = self.journal.events(self.follow.run_id)[-500:] if self.journal is not None else ()
        self.push_screen(FollowScreen(self.view, self.banner(), history, sign=self.signing))
        if not self.follow.state.outcome:
            self.run_worker(self._feed, thread=True, group="feed", exclusive=True, exit_on_error=False,
                            description=f"poll the journal for run {self.follow.run_id}")

    # ---- the feed (worker thread) -----------------------------------------------------------------
    def _feed(self) -> None:
        """The feed's one loop (Feed.updates) on this worker thread; each update is folded on the screen's
        thread, with the output it goes with."""
        try:
            for update in self.follow.updates(self.interval, stop=self._stop):
                self.post_message(FeedUpdate(update))
        except Exception:
            if self._stop.is_set():  # the journal was closed under us on the way out
                return
            raise

    def open_full_output(self, source: Source, title: str, run_id: str, attempt: int) -> None:
        """From the journal when this pair reads it; else from the driver's journal through its socket (the
        `full` request), in pieces, the screen growing as they come."""
        feed = self.follow
        if self.journal is not None or not isinstance(feed, SocketFollow) or not attempt:
            super().open_full_output(source, title, run_id, attempt)
            return
        from .screens.output import FullOutputScreen, SpooledLines

        lines = SpooledLines(feed.full_output(source.step, attempt, source.stream), source.step)
        self.push_screen(FullOutputScreen(f"Full output of {title} (attempt {attempt}, from the driver)", lines))

    def on_worker_state_changed(self, event) -> None:
        if event.worker.group == "feed" and event.worker.error is not None:
            self.notify(f"Lost the journal: {event.worker.error}", severity="error", timeout=30)

    # ---- feed -> screen (screen thread) -------------------------------------------------------------
    async def on_feed_update(self, message: FeedUpdate) -> None:
        update = message.update
        self.follow.apply(update)
        for chunk in update.chunks:
            self.store.add(chunk.step, chunk.attempt, chunk.stream, chunk.data)
        self.store.applied = update.last_chunk
        self.updates_seen += 1
        screen = self.run_screen
        if screen is None:
            return
        for e in update.events:
            screen.heard(e)
        if update.events:
            screen.query_one("#follow-banner", Label).update(self.banner())
        if update.finished:
            self.notify(f"The run finished: {(self.follow.state.outcome or '').replace('_', ' ')}. q quits.",
                        timeout=30)
        self.flush_output()

    def second(self) -> None:
        super().second()
        screen = self.run_screen
        if screen is None or not screen.is_mounted:
            return
        stopped = not self.follow.state.outcome and self.follow.stopped
        if stopped != getattr(self, "_said_stopped", False):  # within a second of the driver going silent
            self._said_stopped = stopped
            # nothing moves while nobody drives: the run's clock and countdowns stop where the driver was last
            # alive (its heartbeat), also for a pair who joins later
            now = self.clock.now()
            self.view.clock = FrozenClock(min(now, self.follow.last_alive() or now)) if stopped else self.clock
            banner = screen.query_one("#follow-banner", Label)
            banner.update(self.banner())
            banner.set_class(stopped, "-stopped")
            if stopped:
                self.notify("The driver has stopped: nothing moves until someone resumes the run.",
                            severity="error", timeout=30)

    # ---- the follower's own action that reaches the driver (it changes no step) -----------------------
    def action_sign(self) -> None:
        """Sign off the selected step's command as yourself (the four-eyes rule), after reading it whole."""
        from .screens.dialogs import ConfirmDialog

        screen = self.run_screen
        sid = screen.selected if screen is not None else None
        feed = self.follow
        if not self.signing or sid is None or not isinstance(feed, SocketFollow):
            self.notify("Signing off needs `deploytui follow --sign` on the driver's published run.",
                        severity="warning")
            return
        need, group = sign_offs_needed(self.follow.book, self.follow.book.step(sid))
        if not need:
            self.notify("This step asks for no sign-off.", severity="warning")
            return
        command = self.view.command(sid) or ""

        def signed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                feed.sign(sid, command)
            except UserError as e:
                self.notify(str(e), severity="error", timeout=10)
                return
            self.notify("Signed off: the journal records it under your name.")

        self.push_screen(ConfirmDialog(f"Sign off: {self.view.title(sid)}",
                                       f"As your own Unix user you approve this command:\n\n{command}",
                                       yes="Sign off"), signed)

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit()

    def on_exit_app(self) -> None:
        """However the app is told to end (q, a browser tab closed under `serve`, SIGTERM), the feed's thread
        stops with it: a thread left polling would keep the process alive for ever."""
        self._stop.set()


SHUTDOWN_GRACE = 3.0  # seconds a follower told to end (SIGTERM, SIGHUP) has before it exits regardless


def run_follow(follow: Feeds, sign: bool = False, config: Config | None = None) -> None:
    """What `deploytui follow` calls. SIGTERM and SIGHUP end it (a browser tab closed under `serve`)."""
    import asyncio

    from ..engine.ending import ending_signals

    app = FollowApp(follow, sign=sign, config=config)

    def on_signal(_signum: int) -> None:
        app._stop.set()
        # Textual's shutdown can hang for ever when the terminal is already gone (seen: a tmux server killed
        # under a follower, its writer queue never drained): a follower holds nothing to save, so it ends anyway
        watchdog = threading.Timer(SHUTDOWN_GRACE, os._exit, (0,))
        watchdog.daemon = True  # a follower that ends in time is not held back by it
        watchdog.start()
        try:
            asyncio.get_running_loop().call_soon(app.exit)
        except RuntimeError:
            pass

    try:
        with ending_signals(on_signal):
            app.run()
    finally:
        app._stop.set()
        follow.close()
