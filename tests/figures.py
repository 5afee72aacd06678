"""Figures the corpora report at the end of a test run (crash points, bad inputs, leak attempts): each corpus
records its line here and tests/conftest.py prints them after the summary."""

LINES: dict[str, str] = {}


def report(name: str, line: str) -> None:
    LINES[name] = line
