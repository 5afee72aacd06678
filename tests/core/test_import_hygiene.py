"""The core runs without Textual: importing every package below the screens leaves it out of sys.modules.
(The layer contract in pyproject.toml, checked by `make lint`, says the same for every import statement.)"""

import subprocess
import sys


def test_core_imports_without_textual():
    code = ("import sys, deploytui.runbook.lint, deploytui.events.state, deploytui.journal, "
            "deploytui.engine.run, deploytui.engine.headless, deploytui.reports.export, deploytui.reports.timeline, "
            "deploytui.follow.feed, deploytui.follow.share, deploytui.sandbox.rehearse, deploytui.cli; "
            "from deploytui.integrations.registry import registry; registry(); "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
