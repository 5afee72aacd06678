"""A follower of a run published by its driver (follow/publish.py): the same interface as the journal
`Follow` (state, book, fetch/apply/poll, tail_text), fed by the driver's pushes instead of polling SQLite,
so a pair of another Unix user can follow without the journal file, and followers cost the driver little.

The driver is known to be alive while its socket speaks: a `beat` comes every second, and a closed socket
or 5 s of silence means it stopped (`stopped`)."""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..events.kinds import Event
from ..events.state import RunState, fold
from ..journal.store import Chunk, RunRow, split_lines
from ..runbook.loader import parse
from ..runbook.model import Runbook
from .feed import SILENCE, Feed, Update


def _event(m: dict[str, Any]) -> Event:
    return Event(m["seq"], m["ts"], m["kind"], m.get("step"), m.get("actor") or "engine", m.get("data") or {})


class SocketFollow(Feed):
    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = Path(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(self.path))
        except FileNotFoundError:
            raise UserError(f"{self.path}: no published run here (the driver stopped, or another path)", 2) from None
        except PermissionError:
            raise UserError(f"{self.path}: permission denied: the driver shares it with its --group only", 2) \
                from None
        except OSError as e:
            raise UserError(f"{self.path}: cannot follow: {e.strerror or e}", 2) from None
        self._reader = self.sock.makefile("rb")
        try:
            hello = json.loads(self._reader.readline() or b"{}")
        except (OSError, ValueError):
            hello = {}
        if hello.get("t") != "hello":
            raise UserError(f"{self.path}: the driver did not answer as a deploytui run", 2)
        self.sock.settimeout(None)
        run = dict(hello["run"])
        self.row = RunRow(**run)
        self.run_id = self.row.id
        self.driver: dict[str, Any] = hello.get("driver") or {}
        self.book: Runbook = parse(self.row.runbook_text, self.row.path or "<published>")
        self.state: RunState = fold(self.book, [], self.run_id)
        self.commands: dict[str, str] = {}
        self._chunk = int(hello.get("last_chunk") or 0)
        self._ids = itertools.count(1)
        self._pushes: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._answers: dict[int, queue.SimpleQueue[dict[str, Any]]] = {}
        self._send_lock = threading.Lock()
        self.heard = time.monotonic()
        self.gone = False
        self.apply(Update([_event(m) for m in hello.get("events", [])], [], self._chunk))
        threading.Thread(target=self._read, name="follow-socket", daemon=True).start()

    # ---- the feed -------------------------------------------------------------------------------------------
    def _read(self) -> None:
        chunk_ids = itertools.count(self._chunk + 1)
        try:
            for line in self._reader:
                self.heard = time.monotonic()
                m = json.loads(line)
                if "id" in m and m["id"] in self._answers:
                    self._answers[m["id"]].put(m)
                elif m.get("t") == "event":
                    self._pushes.put(("event", _event(m["e"])))
                elif m.get("t") == "output":
                    text = m["text"]
                    self._pushes.put(("chunk", Chunk(next(chunk_ids), m["step"], m["attempt"], m["stream"],
                                                     m.get("ts", 0.0), text.count("\n"), text)))
        except (OSError, ValueError):
            pass
        finally:
            self.gone = True
            for answers in self._answers.values():
                answers.put({"error": "the driver stopped"})

    @property
    def chunk_cursor(self) -> int:
        return self._chunk

    def fetch(self, chunks: bool = True) -> Update:
        events: list[Event] = []
        got: list[Chunk] = []
        while True:
            try:
                kind, item = self._pushes.get_nowait()
            except queue.Empty:
                break
            if kind == "event":
                events.append(item)
            else:
                got.append(item)
        if got:
            self._chunk = got[-1].id
        return Update(events, got, self._chunk)

    @property
    def stopped(self) -> bool:
        """The driver is gone (its socket closed) or silent for SILENCE seconds."""
        return self.gone or time.monotonic() - self.heard > SILENCE

    def last_alive(self) -> float | None:
        return time.time() - (time.monotonic() - self.heard)

    # ---- asking the driver ----------------------------------------------------------------------------------
    def _ask(self, request: dict[str, Any], timeout: float = 30.0) -> list[dict[str, Any]]:
        return list(self._answers_to(request, timeout))

    def _answers_to(self, request: dict[str, Any], timeout: float = 30.0) -> Iterator[dict[str, Any]]:
        """The driver's answers to one request as they come (a `full` answer comes in pieces: never all of
        it in memory here)."""
        rid = next(self._ids)
        answers: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._answers[rid] = answers
        try:
            with self._send_lock:
                self.sock.sendall((json.dumps({**request, "id": rid}) + "\n").encode())
            while True:
                try:
                    answer = answers.get(timeout=timeout)
                except queue.Empty:
                    raise UserError("the driver did not answer in time", 2) from None
                yield answer
                if "piece" not in answer or answer.get("end"):
                    return
        except OSError:
            raise UserError("the driver has stopped", 2) from None
        finally:
            self._answers.pop(rid, None)

    def tail_text(self, step: str, stream: str, attempt: int, upto: int, lines: int = 2000) -> str:
        return self.history(step, stream, attempt, upto, lines)[0]

    def history(self, step: str, stream: str, attempt: int, upto: int, lines: int = 2000) -> tuple[str, int]:
        """The newest lines up to `upto`, and how many the stream holds up to there in all."""
        if self.gone:
            return "", 0
        (answer,) = self._ask({"op": "tail", "step": step, "stream": stream, "attempt": attempt, "upto": upto,
                               "lines": lines})
        text = answer.get("text", "")
        return text, int(answer.get("total", text.count("\n")))  # a driver before `total`: what came

    def tail(self, step: str, stream: str, attempt: int, upto: int, lines: int = 2000) -> tuple[list[str], int]:
        out = split_lines(self.tail_text(step, stream, attempt, upto, lines))
        return out[-lines:], len(out)

    def full_output(self, step: str, attempt: int, stream: str = "main") -> Iterator[str]:
        """Every line of a stream, from the driver's journal, in pieces as they come (the follower's
        full-output view)."""
        for answer in self._answers_to({"op": "full", "step": step, "attempt": attempt, "stream": stream},
                                       timeout=120):
            if "error" in answer:
                raise UserError(answer["error"], 2)
            yield answer.get("piece", "")

    def sign(self, step: str, command: str) -> None:
        """Sign off `step`'s `command` as this Unix user (the four-eyes rule); raises UserError if refused."""
        (answer,) = self._ask({"op": "sign", "step": step, "command": command})
        if "error" in answer:
            raise UserError(answer["error"], 2)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
