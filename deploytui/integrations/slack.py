"""Slack incoming webhooks (httpx): the slack.post action and the runbook-level notifier.

A Slack outage must never block a deploy: the notifier posts from a background thread and reports
failures through `on_failure(line)` (the engine journals a notify_failed event)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ActionError
from ..events.describe import BAD, INFO, OK, WARN
from ..events.describe import describe as say
from ._params import getenv
from .registry import ActionContext, action

DEFAULT_EVENTS = ("run_started", "step_finished", "decision", "run_finished")


def send(webhook: str, payload: dict, timeout: float = 10.0) -> None:
    """POST to an incoming webhook; raises ActionError with one line on any failure."""
    import httpx

    try:
        resp = httpx.post(webhook, json=payload, timeout=timeout)
    except httpx.HTTPError as err:
        raise ActionError(f"cannot reach Slack: {type(err).__name__}") from None
    if resp.status_code != 200:
        raise ActionError(f"Slack refused the message ({resp.status_code}: {resp.text.strip()[:80]})")


@action("slack.post")
def post(ctx: ActionContext, text: str, webhook: str = "", channel: str = "", username: str = "") -> dict:
    """Post a message to a Slack incoming webhook (default: SLACK_WEBHOOK_URL)."""
    url = webhook or getenv(ctx, "SLACK_WEBHOOK_URL")
    if not url:
        raise ActionError("no Slack webhook: give `webhook` or set SLACK_WEBHOOK_URL")
    ctx.add_secret(url)
    payload: dict[str, Any] = {"text": text}
    if channel:
        payload["channel"] = channel
    if username:
        payload["username"] = username
    send(url, payload)
    ctx.log(f"posted to Slack: {text.splitlines()[0] if text else ''}")
    return {"posted": True}


TONE_ICONS = {OK: ":white_check_mark:", BAD: ":x:", WARN: ":warning:", INFO: ":arrow_forward:"}


def describe(event, state, title: Callable[[str], str] | None = None) -> str:
    """One Slack line for an engine event: what `events.describe` says of it, and, for a step's event, the
    run it belongs to."""
    book = getattr(state, "book", None)

    def step_title(step_id: str) -> str:
        try:
            return title(step_id) if title else book.step(step_id).title
        except (KeyError, AttributeError):
            return step_id

    said = say(event, step_title)
    if event.step is None:
        return f"{TONE_ICONS[said.tone]} {said.text}"
    env = (getattr(state, "info", None) or {}).get("environment")
    where = (book.runbook.title if book else "") + (f" ({env})" if env else "")
    return f"{TONE_ICONS[said.tone]} {where}: {said.text}"


class SlackNotifier:
    """Posts run events to a webhook in order, from one background thread; never raises to the caller."""

    def __init__(self, webhook_url: str, events: list[str] | tuple[str, ...] | None = None,
                 on_failure: Callable[[str], None] | None = None, timeout: float = 10.0,
                 redact: Callable[[str], str] = lambda text: text):
        self.webhook_url = webhook_url
        self.redact = redact  # the run's redactor: no secret reaches a Slack message
        self.events = set(events or DEFAULT_EVENTS)
        self.on_failure = on_failure or (lambda line: None)
        self.timeout = timeout
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="slack-notifier", daemon=True)
        self._thread.start()

    def notify(self, event, state, title: Callable[[str], str] | None = None) -> None:
        """Post the event's line if its kind is one of `events`."""
        if event.kind in self.events:
            self.post(describe(event, state, title))

    def post(self, text: str) -> None:
        self._queue.put(self.redact(text))

    def _work(self) -> None:
        while (text := self._queue.get()) is not None:
            try:
                send(self.webhook_url, {"text": text}, self.timeout)
            except ActionError as err:
                self._report(f"{err} (message: {text[:60]})")
            except Exception as err:  # a notifier bug must not end the deploy either
                self._report(f"Slack notification failed: {type(err).__name__}: {err}")
            finally:
                self._queue.task_done()

    def _report(self, line: str) -> None:
        try:
            self.on_failure(line)
        except Exception:
            pass

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` for queued messages; True when all were attempted."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._queue.put(None)
