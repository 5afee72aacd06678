"""`make bench`: run every bench/bench_*.py, gather their RESULT lines, write bench/RESULTS.md."""

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    rows, notes = [], []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE, timeout=1800)
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT|"):
                _, what, measured, target, baseline = (line.split("|") + [""] * 5)[:5]
                rows.append((script.name, what, measured, target, baseline))
                print(f"  {what}: {measured} (target {target}) {baseline}")
            elif line.strip():
                notes.append(f"{script.name}: {line}")
        if proc.returncode != 0:
            err = (proc.stderr.strip().splitlines() or ["?"])[-1]
            rows.append((script.name, "(failed)", err, "", ""))
            print(f"  failed: {err}")
    out = ["# Benchmark results\n", f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}.\n",
           "Run with `make bench`. These are figures, not tests: CI does not fail on them.\n",
           "| benchmark | what | measured | target | baseline / ratio |", "|---|---|---|---|---|"]
    out += [f"| {s} | {w} | {m} | {t} | {b} |" for s, w, m, t, b in rows]
    if notes:
        out += ["", "Notes printed by the benchmarks:", ""] + [f"- {n}" for n in notes[:40]]
    if (HERE / "NOTES.md").exists():  # how the figures are measured and what holds them back
        out += ["", (HERE / "NOTES.md").read_text().rstrip()]
    (HERE / "RESULTS.md").write_text("\n".join(out) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
