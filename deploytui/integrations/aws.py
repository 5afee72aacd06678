"""AWS actions with login.gov's semantics (see research/seed-scripts.md).

ASG `<env>-<role>`, instance Name tag `asg-<env>-<role>`, VPC tag Name=login-vpc-<env>, target
groups tagged prefix=<env>, health_role=<role>. boto3 is imported inside the functions."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta

from ..errors import ActionError
from ._params import flag, getenv, mapping, seconds
from .registry import ActionContext, action

RECYCLE_ACTIONS = ("DelayedScaleOutOnce", "RecycleOnce")


# -- plumbing ------------------------------------------------------------------------------------


def _region(ctx: ActionContext, region: str) -> str:
    return region or getenv(ctx, "AWS_REGION") or getenv(ctx, "AWS_DEFAULT_REGION") or "us-west-2"


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _client(ctx: ActionContext, service: str, region: str):
    """A boto3 client, kept per credentials+region+endpoint: panes re-run every few seconds and
    building a client costs more than the call. (Clients are thread-safe; sessions are not.)"""
    import boto3
    from botocore.config import Config

    creds = tuple(getenv(ctx, n) for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))
    endpoint = getenv(ctx, "AWS_ENDPOINT_URL") or None
    key = (service, _region(ctx, region), endpoint, creds, getenv(ctx, "AWS_PROFILE"))
    with _clients_lock:
        if key not in _clients:
            session = boto3.session.Session(aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                                            aws_session_token=creds[2], region_name=key[1])
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
        )

        try:
            return func(ctx, *args, **kwargs)
        except (NoCredentialsError, PartialCredentialsError):
            raise ActionError("AWS credentials not found: run under aws-vault exec PROFILE -- deploytui ...") from None
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


def _env_groups(asg, env: str, role: str, region: str) -> list[dict]:
    """The ASG for a role, or every group of the environment but migration for role ALL."""
    if not _all_roles(role):
        return [_group(asg, f"{env}-{role}", region)]
    pages = asg.get_paginator("describe_auto_scaling_groups").paginate()
    groups = [g for p in pages for g in p["AutoScalingGroups"]
              if g["AutoScalingGroupName"].startswith(f"{env}-")
              and g["AutoScalingGroupName"] != f"{env}-migration"]
    if not groups:
        raise ActionError(f"no auto scaling groups named {env}-* in {region}: check the environment name")
    return groups


def _pending_recycle(asg, name: str) -> list[dict]:
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


@action("aws.servers")
@_aws_errors
def servers(ctx: ActionContext, env: str, role: str = "", region: str = "") -> dict:
    """List an environment's instances (like ls-servers -e ENV -r ROLE) with target-group health."""
    region = _region(ctx, region)
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
    now = ctx.now()
    rows, bad, out = [], set(), []
    for n, i in enumerate(insts):
        iid, tags, state = i["InstanceId"], _tags(i), i["State"]["Name"]
        a = in_asg.get(iid, {})
        lifecycle, asg_health = a.get("LifecycleState", "-"), a.get("HealthStatus", "-")
        tg = health.get(iid, "-")
        ok = (state == "running" and lifecycle in ("InService", "-") and asg_health in ("HEALTHY", "Healthy", "-")
              and tg in ("healthy", "-"))
        if not ok:
            bad.add(n)
        sha = tags.get("gitsha:idp", "")[:9]
        rows.append([iid, i.get("ImageId", ""), tags.get("Name", ""), i.get("InstanceType", ""),
                     i["Placement"]["AvailabilityZone"], state, _when(i["LaunchTime"]),
                     _uptime(now, i["LaunchTime"]), sha, lifecycle, tg])
        out.append({"id": iid, "name": tags.get("Name", ""), "state": state, "lifecycle": lifecycle,
                    "health": tg, "sha": sha, "launch_time": i["LaunchTime"].isoformat(), "healthy": ok})
    ctx.table(["instance-id", "image-id", "name", "type", "az", "state", "launched", "uptime", "sha",
               "lifecycle", "health"], rows, bad)
    healthy = len(insts) - len(bad)
    what = f"asg-{env}-{role}" if not _all_roles(role) else env
    if not insts:
        ctx.log(f"0 instances in {what}")
    elif not bad:
        ctx.log(f"{healthy}/{len(insts)} instances InService and healthy: all healthy")
    else:
        ctx.log(f"{healthy}/{len(insts)} instances InService and healthy: "
                f"{len(bad)} not healthy ({', '.join(rows[n][0] for n in sorted(bad))})")
    return {"count": len(insts), "healthy": healthy, "unhealthy": len(bad), "all_healthy": bool(insts) and not bad,
            "ids": ids, "shas": sorted({o["sha"] for o in out if o["sha"]}), "instances": out}


