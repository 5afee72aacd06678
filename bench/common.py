"""Shared by the benchmarks: each prints `RESULT|what|measured|target|baseline` lines that run_all.py
gathers into RESULTS.md. Benchmarks print figures; they never fail the build."""

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def result(what: str, measured: str, target: str, baseline: str = "") -> None:
    print(f"RESULT|{what}|{measured}|{target}|{baseline}", flush=True)


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


class timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def cpu_count() -> int:
    return os.cpu_count() or 1
