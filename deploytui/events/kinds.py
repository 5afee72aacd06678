"""Events: the only record of a run. State is a fold over them (state.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Every kind the engine writes. Exports and followers read these names.
RUN_STARTED = "run_started"  # runbook snapshot sha, vars (secrets masked), operator, host, tty, tmux
RESUMED = "resumed"  # operator, host, pid: the run was reopened
RUNBOOK_CHANGED = "runbook_changed"  # old_sha, new_sha, diff
SCHEDULE_CHECKED = "schedule_checked"  # verdict, detail, needs_override, deadline
OVERRIDE = "override"  # what (schedule|gate|deadline|lock|danger), reason
STEP_STARTED = "step_started"  # attempt, command or action+with
COMMAND_FINISHED = "command_finished"  # attempt, exit_code, ok, duration, outputs, error
RETRIED = "retried"  # attempt, reason (automatic `retries`)
TIMER_STARTED = "timer_started"  # timer (wait|gate), deadline (epoch), seconds
TIMER_EXPIRED = "timer_expired"  # timer
CHECK_TOGGLED = "check_toggled"  # index, label, checked
PANE_MATCHED = "pane_matched"  # pane, line
PANE_ENDED = "pane_ended"  # pane, reason (the operator ended an `until` pane)
DECISION = "decision"  # option, label, goto, reason
STEP_FINISHED = "step_finished"  # status (done|failed), exit_code, duration
SKIPPED = "skipped"  # reason
RERUN = "rerun"  # reason
MARKED = "marked"  # status (done|failed), reason
STEP_INTERRUPTED = "step_interrupted"  # attempt: found running when the run was reopened
JUMP = "jump"  # target, reason: the operator entered an on-demand section
NOTE = "note"  # text
DEADLINE_PASSED = "deadline_passed"  # deadline
LOCK_BROKEN = "lock_broken"  # holder, reason
NOTIFY_FAILED = "notify_failed"  # error: Slack was down; the deploy went on
RUN_FINISHED = "run_finished"  # outcome (succeeded|completed_on_demand|aborted), reason, section

DEVIATIONS = {SKIPPED, RERUN, MARKED, OVERRIDE, STEP_INTERRUPTED, JUMP, LOCK_BROKEN, RUNBOOK_CHANGED}


@dataclass(frozen=True)
class Event:
    seq: int
    ts: float  # epoch seconds, wall clock
    kind: str
    step: str | None = None
    actor: str = "engine"  # the operator for intents, "engine" for what the engine did itself
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.data, sort_keys=True, default=str)
