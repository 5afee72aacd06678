"""Who may deploy now: an app's pipeline blocked by a person (`deploytui block APP --reason`), and apps that
cannot deploy together ([fleet] exclusive). Both live in the team store, where every laptop and CI runner of
the team sees them.

Keys: blocks/APP.json (the app's block state), blocks-log/APP/TS.json (every block and unblock, kept),
active/APP.json (a run of APP is open: written when it starts, removed when it ends)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

from ..errors import UserError
from ..integrations.store import Store


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read(store: Store, key: str) -> dict[str, Any] | None:
    data = store.get(key)
    return json.loads(data) if data else None


def _reason(reason: str) -> str:
    if not reason.strip():
        raise UserError("give a reason (--reason TEXT): the team reads it when the pipeline refuses to start", 2)
    return reason.strip()


def set_block(store: Store, app: str, blocked: bool, reason: str, by: str, now: float | None = None) -> dict:
    """Block or unblock `app`'s pipeline; the change is also kept in the block log."""
    now = time.time() if now is None else now
    state = {"app": app, "blocked": blocked, "by": by, "at": now, "reason": _reason(reason),
             "host": socket.gethostname()}
    data = json.dumps(state, sort_keys=True).encode()
    store.put(f"blocks-log/{app}/{now:017.6f}.json", data)
    store.put(f"blocks/{app}.json", data)
    return state


def block_of(store: Store, app: str) -> dict[str, Any] | None:
    """The block on `app`, or None when its pipeline may run."""
    state = _read(store, f"blocks/{app}.json")
    return state if state and state.get("blocked") else None


def block_line(block: dict[str, Any]) -> str:
    return (f"{block['app']}'s pipeline is blocked by {block['by']} since {_when(block['at'])}: {block['reason']} "
            f"(lift it with: deploytui unblock {block['app']} --reason TEXT)")


def deploying(store: Store) -> dict[str, dict[str, Any]]:
    """The apps with a run open now: app -> {run, operator, host, since}."""
    out = {}
    for key in store.keys("active/"):
        marker = _read(store, key)
        if marker:
            out[marker["app"]] = marker
    return out


def refusal(store: Store, app: str, exclusive: list[str]) -> str | None:
    """Why a new run of `app` may not start now, in one line, or None."""
    block = block_of(store, app)
    if block:
        return block_line(block)
    others = {a: m for a, m in deploying(store).items() if a != app}
    clash = [a for a in others if a in exclusive or app in exclusive]
    if clash:
        m = others[clash[0]]
        alone = app if app in exclusive else clash[0]
        return (f"{app} cannot deploy now: {alone} cannot deploy together with another app, and {clash[0]} is "
                f"deploying (run {m['run']}, {m['operator']} on {m['host']} since {_when(m['since'])})")
    return None


def mark_active(store: Store, app: str, run_id: str, operator: str, since: float) -> None:
    store.put(f"active/{app}.json", json.dumps({"app": app, "run": run_id, "operator": operator,
                                                "host": socket.gethostname(), "since": since}).encode())


def clear_active(store: Store, app: str, run_id: str) -> None:
    """The run ended: `app` is no longer deploying (unless another run of it has taken the marker)."""
    marker = _read(store, f"active/{app}.json")
    if marker and marker.get("run") == run_id:
        store.delete(f"active/{app}.json")


def board(store: Store) -> list[dict[str, Any]]:
    """Every app the store knows (from its runs and its blocks): latest run, stage, outcome, block."""
    apps: dict[str, dict[str, Any]] = {}
    for key in store.keys("apps/"):
        entry = _read(store, key)
        if entry:
            apps[entry["app"]] = entry
    for key in store.keys("blocks/"):
        state = _read(store, key)
        if state:
            apps.setdefault(state["app"], {"app": state["app"]})["block"] = state if state.get("blocked") else None
    return [apps[a] for a in sorted(apps)]
