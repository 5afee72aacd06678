"""Headless runs: auto steps and timers run, answers supply the person, exit codes say why it stopped."""

from pathlib import Path

from .helpers import deploytui

EXAMPLE = Path(__file__).parent / "example.toml"


def answers(tmp_path, text):
    p = tmp_path / "answers.toml"
    p.write_text(text)
    return p


def test_runs_to_the_end_with_answers(tmp_path):
    a = answers(tmp_path, 'run = ["*"]\ntick = ["*"]\n[decide]\ndecide = "Continue"\n')
    res = deploytui("run", EXAMPLE, "--headless", "--answers", a, "--journal", tmp_path / "j.db")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "hello x'; rm -rf ~; '" in res.stdout  # the hostile default printed as a literal
    assert "finished abc123" in res.stdout
    assert res.stdout.strip().endswith("finished: succeeded")


def test_rollback_path(tmp_path):
    a = answers(tmp_path, 'run = ["*"]\ntick = ["*"]\n[decide]\ndecide = "Roll back"\n'
                          '[reasons]\ndecide = "errors up"\n')
    res = deploytui("run", EXAMPLE, "--headless", "--answers", a, "--journal", tmp_path / "j.db")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Roll back?: decided “Roll back” → rollback (tester): errors up" in res.stdout
    assert "undo" in res.stdout and "finished abc123" not in res.stdout
    assert "finished: completed_on_demand (rollback)" in res.stdout


def test_stops_with_exit_3_where_a_person_is_needed(tmp_path):
    res = deploytui("run", EXAMPLE, "--headless", "--journal", tmp_path / "j.db")
    assert res.returncode == 3
    assert "needs a person: step 'hello' (Say hello) waits for someone to run it" in res.stdout


def test_bad_flags_and_answers_are_one_line(tmp_path):
    j = tmp_path / "j.db"
    bad_var = deploytui("run", EXAMPLE, "--headless", "--var", "env=qa", "--journal", j)
    assert bad_var.returncode == 2
    assert bad_var.stderr.strip() == "deploytui: --var env: 'qa' is not one of prod, staging"
    unknown = deploytui("run", EXAMPLE, "--headless", "--var", "colour=blue", "--journal", j)
    assert unknown.returncode == 2 and "unknown variable 'colour'" in unknown.stderr
    a = answers(tmp_path, "ticks = true\n")
    bad_answers = deploytui("run", EXAMPLE, "--headless", "--answers", a, "--journal", j)
    assert bad_answers.returncode == 2 and "unknown key 'ticks'" in bad_answers.stderr
    for r in (bad_var, unknown, bad_answers):
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_usage_errors_are_one_line(tmp_path):
    for args, expected in ((["run", "--bogus"], "No such option '--bogus'"),
                           (["nosuch"], "No such command 'nosuch'"),
                           (["export"], "Missing argument 'RUN'")):
        res = deploytui(*args)
        assert res.returncode == 2
        assert res.stderr.count("\n") == 1 and expected in res.stderr and res.stderr.startswith("deploytui: ")
