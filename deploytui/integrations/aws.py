"""AWS actions with login.gov's semantics (see research/seed-scripts.md and identity-devops' cloudlib).

ASG `<env>-<role>`, instance Name tag `asg-<env>-<role>`, VPC tag Name=login-vpc-<env>, target
groups tagged prefix=<env>, health_role=<role>, SSM documents `<env>-ssm-cmd-<name>`. Every action
takes `region`, one or several (comma-separated: login.gov runs us-west-2 and, where
enable_us_east_1_infra is set, us-east-1). boto3 is imported inside the functions."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta

from ..errors import ActionError
from ._params import flag, getenv, mapping, seconds, words
from .aws_session import vault_session
from .registry import ActionContext, action

# bin/asg-recycle's scheduled actions (cloudlib autoscaling.rb): the team's CLI and deploytui see each
# other's recycles. deploytui named them without the suffix before; those are still honoured.
SCALE_OUT = "DelayedScaleOutOnce.asg-recycle"
RECYCLE = "RecycleOnce.asg-recycle"
RECYCLE_ACTIONS = (SCALE_OUT, RECYCLE, "DelayedScaleOutOnce", "RecycleOnce")
SPINDOWN_MIN = 600  # asg-recycle: spin down after twice the grace period, at least 10 minutes
MIGRATION_DELAY = 300  # asg-recycle: the migration instance's head start before the scale-out
# ls-servers' sha column: the first of these tags an instance carries (chef tags the pivcac boxes)
SHA_TAGS = ("gitsha:idp", "gitsha:app", "gitsha:pivcac", "gitsha:worker")
STREAMS_LOOKED_AT = 50  # the newest log streams by last event, in one call (AWS gives 50 at most): a recycle starts a dozen


# -- plumbing ------------------------------------------------------------------------------------


def _default_region(ctx: ActionContext) -> str:
    return getenv(ctx, "AWS_REGION") or getenv(ctx, "AWS_DEFAULT_REGION") or "us-west-2"


def _region(ctx: ActionContext, region: str) -> str:
    return region or _default_region(ctx)


def _regions(ctx: ActionContext, region: str) -> list[str]:
    return words(region) or [_default_region(ctx)]


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _client(ctx: ActionContext, service: str, region: str):
    """A boto3 client, kept per credentials+region+endpoint: panes re-run every few seconds and
    building a client costs more than the call. (Clients are thread-safe; sessions are not.)
    Credentials: an aws-vault session's, refreshed before they expire (aws_session.py); else the run's
    keys; else the run's AWS_PROFILE (a credential_process refreshes itself); else boto3's own chain."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import CredentialProvider

    vault = vault_session(ctx)
    endpoint = getenv(ctx, "AWS_ENDPOINT_URL") or None
    creds = tuple(getenv(ctx, n) for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))
    profile = None if creds[0] else getenv(ctx, "AWS_PROFILE")
    key = (service, _region(ctx, region), endpoint, ("aws-vault", vault.profile) if vault else creds, profile)
    with _clients_lock:
        if key not in _clients:
            if vault:
                class VaultProvider(CredentialProvider):
                    METHOD = "aws-vault"

                    def load(self):
                        return vault.credentials

                core = botocore.session.get_session()
                core.get_component("credential_provider").insert_before("env", VaultProvider())
                session = boto3.session.Session(botocore_session=core, region_name=key[1])
            else:
                core = botocore.session.get_session()
                for var, name in (("AWS_CONFIG_FILE", "config_file"),
                                  ("AWS_SHARED_CREDENTIALS_FILE", "credentials_file")):
                    if getenv(ctx, var):  # the run's, which may not be this process's
                        core.set_config_variable(name, getenv(ctx, var))
                session = boto3.session.Session(aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                                                aws_session_token=creds[2], region_name=key[1], profile_name=profile,
                                                botocore_session=core)
            config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=10, read_timeout=60)
            _clients[key] = session.client(service, endpoint_url=endpoint, config=config)
        return _clients[key]


