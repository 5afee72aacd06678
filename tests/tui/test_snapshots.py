"""Snapshots of the main screens at 80x24, 120x40 and 250x70: fixed clock, blinking off, real commands.
Update after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from deploytui.tui.screenshots import SIZES, make_scene, scenes


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(scenes()))
def test_screen(snap_compare, scene, size, tmp_path):
    app, run_before = make_scene(scene, str(tmp_path))
    try:
        assert snap_compare(app, terminal_size=size, run_before=run_before)
    finally:
        if app.current_run is not None:
            app.current_run.close()