@action("aws.asg_size")
@_aws_errors
def asg_size(ctx: ActionContext, env: str, role: str, region: str = "") -> dict:
    """Show an ASG's desired/min/max, health check type and grace, and scheduled actions."""
    region = _region(ctx, region)
    asg = _client(ctx, "autoscaling", region)
    g = _group(asg, f"{env}-{role}", region)
    name = g["AutoScalingGroupName"]
    ctx.table(["group", "desired", "min", "max", "instances", "health check", "grace"],
              [[name, g["DesiredCapacity"], g["MinSize"], g["MaxSize"], len(g["Instances"]),
                g["HealthCheckType"], f"{g.get('HealthCheckGracePeriod', 0)}s"]])
    acts = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
    scheduled = [{"name": a["ScheduledActionName"], "start": _when(a["StartTime"]) if a.get("StartTime") else "",
                  "recurrence": a.get("Recurrence", ""), "desired": a.get("DesiredCapacity")} for a in acts]
    if scheduled:
        ctx.table(["scheduled action", "start", "recurrence", "desired"],
                  [[s["name"], s["start"], s["recurrence"], s["desired"]] for s in scheduled])
    else:
        ctx.log("no scheduled actions")
    return {"desired": g["DesiredCapacity"], "min": g["MinSize"], "max": g["MaxSize"],
            "instances": len(g["Instances"]), "health_check_type": g["HealthCheckType"],
            "grace": g.get("HealthCheckGracePeriod", 0), "scheduled": scheduled}


def _recycle_migration(ctx: ActionContext, asg, env: str, region: str, timeout: float) -> str | None:
    """Bring up one migration instance, wait for it to be InService and Healthy, return to 0."""
    name = f"{env}-migration"
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        ctx.log(f"no {name} group: skipping the migration instance")
        return None
    before = {i["InstanceId"] for i in groups[0]["Instances"]}
    ctx.log(f"{name}: desired 1 (migration instance runs the database migrations)")
    asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=max(1, groups[0]["MaxSize"]), DesiredCapacity=1)
    deadline = ctx.clock() + ctx.scaled(timeout)
    while True:
        g = _group(asg, name, region)
        ready = [i for i in g["Instances"] if i["InstanceId"] not in before
                 and i["LifecycleState"] == "InService" and i["HealthStatus"].lower() == "healthy"]
        if ready:
            iid = ready[0]["InstanceId"]
            ctx.log(f"{name}: migration instance {iid} is InService; back to desired 0")
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, DesiredCapacity=0)
            return iid
        if ctx.clock() > deadline:
            raise ActionError(f"the migration instance in {name} is not InService after {int(timeout)}s: "
                              f"read its cloud-init log; {name} is left at desired 1")
        if not ctx.sleep(max(0.2, ctx.scaled(10))):
            raise ActionError(f"cancelled while waiting for the migration instance; {name} is left at desired 1")


@action("aws.asg_recycle")
@_aws_errors
def asg_recycle(ctx: ActionContext, env: str, role: str, skip_migration: str = "false",
                spinup: str = "300", spindown: str = "600", migration_timeout: str = "1800",
                region: str = "") -> dict:
    """Recycle an ASG: migration instance first, then scheduled scale-out to 2N and return to N."""
    region = _region(ctx, region)
    asg = _client(ctx, "autoscaling", region)
    up, down = seconds(spinup, "spinup"), seconds(spindown, "spindown")
    names = [f"{env}-{role}"] + ([f"{env}-worker"] if role == "idp" else [])
    groups = []
    for name in names:
        g = _group(asg, name, region)
        pending = _pending_recycle(asg, name)
        if pending:
            last = max(a["StartTime"] for a in pending)
            raise ActionError(f"{name} already has a recycle scheduled (until {_when(last)}): "
                              f"wait for it, or delete its scheduled actions")
        if g["DesiredCapacity"] == 0:
            raise ActionError(f"{name} has 0 instances desired: nothing to recycle")
        groups.append(g)
    migration = None
    if role == "idp" and not flag(skip_migration, "skip_migration"):
        migration = _recycle_migration(ctx, asg, env, region, seconds(migration_timeout, "migration_timeout"))
    now = ctx.now()
    out_at = now + timedelta(seconds=ctx.scaled(up))
    back_at = now + timedelta(seconds=ctx.scaled(up + down))
    result = {"groups": [], "scale_out_at": out_at.isoformat(), "return_at": back_at.isoformat(),
              "scale_out_epoch": out_at.timestamp(), "return_epoch": back_at.timestamp(),
              "migration_instance": migration or ""}
    for g in groups:
        name, n = g["AutoScalingGroupName"], g["DesiredCapacity"]
        if g["MaxSize"] < 2 * n:
            ctx.log(f"{name}: raising MaxSize from {g['MaxSize']} to {2 * n} for the recycle")
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=2 * n)
        asg.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName="DelayedScaleOutOnce",
                                              StartTime=out_at, DesiredCapacity=2 * n)
        asg.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName="RecycleOnce",
                                              StartTime=back_at, DesiredCapacity=n)
        ctx.log(f"{name}: Will increase to {2 * n} instances in {int(ctx.scaled(up))}s (at {_when(out_at)})")
        ctx.log(f"{name}: Will return to {n} instances in {int(ctx.scaled(up + down))}s (at {_when(back_at)})")
        if any(i.get("ProtectedFromScaleIn") for i in g["Instances"]) or g.get("NewInstancesProtectedFromScaleIn"):
            ctx.log(f"{name}: instances are protected from scale-in: old ones stay until aws.scale_in which=old")
        result["groups"].append(name)
        result.setdefault("desired", n)
    return result


