"""Getting a person's attention from another window: the bell and desktop notifications through the
terminal (OSC 9 for iTerm2/Windows Terminal/kitty, OSC 777 for VTE terminals). Inside tmux the
sequences are wrapped so tmux passes them to the outer terminal."""

from __future__ import annotations

import os


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() and ch != ";")[:200]


def osc_sequences(title: str, body: str, in_tmux: bool | None = None) -> str:
    title, body = _clean(title), _clean(body)
    seqs = [f"\x1b]9;{title}: {body}\x07", f"\x1b]777;notify;{title};{body}\x07"]
    if in_tmux if in_tmux is not None else bool(os.environ.get("TMUX")):
        seqs = ["\x1bPtmux;" + s.replace("\x1b", "\x1b\x1b") + "\x1b\\" for s in seqs]
    return "".join(seqs)
