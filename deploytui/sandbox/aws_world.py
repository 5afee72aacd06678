"""A login.gov-like AWS account on moto's server (127.0.0.1), for rehearsals and tests.

    world = start_world(["prod"])        # server on a free port, account laid out
    os.environ.update(world.env)         # or pass world.env as the run's environment
    world.tick()                         # play the autoscaler: due scheduled actions, scale-in, logs
    world.stop()

moto stores scheduled actions but never runs them, and does not re-converge a group when scale-in
protection is lifted; `tick()` (or `run_autoscaler()` in a thread) plays that part of AWS."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ACCOUNT = "123456789012"
LOG_GROUP = "/var/log/cloud-init-output.log"
# Instances per role in prod; other environments run half (at least one). migration idles at 0.
PROD_SIZES = {"idp": 4, "worker": 2, "pivcac": 2, "migration": 0}
AZS = ("a", "b", "c")
OLD_SHA = "3f5e1c9a7b2d4e6f8091a2b3c4d5e6f708192a3b"


def boto_env(endpoint: str, region: str = "us-west-2") -> dict[str, str]:
    """Environment variables that point boto3 (and the aws CLI) at the sandbox, with fake credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def _patch_moto() -> None:
    """moto keys scheduled actions by name alone, so prod-worker's RecycleOnce would replace
    prod-idp's; AWS keys them per group. Key them by (group, name) in this process."""
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend

    if getattr(AutoScalingBackend, "_deploytui_patched", False):
        return
    original_put = AutoScalingBackend.put_scheduled_update_group_action

    def put(self, name, *args, **kwargs):
        act = original_put(self, name, *args, **kwargs)
        self.scheduled_actions.pop(act.scheduled_action_name, None)
        self.scheduled_actions[(name, act.scheduled_action_name)] = act
        return act

    def delete(self, auto_scaling_group_name, scheduled_action_name):
        if self.scheduled_actions.pop((auto_scaling_group_name, scheduled_action_name), None) is None:
            raise ValidationError("Scheduled action name not found")

    AutoScalingBackend.put_scheduled_update_group_action = put
    AutoScalingBackend.delete_scheduled_action = delete
    AutoScalingBackend._deploytui_patched = True


