"""The team's world: moto's S3 and DynamoDB on an in-process server (stopped and restarted for outages),
and a fleet runbook with the RFC's lists."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/core/helpers

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

BOOK = """[runbook]
id = "cd"
title = "CD of {{ app }}"
environment = "{{ app }}"
release = "{{ release_tag }}"

[vars.app]
[vars.release_tag]
default = "v1"
[vars.fail]
default = "no"
[vars.gate_file]
default = ""

[fleet]
app = "{{ app }}"
team = "team-{{ app }}"
exclusive = ["router"]
untrusted = ["whitehall"]
enabled = ["frontend", "router", "whitehall", "publisher"]

[lock]
dynamodb_table = "deploytui-locks"

[[sections]]
id = "integration"
title = "Integration"
[[sections]]
id = "production"
title = "Production"

[[steps]]
id = "deploy-integration"
section = "integration"
title = "Deploy {{ app }} {{ release_tag }} to integration"
auto = true
run = "echo deploying {{ app }}; if [ -n {{ gate_file }} ]; then until [ -e {{ gate_file }} ]; do sleep 0.05; done; fi"

[[steps]]
id = "smoke"
section = "integration"
title = "Smoke tests of {{ app }}"
auto = true
run = "if [ {{ fail }} = yes ]; then echo smoke tests failed; exit 1; fi; echo smoke ok"

[[steps]]
id = "deploy-production"
section = "production"
title = "Deploy {{ app }} to production"
auto = true
run = "echo deployed {{ app }} to production"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """moto's server; `stop()` and `start()` make an outage (its data stays: moto keeps it in this process)."""

    def __init__(self):
        self.port = free_port()
        self.server: ThreadedMotoServer | None = None
        self.env = {**CREDS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}"}

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def moto():
    m = Moto()
    m.start()
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(m.env["AWS_ENDPOINT_URL"] + "/moto-api/reset", method="POST"))
    m.client("s3").create_bucket(Bucket="team-deploys")
    from deploytui.integrations.lock import DynamoLock

    DynamoLock("deploytui-locks", "x", env=m.env).create_table()
    yield m
    m.stop()


@pytest.fixture
def fleet_book(tmp_path):
    path = tmp_path / "cd.toml"
    path.write_text(BOOK)
    return path


@pytest.fixture
def env(moto, tmp_path):
    """What a CI job of the team has: AWS credentials, the team store, its own journal."""
    return {**moto.env, "DEPLOYTUI_TEAM_STORE": "s3://team-deploys/cd",
            "DEPLOYTUI_JOURNAL": str(tmp_path / "journal.sqlite3"), "DEPLOYTUI_PUBLISH": str(tmp_path / "pub.sock")}


def ci_run(book, env: dict, *args: str) -> subprocess.Popen:
    """`deploytui run BOOK --headless ARGS` in the background, as a CI runner runs it."""
    return subprocess.Popen([sys.executable, "-m", "deploytui", "run", str(book), "--headless", *args],
                            cwd=Path(__file__).resolve().parents[2], env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
