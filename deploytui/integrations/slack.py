"""Slack incoming webhooks (httpx): the slack.post action and the runbook-level notifier.

A Slack outage must never block a deploy: the notifier posts from a background thread and reports
failures through `on_failure(line)` (the engine journals a notify_failed event)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import ActionError
from ..events import kinds as ev
from ..events.describe import BAD, INFO, OK, WARN
from ..events.describe import describe as say
from ..runbook.templates import TemplateProblem
from ._params import getenv
from .registry import ActionContext, action

DEFAULT_EVENTS = ("run_started", "step_finished", "decision", "run_finished")
STEP_FAILED = "step_failed"  # an event name for [notify]: a step_finished that failed (a team's alert channel)
MAX_TEXT = 3500  # Slack shows up to 4,000 characters of a message before "Show more"
MIN_INTERVAL = 1.0  # Slack allows an incoming webhook about one message a second
MAX_RETRY_WAIT = 120.0  # a longer Retry-After than this fails the post instead of holding the deploy


def _retry_after(resp) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def send(webhook: str, payload: dict, timeout: float = 10.0, wait: Callable[[float], bool] = _sleep,
         attempts: int = 5) -> None:
    """POST to an incoming webhook; raises ActionError with one line on any failure. A 429 is retried
    after its Retry-After, a 5xx after 1 s then 2 s; `wait(seconds)` returns False to give up (cancelled)."""
    import httpx

    for attempt in range(attempts):
        try:
            resp = httpx.post(webhook, json=payload, timeout=timeout)
        except httpx.HTTPError as err:  # an outage: say so now rather than after minutes of retries
            raise ActionError(f"cannot reach Slack: {type(err).__name__}") from None
        if resp.status_code == 200:
            return
        if resp.status_code == 429:
            delay, problem = _retry_after(resp), "Slack is rate limiting this webhook (429)"
        elif resp.status_code >= 500 and attempt < 2:
            delay, problem = 2.0 ** attempt, f"Slack answered {resp.status_code}"
        else:
            raise ActionError(f"Slack refused the message ({resp.status_code}: {resp.text.strip()[:80]})")
        if attempt == attempts - 1 or delay > MAX_RETRY_WAIT:
            raise ActionError(f"{problem}: gave up after {attempt + 1} attempt(s)")
        if not wait(delay):
            raise ActionError(f"{problem}: cancelled while waiting {delay:g}s to retry")


@action("slack.post")
def post(ctx: ActionContext, text: str, webhook: str = "", channel: str = "", username: str = "") -> dict:
    """Post a message to a Slack incoming webhook (default: SLACK_WEBHOOK_URL); waits out a 429."""
    url = webhook or getenv(ctx, "SLACK_WEBHOOK_URL")
    if not url:
        raise ActionError("no Slack webhook: give `webhook` or set SLACK_WEBHOOK_URL")
    ctx.add_secret(url)
    payload: dict[str, Any] = {"text": text}
    if channel:
        payload["channel"] = channel
    if username:
        payload["username"] = username

    def wait(seconds: float) -> bool:
        ctx.log(f"Slack asked us to wait {seconds:g}s (rate limit): retrying then")
        return ctx.sleep(seconds)

    send(url, payload, wait=wait)
    ctx.log(f"posted to Slack: {text.splitlines()[0] if text else ''}")
    return {"posted": True}


TONE_ICONS = {OK: ":white_check_mark:", BAD: ":x:", WARN: ":warning:", INFO: ":arrow_forward:"}


def describe(event, state, title: Callable[[str], str] | None = None) -> str:
    """One Slack line for an engine event: what `events.describe` says of it, and, for a step's event, the
    run it belongs to."""
    book: Any = getattr(state, "book", None)

    def step_title(step_id: str) -> str:
        try:
            return title(step_id) if title else book.step(step_id).title
        except (KeyError, AttributeError):
            return step_id

    said = say(event, step_title)
    if event.step is None:
        return f"{TONE_ICONS[said.tone]} {said.text}"
    info = getattr(state, "info", None) or {}
    env = info.get("environment")
    # the title as the run rendered it when it started ("Upgrade PostgreSQL 15 to 16"), never a template
    where = (info.get("title") or (book.runbook.title if book else "")) + (f" ({env})" if env else "")
    owner = f" (owned by {info['team']})" if said.tone == BAD and info.get("team") else ""  # [fleet]: who acts
    return f"{TONE_ICONS[said.tone]} {where}: {said.text}{owner}"


def wants(events: set[str], event) -> bool:
    """Whether a channel that hears `events` hears this event (`step_failed`: only failed steps)."""
    if event.kind in events:
        return True
    return (STEP_FAILED in events and event.kind == ev.STEP_FINISHED
            and (event.data or {}).get("status") == "failed")


class SlackNotifier:
    """Posts run events to one webhook in order, from one background thread; never raises to the caller.
    Messages that queue up while a post is in flight (or Slack asks us to wait) go out together in one
    post, at most one post a second."""

    def __init__(self, webhook_url: str, events: list[str] | tuple[str, ...] | None = None,
                 on_failure: Callable[[str], None] | None = None, timeout: float = 10.0,
                 redact: Callable[[str], str] = lambda text: text):
        self.webhook_url = webhook_url
        self.redact = redact  # the run's redactor: no secret reaches a Slack message
        self.events = set(events or DEFAULT_EVENTS)
        self.on_failure = on_failure or (lambda line: None)
        self.timeout = timeout
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="slack-notifier", daemon=True)
        self._thread.start()

    def notify(self, event, state, title: Callable[[str], str] | None = None) -> None:
        """Post the event's line if this channel hears it."""
        if wants(self.events, event):
            self.post(describe(event, state, title))

    def post(self, text: str) -> None:
        self._queue.put(self.redact(text))

    def _batch(self, first: str) -> tuple[list[str], str | None, bool]:
        """`first` and whatever else is queued, up to MAX_TEXT; returns (batch, carried over, closing)."""
        batch, size = [first], len(first)
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return batch, None, False
            if nxt is None:
                self._queue.task_done()
                return batch, None, True
            if size + 1 + len(nxt) > MAX_TEXT:
                return batch, nxt, False
            batch.append(nxt)
            size += 1 + len(nxt)

    def _work(self) -> None:
        carried: str | None = None
        while True:
            text = carried if carried is not None else self._queue.get()
            if text is None:
                self._queue.task_done()
                return
            batch, carried, closing = self._batch(text)
            posted = time.monotonic()
            try:
                send(self.webhook_url, {"text": "\n".join(batch)}, self.timeout,
                     wait=lambda s: not self._closing.wait(s))
            except ActionError as err:
                self._report(f"{err} (message: {batch[0][:60]}{f' and {len(batch) - 1} more' if len(batch) > 1 else ''})")
            except Exception as err:  # a notifier bug must not end the deploy either
                self._report(f"Slack notification failed: {type(err).__name__}: {err}")
            finally:
                for _ in batch:
                    self._queue.task_done()
            if closing:
                return
            self._closing.wait(max(0.0, MIN_INTERVAL - (time.monotonic() - posted)))

    def _report(self, line: str) -> None:
        try:
            self.on_failure(line)
        except Exception:
            pass

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` for queued messages; True when all were attempted."""
        done = threading.Event()

        def drained() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=drained, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._closing.set()
        self._queue.put(None)


def notifiers(spec, render: Callable[[str], str], on_failure: Callable[[str], None],
              secret: Callable[[str], None], redact: Callable[[str], str] = lambda text: text) -> list[SlackNotifier]:
    """One notifier per channel of a runbook's [notify] (its `slack` and each of its `routes`); a channel
    whose webhook renders empty is left out, one that cannot render is reported."""
    out = []
    for where, template, events in spec.channels():
        try:
            url = render(template).strip()
        except TemplateProblem as e:  # said once; the deploy goes on
            on_failure(f"{where}: {e}")
            continue
        if url:
            secret(url)
            out.append(SlackNotifier(url, events, on_failure=on_failure, redact=redact))
    return out
