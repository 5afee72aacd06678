"""The journal: durable, private, redacted, and readable back as history and timelines."""

import os
import sqlite3
import stat

from deploytui.journal import Journal
from deploytui.text.redact import Redactor

from .helpers import deploytui, start, wait_for

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GH_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"


def test_file_is_private_and_durable(tmp_path):
    j = Journal(tmp_path / "j.db")
    assert stat.S_IMODE(os.stat(tmp_path / "j.db").st_mode) == 0o600
    assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert j.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_redactor_shapes_and_values():
    r = Redactor(["hunter2-secret"], environ={"DEPLOY_TOKEN": "tok-123456", "HOME": "/root"})
    text = f"key {AWS_KEY} gh {GH_TOKEN} hook {WEBHOOK} pw hunter2-secret env tok-123456 home /root"
    out = r.text(text)
    for secret in (AWS_KEY, GH_TOKEN, WEBHOOK, "hunter2-secret", "tok-123456"):
        assert secret not in out
    assert "home /root" in out


def test_secrets_never_reach_the_journal(tmp_path):
    run = start(tmp_path, f"""
        [vars.api_token]
        secret = true
        default = "s3cr3t-value-42"
        [[steps]]
        id = "leak"
        title = "Leaky"
        run = "echo token={{{{ api_token }}}} {AWS_KEY} {GH_TOKEN} {WEBHOOK} $MY_PASSWORD"
        env = {{ MY_PASSWORD = "pa55word-xyz" }}
        """, env={**os.environ, "SERVICE_PASSWORD": "pa55word-xyz"})
    run.run_step("leak")
    assert wait_for(lambda: run.state.outcome, run=run)
    raw = (tmp_path / "journal.sqlite3").read_bytes()
    con = sqlite3.connect(tmp_path / "journal.sqlite3")
    dump = "\n".join(con.iterdump()) + raw.decode("latin-1")
    for secret in ("s3cr3t-value-42", AWS_KEY, GH_TOKEN, WEBHOOK, "pa55word-xyz"):
        assert secret not in dump, secret
    assert "token=[REDACTED]" in run.journal.tail(run.run_id, "leak")[0][0]


def test_output_is_batched_not_a_row_per_line(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "seq"
        title = "Seq"
        run = "seq 200000"
        pty = false
        """)
    run.run_step("seq")
    assert wait_for(lambda: run.state.outcome, timeout=30, run=run)
    (rows, lines) = run.journal.db.execute("SELECT COUNT(*), SUM(lines) FROM output").fetchone()
    assert lines == 200000
    assert rows < 50
    tail, total = run.journal.tail(run.run_id, "seq", lines=3)
    assert tail == ["199998", "199999", "200000"] and total == 200000


def test_history_and_show(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        run = "echo hello"
        """)
    run.run_step("a")
    assert wait_for(lambda: run.state.outcome, run=run)
    j = tmp_path / "journal.sqlite3"
    hist = deploytui("history", "--journal", j)
    assert hist.returncode == 0
    assert run.run_id in hist.stdout and "succeeded" in hist.stdout and "tester" in hist.stdout
    show = deploytui("show", run.run_id[:15], "--output", "--journal", j)
    assert show.returncode == 0, show.stderr
    assert "A: started (tester)" in show.stdout and "| hello" in show.stdout
    assert show.stdout.strip().splitlines()[-1].startswith("outcome: succeeded")
    missing = deploytui("show", "nope", "--journal", j)
    assert missing.returncode == 1 and "no run 'nope'" in missing.stderr and "Traceback" not in missing.stderr
    assert "Run finished: succeeded" in show.stdout
