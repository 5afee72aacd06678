"""AWS actions with login.gov's semantics (see research/seed-scripts.md).

ASG `<env>-<role>`, instance Name tag `asg-<env>-<role>`, VPC tag Name=login-vpc-<env>, target
groups tagged prefix=<env>, health_role=<role>. boto3 is imported inside the functions."""

from __future__ import annotations

from ..engine.actions import ActionContext, action
from ..errors import ActionError


@action("aws.servers")
def servers(ctx: ActionContext, env: str, role: str = "", region: str = "") -> dict:
    """List an environment's instances (like ls-servers -e ENV -r ROLE) with target-group health."""
    raise ActionError("not implemented yet")


@action("aws.asg_size")
def asg_size(ctx: ActionContext, env: str, role: str, region: str = "") -> dict:
    """Show an ASG's desired/min/max, health check type and grace, and scheduled actions."""
    raise ActionError("not implemented yet")


@action("aws.asg_recycle")
def asg_recycle(ctx: ActionContext, env: str, role: str, skip_migration: str = "false",
                spinup: str = "300", spindown: str = "600", migration_timeout: str = "1800",
                region: str = "") -> dict:
    """Recycle an ASG: migration instance first, then scheduled scale-out to 2N and return to N."""
    raise ActionError("not implemented yet")


@action("aws.scale_in")
def scale_in(ctx: ActionContext, env: str, role: str, which: str = "old", dry_run: str = "false",
             region: str = "") -> dict:
    """Remove scale-in protection from the old (or new) instances, keeping DesiredCapacity healthy ones."""
    raise ActionError("not implemented yet")


@action("aws.ssm_command")
def ssm_command(ctx: ActionContext, env: str, role: str, document: str, parameters: str = "",
                max_concurrency: str = "25%", max_errors: str = "0", comment: str = "",
                timeout: str = "900", poll: str = "5", region: str = "") -> dict:
    """Send an SSM command document to a role's instances and follow it to the end."""
    raise ActionError("not implemented yet")


@action("aws.logs_tail", streaming=True)
def logs_tail(ctx: ActionContext, group: str, instance: str = "", stream: str = "", poll: str = "2",
              region: str = "") -> dict:
    """Tail a CloudWatch Logs group/stream (instance = "newest:NAME-TAG" picks the newest instance's stream)."""
    raise ActionError("not implemented yet")
