"""http.* and slack.* against pytest-httpserver: the requests it received and the outputs we return."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from werkzeug import Response

from deploytui.errors import ActionError
from deploytui.events import kinds as ev
from deploytui.events.kinds import Event
from deploytui.events.state import initial
from deploytui.integrations import http, slack
from deploytui.runbook.loader import parse

pytestmark = pytest.mark.timeout(30)

DEPLOY_JSON = {"env": "staging", "branch": "main", "user": "root", "git_sha": "9c0ffee12345",
               "git_date": "2026-11-23T09:00:00Z", "instance_id": "i-0abc", "containers": {"git_sha": "9c0ffee12345"}}


def test_get_json_fields_become_outputs(httpserver, recorder):
    httpserver.expect_request("/api/deploy.json").respond_with_json(DEPLOY_JSON)
    r = recorder()
    out = http.get_json(r.ctx, url=httpserver.url_for("/api/deploy.json"),
                        fields={"sha": "containers.git_sha"}, headers={"Authorization": "Bearer s3cret"})
    assert out["sha"] == "9c0ffee12345" and out["git_sha"] == "9c0ffee12345" and out["http_status"] == 200
    assert "sha = 9c0ffee12345" in r.lines and r.secrets == ["s3cret"]
    req, _ = httpserver.log[0]
    assert req.headers["Authorization"] == "Bearer s3cret"
    with pytest.raises(ActionError, match="has no field 'containers.branch'"):
        http.get_json(r.ctx, url=httpserver.url_for("/api/deploy.json"), fields="b=containers.branch")


def test_get_json_errors_are_one_line(httpserver, recorder):
    httpserver.expect_request("/down").respond_with_data("oops", status=503)
    httpserver.expect_request("/html").respond_with_data("<html>", content_type="text/html")
    with pytest.raises(ActionError, match="GET .*/down answered 503"):
        http.get_json(recorder().ctx, url=httpserver.url_for("/down"))
    with pytest.raises(ActionError, match="did not answer JSON"):
        http.get_json(recorder().ctx, url=httpserver.url_for("/html"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ActionError, match="cannot GET http://127.0.0.1:.*ConnectError"):
        http.get_json(recorder().ctx, url=f"http://127.0.0.1:{port}/x", timeout="2")


def test_check_polls_until_the_field_holds(httpserver, recorder):
    answers = iter([Response("starting", status=503),
                    Response(json.dumps({"status": "deploying"}), content_type="application/json"),
                    Response(json.dumps({"status": "ok", "sha": "9c0ffee"}), content_type="application/json")])
    httpserver.expect_request("/api/health").respond_with_handler(lambda req: next(answers))
    r = recorder()
    out = http.check(r.ctx, url=httpserver.url_for("/api/health"), field="status", equals="ok", every="0.05",
                     timeout="10")
    assert out == {"status": 200, "value": "ok", "attempts": 3} and len(httpserver.log) == 3
    assert any("status 503" in x for x in r.lines) and any("status = deploying" in x for x in r.lines)


def test_check_times_out_with_the_last_result(httpserver, recorder):
    httpserver.expect_request("/api/health").respond_with_data("<p>maintenance</p>", status=200)
    with pytest.raises(ActionError, match=r"did not pass within 0.3 \(last: status 200, pattern not found\)"):
        http.check(recorder().ctx, url=httpserver.url_for("/api/health"), pattern="healthy", every="0.05",
                   timeout="0.3")
    out = http.check(recorder().ctx, url=httpserver.url_for("/api/health"), pattern="maint", status="2xx")
    assert out["attempts"] == 1


def test_slack_post_sends_to_the_webhook(httpserver, recorder):
    httpserver.expect_request("/services/T0/B0/xyz", method="POST").respond_with_data("ok")
    r = recorder({"SLACK_WEBHOOK_URL": httpserver.url_for("/services/T0/B0/xyz")})
    slack.post(r.ctx, text="Deploying RC 124 to prod", channel="#login-deploys")
    req, _ = httpserver.log[0]
    assert req.get_json() == {"text": "Deploying RC 124 to prod", "channel": "#login-deploys"}
    assert r.secrets == [httpserver.url_for("/services/T0/B0/xyz")]
    httpserver.clear()
    httpserver.expect_request("/services/T0/B0/xyz").respond_with_data("invalid_token", status=403)
    with pytest.raises(ActionError, match=r"Slack refused the message \(403: invalid_token\)"):
        slack.post(r.ctx, text="x")


BOOK = parse("""
[runbook]
id = "login-gov-idp"
title = "Deploy the login.gov IdP"

[vars.env]
default = "prod"

