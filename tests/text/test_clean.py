"""One cleaner: a line of output as a terminal shows it, whoever asks (matcher, redactor, screen, export)."""

import subprocess

import pytest

from deploytui.engine.spool import Spool
from deploytui.reports import record
from deploytui.text.clean import clean_line, clean_lines, clean_text
from deploytui.tui import output


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[1;31mERROR\x1b[0m disk full", "ERROR disk full"),
    ("progress 10%\rprogress 100%", "progress 100%"),
    ("abcdef\rXY", "XYcdef"),  # a shorter redraw leaves the end of the longer one, as on a terminal
    ("done\r", "done"),
    ("Downloading 50%\r\x1b[KDone", "Done"),  # erase to the end of the line
    ("npm\x1b[1G\x1b[0Kok", "ok"),  # cursor to column 1, then erase
    ("ab\bc", "ac"),
    ("x\x1b[3Cy", "x   y"),
    ("\x1b]0;window title\x07bell\x07 here\tx", "bell here\tx"),
    ("\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("\x1bPtmux;\x1b\x1b]9;hi\x07\x1b\\ok", "ok"),
    ("\x1b[?25l\x1b[?1049hhi\x1b7\x1b8\x1b=", "hi"),
    ("plain │ box ✓", "plain │ box ✓"),
    ("nul\x00 del\x7f c1\x9b", "nul del c1"),
])
def test_clean_line(raw, shown):
    assert clean_line(raw) == shown


def test_tput_leaves_no_garbage():
    """`tput sgr0` prints `ESC ( B ESC [ m`; the screen showed `(B`."""
    sgr0 = subprocess.run(["tput", "-T", "xterm-256color", "sgr0"], capture_output=True, text=True).stdout
    bold = subprocess.run(["tput", "-T", "xterm-256color", "bold"], capture_output=True, text=True).stdout
    el = subprocess.run(["tput", "-T", "xterm-256color", "el"], capture_output=True, text=True).stdout
    assert sgr0 and bold and el
    assert clean_line(f"{bold}deployed{sgr0} ok") == "deployed ok"
    assert clean_line(f"working...\r{el}done{sgr0}") == "done"


def test_chunks_clean_line_by_line():
    assert clean_lines("a\x1b[1m!\x1b[0m\nb\r\n") == ["a!", "b"]
    assert clean_lines("last without newline") == ["last without newline"]
    assert clean_text("10%\r100%\nnext\n") == "100%\nnext\n"


def test_the_screen_and_the_exports_use_the_one_cleaner():
    assert output.clean_line is clean_line and record.clean_line is clean_line


def test_the_matcher_sees_what_the_screen_shows():
    """`until`/`capture` missed a line the screen showed as matching: the matcher removed `\\r` and glued
    the redraws together (`progress 10%progress 100%`)."""
    import re

    seen = []
    spool = Spool(lambda text: text, watch=[re.compile(r"^progress 100%$", re.M)],
                  on_match=lambda i, line, value: seen.append(line))
    spool.feed(b"progress 10%\rprogress 100%\n")
    spool.flush(final=True)
    assert seen == ["progress 100%"] == [clean_line(x) for x in "progress 10%\rprogress 100%".split("\n")]


def test_without_colours_is_the_colour_regex_exactly():
    """The str.replace fast path gives what one regex pass gives, on every mix of colours, their pieces
    and text (a sequence cut by another must not be joined and removed)."""
    import random

    from deploytui.text.clean import COLOURS, without_colours

    pieces = ["\x1b", "[", "0", "3", "1", ";", "m", "a", "\n", "\x1b[0m", "\x1b[31m", "\x1b[1;33m", "\x1b[K"]
    rng = random.Random(7)
    fast = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        want = COLOURS.sub("", text)
        assert without_colours(text) == (want, "\x1b" not in want), repr(text)
        fast += "\x1b" in text and "\x1b" not in want
    assert fast > 1000  # texts where colours were all the escapes there were: many
    colours = "\x1b[32m1\x1b[0m \x1b[1;33mWARN\x1b[0m\n" * 1000
    assert without_colours(colours) == ("1 WARN\n" * 1000, True)
