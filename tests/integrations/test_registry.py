"""The integrations' public contract: names, parameters `deploytui check` validates, light imports."""

from __future__ import annotations

import subprocess
import sys

from deploytui.integrations.registry import registry

EXPECTED = {
    "aws.servers", "aws.asg_size", "aws.asg_recycle", "aws.scale_in", "aws.ssm_command", "aws.logs_tail",
    "git.release_branch", "git.merge", "git.tag", "git.revert", "git.changelog",
    "github.next_release", "github.pull_request", "github.merge", "github.release", "github.tag",
    "github.workflow", "http.get_json", "http.check", "slack.post",
}


def test_every_action_is_registered_with_a_summary():
    reg = registry()
    assert EXPECTED <= set(reg)
    assert all(reg[name].summary for name in EXPECTED)
    assert reg["aws.logs_tail"].streaming and not reg["aws.servers"].streaming


def test_with_keys_are_checked_against_the_signatures():
    reg = registry()
    assert reg["aws.asg_recycle"].check_params({"env": "prod", "role": "idp"}) is None
    assert reg["aws.scale_in"].check_params({"env": "prod", "role": "ALL", "which": "old"}) is None
    assert "has no parameter 'rol'" in reg["aws.servers"].check_params({"env": "prod", "rol": "idp"})
    assert reg["git.changelog"].check_params({"repo": "."}) == "git.changelog needs 'base'"


def test_loading_the_registry_imports_no_heavy_library():
    code = ("import sys; from deploytui.integrations.registry import registry; registry(); "
            "print(','.join(m for m in ('boto3', 'github', 'git', 'httpx', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
