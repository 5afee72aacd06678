"""Output on its way from a child to the journal and the screen, in batches.

Bytes are buffered and flushed as whole lines every FLUSH_SECONDS or FLUSH_BYTES: each flush is
redacted, committed to the journal as one chunk, and only then handed to listeners. A line longer than
MAX_PARTIAL is flushed in pieces, each cut where the redactor says no secret can be cut in two (and
never inside a UTF-8 character). Nothing holds more than a tail of the output in memory, however long
it runs."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable

from ..text.clean import clean_line, clean_text
from ..text.redact import Redactor

FLUSH_SECONDS = 0.1
FLUSH_BYTES = 1 << 19  # 512 KiB: bigger batches add peak memory (2M coloured lines: 212 MB at 1 MiB) for little speed
MAX_PARTIAL = 1 << 16  # a "line" longer than this is flushed anyway
TAIL_LINES = 2000  # kept for `capture` and error summaries


class Spool:
    def __init__(self, commit: Callable[[str], str], listeners: list[Callable[[str], None]] | None = None,
                 watch: list[re.Pattern] | None = None, on_match: Callable[[int, str, str], None] | None = None,
                 redactor: Redactor | None = None):
        """`commit(text) -> redacted text` stores a chunk; each `watch` pattern reports its first match once,
        as `on_match(index, line, value)` (value: the first group, or the whole match), found in the output
        as a terminal shows it (clean_line). A value the redactor masks in its line becomes a secret."""
        self._commit = commit
        self._redactor = redactor
        self._listeners = listeners or []
        self._buf = bytearray()
        self._last_flush = time.monotonic()
        self._watch = list(watch or [])
        self._matched: set[int] = set()
        self._on_match = on_match
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)  # as journaled (redacted)
        self.raw_tail: deque[str] = deque(maxlen=TAIL_LINES)
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
        if final:
            cut = len(self._buf)
        elif len(self._buf) - cut > MAX_PARTIAL:
            cut = _whole_characters(self._buf)
        if cut == 0:
            return
        text = bytes(self._buf[:cut]).decode("utf-8", "replace").replace("\r\n", "\n")
        del self._buf[:cut]
        if not final and self._redactor is not None:
            keep = self._redactor.hold(text)
            if keep:  # wait for the rest of a secret that may go on
                self._buf[:0] = text[-keep:].encode()
                text = text[:-keep]
                if not text:
                    return
        if final and not text.endswith("\n"):
            text += "\n"
        if self._watch and len(self._matched) < len(self._watch):
            self._check_patterns(clean_text(text))
        self.raw_tail.extend(_tail(text))  # for `capture`: real values, in memory only
        text = self._commit(text)
        self.lines += text.count("\n")  # as the journal counts a chunk's lines
        self.tail.extend(_tail(text))
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
                value = m.group(1) if rx.groups else m.group(0)
                if self._redactor is not None:
                    if self._redactor.hides(line, value):
                        self._redactor.add(value)
                    line = self._redactor.text(line)
                if self._on_match:
                    self._on_match(i, line, value)


strip_ansi = clean_line  # the matcher's cleaning, for callers that clean kept lines


def _tail(text: str) -> list[str]:
    """The last TAIL_LINES lines of `text`, without splitting all of it (a flush can be 65,000 lines)."""
    pieces = text[:-1].rsplit("\n", TAIL_LINES)  # from the right, in C
    start = len(pieces[0]) if len(pieces) > TAIL_LINES else -1
    return text[start + 1:].splitlines()[-TAIL_LINES:]


def _whole_characters(buf: bytearray) -> int:
    """The length of `buf` without an unfinished UTF-8 character at its end."""
    n = len(buf)
    for back in range(1, min(4, n) + 1):
        byte = buf[n - back]
        if byte < 0x80:
            return n
        if byte >= 0xC0:  # the first byte of a character: is the character whole?
            size = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n if back >= size else n - back
    return n