def _aws_errors(func):
    """Turn botocore's exceptions into one line a release manager can act on."""

    @functools.wraps(func)
    def wrapper(ctx, *args, **kwargs):
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
            ProfileNotFound,
        )

        try:
            return func(ctx, *args, **kwargs)
        except (NoCredentialsError, PartialCredentialsError):
            raise ActionError("AWS credentials not found: run under aws-vault exec PROFILE -- deploytui ...") from None
        except ProfileNotFound as err:
            raise ActionError(f"{err}: check AWS_PROFILE and ~/.aws/config") from None
        except NoRegionError:
            raise ActionError("no AWS region: set `region` in the step or AWS_REGION") from None
        except EndpointConnectionError as err:
            raise ActionError(f"cannot reach AWS ({err.kwargs.get('endpoint_url', '')}): check the network or VPN") from None
        except ClientError as err:
            e = err.response.get("Error", {})
            code, msg = e.get("Code", "Error"), e.get("Message", "")
            op = err.operation_name
            if "Throttl" in code or code in ("RequestLimitExceeded", "TooManyRequestsException"):
                raise ActionError(f"AWS is throttling {op} even after retries: wait a minute and re-run the step") from None
            if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
                raise ActionError("AWS session expired: start a new aws-vault session and re-run the step") from None
            if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
                        "InvalidClientTokenId", "AuthFailure"):
                raise ActionError(f"AWS refused {op} ({code}): check the aws-vault profile and its role") from None
            raise ActionError(f"AWS {op} failed: {code}: {msg}".rstrip(": ")) from None

    return wrapper


