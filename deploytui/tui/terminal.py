"""What the terminal around the app allows: the clipboard and desktop notifications, inside tmux or not.

Inside tmux an application's own escape sequences (OSC 52 for the clipboard, OSC 9/777 for notifications) do
not reach the outer terminal with tmux's default settings. So the clipboard goes through tmux itself
(`load-buffer -w`: tmux's paste buffer, and the outer terminal's clipboard when tmux's `set-clipboard`
allows), and notifications are wrapped for tmux only where `allow-passthrough` is on; the bell always rings.
Each function says honestly what happened."""

from __future__ import annotations

import os
import subprocess


def in_tmux(env: dict[str, str] | None = None) -> bool:
    return bool((env if env is not None else os.environ).get("TMUX"))


def tmux_option(name: str, pane: bool = False) -> str | None:
    """The value of a tmux option for this pane (its own or inherited), or globally; None when tmux cannot say."""
    args = ["tmux", "show-options", "-v", *(["-A", "-p", "-t", os.environ["TMUX_PANE"]]
                                             if pane and os.environ.get("TMUX_PANE") else ["-g"]), name]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode:
        return None
    return done.stdout.strip()


def copy_in_tmux(text: str) -> tuple[bool, str]:
    """(copied, what to tell the person)."""
    try:
        done = subprocess.run(["tmux", "load-buffer", "-w", "-"], input=text, capture_output=True, text=True,
                              timeout=3)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"could not copy: tmux load-buffer: {e}"
    if done.returncode:
        return False, f"could not copy: tmux load-buffer: {done.stderr.strip() or done.returncode}"
    clipboard = tmux_option("set-clipboard")
    if clipboard == "off":
        return True, ("in tmux's paste buffer (prefix ] pastes it); tmux's set-clipboard is off, so your "
                      "desktop clipboard does not have it")
    return True, "in tmux's paste buffer (prefix ] pastes it) and sent to your terminal's clipboard"


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() and ch != ";")[:200]


def notification(title: str, body: str, tmux: bool | None = None, passthrough: bool | None = None) -> str:
    """The escape sequences of a desktop notification (OSC 9 for iTerm2/Windows Terminal/kitty, OSC 777 for
    VTE terminals): inside tmux wrapped for passthrough when it is on, and nothing when it is off (tmux would
    drop them)."""
    title, body = _clean(title), _clean(body)
    seqs = [f"\x1b]9;{title}: {body}\x07", f"\x1b]777;notify;{title};{body}\x07"]
    if tmux if tmux is not None else in_tmux():
        on = passthrough if passthrough is not None else tmux_option("allow-passthrough", pane=True) in ("on", "all")
        if not on:
            return ""
        seqs = ["\x1bPtmux;" + s.replace("\x1b", "\x1b\x1b") + "\x1b\\" for s in seqs]
    return "".join(seqs)
