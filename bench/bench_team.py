"""A team's year in its store: 50 apps deploying 5 times a day (91,250 runs). One real headless run of a
CD runbook is shipped to moto's S3 to count what a run costs in objects and events; a year is that times
91,250. Then the year's index (one key per run, the key is the summary) is laid into moto and the real
`deploytui history --team` lists it: the latest 30 runs (one day's listing), and all of them. Floors in the
same run: the bare process (`deploytui --version`) and a raw boto3 listing of the whole index."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from common import result, timer
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
APPS, PER_DAY, DAYS = 50, 5, 365
BOOK = ROOT / "tests" / "fleet" / "conftest.py"  # the tests' fleet runbook: integration, smoke, production


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deploytui(*args: str, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    with timer() as t:
        res = subprocess.run([sys.executable, "-m", "deploytui", *args], capture_output=True, text=True,
                             env=env, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"deploytui {' '.join(args)}: {res.stderr.strip()}")
    return t.seconds, res


def main() -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    creds = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                      aws_secret_access_key="bench")
    s3.create_bucket(Bucket="team-year")
    work = Path(tempfile.mkdtemp(prefix="bench-team-"))
    env = {**os.environ, **creds, "AWS_ENDPOINT_URL": endpoint, "DEPLOYTUI_TEAM_STORE": "s3://team-year/cd",
           "DEPLOYTUI_JOURNAL": str(work / "journal.sqlite3"), "DEPLOYTUI_PUBLISH": str(work / "pub.sock")}

    # one run, as CI would run it: what it leaves in the bucket
    sys.path.insert(0, str(BOOK.parent))
    from conftest import BOOK as TEXT

    book = work / "cd.toml"
    book.write_text(TEXT.replace('[lock]\ndynamodb_table = "deploytui-locks"\n', ""))
    seconds, res = deploytui("run", str(book), "--headless", "--var", "app=frontend", env=env)
    objects = [o for o in s3.list_objects_v2(Bucket="team-year", Prefix="cd/")["Contents"]]
    events = sum(len(s3.get_object(Bucket="team-year", Key=o["Key"])["Body"].read().splitlines())
                 for o in objects if "/events/" in o["Key"])
    size = sum(o["Size"] for o in objects)
    runs = APPS * PER_DAY * DAYS
    result("one shipped CD run (3 steps): objects / events / bytes", f"{len(objects)} / {events} / {size:,}", "-",
           f"run took {seconds:.2f} s end to end")
    result(f"a team's year ({APPS} apps x {PER_DAY}/day = {runs:,} runs)",
           f"{runs * len(objects):,} objects, {runs * events:,} events, {runs * size / 1e9:.1f} GB", "-",
           "per run as measured above; events grow by 4 per step a run takes")

    # the year's index, laid straight into moto (setting up; what is timed below goes over HTTP)
    from moto.s3.models import s3_backends

    backend = s3_backends["123456789012"]["aws"]
    start = time.time() - DAYS * 86400
    template = next(o["Key"] for o in objects if o["Key"].startswith("cd/index/"))
    fields = template.split("~", 1)[1]
    with timer() as lay:
        for day in range(DAYS):
            stamp = start + day * 86400
            date = time.strftime("%Y-%m-%d", time.gmtime(stamp))
            for n in range(APPS * PER_DAY):
                rid = time.strftime("%Y%m%d-%H%M%S", time.gmtime(stamp + n * 60)) + f"-{n:04x}"
                backend.put_object("team-year", f"cd/index/{date}/{rid}~{fields}", b"")
    print(f"laid {runs:,} index keys in {lay.seconds:.1f} s")

    floor, _ = deploytui("--version", env=env)
    latest, res = deploytui("history", "--team", env=env)
    assert len(res.stdout.splitlines()) == 31, res.stdout[:500]
    year, res = deploytui("history", "--team", "--limit", "0", "--json", env=env)
    with timer() as raw:
        listed = sum(page.get("KeyCount", 0) for page in
                     s3.get_paginator("list_objects_v2").paginate(Bucket="team-year", Prefix="cd/index/"))
    assert listed == runs + 1, listed  # the year, and the real run
    result("`history --team` (latest 30) over a year's index", f"{latest:.2f} s", "<= 2 s",
           f"floor: bare process {floor:.2f} s")
    result("`history --team --limit 0` (every run of the year)", f"{year:.2f} s ({runs + 1:,} runs)", "-",
           f"floor: raw boto3 listing of the index {raw.seconds:.2f} s")
    server.stop()


if __name__ == "__main__":
    main()
