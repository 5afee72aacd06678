"""Command output as a person sees it: the one place that knows what a terminal does with a line.

`clean_line` turns a raw line (colours, cursor moves, `\\r` redraws, `tput` noise) into the text a terminal
would leave on screen. The matcher (`capture`, `until`), the redactor, the screen and the exports all use
it, so a line matches, is masked and reads the same everywhere.

The journal keeps output raw, colours included; a screen that renders colours (Rich's ANSI decoder) reads
the raw text, which the redactor has already masked in every form a terminal could show (see redact.py).
"""

from __future__ import annotations

import re

# One escape sequence (ECMA-48): CSI with its parameters; OSC, DCS, SOS, PM and APC strings up to their
# terminator (BEL or ST; an unterminated one ends at the next escape or the end of the line); nF sequences such as the
# `\x1b(B` of `tput sgr0`; and two-byte escapes (`\x1b7`, `\x1b=`, `\x1bM`). A lone ESC at the end too.
ESCAPE_SOURCE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\|(?=[\x1b\n])|$)"
    r"|\x1b[ -/]+[0-~]"
    r"|\x1b[0-~]"
    r"|\x1b"
)
ESCAPE = re.compile(ESCAPE_SOURCE)
# Colours and text styles (SGR), by far the commonest sequence: they print nothing and move nothing.
COLOURS = re.compile(r"\x1b\[[0-9;]*m")
# Anything that makes a line differ from what it shows: C0 controls but tab and newline, DEL, C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What moves the cursor back or erases within a line: such a line is drawn cell by cell.
REDRAW = re.compile(r"[\r\b]|\x1b\[[0-9;]*[CDGK]")
# What prints nothing and moves nothing: escape sequences, and controls other than tab, newline, `\r` and
# backspace. A secret with these inside it reads whole on a terminal (see redact.py).
_HIDDEN_CONTROL = re.compile(r"[\x00-\x07\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CURSOR_BACK = re.compile(r"\x1b\[[0-9;]*[DG]")
INVISIBLE = re.compile(rf"{ESCAPE_SOURCE}|{_HIDDEN_CONTROL.pattern}")
_C0 = ("\x1b", "\r", "\b") + tuple(chr(c) for c in (*range(0, 8), 11, 12, *range(14, 27), *range(28, 32), 127))
_HIDDEN_C0 = tuple(chr(c) for c in (*range(0, 8), 11, 12, *range(14, 27), *range(28, 32), 127))


def _has(text: str, chars: tuple[str, ...], rx: re.Pattern[str]) -> bool:
    # over long ASCII text one search per character is ~100x faster than a character class
    long_ascii = len(text) > 4096 and text.isascii()
    return any(c in text for c in chars) if long_ascii else rx.search(text) is not None


def is_plain(text: str) -> bool:
    """Whether `text` shows on a terminal exactly as it is: no escape sequence, no control but tab and
    newline."""
    return not _has(text, _C0, CONTROL)


def redraws(text: str) -> bool:
    """Whether some line of `text` draws over itself (`\\r`, backspace, a cursor move back)."""
    return "\r" in text or "\b" in text or ("\x1b[" in text and _CURSOR_BACK.search(text) is not None)


def without_colours(text: str) -> tuple[str, bool]:
    """`text` without its colour sequences, and whether that left no escape sequence at all (then nothing
    in it hides text or moves the cursor but `\r` and backspace): one pass where colours are all there is."""
    # Output uses a handful of colours, over and over: removing each of those seen at its start with
    # str.replace is ~5x faster than a regex pass. It is the regex's result exactly when those
    # occurrences account for every ESC (a colour sequence holds one ESC, so they cannot overlap).
    seen = set(COLOURS.findall(text, 0, 4096))
    if seen and sum(text.count(seq) for seq in seen) == text.count("\x1b"):
        for seq in seen:
            text = text.replace(seq, "")
        return text, True
    stripped = COLOURS.sub("", text)
    return stripped, "\x1b" not in stripped


def visible(text: str) -> str:
    """`text` without what prints nothing (INVISIBLE); `\r` and backspace stay, since they draw over."""
    if "\x1b" in text:
        text = ESCAPE.sub("", text)
    return _HIDDEN_CONTROL.sub("", text) if _has(text, _HIDDEN_C0, _HIDDEN_CONTROL) else text


_TOKEN = re.compile(rf"(?P<esc>{ESCAPE_SOURCE})|(?P<ctl>[\x00-\x08\x0b-\x1f\x7f-\x9f])|[^\x00-\x08\x0b-\x1f\x7f-\x9f]+")
_ERASED = "\x00"  # a cell a terminal blanked: a space inside the line, nothing at its end


def clean_line(line: str) -> str:
    """The text a terminal shows for one line of output (no newline in it): escape sequences and
    control characters gone; `\\r`, backspace, cursor moves and erases applied as a terminal would,
    so `10%\\r100%` reads `100%` and `abcdef\\rXY` reads `XYcdef`."""
    if not CONTROL.search(line):
        return line
    if not REDRAW.search(line):
        return INVISIBLE.sub("", line)
    return _draw(line)


def clean_lines(text: str) -> list[str]:
    """The cleaned lines of a chunk of output; a last line without its newline counts as a line."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if not CONTROL.search(text):
        return lines
    return [clean_line(x) for x in lines]


def clean_text(text: str) -> str:
    """A chunk of output with each line cleaned, newlines kept (what `capture` and `until` search)."""
    if is_plain(text):
        return text
    if not redraws(text):
        return INVISIBLE.sub("", text)
    return "\n".join(clean_line(x) for x in text.split("\n"))


def _draw(line: str) -> str:
    cells: list[str] = []
    col = 0
    for m in _TOKEN.finditer(line):
        text = m.group()
        if m.lastgroup == "esc":
            if text.startswith("\x1b[") and text[-1] in "CDGK":
                col = _csi(cells, col, text)
        elif m.lastgroup == "ctl":
            if text == "\r":
                col = 0
            elif text == "\b":
                col = max(0, col - 1)
        else:
            if col > len(cells):
                cells.extend(_ERASED * (col - len(cells)))
            cells[col:col + len(text)] = text
            col += len(text)
    return "".join(cells).rstrip(_ERASED).replace(_ERASED, " ")


def _csi(cells: list[str], col: int, seq: str) -> int:
    """Apply a cursor move (C forward, D back, G to column) or an erase in line (K); the new column."""
    params = seq[2:-1]
    n = int(params.split(";")[0] or 0) if params.replace(";", "").isdigit() else 0
    final = seq[-1]
    if final == "C":
        return col + max(n, 1)
    if final == "D":
        return max(0, col - max(n, 1))
    if final == "G":
        return max(n, 1) - 1
    if n == 0:  # erase to the end of the line
        del cells[col:]
    elif n == 1:  # erase to the cursor
        cells[:col + 1] = _ERASED * min(col + 1, len(cells))
    else:  # erase the whole line
        cells[:] = _ERASED * len(cells)
    return col
