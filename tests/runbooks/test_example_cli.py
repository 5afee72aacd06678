"""The example runbook, driven headless through the real CLI (as the README shows it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def drive(tmp_path: Path, decision: str) -> subprocess.CompletedProcess:
    answers = tmp_path / "answers.toml"
    answers.write_text(f'run = ["*"]\ntick = ["*"]\n[decide]\nkeep-or-roll-back = "{decision}"\n')
    return subprocess.run([sys.executable, "-m", "deploytui", "run", str(ROOT / "runbooks/example.toml"),
                           "--headless", "--answers", str(answers), "--journal", str(tmp_path / "j.sqlite3"),
                           "--var", f"workdir={tmp_path / 'scratch'}", "--var", "version=2.3.4"],
                          capture_output=True, text=True, timeout=120)


def test_example_runs_to_the_end(tmp_path):
    res = drive(tmp_path, "Healthy, keep it")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "now serving 2.3.4" in res.stdout
    assert "finished: succeeded" in res.stdout
    assert (tmp_path / "scratch/current").read_text().strip() == "2.3.4"


def test_example_rolls_back(tmp_path):
    res = drive(tmp_path, "Roll back")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rolled back" in res.stdout
    assert "rolled_back" in res.stdout
    assert not (tmp_path / "scratch/current").exists()  # there was no previous build to put back
