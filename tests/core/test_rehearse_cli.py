"""`deploytui rehearse` through the real command: sealed off the network, refused where it cannot be
sealed, its scratch directory gone at the end, resumable only in its own world."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from deploytui.journal import Journal

from .helpers import deploytui

ROOT = Path(__file__).resolve().parents[2]
REAL_LOOKING = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
                "AWS_PROFILE": "prod-power", "AWS_REGION": "us-west-2"}


def escape_steps(port: int, sock: str) -> dict[str, str]:
    """Commands that try, every way they can, to reach something off the world."""
    py = sys.executable
    boto = ("import boto3,time; t=time.monotonic()\n"
            "try:\n boto3.client('autoscaling', region_name='us-west-2').describe_auto_scaling_groups()\n"
            "except Exception as e: print('boto3:', type(e).__name__, round(time.monotonic()-t, 1)); raise SystemExit(1)\n"
            "print('boto3: REACHED AWS')")
    sock_py = ("import socket,sys,time; t=time.monotonic()\n"
               "try: socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)\n"
               "except OSError as e: print('socket:', sys.argv[1], e.strerror, round(time.monotonic()-t, 1)); "
               "raise SystemExit(1)\nprint('socket: REACHED', sys.argv[1])")
    unix_py = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
               "try: s.connect(sys.argv[1])\nexcept OSError as e: print('unix:', e.strerror); raise SystemExit(1)\n"
               "print('unix: REACHED')")
    creds = " ".join(f"{k}={v}" for k, v in REAL_LOOKING.items() if k != "AWS_PROFILE")
    return {
        "curl": "/usr/bin/curl -sS -m 20 https://autoscaling.us-west-2.amazonaws.com/",
        "socket": f"{py} -c {shlex.quote(sock_py)} 192.0.2.10 443",
        "loopback": f"{py} -c {shlex.quote(sock_py)} 127.0.0.1 {port}",
        "unix": f"{py} -c {shlex.quote(unix_py)} {sock}",
        "boto3": f"env -u AWS_ENDPOINT_URL -u AWS_SESSION_TOKEN -u AWS_PROFILE {creds} {py} -c {shlex.quote(boto)}",
    }


def one_step_book(tmp_path: Path, sid: str, command: str) -> Path:
    path = tmp_path / f"{sid}.toml"
    path.write_text(f'[runbook]\nid = "escape-{sid}"\ntitle = "Try to escape"\n\n[[steps]]\nid = "{sid}"\n'
                    f'title = "{sid}"\nrun = {json.dumps(command)}\nauto = true\n')
    return path


@pytest.fixture
def host_services(tmp_path):
    """A TCP listener on this machine's loopback and a Unix socket in /run: what a rehearsal must not reach."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    run_dir = Path("/run") / f"deploytui-test-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(run_dir / "db.sock"))
    unix.listen()
    accepted = []

    def serve(s):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            accepted.append(s.family)
            conn.close()

    for s in (tcp, unix):
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    yield tcp.getsockname()[1], str(run_dir / "db.sock"), accepted
    for s in (tcp, unix):
        s.close()
    (run_dir / "db.sock").unlink(missing_ok=True)
    run_dir.rmdir()


def test_nothing_a_rehearsal_runs_reaches_off_the_world_and_it_fails_fast(tmp_path, host_services):
    port, sock, accepted = host_services
    expected = {"curl": "Could not resolve host", "socket": "socket: 192.0.2.10 Network is unreachable",
                "loopback": "Connection refused", "unix": "unix: No such file or directory",
                "boto3": "boto3: EndpointConnectionError"}
    for sid, command in escape_steps(port, sock).items():
        started = time.monotonic()
        got = deploytui("rehearse", one_step_book(tmp_path, sid, command), "--headless",
                        "--journal", tmp_path / f"{sid}.db", env=REAL_LOOKING, timeout=120)
        assert got.returncode == 1, got.stdout + got.stderr
        assert "nothing leaves this machine" in got.stdout
        assert "REACHED" not in got.stdout and expected[sid] in got.stdout, got.stdout
        assert time.monotonic() - started < 30, f"{sid} did not fail fast"
    assert accepted == []  # neither the host's loopback listener nor its Unix socket heard anything
    # outside the seal the same listener does answer: the test would see an escape
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    until_true(lambda: accepted)


def until_true(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.02)
    assert predicate()


