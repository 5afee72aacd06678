"""Seed runbooks rehearsed for what a team's real accounts would see (issue 13)."""

from __future__ import annotations

from deploytui.engine.headless import EXIT_OK

from .conftest import Person
from .test_rehearsals import approved_then_tick

EVERYTHING = 'run = ["*"]\ntick = ["*"]\n'


def test_vetspire_general_hears_one_message_at_the_end(rehearse):
    r = rehearse("vetspire.toml", EVERYTHING + """
[decide]
go-no-go = "Go: push production"
healthy = "Healthy: the deployment is done"
""", start_at="2026-11-24T09:05+00:00")  # a Tuesday, inside the window
    assert r.code == EXIT_OK, r.text
    posts = [p.get("text", "") for p in r.world.github.slack]
    assert posts == [f"The sprint deployment of {r.state.vars['date']} was successful: staging is in "
                     "production, master is in staging."]


LOGIN_GOV = EVERYTHING + """
[override]
schedule = "rehearsal"
[decide]
merge-conflicts = "No conflicts"
extra-servers = "No extra servers"
worried = "Roll back"
"""


def test_login_gov_rollback_inside_the_recycle_window(rehearse):
    # the person ticks "approved" once GitHub says so (the world requires a review and green checks)
    person = Person({"pr-approved": approved_then_tick("pr-approved", "pr_number"),
                     "revert-approved": approved_then_tick("revert-approved", "revert_pr")})
    r = rehearse("login-gov-idp.toml", LOGIN_GOV, person=person, hold=("pr-approved", "revert-approved"))
    assert r.code == EXIT_OK, r.text
    assert r.status("scale-out-new") == "done"
    matched = {e.step: e.data["line"] for e in r.events if e.kind == "pane_matched" and e.data.get("pane") == 0}
    # the rollback's recycle waited for its own migration instance (the reverted code), not the last one's
    assert matched["rollback-recycle"] != matched["recycle"]
    assert f"at {r.world.aws.sha[:9]}" in matched["rollback-recycle"]
