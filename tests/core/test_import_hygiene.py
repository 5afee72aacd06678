import subprocess
import sys


def test_core_imports_without_textual():
    code = ("import sys, deploytui.runbook, deploytui.runbook.lint, deploytui.engine.run, deploytui.engine.headless, "
            "deploytui.journal, deploytui.journal.timeline, deploytui.integrations, deploytui.sandbox, deploytui.cli; "
            "from deploytui.engine.actions import registry; registry(); "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
