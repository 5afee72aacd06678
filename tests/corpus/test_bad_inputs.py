"""The bad-inputs corpus: what a hurried or hostile person types, and files that are not what they should be.
Each must end in a clean error for people (non-zero exit, short lines that say what to do, never a traceback)
within a few seconds, and leave no file it was given changed. Figures at the end: tried / clean one-line
errors / tracebacks / hangs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from figures import report

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"tried": 0, "clean": 0, "tracebacks": 0, "hangs": 0}

GOOD = '[runbook]\nid = "g"\ntitle = "Good"\n[vars.rc]\npattern = "^\\\\d+$"\n[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n'


def files(tmp: Path) -> dict[str, Path]:
    made = {
        "good": GOOD,
        "empty": "",
        "binary": None,
        "latin1": None,
        "huge": None,
        "bad-toml": "[runbook\nid = ",
        "no-steps": '[runbook]\nid = "x"\ntitle = "X"\n',
        "unknown-action": GOOD.replace('run = "true"', 'uses = "aws.nope"'),
        "answers-bad": "run = [1, 2",
        "answers-unknown": 'bogus = ["*"]\n',
        "answers-types": "run = 3\n",
        "not-a-journal": "this is not SQLite\n" * 20,
    }
    out = {}
    for name, text in made.items():
        p = tmp / f"{name}.toml"
        if name == "binary":
            p.write_bytes(b"\x00\x01\x02BIN\xff" * 100)
        elif name == "latin1":
            p.write_bytes(GOOD.replace("Good", "Caf\xe9").encode("latin-1"))
        elif name == "huge":
            p.write_text(GOOD + "# padding\n" * 300_000)
        else:
            p.write_text(text)
        out[name] = p
    (tmp / "a-dir").mkdir()
    out["dir"] = tmp / "a-dir"
    return out


CASES = [
    ("run a missing file", ["run", "{tmp}/nope.toml", "--headless"]),
    ("run a directory", ["run", "{dir}", "--headless"]),
    ("run a binary file", ["run", "{binary}", "--headless"]),
    ("run a non-UTF-8 file", ["run", "{latin1}", "--headless"]),
    ("run an empty file", ["run", "{empty}", "--headless"]),
    ("run a 3 MB file", ["run", "{huge}", "--headless"]),
    ("run bad TOML", ["run", "{bad-toml}", "--headless"]),
    ("run a runbook with no steps", ["run", "{no-steps}", "--headless"]),
    ("run an unknown action", ["run", "{unknown-action}", "--headless"]),
    ("--var without =", ["run", "{good}", "--headless", "--var", "rc"]),
    ("--var of an unknown name", ["run", "{good}", "--headless", "--var", "nope=1"]),
    ("--var that fails its pattern", ["run", "{good}", "--headless", "--var", "rc=12a"]),
    ("no value for a variable", ["run", "{good}", "--headless"]),
    ("--answers missing", ["run", "{good}", "--headless", "--var", "rc=1", "--answers", "{tmp}/none.toml"]),
    ("--answers bad TOML", ["run", "{good}", "--headless", "--var", "rc=1", "--answers", "{answers-bad}"]),
    ("--answers unknown key", ["run", "{good}", "--headless", "--var", "rc=1", "--answers", "{answers-unknown}"]),
    ("--answers wrong types", ["run", "{good}", "--headless", "--var", "rc=1", "--answers", "{answers-types}"]),
    ("--resume of no such run", ["run", "--resume", "nope", "--headless"]),
    ("run with neither runbook nor --resume", ["run", "--headless"]),
    ("--journal /dev/null", ["run", "{good}", "--headless", "--var", "rc=1", "--journal", "/dev/null"]),
    ("--journal in /proc", ["run", "{good}", "--headless", "--var", "rc=1", "--journal", "/proc/nope/j.db"]),
    ("--journal a text file", ["run", "{good}", "--headless", "--var", "rc=1", "--journal", "{not-a-journal}"]),
    ("history of a text file", ["history", "--journal", "{not-a-journal}"]),
    ("show of no such run", ["show", "nope", "--journal", "{journal}"]),
    ("export of no such run", ["export", "nope", "--journal", "{journal}"]),
    ("export in an unknown format", ["export", "nope", "--format", "docx", "--journal", "{journal}"]),
    ("follow of no such run", ["follow", "nope", "--journal", "{journal}"]),
    ("plan with a bad --var", ["plan", "{good}", "--var", "rc=x"]),
    ("check of a binary file", ["check", "{binary}"]),
    ("rehearse a missing file", ["rehearse", "{tmp}/nope.toml", "--headless"]),
    ("share with no command", ["share", "--detach"]),
    ("serve on a bad port", ["serve", "--port", "-1", "--journal", "{journal}"]),
    ("an unknown command", ["deploy"]),
    ("an unknown flag", ["run", "{good}", "--frobnicate"]),
    ("--break-lock with an empty reason", ["run", "{good}", "--headless", "--var", "rc=1", "--break-lock", ""]),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    made = files(tmp)
    journal = tmp / "journal.sqlite3"
    good = subprocess.run([sys.executable, "-m", "deploytui", "run", str(made["good"]), "--headless", "--var",
                           "rc=1", "--journal", str(journal)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert good.returncode in (0, 3), good.stderr
    return tmp, made, journal


@pytest.mark.parametrize("what,argv", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_gets_a_clean_error(setup, what, argv):
    tmp, made, journal = setup
    names = {"tmp": str(tmp), "journal": str(journal), **{k: str(v) for k, v in made.items()}}
    args = [a.format(**names) if "{" in a else a for a in argv]
    before = {p: _digest(p) for p in made.values() if p.is_file()}
    FIGURES["tried"] += 1
    try:
        res = subprocess.run([sys.executable, "-m", "deploytui", *args], capture_output=True, text=True, timeout=20,
                             cwd=ROOT, stdin=subprocess.DEVNULL, env={**os.environ, "DEPLOYTUI_JOURNAL": str(journal)})
    except subprocess.TimeoutExpired:
        FIGURES["hangs"] += 1
        _report()
        raise AssertionError(f"{what}: hung") from None
    traceback = "Traceback" in res.stderr + res.stdout
    FIGURES["tracebacks"] += traceback
    lines = res.stderr.strip().splitlines()
    clean = res.returncode != 0 and not traceback and 0 < len(lines) <= 3 and all(len(x) < 400 for x in lines)
    FIGURES["clean"] += clean
    _report()
    assert clean, (res.returncode, res.stderr, res.stdout)
    assert before == {p: _digest(p) for p in before}  # nothing it was given has changed


def _digest(p: Path) -> tuple[str, int]:
    return hashlib.sha256(p.read_bytes()).hexdigest(), os.stat(p).st_mode


def _report() -> None:
    report("bad inputs", f"bad-inputs corpus: {FIGURES['tried']} tried / {FIGURES['clean']} clean one-line errors / "
                         f"{FIGURES['tracebacks']} tracebacks / {FIGURES['hangs']} hangs")
