"""aws.* as the team's own scripts behave on the real account (issue 13): moto's server laid out like
login.gov's prod, the world playing the autoscaler, botocore's Stubber where moto cannot answer."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import ANY, Stubber

from deploytui.errors import ActionError
from deploytui.integrations import aws
from deploytui.sandbox.aws_world import LOG_GROUP, AwsWorld

pytestmark = pytest.mark.timeout(60)
C1, C2 = "5f0c2a4e-0b8e-4a0e-9d51-7d3f0f0a1c01", "5f0c2a4e-0b8e-4a0e-9d51-7d3f0f0a1c02"  # command ids are UUIDs
SOON = 5  # seconds: the scaled grace period (300 s / 300) is over for instances this old


def _group(world, name):
    return world.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def _actions(world, name):
    return {a["ScheduledActionName"]: a for a in world.client("autoscaling").describe_scheduled_actions(
        AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]}


def _fire(world, seconds=3600):
    """AWS's side: run the scheduled actions due `seconds` from now, terminate unprotected surplus."""
    return world.tick(now=datetime.now(UTC) + timedelta(seconds=seconds))


def _ids(world, name):
    return {i["InstanceId"] for i in _group(world, name)["Instances"]}


def _later(recorder, world):
    return recorder(world.env, time_scale=300, clock=lambda: time.time() + SOON)


# ---------------------------------------------------------------- scheduled actions: both ways

def test_a_recycle_started_with_the_cli_is_seen(world, recorder):
    # a colleague ran `bin/asg-recycle prod idp`: cloudlib's names
    asg = world.client("autoscaling")
    when = datetime.now(UTC) + timedelta(minutes=15)
    asg.put_scheduled_update_group_action(AutoScalingGroupName="prod-idp", ScheduledActionName="RecycleOnce.asg-recycle",
                                          StartTime=when, DesiredCapacity=4)
    with pytest.raises(ActionError, match=r"prod-idp already has a recycle scheduled \(RecycleOnce.asg-recycle"):
        aws.asg_recycle(recorder(world.env).ctx, env="prod", role="idp")  # no second recycle stacked
    assert "DelayedScaleOutOnce.asg-recycle" not in _actions(world, "prod-idp")
    with pytest.raises(ActionError, match="prod-idp: recycle still in progress until"):
        aws.scale_in(recorder(world.env).ctx, env="prod", role="ALL")  # not "nothing to remove"
    r = recorder(world.env)
    assert aws.asg_size(r.ctx, env="prod", role="idp")["scheduled"][0]["name"] == "RecycleOnce.asg-recycle"
    assert "prod-idp: It looks like a recycle is already in progress!" in r.lines


def test_the_teams_scripts_see_a_deploytui_recycle(world, recorder):
    aws.asg_recycle(recorder(world.env, time_scale=300).ctx, env="prod", role="idp")
    # cloudlib's scale_in_instances looks for exactly these two names
    for name in ("prod-idp", "prod-worker"):
        assert set(_actions(world, name)) == {"DelayedScaleOutOnce.asg-recycle", "RecycleOnce.asg-recycle"}
    assert set(_actions(world, "prod-migration")) == {"RecycleOnce.asg-recycle"}
    assert _actions(world, "prod-migration")["RecycleOnce.asg-recycle"]["DesiredCapacity"] == 0


# ---------------------------------------------------------------- recycle: worker at 0, MaxSize

def test_a_worker_group_at_zero_is_skipped(world, recorder):
    world.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="prod-worker", MinSize=0,
                                                          DesiredCapacity=0)
    r = recorder(world.env, time_scale=300)
    out = aws.asg_recycle(r.ctx, env="prod", role="idp")
    assert out["groups"] == ["prod-idp"] and "prod-worker: skipped, current desired size is 0" in r.lines
    assert not _actions(world, "prod-worker")
    world.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="prod-pivcac", MinSize=0,
                                                          DesiredCapacity=0)
    with pytest.raises(ActionError, match="prod-pivcac has 0 instances desired: nothing to recycle"):
        aws.asg_recycle(recorder(world.env).ctx, env="prod", role="pivcac")