@action("aws.scale_in")
@_aws_errors
def scale_in(ctx: ActionContext, env: str, role: str, which: str = "old", dry_run: str = "false",
             region: str = "") -> dict:
    """Remove scale-in protection from the old (or new) instances, keeping DesiredCapacity healthy ones."""
    if which not in ("old", "new"):
        raise ActionError(f"which must be 'old' or 'new', not {which!r}")
    region = _region(ctx, region)
    asg, ec2 = _client(ctx, "autoscaling", region), _client(ctx, "ec2", region)
    groups = _env_groups(asg, env, role, region)
    pending = [a for g in groups for a in _pending_recycle(asg, g["AutoScalingGroupName"])]
    if pending:
        last = _when(max(a["StartTime"] for a in pending))
        ctx.log(f"The recycle is still in progress. Instances can be scaled in after {last}")
        raise ActionError(f"recycle still in progress until {last}: instances can be scaled in after that")
    now, plan = ctx.now(), []
    for g in groups:
        name, desired = g["AutoScalingGroupName"], g["DesiredCapacity"]
        members = {i["InstanceId"]: i for i in g["Instances"]}
        if len(members) <= desired:
            ctx.log(f"{name}: nothing to remove ({len(members)} instances, desired {desired})")
            continue
        launched = {i["InstanceId"]: i["LaunchTime"] for i in _instances(
            ec2, [{"Name": "instance-id", "Values": list(members)}])}
        order = sorted(members, key=lambda iid: (launched.get(iid, now), iid))  # oldest first
        keep = order[len(order) - desired:] if which == "old" else order[:desired]
        remove = [iid for iid in order if iid not in keep]
        grace = ctx.scaled(g.get("HealthCheckGracePeriod", 0))
        health = _target_health(ctx, env, name[len(env) + 1:], region) if g.get("TargetGroupARNs") else {}
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
        plan.append((g, keep, remove, launched))
    kept, removed = [], []
    for g, keep, remove, launched in plan:
        name = g["AutoScalingGroupName"]
        ctx.log(f"{name}: To keep:")
        ctx.table(["instance-id", "launched"], [[i, _when(launched[i]) if i in launched else ""] for i in keep])
        ctx.log(f"{name}: To remove:")
        ctx.table(["instance-id", "launched"], [[i, _when(launched[i]) if i in launched else ""] for i in remove],
                  set(range(len(remove))))
        kept += keep
        removed += remove
    if flag(dry_run, "dry_run"):
        ctx.log(f"dry run: would remove scale-in protection from {len(removed)} instance(s)")
    else:
        for g, _keep, remove, _ in plan:
            name = g["AutoScalingGroupName"]
            for k in range(0, len(remove), 50):
                asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=remove[k:k + 50],
                                            ProtectedFromScaleIn=False)
            ctx.log(f"{name}: removed scale-in protection from {len(remove)} instance(s); "
                    f"the group terminates them to return to {g['DesiredCapacity']}")
    return {"kept": kept, "removed": removed, "groups": [g["AutoScalingGroupName"] for g, *_ in plan],
            "dry_run": flag(dry_run, "dry_run")}


