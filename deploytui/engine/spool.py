"""Output on its way from a child to the journal and the screen, in batches.

Bytes are buffered and flushed as whole lines every FLUSH_SECONDS or FLUSH_BYTES: each flush is
redacted, committed to the journal as one chunk, and only then handed to listeners. Nothing holds more
than a tail of the output in memory, however long it runs."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable

FLUSH_SECONDS = 0.1
FLUSH_BYTES = 1 << 19  # 512 KiB: bigger batches add peak memory (2M coloured lines: 212 MB at 1 MiB) for little speed
MAX_PARTIAL = 1 << 16  # a "line" longer than this is flushed anyway
TAIL_LINES = 2000  # kept for `capture` and error summaries


class Spool:
    def __init__(self, commit: Callable[[str], str], listeners: list[Callable[[str], None]] | None = None,
                 watch: list[re.Pattern] | None = None, on_match: Callable[[int, str, str], None] | None = None):
        """`commit(text) -> redacted text` stores a chunk; each `watch` pattern reports its first match once,
        as `on_match(index, line, value)` (value: the first group, or the whole match)."""
        self._commit = commit
        self._listeners = listeners or []
        self._buf = bytearray()
        self._last_flush = time.monotonic()
        self._watch = list(watch or [])
        self._matched: set[int] = set()
        self._on_match = on_match
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.lines = 0
        self.bytes = 0

    def add_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def feed(self, data: bytes) -> None:
        self._buf += data
        self.bytes += len(data)
        if len(self._buf) >= FLUSH_BYTES:
            self.flush()

    def tick(self) -> None:
        if self._buf and time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def write_lines(self, lines: list[str]) -> None:
        """Lines from an action (already text). Flushed now: an action writes whole batches, and a
        streaming one (logs_tail) may write nothing more for a long time, so nothing may wait for a tick."""
        self.feed(("\n".join(lines) + "\n").encode("utf-8", "replace"))
        self.flush()

    def flush(self, final: bool = False) -> None:
        self._last_flush = time.monotonic()
        if not self._buf:
            return
        cut = self._buf.rfind(b"\n") + 1
        if final or (cut == 0 and len(self._buf) > MAX_PARTIAL):
            cut = len(self._buf)
        if cut == 0:
            return
        raw = bytes(self._buf[:cut])
        del self._buf[:cut]
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
        if final and not text.endswith("\n"):
            text += "\n"
        text = self._commit(text)
        new_lines = text.splitlines()
        self.lines += len(new_lines)
        self.tail.extend(new_lines[-TAIL_LINES:])
        if self._watch and len(self._matched) < len(self._watch):
            self._check_patterns(_strip_ansi(text))
        for listener in self._listeners:
            listener(text)

    def _check_patterns(self, text: str) -> None:
        for i, rx in enumerate(self._watch):
            if i in self._matched:
                continue
            m = rx.search(text)
            if m:
                self._matched.add(i)
                start = text.rfind("\n", 0, m.start()) + 1
                end = text.find("\n", m.end())
                line = text[start : end if end != -1 else len(text)]
                if self._on_match:
                    self._on_match(i, line, m.group(1) if rx.groups else m.group(0))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\r")


def _strip_ansi(s: str) -> str:
    return _ANSI.sub("", s)


strip_ansi = _strip_ansi
