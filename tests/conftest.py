import os

import pytest

os.environ.setdefault("DEPLOYTUI_OPERATOR", "tester")


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """One test server for the whole session (pytest-httpserver keeps it): on 127.0.0.1, never "localhost",
    whichever test starts it first (no IPv6 detour, and the rehearsal world accepts only 127.0.0.1)."""
    return ("127.0.0.1", 0)


@pytest.fixture
def journal_path(tmp_path):
    return tmp_path / "journal.sqlite3"


def pytest_terminal_summary(terminalreporter):
    from figures import LINES

    for line in LINES.values():
        terminalreporter.write_line(line)
