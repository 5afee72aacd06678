"""HTTP actions (httpx, imported inside the functions)."""

from __future__ import annotations

from ..engine.actions import ActionContext, action
from ..errors import ActionError


@action("http.get_json")
def get_json(ctx: ActionContext, url: str, fields: dict | str = "", headers: dict | None = None,
             timeout: str = "15") -> dict:
    """GET a JSON document; its fields (and `fields` = {name = "dotted.path"}) become outputs."""
    raise ActionError("not implemented yet")


@action("http.check")
def check(ctx: ActionContext, url: str, status: str = "200", field: str = "", equals: str = "",
          pattern: str = "", timeout: str = "300", every: str = "5", headers: dict | None = None) -> dict:
    """Poll a URL until the status (and a JSON field value or a body pattern) holds, or time out."""
    raise ActionError("not implemented yet")