@action("aws.ssm_command")
@_aws_errors
def ssm_command(ctx: ActionContext, env: str, role: str, document: str, parameters: str = "",
                max_concurrency: str = "25%", max_errors: str = "0", comment: str = "",
                timeout: str = "900", poll: str = "5", region: str = "") -> dict:
    """Send an SSM command document to a role's instances and follow it to the end."""
    region = _region(ctx, region)
    asg, ssm = _client(ctx, "autoscaling", region), _client(ctx, "ssm", region)
    name = f"{env}-{role}"
    ids = [i["InstanceId"] for i in _group(asg, name, region)["Instances"] if i["LifecycleState"] == "InService"]
    if not ids:
        raise ActionError(f"{name} has no InService instances to run {document} on")
    params = {k: v if isinstance(v, list) else [str(v)] for k, v in mapping(parameters, "parameters").items()}
    # by tag, as ssm-command does: the command reaches the group's instances as SSM resolves them
    targets = [{"Key": "tag:aws:autoscaling:groupName", "Values": [name]}]
    sent = ssm.send_command(DocumentName=document, Targets=targets, Parameters=params,
                            MaxConcurrency=str(max_concurrency), MaxErrors=str(max_errors),
                            Comment=(comment or f"deploytui {ctx.step_id}")[:100])["Command"]
    cid = sent["CommandId"]
    ctx.log(f"sent {document} to {len(ids)} instance(s) of {name}: command {cid}")
    deadline = ctx.clock() + seconds(timeout, "timeout")
    every, last = max(0.2, seconds(poll, "poll")), None
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
    per = {}
    for iid in ids:
        try:
            per[iid] = ssm.get_command_invocation(CommandId=cid, InstanceId=iid)["Status"]
        except ssm.exceptions.InvocationDoesNotExist:
            per[iid] = "NotTargeted"
    rows = [[iid, per.get(iid, "-")] for iid in ids]
    ctx.table(["instance-id", "status"], rows, {n for n, r in enumerate(rows) if r[1] != "Success"})
    failed = [iid for iid, st in per.items() if st != "Success"]
    if status != "Success":
        raise ActionError(f"SSM command {document} ended {status} on {name}: "
                          f"{len(failed)} instance(s) failed ({', '.join(failed[:3])})")
    ctx.log(f"{document}: Success on {len(ids)} instance(s)")
    return {"command_id": cid, "status": status, "instances": ids, "failed": failed}


def _newest(ec2, spec: str) -> dict | None:
    """`newest:NAME`, `NAME` (a Name tag) or an instance id -> the newest matching instance."""
    spec = spec.removeprefix("newest:")
    filters = ([{"Name": "instance-id", "Values": [spec]}] if spec.startswith("i-")
               else [{"Name": "tag:Name", "Values": [spec]}])
    insts = _instances(ec2, filters)
    return max(insts, key=lambda i: i["LaunchTime"]) if insts else None


def _stream_for(logs, group: str, iid: str) -> str | None:
    """login.gov names streams after the host name, which carries the instance id."""
    kw = {"logGroupName": group, "orderBy": "LastEventTime", "descending": True}
    for page in logs.get_paginator("describe_log_streams").paginate(**kw):
        for s in page["logStreams"]:
            if iid in s["logStreamName"]:
                return s["logStreamName"]
    return None


@action("aws.logs_tail", streaming=True)
@_aws_errors
def logs_tail(ctx: ActionContext, group: str, instance: str = "", stream: str = "", poll: str = "2",
              region: str = "") -> dict:
    """Tail a CloudWatch Logs group/stream (instance = "newest:NAME-TAG" picks the newest instance's stream)."""
    if not (instance or stream):
        raise ActionError("aws.logs_tail needs `instance` (e.g. newest:asg-prod-migration) or `stream`")
    region = _region(ctx, region)
    logs, ec2 = _client(ctx, "logs", region), _client(ctx, "ec2", region)
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        raise ActionError(f"no CloudWatch log group {group} in {region}")
    every = max(0.2, seconds(poll, "poll"))
    current, iid, token, count, waiting = stream or None, "", None, 0, False
    while not ctx.cancelled.is_set():
        if instance:  # follow the newest instance: a new one may start while we watch
            inst = _newest(ec2, instance)
            if inst and inst["InstanceId"] != iid:
                found = _stream_for(logs, group, inst["InstanceId"])
                if found:
                    iid, current, token = inst["InstanceId"], found, None
                    ctx.log(f"--- {current} ({iid}, launched {_when(inst['LaunchTime'])})")
            if not current and not waiting:
                ctx.log(f"waiting for an instance {instance.removeprefix('newest:')} and its log stream in {group}")
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