def start_server() -> tuple[object, str]:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port; returns (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    _patch_moto()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request lines on a TUI's terminal
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def cloud_init_log(env: str, role: str, instance_id: str, sha: str) -> list[str]:
    """What /var/log/cloud-init-output.log holds on a login.gov instance after provisioning."""
    host = f"{role}-{instance_id}.{env}.login.gov"
    return [
        "Cloud-init v. 23.1.2-0ubuntu0~20.04.1 running 'init' at Mon, 23 Nov 2026 09:00:01 +0000.",
        "ci-info: ++++++++++++++++++++++++++Net device info+++++++++++++++++++++++++++",
        f"Cloud-init v. 23.1.2 running 'modules:final'. Up 21.04 seconds. Host {host}",
        f"provision.sh: cloning identity-devops into /etc/login.gov/repos (role {role}, env {env})",
        f"provision.sh: checking out {role} at {sha[:9]}",
        "Starting Chef Infra Client, version 17.10.0",
        f"Compiling Cookbooks... recipe[identity-{role}::default]",
        "Converging 214 resources",
        "  * execute[bundle install] action run",
        "  * execute[rake db:migrate]" if role == "migration" else "  * service[passenger] action restart",
        "Chef Infra Client finished, 61/214 resources updated in 04 minutes 12 seconds",
        f"All done! provision.sh finished for {role} in {env} at {sha[:9]}",
    ]


@dataclass
class AwsWorld:
    endpoint: str
    region: str = "us-west-2"
    server: object | None = None
    envs: list[str] = field(default_factory=list)
    sha: str = OLD_SHA  # the gitsha:idp tag new instances get (see deploy())
    _pending_logs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    _clients: dict[str, object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def env(self) -> dict[str, str]:
        return boto_env(self.endpoint, self.region)

    def client(self, service: str):
        import boto3

        if service not in self._clients:
            self._clients[service] = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
                region_name=self.region,
            ).client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    # -- layout -------------------------------------------------------------------------------

    def layout(self, env: str, sizes: dict[str, int] | None = None, protect: bool | None = None) -> None:
        """VPC, subnets, launch templates, target groups, ASGs with instances, cloud-init logs."""
        if sizes is None:
            sizes = PROD_SIZES if env == "prod" else {r: (max(1, n // 2) if n else 0)
                                                      for r, n in PROD_SIZES.items()}
        if protect is None:
            protect = env == "prod"  # login.gov protects prod from scale-in until scale-remove-old
        ec2, asg, elb, logs = (self.client(s) for s in ("ec2", "autoscaling", "elbv2", "logs"))
        n = len(self.envs)
        vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": f"login-vpc-{env}"}])
        subnets = []
        for i, az in enumerate(AZS):
            sn = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.{i}.0/24",
                                   AvailabilityZone=f"{self.region}{az}")["Subnet"]["SubnetId"]
            ec2.create_tags(Resources=[sn], Tags=[{"Key": "Name", "Value": f"{env}-app-{az}"}])
            subnets.append(sn)
        image = ec2.register_image(Name=f"login-{env}-base-20261117", RootDeviceName="/dev/sda1",
                                   Architecture="x86_64")["ImageId"]
        try:
            logs.create_log_group(logGroupName=LOG_GROUP)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        for role, size in sizes.items():
            name = f"{env}-{role}"
            itype = {"idp": "c6i.xlarge", "worker": "c6i.large"}.get(role, "t3.medium")
            lt = ec2.create_launch_template(
                LaunchTemplateName=name,
                LaunchTemplateData={"ImageId": image, "InstanceType": itype},
            )["LaunchTemplate"]["LaunchTemplateId"]
            tg_arns = []
            if role in ("idp", "pivcac"):
                tg = elb.create_target_group(Name=f"{env}-{role}-ssl", Protocol="HTTPS", Port=443,
                                             VpcId=vpc, TargetType="instance",
                                             HealthCheckPath="/api/health")["TargetGroups"][0]
                elb.add_tags(ResourceArns=[tg["TargetGroupArn"]],
                             Tags=[{"Key": "prefix", "Value": env}, {"Key": "health_role", "Value": role}])
                tg_arns.append(tg["TargetGroupArn"])
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
                MinSize=0 if role == "migration" else max(1, size // 2),
                MaxSize=max(1, size) * 4,
                DesiredCapacity=size,
                HealthCheckType="ELB" if tg_arns else "EC2",
                HealthCheckGracePeriod=300,
                VPCZoneIdentifier=",".join(subnets),
                TargetGroupARNs=tg_arns,
                TerminationPolicies=["OldestInstance"],
                NewInstancesProtectedFromScaleIn=protect and role != "migration",
                Tags=[
                    {"Key": "Name", "Value": f"asg-{env}-{role}", "PropagateAtLaunch": True},
                    {"Key": "gitsha:idp", "Value": self.sha, "PropagateAtLaunch": True},
                    {"Key": "prefix", "Value": env, "PropagateAtLaunch": True},
                ],
            )
        self.envs.append(env)
        self._backdate(days=3)
        self._ship_logs(all_at_once=True)

    def _backdate(self, days: float) -> None:
        """Give the instances that exist now a launch time in the past (moto stamps 'now')."""
        try:
            from moto.ec2.models import ec2_backends
        except ImportError:
            return
        backend = ec2_backends[ACCOUNT][self.region]
        then = datetime.now(UTC) - timedelta(days=days)
        for i, inst in enumerate(sorted(backend.all_instances(), key=lambda x: x.id)):
            if getattr(inst, "_deploytui_backdated", False):
                continue
            inst.launch_time = (then + timedelta(seconds=7 * i)).replace(tzinfo=None)
            inst._deploytui_backdated = True

    # -- what AWS would do by itself ------------------------------------------------------------

    def deploy(self, sha: str) -> None:
        """New instances from now on carry this gitsha:idp (a new release was built)."""
        self.sha = sha
        asg = self.client("autoscaling")
        for g in self._groups():
            asg.create_or_update_tags(Tags=[{
                "ResourceId": g["AutoScalingGroupName"], "ResourceType": "auto-scaling-group",
                "Key": "gitsha:idp", "Value": sha, "PropagateAtLaunch": True}])

    def _groups(self) -> list[dict]:
        pages = self.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate()
        return [g for p in pages for g in p["AutoScalingGroups"]
                if any(g["AutoScalingGroupName"].startswith(f"{e}-") for e in self.envs)]

    def tick(self, now: datetime | None = None) -> list[str]:
        """Run due one-time scheduled actions, terminate unprotected surplus instances, ship new
        instances' cloud-init lines. Returns what it did, one line each."""
        now = now or datetime.now(UTC)
        did: list[str] = []
        with self._lock:
            asg = self.client("autoscaling")
            for g in self._groups():
                name = g["AutoScalingGroupName"]
                acts = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
                for a in sorted(acts, key=lambda a: a["StartTime"]):
                    if a.get("Recurrence") or a["StartTime"] > now:
                        continue
                    kw = {k: a[k] for k in ("MinSize", "MaxSize", "DesiredCapacity") if k in a}
                    asg.update_auto_scaling_group(AutoScalingGroupName=name, **kw)
                    asg.delete_scheduled_action(AutoScalingGroupName=name,
                                                ScheduledActionName=a["ScheduledActionName"])
                    did.append(f"{name}: {a['ScheduledActionName']} -> desired {kw.get('DesiredCapacity')}")
                g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
                surplus = len(g["Instances"]) - g["DesiredCapacity"]
                if surplus > 0 and any(not i.get("ProtectedFromScaleIn") for i in g["Instances"]):
                    # moto only scales in when asked; AWS does it as soon as protection is lifted
                    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=g["DesiredCapacity"])
                    after = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
                    gone = len(g["Instances"]) - len(after["Instances"])
                    if gone:
                        did.append(f"{name}: terminated {gone} unprotected instance(s)")
            did += self._ship_logs()
        return did

    def _ship_logs(self, all_at_once: bool = False) -> list[str]:
        """Write cloud-init lines for new instances: all at once at layout, a few per tick after."""
        ec2, logs = self.client("ec2"), self.client("logs")
        did = []
        # terminated too: a migration instance may come and go between two ticks
        for r in ec2.describe_instances()["Reservations"]:
            for inst in r["Instances"]:
                iid = inst["InstanceId"]
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                name = tags.get("Name", "")
                if not name.startswith("asg-") or iid in self._pending_logs:
                    continue
                env_, role = name[4:].split("-", 1)
                stream = f"{role}-{iid}.{env_}.login.gov"
                logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
                self._pending_logs[iid] = (stream, cloud_init_log(env_, role, iid, tags.get("gitsha:idp", "")))
        for iid, (stream, lines) in self._pending_logs.items():
            if not lines:
                continue
            batch, rest = (lines, []) if all_at_once else (lines[:4], lines[4:])
            self._pending_logs[iid] = (stream, rest)
            ms = int(time.time() * 1000)
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream,
                                logEvents=[{"timestamp": ms + i, "message": m} for i, m in enumerate(batch)])
            if not all_at_once:
                did.append(f"{stream}: {len(batch)} cloud-init line(s)")
        return did

    def run_autoscaler(self, every: float = 1.0) -> threading.Thread:
        """tick() in a daemon thread until stop()."""

        def loop():
            while not self._stop.wait(every):
                try:
                    self.tick()
                except Exception as err:  # the sandbox must not kill a rehearsal
                    logging.getLogger(__name__).warning("sandbox autoscaler: %s", err)

        t = threading.Thread(target=loop, name="sandbox-autoscaler", daemon=True)
        t.start()
        return t

    def reset(self) -> None:
        """Empty the account and lay the same environments out again (tests)."""
        import urllib.request

        envs, self.envs, self.sha = list(self.envs), [], OLD_SHA
        self._pending_logs.clear()
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"))
        for e in envs:
            self.layout(e)

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.stop()


def start_world(envs: list[str] | tuple[str, ...] = ("prod",), region: str = "us-west-2") -> AwsWorld:
    """Start moto on 127.0.0.1 and lay out the given environments. `world.env` points boto3 at it."""
    server, endpoint = start_server()
    world = AwsWorld(endpoint=endpoint, region=region, server=server)
    for env in envs:
        world.layout(env)
    return world
