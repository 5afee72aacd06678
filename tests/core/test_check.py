"""`deploytui check`: every broken runbook gives its one-line error and exit 2, never a traceback."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploytui.cli import main

BROKEN = sorted((Path(__file__).parent.parent / "runbook" / "broken").glob("*.toml"))
LOCATED = re.compile(r"^\S+\.toml(:\d+)?: .+")


def check(*paths):
    return CliRunner().invoke(main, ["check", *map(str, paths)])


def test_corpus_is_big_enough():
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_runbook_gives_located_error(path):
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    result = check(path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines and all(LOCATED.match(line) for line in lines), lines
    assert any(expected in line for line in lines), (expected, lines)
    assert result.stdout == ""


def test_lines_point_at_the_right_line(tmp_path):
    p = tmp_path / "b.toml"
    p.write_text('[runbook]\nid = "x"\ntitle = "X"\n\n[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n'
                 '[[steps]]\nid = "b"\ntitle = "B"\nwait = "soon"\n')
    result = check(p)
    assert result.stderr.strip() == f"{p}:12: step 'b': wait: bad duration: 'soon' is not a duration " \
                                    "(use e.g. '90s', '15m', '1h30m')"


@pytest.mark.parametrize("content,expected", [
    (b"", "empty file"),
    (b"   \n\n", "empty file"),
    (b"\x00\x01\x02binary\xff", "binary data"),
    (b'[runbook]\nid = "x"\ntitle = "caf\xe9"\n', "not UTF-8"),
    (b"[runbook\n", "not valid TOML"),
    (b"steps = 5\n", "steps: Input should be a valid list"),
    (b"stages = 5\n", "stages: unknown key"),
    (b'[runbook]\nid = 5\ntitle = ["x"]\n', "id: Input should be a valid string"),
    (b"[[steps]]\n" * 3, "required"),
])
def test_hostile_inputs_never_traceback(tmp_path, content, expected):
    p = tmp_path / "x.toml"
    p.write_bytes(content)
    result = check(p)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert expected in result.stderr


def test_ten_megabyte_file(tmp_path):
    p = tmp_path / "big.toml"
    p.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    result = check(p)
    assert result.exit_code == 2
    assert "too large" in result.stderr


def test_missing_file_and_directory(tmp_path):
    assert "no such file" in check(tmp_path / "nope.toml").stderr
    assert "is a directory" in check(tmp_path).stderr


def test_random_bytes_never_traceback(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
    def inner(data):
        p = tmp_path / "fuzz.toml"
        p.write_bytes(data)
        result = check(p)
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

    inner()


def test_clean_runbook_prints_summary(tmp_path):
    p = tmp_path / "ok.toml"
    p.write_text('[runbook]\nid = "x"\ntitle = "X"\n[vars.rc]\npattern = "^[0-9]+$"\n'
                 '[[steps]]\nid = "a"\ntitle = "A"\nrun = "echo {{ rc }}"\n')
    result = check(p)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{p}: ok: 1 steps in 1 sections, 1 variables"


def test_shipped_runbooks_are_clean():
    books = sorted((Path(__file__).parents[2] / "runbooks").glob("*.toml"))
    if not books:
        pytest.skip("no runbooks shipped yet")
    result = check(*books)
    assert result.exit_code == 0, result.stderr


def test_a_section_reached_only_by_the_operators_jump_is_a_warning(tmp_path):
    p = tmp_path / "w.toml"
    p.write_text('[runbook]\nid = "x"\ntitle = "X"\n[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\n'
                 '[[sections]]\nid = "rollback"\ntitle = "Roll back"\non_demand = true\n'
                 '[[steps]]\nid = "undo"\nsection = "rollback"\ntitle = "Undo"\nrun = "true"\n')
    result = check(p)
    assert result.exit_code == 0, result.output
    assert "warning: no decision's goto leads here: only the operator's jump (b) reaches it" in result.stderr
    assert result.stdout.startswith(f"{p}: ok: ")


def test_command_substitution_inside_double_quotes_is_its_own_quoting(tmp_path):
    p = tmp_path / "ok.toml"
    p.write_text('[runbook]\nid = "x"\ntitle = "X"\n[vars.p]\ndefault = "/a b/c"\n[[steps]]\nid = "a"\n'
                 'title = "A"\nrun = \'cd "$(dirname {{ p }})"\'\n')
    result = check(p)
    assert result.exit_code == 0, result.output


def test_correct_bash_is_accepted(tmp_path):
    """A value the author quoted with `| raw`, command substitution in quotes, and bash's `${#...}` written
    inside {% raw %} as the `{#` message says."""
    p = tmp_path / "ok.toml"
    p.write_text('[runbook]\nid = "x"\ntitle = "X"\n[vars.p]\ndefault = "/a b/c"\n[vars.n]\ndefault = "3"\n'
                 '[[steps]]\nid = "a"\ntitle = "A"\n'
                 'run = \'cd "$(dirname {{ p }})"; echo "{{ n | raw }} nodes"; '
                 'arr=(a b); echo {% raw %}${#arr[@]}{% endraw %}\'\n')
    result = check(p)
    assert result.exit_code == 0, result.output


def test_every_text_a_person_reads_is_checked_for_undefined_variables(tmp_path):
    p = tmp_path / "b.toml"
    p.write_text('[runbook]\nid = "x"\ntitle = "X {{ a1 }}"\n[[sections]]\nid = "s"\ntitle = "S {{ a2 }}"\n'
                 '[[steps]]\nid = "a"\nsection = "s"\ntitle = "A"\nchecks = ["{{ a3 }}"]\nenv = { X = "{{ a4 }}" }\n'
                 'decide = { question = "{{ a5 }}?", options = [{ label = "{{ a6 }}" }] }\n'
                 '  [[steps.panes]]\n  title = "{{ a7 }}"\n  watch = "true"\n  until = "{{ a8 }}"\n'
                 '  env = { Y = "{{ a9 }}" }\n')
    result = check(p)
    assert result.exit_code == 2
    for n in range(1, 10):
        assert f"undefined variable 'a{n}'" in result.stderr, n