def _when(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _uptime(now: datetime, launched: datetime) -> str:
    secs = max(0, int((now - launched).total_seconds()))
    d, rest = divmod(secs, 86400)
    h, rest = divmod(rest, 3600)
    return f"{d}d {h:02d}:{rest // 60:02d}" if d else f"{h:02d}:{rest // 60:02d}"


def _tags(obj: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


def _all_roles(role: str) -> bool:
    return role.strip().upper() in ("", "ALL")


def _group(asg, name: str, region: str) -> dict:
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        raise ActionError(f"no auto scaling group {name} in {region}: check env and role")
    return groups[0]


def _env_groups(ctx: ActionContext, asg, env: str, role: str, region: str) -> list[dict]:
    """The ASG for a role; for role ALL every group of the environment that cloudlib's bulk commands take:
    not migration, not tagged stateful or utility, not at 0 desired."""
    if not _all_roles(role):
        return [_group(asg, f"{env}-{role}", region)]
    pages = asg.get_paginator("describe_auto_scaling_groups").paginate()
    groups = []
    for g in (g for p in pages for g in p["AutoScalingGroups"] if g["AutoScalingGroupName"].startswith(f"{env}-")):
        name, tags = g["AutoScalingGroupName"], _tags(g)
        skip = ("the migration group" if name == f"{env}-migration" else "tagged stateful" if "stateful" in tags
                else "tagged utility" if "utility" in tags else "0 desired" if g["DesiredCapacity"] == 0 else "")
        if skip:
            ctx.log(f"{name}: skipped ({skip})")
        else:
            groups.append(g)
    if not groups:
        raise ActionError(f"no auto scaling groups named {env}-* in {region}: check the environment name")
    return groups


def _pending_recycle(asg, name: str) -> list[dict]:
    """The group's scheduled actions of a recycle (bin/asg-recycle's or deploytui's) still to come."""
    acts = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
    return [a for a in acts if a["ScheduledActionName"] in RECYCLE_ACTIONS]


def _instances(ec2, filters: list[dict]) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [i for p in pages for r in p["Reservations"] for i in r["Instances"]]


def _target_health(ctx, env: str, role: str, region: str) -> dict[str, str]:
    """instance id -> worst target health across the env's (role's) target groups."""
    tagging = _client(ctx, "resourcegroupstaggingapi", region)
    elb = _client(ctx, "elbv2", region)
    filters = [{"Key": "prefix", "Values": [env]}]
    if not _all_roles(role):
        filters.append({"Key": "health_role", "Values": [role]})
    pages = tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["elasticloadbalancing:targetgroup"], TagFilters=filters)
    health: dict[str, str] = {}
    for p in pages:
        for res in p["ResourceTagMappingList"]:
            for d in elb.describe_target_health(TargetGroupArn=res["ResourceARN"])["TargetHealthDescriptions"]:
                iid, state = d["Target"]["Id"], d["TargetHealth"]["State"]
                if health.get(iid, "healthy") == "healthy":
                    health[iid] = state
    return health


# -- actions -------------------------------------------------------------------------------------


def _servers_in(ctx: ActionContext, env: str, role: str, region: str) -> list[tuple[dict, dict, str]]:
    """(instance, its ASG membership, target health) for every instance of the env (role) in a region."""
    ec2 = _client(ctx, "ec2", region)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"login-vpc-{env}"]}])["Vpcs"]
    if not vpcs:
        raise ActionError(f"no VPC tagged Name=login-vpc-{env} in {region}: check the environment and AWS account")
    filters = [{"Name": "vpc-id", "Values": [v["VpcId"] for v in vpcs]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    if not _all_roles(role):
        filters.append({"Name": "tag:Name", "Values": [f"asg-{env}-{role}"]})
    insts = sorted(_instances(ec2, filters), key=lambda i: (_tags(i).get("Name", ""), i["LaunchTime"]))
    ids = [i["InstanceId"] for i in insts]
    in_asg: dict[str, dict] = {}
    if ids:
        asg = _client(ctx, "autoscaling", region)
        for k in range(0, len(ids), 50):
            for a in asg.describe_auto_scaling_instances(InstanceIds=ids[k:k + 50])["AutoScalingInstances"]:
                in_asg[a["InstanceId"]] = a
    health = _target_health(ctx, env, role, region)
    return [(i, in_asg.get(i["InstanceId"], {}), health.get(i["InstanceId"], "-")) for i in insts]


def _sha(tags: dict[str, str]) -> str:
    return next((tags[t] for t in SHA_TAGS if tags.get(t)), "")[:9]


@action("aws.servers")
@_aws_errors
def servers(ctx: ActionContext, env: str, role: str = "", region: str = "") -> dict:
    """List an environment's instances (like ls-servers -e ENV -r ROLE) with target-group health."""
    found = [x for r in _regions(ctx, region) for x in _servers_in(ctx, env, role, r)]
    now = ctx.now()
    rows, bad, out = [], set(), []
    for n, (i, a, tg) in enumerate(found):
        iid, tags, state = i["InstanceId"], _tags(i), i["State"]["Name"]
        lifecycle, asg_health = a.get("LifecycleState", "-"), a.get("HealthStatus", "-")
        ok = (state == "running" and lifecycle in ("InService", "-") and asg_health in ("HEALTHY", "Healthy", "-")
              and tg in ("healthy", "-"))
        if not ok:
            bad.add(n)
        sha = _sha(tags)
        rows.append([iid, i.get("ImageId", ""), tags.get("Name", ""), i.get("InstanceType", ""),
                     i["Placement"]["AvailabilityZone"], state, _when(i["LaunchTime"]),
                     _uptime(now, i["LaunchTime"]), sha, lifecycle, tg])
        out.append({"id": iid, "name": tags.get("Name", ""), "state": state, "lifecycle": lifecycle,
                    "health": tg, "sha": sha, "launch_time": i["LaunchTime"].isoformat(), "healthy": ok})
    ctx.table(["instance-id", "image-id", "name", "type", "az", "state", "launched", "uptime", "sha",
               "lifecycle", "health"], rows, bad)
    healthy = len(found) - len(bad)
    what = f"asg-{env}-{role}" if not _all_roles(role) else env
    if not found:
        ctx.log(f"0 instances in {what}")
    elif not bad:
        ctx.log(f"{healthy}/{len(found)} instances InService and healthy: all healthy")
    else:
        ctx.log(f"{healthy}/{len(found)} instances InService and healthy: "
                f"{len(bad)} not healthy ({', '.join(rows[n][0] for n in sorted(bad))})")
    return {"count": len(found), "healthy": healthy, "unhealthy": len(bad), "all_healthy": bool(found) and not bad,
            "ids": [o["id"] for o in out], "shas": sorted({o["sha"] for o in out if o["sha"]}), "instances": out}


@action("aws.asg_size")
@_aws_errors
def asg_size(ctx: ActionContext, env: str, role: str, region: str = "") -> dict:
    """Show an ASG's desired/min/max, health check type and grace, and scheduled actions."""
    out: dict = {"scheduled": []}
    for where in _regions(ctx, region):
        asg = _client(ctx, "autoscaling", where)
        g = _group(asg, f"{env}-{role}", where)
        name = g["AutoScalingGroupName"]
        ctx.table(["group", "region", "desired", "min", "max", "instances", "health check", "grace"],
                  [[name, where, g["DesiredCapacity"], g["MinSize"], g["MaxSize"], len(g["Instances"]),
                    g["HealthCheckType"], f"{g.get('HealthCheckGracePeriod', 0)}s"]])
        acts = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
        scheduled = [{"name": a["ScheduledActionName"], "start": _when(a["StartTime"]) if a.get("StartTime") else "",
                      "recurrence": a.get("Recurrence", ""), "desired": a.get("DesiredCapacity"), "region": where}
                     for a in acts]
        if scheduled:
            ctx.table(["scheduled action", "start", "recurrence", "desired"],
                      [[x["name"], x["start"], x["recurrence"], x["desired"]] for x in scheduled])
            if any(x["name"] in RECYCLE_ACTIONS for x in scheduled):
                ctx.log(f"{name}: It looks like a recycle is already in progress!")
        else:
            ctx.log(f"{name}: no scheduled actions")
        out["scheduled"] += scheduled
        out.setdefault("desired", g["DesiredCapacity"])
        out.setdefault("min", g["MinSize"])
        out.setdefault("max", g["MaxSize"])
        out.setdefault("instances", len(g["Instances"]))
        out.setdefault("health_check_type", g["HealthCheckType"])
        out.setdefault("grace", g.get("HealthCheckGracePeriod", 0))
    return out


def _schedule_recycle(ctx: ActionContext, asg, g: dict, now: datetime, spinup: float, spindown: float | None,
                      new: int, back: int) -> dict:
    """bin/asg-recycle's start_recycle for one group: to `new` instances after `spinup` (at once when 0),
    back to `back` after spinup + spindown (default twice the grace period, at least 10 minutes). A
    MaxSize too small for `new` is raised, and put back by the return action."""
    name = g["AutoScalingGroupName"]
    down = spindown if spindown is not None else max(2 * g.get("HealthCheckGracePeriod", 0), SPINDOWN_MIN)
    out_at, back_at = now + timedelta(seconds=ctx.scaled(spinup)), now + timedelta(seconds=ctx.scaled(spinup + down))
    returning: dict = {"DesiredCapacity": back}
    if new > g["MaxSize"]:
        ctx.log(f"{name}: raising MaxSize from {g['MaxSize']} to {new} for the recycle; it returns to "
                f"{g['MaxSize']} with the group's size")
        asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=new)
        returning["MaxSize"] = g["MaxSize"]
    if spinup:
        asg.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName=SCALE_OUT,
                                              StartTime=out_at, DesiredCapacity=new)
    else:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, DesiredCapacity=new)
    asg.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName=RECYCLE,
                                          StartTime=back_at, **returning)
    verb = "increase to" if new > g["DesiredCapacity"] else "decrease to" if new < g["DesiredCapacity"] else "maintain at"
    ctx.log(f"{name}: Will {verb} {new} instances in {int(ctx.scaled(spinup))}s (at {_when(out_at)})")
    ctx.log(f"{name}: Will return to {back} instances in {int(ctx.scaled(spinup + down))}s (at {_when(back_at)})")
    return {"group": name, "scale_out_at": out_at, "return_at": back_at}


