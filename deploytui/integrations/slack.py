"""Slack incoming webhooks (httpx): the slack.post action and the runbook-level notifier."""

from __future__ import annotations

from ..engine.actions import ActionContext, action
from ..errors import ActionError


@action("slack.post")
def post(ctx: ActionContext, text: str, webhook: str = "", channel: str = "", username: str = "") -> dict:
    """Post a message to a Slack incoming webhook (default: SLACK_WEBHOOK_URL)."""
    raise ActionError("not implemented yet")
