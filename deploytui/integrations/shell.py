"""Small built-in actions that need no outside service."""

from __future__ import annotations

import difflib
import shlex
import sys
import tempfile
from pathlib import Path

from ..errors import ActionError
from ._params import getenv
from .registry import ActionContext, action


@action("core.echo")
def echo(ctx: ActionContext, message: str, **outputs) -> dict:
    """Print a message and return the given outputs (for examples and tests)."""
    ctx.log(message)
    return dict(outputs)


def have_terminal() -> bool:
    """Whether a hand-over can give the editor a terminal (not so in a pipeline or a headless test)."""
    return sys.stdin.isatty()


@action("core.edit")
def edit(ctx: ActionContext, text: str, name: str = "text.md", editor: str = "") -> dict:
    """Open text in the operator's editor ($VISUAL, $EDITOR, vi) and return what they saved (`text`)."""
    command = shlex.split(editor or getenv(ctx, "VISUAL") or getenv(ctx, "EDITOR") or "vi")
    if not editor and not have_terminal():
        if not ctx.rehearsal:
            raise ActionError("no terminal to open an editor in: run this step from the app (or give `editor`)")
        ctx.log("rehearsal without a terminal: the text is kept as it was")
        return {"text": text, "changed": False}
    with tempfile.TemporaryDirectory(prefix="deploytui-edit-") as tmp:  # 0700: only the operator reads it
        path = Path(tmp) / Path(name).name
        path.write_text(text if text.endswith("\n") else text + "\n")
        code = ctx.run_interactive([*command, str(path)], env=dict(ctx.env) or None)
        if code != 0:
            raise ActionError(f"{command[0]} exited {code}: nothing was saved (re-run the step to edit again)")
        edited = path.read_text().rstrip("\n")
    diff = list(difflib.unified_diff(text.rstrip("\n").splitlines(), edited.splitlines(), "as generated",
                                     "as reviewed", lineterm="", n=0))
    ctx.log_lines(diff or ["(saved without changes)"])
    if not edited.strip():
        raise ActionError(f"the edited {name} is empty: re-run the step and keep some text")
    return {"text": edited, "changed": bool(diff)}