@action("aws.asg_recycle")
@_aws_errors
def asg_recycle(ctx: ActionContext, env: str, role: str, skip_migration: str = "false", spinup: str = "",
                spindown: str = "", region: str = "") -> dict:
    """Recycle an ASG as bin/asg-recycle does: for idp a migration instance first (its group to 1, and back
    to 0 later), then the group (and worker, unless at 0) to twice its size and back, by scheduled actions."""
    up = seconds(spinup, "spinup") if spinup else None
    down = seconds(spindown, "spindown") if spindown else None
    migrate = role == "idp" and not flag(skip_migration, "skip_migration")
    result: dict = {"groups": [], "migration_groups": []}
    outs, backs = [], []
    for where in _regions(ctx, region):
        asg = _client(ctx, "autoscaling", where)
        plan = []
        for name in [f"{env}-{role}"] + ([f"{env}-worker"] if role == "idp" else []):
            g = _group(asg, name, where)
            if g["DesiredCapacity"] == 0:
                if name != f"{env}-{role}":  # asg-recycle recycles the worker with skip_zero
                    ctx.log(f"{name}: skipped, current desired size is 0")
                    continue
                raise ActionError(f"{name} has 0 instances desired: nothing to recycle")
            plan.append(g)
        mgroups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{env}-migration"])["AutoScalingGroups"]
        if migrate and not mgroups:
            ctx.log(f"no {env}-migration group in {where}: no migration instance")
        checked = plan + (mgroups if migrate else [])
        for g in checked:
            pending = _pending_recycle(asg, g["AutoScalingGroupName"])
            if pending:
                last = max(a["StartTime"] for a in pending)
                names = ", ".join(sorted({a["ScheduledActionName"] for a in pending}))
                raise ActionError(f"{g['AutoScalingGroupName']} already has a recycle scheduled ({names}, until "
                                  f"{_when(last)}): wait for it, or delete its scheduled actions")
        now = ctx.now()
        if migrate and mgroups:
            ctx.log(f"{env}-migration: Launching migration instance prior to {role} spin up")
            _schedule_recycle(ctx, asg, mgroups[0], now, 0, down, 1, 0)
            result["migration_groups"].append(f"{env}-migration")
        # the scale-out waits for the migration instance's head start; without one it is immediate
        spin = up if up is not None else MIGRATION_DELAY if migrate and mgroups else 0
        for g in plan:
            done = _schedule_recycle(ctx, asg, g, now, spin, down, 2 * g["DesiredCapacity"], g["DesiredCapacity"])
            if any(i.get("ProtectedFromScaleIn") for i in g["Instances"]) or g.get("NewInstancesProtectedFromScaleIn"):
                ctx.log(f"{g['AutoScalingGroupName']}: instances are protected from scale-in: the old ones stay "
                        f"until aws.scale_in which=old")
            result["groups"].append(g["AutoScalingGroupName"])
            result.setdefault("desired", g["DesiredCapacity"])
            outs.append(done["scale_out_at"])
            backs.append(done["return_at"])
    result.update(scale_out_at=max(outs).isoformat(), return_at=max(backs).isoformat(),
                  scale_out_epoch=max(outs).timestamp(), return_epoch=max(backs).timestamp())
    return result


