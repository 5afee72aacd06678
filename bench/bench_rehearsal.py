"""Peak memory (and time) of a headless, sealed login.gov IdP rehearsal through the real command.

A headless rehearsal cannot wait for a reviewer, so it runs as a person would drive it: up to the
promotion pull request, then (reviewed, CI green) `deploytui rehearse --resume` to the end. Each phase
is one process (the sealed one: `unshare` execs, it does not fork); its peak resident memory is what
/proc says it reached (VmHWM), read until it exits."""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import result

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / "runbooks/answers/login-gov-idp-full.toml"
TARGET_MB = 250


def peak_of(argv: list[str]) -> tuple[int, float, float, str]:
    """(exit code, peak RSS in MB, seconds, output tail) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    peak = 0.0
    status = Path(f"/proc/{proc.pid}/status")
    out: list[str] = []
    import threading

    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(0.05)
    reader.join(5)
    return proc.returncode, peak, time.perf_counter() - t0, "".join(out[-5:])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "j.db"
        first = Path(tmp) / "first.toml"
        first.write_text(ANSWERS.read_text().replace(
            'tick = ["*"]', 'tick = ["prerequisites", "proof-in-staging", "review-changelog", "share-pr"]'))
        base = [sys.executable, "-m", "deploytui", "rehearse"]
        code1, peak1, secs1, tail1 = peak_of([*base, str(ROOT / "runbooks/login-gov-idp.toml"), "--headless",
                                              "--time-scale", "600", "--answers", str(first), "--journal",
                                              str(journal), "--no-output"])
        run_id = tail1.split("--resume ")[-1].split("`")[0] if "--resume" in tail1 else ""
        code2, peak2, secs2, tail2 = peak_of([*base, "--resume", run_id, "--headless", "--answers", str(ANSWERS),
                                              "--journal", str(journal), "--no-output"])
    ok = code1 == 3 and code2 == 0
    print(f"phase 1 (to the promotion pull request): exit {code1}, {peak1:.0f} MB, {secs1:.1f} s")
    print(f"phase 2 (--resume to the end): exit {code2}, {peak2:.0f} MB, {secs2:.1f} s")
    if not ok:
        print("the rehearsal did not go as expected:", tail1[-300:], tail2[-300:])
    result("headless login.gov rehearsal, peak RSS (sealed process)", f"{max(peak1, peak2):.0f} MB"
           + ("" if ok else " (did not finish)"), f"< {TARGET_MB} MB", "about 350 MB before (issue 12)")
    result("headless login.gov rehearsal, wall time at 600x", f"{secs1 + secs2:.1f} s", "-")


if __name__ == "__main__":
    main()
