"""`deploytui rehearse` through the real command: a local world, marked as a rehearsal everywhere."""

from pathlib import Path

from deploytui.journal import Journal

from .helpers import deploytui

ROOT = Path(__file__).resolve().parents[2]


def test_rehearse_headless_login_gov_to_the_end(tmp_path):
    j = tmp_path / "j.db"
    res = deploytui("rehearse", ROOT / "runbooks/login-gov-idp.toml", "--headless", "--time-scale", "600",
                    "--answers", ROOT / "runbooks/answers/login-gov-idp-full.toml", "--journal", j, "--no-output",
                    "--workdir", tmp_path / "world", timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert res.stdout.startswith("REHEARSAL of login-gov-idp: nothing leaves this machine")
    assert "finished: succeeded" in res.stdout
    assert "recorded instead of sent:" in res.stdout and 'name="RC 112"' in res.stdout
    (row,) = Journal(j, readonly=True).runs()
    assert row.rehearsal and row.outcome == "succeeded"
    hist = deploytui("history", "--journal", j)
    assert "succeeded (REHEARSAL)" in hist.stdout


def test_rehearsals_hold_no_lock(tmp_path):
    j = tmp_path / "j.db"
    book = ROOT / "runbooks/example.toml"
    for n in range(2):  # practice runs left open never stand in the way of the next one
        stopped = deploytui("rehearse", book, "--headless", "--journal", j, "--workdir", tmp_path / f"w{n}")
        assert stopped.returncode == 3, stopped.stderr  # left open, waiting for a person
    real = deploytui("run", book, "--headless", "--journal", j)
    assert real.returncode == 3 and "locked" not in real.stderr
    again = deploytui("run", book, "--headless", "--journal", j)
    assert again.returncode == 2 and "is locked by run" in again.stderr
