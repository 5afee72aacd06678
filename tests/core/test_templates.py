"""Templates: undefined variables are errors and no value can change a shell command's structure."""

import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deploytui.runbook import templates


def test_undefined_variable_is_an_error():
    with pytest.raises(templates.TemplateProblem, match="undefined variable"):
        templates.render("echo {{ nope }}", {}, shell=True)


def test_sandbox_refuses_unsafe_attributes():
    with pytest.raises(templates.TemplateProblem):
        templates.render("{{ x.__class__.__mro__[1].__subclasses__() }}", {"x": ""})


def test_injection_attempt_runs_as_a_literal(tmp_path):
    value = "x'; rm -rf ~; '"
    marker = tmp_path / "pwned"
    cmd = templates.render("printf '%s\\n' {{ v }}", {"v": value + f"; touch {marker}"}, shell=True)
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, check=True).stdout
    assert out == value + f"; touch {marker}\n"
    assert not marker.exists()


def test_safe_values_stay_unquoted():
    assert templates.render("git checkout -b stages/rc-{{ d }}", {"d": "2026-11-23"}, shell=True) == \
        "git checkout -b stages/rc-2026-11-23"


def test_when_expressions():
    assert templates.evaluate("deploy_type == 'full'", {"deploy_type": "full"}) is True
    assert templates.evaluate("{{ env != 'prod' }}", {"env": "prod"}) is False
    with pytest.raises(templates.TemplateProblem):
        templates.evaluate("missing == 1", {})


def test_builtins_exist():
    b = templates.builtins()
    assert {"today", "now", "operator", "host"} <= set(b)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60))
def test_no_value_changes_the_command_structure(value):
    cmd = templates.render("printf '%s|' {{ a }} fixed {{ b }}", {"a": value, "b": value}, shell=True)
    # bash itself sees exactly three arguments, two of them the value, byte for byte
    out = subprocess.run(["bash", "-c", cmd], capture_output=True).stdout.decode("utf-8", "surrogateescape")
    assert out == f"{value}|fixed|{value}|"
    assert shlex.split(cmd)[1:] == ["%s|", value, "fixed", value]


def test_defaults_may_use_variables_declared_above():
    from deploytui.runbook.loader import parse
    from deploytui.runbook.variables import resolve

    book = parse('[runbook]\nid = "x"\ntitle = "X"\n[vars.app]\ndefault = "whitehall"\n[vars.repo]\n'
                 'default = "alphagov/{{ app }}"\n[[steps]]\nid = "a"\ntitle = "A"\nrun = "echo {{ repo }}"\n')
    values, missing = resolve(book, {"app": "publisher"}, environ={})
    assert values["repo"] == "alphagov/publisher" and not missing
