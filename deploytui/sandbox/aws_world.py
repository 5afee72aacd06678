"""A login.gov-like AWS account on moto's server (127.0.0.1), played by the world's rules (rules.py).

    world = start_world(["prod"], clock=WorldClock(scale=60))   # server on a free port, account laid out
    world.env                            # points boto3 and the aws CLI at it, with this world's session
    world.tick()                         # play AWS: boot and provision instances, run due scheduled actions
    world.run_autoscaler(every=0.2)      # ... in a thread until stop()
    state = world.snapshot(); other.restore(state)   # a rehearsal resumed in a new process

moto stores scheduled actions but never runs them, starts instances InService and healthy at once,
accepts any SSM document and never expires a session; this module plays those parts of AWS."""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import rules
from .clock import WorldClock

ACCOUNT = "123456789012"
AZS = ("a", "b", "c")
OLD_SHA = "3f5e1c9a7b2d4e6f8091a2b3c4d5e6f708192a3b"
LOG_GROUP = rules.LOG_GROUP  # where cloud-init output is shipped (callers of the world name it from here)
TERMINATED_SHOWN = 3600  # world seconds a terminated instance stays listed (and saved)
log = logging.getLogger(__name__)


def boto_env(endpoint: str, region: str = "us-west-2", token: str = "testing") -> dict[str, str]:
    """Environment variables that point boto3 (and the aws CLI) at the sandbox, with this world's session."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "ASIAREHEARSAL0000000",
        "AWS_SECRET_ACCESS_KEY": "rehearsal-secret-not-a-real-key",
        "AWS_SESSION_TOKEN": token,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


# ---------------------------------------------------------------- moto, made to behave like AWS
_health_hook = None  # (instance id) -> (state, reason, description) or None: the world's target health
_live: AwsWorld | None = None  # moto keeps one account per process, so one world lives in it at a time


def _slim_moto(region: str) -> None:
    """moto loads EC2 instance-type offerings for every region of every partition when it is imported
    (tens of MB of objects); the world has one region."""
    import moto.utilities.utils as utils

    if getattr(utils, "_deploytui_slim", False):
        return
    original = utils.load_resource

    def load_resource(filename, *args, **kwargs):
        name = str(filename)
        if "instance_type_offerings" in name and not name.rsplit("/", 1)[-1].startswith(region + "."):
            return []
        return original(filename, *args, **kwargs)

    _patch(utils, "load_resource", load_resource)
    _patch(utils, "_deploytui_slim", True)


def _patch(target: Any, name: str, value: Any) -> None:
    """Replace moto's `target.name` where the world plays AWS more faithfully than moto does."""
    setattr(target, name, value)


