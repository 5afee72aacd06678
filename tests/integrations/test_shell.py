"""core.* actions: the editor hand-over with a real program on a real pseudo-terminal."""

from __future__ import annotations

import pytest

from deploytui.errors import ActionError
from deploytui.integrations import shell

from .test_git import on_a_terminal

pytestmark = pytest.mark.timeout(30)

NOTES = "## Bug Fixes\n- Login: Fix teh lockout\n\n!!! Invalid Changelog Entries !!!\nNo line (#210)"
# What a reviewer does in $EDITOR: fixes the spelling, files the invalid entry, drops the heading.
REVIEWER = r"""#!/bin/sh
test -t 0 || { echo "no terminal" >&2; exit 9; }
sed -i -e 's/teh/the/' -e 's/^No line (#210)$/- Login: Say why the account is locked (#210)/' \
       -e '/^!!! Invalid/d' "$1"
"""


@pytest.fixture
def reviewer(tmp_path):
    path = tmp_path / "reviewer"
    path.write_text(REVIEWER)
    path.chmod(0o755)
    return str(path)


def test_the_operator_edits_the_text_in_their_editor(recorder, reviewer, monkeypatch):
    monkeypatch.setattr(shell, "have_terminal", lambda: True)
    r = recorder({"EDITOR": reviewer}, handover=on_a_terminal)
    out = shell.edit(r.ctx, text=NOTES, name="rc-124-changelog.md")
    assert out["text"] == "## Bug Fixes\n- Login: Fix the lockout\n\n- Login: Say why the account is locked (#210)"
    assert out["changed"] is True
    assert "-- Login: Fix teh lockout" in r.lines and "+- Login: Fix the lockout" in r.lines  # the record shows it
    # VISUAL before EDITOR, as git does
    r2 = recorder({"EDITOR": "false", "VISUAL": reviewer}, handover=on_a_terminal)
    assert shell.edit(r2.ctx, text=NOTES)["changed"] is True


def test_editor_failures_and_no_terminal(recorder, reviewer, monkeypatch):
    monkeypatch.setattr(shell, "have_terminal", lambda: True)
    with pytest.raises(ActionError, match="false exited 1: nothing was saved"):
        shell.edit(recorder({"EDITOR": "false"}, handover=on_a_terminal).ctx, text=NOTES)
    with pytest.raises(ActionError, match="is empty"):
        shell.edit(recorder({"EDITOR": "truncate -s 0"}, handover=on_a_terminal).ctx, text=NOTES)
    monkeypatch.setattr(shell, "have_terminal", lambda: False)
    with pytest.raises(ActionError, match="no terminal to open an editor in"):
        shell.edit(recorder({"EDITOR": reviewer}, handover=on_a_terminal).ctx, text=NOTES)
    kept = recorder({"EDITOR": reviewer}, handover=on_a_terminal, rehearsal=True)
    assert shell.edit(kept.ctx, text=NOTES) == {"text": NOTES, "changed": False}