def _cancel_recycle(ctx: ActionContext, asg, g: dict, pending: list[dict]) -> dict:
    """scale-remove-new-instances during the recycle window: the recycle's scheduled actions go, the group
    goes back to the size (and MaxSize) its return action would have set; returns the group re-read."""
    name = g["AutoScalingGroupName"]
    back = next((a for a in pending if a["ScheduledActionName"] in (RECYCLE, "RecycleOnce")), None)
    size = {k: back[k] for k in ("DesiredCapacity", "MaxSize") if back and back.get(k) is not None}
    for a in pending:
        asg.delete_scheduled_action(AutoScalingGroupName=name, ScheduledActionName=a["ScheduledActionName"])
    if size:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, **size)
    ctx.log(f"{name}: cancelled the recycle ({', '.join(a['ScheduledActionName'] for a in pending)}); "
            f"back to {size.get('DesiredCapacity', g['DesiredCapacity'])} desired")
    return _group(asg, name, "")


def _plan_scale_in(ctx: ActionContext, ec2, g: dict, which: str, health: dict[str, str]) -> tuple[list, list, list, dict]:
    """cloudlib's find_instances_to_scale_in: keep the newest (which=old) or oldest (which=new) DesiredCapacity
    instances, which must be Healthy, InService and past their grace period; remove protection from the
    rest that still have it. Returns (keep, to unprotect, already unprotected, launch times)."""
    name, desired = g["AutoScalingGroupName"], g["DesiredCapacity"]
    members = {i["InstanceId"]: i for i in g["Instances"]}
    now = ctx.now()
    launched = {i["InstanceId"]: i["LaunchTime"] for i in _instances(
        ec2, [{"Name": "instance-id", "Values": list(members)}])} if members else {}
    order = sorted(members, key=lambda iid: (launched.get(iid, now), iid))  # oldest first
    keep = order[len(order) - desired:] if which == "old" else order[:desired]
    rest = [iid for iid in order if iid not in keep]
    unprotect = [iid for iid in rest if members[iid].get("ProtectedFromScaleIn")]
    already = [iid for iid in rest if not members[iid].get("ProtectedFromScaleIn")]
    if unprotect:
        grace = ctx.scaled(g.get("HealthCheckGracePeriod", 0))
        for iid in keep:
            m = members[iid]
            problems = []
            if m["LifecycleState"] != "InService":
                problems.append(m["LifecycleState"])
            if m["HealthStatus"].lower() != "healthy":
                problems.append(m["HealthStatus"])
            if health.get(iid, "healthy") != "healthy":
                problems.append(f"target {health[iid]}")
            if iid in launched and (now - launched[iid]).total_seconds() < grace:
                problems.append("within its health check grace period")
            if problems:
                raise ActionError(f"refusing to scale in {name}: {iid}, which would be kept, is not Healthy and "
                                  f"InService ({', '.join(problems)}); wait and re-run")
    return keep, unprotect, already, launched