def _patch_moto() -> None:
    _slim_moto("us-west-2")
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup
    from moto.ssm.exceptions import InvalidDocument
    from moto.ssm.models import SimpleSystemManagerBackend

    if getattr(AutoScalingBackend, "_deploytui_patched", False):
        return
    original_put = AutoScalingBackend.put_scheduled_update_group_action

    # moto keys scheduled actions by name alone, so prod-worker's RecycleOnce would replace prod-idp's;
    # AWS keys them per group.
    def put(self, name, *args, **kwargs):
        act = original_put(self, name, *args, **kwargs)
        self.scheduled_actions.pop(act.scheduled_action_name, None)
        self.scheduled_actions[(name, act.scheduled_action_name)] = act
        return act

    def delete(self, auto_scaling_group_name, scheduled_action_name):
        if self.scheduled_actions.pop((auto_scaling_group_name, scheduled_action_name), None) is None:
            raise ValidationError("Scheduled action name not found")

    # only the account's documents (and AWS-owned ones) can be sent
    original_send = SimpleSystemManagerBackend.send_command

    def send_command(self, comment, document_name, *args, **kwargs):
        if not (document_name or "").startswith("AWS-") and document_name not in self._documents:
            raise InvalidDocument("The specified document does not exist.")
        return original_send(self, comment, document_name, *args, **kwargs)

    original_health = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        seen = _health_hook(target["Id"]) if _health_hook and target["Id"] in self.targets else None
        if seen is None:
            return original_health(self, target, ec2_backend)
        return FakeHealthStatus(target["Id"], self.targets[target["Id"]]["Port"], self.health_check_port, *seen)

    # an instance a group launches is Pending until the world has played its boot (its EC2 state turns
    # `pending` at the next tick: moto registers targets only while they are `running`)
    original_state = InstanceState.__init__

    def state_init(self, instance, lifecycle_state="Pending", *args, **kwargs):
        original_state(self, instance, lifecycle_state, *args, **kwargs)

    _patch(InstanceState, "__init__", state_init)

    # the load balancer gets an instance once it runs (moto registers every member, and refuses `pending`)
    def update_attached_target_groups(self, group_name):
        group = self.autoscaling_groups[group_name]
        if not group.target_group_arns:
            return
        running = [{"Id": st.instance.id} for st in group.instance_states if st.instance._state.name == "running"]
        for tg in self.elbv2_backend.describe_target_groups(target_group_arns=group.target_group_arns,
                                                            load_balancer_arn=None, names=None):
            if running:
                self.elbv2_backend.register_targets(tg.arn, [{**t, "Port": tg.port} for t in running])

    _patch(AutoScalingBackend, "update_attached_target_groups", update_attached_target_groups)

    # AWS lists a command's invocations (ListCommandInvocations); moto does not
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse

    def list_command_invocations(self):
        cid, iid = self._get_param("CommandId"), self._get_param("InstanceId")
        invocations = [dict(inv) for c in self.ssm_backend.list_commands(cid, None) for inv in c.invocations
                       if not iid or inv["InstanceId"] == iid]
        return ActionResult({"CommandInvocations": invocations})

    _patch(SimpleSystemManagerResponse, "list_command_invocations", list_command_invocations)
    # ... and counts towards the group's capacity while it boots, as in AWS (moto counts InService only)
    _patch(FakeAutoScalingGroup, "active_instances", lambda self: [
        x for x in self.instance_states if not x.lifecycle_state.startswith(("Terminat", "Detach"))])
    _patch(AutoScalingBackend, "put_scheduled_update_group_action", put)
    _patch(AutoScalingBackend, "delete_scheduled_action", delete)
    _patch(SimpleSystemManagerBackend, "send_command", send_command)
    _patch(FakeTargetGroup, "health_for", health_for)
    _patch(AutoScalingBackend, "_deploytui_patched", True)


@contextlib.contextmanager
def _instance_ids(ids: list[str]) -> Iterator[None]:
    """moto names instances at random; a restored world gives them back their names."""
    import moto.ec2.models.instances as instances

    original, queue = instances.random_instance_id, list(ids)
    instances.random_instance_id = lambda: queue.pop(0) if queue else original()
    try:
        yield
    finally:
        instances.random_instance_id = original


class _Gate:
    """WSGI middleware in front of moto: AWS's answer to an expired session."""

    def __init__(self, app, world: AwsWorld):
        self.app, self.world = app, world

    def __call__(self, environ, start_response):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
        if token and self.world.session_expired(token):
            return self._expired(auth, environ, start_response)
        if self.world.watching_for_recycle():
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            if b"Action=PutScheduledUpdateGroupAction" in body:
                self.world.recycle_seen()
        return self.app(environ, start_response)

    @staticmethod
    def _expired(auth, environ, start_response):
        service = auth.split("Credential=", 1)[-1].split("/")[3] if "Credential=" in auth else ""
        if environ.get("HTTP_X_AMZ_TARGET"):  # JSON protocol (logs, ssm, ...)
            body = b'{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}'
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
        elif service == "ec2":
            body = (b"<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired."
                    b"</Message></Error></Errors><RequestID>rehearsal</RequestID></Response>")
            start_response("400 Bad Request", [("Content-Type", "text/xml")])
        else:
            body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security "
                    b"token included in the request is expired</Message></Error><RequestId>rehearsal</RequestId>"
                    b"</ErrorResponse>")
            start_response("403 Forbidden", [("Content-Type", "text/xml")])
        return [body]


