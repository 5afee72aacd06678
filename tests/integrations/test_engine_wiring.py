"""The runbook-level [notify] and [lock] tables, through the engine, against real local counterparts."""

import json
import os
import time

import pytest

from deploytui.engine.clock import Clock
from deploytui.engine.run import Run
from deploytui.errors import UserError
from deploytui.events import kinds as ev
from deploytui.journal import Journal
from deploytui.runbook.loader import parse
from deploytui.runbook.variables import resolve

NOTIFY_BOOK = """
[runbook]
id = "n"
title = "Notified deploy"
[vars.slack_webhook]
secret = true
[notify]
slack = "{{ slack_webhook }}"
[[steps]]
id = "a"
title = "Step A"
run = "echo hi"
"""


def start(tmp_path, text, values, journal_name="j.db", env=None, **kw):
    book = parse(text, str(tmp_path / "book.toml"))
    vals, missing = resolve(book, values, environ=env or {})
    assert not missing
    return Run.start(Journal(tmp_path / journal_name), book, vals, operator="tester", clock=Clock(),
                     env=env, **kw)


def finish(run):
    run.run_step("a")
    end = time.monotonic() + 10
    while not run.state.outcome and time.monotonic() < end:
        run.poll()
        time.sleep(0.02)
    run.close()


def test_slack_hears_start_steps_and_outcome(tmp_path, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    url = httpserver.url_for("/hook")
    run = start(tmp_path, NOTIFY_BOOK, {"slack_webhook": url})
    finish(run)
    texts = [json.loads(req.get_data())["text"] for req, _ in httpserver.log]
    assert any("Notified deploy" in t and "start" in t.lower() for t in texts), texts
    assert any("Step A" in t for t in texts), texts
    assert "succeeded" in texts[-1], texts
    # the webhook URL is a secret: it never reaches the journal
    assert url.encode() not in (tmp_path / "j.db").read_bytes()


def test_slack_outage_never_blocks_the_deploy(tmp_path):
    run = start(tmp_path, NOTIFY_BOOK, {"slack_webhook": "http://127.0.0.1:9/hook"})
    finish(run)
    assert run.state.outcome == "succeeded"
    failures = [e for e in run.journal.events(run.run_id) if e.kind == ev.NOTIFY_FAILED]
    assert failures and all(e.data["error"] for e in failures)


ROUTES_BOOK = NOTIFY_BOOK.replace("[notify]", """[vars.alerts_webhook]
secret = true
[notify]""") + """
[[notify.routes]]
slack = "{{ alerts_webhook }}"
events = ["step_failed"]
[[steps]]
id = "b"
title = "Step B"
run = "exit 3"
"""


def test_each_channel_hears_its_own_events(tmp_path, httpserver):
    httpserver.expect_request("/deploys", method="POST").respond_with_data("ok")
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    run = start(tmp_path, ROUTES_BOOK, {"slack_webhook": httpserver.url_for("/deploys"),
                                        "alerts_webhook": httpserver.url_for("/alerts")})
    run.run_step("a")
    end = time.monotonic() + 10
    while run.state.current != "b" and time.monotonic() < end:
        run.poll()
        time.sleep(0.02)
    run.run_step("b")
    assert run.wait_idle(10)
    run.close()
    heard = {path: "\n".join(json.loads(req.get_data())["text"] for req, _ in httpserver.log
                             if req.path == path).splitlines() for path in ("/deploys", "/alerts")}
    assert any("Step A: done" in t for t in heard["/deploys"]) and any("Step B: failed" in t for t in heard["/deploys"])
    assert heard["/alerts"] == [":x: Notified deploy: Step B: failed: exit code 3"]


LOCK_BOOK = """
[runbook]
id = "locked"
title = "Locked deploy"
environment = "prod"
[lock]
dynamodb_table = "deploytui-locks"
region = "us-west-2"
[[steps]]
id = "a"
title = "A"
run = "true"
"""


@pytest.fixture
def lock_table(world):
    from deploytui.integrations.lock import DynamoLock

    DynamoLock("deploytui-locks", "x", "us-west-2", env=world.env).create_table()
    return world.env


def test_shared_lock_across_machines(tmp_path, lock_table):
    env = {**os.environ, **lock_table}
    first = start(tmp_path, LOCK_BOOK, {}, "laptop-a.db", env=env)
    # another machine: another journal, same DynamoDB table
    with pytest.raises(UserError, match=f"locked by run {first.run_id}"):
        start(tmp_path, LOCK_BOOK, {}, "laptop-b.db", env=env)
    taken = start(tmp_path, LOCK_BOOK, {}, "laptop-b.db", env=env, break_lock="laptop A is gone")
    broken = [e for e in taken.journal.events(taken.run_id) if e.kind == ev.LOCK_BROKEN][0]
    assert broken.data["shared_holder"]["holder"] == f"run {first.run_id}"
    finish(taken)
    third = start(tmp_path, LOCK_BOOK, {}, "laptop-c.db", env=env)  # released at the end of the run
    assert third.run_id