def test_a_raised_max_size_returns_with_the_group(world, recorder):
    asg = world.client("autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName="prod-worker", MaxSize=3)  # room for 3, not 2 x 2
    r = recorder(world.env, time_scale=300)
    aws.asg_recycle(r.ctx, env="prod", role="idp", skip_migration="true")
    assert _group(world, "prod-worker")["MaxSize"] == 4
    assert "prod-worker: raising MaxSize from 3 to 4 for the recycle; it returns to 3 with the group's size" in r.lines
    assert _group(world, "prod-idp")["MaxSize"] == 16  # had room: untouched
    _fire(world)
    g = _group(world, "prod-worker")
    assert (g["DesiredCapacity"], g["MaxSize"]) == (2, 3)


# ---------------------------------------------------------------- scale_in: the race, nothing removed

@pytest.mark.parametrize("after", ["DescribeAutoScalingGroups", "DescribeScheduledActions"])
def test_recycle_firing_between_two_reads_never_leaves_old_instances_protected(world, recorder, after):
    aws.asg_recycle(recorder(world.env, time_scale=300).ctx, env="prod", role="idp", skip_migration="true",
                    spinup="1")
    _fire(world, seconds=1)  # the scale-out: 8 idp instances, desired 8, RecycleOnce to come
    everyone = _ids(world, "prod-idp")
    r = _later(recorder, world)
    client = aws._client(r.ctx, "autoscaling", world.region)
    fired = []

    def interleave(**kw):  # RecycleOnce fires right after our first read of this kind
        if not fired:
            fired.append(_fire(world))

    client.meta.events.register(f"after-call.auto-scaling.{after}", interleave)
    try:
        res = aws.scale_in(r.ctx, env="prod", role="ALL", which="old")
    except ActionError as err:  # stopping is fine: the operator re-runs after the recycle
        assert "recycle still in progress" in str(err)
        res = aws.scale_in(_later(recorder, world).ctx, env="prod", role="ALL", which="old")
    finally:
        client.meta.events.unregister(f"after-call.auto-scaling.{after}", interleave)
    assert fired
    g = _group(world, "prod-idp")
    assert g["DesiredCapacity"] == 4
    still = [i["InstanceId"] for i in g["Instances"] if i["ProtectedFromScaleIn"]]
    released = set(res["removed"]) & everyone
    assert len(still) == 4 and len(released) == 4  # 4 kept protected, 4 released: never all 8 protected
    assert released | set(still) == everyone


def test_removing_nothing_is_not_done(world, recorder):
    with pytest.raises(ActionError, match=r"nothing to remove: every group has as many instances as it desires "
                                          r"\(prod-idp 4/4, prod-worker 2/2, prod-pivcac 2/2\)"):
        aws.scale_in(recorder(world.env).ctx, env="prod", role="ALL", which="new")


# ---------------------------------------------------------------- rollback: scale-remove-new-instances

def test_rollback_during_the_recycle_window_removes_the_new_servers(world, recorder):
    world.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="prod-worker", MaxSize=3)
    old_idp, old_worker = _ids(world, "prod-idp"), _ids(world, "prod-worker")
    aws.asg_recycle(recorder(world.env, time_scale=300).ctx, env="prod", role="idp", spinup="1")
    _fire(world, seconds=1)  # scaled out; RecycleOnce.asg-recycle still 15 minutes away
    assert len(_ids(world, "prod-idp")) == 8
    with pytest.raises(ActionError, match="recycle still in progress .* cancel it: which=new, cancel_recycle=true"):
        aws.scale_in(_later(recorder, world).ctx, env="prod", role="ALL", which="new")

    r = _later(recorder, world)
    res = aws.scale_in(r.ctx, env="prod", role="ALL", which="new", cancel_recycle="true")
    assert res["cancelled"] == ["prod-idp", "prod-worker"]
    assert set(res["kept"]) == old_idp | old_worker
    for name in ("prod-idp", "prod-worker"):
        assert not _actions(world, name)  # the recycle is called off
    assert (_group(world, "prod-idp")["DesiredCapacity"], _group(world, "prod-worker")["DesiredCapacity"]) == (4, 2)
    assert _group(world, "prod-worker")["MaxSize"] == 3  # what RecycleOnce would have put back
    world.tick()
    assert _ids(world, "prod-idp") == old_idp and _ids(world, "prod-worker") == old_worker


def test_rollback_before_the_scale_out_just_cancels(world, recorder):
    old = _ids(world, "prod-idp")
    aws.asg_recycle(recorder(world.env, time_scale=300).ctx, env="prod", role="idp")  # scale-out in 300 s
    r = recorder(world.env)
    res = aws.scale_in(r.ctx, env="prod", role="idp", which="new", cancel_recycle="true")
    assert res["cancelled"] == ["prod-idp"] and res["removed"] == []
    assert not _actions(world, "prod-idp")
    _fire(world)
    assert _ids(world, "prod-idp") == old  # no new servers were ever started


