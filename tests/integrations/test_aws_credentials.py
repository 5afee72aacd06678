"""AWS credentials that outlive an aws-vault session: renewed through `aws-vault exec PROFILE --json`,
asking the operator for MFA on a handed-over terminal. moto's server checks every request's key."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from deploytui.errors import ActionError
from deploytui.integrations import aws

pytestmark = pytest.mark.timeout(60)

# Stands in for aws-vault 7: refuses to nest, asks for an MFA code when its cached session is gone
# (on a terminal only, as aws-vault's terminal prompt does), prints credential_process JSON.
FAKE_VAULT = r"""#!/bin/sh
echo "$*" >> "$VAULT_CALLS"
if [ -n "$AWS_VAULT" ]; then echo "aws-vault: error: aws-vault sessions should be nested with care" >&2; exit 1; fi
if [ -n "$NEEDS_MFA" ]; then
  if ! [ -t 0 ]; then echo "aws-vault: error: exec: Failed to get credentials for $2: EOF reading MFA code" >&2; exit 1; fi
  printf 'Enter MFA code for arn:aws:iam::123456789012:mfa/alice: ' >&2
  read code
  echo "mfa $code" >> "$VAULT_CALLS"
fi
cat "$NEW_CREDENTIALS"
"""


@pytest.fixture
def accounts(world, tmp_path, monkeypatch):
    """Two keys of one IAM user; then moto checks every request's credentials."""
    iam = world.client("iam")
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="power", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    old, new = (iam.create_access_key(UserName="alice")["AccessKey"] for _ in range(2))
    vault = tmp_path / "bin" / "aws-vault"
    vault.parent.mkdir()
    vault.write_text(FAKE_VAULT)
    vault.chmod(0o755)
    expiration = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "new.json").write_text(json.dumps({
        "Version": 1, "AccessKeyId": new["AccessKeyId"], "SecretAccessKey": new["SecretAccessKey"],
        "SessionToken": "", "Expiration": expiration}))
    auth(world, "0")
    yield {"old": old, "new": new, "iam": iam, "tmp": tmp_path,
           "PATH": f"{vault.parent}:{os.environ['PATH']}"}
    auth(world, "inf")


def auth(world, count: str) -> None:
    """moto's /moto-api/reset-auth, done in this process (the server is in-process and its route fails)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = float(count)
    ActionAuthenticatorMixin.request_count = 0


def expire(world, accounts) -> None:
    """The session's key stops working, as an expired session's does."""
    auth(world, "inf")
    accounts["iam"].delete_access_key(UserName="alice", AccessKeyId=accounts["old"]["AccessKeyId"])
    auth(world, "0")


def session_env(world, accounts, profile, minutes_left, **extra):
    """What `aws-vault exec PROFILE -- deploytui ...` leaves in the environment."""
    expires = (datetime.now(UTC) + timedelta(minutes=minutes_left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**world.env, "PATH": accounts["PATH"], "AWS_VAULT": profile, "AWS_SESSION_TOKEN": "",
            "AWS_ACCESS_KEY_ID": accounts["old"]["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": accounts["old"]["SecretAccessKey"], "AWS_CREDENTIAL_EXPIRATION": expires,
            "VAULT_CALLS": str(accounts["tmp"] / "calls"), "NEW_CREDENTIALS": str(accounts["tmp"] / "new.json"),
            **extra}


def calls(accounts) -> list[str]:
    path = accounts["tmp"] / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_expiring_session_is_renewed_through_aws_vault(world, accounts, recorder):
    env = session_env(world, accounts, "prod-power", minutes_left=60)
    assert aws.asg_size(recorder(env).ctx, env="prod", role="idp")["desired"] == 4  # the session's own key
    assert calls(accounts) == []
    # the session is about to expire (its key stops working with it): renewed before the next call
    env = session_env(world, accounts, "prod-power-2", minutes_left=4)
    expire(world, accounts)
    r = recorder(env)
    assert aws.asg_size(r.ctx, env="prod", role="idp")["desired"] == 4
    assert calls(accounts) == ["exec prod-power-2 --json"]
    assert accounts["new"]["SecretAccessKey"] in r.secrets  # redacted wherever it might show
    assert any(x.startswith("AWS credentials for prod-power-2 renewed through aws-vault") for x in r.lines)
    aws.servers(recorder(env).ctx, env="prod", role="idp")  # the renewed session serves later steps
    assert calls(accounts) == ["exec prod-power-2 --json"]


def test_mfa_is_asked_for_on_the_handed_over_terminal(world, accounts, recorder):
    expire(world, accounts)
    env = session_env(world, accounts, "prod-mfa", minutes_left=4, NEEDS_MFA="1")
    prompts = []

    def operator(argv, env=None, cwd=None):  # the app's hand-over: a terminal the operator types into
        master, slave = os.openpty()
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        prompts.append(os.read(master, 1024).decode())
        os.write(master, b"123456\n")
        code = proc.wait(timeout=20)
        os.close(master)
        return code

    r = recorder(env, handover=operator)
    assert aws.asg_size(r.ctx, env="prod", role="idp")["desired"] == 4
    assert calls(accounts) == ["exec prod-mfa --json", "exec prod-mfa --json", "mfa 123456"]
    assert prompts and "Enter MFA code" in prompts[0]


def test_no_terminal_for_mfa_is_one_line(world, accounts, recorder):
    expire(world, accounts)
    env = session_env(world, accounts, "prod-headless", minutes_left=4, NEEDS_MFA="1")
    with pytest.raises(ActionError, match="AWS session for prod-headless expired and aws-vault needs you "
                                          r"\(aws-vault: error: exec: Failed to get credentials"):
        aws.asg_size(recorder(env).ctx, env="prod", role="idp")


def test_a_credential_process_profile_of_the_run(world, accounts, recorder, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_VAULT"):
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "config"
    config.write_text("[profile prod-power]\ncredential_process = aws-vault exec prod-power --json\n")
    env = {"AWS_ENDPOINT_URL": world.endpoint, "AWS_REGION": world.region, "AWS_PROFILE": "prod-power",
           "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "PATH": accounts["PATH"], "VAULT_CALLS": str(tmp_path / "calls"),
           "NEW_CREDENTIALS": str(accounts["tmp"] / "new.json")}
    monkeypatch.setenv("PATH", accounts["PATH"])  # botocore runs the process with this process's environment
    monkeypatch.setenv("VAULT_CALLS", env["VAULT_CALLS"])
    monkeypatch.setenv("NEW_CREDENTIALS", env["NEW_CREDENTIALS"])
    expire(world, accounts)
    assert aws.asg_size(recorder(env).ctx, env="prod", role="idp")["desired"] == 4  # the run's profile, not ours
    assert (tmp_path / "calls").read_text().splitlines() == ["exec prod-power --json"]
