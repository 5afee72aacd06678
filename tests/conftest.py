import os

import pytest

os.environ.setdefault("DEPLOYTUI_OPERATOR", "tester")


@pytest.fixture
def journal_path(tmp_path):
    return tmp_path / "journal.sqlite3"


def pytest_terminal_summary(terminalreporter):
    from figures import LINES

    for line in LINES.values():
        terminalreporter.write_line(line)
