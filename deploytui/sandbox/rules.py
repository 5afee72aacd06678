"""The rehearsal world's rules: how the systems behind the seed runbooks behave, in one place to hold
against ../shared/seeds/ and ../shared/research/seed-scripts.md (each rule names its source).

Nothing here exists because a runbook expects it: a runbook that fails against these rules would fail
against the real systems too. Durations are world seconds; a rehearsal at time scale N lives them N
times faster. What the world does NOT model is said here too, so a green rehearsal is read for what
it proves."""

from __future__ import annotations

from typing import Any

# ---------------------------------------------------------------- login.gov AWS (seeds 000, 001)
# seed-scripts.md "login.gov": names of groups, instances, VPCs and target-group tags.
ASG_NAME = "{env}-{role}"
INSTANCE_NAME = "asg-{env}-{role}"
VPC_NAME = "login-vpc-{env}"
TARGET_GROUP_TAGS = {"prefix": "{env}", "health_role": "{role}"}
# Instances per role in prod (other environments run half, at least one); migration idles at 0.
PROD_SIZES = {"idp": 4, "worker": 2, "pivcac": 2, "migration": 0}
# Roles behind a load balancer (ELB health checks); the others use EC2 health checks.
BALANCED_ROLES = ("idp", "pivcac")
# Prod protects new instances from scale-in until scale-remove-old-instances lifts it.
PROTECTED_ENVS = ("prod",)
HEALTH_CHECK_GRACE = 300  # HealthCheckGracePeriod of every group

# bin/asg-recycle (cloudlib autoscaling.rb) names its one-time scheduled actions exactly so; a recycle
# is "still in progress" while either exists (scale-remove-old-instances refuses until then).
RECYCLE_SCHEDULED_ACTIONS = ("DelayedScaleOutOnce.asg-recycle", "RecycleOnce.asg-recycle")
RECYCLE_SPINUP = 300  # DelayedScaleOutOnce: +300 s -> 2N
RECYCLE_RETURN = 900  # RecycleOnce: +spinup+spindown (~900 s) -> N

# A new instance: `pending` while it boots, then provisioning (cloud-init, chef, and on the migration
# instance `rake db:migrate`) with the group's lifecycle hook holding it in Pending:Wait until
# provision.sh finishes (CONTINUE) or fails (ABANDON: the group terminates it and launches another).
# Its /var/log/cloud-init-output.log is shipped to CloudWatch Logs as it is written.
BOOT_SECONDS = 45
PROVISION_SECONDS = 240
MIGRATION_SECONDS = 180  # extra, on the migration instance
TARGET_HEALTHY_SECONDS = 60  # target health `initial` until HealthyThresholdCount checks passed
LOG_GROUP = "/var/log/cloud-init-output.log"
LOG_STREAM = "{role}-{instance}.{env}.login.gov"  # stream = the host name
CLOUD_INIT_DONE = "All done! provision.sh finished for identity-devops"

# bin/ssm-command sends `<env>-ssm-cmd-<doc>` (terraform aws_ssm_document.cmd names them so); only the
# account's documents exist (and AWS-owned ones, AWS-*): any other name fails as AWS fails it.
SSM_DOCUMENT = "{env}-ssm-cmd-{doc}"
SSM_COMMAND_DOCUMENTS = ("passenger-restart",)  # those the seed and the research name

# aws-vault: `exec` hands out a session of an hour; AWS answers ExpiredToken (EC2: RequestExpired) after.
AWS_SESSION_SECONDS = 3600

# bin/tag-release: `git tag -s <UTC timestamp>` like 2026-11-23T174942, pushed to origin.
TAG_RELEASE_FORMAT = "%Y-%m-%dT%H%M%S"

# identity-idp/identity-pki: "All deploys to production require a code reviewer to approve the changes
# to the stages/prod branch"; CI must pass ("somebody with admin merge permissions ... can override
# waiting for CI to finish").
LOGIN_GOV_PROTECTED = {"stages/prod": {"reviews": 1, "checks": ("build",)}}