# ---------------------------------------------------------------- SSM: the account's documents (Stubber)

def _running(world, name):
    return sorted(i["InstanceId"] for i in _group(world, name)["Instances"])


def _ssm_stubbed(world, recorder, doc_exists=True, invoked=None, cloudwatch="false"):
    r = recorder(world.env)
    ssm = aws._client(r.ctx, "ssm", world.region)  # moto has no list-command-invocations: stub all of SSM
    stub = Stubber(ssm)
    name = "prod-ssm-cmd-passenger-restart"
    stub.add_response("list_documents", {"DocumentIdentifiers": [{"Name": name}] if doc_exists else []},
                      {"Filters": [{"Key": "Name", "Values": [name]}]})
    return r, stub, name


def test_ssm_command_sends_the_accounts_document(world, recorder):
    ids = _running(world, "prod-idp")
    r, stub, name = _ssm_stubbed(world, recorder)
    output = {"CloudWatchOutputEnabled": False}  # terraform/app/ssm.tf: passenger-restart logging = false
    stub.add_response("send_command", {"Command": {"CommandId": C1}}, {
        "DocumentName": name, "Targets": [{"Key": "tag:aws:autoscaling:groupName", "Values": ["prod-idp"]}],
        "Parameters": {}, "MaxConcurrency": "25%", "MaxErrors": "0", "CloudWatchOutputConfig": output,
        "Comment": ANY})
    stub.add_response("list_commands", {"Commands": [{"CommandId": C1, "Status": "InProgress", "TargetCount": 4}]},
                      {"CommandId": C1})
    stub.add_response("list_commands", {"Commands": [{"CommandId": C1, "Status": "Success", "TargetCount": 4,
                                                      "CompletedCount": 4}]}, {"CommandId": C1})
    stub.add_response("list_command_invocations", {"CommandInvocations": [
        {"CommandId": C1, "InstanceId": i, "Status": "Success"} for i in ids]}, {"CommandId": C1})
    with stub:
        out = aws.ssm_command(r.ctx, env="prod", role="idp", document="passenger-restart", poll="0.2")
        stub.assert_no_pending_responses()
    assert out["document"] == name and out["instances"] == ids
    assert "SSM document prod-ssm-cmd-passenger-restart verified." in r.lines
    assert "4 instance(s) selected." in r.lines


def test_ssm_command_refuses_a_document_the_account_lacks(world, recorder):
    r, stub, _ = _ssm_stubbed(world, recorder, doc_exists=False)
    with stub, pytest.raises(ActionError, match="SSM document prod-ssm-cmd-passenger-restart does not exist in "
                                                "us-west-2"):
        aws.ssm_command(r.ctx, env="prod", role="idp", document="passenger-restart")
    stub.assert_no_pending_responses()  # nothing was sent


def test_ssm_command_logging_and_a_short_count(world, recorder):
    ids = _running(world, "prod-idp")
    r, stub, name = _ssm_stubbed(world, recorder)
    stub.add_response("send_command", {"Command": {"CommandId": C2}}, {
        "DocumentName": name, "Targets": ANY, "Parameters": {}, "MaxConcurrency": "25%", "MaxErrors": "0",
        "CloudWatchOutputConfig": {"CloudWatchOutputEnabled": True, "CloudWatchLogGroupName": "aws-ssm-sessions-prod"},
        "Comment": ANY})
    stub.add_response("list_commands", {"Commands": [{"CommandId": C2, "Status": "Success"}]}, {"CommandId": C2})
    stub.add_response("list_command_invocations", {"CommandInvocations": [
        {"CommandId": C2, "InstanceId": i, "Status": "Success"} for i in ids[:3]]}, {"CommandId": C2})
    with stub, pytest.raises(ActionError, match="4 instance.s. selected; actually run against 3 instance.s. instead"):
        aws.ssm_command(r.ctx, env="prod", role="idp", document="passenger-restart", cloudwatch="true", poll="0.2")


# ---------------------------------------------------------------- servers: the sha column, regions

def test_sha_column_reads_the_pivcac_tag(world, recorder):
    ec2 = world.client("ec2")
    ids = _running(world, "prod-pivcac")
    ec2.delete_tags(Resources=ids, Tags=[{"Key": "gitsha:idp"}])
    ec2.create_tags(Resources=ids, Tags=[{"Key": "gitsha:pivcac", "Value": "abcdef0123456789"}])  # chef's tag
    out = aws.servers(recorder(world.env).ctx, env="prod", role="pivcac")
    assert out["shas"] == ["abcdef012"]


