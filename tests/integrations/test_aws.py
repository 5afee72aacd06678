"""aws.* against moto's server laid out like login.gov's prod account."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from deploytui.errors import ActionError
from deploytui.integrations import aws
from deploytui.sandbox.aws_world import cloud_init_log

pytestmark = pytest.mark.timeout(60)


def _group(world, name):
    return world.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def test_servers_lists_the_role_and_summarises_health(world, recorder):
    r = recorder(world.env)
    out = aws.servers(r.ctx, env="prod", role="idp")
    in_aws = sorted(i["InstanceId"] for i in _group(world, "prod-idp")["Instances"])
    assert sorted(out["ids"]) == in_aws and out["count"] == 4
    columns, rows, bad = r.tables[-1]
    assert columns[:3] == ["instance-id", "image-id", "name"] and "sha" in columns
    assert {row[2] for row in rows} == {"asg-prod-idp"} and bad == set()
    assert {row[columns.index("sha")] for row in rows} == {world.sha[:9]}
    assert r.lines[-1] == "4/4 instances InService and healthy: all healthy"
    assert out["all_healthy"] is True

    everything = aws.servers(recorder(world.env).ctx, env="prod", role="ALL")
    assert everything["count"] == 8  # idp 4, worker 2, pivcac 2, migration 0


def test_servers_colours_unhealthy_rows(world, recorder):
    ids = sorted(i["InstanceId"] for i in _group(world, "prod-idp")["Instances"])
    world.client("autoscaling").set_instance_health(InstanceId=ids[0], HealthStatus="Unhealthy")
    world.client("ec2").stop_instances(InstanceIds=[ids[1]])
    r = recorder(world.env)
    out = aws.servers(r.ctx, env="prod", role="idp")
    _, rows, bad = r.tables[-1]
    assert {rows[n][0] for n in bad} == {ids[0], ids[1]}
    assert out["healthy"] == 2 and out["all_healthy"] is False
    assert r.lines[-1].startswith("2/4 instances InService and healthy: 2 not healthy")


def test_unknown_environment_and_missing_credentials_are_one_line(world, recorder, monkeypatch):
    with pytest.raises(ActionError, match="no VPC tagged Name=login-vpc-nope"):
        aws.servers(recorder(world.env).ctx, env="nope")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    env = {"AWS_ENDPOINT_URL": world.endpoint, "AWS_REGION": world.region}
    with pytest.raises(ActionError, match="AWS credentials not found: run under aws-vault exec"):
        aws.asg_size(recorder(env).ctx, env="prod", role="idp")


def test_asg_size(world, recorder):
    r = recorder(world.env)
    out = aws.asg_size(r.ctx, env="prod", role="idp")
    assert (out["desired"], out["min"], out["max"]) == (4, 2, 16)
    assert out["health_check_type"] == "ELB" and out["grace"] == 300 and out["scheduled"] == []
    with pytest.raises(ActionError, match="no auto scaling group prod-web"):
        aws.asg_size(r.ctx, env="prod", role="web")


def test_recycle_then_scale_in_old_instances(world, recorder):
    asg = world.client("autoscaling")
    old_idp = {i["InstanceId"] for i in _group(world, "prod-idp")["Instances"]}
    world.deploy("9c0ffee1234567890abcdef1234567890abcdef0")
    r = recorder(world.env, time_scale=300)  # spin-up 300 s -> 1 s, grace 300 s -> 1 s
    out = aws.asg_recycle(r.ctx, env="prod", role="idp")

    # migration first: its group goes to 1 now and back to 0 with the recycle
    assert out["migration_groups"] == ["prod-migration"]
    assert _group(world, "prod-migration")["DesiredCapacity"] == 1
    # scheduled 2N then N, on idp and worker, under bin/asg-recycle's names
    assert out["groups"] == ["prod-idp", "prod-worker"]
    for name, n in (("prod-idp", 4), ("prod-worker", 2)):
        acts = {a["ScheduledActionName"]: a for a in asg.describe_scheduled_actions(
            AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]}
        assert acts["DelayedScaleOutOnce.asg-recycle"]["DesiredCapacity"] == 2 * n
        assert acts["RecycleOnce.asg-recycle"]["DesiredCapacity"] == n
        assert acts["RecycleOnce.asg-recycle"]["StartTime"] > acts["DelayedScaleOutOnce.asg-recycle"]["StartTime"]
    assert "prod-idp: Will increase to 8 instances in 1s" in r.text
    assert "prod-idp: Will return to 4 instances in 3s" in r.text  # 300 s + max(2 x grace, 600 s)

    with pytest.raises(ActionError, match="prod-idp already has a recycle scheduled"):
        aws.asg_recycle(recorder(world.env).ctx, env="prod", role="idp")
    with pytest.raises(ActionError, match="recycle still in progress until"):
        aws.scale_in(recorder(world.env).ctx, env="prod", role="idp")

    # AWS runs the scheduled actions; prod's protection keeps the old instances
    world.tick(now=datetime.now(UTC) + timedelta(seconds=2))
    assert len(_group(world, "prod-idp")["Instances"]) == 8
    world.tick(now=datetime.now(UTC) + timedelta(hours=1))
    g = _group(world, "prod-idp")
    assert g["DesiredCapacity"] == 4 and len(g["Instances"]) == 8
    assert _group(world, "prod-migration")["DesiredCapacity"] == 0
    new_idp = {i["InstanceId"] for i in g["Instances"]} - old_idp

    later = recorder(world.env, time_scale=300, clock=lambda: time.time() + 5)
    res = aws.scale_in(later.ctx, env="prod", role="idp", which="old")
    assert set(res["kept"]) == new_idp and set(res["removed"]) == old_idp
    assert "prod-idp: To keep:" in later.text and "prod-idp: To remove:" in later.text
    protected = {i["InstanceId"]: i["ProtectedFromScaleIn"] for i in _group(world, "prod-idp")["Instances"]}
    assert all(protected[i] for i in new_idp) and not any(protected[i] for i in old_idp)

    world.tick()
    assert {i["InstanceId"] for i in _group(world, "prod-idp")["Instances"]} == new_idp
    shas = aws.servers(recorder(world.env).ctx, env="prod", role="idp")["shas"]
    assert shas == ["9c0ffee12"]


def test_scale_in_refuses_when_a_kept_instance_is_unhealthy(world, recorder):
    asg = world.client("autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName="prod-pivcac", DesiredCapacity=4)
    asg.update_auto_scaling_group(AutoScalingGroupName="prod-pivcac", DesiredCapacity=2)  # protected: stays 4
    g = _group(world, "prod-pivcac")
    assert len(g["Instances"]) == 4
    ids = [i["InstanceId"] for i in g["Instances"]]
    new = [i for i in ids if not world.client("ec2").describe_instances(InstanceIds=[i])[
        "Reservations"][0]["Instances"][0]["LaunchTime"] < datetime.now(UTC) - timedelta(days=1)]
    assert _wait_for(lambda: all(i["LifecycleState"] == "InService" for i in _group(world, "prod-pivcac")["Instances"]))
    asg.set_instance_health(InstanceId=new[0], HealthStatus="Unhealthy")
    r = recorder(world.env, time_scale=300, clock=lambda: time.time() + 5)
    with pytest.raises(ActionError, match=f"refusing to scale in prod-pivcac: {new[0]}, which would be kept"):
        aws.scale_in(r.ctx, env="prod", role="pivcac", which="old")
    assert all(i["ProtectedFromScaleIn"] for i in _group(world, "prod-pivcac")["Instances"])
    # rolling back instead: keep the old ones, remove the new
    res = aws.scale_in(r.ctx, env="prod", role="pivcac", which="new")
    assert set(res["removed"]) == set(new)


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


def test_logs_tail_follows_the_newest_migration_instance(world, recorder):
    r = recorder(world.env)
    t, result = _tail(r, group="/var/log/cloud-init-output.log", instance="newest:asg-prod-migration", poll="0.1")
    assert _wait_for(lambda: any(line.startswith("waiting for an instance asg-prod-migration") for line in r.lines))
    world.client("autoscaling").set_desired_capacity(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
    for _ in range(4):  # the sandbox ships cloud-init output a few lines per tick
        world.tick()
    assert _wait_for(lambda: any("All done! provision.sh finished for identity-devops" in x for x in r.lines))
    r.ctx.cancelled.set()
    t.join(5)
    iid = _group(world, "prod-migration")["Instances"][0]["InstanceId"]
    assert result["instance"] == iid and result["stream"] == f"migration-{iid}.prod.login.gov"
    assert result["lines"] == len(cloud_init_log("prod", "migration", iid, "")) and r.text.count("All done!") == 1


def test_logs_tail_polls_in_world_time_in_a_rehearsal(world, recorder):
    """A minute between looks in the world is a tenth of a second at 600x: the pane keeps up with the world."""
    r = recorder(world.env, time_scale=600)
    t, result = _tail(r, group="/var/log/cloud-init-output.log", instance="newest:asg-prod-migration", poll="60")
    assert _wait_for(lambda: any(line.startswith("waiting for an instance asg-prod-migration") for line in r.lines))
    world.client("autoscaling").set_desired_capacity(AutoScalingGroupName="prod-migration", DesiredCapacity=1)
    for _ in range(4):
        world.tick()
    # polling a real minute apart, the second look (the one that finds the instance) would be a minute away
    assert _wait_for(lambda: any("All done!" in x for x in r.lines), seconds=5)
    r.ctx.cancelled.set()
    t.join(5)


def test_logs_tail_unknown_group(world, recorder):
    with pytest.raises(ActionError, match="no CloudWatch log group /nope"):
        aws.logs_tail(recorder(world.env).ctx, group="/nope", instance="asg-prod-idp")
