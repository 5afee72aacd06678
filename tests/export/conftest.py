"""A login.gov-like runbook and a real journal holding a run of it with a rollback decision,
deviations, ticks, timers and planted secrets. Built with Journal calls, as the engine writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploytui.journal import Journal
from deploytui.runbook.loader import parse
from deploytui.text.redact import MASK

# planted secrets: a declared secret variable, and token shapes nobody declared
SECRET_VAR = "hunter2-very-secret-value"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GH_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK_HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
PLANTED = [SECRET_VAR, AWS_KEY, GH_TOKEN, SLACK_HOOK]

RUNBOOK = '''
[runbook]
id = "login-gov-idp"
title = "Deploy the login.gov IdP to production"
source = "000_96494e3a0874b910.txt"
owner = "@login-deployer"
environment = "{{ env }}"
release = "RC {{ rc }}"
risks = ["Recycling drops sessions | users re-login", "Migrations cannot be undone"]
approvers = ["alice", "bob"]

[schedule]
days = ["Tue", "Thu"]
avoid = ["Fri"]
window = { start = "09:00", end = "12:30", tz = "America/New_York" }

[vars.rc]
prompt = "Release candidate number"
pattern = '^\\d+$'
[vars.env]
choices = ["prod", "staging"]
default = "prod"
[vars.slack_token]
secret = true
prompt = "Slack token"

[[steps]]
id = "proof-in-staging"
section = "Pre-deploy"
title = "Test the proofing flow in staging"
body = "Identity proofing needs a real person's PII."
checks = ["Proofed an identity end to end in staging", "No errors | warnings in NewRelic"]

[[steps]]
id = "staging-sha"
section = "Pre-deploy"
title = "Find the commit deployed to staging"
auto = true
run = "curl -s https://idp.staging.login.gov/api/deploy.json | jq -r .git_sha"
capture = { git_sha = "last_line" }

[[steps]]
id = "cut-branch"
section = "Pre-deploy"
title = "Cut a release branch"
run = """
git checkout {{ git_sha }}
git checkout -b stages/rc-{{ rc }}
echo "token {{ slack_token }}"
"""

[[steps]]
id = "recycle"
section = "Production"
title = "Recycle the IdP instances"
danger = true
uses = "aws.asg_recycle"
with = { env = "{{ env }}", role = "idp" }
  [[steps.panes]]
  title = "Migration instance"
  tail = "tail -f /var/log/cloud-init-output.log"
  until = "All done! provision.sh finished"

[[steps]]
id = "soak"
section = "Production"
title = "Wait, then check NewRelic again"
wait = "1h"
not_before = { step = "recycle", wait = "15m" }
checks = ["No new errors in NewRelic"]

[[steps]]
id = "rollback-decision"
section = "Production"
title = "Roll back?"
decide = { question = "Any of the criteria true?", options = [
  { label = "Roll back", goto = "rollback" },
  { label = "Healthy, continue" } ] }

[[steps]]
id = "announce"
section = "Production"
title = "Announce the release"
run = "echo released"

[[steps]]
id = "revert"
section = "rollback"
title = "Revert to the previous release"
run = "git push -f origin {{ prev_sha | default('HEAD~1') }}:stages/prod"

[[steps]]
id = "confirm-rollback"
section = "rollback"
title = "Confirm the old release serves traffic"
checks = ["Old sha serves traffic"]

[[sections]]
id = "rollback"
title = "Rolling back"
on_demand = true
rollback = true
'''

T0 = 1_715_677_200.0  # 2024-05-14 09:00 UTC, a Tuesday


class Run:
    """Writes a run into a real journal the way the engine does."""

    def __init__(self, journal: Journal, run_id: str, book, operator: str = "maria", secret_value: str = MASK):
        self.j, self.id, self.op, self.t = journal, run_id, operator, T0
        self.vars = {"rc": "42", "env": "prod", "slack_token": secret_value}
        journal.create_run(run_id, runbook_id=book.runbook.id, title=book.runbook.title, path=book.path,
                           sha256=book.sha256, runbook_text=book.text, environment="prod", release="RC 42",
                           operator=operator, host="deploy-host", tty="/dev/pts/3", tmux="deploy",
                           rehearsal=True, started=T0, vars=self.vars)

    def ev(self, kind, step=None, actor=None, dt=1.0, **data):
        self.t += dt
        return self.j.append(self.id, kind, step, actor or self.op, data, self.t)

    def out(self, step, attempt, text, stream="main"):
        self.j.append_output(self.id, step, attempt, stream, text, self.t)


@pytest.fixture
def book(tmp_path: Path):
    path = tmp_path / "login-gov.toml"
    path.write_text(RUNBOOK)
    return parse(RUNBOOK, str(path))


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def write_rollback_run(journal: Journal, book, run_id: str = "20240514-090000-abcd", secret_value: str = MASK) -> Run:
    """A run that rolls back. `secret_value` stands in for the secret variable's stored value: MASK as
    the engine stores it, or the raw value to prove the export catches a secret that slipped through."""
    r = Run(journal, run_id, book, secret_value=secret_value)
    r.ev("run_started", actor="maria", sha256=book.sha256, operator="maria", host="deploy-host", tty="/dev/pts/3",
         tmux="deploy", vars=dict(r.vars))
    r.ev("schedule_checked", actor="engine", verdict="ok", detail="Tuesday, in the window", deadline=T0 + 3.5 * 3600)
    r.ev("step_started", "proof-in-staging", attempt=1)
    r.ev("check_toggled", "proof-in-staging", dt=60, index=0, label="Proofed an identity end to end in staging",
         checked=True)
    r.ev("check_toggled", "proof-in-staging", actor="jo", index=1, label="No errors | warnings in NewRelic",
         checked=True)
    r.ev("step_finished", "proof-in-staging", actor="engine", status="done", duration=61.0)
    r.ev("step_started", "staging-sha", actor="engine", attempt=1, command="curl -s ... | jq -r .git_sha")
    r.out("staging-sha", 1, "fetching with key " + AWS_KEY + "\n\x1b[32mabc123def\x1b[0m\n")
    r.ev("command_finished", "staging-sha", actor="engine", attempt=1, exit_code=0, ok=True, duration=0.8,
         captured={"git_sha": "abc123def", "deploy_key": AWS_KEY})
    r.ev("step_finished", "staging-sha", actor="engine", status="done", exit_code=0, duration=0.8)
    r.ev("step_started", "cut-branch", attempt=1, command="git checkout abc123def\n")
    r.out("cut-branch", 1, "error: pathspec\n")
    r.ev("command_finished", "cut-branch", actor="engine", attempt=1, exit_code=1, ok=False, duration=0.3,
         error="exit 1")
    r.ev("step_finished", "cut-branch", actor="engine", status="failed", exit_code=1, duration=0.3)
    r.ev("rerun", "cut-branch", reason="fetched first | retrying")
    r.ev("step_started", "cut-branch", attempt=2, command=f"git checkout abc123def\necho token {secret_value}\n")
    body = "".join(f"line {i}\n" for i in range(1, 101)) + f"posting with {GH_TOKEN}\ntoken {secret_value}\n```\n"
    r.out("cut-branch", 2, body)
    r.ev("command_finished", "cut-branch", actor="engine", attempt=2, exit_code=0, ok=True, duration=2.5)
    r.ev("step_finished", "cut-branch", actor="engine", status="done", exit_code=0, duration=2.5)
    r.ev("override", "recycle", what="danger", reason="typed prod")
    r.ev("step_started", "recycle", attempt=1, action="aws.asg_recycle", **{"with": {"env": "prod", "role": "idp"}})
    r.out("recycle", 1, "All done! provision.sh finished\n", stream="pane0")
    r.ev("pane_matched", "recycle", actor="engine", pane=0, line="All done! provision.sh finished")
    r.ev("command_finished", "recycle", actor="engine", attempt=1, exit_code=0, ok=True, duration=300.0)
    r.ev("step_finished", "recycle", actor="engine", status="done", duration=310.0)
    r.ev("step_interrupted", "soak", actor="engine", attempt=1)
    r.ev("timer_started", "soak", actor="engine", timer="gate", deadline=r.t + 900, seconds=900)
    r.ev("override", "soak", what="gate", reason="incident bridge asked | to skip")
    r.ev("marked", "soak", reason="checked NewRelic by hand", status="done")
    r.ev("note", "soak", text=f"webhook was {SLACK_HOOK}")
    r.ev("step_started", "rollback-decision", attempt=1)
    r.ev("decision", "rollback-decision", dt=30, option=0, label="Roll back", goto="rollback",
         reason="5XX rate at 4% | above 1%")
    r.ev("step_finished", "rollback-decision", actor="engine", status="done")
    r.ev("step_started", "revert", attempt=1, command="git push -f origin HEAD~1:stages/prod")
    r.out("revert", 1, "To origin\n + abc...def HEAD~1 -> stages/prod (forced update)\n")
    r.ev("command_finished", "revert", actor="engine", attempt=1, exit_code=0, ok=True, duration=4.0)
    r.ev("step_finished", "revert", actor="engine", status="done", exit_code=0, duration=4.0)
    r.ev("step_started", "confirm-rollback", attempt=1)
    r.ev("timer_started", "confirm-rollback", actor="engine", timer="wait", deadline=r.t + 60, seconds=60)
    r.ev("timer_expired", "confirm-rollback", actor="engine", dt=60, timer="wait")
    r.ev("check_toggled", "confirm-rollback", index=0, label="Old sha serves traffic", checked=True)
    r.ev("step_finished", "confirm-rollback", actor="engine", status="done")
    r.ev("note", None, actor="jo", text="Rolled back; postmortem Thursday")
    r.ev("run_finished", actor="engine", outcome="rolled_back", section="rollback")
    return r
