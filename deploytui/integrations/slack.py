"""Slack incoming webhooks (httpx): the slack.post action and the runbook-level notifier.

A Slack outage must never block a deploy: the notifier posts from a background thread and reports
failures through `on_failure(line)` (the engine journals a notify_failed event)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ActionError
from ..events import kinds as ev
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


def _title(state, step_id: str | None) -> str:
    try:
        return state.book.step(step_id).title
    except (KeyError, AttributeError):
        return step_id or ""


def _dur(seconds: Any) -> str:
    try:
        from ..runbook.durations import format_duration

        return format_duration(float(seconds))
    except (TypeError, ValueError):
        return ""


def describe(event, state) -> str | None:
    """One Slack line for an engine event, or None for events Slack need not hear about."""
    d = event.data or {}
    try:
        book = state.book.runbook.title
    except AttributeError:
        book = d.get("title", "the runbook")
    env = (getattr(state, "vars", None) or {}).get("env")
    where = f"{book}{f' ({env})' if env else ''}"
    step = _title(state, event.step)
    why = f": {d['reason']}" if d.get("reason") else ""
    k = event.kind
    if k == ev.RUN_STARTED:
        return f":rocket: {d.get('operator') or event.actor} started {d.get('title') or where}"
    if k == ev.RESUMED:
        return f":arrow_forward: {d.get('operator') or event.actor} resumed {where}"
    if k == ev.STEP_FINISHED:
        took = f" in {_dur(d['duration'])}" if d.get("duration") is not None else ""
        if d.get("status") == "failed":
            code = f" (exit {d['exit_code']})" if d.get("exit_code") not in (None, 0) else ""
            return f":x: {where}: {step} failed{code}{took}"
        return f":white_check_mark: {where}: {step} done{took}"
    if k == ev.DECISION:
        return f":twisted_rightwards_arrows: {where}: {step}: chose {d.get('label') or d.get('option')}{why}"
    if k == ev.SKIPPED:
        return f":fast_forward: {where}: {event.actor} skipped {step}{why}"
    if k == ev.OVERRIDE:
        return f":warning: {where}: {event.actor} overrode the {d.get('what', '')}{why}"
    if k == ev.MARKED:
        return f":pencil2: {where}: {event.actor} marked {step} {d.get('status', '')}{why}"
    if k == ev.JUMP:
        return f":rotating_light: {where}: {event.actor} entered {d.get('target', '')}{why}"
    if k == ev.TIMER_EXPIRED:
        return f":alarm_clock: {where}: {step}: {d.get('timer', 'timer')} is over"
    if k == ev.DEADLINE_PASSED:
        return f":rotating_light: {where}: the deploy window closed"
    if k == ev.RUN_FINISHED:
        outcome = d.get("outcome", "finished")
        icon = {"succeeded": ":tada:", "aborted": ":octagonal_sign:"}.get(outcome, ":checkered_flag:")
        return f"{icon} {where} {outcome.replace('_', ' ')}{why}"
    return None


class SlackNotifier:
    """Posts run events to a webhook in order, from one background thread; never raises to the caller."""

    def __init__(self, webhook_url: str, events: list[str] | tuple[str, ...] | None = None,
                 on_failure: Callable[[str], None] | None = None, timeout: float = 10.0):
        self.webhook_url = webhook_url
        self.events = set(events or DEFAULT_EVENTS)
        self.on_failure = on_failure or (lambda line: None)
        self.timeout = timeout
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="slack-notifier", daemon=True)
        self._thread.start()

    def notify(self, event, state) -> None:
        """Post the event's line if its kind is one of `events`."""
        if event.kind in self.events:
            text = describe(event, state)
            if text:
                self.post(text)

    def post(self, text: str) -> None:
        self._queue.put(text)

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
