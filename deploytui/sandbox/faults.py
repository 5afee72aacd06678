"""Faults a rehearsal can inject (`deploytui rehearse RUNBOOK --fault NAME`).

A fault changes how the world behaves, never what the screen says about it: it shows up where the real
one would (in a pane, in a command's output, in an action's error). The parts of the world that play
each fault check for its name: aws_world (AWS), github_world (GitHub, Slack), gcp_world (Google Cloud),
and the per-runbook scenarios in rehearse.py."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

LOGIN_GOV = ("login-gov-idp", "login-gov-pki", "login-gov-idp-recycle")
PROMOTIONS = ("login-gov-idp", "login-gov-pki")


@dataclass(frozen=True)
class Fault:
    name: str
    sentence: str
    runbooks: tuple[str, ...]  # the runbook ids whose world can play it


FAULTS = (
    Fault("unhealthy-instances", "The instances the recycle brings up fail their load balancer health checks "
          "(a bad release, or a bad configuration in a config recycle).", LOGIN_GOV),
    Fault("migration-fails", "The database migration fails: login.gov's migration instance aborts `rake db:migrate` "
          "and is replaced again and again; get.gov's deploy and Migrate data workflows fail at the migration.",
          (*LOGIN_GOV, "getgov")),
    Fault("ci-red", "CI goes red on what the rehearsal pushes: a pull request's checks fail after it is opened "
          "(a GOV.UK release's checks fail).", (*PROMOTIONS, "getgov", "govuk-cd")),
    Fault("error-spike", "Errors spike once the new code serves traffic: monitor-deploy shows the new sha's 5XX "
          "rate up; GOV.UK's staging error rate jumps after the staging deploy.", (*PROMOTIONS, "govuk-cd")),
    Fault("slack-down", "Slack is down: incoming webhooks answer 503.",
          (*LOGIN_GOV, "getgov", "govuk-cd", "vetspire", "example")),
    Fault("aws-session-expires", "The aws-vault session expires mid-run: five minutes after the first recycle "
          "is scheduled, AWS answers ExpiredToken (run aws-vault again: `deploytui rehearse --resume RUN`).",
          LOGIN_GOV),
    Fault("slow-clone", "The production database clone takes 30 minutes instead of 5, eating into Vetspire's "
          "09:00-12:30 window.", ("vetspire",)),
    Fault("pods-down", "The production deployment fails: its pods crash (CrashLoopBackOff) and the GitHub Actions "
          "run fails.", ("vetspire",)),
    Fault("recycle-in-progress", "A teammate's bin/asg-recycle is still running when you start: its scheduled "
          "actions are pending on the groups.", LOGIN_GOV),
)
BY_NAME = {f.name: f for f in FAULTS}


def listing() -> list[str]:
    width = max(len(f.name) for f in FAULTS)
    return [f"{f.name:{width}}  {f.sentence} ({', '.join(f.runbooks)})" for f in FAULTS]


def check(names: list[str] | tuple[str, ...], runbook_id: str) -> frozenset[str]:
    """The faults asked for, refused in one line when unknown or when this runbook's world cannot play one."""
    for name in names:
        fault = BY_NAME.get(name)
        if fault is None:
            raise UserError(f"no fault {name!r} (`deploytui rehearse --list-faults` lists them)", 2)
        if runbook_id not in fault.runbooks:
            raise UserError(f"fault {name} does nothing in the world of {runbook_id} "
                            f"(it applies to {', '.join(fault.runbooks)})", 2)
    return frozenset(names)