[[steps]]
id = "recycle"
title = "Recycle the IdP instances"
run = "true"
""")


def _event(kind, step=None, actor="engine", **data):
    return Event(seq=1, ts=time.time(), kind=kind, step=step, actor=actor, data=data)


def test_describe_turns_events_into_one_line():
    state = initial(BOOK)
    state.info["environment"] = "prod"
    assert slack.describe(_event(ev.RUN_STARTED, actor="alice", operator="alice", title="Deploy the login.gov IdP",
                                 runbook_id="idp", environment="prod"),
                          state) == ":arrow_forward: Run of Deploy the login.gov IdP (prod) started by alice"
    assert slack.describe(_event(ev.STEP_FINISHED, "recycle", status="failed", exit_code=2, error="exit code 2"),
                          state) == ":x: Deploy the login.gov IdP (prod): Recycle the IdP instances: failed: exit code 2"
    assert slack.describe(_event(ev.DECISION, "recycle", actor="alice", option=0, label="Roll back",
                                 reason="5XX rate"), state).endswith("decided “Roll back” (alice): 5XX rate")
    assert slack.describe(_event(ev.RUN_FINISHED, outcome="succeeded"), state) == \
        ":white_check_mark: Run finished: succeeded"
    # a run that ends in an on-demand section as planned (a deferral, a held pipeline) is not a failure
    assert slack.describe(_event(ev.RUN_FINISHED, outcome="completed_on_demand"), state).startswith(":warning: ")
    assert slack.describe(_event(ev.RUN_FINISHED, outcome="aborted"), state).startswith(":x: ")


def test_notifier_posts_in_order_without_blocking(httpserver):
    received = []

    def slow(req):
        time.sleep(0.3)
        received.append(req.get_json()["text"])
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(slow)
    failures = []
    n = slack.SlackNotifier(httpserver.url_for("/hook"), on_failure=failures.append)
    state = initial(BOOK)
    t = time.monotonic()
    n.notify(_event(ev.RUN_STARTED, actor="alice", operator="alice", title="IdP", runbook_id="idp"), state)
    n.notify(_event(ev.CHECK_TOGGLED, "recycle"), state)  # not one of the events
    n.notify(_event(ev.STEP_FINISHED, "recycle", status="done", duration=3), state)
    assert time.monotonic() - t < 0.2  # the deploy does not wait for Slack
    assert n.flush(5)
    n.close()
    assert "\n".join(received).splitlines() == [  # in order; queued lines may share a post
        ":arrow_forward: Run of IdP started by alice",
        ":white_check_mark: Deploy the login.gov IdP: Recycle the IdP instances: done in 3s"]
    assert failures == []


def test_notifier_reports_a_slack_outage_instead_of_raising():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    failures, got = [], threading.Event()
    n = slack.SlackNotifier(f"http://127.0.0.1:{port}/hook", on_failure=lambda line: (failures.append(line), got.set()))
    n.post("Deploy started")
    assert got.wait(5)
    n.close()
    assert failures == ["cannot reach Slack: ConnectError (message: Deploy started)"]


def test_slack_post_waits_out_a_429(httpserver, recorder):
    answers = iter([Response("rate_limited", status=429, headers={"Retry-After": "1"}), Response("ok")])
    httpserver.expect_request("/hook", method="POST").respond_with_handler(lambda req: next(answers))
    r = recorder()
    t = time.monotonic()
    assert slack.post(r.ctx, text="RC 124 is deployed", webhook=httpserver.url_for("/hook")) == {"posted": True}
    assert time.monotonic() - t >= 0.95  # it honoured Retry-After: 1
    assert [req.get_json()["text"] for req, _ in httpserver.log] == ["RC 124 is deployed"] * 2
    assert "Slack asked us to wait 1s (rate limit): retrying then" in r.lines
    # a Retry-After longer than we hold a deploy for fails the step in one line
    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("rate_limited", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ActionError, match=r"Slack is rate limiting this webhook \(429\): gave up after 1 attempt"):
        slack.post(recorder().ctx, text="x", webhook=httpserver.url_for("/hook"))


def test_notifier_batches_what_queues_up_and_respects_429(httpserver):
    posts, first = [], threading.Event()

    def slack_like(req):
        posts.append(req.get_json()["text"])
        if len(posts) == 1:
            first.set()
            return Response("rate_limited", status=429, headers={"Retry-After": "1"})
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(slack_like)
    failures = []
    n = slack.SlackNotifier(httpserver.url_for("/hook"), on_failure=failures.append)
    n.post("step 0 done")
    assert first.wait(5)
    for i in range(1, 37):  # a rehearsal's worth of steps, while Slack asks us to wait
        n.post(f"step {i} done")
    assert n.flush(10)
    n.close()
    assert failures == []
    assert posts[0] == posts[1] == "step 0 done"  # the 429'd post went again after Retry-After
    delivered = "\n".join(posts[1:]).splitlines()
    assert delivered == [f"step {i} done" for i in range(37)]  # every line, in order
    assert len(posts) <= 4, posts  # not 37 posts


def test_a_channel_hears_only_its_events(httpserver):
    got = []
    httpserver.expect_request("/alerts").respond_with_handler(lambda req: (got.append(req.get_json()["text"]),
                                                                          Response("ok"))[1])
    n = slack.SlackNotifier(httpserver.url_for("/alerts"), ["step_failed", "run_finished"])
    state = initial(BOOK)
    n.notify(_event(ev.STEP_FINISHED, "recycle", status="done", duration=3), state)
    n.notify(_event(ev.STEP_FINISHED, "recycle", status="failed", exit_code=1, error="exit code 1"), state)
    n.notify(_event(ev.RUN_STARTED, actor="alice", operator="alice", title="IdP"), state)
    assert n.flush(5)
    n.close()
    assert got == [":x: Deploy the login.gov IdP: Recycle the IdP instances: failed: exit code 1"]
