"""The driver publishes its run to followers over a Unix socket: events and output as they are committed
(secrets already masked), fanned out from the driver's process, so that followers cost it almost nothing
and a pair of another Unix user follows without reading the journal file.

Protocol: one JSON object per line. The driver sends `hello` (the run, every event so far, the output
cursor), then `event`, `output` and `beat` messages as they happen. A follower may ask, by `id`:
`tail` (the newest lines of a stream up to the cursor it has), `full` (a stream's whole output, in pieces)
and `sign` (a sign-off for a step that asks for one). Nothing else a follower sends is accepted: the run
cannot be changed from here. A sign-off names the follower's Unix user as the kernel reports it
(SO_PEERCRED), never a name the follower gives.

Each follower has its own sending thread and queue; one that falls far behind is dropped (it reconnects
and catches up), never slowing the driver."""

from __future__ import annotations

import grp
import json
import os
import pwd
import socket
import stat
import struct
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..events.kinds import Event

if TYPE_CHECKING:
    from ..engine.run import Run

BEAT_SECONDS = 1.0
MAX_PENDING = 64 << 20  # bytes queued for one follower before it is dropped as too slow
FULL_PIECE = 256 << 10


def default_path(run_id: str) -> Path:
    """A socket in a directory private to this user (under XDG_RUNTIME_DIR where there is one)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "deploytui" if runtime else Path(f"/tmp/deploytui-{os.getuid()}")
    return base / f"{run_id}.sock"


def event_message(e: Event) -> dict[str, Any]:
    return {"seq": e.seq, "ts": e.ts, "kind": e.kind, "step": e.step, "actor": e.actor, "data": e.data}


class Follower:
    def __init__(self, conn: socket.socket, uid: int):
        self.conn, self.uid = conn, uid
        self.pending: deque[bytes] = deque()
        self.size = 0
        self.ready = threading.Condition()
        self.closed = False
        self.sending = False

    def send(self, data: bytes) -> None:
        with self.ready:
            if self.closed:
                return
            if self.size + len(data) > MAX_PENDING:  # too slow: drop it rather than hold the driver back
                self.closed = True
                self.ready.notify()
                return
            self.pending.append(data)
            self.size += len(data)
            self.ready.notify_all()

    def pump(self) -> None:
        try:
            while True:
                with self.ready:
                    while not self.pending and not self.closed:
                        self.ready.wait()
                    if self.closed and not self.pending:
                        return
                    batch = b"".join(self.pending)
                    self.pending.clear()
                    self.size = 0
                    self.sending = True
                try:
                    self.conn.sendall(batch)
                finally:
                    with self.ready:
                        self.sending = False
                        self.ready.notify_all()
        except OSError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify()
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def finish(self, timeout: float) -> None:
        """Send what is queued (the run's last events), then hang up."""
        end = time.monotonic() + timeout
        with self.ready:
            while (self.pending or self.sending) and not self.closed and time.monotonic() < end:
                self.ready.wait(0.05)
        self.close()


class Publisher:
    def __init__(self, run: Run, path: Path | None = None, group: str | None = None):
        self.run = run
        self.path = Path(path) if path else default_path(run.run_id)
        self.group = group
        self.followers: list[Follower] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    # ---- opening -------------------------------------------------------------------------------------------
    def start(self) -> Publisher:
        gid = None
        if self.group:
            try:
                gid = grp.getgrnam(self.group).gr_gid
            except KeyError:
                raise UserError(f"no group {self.group!r} on this host", 2) from None
        directory = self.path.parent
        if not directory.exists():  # ours: private, or traversable by the group that may follow
            os.makedirs(directory, mode=0o700, exist_ok=True)
            if gid is not None:
                os.chown(directory, -1, gid)
                os.chmod(directory, 0o710)
        info = os.stat(directory)
        if info.st_uid != os.getuid() and info.st_mode & stat.S_ISVTX == 0:
            raise UserError(f"{directory}: belongs to someone else: pick another socket path", 2)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(os.lstat(self.path).st_mode):
                raise UserError(f"{self.path}: exists and is not a socket: pick another path", 2)
            self.path.unlink()  # a socket left by a driver that died
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(0o177 if gid is None else 0o117)
        try:
            server.bind(str(self.path))
        finally:
            os.umask(umask)
        if gid is not None:
            os.chown(self.path, -1, gid)
        server.listen(64)
        self._server = server
        self.run.published_at = str(self.path)
        self.run.subscribe(on_event=self._on_event, on_output=self._on_output)
        threading.Thread(target=self._accept, name="publish-accept", daemon=True).start()
        threading.Thread(target=self._beat, name="publish-beat", daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            try:
                self._server.close()
            except OSError:
                pass
        with self._lock:
            followers, self.followers = self.followers, []
        for f in followers:
            f.finish(timeout=2.0)
        try:
            self.path.unlink()
        except OSError:
            pass

    # ---- fanning out ---------------------------------------------------------------------------------------
    def _broadcast(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode()
        with self._lock:
            self.followers = [f for f in self.followers if not f.closed]
            for f in self.followers:
                f.send(data)

    def _on_event(self, e: Event) -> None:
        self._broadcast({"t": "event", "e": event_message(e)})

    def _on_output(self, step: str, attempt: int, stream: str, text: str) -> None:
        self._broadcast({"t": "output", "step": step, "attempt": attempt, "stream": stream, "text": text,
                         "ts": self.run.clock.now()})

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            self._broadcast({"t": "beat", "ts": time.time()})

    # ---- followers joining ---------------------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="publish-follower", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        follower = Follower(conn, uid)
        run = self.run
        # a consistent cut: no event and no chunk can be committed while the hello is taken and the follower
        # added, so what it is then sent continues the hello exactly
        with run._lock, run.output_lock:
            row = run.journal.run(run.run_id)
            hello = {"t": "hello", "run": {k: v for k, v in row.__dict__.items()},
                     "events": [event_message(e) for e in run.journal.events(run.run_id)],
                     "last_chunk": run.journal.last_chunk(run.run_id),
                     "driver": {"pid": os.getpid(), "host": socket.gethostname(), "user": _user(os.getuid())}}
            follower.send((json.dumps(hello, default=str) + "\n").encode())
            with self._lock:
                self.followers.append(follower)
        threading.Thread(target=follower.pump, name="publish-send", daemon=True).start()
        self._requests(follower)

    def _requests(self, follower: Follower) -> None:
        reader = follower.conn.makefile("rb")
        try:
            for line in reader:
                request: Any = None
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("a request is a JSON object")
                    reply = self._answer(request, follower)
                except (ValueError, TypeError, KeyError, AttributeError) as e:
                    reply = {"error": f"bad request: {e}"}
                for piece in reply if isinstance(reply, list) else [reply]:
                    piece["id"] = request.get("id") if isinstance(request, dict) else None
                    follower.send((json.dumps(piece, default=str) + "\n").encode())
        except OSError:
            pass
        finally:
            follower.close()

    def _answer(self, request: dict[str, Any], follower: Follower) -> dict[str, Any] | list[dict[str, Any]]:
        op = request.get("op")
        run = self.run
        if op == "tail":
            text = run.journal.tail_text(run.run_id, request["step"], request.get("attempt"),
                                         int(request.get("lines", 2000)), request.get("stream", "main"),
                                         request.get("upto"))
            return {"text": text}
        if op == "full":
            pieces: list[str] = []
            out: list[dict[str, Any]] = []
            size = 0
            for chunk in run.journal.chunks(run.run_id, request["step"], request.get("attempt")):
                if chunk.stream != request.get("stream", "main"):
                    continue
                pieces.append(chunk.data)
                size += len(chunk.data)
                if size >= FULL_PIECE:
                    out.append({"piece": "".join(pieces)})
                    pieces, size = [], 0
            out.append({"piece": "".join(pieces), "end": True})
            return out
        if op == "sign":
            from ..errors import UserError as Refused

            try:
                run.sign_off(request["step"], _user(follower.uid), follower.uid, request.get("command", ""))
            except Refused as e:
                return {"error": str(e)}
            return {"ok": True}
        return {"error": "a follower can only read (tail, full) and sign off: the run cannot be changed here"}


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