def test_actions_cover_every_region_given(world, recorder):
    east = AwsWorld(endpoint=world.endpoint, region="us-east-1")
    east.layout("prod", sizes={"idp": 2, "worker": 1, "pivcac": 1, "migration": 0})
    both = "us-west-2,us-east-1"
    out = aws.servers(recorder(world.env).ctx, env="prod", role="idp", region=both)
    assert out["count"] == 6  # 4 in us-west-2, 2 in us-east-1
    res = aws.asg_recycle(recorder(world.env, time_scale=300).ctx, env="prod", role="idp", region=both)
    assert res["groups"] == ["prod-idp", "prod-worker"] * 2
    acts = east.client("autoscaling").describe_scheduled_actions(AutoScalingGroupName="prod-idp")
    assert {a["ScheduledActionName"] for a in acts["ScheduledUpdateGroupActions"]} == {
        "DelayedScaleOutOnce.asg-recycle", "RecycleOnce.asg-recycle"}
    sizes = aws.asg_size(recorder(world.env).ctx, env="prod", role="idp", region=both)
    assert {x["region"] for x in sizes["scheduled"]} == {"us-west-2", "us-east-1"}


# ---------------------------------------------------------------- the migration pane

def _tail(r, **kw):
    result = {}
    t = threading.Thread(target=lambda: result.update(aws.logs_tail(r.ctx, **kw)), daemon=True)
    t.start()
    return t, result


def _wait_for(pred, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _migration_ran(world):
    asg = world.client("autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
    # the world boots and provisions it in world time (an hour a second here): wait until it is in service
    assert _wait_for(lambda: [i["LifecycleState"] for i in _group(world, "prod-migration")["Instances"]]
                     == ["InService"])
    (iid,) = _ids(world, "prod-migration")
    asg.set_desired_capacity(AutoScalingGroupName="prod-migration", DesiredCapacity=0)
    return iid


def test_migration_pane_follows_only_this_recycles_instance(world, recorder):
    previous = _migration_ran(world)  # the last release's migration: its log ends in "All done!"
    world.client("ec2").terminate_instances(InstanceIds=[previous])
    world._backdate(days=1)  # it ran at the last deploy, not a second ago
    r = recorder(world.env, time_scale=600, step_started=time.time())  # the recycle step starts now
    t, result = _tail(r, group=LOG_GROUP, instance="newest:asg-prod-migration", since_step="true", poll="0.1")
    assert _wait_for(lambda: any(x.startswith("waiting for an instance asg-prod-migration launched since")
                                 for x in r.lines))
    assert not _wait_for(lambda: any("All done!" in x for x in r.lines), seconds=0.5)  # not the old finish
    new = _migration_ran(world)
    assert _wait_for(lambda: any("All done! provision.sh finished for identity-devops (migration" in x for x in r.lines)), r.lines
    r.ctx.cancelled.set()
    t.join(5)
    assert result["instance"] == new != previous
    following = [x for x in r.lines if x.startswith("--- following")]
    assert len(following) == 1 and new in following[0] and "after this step started at" in following[0]
    assert r.text.count("All done!") == 1


def test_migration_log_lookup_reads_only_the_newest_streams(world, recorder):
    logs = world.client("logs")
    for n in range(120):  # a log group keeps every instance's stream
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"idp-i-{n:017x}.prod.login.gov")
    world.clock.scale = 1  # real time: the new instance boots for 45 s before its log stream exists
    r = recorder(world.env, step_started=time.time())
    calls = []
    client = aws._client(r.ctx, "logs", world.region)
    client.meta.events.register("before-call.cloudwatch-logs.DescribeLogStreams", lambda **kw: calls.append(1))
    try:
        world.client("autoscaling").set_desired_capacity(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
        t, result = _tail(r, group=LOG_GROUP, instance="newest:asg-prod-migration", since_step="true", poll="0.1")
        assert _wait_for(lambda: len(calls) >= 5)  # the instance exists; its stream does not yet
        polls = len([x for x in calls])
        world.tick(now=datetime.now(UTC) + timedelta(seconds=60))  # booted: its first lines (and stream) arrive
        assert _wait_for(lambda: result or any(x.startswith("--- following") for x in r.lines))
        r.ctx.cancelled.set()
        t.join(5)
    finally:
        client.meta.events.unregister("before-call.cloudwatch-logs.DescribeLogStreams")
        world.clock.scale = 3600
    assert polls <= len(calls) <= polls + 3  # one call per poll, never a page per 50 streams
