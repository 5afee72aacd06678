"""The Textual app. Only this package imports Textual."""

import gc

_calmed = False


def calm_garbage_collector() -> None:
    """Full collections of a heap full of screen strips stalled key presses by 50-100 ms while output
    streamed (p95 139 ms -> ~55 ms in bench_tui): freeze what start-up built, and collect young objects
    less often (10,000 rather than 700 allocations; more costs peak memory). Cycles are still collected."""
    global _calmed
    if not _calmed:  # once per process: a second freeze would pin what has since become garbage
        _calmed = True
        gc.freeze()
        gc.set_threshold(10_000, 20, 100)
