"""Fixtures for the follow tests (see helpers.py)."""

import pytest

from .helpers import BOOK, start_driver, wait_for_run


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "follow.toml"
    path.write_text(BOOK)
    answers = tmp_path / "answers.toml"
    answers.write_text('run = "*"\ntick = "*"\n')
    return path, answers


@pytest.fixture
def driver(book, tmp_path):
    """A running headless driver; yields (process, journal path, run id); stopped afterwards."""
    journal = tmp_path / "journal.sqlite3"
    proc = start_driver(*book, journal)
    try:
        run_id = wait_for_run(journal)
        yield proc, journal, run_id
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=10)


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A journal holding one finished run, shared by the tests that only read it: (journal path, run id)."""
    tmp = tmp_path_factory.mktemp("finished")
    journal = tmp / "journal.sqlite3"
    (tmp / "follow.toml").write_text(BOOK)
    (tmp / "answers.toml").write_text('run = "*"\ntick = "*"\n')
    proc = start_driver(tmp / "follow.toml", tmp / "answers.toml", journal)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return journal, wait_for_run(journal)
