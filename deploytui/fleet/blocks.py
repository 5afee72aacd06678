"""Who may deploy now: an app's pipeline blocked by a person (`deploytui block APP --reason`), and apps that
cannot deploy together ([fleet] exclusive). Both live in the team store, where every laptop and CI runner of
the team sees them.

Keys: blocks/APP.json (the app's block state), blocks-log/APP/TS.json (every block and unblock, kept),
active/APP.json (a run of APP is open: written when it starts, rewritten every MARK_BEAT seconds while
its driver lives, removed when it ends; one not rewritten for MARK_TTL is a driver that died, `kill -9`
of a CI runner, and no longer counts), exclusive.json (the lease an app that cannot deploy together with
others holds while it deploys).

Claiming is atomic with the store's conditional writes (S3's If-None-Match / If-Match): an app that must
deploy alone creates the lease, then looks for other apps' marks; any other app writes its mark, then
looks for the lease and backs off if it is there. The lease holder gives those a moment (CLAIM_SETTLE)
to see it and go, then backs off itself if any other app's mark is left: that app looked first and is
deploying. So two never deploy together, and one of them does."""

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


MARK_BEAT = 60.0  # seconds between rewrites of an open run's deploying mark (and lease)
MARK_TTL = 600.0  # a mark not rewritten for this long belongs to a driver that died: it no longer counts
LEASE = "exclusive.json"
CLAIM_SETTLE = 1.0  # seconds the lease holder gives apps that claimed at the same moment to see it and go


def _fresh(marker: dict[str, Any] | None, now: float) -> bool:
    if not marker:
        return False
    return now - float(marker.get("beat") or marker.get("since") or 0) < MARK_TTL


def deploying(store: Store, now: float | None = None) -> dict[str, dict[str, Any]]:
    """The apps with a run open now (a live driver): app -> {run, operator, host, since, beat}."""
    now = time.time() if now is None else now
    out = {}
    for key in store.keys("active/"):
        marker = _read(store, key)
        if marker and _fresh(marker, now):
            out[marker["app"]] = marker
    return out


def stale(store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Marks whose driver stopped rewriting them (killed): shown on the board, ignored by claims."""
    now = time.time() if now is None else now
    return [m for key in store.keys("active/") if (m := _read(store, key)) and not _fresh(m, now)]


def _clash(app: str, alone: str, m: dict[str, Any]) -> str:
    return (f"{app} cannot deploy now: {alone} cannot deploy together with another app, and {m['app']} is "
            f"deploying (run {m['run']}, {m['operator']} on {m['host']} since {_when(m['since'])})")


def refusal(store: Store, app: str, exclusive: list[str], now: float | None = None) -> str | None:
    """Why a new run of `app` may not start now, in one line, or None (a look only: `claim` decides)."""
    block = block_of(store, app)
    if block:
        return block_line(block)
    others = {a: m for a, m in deploying(store, now).items() if a != app}
    clash = [a for a in others if a in exclusive or app in exclusive]
    if clash:
        return _clash(app, app if app in exclusive else clash[0], others[clash[0]])
    return None


def claim(store: Store, app: str, run: str, operator: str, exclusive: list[str],
          now: float | None = None, settle: float = CLAIM_SETTLE) -> str | None:
    """Mark `app` as deploying, atomically against the apps it cannot deploy together with: None when it
    may deploy (its mark, and lease, are written), else why not in one line (nothing is left written)."""
    now = time.time() if now is None else now
    why = refusal(store, app, exclusive, now)
    if why:
        return why
    marker = {"app": app, "run": run, "operator": operator, "host": socket.gethostname(), "since": now, "beat": now}
    data = json.dumps(marker).encode()
    if app in exclusive:
        raw, tag = store.get_tagged(LEASE)
        held = json.loads(raw) if raw else None
        if held and _fresh(held, now) and held.get("app") != app:
            return _clash(app, held["app"], held)
        if not store.put_if(LEASE, data, tag):  # another app took the lease between our read and write
            return refusal(store, app, exclusive) or f"{app} cannot deploy now: another app took the fleet's " \
                "exclusive lease at the same moment; try again"
    store.put(f"active/{app}.json", data)
    # now look: whoever looks second sees the first
    others = {a: m for a, m in deploying(store, now).items() if a != app}
    lease = _read(store, LEASE)
    if app in exclusive:
        if others and settle:  # apps that claimed as we did see the lease and go; what stays is deploying
            time.sleep(settle)
            others = {a: m for a, m in deploying(store, now).items() if a != app}
        clash = next(iter(others.values()), None)
    else:
        clash = lease if lease and _fresh(lease, now) and lease.get("app") != app else None
        clash = clash or next((m for a, m in others.items() if a in exclusive), None)
    if clash is not None:
        release(store, app, run)
        return _clash(app, app if app in exclusive else clash["app"], clash)
    return None


def beat(store: Store, app: str, run: str, now: float | None = None) -> None:
    """The run's driver lives: rewrite its mark (and lease) with the time, so they do not go stale."""
    now = time.time() if now is None else now
    for key in (f"active/{app}.json", LEASE):
        marker = _read(store, key)
        if marker and marker.get("run") == run:
            store.put(key, json.dumps({**marker, "beat": now}).encode())


def adopt(store: Store, app: str, old: str, run: str) -> None:
    """A claim made before the run had its id: the mark (and lease) now name the run."""
    for key in (f"active/{app}.json", LEASE):
        marker = _read(store, key)
        if marker and marker.get("run") == old:
            store.put(key, json.dumps({**marker, "run": run}).encode())


def release(store: Store, app: str, run: str) -> None:
    """The run ended (or its claim was given back): `app` is no longer deploying, unless another run of it
    has taken the mark since."""
    for key in (f"active/{app}.json", LEASE):
        marker = _read(store, key)
        if marker and marker.get("run") == run:
            store.delete(key)


clear_active = release


def put_board_entry(store: Store, entry: dict[str, Any]) -> None:
    """An app's line on the board: its latest run, stage and outcome (apps/APP.json)."""
    store.put(f"apps/{entry['app']}.json", json.dumps(entry, sort_keys=True).encode())


def board(store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Every app the store knows (from its runs, its blocks and its marks): latest run, stage, outcome,
    block, and the run deploying it now (`deploying`) or the mark a killed driver left (`stale`)."""
    now = time.time() if now is None else now
    apps: dict[str, dict[str, Any]] = {}
    for key in store.keys("apps/"):
        entry = _read(store, key)
        if entry:
            apps[entry["app"]] = entry
    for key in store.keys("blocks/"):
        state = _read(store, key)
        if state:
            apps.setdefault(state["app"], {"app": state["app"]})["block"] = state if state.get("blocked") else None
    for key in store.keys("active/"):
        marker = _read(store, key)
        if marker:
            apps.setdefault(marker["app"], {"app": marker["app"]})[
                "deploying" if _fresh(marker, now) else "stale"] = marker
    return [apps[a] for a in sorted(apps)]