def test_a_rehearsal_is_refused_where_it_cannot_be_sealed_unless_told_why(tmp_path):
    bare = {"PATH": str(tmp_path / "no-tools-here")}  # no unshare to be found
    res = deploytui("rehearse", ROOT / "runbooks/example.toml", "--headless", "--journal", tmp_path / "j.db",
                    env=bare)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "cannot be sealed off the network here" in res.stderr
    assert "--unsealed REASON" in res.stderr
    ok = deploytui("rehearse", ROOT / "runbooks/example.toml", "--headless", "--journal", tmp_path / "j.db",
                   "--unsealed", "CI container without user namespaces", env=bare)
    assert ok.returncode == 3, ok.stderr
    assert "NOT SEALED (CI container without user namespaces)" in ok.stdout
    (row,) = Journal(tmp_path / "j.db", readonly=True).runs()
    started = Journal(tmp_path / "j.db", readonly=True).events(row.id)[0].data
    assert started["seal"] == "none: CI container without user namespaces" and started["faults"] == []


def test_the_scratch_directory_is_gone_at_the_end(tmp_path):
    scratch = tmp_path / "tmp"  # the operator's TMPDIR: where an unsealed rehearsal lays its world out
    scratch.mkdir()
    for extra in ((), ("--unsealed", "testing the unsealed cleanup")):
        res = deploytui("rehearse", ROOT / "runbooks/example.toml", "--headless", "--journal", tmp_path / "j.db",
                        *extra, env={"TMPDIR": str(scratch)})
        assert res.returncode == 3, res.stderr
    assert list(scratch.iterdir()) == []
    given = tmp_path / "world"
    res = deploytui("rehearse", ROOT / "runbooks/example.toml", "--headless", "--journal", tmp_path / "j.db",
                    "--workdir", given)
    assert res.returncode == 3 and not given.exists()


def test_faults_are_listed_refused_when_unknown_and_kept_in_the_record(tmp_path):
    listed = deploytui("rehearse", "--list-faults")
    assert listed.returncode == 0 and "unhealthy-instances" in listed.stdout and "slow-clone" in listed.stdout
    bad = deploytui("rehearse", ROOT / "runbooks/example.toml", "--fault", "meteor-strike")
    assert bad.returncode == 2 and "no fault 'meteor-strike'" in bad.stderr
    wrong = deploytui("rehearse", ROOT / "runbooks/example.toml", "--fault", "pods-down")
    assert wrong.returncode == 2 and "does nothing in the world of example" in wrong.stderr
    res = deploytui("rehearse", ROOT / "runbooks/example.toml", "--headless", "--fault", "slack-down",
                    "--journal", tmp_path / "j.db")
    assert res.returncode == 3 and "slack-down" not in res.stdout  # no banner gives it away
    (row,) = Journal(tmp_path / "j.db", readonly=True).runs()
    record = deploytui("export", row.id, "--journal", tmp_path / "j.db")
    assert "Faults injected on purpose: slack-down." in record.stdout  # the record's rehearsal note


def test_run_resume_of_a_rehearsal_is_refused_and_rehearse_resume_continues_in_its_world(tmp_path):
    j = tmp_path / "j.db"
    first = tmp_path / "first.toml"  # everything up to the recycle; then the person leaves
    first.write_text((ROOT / "runbooks/answers/login-gov-idp-full.toml").read_text()
                     .replace('tick = ["*"]', 'tick = ["prerequisites", "proof-in-staging", "review-changelog", '
                              '"share-pr"]'))
    res = deploytui("rehearse", ROOT / "runbooks/login-gov-idp.toml", "--headless", "--time-scale", "600",
                    "--answers", first, "--journal", j, "--no-output", timeout=300)
    assert res.returncode == 3, res.stdout[-2000:] + res.stderr[-2000:]
    (row,) = Journal(j, readonly=True).runs()
    assert "still open: `deploytui rehearse --resume" in res.stdout
    refused = deploytui("run", "--resume", row.id, "--headless", "--journal", j, env=REAL_LOOKING)
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"deploytui: run {row.id} is a rehearsal: resume it in its world with `deploytui rehearse --resume {row.id}`")
    pr_before = Journal(j, readonly=True).run(row.id)
    # the promotion pull request exists only in the rehearsal's world: resuming finds it there
    again = deploytui("rehearse", "--resume", row.id, "--headless", "--answers",
                      ROOT / "runbooks/answers/login-gov-idp-full.toml", "--journal", j, "--no-output", timeout=300)
    assert "REHEARSAL of login-gov-idp" in again.stdout, again.stderr
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert "finished: succeeded" in again.stdout
    events = Journal(j, readonly=True).events(row.id)
    assert any(e.kind == "resumed" for e in events)
    assert pr_before.rehearsal and Journal(j, readonly=True).run(row.id).outcome == "succeeded"
    assert not list((tmp_path / "rehearsals").glob("*.tar.gz"))  # a finished rehearsal's world is forgotten