@action("aws.scale_in")
@_aws_errors
def scale_in(ctx: ActionContext, env: str, role: str, which: str = "old", dry_run: str = "false",
             cancel_recycle: str = "false", region: str = "") -> dict:
    """scale-remove-old-instances / scale-remove-new-instances: remove scale-in protection from the old (or
    new) instances, keeping DesiredCapacity healthy ones. With which=new and cancel_recycle, a recycle still
    in its window is called off first (the seed's quick way back). Removing nothing is a failure."""
    if which not in ("old", "new"):
        raise ActionError(f"which must be 'old' or 'new', not {which!r}")
    cancel = flag(cancel_recycle, "cancel_recycle")
    if cancel and which != "new":
        raise ActionError("cancel_recycle goes with which=new (removing the new servers)")
    dry = flag(dry_run, "dry_run")
    plan, cancelled, sizes = [], [], []
    for where in _regions(ctx, region):
        asg, ec2 = _client(ctx, "autoscaling", where), _client(ctx, "ec2", where)
        for g in _env_groups(ctx, asg, env, role, where):
            name = g["AutoScalingGroupName"]
            # the recycle's actions before the group: a RecycleOnce that fires in between then shows as
            # pending (and we stop), never as a group still at twice its size with nothing to remove
            pending = _pending_recycle(asg, name)
            g = _group(asg, name, where)
            if pending and cancel and not dry:
                g = _cancel_recycle(ctx, asg, g, pending)
                cancelled.append(name)
            elif pending:
                last = _when(max(a["StartTime"] for a in pending))
                ctx.log(f"The recycle is still in progress. Instances can be scaled in after {last}")
                raise ActionError(f"{name}: recycle still in progress until {last}: instances can be scaled in "
                                  f"after that" + (" (or cancel it: which=new, cancel_recycle=true)" if which == "new" else ""))
            health = _target_health(ctx, env, name[len(env) + 1:], where) if g.get("TargetGroupARNs") else {}
            keep, unprotect, already, launched = _plan_scale_in(ctx, ec2, g, which, health)
            sizes.append(f"{name} {len(g['Instances'])}/{g['DesiredCapacity']}")
            if already:
                ctx.log(f"{name}: {len(already)} instance(s) already have no scale-in protection: {' '.join(already)}")
            if unprotect or already:
                plan.append((asg, g, keep, unprotect, already, launched))
            if not pending and _pending_recycle(asg, name):  # started while we looked: our reading is stale
                raise ActionError(f"{name}: a recycle was scheduled while this step ran: re-run it after the recycle")
    if not plan and not cancelled:
        way_back = (" If the old servers are already gone, the way back is the revert and a recycle: skip this step "
                    "with that reason." if which == "new" else " Has the recycle scaled out yet?")
        raise ActionError(f"nothing to remove: every group has as many instances as it desires "
                          f"({', '.join(sizes)}).{way_back}")
    removed, kept = [], []
    for asg, g, keep, unprotect, already, launched in plan:
        name = g["AutoScalingGroupName"]
        ctx.log(f"{name}: To keep:")
        ctx.table(["instance-id", "launched"], [[i, _when(launched[i]) if i in launched else ""] for i in keep])
        ctx.log(f"{name}: To remove:")
        gone = unprotect + already
        ctx.table(["instance-id", "launched"], [[i, _when(launched[i]) if i in launched else ""] for i in gone],
                  set(range(len(gone))))
        if g["HealthCheckType"] == "EC2":
            ctx.log(f"{name} uses EC2 health checks, which only check hardware: check health independently!")
        if unprotect and not dry:
            for k in range(0, len(unprotect), 50):
                asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=unprotect[k:k + 50],
                                            ProtectedFromScaleIn=False)
            ctx.log(f"{name}: removed scale-in protection from {len(unprotect)} instance(s); "
                    f"the group terminates them to return to {g['DesiredCapacity']}")
        kept += keep
        removed += gone
    if dry:
        ctx.log(f"dry run: would remove scale-in protection from {sum(len(x[3]) for x in plan)} instance(s)")
    return {"kept": kept, "removed": removed, "groups": [x[1]["AutoScalingGroupName"] for x in plan],
            "cancelled": cancelled, "dry_run": dry}


def _document(env: str, document: str) -> str:
    """bin/ssm-command's name for a command document: `<env>-ssm-cmd-<doc>` (terraform aws_ssm_document.cmd)."""
    return document if document.startswith(f"{env}-ssm-cmd-") else f"{env}-ssm-cmd-{document}"


