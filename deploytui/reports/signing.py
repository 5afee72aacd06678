"""Signing a deploy record with the operator's SSH key, and checking such a signature, through ssh-keygen's
own file signatures (`ssh-keygen -Y sign / verify`, namespace `deploytui-record`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import UserError

NAMESPACE = "deploytui-record"


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if not found:
        raise UserError("signing needs ssh-keygen (OpenSSH 8.1 or later)", 2)
    return found


def sign(path: Path, key: Path) -> Path:
    """Write PATH.sig, the signature of the file at `path` by the private `key`."""
    res = subprocess.run([_ssh_keygen(), "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(path)],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or ["failed"])[-1]
        raise UserError(f"{key}: could not sign {path}: {why}", 2)
    return Path(str(path) + ".sig")


def check(path: Path, signature: Path, allowed_signers: Path, identity: str) -> str:
    """One line saying who signed `path`; UserError (exit 1) when the signature does not hold."""
    with open(path, "rb") as data:
        res = subprocess.run([_ssh_keygen(), "-Y", "verify", "-f", str(allowed_signers), "-I", identity,
                              "-n", NAMESPACE, "-s", str(signature)], stdin=data, capture_output=True, text=True)
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["it does not verify"])[-1]
        raise UserError(f"{path}: the signature does not hold: {why}", 1)
    return f"{path}: signed by {identity} (good signature)"
