"""AWS credentials that outlive an aws-vault session.

`aws-vault exec PROFILE -- deploytui ...` hands deploytui credentials that expire (1 h by default),
and a deploy with a 15-minute gate, an hour's soak and a rollback outlives them. When the run's
environment says it came from aws-vault (AWS_VAULT and an expiry), botocore is given refreshable
credentials: before they expire it asks `aws-vault exec PROFILE --json` for new ones, as the seed's
per-command `aws-vault exec` would. When aws-vault needs the operator (an MFA code), the terminal is
handed over to it (ActionContext.run_interactive) and its answer comes back through a pipe, never a
file. A profile whose `credential_process` refreshes itself needs nothing of this: boto3 reads it
when AWS_PROFILE is set."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from typing import Any

from ..errors import ActionError
from ._params import getenv

EXPIRY_VARS = ("AWS_CREDENTIAL_EXPIRATION", "AWS_SESSION_EXPIRATION")  # aws-vault 7 / 6
# aws-vault refuses to run inside its own session; and the old keys must not reach it
NOT_FOR_VAULT = ("AWS_VAULT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", *EXPIRY_VARS)

_sessions: dict[str, VaultSession] = {}
_sessions_lock = threading.Lock()


def vault_session(ctx) -> VaultSession | None:
    """The refreshing session of the run's aws-vault profile, or None (static keys, a profile, nothing)."""
    profile = getenv(ctx, "AWS_VAULT")
    expiry = next((getenv(ctx, v) for v in EXPIRY_VARS if getenv(ctx, v)), None)
    if not profile or not expiry or not getenv(ctx, "AWS_ACCESS_KEY_ID"):
        return None
    with _sessions_lock:
        session = _sessions.get(profile)
        if session is None:
            session = _sessions[profile] = VaultSession(profile, {
                "access_key": getenv(ctx, "AWS_ACCESS_KEY_ID"), "secret_key": getenv(ctx, "AWS_SECRET_ACCESS_KEY"),
                "token": getenv(ctx, "AWS_SESSION_TOKEN"), "expiry_time": expiry})
        session.last = ctx
        if getattr(ctx, "handover", None):
            session.ctx = ctx
        return session


class VaultSession:
    """One aws-vault profile's credentials, shared by every client of the run, refreshed by botocore."""

    def __init__(self, profile: str, first: dict[str, Any]):
        from botocore.credentials import RefreshableCredentials

        self.profile = profile
        self.last: Any = None  # the latest ActionContext to use it: its environment, log and secrets
        self.ctx: Any = None  # the latest one that can hand the terminal over (for MFA)
        self.refreshes = 0
        self.credentials = RefreshableCredentials.create_from_metadata(first, self._refresh, "aws-vault")

    def _env(self) -> dict[str, str]:
        base = dict(getattr(self.last, "env", None) or os.environ)
        return {k: v for k, v in base.items() if k not in NOT_FOR_VAULT}

    def _refresh(self) -> dict[str, Any]:
        argv = ["aws-vault", "exec", self.profile, "--json"]
        try:  # aws-vault's cached session usually answers without asking anything
            got = subprocess.run(argv, env=self._env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=60)
            text, code, why = got.stdout, got.returncode, got.stderr.strip().splitlines()[-1:] or [""]
        except FileNotFoundError:
            raise ActionError("AWS session expired and aws-vault is not on PATH: start a new session and "
                              "re-run the step") from None
        except subprocess.TimeoutExpired:
            text, code, why = "", 1, ["timed out"]
        if code != 0:
            if self.ctx is None:
                raise ActionError(f"AWS session for {self.profile} expired and aws-vault needs you "
                                  f"({why[0]}): no terminal to ask on; start a new session") from None
            text, code = self._ask_operator(argv)
            if code != 0:
                raise ActionError(f"aws-vault exec {self.profile} failed (exit {code}): start a new session and "
                                  f"re-run the step")
        try:
            data = json.loads(text)
            new = {"access_key": data["AccessKeyId"], "secret_key": data["SecretAccessKey"],
                   "token": data.get("SessionToken"), "expiry_time": data["Expiration"]}
        except (ValueError, KeyError):
            raise ActionError(f"aws-vault exec {self.profile} --json gave no credentials") from None
        add_secret = getattr(self.last, "add_secret", None)
        for value in (new["secret_key"], new["token"]):
            if value and add_secret:
                add_secret(value)
        self.refreshes += 1
        if hasattr(self.last, "log"):
            self.last.log(f"AWS credentials for {self.profile} renewed through aws-vault "
                          f"(valid until {new['expiry_time']})")
        return new

    def _ask_operator(self, argv: list[str]) -> tuple[str, int]:
        """aws-vault on the operator's terminal (it asks for the MFA code); its JSON through a FIFO."""
        with tempfile.TemporaryDirectory(prefix="deploytui-aws-") as tmp:
            fifo = os.path.join(tmp, "credentials")
            os.mkfifo(fifo, 0o600)
            got: list[str] = []
            reader = threading.Thread(target=lambda: got.append(open(fifo).read()), daemon=True)
            reader.start()
            code = self.ctx.run_interactive(["sh", "-c", 'exec "$@" > "$0"', fifo, *argv], env=self._env())
            try:  # if the shell never opened it, let the reader go
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            reader.join(10)
        return (got[0] if got else ""), code
