"""`deploytui serve`: the follower served with textual-serve on 127.0.0.1, behind an access token."""

import os
import re
import shutil
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


def followers_of(run_id: str) -> list[int]:
    """The `deploytui follow RUN` processes serve started for browsers."""
    out = subprocess.run(["pgrep", "-f", f"deploytui follow {run_id} --journal"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def gone_within(seconds: float, run_id: str) -> bool:
    end = time.monotonic() + seconds
    while followers_of(run_id) and time.monotonic() < end:
        time.sleep(0.05)
    return not followers_of(run_id)


async def open_tab(url: str, run_id: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    """A browser tab: the page (sets the cookie), then the websocket, until the follower has drawn."""
    base = url.split("/?token=")[0]
    browser = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15),
                                    cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with browser.get(url) as r:
        assert r.status == 200
    ws = await browser.ws_connect(base.replace("http", "ws") + "/ws?width=100&height=30")
    screen, end = b"", time.monotonic() + 15
    while b"FOLLOWING" not in screen and time.monotonic() < end:
        msg = await ws.receive(timeout=10)
        if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            break
        screen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
    assert b"FOLLOWING" in screen
    return browser, ws


async def test_closing_a_tab_ends_its_follower(served):
    url, run_id = served
    tabs = [await open_tab(url, run_id) for _ in range(2)]
    assert len(followers_of(run_id)) >= 2  # one follower per tab
    for browser, ws in tabs:
        await ws.close()
        await browser.close()
    assert gone_within(10, run_id), f"followers left running after their tabs closed: {followers_of(run_id)}"


async def test_ctrl_c_stops_serving_and_every_follower(finished):
    journal, run_id = finished
    proc = subprocess.Popen([sys.executable, "-m", "deploytui", "serve", run_id, "--journal", str(journal), "--port",
                             "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            assert line, "serve printed no URL"
            m = re.search(r"(http://\S+)", line)
            url = m.group(1) if m else None
        browser, ws = await open_tab(url, run_id)
        assert followers_of(run_id)
        proc.send_signal(2)  # one Ctrl+C
        assert proc.wait(timeout=15) == 0
        await browser.close()
        assert gone_within(10, run_id), f"followers left running after serve stopped: {followers_of(run_id)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in followers_of(run_id):
            os.kill(pid, 9)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs it)")
async def test_a_real_browser_tab_closed_ends_its_follower(served, tmp_path):
    """Headless Chromium opens the URL (its JavaScript opens the websocket, serve starts a follower);
    closing the tab ends that follower."""
    url, run_id = served
    profile = tmp_path / "chromium-profile"
    browser = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        active = profile / "DevToolsActivePort"  # Chromium writes its debugging port and path here
        end = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().split()) == 2) and time.monotonic() < end:
            time.sleep(0.05)
        port, path = active.read_text().split()
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as cdp:
            ids = iter(range(1, 1000))

            async def call(method: str, **params) -> dict:
                n = next(ids)
                await cdp.send_json({"id": n, "method": method, "params": params})
                while True:
                    msg = await cdp.receive_json(timeout=20)
                    if msg.get("id") == n:
                        assert "error" not in msg, msg
                        return msg["result"]

            tab = (await call("Target.createTarget", url=url))["targetId"]
            end = time.monotonic() + 30
            while not followers_of(run_id) and time.monotonic() < end:
                time.sleep(0.05)
            assert followers_of(run_id), "the page never opened its follower"
            await call("Target.closeTarget", targetId=tab)
            assert gone_within(10, run_id), f"the follower outlived its tab: {followers_of(run_id)}"
    finally:
        os.killpg(browser.pid, 9)
        browser.wait()
