"""`deploytui serve`: the follower served with textual-serve on 127.0.0.1, behind an access token."""

import os
import re
import subprocess
import sys
import time

import aiohttp
import pytest

from .helpers import ROOT

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(finished):
    journal, run_id = finished
    proc = subprocess.Popen([sys.executable, "-m", "deploytui", "serve", run_id, "--journal", str(journal), "--port",
                             "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        end = time.monotonic() + 20
        while url is None and time.monotonic() < end:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(http://\S+)", line)
            url = m.group(1) if m else None
        assert url, "serve printed no URL"
        yield url, run_id
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, _remote, st = row.split()[1:4]
            addr, p = local.split(":")
            if int(p, 16) == port and st == "0A":
                found.add(addr)
    return found


async def test_served_follower_needs_the_token(served):
    url, run_id = served
    base, token = url.split("/?token=")
    assert base.startswith("http://127.0.0.1:") and len(token) >= 24
    port = int(base.rsplit(":", 1)[1])
    end = time.monotonic() + 10  # the URL is printed as the server starts, a moment before it listens
    while not listening_addresses(port) and time.monotonic() < end:
        time.sleep(0.05)
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as anon:
        for path in ("/", "/?token=wrong", "/static/js/textual.js", "/ws?width=80&height=24"):
            async with anon.get(base + path) as r:
                assert r.status == 403, path
                assert "needs its access token" in await r.text()
    # a browser keeps cookies from 127.0.0.1 (aiohttp's client needs `unsafe` to do the same)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(url) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            page = await r.text()
            assert "textual" in page.lower()
        # the page's assets and websocket then work with the cookie the page set, as in a browser
        async with browser.get(base + "/static/js/textual.js") as r:
            assert r.status == 200
        screen = b""
        async with browser.ws_connect(base.replace("http", "ws") + "/ws?width=120&height=30") as ws:
            end = time.monotonic() + 15
            while b"FOLLOWING" not in screen and time.monotonic() < end:
                msg = await ws.receive(timeout=10)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    screen += msg.data
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    screen += msg.data.encode()
                else:
                    break
        assert b"FOLLOWING" in screen and run_id.encode() in screen
