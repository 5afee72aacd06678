"""The AWS of the rehearsal world plays login.gov's account by the rules (rules.py): instances take time to
boot and provision, only the account's SSM documents exist, sessions expire, a save brings it all back.
Time is moved by hand (the world's clock) and AWS played with tick(): no waiting."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from deploytui.sandbox import rules
from deploytui.sandbox.aws_world import start_world
from deploytui.sandbox.clock import WorldClock


@pytest.fixture
def aws():
    worlds = []

    def make(faults=(), restore=None):
        w = start_world(["prod"], clock=WorldClock(scale=1), faults=frozenset(faults), restore=restore)
        worlds.append(w)
        return w

    yield make
    for w in worlds:
        w.stop()


def client(world, service):
    return boto3.client(service, endpoint_url=world.endpoint, region_name="us-west-2",
                        aws_access_key_id="ASIAREHEARSAL0000000", aws_secret_access_key="x",
                        aws_session_token=world.token)


def later(world, seconds):
    world.clock.offset += seconds
    world.tick()


def states(world, group):
    g = client(world, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    return [(i["InstanceId"], i["LifecycleState"], i["HealthStatus"]) for i in g["Instances"]]


def test_the_world_refuses_an_unknown_ssm_document(aws):
    world = aws()
    ssm = client(world, "ssm")
    targets = [{"Key": "tag:aws:autoscaling:groupName", "Values": ["prod-idp"]}]
    with pytest.raises(ClientError) as err:
        ssm.send_command(DocumentName="passenger-restart", Targets=targets)
    assert err.value.response["Error"]["Code"] == "InvalidDocument"
    sent = ssm.send_command(DocumentName="prod-ssm-cmd-passenger-restart", Targets=targets)["Command"]
    assert sent["DocumentName"] == "prod-ssm-cmd-passenger-restart"
    assert ssm.send_command(DocumentName="AWS-RunShellScript", Targets=targets,
                            Parameters={"commands": ["uptime"]})["Command"]["CommandId"]


def test_a_migration_instance_boots_provisions_and_writes_its_log_in_world_time(aws):
    world = aws()
    client(world, "autoscaling").update_auto_scaling_group(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
    world.tick()
    (iid, lifecycle, _), = states(world, "prod-migration")
    assert lifecycle == "Pending"
    later(world, rules.BOOT_SECONDS + 1)
    assert states(world, "prod-migration")[0][1] == "Pending:Wait"  # provisioning; the hook holds it
    logs = client(world, "logs")
    stream = rules.LOG_STREAM.format(role="migration", instance=iid, env="prod")
    early = [e["message"] for e in logs.get_log_events(logGroupName=rules.LOG_GROUP, logStreamName=stream)["events"]]
    assert early and rules.CLOUD_INIT_DONE not in "\n".join(early)
    later(world, rules.PROVISION_SECONDS + rules.MIGRATION_SECONDS)
    assert states(world, "prod-migration")[0][1] == "InService"
    full = [e["message"] for e in logs.get_log_events(logGroupName=rules.LOG_GROUP, logStreamName=stream)["events"]]
    assert any("rake db:migrate" in x for x in full) and full[-1].startswith(rules.CLOUD_INIT_DONE)


def test_a_failing_migration_is_abandoned_and_replaced(aws):
    world = aws(faults={"migration-fails"})
    client(world, "autoscaling").update_auto_scaling_group(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
    world.tick()
    first = states(world, "prod-migration")[0][0]
    later(world, rules.BOOT_SECONDS + rules.PROVISION_SECONDS + rules.MIGRATION_SECONDS + 1)
    world.tick()
    now = states(world, "prod-migration")
    assert len(now) == 1 and now[0][0] != first and now[0][1] == "Pending"  # a new one, from the start
    log = world.machines[first].log()
    assert "PG::DuplicateTable" in "\n".join(log) and rules.CLOUD_INIT_DONE not in "\n".join(log)


def test_the_releases_instances_fail_their_health_checks(aws):
    world = aws(faults={"unhealthy-instances"})
    world.deploy("b" * 40)
    client(world, "autoscaling").update_auto_scaling_group(AutoScalingGroupName="prod-idp", DesiredCapacity=8)
    world.tick()
    ready = rules.BOOT_SECONDS + rules.PROVISION_SECONDS + rules.TARGET_HEALTHY_SECONDS + 1
    later(world, ready)
    elb = client(world, "elbv2")
    tg = next(t for t in elb.describe_target_groups()["TargetGroups"] if t["TargetGroupName"] == "prod-idp-ssl")
    health = {d["Target"]["Id"]: d["TargetHealth"]["State"]
              for d in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]}
    new = [m.id for m in world.machines.values() if m.sha == "b" * 40]
    assert len(new) == 4 and all(health[i] == "unhealthy" for i in new)
    assert sorted(health.values()).count("healthy") == 4  # the old ones
    assert all(h == "Unhealthy" for i, _, h in states(world, "prod-idp") if i in new)


def test_a_teammates_recycle_is_pending_under_bin_asg_recycles_names(tmp_path):
    from deploytui.runbook.loader import load
    from deploytui.sandbox.rehearse import build_world

    book = load(Path(__file__).resolve().parents[2] / "runbooks" / "login-gov-idp.toml")
    with build_world(book, tmp_path / "w", time_scale=1, faults={"recycle-in-progress"}) as world:
        acts = client(world.aws, "autoscaling").describe_scheduled_actions(
            AutoScalingGroupName="prod-idp")["ScheduledUpdateGroupActions"]
        assert sorted(a["ScheduledActionName"] for a in acts) == sorted(rules.RECYCLE_SCHEDULED_ACTIONS)


def test_the_session_expires_after_the_first_recycle(aws):
    world = aws(faults={"aws-session-expires"})
    asg = client(world, "autoscaling")
    from datetime import UTC, datetime, timedelta

    asg.put_scheduled_update_group_action(AutoScalingGroupName="prod-idp", ScheduledActionName="X",
                                          StartTime=datetime.now(UTC) + timedelta(hours=1), DesiredCapacity=8)
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["prod-idp"])  # still good
    world.clock.offset += rules.RECYCLE_SPINUP + 1
    with pytest.raises(ClientError) as err:
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=["prod-idp"])
    assert err.value.response["Error"]["Code"] == "ExpiredToken"
    with pytest.raises(ClientError) as err:
        client(world, "ec2").describe_instances()
    assert err.value.response["Error"]["Code"] == "RequestExpired"


def test_a_saved_world_comes_back_with_the_same_instances(aws):
    world = aws()
    asg = client(world, "autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName="prod-idp", DesiredCapacity=6)
    world.tick()
    before = sorted(states(world, "prod-idp"))
    saved = world.snapshot()
    world.stop()
    again = aws(restore=saved)
    assert sorted(i for i, _, _ in states(again, "prod-idp")) == [i for i, _, _ in before]
    launched = {i["InstanceId"]: i["LaunchTime"] for r in client(again, "ec2").describe_instances()["Reservations"]
                for i in r["Instances"]}
    assert all(launched[m.id].timestamp() == pytest.approx(m.launched, abs=1) for m in again.machines.values())
    assert sum((time.time() - t.timestamp()) > 86400 for t in launched.values()) == 8  # laid out days ago
    g = client(again, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["prod-idp"])["AutoScalingGroups"][0]
    assert g["DesiredCapacity"] == 6 and all(i["ProtectedFromScaleIn"] for i in g["Instances"])


def test_a_saved_world_keeps_a_finished_migration_instance_and_its_log(aws):
    world = aws()
    asg = client(world, "autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
    world.tick()
    (iid, _, _), = states(world, "prod-migration")
    later(world, rules.BOOT_SECONDS + rules.PROVISION_SECONDS + rules.MIGRATION_SECONDS + 1)
    asg.update_auto_scaling_group(AutoScalingGroupName="prod-migration", MinSize=0, DesiredCapacity=0)
    world.tick()
    assert states(world, "prod-migration") == []
    saved = world.snapshot()
    world.stop()
    again = aws(restore=saved)
    found = [i for r in client(again, "ec2").describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["asg-prod-migration"]}])["Reservations"] for i in r["Instances"]]
    assert [(i["InstanceId"], i["State"]["Name"]) for i in found] == [(iid, "terminated")]
    stream = rules.LOG_STREAM.format(role="migration", instance=iid, env="prod")
    events = client(again, "logs").get_log_events(logGroupName=rules.LOG_GROUP, logStreamName=stream)["events"]
    assert events[-1]["message"].startswith(rules.CLOUD_INIT_DONE)