def start_server(world: AwsWorld | None = None) -> tuple[object, str]:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port (behind the world's gate); (server, URL)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, _Gate(app, world) if world else app, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    _patch_moto()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request lines on a TUI's terminal
    server = Server(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


# ---------------------------------------------------------------- instances
def cloud_init_log(env: str, role: str, instance_id: str, sha: str, migration_fails: bool = False) -> list[str]:
    """What /var/log/cloud-init-output.log holds on a login.gov instance as it is provisioned."""
    host = f"{role}-{instance_id}.{env}.login.gov"
    lines = [
        "Cloud-init v. 23.1.2-0ubuntu0~20.04.1 running 'init' at Mon, 23 Nov 2026 09:00:01 +0000.",
        "ci-info: ++++++++++++++++++++++++++Net device info+++++++++++++++++++++++++++",
        f"Cloud-init v. 23.1.2 running 'modules:final'. Up 21.04 seconds. Host {host}",
        f"provision.sh: cloning identity-devops into /etc/login.gov/repos (role {role}, env {env})",
        f"provision.sh: checking out {role} at {sha[:9]}",
        "Starting Chef Infra Client, version 17.10.0",
        f"Compiling Cookbooks... recipe[identity-{role}::default]",
        "Converging 214 resources",
        "  * execute[bundle install] action run",
    ]
    if role == "migration":
        lines += ["  * execute[rake db:migrate] action run",
                  "    == 20261117093012 AddIndexOnProfilesVerifiedAt: migrating ========",
                  "    -- add_index(:profiles, :verified_at, {:algorithm=>:concurrently})"]
        if migration_fails:
            return lines + [
                "    rake aborted!",
                "    StandardError: An error has occurred, all later migrations canceled:",
                "    PG::DuplicateTable: ERROR:  relation \"index_profiles_on_verified_at\" already exists",
                "    ================================================================================",
                "    Error executing action `run` on resource 'execute[rake db:migrate]'",
                "Chef Infra Client failed. 58 resources updated in 03 minutes 40 seconds",
                f"provision.sh: ERROR: chef-client failed for {role} in {env} (exit 1)",
                "provision.sh: completing lifecycle action with ABANDON",
            ]
        lines += ["    == 20261117093012 AddIndexOnProfilesVerifiedAt: migrated (41.2811s) ==="]
    else:
        lines += ["  * service[passenger] action restart"]
    return lines + [
        "Chef Infra Client finished, 61/214 resources updated in 04 minutes 12 seconds",
        f"{rules.CLOUD_INIT_DONE} ({role} in {env} at {sha[:9]})",
    ]


@dataclass
class Machine:
    """What the world knows of an instance beyond moto: when it was launched and how it will end."""

    id: str
    env: str
    role: str
    sha: str
    launched: float  # a world-clock reading
    fails: str = ""  # "" | "health" | "migration"
    shipped: int = 0  # cloud-init lines sent to CloudWatch Logs
    gone: bool = False

    @property
    def ready_after(self) -> float:
        extra = rules.MIGRATION_SECONDS if self.role == "migration" else 0
        return rules.BOOT_SECONDS + rules.PROVISION_SECONDS + extra

    def log(self) -> list[str]:
        return cloud_init_log(self.env, self.role, self.id, self.sha, self.fails == "migration")


@dataclass
class AwsWorld:
    endpoint: str = ""
    clock: WorldClock = field(default_factory=WorldClock)
    faults: frozenset[str] = frozenset()
    region: str = "us-west-2"
    server: Any = None
    envs: list[str] = field(default_factory=list)
    sha: str = OLD_SHA  # the gitsha:idp tag new instances get (see deploy())
    token: str = field(default_factory=lambda: "rehearsal-" + secrets.token_hex(12))
    machines: dict[str, Machine] = field(default_factory=dict)
    deploys: int = 0  # releases deployed since the world was laid out
    bad_sha: str = ""  # unhealthy-instances: the release whose instances fail their health checks
    expires_at: float | None = None  # aws-session-expires: when this session's token stops working
    expired_tokens: set[str] = field(default_factory=set)
    laid_out_at: float = 0.0  # instances launched after this are the rehearsal's own
    start_offset: float = 0.0  # the clock's offset when the world began
    _clients: dict[str, object] = field(default_factory=dict)
    _session: Any = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def env(self) -> dict[str, str]:
        return boto_env(self.endpoint, self.region, self.token)

    def client(self, service: str):
        """The world's own client: never reads the operator's AWS profile or config."""
        import boto3
        import botocore.session

        if service not in self._clients:
            if self._session is None:  # one session: its loader reads each model and endpoint file once
                core = botocore.session.Session()
                core.session_var_map["profile"] = (None, None, None, None)  # not from AWS_PROFILE
                self._session = boto3.session.Session(botocore_session=core, aws_access_key_id="ASIAWORLD",
                                                      aws_secret_access_key="world", region_name=self.region)
            self._clients[service] = self._session.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    def _backends(self):
        from moto.autoscaling.models import autoscaling_backends
        from moto.ec2.models import ec2_backends

        return autoscaling_backends[ACCOUNT][self.region], ec2_backends[ACCOUNT][self.region]

    # -- sessions -------------------------------------------------------------------------------
    def session_expired(self, token: str) -> bool:
        if token in self.expired_tokens:
            return True
        if token == self.token and self.expires_at is not None and self.clock.now() >= self.expires_at:
            self.expired_tokens.add(token)
            return True
        return False

    def watching_for_recycle(self) -> bool:
        return "aws-session-expires" in self.faults and self.expires_at is None

    def recycle_seen(self) -> None:
        """aws-session-expires: the session runs out a few (world) minutes after the first recycle."""
        self.expires_at = self.clock.at(self.clock.now(), rules.RECYCLE_SPINUP)

    # -- layout -------------------------------------------------------------------------------
    def layout(self, env: str, sizes: dict[str, int] | None = None, groups: dict[str, dict] | None = None) -> None:
        """VPC, subnets, launch templates, target groups, ASGs with instances, SSM documents, cloud-init
        logs. `groups` (a snapshot's) gives each group its instances back instead of new ones."""
        if sizes is None:
            sizes = rules.PROD_SIZES if env == "prod" else {r: (max(1, n // 2) if n else 0)
                                                            for r, n in rules.PROD_SIZES.items()}
        protect = env in rules.PROTECTED_ENVS
        asg, elb, logs, ssm = (self.client(s) for s in ("autoscaling", "elbv2", "logs", "ssm"))
        ec2 = self._backends()[1]  # moto's own EC2: the actions' clients load the (large) EC2 model; once is enough
        n = len(self.envs)
        vpc = ec2.create_vpc(cidr_block=f"10.{n}.0.0/16").id
        ec2.create_tags([vpc], {"Name": rules.VPC_NAME.format(env=env)})
        subnets = []
        for i, az in enumerate(AZS):
            sn = ec2.create_subnet(vpc_id=vpc, cidr_block=f"10.{n}.{i}.0/24",
                                   availability_zone=f"{self.region}{az}").id
            ec2.create_tags([sn], {"Name": f"{env}-app-{az}"})
            subnets.append(sn)
        image = ec2.register_image(name=f"login-{env}-base-20261117").id
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=rules.LOG_GROUP)
        for doc in rules.SSM_COMMAND_DOCUMENTS:
            ssm.create_document(Name=rules.SSM_DOCUMENT.format(env=env, doc=doc), DocumentType="Command",
                                Content='{"schemaVersion": "2.2", "description": "' + doc + '", "mainSteps": '
                                        '[{"action": "aws:runShellScript", "name": "run", "inputs": '
                                        '{"runCommand": ["/etc/login.gov/bin/' + doc + '"]}}]}')
        for role, size in sizes.items():
            name = rules.ASG_NAME.format(env=env, role=role)
            itype = {"idp": "c6i.xlarge", "worker": "c6i.large"}.get(role, "t3.medium")
            lt = ec2.create_launch_template(name, "", {"ImageId": image, "InstanceType": itype}, {}).id
            tg_arns = []
            if role in rules.BALANCED_ROLES:
                tg = elb.create_target_group(Name=f"{env}-{role}-ssl", Protocol="HTTPS", Port=443, VpcId=vpc,
                                             TargetType="instance", HealthCheckPath="/api/health")["TargetGroups"][0]
                elb.add_tags(ResourceArns=[tg["TargetGroupArn"]], Tags=[
                    {"Key": k, "Value": v.format(env=env, role=role)} for k, v in rules.TARGET_GROUP_TAGS.items()])
                tg_arns.append(tg["TargetGroupArn"])
            saved = (groups or {}).get(name)
            instances = saved["instances"] if saved else []
            with _instance_ids([i["id"] for i in instances]):
                asg.create_auto_scaling_group(
                    AutoScalingGroupName=name,
                    LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
                    MinSize=0 if saved or role == "migration" else max(1, size // 2),
                    MaxSize=saved["max"] if saved else max(1, size) * 4,
                    DesiredCapacity=len(instances) if saved else size,
                    HealthCheckType="ELB" if tg_arns else "EC2",
                    HealthCheckGracePeriod=rules.HEALTH_CHECK_GRACE,
                    VPCZoneIdentifier=",".join(subnets),
                    TargetGroupARNs=tg_arns,
                    TerminationPolicies=["OldestInstance"],
                    NewInstancesProtectedFromScaleIn=protect and role != "migration",
                    Tags=[
                        {"Key": "Name", "Value": rules.INSTANCE_NAME.format(env=env, role=role),
                         "PropagateAtLaunch": True},
                        {"Key": "gitsha:idp", "Value": saved["sha"] if saved else self.sha, "PropagateAtLaunch": True},
                        {"Key": "prefix", "Value": env, "PropagateAtLaunch": True},
                    ],
                )
            if saved:
                self._give_back(name, saved)
        self.envs.append(env)
        if groups is None:
            self._settle_existing(days=3)

    def _settle_existing(self, days: float) -> None:
        """The instances laid out now have run for days: launched then, provisioned, logs shipped."""
        asb, ec2b = self._backends()
        then = self.clock.now() - days * 86400
        for g in asb.autoscaling_groups.values():
            for k, st in enumerate(sorted(g.instance_states, key=lambda s: s.instance.id)):
                iid = st.instance.id
                if iid in self.machines:
                    continue
                m = self._machine(st.instance, g.name, then + 7 * k)
                m.shipped = len(m.log())
                self._ship(m, m.log())
                self._play(m, st, asb)

    def _backdate(self, days: float) -> None:
        """Give the instances that exist now a launch time DAYS ago (tests: they ran at the last deploy)."""
        with self._lock:
            ec2, then = self._backends()[1], self.clock.now() - days * 86400
            for k, m in enumerate(sorted(self.machines.values(), key=lambda m: m.id)):
                m.launched = then + 7 * k
                inst = ec2.get_instance_by_id(m.id)
                if inst is not None:
                    inst.launch_time = datetime.fromtimestamp(m.launched, UTC).replace(tzinfo=None)

    def _give_back(self, name: str, saved: dict) -> None:
        asg, ec2 = self.client("autoscaling"), self._backends()[1]
        for i in saved["instances"]:
            asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=[i["id"]],
                                        ProtectedFromScaleIn=i["protected"])
            ec2.create_tags([i["id"]], {"gitsha:idp": i["sha"]})
        asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=saved["min"], MaxSize=saved["max"],
                                      DesiredCapacity=saved["desired"])
        for a in saved["scheduled"]:
            asg.put_scheduled_update_group_action(
                AutoScalingGroupName=name, ScheduledActionName=a["name"], StartTime=datetime.fromisoformat(a["start"]),
                **{k: a[k] for k in ("DesiredCapacity", "MinSize", "MaxSize") if a.get(k) is not None})

    # -- what AWS does by itself ----------------------------------------------------------------
    def deploy(self, sha: str) -> None:
        """New instances from now on carry this gitsha:idp (a release was merged into stages/prod)."""
        with self._lock:
            self.deploys += 1
            if self.deploys == 1 and "unhealthy-instances" in self.faults:
                self.bad_sha = sha
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

    def _machine(self, instance, group: str, launched: float) -> Machine:
        env, role = group.split("-", 1)
        sha = self._backends()[1].tags.get(instance.id, {}).get("gitsha:idp", self.sha)
        fails = ""
        if role == "migration" and "migration-fails" in self.faults:
            fails = "migration"
        elif role in rules.BALANCED_ROLES and "unhealthy-instances" in self.faults and launched > self.laid_out_at:
            # the release's instances fail; with no release yet (a config recycle) the new configuration does
            fails = "health" if (sha == self.bad_sha or not self.deploys) else ""
        m = Machine(instance.id, env, role, sha, launched, fails)
        instance.launch_time = datetime.fromtimestamp(launched, UTC).replace(tzinfo=None)
        self.machines[instance.id] = m
        return m

    def tick(self, now: datetime | None = None) -> list[str]:
        """Play AWS for the time that passed (until `now`: a test moves the world's clock on): instances
        boot and provision (or fail), due one-time scheduled actions run, unprotected surplus instances
        go, cloud-init lines are shipped. Returns what it did, one line each."""
        did: list[str] = []
        with self._lock:
            if now is not None and now.timestamp() > self.clock.now():
                self.clock.offset += now.timestamp() - self.clock.now()
            at = self.clock.now()
            asb, _ = self._backends()
            members = set()
            for g in list(asb.autoscaling_groups.values()):
                for st in list(g.instance_states):
                    members.add(st.instance.id)
                    m = self.machines.get(st.instance.id) or self._machine(st.instance, g.name, at)
                    did += self._play(m, st, asb)
            for m in self.machines.values():
                if not m.gone and m.id not in members:
                    m.gone = True
            did += self._scheduled(datetime.fromtimestamp(at, UTC))
        return did

    def _play(self, m: Machine, st, asb) -> list[str]:
        from moto.ec2.models.instances import InstanceState as Ec2State

        age = self.clock.since(m.launched)
        log_lines = m.log()
        if st.lifecycle_state not in ("Pending", "Pending:Wait", "InService"):
            return []  # Standby, Terminating, ...: someone else's doing
        if age < rules.BOOT_SECONDS:
            st.instance._state = Ec2State("pending", 0)
            st.lifecycle_state = "Pending"
            return []
        if st.instance._state.name == "pending":  # booted (a stopped one stays stopped)
            st.instance._state = Ec2State("running", 16)
            asb.update_attached_target_groups(rules.ASG_NAME.format(env=m.env, role=m.role))
        did = []
        provisioning = max(1.0, m.ready_after - rules.BOOT_SECONDS)
        due = len(log_lines) if age >= m.ready_after else \
            min(len(log_lines) - 1, 1 + int((age - rules.BOOT_SECONDS) / provisioning * len(log_lines)))
        if due > m.shipped:
            self._ship(m, log_lines[m.shipped:due])
            did.append(f"{m.id}: {due - m.shipped} cloud-init line(s)")
            m.shipped = due
        if age < m.ready_after:
            st.lifecycle_state = "Pending:Wait"  # the lifecycle hook waits for provision.sh
            return did
        if m.fails == "migration":  # ABANDON: the group terminates it and launches another
            m.gone = True
            asb.terminate_instance(m.id, should_decrement=False)
            return did + [f"{m.id}: provisioning failed; terminated (lifecycle action ABANDON)"]
        st.lifecycle_state = "InService"
        if m.fails == "health" and age > max(m.ready_after + rules.TARGET_HEALTHY_SECONDS, rules.HEALTH_CHECK_GRACE):
            st.health_status = "Unhealthy"  # ELB health checks count, past the grace period
        return did

    def _terminated(self, m: Machine) -> None:
        """A terminated instance of a saved world: listed (terminated) as AWS lists it for a while."""
        ec2 = self._backends()[1]
        image = next(iter(ec2.amis))
        with _instance_ids([m.id]):
            ec2.run_instances(image, 1, None, [], instance_type="t3.medium", is_instance_type_default=False,
                              placement=f"{self.region}{AZS[0]}",
                              tags={"instance": {"Name": rules.INSTANCE_NAME.format(env=m.env, role=m.role),
                                                 "gitsha:idp": m.sha}})
        ec2.terminate_instances([m.id])

    def target_health(self, iid: str) -> tuple[str, str | None, str | None] | None:
        m = self.machines.get(iid)
        if m is None:
            return None
        age = self.clock.since(m.launched)
        if age < m.ready_after + rules.TARGET_HEALTHY_SECONDS:
            return ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
        if m.fails == "health":
            return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
        return None

    def _scheduled(self, now: datetime) -> list[str]:
        did = []
        asg = self.client("autoscaling")
        for g in self._groups():
            name = g["AutoScalingGroupName"]
            acts = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
            for a in sorted(acts, key=lambda a: a["StartTime"]):
                if a.get("Recurrence") or a["StartTime"] > now:
                    continue
                kw = {k: a[k] for k in ("MinSize", "MaxSize", "DesiredCapacity") if k in a}
                asg.update_auto_scaling_group(AutoScalingGroupName=name, **kw)
                asg.delete_scheduled_action(AutoScalingGroupName=name, ScheduledActionName=a["ScheduledActionName"])
                did.append(f"{name}: {a['ScheduledActionName']} -> desired {kw.get('DesiredCapacity')}")
            g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
            surplus = len(g["Instances"]) - g["DesiredCapacity"]
            if surplus > 0 and any(not i.get("ProtectedFromScaleIn") for i in g["Instances"]):
                # moto only scales in when asked; AWS does as soon as protection is lifted
                asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=g["DesiredCapacity"])
                after = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
                gone = len(g["Instances"]) - len(after["Instances"])
                if gone:
                    did.append(f"{name}: terminated {gone} unprotected instance(s)")
        return did

    def _ship(self, m: Machine, lines: list[str]) -> None:
        if not lines:
            return
        logs = self.client("logs")
        stream = rules.LOG_STREAM.format(role=m.role, instance=m.id, env=m.env)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=rules.LOG_GROUP, logStreamName=stream)
        ms = int(self.clock.now() * 1000)
        logs.put_log_events(logGroupName=rules.LOG_GROUP, logStreamName=stream,
                            logEvents=[{"timestamp": ms + i, "message": x} for i, x in enumerate(lines)])

    def run_autoscaler(self, every: float = 0.2) -> threading.Thread:
        """tick() in a daemon thread until stop()."""
        global _health_hook
        _health_hook = self.target_health

        def loop():
            while not self._stop.wait(every):
                try:
                    self.tick()
                except Exception as err:  # the world must not kill a rehearsal (nor write on its screen)
                    if not self._stop.is_set():
                        log.debug("sandbox autoscaler: %s", err)

        t = threading.Thread(target=loop, name="sandbox-autoscaler", daemon=True)
        t.start()
        return t

    # -- a rehearsal resumed in another process -----------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            asg, asb = self.client("autoscaling"), self._backends()[0]
            groups = {}
            for g in self._groups():
                name = g["AutoScalingGroupName"]
                model = asb.autoscaling_groups[name]
                acts = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
                groups[name] = {
                    "desired": g["DesiredCapacity"], "min": g["MinSize"], "max": g["MaxSize"],
                    "sha": next((t["Value"] for t in g.get("Tags", []) if t["Key"] == "gitsha:idp"), self.sha),
                    "instances": [{"id": st.instance.id, "protected": bool(st.protected_from_scale_in),
                                   "sha": self.machines[st.instance.id].sha if st.instance.id in self.machines
                                   else self.sha} for st in model.instance_states],
                    "scheduled": [{"name": a["ScheduledActionName"], "start": a["StartTime"].isoformat(),
                                   **{k: a.get(k) for k in ("DesiredCapacity", "MinSize", "MaxSize")}}
                                  for a in acts]}
            return {"envs": list(self.envs), "sha": self.sha, "deploys": self.deploys, "bad_sha": self.bad_sha,
                    "session_expired": self.expires_at is not None or bool(self.expired_tokens),
                    "machines": {k: asdict(m) for k, m in self.machines.items()
                                 if not m.gone or self.clock.since(m.launched) < TERMINATED_SHOWN},
                    "groups": groups, "laid_out_at": self.laid_out_at}

    def restore(self, state: dict) -> None:
        with self._lock:
            self.sha, self.deploys, self.bad_sha = state["sha"], state["deploys"], state["bad_sha"]
            self.machines = {k: Machine(**m) for k, m in state["machines"].items()}
            self.laid_out_at = state.get("laid_out_at", 0.0)
            if state.get("session_expired"):
                self.expires_at = None  # a new session: aws-vault was run again (the fault has struck)
                self.faults = self.faults - {"aws-session-expires"}
            for env in state["envs"]:
                self.layout(env, groups=state["groups"])
            ec2 = self._backends()[1]
            for m in self.machines.values():
                if m.gone:
                    self._terminated(m)
                inst = ec2.get_instance_by_id(m.id)
                if inst is not None:  # launched when it was, not when moto made it again
                    inst.launch_time = datetime.fromtimestamp(m.launched, UTC).replace(tzinfo=None)
                self._ship(m, m.log()[:m.shipped])
            self.tick()

    def reset(self) -> None:
        """Empty the account and lay the same environments out again (tests)."""
        import urllib.request

        with self._lock:
            self.clock.offset = self.start_offset  # a test's tick(now=...) moved it on
            envs, self.envs, self.sha, self.deploys = list(self.envs), [], OLD_SHA, 0
            self.machines.clear()
            self.bad_sha, self.expires_at, self.expired_tokens = "", None, set()
            urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"))
            self.laid_out_at = self.clock.now()
            for env in envs:
                self.layout(env)

    def stop(self) -> None:
        global _health_hook, _live
        self._stop.set()
        if _health_hook == self.target_health:
            _health_hook = None
        if _live is self:
            _live = None
        if self.server is not None:
            self.server.stop()


def start_world(envs: list[str] | tuple[str, ...] = ("prod",), region: str = "us-west-2",
                clock: WorldClock | None = None, faults: frozenset[str] | set[str] = frozenset(),
                restore: dict | None = None) -> AwsWorld:
    """Start moto on 127.0.0.1 and lay out the given environments (or a snapshot's)."""
    from moto.moto_api._internal.models import moto_api_backend

    _slim_moto(region)
    global _health_hook, _live
    if _live is not None:  # a world left running would go on playing its autoscaler in the new one's account
        log.warning("sandbox: a world was still running in this process; stopped it before starting another")
        _live.stop()
    moto_api_backend.reset()  # moto keeps one account per process: start it empty
    world = AwsWorld(clock=clock or WorldClock(), faults=frozenset(faults), region=region)
    world.start_offset = world.clock.offset
    world.server, world.endpoint = start_server(world)
    _health_hook, _live = world.target_health, world
    if restore is not None:
        world.restore(restore)
    else:
        world.laid_out_at = world.clock.now()
        for env in envs:
            world.layout(env)
    return world