@action("aws.ssm_command")
@_aws_errors
def ssm_command(ctx: ActionContext, env: str, role: str, document: str, parameters: str = "",
                max_concurrency: str = "25%", max_errors: str = "0", cloudwatch: str = "false", comment: str = "",
                timeout: str = "900", poll: str = "5", region: str = "") -> dict:
    """Send an SSM command document (`<env>-ssm-cmd-<document>`, checked first) to a role's instances and
    follow it to the end, like bin/ssm-command. `cloudwatch` = the document's `logging` in terraform:
    true sends the output to the aws-ssm-sessions-<env> log group."""
    out: dict = {"command_ids": [], "instances": [], "failed": []}
    for where in _regions(ctx, region):
        one = _ssm_in(ctx, env, role, _document(env, document), parameters, max_concurrency, max_errors,
                      flag(cloudwatch, "cloudwatch"), comment, timeout, poll, where)
        out["command_ids"].append(one["command_id"])
        out["instances"] += one["instances"]
        out["failed"] += one["failed"]
        out.update(command_id=one["command_id"], status=one["status"], document=one["document"])
    return out


def _ssm_in(ctx: ActionContext, env: str, role: str, name: str, parameters: str, max_concurrency: str,
            max_errors: str, cloudwatch: bool, comment: str, timeout: str, poll: str, region: str) -> dict:
    ssm, ec2 = _client(ctx, "ssm", region), _client(ctx, "ec2", region)
    group = f"{env}-{role}"
    if not ssm.list_documents(Filters=[{"Key": "Name", "Values": [name]}])["DocumentIdentifiers"]:
        raise ActionError(f"SSM document {name} does not exist in {region}: check the document's name "
                          f"(terraform/app/ssm.tf) and the environment")
    ctx.log(f"SSM document {name} verified.")
    ids = [i["InstanceId"] for i in _instances(ec2, [{"Name": "tag:aws:autoscaling:groupName", "Values": [group]},
                                                    {"Name": "instance-state-name", "Values": ["running"]}])]
    if not ids:
        raise ActionError(f"{group} has no running instances to run {name} on")
    ctx.log(f"{len(ids)} instance(s) selected.")
    params = {k: v if isinstance(v, list) else [str(v)] for k, v in mapping(parameters, "parameters").items()}
    output = ({"CloudWatchOutputEnabled": True, "CloudWatchLogGroupName": f"aws-ssm-sessions-{env}"}
              if cloudwatch else {"CloudWatchOutputEnabled": False})
    # by tag, as ssm-command does: the command reaches the group's instances as SSM resolves them
    sent = ssm.send_command(DocumentName=name, Targets=[{"Key": "tag:aws:autoscaling:groupName", "Values": [group]}],
                            Parameters=params, MaxConcurrency=str(max_concurrency), MaxErrors=str(max_errors),
                            CloudWatchOutputConfig=output,
                            Comment=(comment or f"deploytui {ctx.step_id}")[:100])["Command"]
    cid = sent["CommandId"]
    ctx.log(f"Command sent with ID {cid} ({name} to {group} in {region})")
    # timeout and poll are world durations: a time-scaled rehearsal looks as often as the world moves
    deadline = ctx.clock() + ctx.scaled(seconds(timeout, "timeout"))
    every, last = max(0.2, ctx.scaled(seconds(poll, "poll"))), None
    while True:
        cmd = ssm.list_commands(CommandId=cid)["Commands"][0]
        status = cmd["Status"]
        seen = (status, cmd.get("CompletedCount"), cmd.get("ErrorCount"))
        if seen != last:
            ctx.table(["status", "completed", "errors", "targets"],
                      [[status, cmd.get("CompletedCount", 0), cmd.get("ErrorCount", 0), cmd.get("TargetCount", 0)]],
                      {0} if cmd.get("ErrorCount") else set())
            last = seen
        if status not in ("Pending", "InProgress", "Cancelling"):
            break
        if ctx.clock() > deadline:
            raise ActionError(f"SSM command {cid} still {status} after {timeout}: see aws ssm list-command-invocations")
        if not ctx.sleep(every):
            ssm.cancel_command(CommandId=cid)
            raise ActionError(f"cancelled: SSM command {cid} was asked to stop")
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=cid)
    per = {inv["InstanceId"]: inv["Status"] for p in pages for inv in p["CommandInvocations"]}
    rows = [[iid, st] for iid, st in sorted(per.items())]
    ctx.table(["instance-id", "status"], rows, {n for n, r in enumerate(rows) if r[1] != "Success"})
    failed = [iid for iid, st in per.items() if st != "Success"]
    if status != "Success":
        raise ActionError(f"SSM command {name} ended {status} on {group}: "
                          f"{len(failed)} instance(s) failed ({', '.join(failed[:3])})")
    if len(per) != len(ids):
        raise ActionError(f"{len(ids)} instance(s) selected; actually run against {len(per)} instance(s) instead: "
                          f"verify command {cid} in the AWS console before attempting to re-run")
    ctx.log(f"{name}: Success on {len(per)} instance(s)")
    return {"command_id": cid, "status": status, "instances": sorted(per), "failed": failed, "document": name}