def test_check_rehearsal_lists_what_the_world_cannot_play(tmp_path):
    book = tmp_path / "b.toml"
    book.write_text('''[runbook]
id = "b"
title = "b"
[[steps]]
id = "dump"
title = "Dump the table"
run = "/usr/bin/psql -c 'select * from users'"
[[steps]]
id = "stood-in"
title = "Stood in"
run = "cf push app"
rehearse = "echo pushed"
[[steps]]
id = "tail"
title = "Follow the migration"
checks = ["ok"]
  [[steps.panes]]
  tail = "ssm-instance --newest asg-prod-migration --document tail-cw"
  until = "All done"
[[steps]]
id = "tail-stood-in"
title = "Follow it, stood in"
checks = ["ok"]
  [[steps.panes]]
  tail = "ssm-instance --newest asg-prod-migration --document tail-cw"
  until = "All done"
  rehearse = "echo All done"
[[steps]]
id = "fine"
title = "Local tools"
run = "git status && grep -c x file | sort"
''')
    res = deploytui("check", "--rehearsal", book)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2, res.stderr
    assert "step 'dump': run: calls /usr/bin/psql, which the rehearsal world does not provide" in lines[0]
    assert lines[0].startswith(f"{book}:7:")
    assert "step 'tail': panes[0].tail: calls ssm-instance" in lines[1] and "ended by hand" in lines[1]
    plain = deploytui("check", book)
    assert plain.returncode == 0


def test_rehearsals_hold_no_lock(tmp_path):
    j = tmp_path / "j.db"
    book = ROOT / "runbooks/example.toml"
    for n in range(2):  # practice runs left open never stand in the way of the next one
        stopped = deploytui("rehearse", book, "--headless", "--journal", j, "--workdir", tmp_path / f"w{n}")
        assert stopped.returncode == 3, stopped.stderr  # left open, waiting for a person
    real = deploytui("run", book, "--headless", "--journal", j)
    assert real.returncode == 3 and "locked" not in real.stderr
    again = deploytui("run", book, "--headless", "--journal", j)
    assert again.returncode == 2 and "is locked by run" in again.stderr


def saved_world_path(j: Path, run_id: str) -> str:
    journal = Journal(j, readonly=True)
    try:
        return journal.events(run_id)[0].data["world"]["snapshot"]
    finally:
        journal.close()


def saved_world(snapshot: str) -> dict:
    import tarfile

    try:
        with tarfile.open(snapshot) as tar:
            return json.loads(tar.extractfile("world.json").read())
    except (OSError, tarfile.TarError, KeyError, ValueError):
        return {}


def wait_until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g}s for {what}")


