import os

import pytest

os.environ.setdefault("DEPLOYTUI_OPERATOR", "tester")


@pytest.fixture
def journal_path(tmp_path):
    return tmp_path / "journal.sqlite3"