# ---------------------------------------------------------------- GitHub (all seeds)
# CI is GitHub Actions: check runs on the commit (the combined commit *status* of such a repository
# stays `pending` with no statuses). Runs queue, run, and conclude.
CI_SECONDS = 600
WORKFLOW_QUEUE_SECONDS = 20
WORKFLOW_RUN_SECONDS = 240
# A teammate approves a pull request this long after it is opened (nobody approves their own).
REVIEW_SECONDS = 300
# Merging against branch protection fails as GitHub fails it (HTTP 405).
MERGE_NEEDS_REVIEW = "At least {n} approving review is required by reviewers with write access."
MERGE_CHECK_EXPECTED = 'Required status check "{name}" is expected.'
MERGE_CHECK_FAILING = 'Required status check "{name}" is failing.'

# getgov (seed 002; seed-scripts.md "getgov"): tags start the deploy workflows; migrate.yaml and
# reset-db.yaml are workflow_dispatch workflows with an `environment` input; main is protected
# ("two other engineers should be assigned to review", CI).
GETGOV_TAG_WORKFLOWS = ((r"^staging-\d+$", "deploy-staging.yaml"), (r"^v\d+\.\d+\.\d+$", "deploy-stable.yaml"))
GETGOV_PROTECTED: dict[str, dict[str, Any]] = {"main": {"reviews": 1, "checks": ("pa11y-scan", "python-test")}}

# GOV.UK (seed 003; seed-scripts.md "GOV.UK"): CI state is check runs; the Release app holds per-app
# deploy freezes; Slack hears about failures.
GOVUK_CHECKS = ("test", "lint")
# Freezes live where GOV.UK's deploy workflow reads them: govuk-helm-charts'
# charts/app-config/image-tags/ENV/APP (image_tag, automatic_deploys_enabled, promote_deployment), read
# through the contents API with a token; the Release app's "Freeze deployments?" is a label only.
GOVUK_HELM_CHARTS = "alphagov/govuk-helm-charts"
GOVUK_ENVIRONMENTS = ("integration", "staging", "production")
GOVUK_APPS = ("frontend", "collections", "router", "content-store", "whitehall", "publisher", "smart-answers",
              "content-publisher")
GOVUK_FROZEN = {"content-publisher": "frozen while the editor migration runs"}
# Prometheus: an app's 5xx rate (fraction of requests) is noise around this; the error-spike fault
# multiplies it once the release reached staging.
GOVUK_ERROR_RATE = 0.002
GOVUK_SPIKE_RATE = 0.094

# Vetspire (seed 004): the repository as the seed shows it: ./scripts/diff_migrations at the root;
# the Kubernetes manifests in /api/k8s (`kubectl apply -f k8s/production.deployment.yaml` is run
# there); image gcr.io/vetspire-app/vetspire:release, a pinned one :release-SHA; pushing `production`
# starts the production deployment in GitHub Actions; the Cloud SQL instance vetspire-production and
# its dated clones; the cluster vetspire-api-prod (us-central1).
VETSPIRE_REPO = "vetspire/vetspire"
VETSPIRE_MANIFEST = "api/k8s/production.deployment.yaml"
VETSPIRE_IMAGE = "gcr.io/vetspire-app/vetspire:release"
VETSPIRE_DEPLOY_WORKFLOWS = {"production": "deploy-production.yml", "staging": "deploy-staging.yml"}
VETSPIRE_CLUSTER = "vetspire-api-prod"
CLONE_SECONDS = 300  # gcloud sql instances clone of the production database
ROLLOUT_SECONDS = 90  # new pods Running after kubectl apply / a deployment
CLONES_KEPT_BEFORE = 5  # dated clones left by earlier deploys (the runbook prunes to three)

# ---------------------------------------------------------------- Slack (all seeds)
# Incoming webhooks: about one message a second, short bursts allowed; over it HTTP 429 with
# Retry-After (seconds).
SLACK_BURST = 10
SLACK_PER_SECOND = 1.0

# ---------------------------------------------------------------- not modelled
NOT_MODELLED = (
    "an auto scaling group replacing instances that fail their health checks",
    "load balancer connection draining after scale-in",
    "a database behind the Vetspire and get.gov applications (psql sessions need the step's stand-in)",
    "cloud.gov (cf): its steps need their stand-ins",
    "NewRelic, Sentry and Grafana beyond the error-rate documents",
)