def test_a_killed_rehearsal_comes_back_in_its_world(tmp_path):
    import signal
    import subprocess

    from deploytui.sandbox import rules

    j = tmp_path / "j.db"
    first = tmp_path / "first.toml"
    first.write_text((ROOT / "runbooks/answers/login-gov-idp-full.toml").read_text()
                     .replace('tick = ["*"]', 'tick = ["prerequisites", "proof-in-staging", "review-changelog", '
                              '"share-pr"]'))
    res = deploytui("rehearse", ROOT / "runbooks/login-gov-idp.toml", "--headless", "--time-scale", "60",
                    "--answers", first, "--journal", j, "--no-output", timeout=300)
    assert res.returncode == 3, res.stderr
    (row,) = Journal(j, readonly=True).runs()
    # the person waits for the review and CI the saved world says are coming
    snapshot = saved_world_path(j, row.id)
    opened = saved_world(snapshot)["github"]["repos"]["18F/identity-idp"]["pulls"][0]["_opened"]
    ready = opened + max(rules.CI_SECONDS, rules.REVIEW_SECONDS) / 60 + 1
    wait_until(lambda: time.time() > ready, 60, "the review and CI of the promotion pull request")
    proc = subprocess.Popen([sys.executable, "-m", "deploytui", "rehearse", "--resume", row.id, "--headless",
                             "--answers", str(ROOT / "runbooks/answers/login-gov-idp-full.toml"), "--journal", str(j),
                             "--no-output"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def recycle_saved():  # the recycle's action is done, its scale-out is pending, and a save shows it
        journal = Journal(j, readonly=True)
        try:
            done = any(e.kind == "command_finished" and e.step == "recycle" for e in journal.events(row.id))
        finally:
            journal.close()
        groups = (saved_world(snapshot).get("aws") or {}).get("groups", {})
        return done and bool(groups.get("prod-idp", {}).get("scheduled"))

    wait_until(lambda: recycle_saved() or proc.poll() is not None, 120, "a save of the world mid-recycle")
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)  # no goodbye: the world is whatever its last save holds
    proc.wait()
    rest = tmp_path / "rest.toml"  # the hour of soak (a minute at 60x) is not what this test is about
    rest.write_text((ROOT / "runbooks/answers/login-gov-idp-full.toml").read_text() + '[skip]\nsoak = "later"\n')
    again = deploytui("rehearse", "--resume", row.id, "--headless", "--journal", j, "--answers", rest, timeout=300)
    assert "REHEARSAL of login-gov-idp: nothing leaves this machine" in again.stdout
    assert again.returncode == 0 and "finished: succeeded" in again.stdout, again.stdout[-3000:]
    assert "PUT /repos/18F/identity-idp/pulls/1/merge" in again.stdout  # the world remembered the merge
    removed = [e for e in Journal(j, readonly=True).events(row.id) if e.step == "remove-old"
               and e.kind == "command_finished"]
    assert removed and removed[-1].data["ok"] and len(removed[-1].data["outputs"]["removed"]) == 6  # 4 idp + 2 worker


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists() or
                    not Path(f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}").exists(),
                    reason="needs root to become an ordinary user, and a system python of this version")
def test_an_ordinary_user_rehearses_sealed_with_map_root_user():
    import shutil
    import subprocess
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="deploytui-nobody-"))
    try:
        os.chown(home, 65534, 65534)
        site = next(p for p in sys.path if p.endswith("site-packages"))
        python = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", f"HOME={home}",
                              f"PYTHONPATH={site}:{ROOT}", python, "-m", "deploytui", "rehearse",
                              str(ROOT / "runbooks/example.toml"), "--headless", "--journal", str(home / "j.db")],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert res.returncode == 3, res.stdout + res.stderr
        assert "nothing leaves this machine" in res.stdout
        assert (home / "j.db").stat().st_uid == 65534  # made by the user, mapped to root only inside
    finally:
        shutil.rmtree(home, ignore_errors=True)


def aws_cli() -> Path | None:
    """The AWS command-line tool itself (not a version manager's shim), where this machine has one."""
    for candidate in (Path(sys.base_prefix) / "bin" / "aws", Path("/usr/local/bin/aws"), Path("/usr/bin/aws")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.mark.skipif(aws_cli() is None, reason="no AWS CLI on this machine to call by its full path")
def test_the_aws_cli_by_full_path_with_real_looking_keys_reaches_nothing(tmp_path):
    aws = aws_cli()
    creds = " ".join(f"{k}={v}" for k, v in REAL_LOOKING.items() if k != "AWS_PROFILE")
    # without the world's endpoint, as a command that insists on the real AWS would run it
    command = (f"env -u AWS_ENDPOINT_URL -u AWS_SESSION_TOKEN -u AWS_PROFILE {creds} "
               f"{aws} autoscaling describe-auto-scaling-groups --region us-west-2 --cli-connect-timeout 20")
    started = time.monotonic()
    got = deploytui("rehearse", one_step_book(tmp_path, "awscli", command), "--headless",
                    "--journal", tmp_path / "awscli.db", env=REAL_LOOKING, timeout=120)
    assert got.returncode == 1, got.stdout + got.stderr
    assert "Could not connect to the endpoint URL" in got.stdout, got.stdout
    assert "AutoScalingGroups" not in got.stdout
    assert time.monotonic() - started < 30, "the AWS CLI did not fail fast"
