"""HTTP actions (httpx, imported inside the functions)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ActionError
from ._params import MISSING, dig, mapping, seconds, words
from .registry import ActionContext, action


def _headers(ctx: ActionContext, headers: Any) -> dict[str, str]:
    out = {str(k): str(v) for k, v in mapping(headers, "headers").items()}
    for k, v in out.items():
        if k.lower() in ("authorization", "cookie", "x-api-key") or "token" in k.lower():
            ctx.add_secret(v.split()[-1] if v.split() else v)
    return out


def _status_ok(code: int, wanted: str) -> bool:
    for w in words(wanted) or ["200"]:
        w = w.lower()
        if (w.endswith("xx") and str(code)[0] == w[0]) or w == str(code):
            return True
    return False


@action("http.get_json")
def get_json(ctx: ActionContext, url: str, fields: dict | str = "", headers: dict | None = None,
             params: dict | str = "", timeout: str = "15") -> dict:
    """GET a JSON document; its fields (and `fields` = {name = "dotted.path"}) become outputs. `params`:
    the query string, encoded here (a Prometheus query: `params = { query = '...' }`)."""
    import httpx

    try:
        resp = httpx.get(url, headers=_headers(ctx, headers), timeout=seconds(timeout, "timeout"),
                         params={str(k): str(v) for k, v in mapping(params, "params").items()} or None,
                         follow_redirects=True)
    except httpx.HTTPError as err:
        raise ActionError(f"cannot GET {url}: {type(err).__name__}: {err}") from None
    if resp.status_code >= 400:
        raise ActionError(f"GET {url} answered {resp.status_code}")
    try:
        data = resp.json()
    except ValueError:
        raise ActionError(f"GET {url} did not answer JSON (content-type {resp.headers.get('content-type', '?')})") from None
    out = dict(data) if isinstance(data, dict) else {"items": data}
    out["http_status"] = resp.status_code
    for name, path in mapping(fields, "fields").items():
        value = dig(data, str(path))
        if value is MISSING:
            raise ActionError(f"{url} has no field {path!r}")
        out[name] = value
        ctx.log(f"{name} = {value}")
    if not fields and isinstance(data, dict):
        for k, v in list(data.items())[:20]:
            ctx.log(f"{k}: {json.dumps(v) if isinstance(v, dict | list) else v}")
    return out


@action("http.check")
def check(ctx: ActionContext, url: str, status: str = "200", field: str = "", equals: str = "",
          pattern: str = "", timeout: str = "300", every: str = "5", headers: dict | None = None) -> dict:
    """Poll a URL until the status (and a JSON field value or a body pattern) holds, or time out."""
    import httpx

    # the service's time: shorter in a time-scaled rehearsal, as GitHub's and AWS's are
    limit, pause = seconds(timeout, "timeout"), max(0.05, ctx.scaled(seconds(every, "every")))
    try:
        rx = re.compile(pattern) if pattern else None
    except re.error as err:
        raise ActionError(f"pattern {pattern!r} is not a regular expression: {err}") from None
    hdrs = _headers(ctx, headers)
    deadline, attempts, last = ctx.clock() + ctx.scaled(limit), 0, None
    with httpx.Client(headers=hdrs, timeout=min(30.0, max(1.0, limit)), follow_redirects=True) as client:
        while True:
            attempts += 1
            value: Any = None
            try:
                resp = client.get(url)
                seen, ok = f"status {resp.status_code}", _status_ok(resp.status_code, status)
                if ok and field:
                    try:
                        value = dig(resp.json(), field)
                    except ValueError:
                        value = MISSING
                    seen += f", {field} = {'(absent)' if value is MISSING else value}"
                    ok = value is not MISSING and (not equals or str(value) == str(equals))
                if ok and rx:
                    ok = bool(rx.search(resp.text))
                    seen += f", pattern {'found' if ok else 'not found'}"
            except httpx.HTTPError as err:
                seen, ok = f"{type(err).__name__}", False
            if seen != last:
                ctx.log(f"GET {url}: {seen}")
                last = seen
            if ok:
                ctx.log(f"{url}: holds after {attempts} attempt(s)")
                return {"status": resp.status_code, "value": None if value is MISSING else value,
                        "attempts": attempts}
            if ctx.clock() + pause > deadline:
                raise ActionError(f"{url} did not pass within {timeout} (last: {seen})")
            if not ctx.sleep(pause):
                raise ActionError(f"cancelled while checking {url} (last: {seen})")
