"""The shipped GitHub Actions workflow: valid YAML, every deploytui command in it accepted by the CLI, and
its deploy, record and outcome steps run for real with bash against a small runbook."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from deploytui.cli import main
from deploytui.engine.headless import EXIT_MEANINGS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "github-actions" / "deploy.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return workflow()["jobs"]["deploy"]["steps"]


def deploytui_commands() -> list[list[str]]:
    """Each `deploytui ...` command line of the workflow's scripts, split as bash would (expressions and
    variables stand as placeholders)."""
    commands = []
    for step in steps():
        for line in step.get("run", "").splitlines():
            line = line.strip()
            if line.startswith("deploytui "):
                line = re.sub(r"\$\{\{[^}]*\}\}", "X", line.split(" | ")[0])
                commands.append(shlex.split(line)[1:])
    return commands


def test_valid_yaml_with_the_parts_a_pipeline_needs():
    w = workflow()
    assert w["name"] == "deploy" and "jobs" in w
    on = w[True] if True in w else w["on"]  # YAML 1.1 reads the key `on` as a boolean
    assert on["push"]["tags"] == ["v*"]
    names = [s.get("uses", "").split("@")[0] for s in steps()]
    assert "actions/upload-artifact" in names
    upload = next(s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "deploy-record.json" in upload["with"]["path"]


def test_every_deploytui_command_is_accepted_by_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the job writes before a command reads them
    (tmp_path / "deploy-record.json").write_text("{}")
    commands = deploytui_commands()
    assert {c[0] for c in commands} >= {"check", "run", "export", "verify"}
    run = next(c for c in commands if c[0] == "run")
    assert "--headless" in run and run[run.index("--progress") + 1] == "jsonl"
    for args in commands:
        ctx = main.make_context("deploytui", list(args))
        name, cmd, rest = main.resolve_command(ctx, [*ctx.protected_args, *ctx.args])
        try:
            cmd.make_context(name, rest, parent=ctx)  # raises on an unknown option or a bad choice
        except click.UsageError as e:
            pytest.fail(f"deploytui {shlex.join(args)}: {e}")


def test_runbook_it_runs_is_one_check_accepts():
    res = subprocess.run([sys.executable, "-m", "deploytui", "check", str(ROOT / "runbooks" / "govuk-cd.toml")],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr


FAILING = """[runbook]
id = "govuk-cd"
title = "CD"
environment = "{{ app }}"
release = "{{ release_tag }}"
[vars.app]
[vars.release_tag]
[[steps]]
id = "integration"
title = "Deploy {{ app }} to integration"
auto = true
run = "echo deploying {{ app }} {{ release_tag }}"
[[steps]]
id = "smoke"
title = "Smoke tests"
auto = true
run = "echo smoke tests failed; exit 1"
"""


def run_step(name: str, workdir: Path, env: dict, outputs: dict) -> subprocess.CompletedProcess:
    step = next(s for s in steps() if s.get("name") == name)
    script = step["run"]
    for key, value in outputs.items():
        script = script.replace("${{ steps.deploy.outputs." + key + " }}", value)
    assert "${{" not in script, script
    return subprocess.run(["bash", "-e", "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(not os.path.exists("/usr/bin/jq"), reason="the workflow's outcome step uses jq")
def test_the_steps_run_for_real_and_the_job_fails_with_the_meaning(tmp_path):
    (tmp_path / "runbooks-repo").mkdir()
    (tmp_path / "runbooks-repo" / "govuk-cd.toml").write_text(FAILING)
    job_env = workflow()["jobs"]["deploy"]["env"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "APP": "frontend",
           "RELEASE_TAG": "v123", "DEPLOYTUI_JOURNAL": str(tmp_path / "journal.sqlite3"),
           "DEPLOYTUI_OPERATOR": "github-actions (alice)", "GITHUB_OUTPUT": str(tmp_path / "out")}
    assert set(job_env) >= {"APP", "RELEASE_TAG", "DEPLOYTUI_JOURNAL"}
    deploy = run_step("Deploy", tmp_path, env, {})
    assert deploy.returncode == 0, deploy.stderr  # the step records the code; the outcome step fails the job
    code = dict(line.split("=", 1) for line in (tmp_path / "out").read_text().split())["code"]
    assert code == "1"
    assert '"kind":"run_started"' in deploy.stdout and (tmp_path / "progress.jsonl").exists()
    record = run_step("Deploy record", tmp_path, env, {})
    assert record.returncode == 0, record.stderr
    assert '"outcome"' in (tmp_path / "deploy-record.json").read_text() and "intact" in record.stdout
    outcome = run_step("Outcome", tmp_path, env, {"code": code})
    assert outcome.returncode == 1
    assert outcome.stdout.strip() == f"::error title=deploy of frontend v123 stopped (exit 1)::{EXIT_MEANINGS[1]}"