def _instance_for(ec2, spec: str, after: datetime | None) -> dict | None:
    """`newest:NAME`, `NAME` (a Name tag) or an instance id -> the newest matching instance (launched at or
    after `after`, when given)."""
    spec = spec.removeprefix("newest:")
    filters = ([{"Name": "instance-id", "Values": [spec]}] if spec.startswith("i-")
               else [{"Name": "tag:Name", "Values": [spec]}])
    insts = [i for i in _instances(ec2, filters) if after is None or i["LaunchTime"] >= after]
    return max(insts, key=lambda i: i["LaunchTime"]) if insts else None


def _stream_for(logs, group: str, iid: str) -> str | None:
    """login.gov names streams after the host name, which carries the instance id. Only the newest few
    streams are looked at (one call): a group holds every instance's stream ever."""
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True,
                                        limit=STREAMS_LOOKED_AT)["logStreams"]
    return next((s["logStreamName"] for s in streams if iid in s["logStreamName"]), None)


@action("aws.logs_tail", streaming=True)
@_aws_errors
def logs_tail(ctx: ActionContext, group: str, instance: str = "", stream: str = "", since_step: str = "false",
              poll: str = "2", region: str = "") -> dict:
    """Tail a CloudWatch Logs group/stream (instance = "newest:NAME-TAG" picks the newest instance's stream;
    since_step = only an instance launched after this step started, e.g. the migration instance of this recycle)."""
    if not (instance or stream):
        raise ActionError("aws.logs_tail needs `instance` (e.g. newest:asg-prod-migration) or `stream`")
    region = _region(ctx, region)
    logs, ec2 = _client(ctx, "logs", region), _client(ctx, "ec2", region)
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        raise ActionError(f"no CloudWatch log group {group} in {region}")
    after = None
    if flag(since_step, "since_step"):
        started = ctx.step_started if ctx.step_started is not None else ctx.clock()
        # a minute of clock skew with AWS (scaled in a rehearsal), and LaunchTime has whole seconds
        after = datetime.fromtimestamp(started - max(2.0, ctx.scaled(60)), UTC)
    every = max(0.2, ctx.scaled(seconds(poll, "poll")))  # a world duration, as in ssm_command
    current, iid, token, count, waiting = stream or None, "", None, 0, False
    name = instance.removeprefix("newest:")
    while not ctx.cancelled.is_set():
        if instance and not (after and current):  # follow the newest; once this step's own is found, keep it
            inst = _instance_for(ec2, instance, after)
            if inst and inst["InstanceId"] != iid:
                found = _stream_for(logs, group, inst["InstanceId"])
                if found:
                    iid, current, token = inst["InstanceId"], found, None
                    why = f", after this step started at {_when(datetime.fromtimestamp(started, UTC))}" if after else ""
                    ctx.log(f"--- following {current}: {iid}, launched {_when(inst['LaunchTime'])}{why}")
            if not current and not waiting:
                since = f" launched since {_when(after)}" if after else ""
                ctx.log(f"waiting for an instance {name}{since} and its log stream in {group}")
                waiting = True
        if current:
            kw = {"logGroupName": group, "logStreamName": current, "startFromHead": True}
            while True:
                try:
                    page = logs.get_log_events(**kw, **({"nextToken": token} if token else {}))
                except logs.exceptions.ResourceNotFoundException:
                    raise ActionError(f"no log stream {current} in {group}") from None
                lines = [e["message"] for e in page["events"]]
                if lines:
                    ctx.log_lines(lines)
                    count += len(lines)
                new_token = page.get("nextForwardToken")
                if not lines or new_token == token:
                    token = new_token or token
                    break
                token = new_token
        if not ctx.sleep(every):
            break
    return {"lines": count, "stream": current or "", "instance": iid}
