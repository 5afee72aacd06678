import sys


def pytest_terminal_summary(terminalreporter):
    corpus = sys.modules.get("leaks.test_leaks")
    figures = getattr(corpus, "FIGURES", None)
    if figures:
        terminalreporter.write_line(
            f"leak corpus: {figures.get('planted', 0)} planted secrets x {figures.get('surfaces', 0)} surfaces = "
            f"{figures.get('attempts', 0)} leak attempts / {figures.get('leaks', 0)} leaks")
