"""`deploytui serve`: the read-only follower in a browser (textual-serve), behind an access token."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..errors import UserError

TOKEN_COOKIE = "deploytui_token"


def free_port(host: str) -> int:
    import socket as _socket

    with _socket.socket(_socket.AF_INET6 if ":" in host else _socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_server(command: str, *, host: str, port: int, token: str | None, title: str, echo=print):
    """A textual-serve server for `command`, refusing every request (page, assets, websocket) that does not
    carry the token: in the URL (`?token=`), or in the cookie the page sets when it was opened with it."""
    import asyncio
    import hmac

    from aiohttp import web
    from textual_serve.server import Server

    secret = token or ""  # the middleware is only installed with a token

    @web.middleware
    async def require_token(request: web.Request, handler):
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="deploytui serve: this follower needs its access token: open the "
                                                 "URL `deploytui serve` printed\n")
        response = await handler(request)
        if request.query.get("token") and isinstance(response, web.Response) and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, secret, httponly=True, samesite="Strict", path="/")
        return response

    class FollowServer(Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.tabs: set[asyncio.Task] = set()  # one per open browser tab, each with its own follower

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            if token:
                app.middlewares.append(require_token)
            return app

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            task = asyncio.current_task()
            assert task is not None
            self.tabs.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.tabs.discard(task)

        async def on_shutdown(self, app: web.Application) -> None:
            # aiohttp would wait a minute for open tabs; end each one now, which tells its follower to quit
            # and waits for it (a stopped server leaves no follower behind)
            for task in list(self.tabs):
                task.cancel()
            if self.tabs:
                await asyncio.wait(list(self.tabs), timeout=10)

        async def on_startup(self, app: web.Application) -> None:
            url = f"{self.public_url}/" + (f"?token={token}" if token else "")
            echo(f"deploytui: serving {title} read-only at {url}")
            echo("  anyone with this URL can watch the run; Ctrl+C stops serving")

    return FollowServer(command, host=host, port=port, title=title)


def serve(journal_path: Path | None, run_id: str | None, *, host: str = "127.0.0.1", port: int = 8765,
          token: bool = True, echo=print) -> None:
    """Serve `deploytui follow RUN` to browsers until interrupted."""
    import secrets
    import sys

    from ..follow.feed import follow
    from ..journal.store import default_path

    path = Path(journal_path or default_path()).absolute()
    feed = follow(path, run_id)  # fail here, in one line, when there is no such run
    run = feed.row
    feed.close()
    if port == 0:
        port = free_port(host)
    secret = secrets.token_urlsafe(24) if token else None
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"deploytui: warning: serving on {host}, beyond this machine"
             + ("" if secret else ", with no token: anyone who can reach it can watch"))
    command = shlex.join([sys.executable, "-m", "deploytui", "follow", run.id, "--journal", str(path)])
    server = make_server(command, host=host, port=port, token=secret, echo=echo,
                         title=f"run {run.id} of {run.runbook_id}")
    try:
        server.serve()
    except OSError as e:
        raise UserError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
