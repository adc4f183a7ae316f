"""The bootstrap project (bootstrap/): the CI roles' trust and permission policies, and the permissions
boundary of the program's roles, evaluated.

The policies are checked by what they allow, not by their text, with the tests' IAM evaluator
(``tests/support/iam.py``); a request that meets several policies (a role's own, its boundary, a bucket
or key policy) is decided by ``request_decision``, as IAM combines them. Then the program itself runs
once under Pulumi's mocks, for the Pulumi Cloud and the self-managed S3 backend, and the main program
runs under them for each stack file, so that the roles are checked against what it really declares.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from backup_lambda.permissions import Operation
from bootstrap import ci_access as ca
from bootstrap.account_settings import (
    Settings,
    SettingsError,
    StateBackend,
    check_settings,
    read_stack_pool_ids,
    read_stack_readers,
)
from bootstrap.boundary import boundary_policy
from bootstrap.deploy_role import deploy_guardrails, deploy_permissions, deploy_policy, deploy_resources
from bootstrap.drill_role import drill_policy
from bootstrap.preview_role import READS, UNSCOPED_READS, preview_policy
from bootstrap.snapshot_role import snapshot_policy
from bootstrap.state_backend import PROJECT, state_bucket_name, state_key_alias
from bootstrap.trust import OIDC_AUDIENCE, OIDC_SUBJECT_CLAIM_KEYS, oidc_subject_template, trust_policy
from cognito_backup.drill import DRILL_POOL_OVERRIDES, DRILL_SCRATCH_TAG
from cognito_backup.permissions import DRILL_OPERATIONS
from infra import names
from tests.support.iam import allowed, as_list, matches_any, request_decision
from tests.support.pulumi_mocks import (
    ACCOUNT,
    Declared,
    ProgramRun,
    as_pulumi_config,
    kms_key_arn,
    run_main_program,
    run_program,
    stack_name,
)

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
STATE_KEY = kms_key_arn("state-key", "eu-west-1")  # as the mocks answer for the bootstrap's state key
STACKS = ("staging", "prod")
STACK_POOL = "eu-west-1_Xk4Rt7Lm2"
OTHER_STACK_POOL = "us-east-1_Other0001"


def settings(state: bool = True, **overrides) -> Settings:
    values = dict(account_id=ACCOUNT, github_owner="example-org", github_repo="cognito-backup", stacks=STACKS,
                  stack_pool_ids=(STACK_POOL, OTHER_STACK_POOL))
    values.update(overrides)
    s = Settings(**values)
    if state:
        s = Settings(**{**s.__dict__, "state": StateBackend(state_bucket_name(s), STATE_KEY)})
    return check_settings(s)


def can_assume(trust: dict, sub: str, aud: str = OIDC_AUDIENCE, provider: str = PROVIDER) -> bool:
    """Whether a GitHub Actions token with this subject and audience, federated by the provider, may
    assume the role."""
    return allowed(trust, "sts:AssumeRoleWithWebIdentity", "*", principal=provider,
                   **{"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud})


# The program's resources as AWS and Pulumi name them (auto-names: 7 characters after the logical name).
IAM = f"arn:aws:iam::{ACCOUNT}"
SNAPSHOT_BUCKET = "arn:aws:s3:::snapshots-bucket-1a2b3c4"
REPLICA_BUCKET = "arn:aws:s3:::snapshots-replica-bucket-1a2b3c4"
SNAPSHOT_OBJECT = f"{SNAPSHOT_BUCKET}/cognito/2026/11/26/prod-users_20261126_010003.json"
CHECKPOINT_OBJECT = f"{SNAPSHOT_BUCKET}/cognito/.checkpoints/prod-users_20261126_010003.json"
SNAPSHOT_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-4333-8444-555555555555"
OTHER_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/99999999-2222-4333-8444-555555555555"
PROGRAM_KEY = {"aws:ResourceTag/cognito-backup:stack": "prod"}  # the tag the program puts on its keys
VIA_S3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
POOL = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{STACK_POOL}"
OTHER_POOL = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/eu-west-1_AbCd12345"
SCRATCH_POOL = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/eu-west-1_Scratch99"
SCRATCH = {f"aws:ResourceTag/{k}": v for k, v in DRILL_SCRATCH_TAG.items()}
LOG_GROUP = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod:*"
FUNCTION = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-prod"
# The function's SDK layer (the program publishes it: infra/sdk_layer.py), and one of its versions.
SDK_LAYER = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-prod-sdk"
SDK_LAYER_VERSION = f"{SDK_LAYER}:3"
POWERTOOLS_LAYER = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:25"
BACKUP_ROLE = f"{IAM}:role/cognito-backup/backup-role-1a2b3c4"
REPLICATION_ROLE = f"{IAM}:role/cognito-backup/snapshots-replication-role-1a2b3c4"
IMPORT_ROLE = f"{IAM}:role/cognito-backup/user-import-logs-role-1a2b3c4"
READER_ROLE = f"{IAM}:role/cognito-backup-restore"  # a snapshot reader (Pulumi.prod.yaml)
BOUNDARY = f"{IAM}:policy/cognito-backup/cognito-backup-program-boundary"
WITH_BOUNDARY = {"iam:PermissionsBoundary": BOUNDARY}
IN_ACCOUNT = {"s3:ResourceAccount": ACCOUNT}


# --------------------------------------------------------------------------------------------------
# Trust: each role, its workflow's jobs in its environment, from the default branch


REPO = "repo:example-org/cognito-backup"
WORKFLOWS = "example-org/cognito-backup/.github/workflows"


def sub(environment: str, workflow: str, ref: str = "refs/heads/main", repo: str = REPO) -> str:
    """A subject in the repository's customised format (repo, context, job_workflow_ref)."""
    return f"{repo}:environment:{environment}:job_workflow_ref:{WORKFLOWS}/{workflow}@{ref}"


@pytest.mark.parametrize(("role", "trusted", "refused"), [
    ("preview", [sub("preview", "preview.yml", "refs/pull/17/merge"),
                 sub("preview", "preview.yml", "refs/pull/1/merge")],
     [sub("preview", "evil.yml", "refs/pull/17/merge"), sub("preview", "preview.yml", "refs/heads/feature"),
      sub("prod", "preview.yml", "refs/pull/17/merge"), f"{REPO}:pull_request",
      sub("preview", "preview.yml", "refs/pull/17/merge", repo="repo:someone/cognito-backup")]),
    ("deploy", [sub("staging", "_deploy-stack.yml"), sub("prod", "_deploy-stack.yml")],
     [sub("prod", "_deploy-stack.yml", "refs/heads/feature"), sub("prod", "snapshot.yml"),
      sub("production", "_deploy-stack.yml"), sub("prod", "deploy.yml"), f"{REPO}:environment:prod",
      sub("prod", "_deploy-stack.yml", repo="repo:example-org/cognito-backup-fork")]),
    ("snapshot", [sub("snapshot", "snapshot.yml")],
     [sub("snapshot", "snapshot.yml", "refs/heads/feature"), sub("snapshot", "restore-drill.yml"),
      sub("prod", "snapshot.yml"), f"{REPO}:ref:refs/heads/main", sub("snapshot", "snapshot.yml", "refs/tags/main")]),
    ("drill", [sub("restore-drill", "restore-drill.yml")],
     [sub("restore-drill", "restore-drill.yml", "refs/heads/feature"), sub("restore-drill", "snapshot.yml"),
      f"{REPO}:ref:refs/heads/main", sub("snapshot", "restore-drill.yml")]),
])
def test_each_role_trusts_only_its_own_workflow_in_its_environment(role, trusted, refused):
    trust = trust_policy(PROVIDER, ca.subjects(settings(), role))
    for subject in trusted:
        assert can_assume(trust, subject), f"{role} should trust {subject}"
    for subject in refused:
        assert not can_assume(trust, subject), f"{role} must not trust {subject}"


def test_trust_requires_the_sts_audience_and_federates_github_only():
    trust = trust_policy(PROVIDER, ca.subjects(settings(), "snapshot"))
    assert not can_assume(trust, sub("snapshot", "snapshot.yml"), aud="https://github.com/example-org")
    assert not can_assume(trust, sub("snapshot", "snapshot.yml"), provider=f"{IAM}:oidc-provider/gitlab.com")
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Condition"]) == {"StringEquals"}  # exact matches, never StringLike
    # only the preview role's subject has a wildcard, the pull request's number
    preview = trust_policy(PROVIDER, ca.subjects(settings(), "preview"))["Statement"][0]["Condition"]
    assert preview["StringLike"] == {"token.actions.githubusercontent.com:sub": ca.subjects(settings(), "preview")}


@pytest.mark.parametrize("subjects", [[], [f"{REPO}:*"], [f"{REPO}:environment:pro?"],
                                      [sub("preview", "*.yml", "refs/pull/*/merge")],
                                      [sub("preview", "preview.yml", "refs/*")]])
def test_trust_refuses_wildcards_and_empty_subjects(subjects):
    with pytest.raises(ValueError, match="exact subjects"):
        trust_policy(PROVIDER, subjects)


def test_a_custom_default_branch_is_the_one_the_roles_trust():
    assert ca.subjects(settings(default_branch="trunk"), "snapshot") == [sub("snapshot", "snapshot.yml",
                                                                             "refs/heads/trunk")]


def test_the_subjects_follow_the_template_the_repository_must_set():
    assert oidc_subject_template() == {"use_default": False, "include_claim_keys": OIDC_SUBJECT_CLAIM_KEYS}
    for role in ca.ROLES:
        for subject in ca.subjects(settings(), role):
            keys = [part for part in re.split(r":(?=environment:|job_workflow_ref:)", subject)]
            assert [k.split(":", 1)[0] for k in keys] == ["repo", "environment", "job_workflow_ref"], subject


# --------------------------------------------------------------------------------------------------
# Preview: reads metadata of the program's own resources, never data; writes only its stacks' locks


DATA_READS = [
    ("s3:GetObject", SNAPSHOT_OBJECT, {}),
    ("s3:GetObjectVersion", SNAPSHOT_OBJECT, {}),
    ("s3:ListBucket", SNAPSHOT_BUCKET, {}),
    ("kms:Decrypt", SNAPSHOT_KEY, {**PROGRAM_KEY, **VIA_S3}),
    ("kms:Decrypt", SNAPSHOT_KEY, PROGRAM_KEY),
    ("cognito-idp:ListUsers", POOL, {}),
    ("cognito-idp:AdminGetUser", POOL, {}),
    ("cognito-idp:ListUsersInGroup", POOL, {}),
    ("logs:GetLogEvents", LOG_GROUP, {}),
    ("logs:FilterLogEvents", LOG_GROUP, {}),
    ("logs:StartQuery", LOG_GROUP, {}),
    ("sqs:ReceiveMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-1a2b3c4", {}),
    ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:x", {}),
    ("ssm:GetParameter", f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/x", {}),
    ("lambda:InvokeFunction", FUNCTION, {}),
]


@pytest.mark.parametrize(("action", "resource", "context"), DATA_READS)
def test_preview_reads_no_data(action, resource, context):
    assert not allowed(preview_policy(settings()), action, resource, **context)


@pytest.mark.parametrize(("action", "resource", "context"), [
    ("s3:GetBucketPolicy", SNAPSHOT_BUCKET, {}),
    ("s3:GetLifecycleConfiguration", REPLICA_BUCKET, {}),
    ("kms:GetKeyPolicy", SNAPSHOT_KEY, PROGRAM_KEY),
    ("iam:GetRolePolicy", BACKUP_ROLE, {}),
    ("lambda:GetFunctionConfiguration", FUNCTION, {}),
    ("lambda:GetFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:cognito-backup-staging", {}),
    ("lambda:GetLayerVersion", SDK_LAYER_VERSION, {}),
    ("lambda:GetLayerVersion", f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:cognito-backup-staging-sdk:12", {}),
    ("logs:DescribeLogGroups", "*", {}),
    ("cloudwatch:DescribeAlarms", "*", {}),
    ("events:ListTargetsByRule", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-1a2b3c4", {}),
])
def test_preview_reads_the_metadata_a_refresh_needs(action, resource, context):
    assert allowed(preview_policy(settings()), action, resource, **context)


@pytest.mark.parametrize(("action", "resource", "context"), [
    # other functions' code (a presigned URL) and environment variables
    ("lambda:GetFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:payments-api", {}),
    ("lambda:GetFunctionConfiguration", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-dev", {}),
    ("events:ListTargetsByRule", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/payments-nightly", {}),
    ("sqs:GetQueueAttributes", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:orders", {}),
    ("iam:GetRolePolicy", f"{IAM}:role/admin", {}),
    ("iam:GetRolePolicy", READER_ROLE, {}),
    ("kms:GetKeyPolicy", OTHER_KEY, {}),
    ("s3:GetBucketPolicy", "arn:aws:s3:::snapshots-bucket-archive-2024", {}),  # longer than an auto-name
    ("s3:ListAllMyBuckets", "*", {}),
    # other layers' code (a presigned URL), and the layer's own writes
    ("lambda:GetLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:payments-deps:1", {}),
    ("lambda:GetLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-dev-sdk:1", {}),
    ("lambda:PublishLayerVersion", SDK_LAYER, {}),
    ("lambda:DeleteLayerVersion", SDK_LAYER_VERSION, {}),
])
def test_preview_reads_nothing_of_other_resources(action, resource, context):
    assert not allowed(preview_policy(settings()), action, resource, **context)


def test_preview_changes_nothing_but_its_stacks_locks():
    policy = preview_policy(settings())
    state = settings().state
    for statement in policy["Statement"]:
        for action in statement["Action"]:
            verb = re.sub(r"^[a-z0-9-]+:", "", action)
            if statement["Sid"] == "WritePulumiLocks":
                assert statement["Resource"] == [f"{state.bucket_arn}/.pulumi/locks/organization/{PROJECT}/{s}/*"
                                                 for s in STACKS]
            elif statement["Sid"] in ("UseStateKeyThroughS3", "DecryptStackDataKeys"):
                assert verb in ("Decrypt", "GenerateDataKey")
                assert statement["Resource"] == STATE_KEY
            else:
                assert verb.startswith(("Describe", "Get", "List")), f"preview may {action}"
    bucket = state.bucket_arn
    stack_state = f"{bucket}/.pulumi/stacks/{PROJECT}/prod.json"
    own_lock = f"{bucket}/.pulumi/locks/organization/{PROJECT}/prod/0b5e5d2c.json"
    assert allowed(policy, "s3:PutObject", own_lock) and allowed(policy, "s3:DeleteObject", own_lock)
    assert allowed(policy, "s3:GetObject", stack_state)
    assert allowed(policy, "s3:GetObject", f"{bucket}/.pulumi/meta.yaml")
    assert not allowed(policy, "s3:PutObject", stack_state)
    for lock in (f"{bucket}/.pulumi/locks/organization/{PROJECT}/dev/1.json",
                 f"{bucket}/.pulumi/locks/organization/other-project/prod/1.json"):
        assert not allowed(policy, "s3:DeleteObject", lock), lock
    for other in (f"{bucket}/.pulumi/stacks/other-project/prod.json", f"{bucket}/.pulumi/history/{PROJECT}/prod/x",
                  f"{bucket}/.pulumi/backups/{PROJECT}/prod/x"):
        assert not allowed(policy, "s3:GetObject", other), other


def test_preview_decrypts_with_the_state_key_only_what_pulumi_preview_needs():
    """S3 decrypts the state objects (and encrypts the lock files) with the key on the role's behalf;
    Pulumi decrypts the stack's data key (no encryption context) itself. Nothing else: not a ciphertext
    S3 made (it carries the object's ARN as encryption context), not with another key."""
    policy = preview_policy(settings())
    assert allowed(policy, "kms:Decrypt", STATE_KEY, **VIA_S3, **{"kms:EncryptionContextKeys": "aws:s3:arn"})
    assert allowed(policy, "kms:GenerateDataKey", STATE_KEY, **VIA_S3)
    assert allowed(policy, "kms:Decrypt", STATE_KEY)  # the awskms:// data key in Pulumi.<stack>.yaml
    assert not allowed(policy, "kms:Decrypt", STATE_KEY, **{"kms:EncryptionContextKeys": "aws:s3:arn"})
    assert not allowed(policy, "kms:GenerateDataKey", STATE_KEY)
    assert not allowed(policy, "kms:Encrypt", STATE_KEY)
    assert not allowed(policy, "kms:Decrypt", OTHER_KEY)


# --------------------------------------------------------------------------------------------------
# Deploy: manages the program's resources, nothing else; never reads the snapshots


PROGRAM_CHANGES = [
    ("s3:CreateBucket", SNAPSHOT_BUCKET, {}),
    ("s3:PutBucketPolicy", SNAPSHOT_BUCKET, {}),
    ("s3:PutLifecycleConfiguration", SNAPSHOT_BUCKET, {}),
    ("s3:PutBucketObjectLockConfiguration", REPLICA_BUCKET, {}),
    ("s3:PutReplicationConfiguration", SNAPSHOT_BUCKET, {}),
    ("kms:CreateKey", "*", {"aws:RequestTag/cognito-backup:stack": "prod"}),
    ("kms:TagResource", "*", {"aws:RequestTag/cognito-backup:stack": "staging"}),
    ("kms:PutKeyPolicy", SNAPSHOT_KEY, PROGRAM_KEY),
    ("kms:ScheduleKeyDeletion", SNAPSHOT_KEY, PROGRAM_KEY),
    ("kms:CreateAlias", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/cognito-backup-prod", {}),
    ("kms:CreateAlias", SNAPSHOT_KEY, PROGRAM_KEY),
    ("iam:CreateRole", BACKUP_ROLE, WITH_BOUNDARY),
    ("iam:PutRolePolicy", REPLICATION_ROLE, WITH_BOUNDARY),
    ("iam:UpdateAssumeRolePolicy", IMPORT_ROLE, {}),
    ("iam:PassRole", BACKUP_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("iam:PassRole", REPLICATION_ROLE, {"iam:PassedToService": "s3.amazonaws.com"}),
    ("lambda:CreateFunction", FUNCTION, {}),
    ("lambda:UpdateFunctionCode", FUNCTION, {}),
    ("lambda:AddPermission", FUNCTION, {}),
    # the SDK layer: a new version when the lock changes, read, the replaced one deleted; in any region
    ("lambda:PublishLayerVersion", SDK_LAYER, {}),
    ("lambda:GetLayerVersion", SDK_LAYER_VERSION, {}),
    ("lambda:DeleteLayerVersion", SDK_LAYER_VERSION, {}),
    ("lambda:PublishLayerVersion", f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:cognito-backup-staging-sdk", {}),
    ("lambda:DeleteLayerVersion", f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:cognito-backup-staging-sdk:41", {}),
    ("logs:CreateLogGroup", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod", {}),
    ("logs:PutRetentionPolicy", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod", {}),
    ("sqs:CreateQueue", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-1a2b3c4", {}),
    ("sqs:SetQueueAttributes", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-schedule-dlq-1a2b3c4", {}),
    ("events:PutRule", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-1a2b3c4", {}),
    ("events:PutTargets", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-1a2b3c4", {}),
    ("cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cognito-backup-prod-errors", {}),
    ("sns:CreateTopic", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts-topic-1a2b3c4", {}),
    ("sns:Subscribe", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts-topic-1a2b3c4", {}),
]


@pytest.mark.parametrize(("action", "resource", "context"), PROGRAM_CHANGES)
def test_deploy_manages_the_programs_resources(action, resource, context):
    assert allowed(deploy_policy(settings()), action, resource, **context)


OUTSIDE_THE_PROGRAM = [
    ("lambda:UpdateFunctionCode", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:payments-api", {}),
    ("lambda:CreateFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-dev", {}),
    ("lambda:UpdateFunctionCode", "arn:aws:lambda:eu-west-1:999999999999:function:cognito-backup-prod", {}),
    ("iam:PutRolePolicy", f"{IAM}:role/admin", {}),
    ("s3:PutBucketPolicy", "arn:aws:s3:::company-data", {}),
    ("s3:DeleteBucket", "arn:aws:s3:::company-data", {}),
    ("s3:PutBucketPolicy", "arn:aws:s3:::snapshots-bucket-archive-2024", {}),  # not an auto-name
    ("s3:PutReplicationConfiguration", "arn:aws:s3:::snapshots-access-logs-1a2b3c4", {}),
    ("sqs:DeleteQueue", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:orders", {}),
    ("sqs:DeleteQueue", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-legacy-2024", {}),
    ("events:PutTargets", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/cognito-backup-prod-other", {}),
    ("sns:SetTopicAttributes", f"arn:aws:sns:eu-west-1:{ACCOUNT}:cognito-backup-prod", {}),
    # layers: the stacks' SDK layers only, exactly, never shared; no longer the AWS-managed Powertools layer
    ("lambda:PublishLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:payments-deps", {}),
    ("lambda:DeleteLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:payments-deps:4", {}),
    ("lambda:PublishLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-dev-sdk", {}),
    ("lambda:PublishLayerVersion", f"{SDK_LAYER}-evil", {}),  # the stack's name, then more
    ("lambda:DeleteLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-prod:1", {}),
    ("lambda:PublishLayerVersion", "arn:aws:lambda:eu-west-1:999999999999:layer:cognito-backup-prod-sdk", {}),
    ("lambda:AddLayerVersionPermission", SDK_LAYER_VERSION, {}),
    ("lambda:GetLayerVersion", POWERTOOLS_LAYER, {}),
    # keys: only those the program tagged, and a new one only tagged as a stack's
    ("kms:PutKeyPolicy", OTHER_KEY, {}),
    ("kms:ScheduleKeyDeletion", OTHER_KEY, {"aws:ResourceTag/cognito-backup:stack": "payments"}),
    ("kms:CreateKey", "*", {}),
    ("kms:CreateKey", "*", {"aws:RequestTag/cognito-backup:stack": "payments"}),
    ("kms:TagResource", OTHER_KEY, {"aws:RequestTag/cognito-backup:stack": "prod"}),  # claiming a key
    ("kms:CreateAlias", OTHER_KEY, {}),
    ("kms:CreateAlias", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/payments", PROGRAM_KEY),
    ("kms:CreateGrant", SNAPSHOT_KEY, PROGRAM_KEY),
    # roles: the reader roles, roles without the boundary, handing a role to another service
    ("iam:UpdateAssumeRolePolicy", READER_ROLE, {}),
    ("iam:PutRolePolicy", READER_ROLE, WITH_BOUNDARY),
    ("iam:PassRole", READER_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("iam:CreateRole", BACKUP_ROLE, {}),
    ("iam:CreateRole", BACKUP_ROLE, {"iam:PermissionsBoundary": f"{IAM}:policy/AdministratorAccess"}),
    ("iam:CreateRole", f"{IAM}:role/cognito-backup-evil", WITH_BOUNDARY),
    ("iam:PutRolePolicy", BACKUP_ROLE, {}),
    ("iam:AttachRolePolicy", BACKUP_ROLE, WITH_BOUNDARY),
    ("iam:DeleteRolePermissionsBoundary", BACKUP_ROLE, WITH_BOUNDARY),
    ("iam:PutRolePermissionsBoundary", BACKUP_ROLE, {"iam:PermissionsBoundary": f"{IAM}:policy/other"}),
    ("iam:CreatePolicyVersion", BOUNDARY, {}),
    ("iam:PassRole", IMPORT_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("iam:PassRole", BACKUP_ROLE, {"iam:PassedToService": "s3.amazonaws.com"}),
    ("iam:PassRole", BACKUP_ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("iam:CreateUser", f"{IAM}:user/x", {}),
    ("sts:AssumeRole", BACKUP_ROLE, {}),
]


@pytest.mark.parametrize(("action", "resource", "context"), OUTSIDE_THE_PROGRAM)
def test_deploy_changes_nothing_outside_the_program(action, resource, context):
    assert not allowed(deploy_policy(settings()), action, resource, **context)


@pytest.mark.parametrize(("action", "resource", "context"), DATA_READS)
def test_deploy_reads_no_data(action, resource, context):
    assert not allowed(deploy_policy(settings()), action, resource, **context)


@pytest.mark.parametrize("role", sorted(ca.ROLES))
@pytest.mark.parametrize("action", ["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole",
                                    "iam:AttachRolePolicy", "iam:DetachRolePolicy"])
def test_deploy_cannot_change_any_ci_role_including_its_own(role, action):
    s = settings()
    assert not allowed(deploy_policy(s), action, ca.role_arn(s, role), **WITH_BOUNDARY)


WIDENED_DENIALS = [
    ("iam:PutRolePolicy", f"{IAM}:role/github-actions/cognito-backup-deploy", {}),
    ("iam:DetachRolePolicy", f"{IAM}:role/github-actions/cognito-backup-deploy", {}),
    ("iam:CreatePolicyVersion", f"{IAM}:policy/github-actions/cognito-backup-deploy-guardrails", {}),
    ("iam:UpdateAssumeRolePolicy", f"{IAM}:role/github-actions/cognito-backup-preview", {}),
    ("iam:DeleteOpenIDConnectProvider", PROVIDER, {}),
    ("iam:CreatePolicyVersion", BOUNDARY, {}),
    ("iam:DeleteRolePermissionsBoundary", BACKUP_ROLE, WITH_BOUNDARY),
    ("iam:CreateRole", f"{IAM}:role/cognito-backup/unbounded", {}),
    ("iam:PutRolePolicy", READER_ROLE, WITH_BOUNDARY),
    ("iam:UpdateAssumeRolePolicy", READER_ROLE, {}),
    ("iam:PassRole", READER_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("lambda:PublishLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-dev-sdk", {}),
    ("lambda:DeleteLayerVersion", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:payments-deps:4", {}),
    ("s3:GetObject", SNAPSHOT_OBJECT, {}),
    ("s3:GetObjectVersion", f"{REPLICA_BUCKET}/cognito/x.json", {}),
    ("kms:Decrypt", SNAPSHOT_KEY, {**PROGRAM_KEY, **VIA_S3}),
    ("kms:CreateGrant", SNAPSHOT_KEY, PROGRAM_KEY),
    ("kms:TagResource", OTHER_KEY, {"aws:RequestTag/cognito-backup:stack": "prod"}),
    ("kms:PutKeyPolicy", SNAPSHOT_KEY, {**PROGRAM_KEY, "kms:BypassPolicyLockoutSafetyCheck": "true"}),
    ("cognito-idp:ListUsers", POOL, {}),
    ("sts:AssumeRole", BACKUP_ROLE, {}),
    ("kms:ScheduleKeyDeletion", STATE_KEY, {}),
    ("s3:PutBucketPolicy", f"arn:aws:s3:::pulumi-state-{ACCOUNT}-cognito-backup", {}),
]


@pytest.mark.parametrize(("action", "resource", "context"), WIDENED_DENIALS)
def test_the_guardrails_hold_even_if_the_deploy_role_is_widened(action, resource, context):
    """An explicit deny in one of a role's policies wins over an allow in any other: if someone
    attaches AdministratorAccess to the deploy role, it still cannot change CI access, the boundary,
    a reader role or the state, nor read a snapshot or use a key."""
    administrator = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    s = settings()
    decided = request_decision(action, resource, principal=ca.role_arn(s, "deploy"), account=ACCOUNT,
                               identity=[deploy_permissions(s), deploy_guardrails(s), administrator], context=context)
    assert decided == "Deny"


def test_the_layer_allow_is_the_programs_names_and_the_guardrails_narrow_it_to_the_stacks_layers():
    """The inline policy is near IAM's limit: it allows the layer actions on every name of the program
    (one pattern), and the guardrails deny them on any layer but the stacks' own, exactly."""
    s = settings()
    for resource in (f"{SDK_LAYER}-evil", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-dev-sdk"):
        assert allowed(deploy_permissions(s), "lambda:PublishLayerVersion", resource), resource
        assert not allowed(deploy_policy(s), "lambda:PublishLayerVersion", resource), resource
    assert allowed(deploy_policy(s), "lambda:PublishLayerVersion", SDK_LAYER)


def test_deploy_cannot_touch_the_oidc_provider():
    assert not allowed(deploy_policy(settings()), "iam:UpdateOpenIDConnectProviderThumbprint", PROVIDER)


def test_deploy_uses_the_state_but_cannot_manage_its_bucket_or_key():
    s = settings()
    policy = deploy_policy(s)
    state_object = f"{s.state.bucket_arn}/.pulumi/stacks/{PROJECT}/prod.json"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allowed(policy, action, state_object)
    assert allowed(policy, "kms:Decrypt", STATE_KEY, **VIA_S3)
    assert allowed(policy, "kms:GenerateDataKey", STATE_KEY, **VIA_S3)
    assert allowed(policy, "kms:Decrypt", STATE_KEY)  # the stacks' data keys
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKeyRotation"):
        assert not allowed(policy, action, STATE_KEY, **PROGRAM_KEY), action
        assert allowed(policy, action, SNAPSHOT_KEY, **PROGRAM_KEY), action  # the deny is what stops it
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketVersioning"):
        assert not allowed(policy, action, s.state.bucket_arn), action


def test_the_state_bucket_and_key_are_outside_the_programs_names():
    s = settings()
    resources = deploy_resources(s)
    assert not matches_any(resources["buckets"], s.state.bucket_arn)
    assert not matches_any(resources["key_aliases"], f"arn:aws:kms:eu-west-1:{ACCOUNT}:{state_key_alias(s)}")
    for role in ca.ROLES:
        assert not matches_any(resources["roles"], ca.role_arn(s, role))


def test_deploy_reads_everything_preview_does():
    deploy = deploy_policy(settings())
    samples = {"buckets": SNAPSHOT_BUCKET, "keys": SNAPSHOT_KEY, "roles": BACKUP_ROLE, "functions": FUNCTION,
               "sdk_layers": SDK_LAYER_VERSION, "log_groups": LOG_GROUP,
               "queues": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-1a2b3c4",
               "rules": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-1a2b3c4",
               "alarms": f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cognito-backup-prod-errors",
               "topics": f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts-topic-1a2b3c4"}
    assert set(samples) == set(READS)
    for kind, actions in READS.items():
        for action in actions:
            context = PROGRAM_KEY if kind == "keys" else {}
            assert allowed(deploy, action, samples[kind], **context), (kind, action)
    for action in UNSCOPED_READS:
        assert allowed(deploy, action, "*"), action


def test_deploy_is_never_a_snapshot_reader():
    deploy = ca.role_arn(settings(), "deploy")
    with pytest.raises(SettingsError, match=re.escape(
            "Pulumi.prod.yaml: cognito-backup:snapshotReaders[1]: ") + ".*the deploy CI role"):
        settings(stack_readers=(("prod", (READER_ROLE, deploy)),))
    with pytest.raises(SettingsError, match="the preview CI role"):
        settings(stack_readers=(("staging", (ca.role_arn(settings(), "preview"),)),))
    with pytest.raises(SettingsError, match="under /cognito-backup/"):
        settings(stack_readers=(("prod", (BACKUP_ROLE,)),))
    # the snapshot and drill roles are readers
    settings(stack_readers=(("prod", (READER_ROLE, ca.role_arn(settings(), "snapshot"),
                                      ca.role_arn(settings(), "drill"))),))


def test_the_stack_files_readers_are_the_ones_the_bootstrap_checks():
    readers = dict(read_stack_readers(ROOT, STACKS))
    assert readers["prod"] == tuple(yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"][
        "cognito-backup:snapshotReaders"])
    settings(stack_readers=read_stack_readers(ROOT, STACKS))  # the repository's own are fine


# --------------------------------------------------------------------------------------------------
# The permissions boundary: the most any role the deploy role creates can ever do


BOUNDED = [
    ("cognito-idp:ListUsers", POOL, {}),
    ("s3:PutObject", SNAPSHOT_OBJECT, IN_ACCOUNT),
    ("s3:GetObject", CHECKPOINT_OBJECT, IN_ACCOUNT),
    ("s3:ReplicateObject", f"{REPLICA_BUCKET}/cognito/x.json", IN_ACCOUNT),
    ("s3:GetObjectVersionForReplication", SNAPSHOT_OBJECT, IN_ACCOUNT),
    ("kms:GenerateDataKey", SNAPSHOT_KEY, {**PROGRAM_KEY, **VIA_S3}),
    ("lambda:InvokeFunction", FUNCTION, {}),
    ("logs:PutLogEvents", LOG_GROUP, {}),
    ("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/cognito/userpools/x:log-stream:y", {}),
    ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-1a2b3c4", {}),
]
BEYOND_THE_BOUNDARY = [
    ("iam:PassRole", BACKUP_ROLE, {}),
    ("iam:CreateRole", f"{IAM}:role/x", {}),
    ("iam:PutRolePolicy", BACKUP_ROLE, {}),
    ("sts:AssumeRole", READER_ROLE, {}),
    ("cognito-idp:ListUsers", OTHER_POOL, {}),  # a pool no stack lists
    ("cognito-idp:AdminCreateUser", POOL, {}),
    ("cognito-idp:DeleteUserPool", POOL, {}),
    ("s3:GetObject", SNAPSHOT_OBJECT, IN_ACCOUNT),  # a snapshot, not a checkpoint
    ("s3:PutObject", "arn:aws:s3:::company-data/x", IN_ACCOUNT),
    ("s3:PutObject", SNAPSHOT_OBJECT, {"s3:ResourceAccount": "999999999999"}),
    # replication into another account's bucket, even one named like the replica
    ("s3:ReplicateObject", f"{REPLICA_BUCKET}/cognito/x.json", {"s3:ResourceAccount": "999999999999"}),
    ("s3:ReplicateObject", "arn:aws:s3:::attacker-bucket/x", IN_ACCOUNT),
    ("s3:PutBucketPolicy", SNAPSHOT_BUCKET, IN_ACCOUNT),
    ("kms:Decrypt", SNAPSHOT_KEY, PROGRAM_KEY),  # directly, not through S3
    ("kms:Decrypt", OTHER_KEY, VIA_S3),  # a key the program did not tag
    ("kms:Decrypt", STATE_KEY, VIA_S3),
    ("kms:CreateGrant", SNAPSHOT_KEY, {**PROGRAM_KEY, **VIA_S3}),
    ("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:payments-api", {}),
    ("lambda:UpdateFunctionCode", FUNCTION, {}),
    # the function's role neither reads nor changes its SDK layer (Lambda attaches it)
    ("lambda:PublishLayerVersion", SDK_LAYER, {}),
    ("lambda:DeleteLayerVersion", SDK_LAYER_VERSION, {}),
    ("lambda:GetLayerVersion", SDK_LAYER_VERSION, {}),
    ("lambda:UpdateFunctionConfiguration", FUNCTION, {}),
    ("logs:GetLogEvents", LOG_GROUP, {}),
    ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:orders", {}),
    ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:x", {}),
]


@pytest.mark.parametrize(("action", "resource", "context"), BOUNDED)
def test_the_boundary_lets_the_programs_roles_do_their_work(action, resource, context):
    assert allowed(boundary_policy(settings()), action, resource, **context)


@pytest.mark.parametrize(("action", "resource", "context"), BEYOND_THE_BOUNDARY)
def test_no_role_the_deploy_role_creates_can_go_beyond_the_boundary(action, resource, context):
    """Whatever policy deploy writes on a role of the program (here: everything), the boundary caps it."""
    everything = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    decided = request_decision(action, resource, principal=BACKUP_ROLE, account=ACCOUNT, identity=[everything],
                               boundary=boundary_policy(settings()), context=context)
    assert decided != "Allow"


def test_the_boundary_is_what_deploy_must_attach_and_fits_a_managed_policy():
    assert ca.ROLES["deploy"].guardrails is not None
    assert names.permissions_boundary_arn("aws", ACCOUNT) == BOUNDARY
    # IAM allows 6,144 characters in a managed policy; a stack's pools are listed in it
    many_pools = tuple(f"eu-west-1_Pool{i:05d}" for i in range(20))
    assert len(json.dumps(boundary_policy(settings(stack_pool_ids=many_pools)), separators=(",", ":"))) < 6_144


# --------------------------------------------------------------------------------------------------
# Snapshot: invokes the backup functions and reads snapshots; writes nothing


@pytest.mark.parametrize("stack", STACKS)
def test_snapshot_invokes_each_stacks_function(stack):
    function = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-{stack}"
    assert allowed(snapshot_policy(settings()), "lambda:InvokeFunction", function)


@pytest.mark.parametrize("function", [
    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-prod2",
    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-dev",
    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:payments-api",
    "arn:aws:lambda:eu-west-1:999999999999:function:cognito-backup-prod",
])
def test_snapshot_invokes_no_other_function(function):
    assert not allowed(snapshot_policy(settings()), "lambda:InvokeFunction", function)


def test_snapshot_reads_snapshots_and_decrypts_only_through_s3_with_the_programs_keys():
    policy = snapshot_policy(settings())
    assert allowed(policy, "s3:ListBucket", SNAPSHOT_BUCKET, **IN_ACCOUNT)
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::snapshots-access-logs-1a2b3c4/log", **IN_ACCOUNT)
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::company-data/x", **IN_ACCOUNT)
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::snapshots-bucket-archive-2024/x", **IN_ACCOUNT)
    assert allowed(policy, "s3:GetObject", SNAPSHOT_OBJECT, **IN_ACCOUNT)
    assert not allowed(policy, "s3:GetObject", SNAPSHOT_OBJECT, **{"s3:ResourceAccount": "999999999999"})
    assert allowed(policy, "kms:Decrypt", SNAPSHOT_KEY, **PROGRAM_KEY, **VIA_S3)
    assert not allowed(policy, "kms:Decrypt", SNAPSHOT_KEY, **PROGRAM_KEY)  # not directly
    assert not allowed(policy, "kms:Decrypt", OTHER_KEY, **VIA_S3)  # not another key
    assert not allowed(policy, "cognito-idp:ListUsers", POOL)


@pytest.mark.parametrize(("action", "resource"), [
    ("s3:PutObject", SNAPSHOT_OBJECT),
    ("s3:DeleteObject", SNAPSHOT_OBJECT),
    ("lambda:UpdateFunctionCode", FUNCTION),
    ("kms:Encrypt", SNAPSHOT_KEY),
    ("s3:PutObject", f"arn:aws:s3:::pulumi-state-{ACCOUNT}-cognito-backup/.pulumi/locks/x.json"),
    ("kms:Encrypt", STATE_KEY),
])
def test_snapshot_writes_nothing(action, resource):
    assert not allowed(snapshot_policy(settings()), action, resource, **IN_ACCOUNT, **PROGRAM_KEY)


def test_snapshot_reads_the_state_for_the_stack_outputs():
    s = settings()
    policy = snapshot_policy(s)
    assert allowed(policy, "s3:GetObject", f"{s.state.bucket_arn}/.pulumi/stacks/{PROJECT}/prod.json")
    assert allowed(policy, "kms:Decrypt", STATE_KEY, **VIA_S3)
    assert allowed(policy, "kms:Decrypt", STATE_KEY)


# --------------------------------------------------------------------------------------------------
# Drill: what permissions.py lists for the drill; writes only to scratch pools, reads the stacks' pools


SCOPE_EXAMPLES = {  # a resource of each scope, as the drill meets it, and the request's context
    "restored_pool": (SCRATCH_POOL, SCRATCH),
    "pool": (POOL, {}),
    "account": ("*", {f"aws:RequestTag/{k}": v for k, v in DRILL_SCRATCH_TAG.items()}),
    "import_role": (IMPORT_ROLE, {"iam:PassedToService": "cognito-idp.amazonaws.com"}),
    "snapshots": (SNAPSHOT_OBJECT, IN_ACCOUNT),
    "bucket": (SNAPSHOT_BUCKET, IN_ACCOUNT),
    "kms_key": (SNAPSHOT_KEY, {**PROGRAM_KEY, **VIA_S3}),
}


@pytest.mark.parametrize("op", DRILL_OPERATIONS, ids=lambda op: f"{op.scope}:{op.action}")
def test_the_drill_may_make_every_call_permissions_py_lists(op):
    assert op.scope in SCOPE_EXAMPLES, f"a new drill scope {op.scope!r}: give it an example here"
    resource, context = SCOPE_EXAMPLES[op.scope]
    assert allowed(drill_policy(settings()), op.action, resource, **context)


WRITES = ["cognito-idp:AdminCreateUser", "cognito-idp:AdminDisableUser", "cognito-idp:DeleteUserPool",
          "cognito-idp:CreateGroup", "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:CreateUserImportJob",
          "cognito-idp:TagResource", "cognito-idp:DeleteUserPoolDomain"]


@pytest.mark.parametrize("action", WRITES)
def test_the_drill_writes_only_to_pools_tagged_as_its_scratch_pools(action):
    policy = drill_policy(settings())
    assert allowed(policy, action, SCRATCH_POOL, **SCRATCH)
    assert not allowed(policy, action, SCRATCH_POOL)  # an untagged pool: someone else's
    assert not allowed(policy, action, OTHER_POOL, **{"aws:ResourceTag/cognito-backup:scratch": "mine"})
    for pool in (POOL, f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{OTHER_STACK_POOL}"):
        assert not allowed(policy, action, pool), pool
        assert not allowed(policy, action, pool, **SCRATCH), pool  # even if someone tagged a stack's pool


def test_the_drill_creates_pools_only_with_the_scratch_tag_and_its_pool_carries_it():
    policy = drill_policy(settings())
    request_tags = {f"aws:RequestTag/{k}": v for k, v in DRILL_SCRATCH_TAG.items()}
    assert allowed(policy, "cognito-idp:CreateUserPool", "*", **request_tags)
    assert not allowed(policy, "cognito-idp:CreateUserPool", "*")
    assert not allowed(policy, "cognito-idp:CreateUserPool", "*", **{"aws:RequestTag/cognito-backup:scratch": "x"})


def test_the_drills_create_user_pool_request_carries_the_scratch_tag():
    """What the drill sends (the restore's CreateUserPool with the drill's overrides), evaluated."""
    from cognito_backup.restore.requests import plan_pool

    plan = plan_pool({"Name": "prod-customers", "UserPoolTags": {"team": "identity"}}, None,
                     pool_name="drill-prod-customers-20261126010003", overrides=dict(DRILL_POOL_OVERRIDES))
    request_tags = {f"aws:RequestTag/{k}": v for k, v in plan.params["UserPoolTags"].items()}
    assert allowed(drill_policy(settings()), "cognito-idp:CreateUserPool", "*", **request_tags)


def test_the_drill_reads_the_stacks_pools_and_no_other():
    policy = drill_policy(settings())
    assert allowed(policy, "cognito-idp:DescribeUserPool", POOL)
    assert not allowed(policy, "cognito-idp:DescribeUserPool", OTHER_POOL)
    assert not allowed(policy, "cognito-idp:ListUsers", OTHER_POOL)
    assert allowed(policy, "cognito-idp:ListUsers", SCRATCH_POOL, **SCRATCH)


@pytest.mark.parametrize(("action", "resource", "context"), [
    ("iam:PassRole", IMPORT_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("iam:PassRole", f"{IAM}:role/admin", {"iam:PassedToService": "cognito-idp.amazonaws.com"}),
    ("iam:PassRole", BACKUP_ROLE, {"iam:PassedToService": "cognito-idp.amazonaws.com"}),
    ("iam:PassRole", READER_ROLE, {"iam:PassedToService": "cognito-idp.amazonaws.com"}),
    ("s3:PutObject", SNAPSHOT_OBJECT, IN_ACCOUNT),
    ("s3:DeleteObject", SNAPSHOT_OBJECT, IN_ACCOUNT),
    ("s3:GetObject", "arn:aws:s3:::snapshots-bucket-archive-2024/x", IN_ACCOUNT),
    ("lambda:InvokeFunction", FUNCTION, {}),
    ("iam:CreateRole", f"{IAM}:role/anything", {}),
    ("kms:Decrypt", SNAPSHOT_KEY, PROGRAM_KEY),  # directly
    ("kms:Decrypt", OTHER_KEY, VIA_S3),  # another key, even through S3
])
def test_the_drill_may_not(action, resource, context):
    assert not allowed(drill_policy(settings()), action, resource, **context)


def test_a_new_drill_scope_must_be_mapped():
    with pytest.raises(ValueError, match="scope 'elsewhere'.*drill_scopes"):
        drill_policy(settings(), [Operation("s3", "GetObject", "s3:GetObject", "elsewhere")])


def test_the_stacks_pools_come_from_the_stack_files(tmp_path):
    pools = "config:\n  cognito-backup:userPools:\n"
    (tmp_path / "Pulumi.prod.yaml").write_text(pools + "    - {id: eu-west-1_Aaa, name: a}\n"
                                                       "    - {id: eu-west-1_Bbb, name: b}\n")
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n  cognito-backup:userPools:\n    - {id: eu-west-1_Aaa, name: a}\n")
    assert read_stack_pool_ids(tmp_path, ("prod", "staging")) == ("eu-west-1_Aaa", "eu-west-1_Bbb")
    with pytest.raises(SettingsError, match="cannot read .*Pulumi.dev.yaml for stack 'dev'"):
        read_stack_pool_ids(tmp_path, ("dev",))


# --------------------------------------------------------------------------------------------------
# Every policy


@pytest.mark.parametrize("state", [True, False], ids=["s3-backend", "pulumi-cloud"])
@pytest.mark.parametrize("role", sorted(ca.ROLES))
def test_policies_are_well_formed_and_fit(role, state):
    spec = ca.ROLES[role]
    policy = spec.effective_policy(settings(state=state))
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        actions = as_list(statement.get("Action") or statement.get("NotAction"))
        assert actions == sorted(actions) and all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z*]+", a) for a in actions)
        if statement["Effect"] == "Allow":
            assert not any(a == "*" or a.endswith(":*") or "*" in a for a in actions), f"{role}: wildcard {actions}"
    # IAM allows 10,240 characters of inline policy per role, and 6,144 in a managed policy.
    assert len(json.dumps(spec.policy(settings(state=state)), separators=(",", ":"))) < 10_240
    if spec.guardrails:
        assert len(json.dumps(spec.guardrails(settings(state=state)), separators=(",", ":"))) < 6_144


def test_the_policies_fit_for_five_stacks_and_too_many_stacks_are_refused_naming_the_key():
    assert ca.policy_size_problems(settings(stacks=tuple(f"stack{i}" for i in range(5)))) == []
    [problem] = ca.policy_size_problems(settings(stacks=tuple(f"stack{i}" for i in range(8))))
    assert problem.startswith("cognito-backup-bootstrap:stacks: with 8 stacks the deploy role's policy is")


def test_with_pulumi_cloud_no_role_touches_a_state_bucket():
    for role, spec in ca.ROLES.items():
        text = json.dumps(spec.effective_policy(settings(state=False)))
        assert "pulumi-state" not in text and "Pulumi" not in text, role


@pytest.mark.parametrize(("overrides", "message"), [
    ({"github_owner": "-bad-"}, "githubOwner"),
    ({"github_repo": ""}, "githubRepo"),
    ({"stacks": ()}, "stacks: list the stacks"),
    ({"stacks": ("prod", "prod")}, "a stack is listed twice"),
    ({"stacks": ("prod env",)}, "'prod env' is not a stack name"),
    ({"resource_prefix": "Cognito_Backup"}, "resourcePrefix"),
    ({"account_id": "12345"}, "not 12 digits"),
    # "$" also matches before a final newline: every value must match whole.
    ({"github_owner": "example-org\n"}, "githubOwner"),
    ({"github_repo": "cognito-backup\n"}, "githubRepo"),
    ({"stacks": ("prod\n",)}, "'prod\\n' is not a stack name"),
    ({"resource_prefix": "cognito-backup\n"}, "resourcePrefix"),
    ({"default_branch": "main\n"}, "defaultBranch"),
    ({"stack_pool_ids": ("eu-west-1_Abc\n",)}, "which is not a pool id"),
    ({"stack_readers": (("prod", (f"{IAM}:role/github-actions/cognito-backup-deploy",)),)},
     "Pulumi.prod.yaml: cognito-backup:snapshotReaders[0]"),
])
def test_bad_settings_are_refused_naming_the_key(overrides, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings(state=False, **overrides)


# --------------------------------------------------------------------------------------------------
# The bootstrap and the workflows agree


WORKFLOW_DIR = ROOT / ".github" / "workflows"


def _workflow_text() -> str:
    return "\n".join(p.read_text() for p in sorted(WORKFLOW_DIR.glob("*.yml")))


def _role_jobs() -> list[tuple[str, str, dict, dict]]:
    """(workflow file, job name, job, configure-aws-credentials step) of every job that assumes a role."""
    found = []
    for path in sorted(WORKFLOW_DIR.glob("*.yml")):
        for name, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items():
            for step in job.get("steps") or []:
                if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials"):
                    found.append((path.name, name, job, step))
    return found


def _role_of(step: dict) -> str:
    variables = {f"${{{{ vars.AWS_{role.upper()}_ROLE_ARN }}}}": role for role in ca.ROLES}
    return variables[step["with"]["role-to-assume"]]


def test_the_workflows_read_the_variables_the_bootstrap_outputs():
    produced = set(ca.github_variables(region="eu-west-1", role_arns=dict.fromkeys(ca.ROLES, "arn"),
                                       backend="s3://b"))
    read = set(re.findall(r"vars\.([A-Z0-9_]+)", _workflow_text()))
    assert read - produced == {"PULUMI_ORG"}  # the one optional variable, for Pulumi Cloud organisations
    assert produced <= read


def test_every_workflow_asks_for_sessions_its_role_allows():
    for workflow, name, _job, step in _role_jobs():
        role = _role_of(step)
        asked = step["with"].get("role-duration-seconds", ca.DEFAULT_SESSION_SECONDS)
        assert asked <= ca.ROLES[role].max_session_seconds, f"{workflow}:{name}: {role} role sessions"
    assert len(_role_jobs()) >= 4


def test_each_role_is_assumed_only_by_jobs_its_trust_admits():
    """A job's OIDC subject names its workflow file and its environment: a role assumed from another
    workflow, or a job without the role's environment, would be refused by AWS."""
    seen = set()
    for workflow, name, job, step in _role_jobs():
        role = _role_of(step)
        spec = ca.ROLES[role]
        assert workflow == spec.workflow, f"{workflow}:{name} assumes the {role} role, trusted from {spec.workflow}"
        expected = "${{ inputs.stack }}" if spec.environment is None else spec.environment
        assert job.get("environment") == expected, f"{workflow}:{name} must run in the {expected} environment"
        seen.add(role)
    assert seen == set(ca.ROLES)


def test_the_example_configuration_is_valid_and_names_the_workflows_stacks():
    example = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.example.yaml").read_text())["config"]
    assert sorted(example["cognito-backup-bootstrap:stacks"]) == sorted(STACKS)
    assert example["cognito-backup-bootstrap:stateBackend"] in ("cloud", "s3")
    project = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.yaml").read_text())
    assert project["name"] == "cognito-backup-bootstrap"
    declared = set(project["config"]) | {"aws:region"}
    assert {k.split(":", 1)[1] if k.startswith("cognito-backup-bootstrap:") else k for k in example} <= declared
    assert yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"] == PROJECT  # the state's paths


# --------------------------------------------------------------------------------------------------
# The program under Pulumi's mocks


def run_bootstrap(**config: str) -> ProgramRun:
    values = {"aws:region": "eu-west-1", "githubOwner": "example-org", "githubRepo": "cognito-backup",
              "stacks": list(STACKS), "stateBackend": "cloud", "existingOidcProviderArn": "", **config}
    return run_program(ROOT / "bootstrap", project="cognito-backup-bootstrap", stack="test",
                       config=as_pulumi_config(values, "cognito-backup-bootstrap"))


def test_program_with_pulumi_cloud_creates_the_provider_the_roles_and_the_boundary():
    bootstrap = run_bootstrap()
    roles = bootstrap.by_name("aws:iam/role:Role")
    assert sorted(r.inputs["name"] for r in roles.values()) == [
        "cognito-backup-deploy", "cognito-backup-drill", "cognito-backup-preview", "cognito-backup-snapshot"]
    assert {r.inputs["path"] for r in roles.values()} == {"/github-actions/"}
    assert roles["snapshot-role"].inputs["maxSessionDuration"] == ca.SNAPSHOT_SESSION_SECONDS
    assert roles["drill-role"].inputs["maxSessionDuration"] == ca.DRILL_SESSION_SECONDS
    # the drill is denied writing to the pools of the stack files beside the bootstrap
    drill = json.loads(bootstrap.by_name("aws:iam/rolePolicy:RolePolicy")["drill-permissions"].inputs["policy"])
    for pool_id in read_stack_pool_ids(ROOT, STACKS):
        region = pool_id.split("_")[0]
        assert not allowed(drill, "cognito-idp:AdminCreateUser",
                           f"arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{pool_id}", **SCRATCH), pool_id
    deploy_trust = json.loads(roles["deploy-role"].inputs["assumeRolePolicy"])
    assert can_assume(deploy_trust, sub("prod", "_deploy-stack.yml"))
    assert deploy_trust["Statement"][0]["Principal"] == {"Federated": PROVIDER}
    [provider] = bootstrap.by_name("aws:iam/openIdConnectProvider:OpenIdConnectProvider").values()
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    policies = bootstrap.by_name("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(policies["deploy-permissions"].inputs["policy"]) == deploy_permissions(settings(state=False))
    # the guardrails: a managed policy under the CI path, attached to the deploy role only
    managed = bootstrap.by_name("aws:iam/policy:Policy")
    assert json.loads(managed["deploy-guardrails"].inputs["policy"]) == deploy_guardrails(settings(state=False))
    assert managed["deploy-guardrails"].inputs["path"] == "/github-actions/"
    [attachment] = bootstrap.by_name("aws:iam/rolePolicyAttachment:RolePolicyAttachment").values()
    assert (attachment.inputs["role"], attachment.inputs["policyArn"]) == (
        "cognito-backup-deploy", f"{IAM}:policy/github-actions/cognito-backup-deploy-guardrails")
    # the boundary, where the program looks for it, built from the stack files' pools
    boundary = managed["program-boundary"]
    assert boundary.state["arn"] == BOUNDARY
    stacks_settings = settings(state=False, stack_pool_ids=read_stack_pool_ids(ROOT, STACKS))
    assert json.loads(boundary.inputs["policy"]) == boundary_policy(stacks_settings)
    assert bootstrap.outputs["githubOidcSubjectTemplate"] == oidc_subject_template()
    assert bootstrap.outputs["githubEnvironments"] == sorted(["preview", "prod", "restore-drill", "snapshot",
                                                              "staging"])
    assert not bootstrap.by_name("aws:s3/bucket:Bucket") and not bootstrap.by_name("aws:kms/key:Key")


def test_program_with_the_s3_backend_creates_a_protected_encrypted_state_bucket():
    bootstrap = run_bootstrap(stateBackend="s3")
    [bucket] = bootstrap.by_name("aws:s3/bucket:Bucket").values()
    assert bucket.inputs["bucket"] == f"pulumi-state-{ACCOUNT}-cognito-backup"
    assert not bucket.inputs.get("forceDestroy")
    [key] = bootstrap.by_name("aws:kms/key:Key").values()
    assert key.inputs["enableKeyRotation"] is True
    [versioning] = bootstrap.by_name("aws:s3/bucketVersioning:BucketVersioning").values()
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    [block] = bootstrap.by_name("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").values()
    assert all(block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                         "restrictPublicBuckets"))
    [encryption] = bootstrap.by_name("aws:s3/bucketServerSideEncryptionConfiguration:"
                                  "BucketServerSideEncryptionConfiguration").values()
    rule = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": STATE_KEY}
    [alias] = bootstrap.by_name("aws:kms/alias:Alias").values()
    assert alias.inputs["name"] == "alias/pulumi-state-cognito-backup"
    preview = json.loads(bootstrap.by_name("aws:iam/rolePolicy:RolePolicy")["preview-permissions"].inputs["policy"])
    assert preview == preview_policy(settings())


def test_program_reuses_an_existing_oidc_provider():
    existing = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    bootstrap = run_bootstrap(existingOidcProviderArn=existing)
    assert not bootstrap.by_name("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    for role in bootstrap.by_name("aws:iam/role:Role").values():
        assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Federated": existing}


def test_program_refuses_an_unknown_backend():
    with pytest.raises(Exception, match="stateBackend: must be cloud or s3"):
        run_bootstrap(stateBackend="gcs")


# --------------------------------------------------------------------------------------------------
# The roles against the real main program: run __main__.py under mocks with each Pulumi.<stack>.yaml
# and ask, for every resource it declares, whether the deploy role may create and configure it; and
# whether the boundary allows every grant its roles get.


STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def _s3(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _role(program: ProgramRun, name: str) -> Declared:
    [role] = [r for r in program.of_type("aws:iam/role:Role") if r.state["name"] == name]
    return role


def requests_for(r: Declared, program: ProgramRun) -> list[tuple[str, str, dict]]:
    """The (action, resource, context) a deploy makes to create and configure one resource."""
    i = r.state  # the inputs, and the names AWS or Pulumi would give
    region = i.get("region") or program.region

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"

    def role_requests() -> list[tuple[str, str, dict]]:
        boundary = {"iam:PermissionsBoundary": i["permissionsBoundary"]} if i.get("permissionsBoundary") else {}
        return [("iam:CreateRole", i["arn"], boundary), ("iam:TagRole", i["arn"], {}),
                ("iam:GetRole", i["arn"], {}), ("iam:UpdateAssumeRolePolicy", i["arn"], {})]

    def role_policy_requests() -> list[tuple[str, str, dict]]:
        role = _role(program, i["role"]).state
        return [("iam:PutRolePolicy", role["arn"], {"iam:PermissionsBoundary": role.get("permissionsBoundary", "")}),
                ("iam:GetRolePolicy", role["arn"], {})]

    def key_requests() -> list[tuple[str, str, dict]]:
        created = {f"aws:RequestTag/{k}": v for k, v in (i.get("tags") or {}).items()}
        tagged = {f"aws:ResourceTag/{k}": v for k, v in (i.get("tags") or {}).items()}
        return [("kms:CreateKey", "*", created), ("kms:TagResource", "*", created),
                *[(action, i["arn"], tagged) for action in ("kms:EnableKeyRotation", "kms:PutKeyPolicy",
                                                           "kms:DescribeKey", "kms:GetKeyPolicy",
                                                           "kms:ScheduleKeyDeletion")]]

    def alias_requests() -> list[tuple[str, str, dict]]:
        [key] = [k for k in program.of_type("aws:kms/key:Key") if k.state["keyId"] == i["targetKeyId"]]
        tagged = {f"aws:ResourceTag/{k}": v for k, v in (key.state.get("tags") or {}).items()}
        return [("kms:CreateAlias", arn("kms", i["name"]), {}), ("kms:CreateAlias", key.state["arn"], tagged)]

    table = {
        "aws:s3/bucket:Bucket": lambda: [("s3:CreateBucket", _s3(i["bucket"]), {}), ("s3:PutBucketTagging",
                                                                                     _s3(i["bucket"]), {})]
        + ([("s3:PutBucketObjectLockConfiguration", _s3(i["bucket"]), {}),
            ("s3:PutBucketVersioning", _s3(i["bucket"]), {})] if i.get("objectLockEnabled") else []),
        "aws:s3/bucketPolicy:BucketPolicy": lambda: [("s3:PutBucketPolicy", _s3(i["bucket"]), {}),
                                                     ("s3:GetBucketPolicy", _s3(i["bucket"]), {})],
        "aws:s3/bucketVersioning:BucketVersioning": lambda: [("s3:PutBucketVersioning", _s3(i["bucket"]), {})],
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
            lambda: [("s3:PutEncryptionConfiguration", _s3(i["bucket"]), {})],
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
            lambda: [("s3:PutLifecycleConfiguration", _s3(i["bucket"]), {})],
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
            lambda: [("s3:PutBucketPublicAccessBlock", _s3(i["bucket"]), {})],
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls":
            lambda: [("s3:PutBucketOwnershipControls", _s3(i["bucket"]), {})],
        "aws:s3/bucketLogging:BucketLogging": lambda: [("s3:PutBucketLogging", _s3(i["bucket"]), {})],
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
            lambda: [("s3:PutBucketObjectLockConfiguration", _s3(i["bucket"]), {})],
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
            lambda: [("s3:PutReplicationConfiguration", _s3(i["bucket"]), {}),
                     ("iam:PassRole", i["role"], {"iam:PassedToService": "s3.amazonaws.com"})],
        "aws:kms/key:Key": key_requests,
        "aws:kms/alias:Alias": alias_requests,
        "aws:iam/role:Role": role_requests,
        "aws:iam/rolePolicy:RolePolicy": role_policy_requests,
        "aws:lambda/function:Function": lambda: [
            ("lambda:CreateFunction", arn("lambda", f"function:{i['name']}"), {}),
            ("lambda:GetFunction", arn("lambda", f"function:{i['name']}"), {}),
            ("iam:PassRole", i["role"], {"iam:PassedToService": "lambda.amazonaws.com"}),
            *[("lambda:GetLayerVersion", layer, {}) for layer in i.get("layers") or []]],
        "aws:lambda/layerVersion:LayerVersion": lambda: [
            ("lambda:PublishLayerVersion", i["layerArn"], {}),
            ("lambda:GetLayerVersion", i["arn"], {}),
            ("lambda:DeleteLayerVersion", i["arn"], {})],  # when a new lock replaces it
        "aws:lambda/permission:Permission":
            lambda: [("lambda:AddPermission", arn("lambda", f"function:{i['function']}"), {})],
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
            lambda: [("lambda:PutFunctionEventInvokeConfig", arn("lambda", f"function:{i['functionName']}"), {})],
        "aws:cloudwatch/logGroup:LogGroup": lambda: [("logs:CreateLogGroup", arn("logs", f"log-group:{i['name']}"), {}),
                                                     ("logs:PutRetentionPolicy", arn("logs", f"log-group:{i['name']}"),
                                                      {})],
        "aws:sqs/queue:Queue": lambda: [("sqs:CreateQueue", arn("sqs", i["name"]), {}),
                                        ("sqs:GetQueueAttributes", arn("sqs", i["name"]), {})],
        "aws:sqs/queuePolicy:QueuePolicy": lambda: [("sqs:SetQueueAttributes",
                                                     arn("sqs", i["queueUrl"].rsplit("/", 1)[1]), {})],
        "aws:cloudwatch/eventRule:EventRule": lambda: [("events:PutRule", arn("events", f"rule/{i['name']}"), {})],
        "aws:cloudwatch/eventTarget:EventTarget": lambda: [("events:PutTargets", arn("events", f"rule/{i['rule']}"),
                                                            {})],
        "aws:cloudwatch/metricAlarm:MetricAlarm": lambda: [("cloudwatch:PutMetricAlarm",
                                                            arn("cloudwatch", f"alarm:{i['name']}"), {})],
        "aws:cloudwatch/dashboard:Dashboard": lambda: [
            ("cloudwatch:PutDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{i['dashboardName']}", {})],
        "aws:sns/topic:Topic": lambda: [("sns:CreateTopic", arn("sns", i["name"]), {})],
        "aws:sns/topicSubscription:TopicSubscription": lambda: [("sns:Subscribe", i["topic"], {})],
    }
    if r.typ.startswith("cognito-backup:"):  # the program's own components: nothing in AWS
        return []
    assert r.typ in table, (f"the main program declares {r.typ} ({r.name}): add what deploying it takes to "
                            "requests_for here and, if needed, to bootstrap/deploy_role.py")
    return table[r.typ]()


@pytest.fixture(scope="module", params=STACK_FILES, ids=lambda p: p.name)
def main_program(request):
    if not (ROOT / "__main__.py").exists():
        pytest.fail("the main program (__main__.py) is missing")
    return stack_name(request.param), run_main_program(request.param)


def account_settings_of_the_stacks() -> Settings:
    stacks = tuple(stack_name(p) for p in STACK_FILES)
    return settings(stacks=stacks, stack_pool_ids=read_stack_pool_ids(ROOT, stacks),
                    stack_readers=read_stack_readers(ROOT, stacks))


def test_there_are_stacks_to_check():
    assert STACK_FILES, "no Pulumi.<stack>.yaml at the root: the cross-checks below ran on nothing"


def test_the_deploy_role_can_create_every_resource_of_the_main_program(main_program):
    stack, program = main_program
    policy = deploy_policy(account_settings_of_the_stacks())
    refused = [f"{r.typ} {r.name}: {action} on {resource} {context}"
               for r in program.resources for action, resource, context in requests_for(r, program)
               if not allowed(policy, action, resource, **context)]
    assert not refused, f"stack {stack}: the deploy role may not:\n" + "\n".join(refused)


def _grants_of_the_programs_roles(program: ProgramRun) -> list[tuple[str, str, str, dict]]:
    """(role, action, a resource, the request's context) for every grant the program gives its roles:
    their inline policies and the key policies' grants to them (always through S3)."""
    roles = {r.state["name"]: r.state["arn"] for r in program.of_type("aws:iam/role:Role")}
    grants = []
    for policy in program.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    concrete = resource.replace("*", "x")  # one object under the prefix, one log stream...
                    context = {"s3:ResourceAccount": ACCOUNT} if action.startswith("s3:") else {}
                    if action.startswith("kms:"):
                        key = next(k for k in program.of_type("aws:kms/key:Key") if k.state["arn"] == resource)
                        context = {**VIA_S3, **{f"aws:ResourceTag/{k}": v for k, v in key.inputs["tags"].items()}}
                    grants.append((policy.inputs["role"], action, concrete, context))
    for key in program.of_type("aws:kms/key:Key"):
        tags = {f"aws:ResourceTag/{k}": v for k, v in key.inputs["tags"].items()}
        for statement in json.loads(key.inputs["policy"])["Statement"]:
            principals = as_list(statement["Principal"].get("AWS", [])) if isinstance(statement["Principal"],
                                                                                     dict) else []
            for name, role_arn in roles.items():
                if role_arn in principals:
                    grants += [(name, action, key.state["arn"], {**VIA_S3, **tags})
                               for action in as_list(statement["Action"])]
    return grants


def test_the_boundary_allows_every_grant_of_the_programs_roles(main_program):
    """The boundary caps the program's roles without breaking them: each grant the program gives a role
    (its policy, the key policies) is within it, for every stack the bootstrap knows."""
    stack, program = main_program
    boundary = boundary_policy(account_settings_of_the_stacks())
    grants = _grants_of_the_programs_roles(program)
    assert len({g[0] for g in grants}) == len(program.of_type("aws:iam/role:Role"))
    refused = [g for g in grants if not allowed(boundary, g[1], g[2], **g[3])]
    assert not refused, f"stack {stack}: the boundary would refuse:\n" + "\n".join(map(str, refused))


def test_the_deploy_role_cannot_read_a_snapshot_even_after_rewriting_the_bucket_and_key_policies(main_program):
    """The generated bucket and key policies deny every principal but the readers, and the deploy role
    is none. It may rewrite both (PutBucketPolicy, PutKeyPolicy on the program's tagged key): even a
    bucket policy and a key policy that admit it by name give it no snapshot and no decryption, because
    its own policies deny both explicitly."""
    _, program = main_program
    s = account_settings_of_the_stacks()
    deploy = ca.role_arn(s, "deploy")
    identity = [deploy_permissions(s), deploy_guardrails(s)]
    bucket = program.outputs["bucketName"]
    obj = f"{_s3(bucket)}/{program.outputs.get('snapshotPrefix') or ''}2026/11/26/x_20261126_010003.json"
    [key] = [k for k in program.of_type("aws:kms/key:Key") if k.state["arn"] == program.outputs["kmsKeyArn"]]
    tags = {f"aws:ResourceTag/{k}": v for k, v in key.inputs["tags"].items()}
    bucket_policy = json.loads(program.by_name("aws:s3/bucketPolicy:BucketPolicy")["snapshots-policy"].inputs["policy"])
    key_policy = json.loads(key.inputs["policy"])
    get = {"aws:SecureTransport": "true", "aws:PrincipalArn": deploy, "s3:ResourceAccount": ACCOUNT}

    def read(policy: dict) -> str:
        return request_decision("s3:GetObject", obj, principal=deploy, account=ACCOUNT, identity=identity,
                                resource_policy=policy, context=get)

    def decrypt(policy: dict) -> str:
        return request_decision("kms:Decrypt", key.state["arn"], principal=deploy, account=ACCOUNT,
                                identity=identity, key_policy=policy, context={**VIA_S3, **tags})

    assert deploy not in json.dumps(bucket_policy) + json.dumps(key_policy)  # never a reader
    assert read(bucket_policy) == "Deny" and decrypt(key_policy) != "Allow"
    # its allowed calls: rewrite both policies to admit itself by name
    assert allowed(deploy_policy(s), "s3:PutBucketPolicy", _s3(bucket))
    assert allowed(deploy_policy(s), "kms:PutKeyPolicy", key.state["arn"], **tags)
    admit = {"Effect": "Allow", "Principal": {"AWS": deploy}, "Action": "*", "Resource": "*"}
    assert read({"Statement": [admit]}) == "Deny"
    assert decrypt({"Statement": [admit]}) == "Deny"
    # the same rewritten policies would admit a principal without the guardrails: the denies are the proof
    assert request_decision("s3:GetObject", obj, principal=deploy, account=ACCOUNT, resource_policy={
        "Statement": [admit]}, context=get) == "Allow"


def test_the_snapshot_role_can_invoke_the_function_and_read_the_bucket_of_each_stack(main_program):
    stack, program = main_program
    outputs = program.outputs
    policy = snapshot_policy(account_settings_of_the_stacks())
    function = f"arn:aws:lambda:{program.region}:{ACCOUNT}:function:{outputs['functionName']}"
    assert allowed(policy, "lambda:InvokeFunction", function), function
    bucket = _s3(outputs["bucketName"])
    assert allowed(policy, "s3:ListBucket", bucket, **IN_ACCOUNT), bucket
    key = f"{outputs.get('snapshotPrefix') or ''}2026/11/26/x_20261126_010003.json"
    assert allowed(policy, "s3:GetObject", f"{bucket}/{key}", **IN_ACCOUNT)
    [kms_key] = [k for k in program.of_type("aws:kms/key:Key") if k.state["arn"] == outputs["kmsKeyArn"]]
    tags = {f"aws:ResourceTag/{k}": v for k, v in kms_key.inputs["tags"].items()}
    assert allowed(policy, "kms:Decrypt", outputs["kmsKeyArn"], **tags, **VIA_S3)
    # and nothing else of the program's buckets (access logs, replica)
    others = [r.state["bucket"] for r in program.resources
              if r.typ == "aws:s3/bucket:Bucket" and r.state["bucket"] != outputs["bucketName"]]
    assert others and not any(allowed(policy, "s3:GetObject", f"{_s3(b)}/k", **IN_ACCOUNT) for b in others)


def test_the_drill_role_can_use_the_import_role_and_read_the_bucket_of_each_stack(main_program):
    _, program = main_program
    outputs = program.outputs
    policy = drill_policy(account_settings_of_the_stacks())
    assert allowed(policy, "iam:PassRole", outputs["importRoleArn"],
                   **{"iam:PassedToService": "cognito-idp.amazonaws.com"}), outputs["importRoleArn"]
    assert allowed(policy, "s3:ListBucket", _s3(outputs["bucketName"]), **IN_ACCOUNT)
    assert allowed(policy, "s3:GetObject", f"{_s3(outputs['bucketName'])}/2026/11/26/x_20261126_010003.json",
                   **IN_ACCOUNT)
    for pool in outputs["pools"]:  # the snapshot's source pool: read, never written
        arn = f"arn:aws:cognito-idp:{program.region}:{ACCOUNT}:userpool/{pool['id']}"
        assert allowed(policy, "cognito-idp:DescribeUserPool", arn)
        assert not allowed(policy, "cognito-idp:AdminCreateUser", arn, **SCRATCH)


def test_the_invoke_command_reads_the_programs_outputs(main_program):
    """`pulumi stack output --json` of this program is what snapshot.yml hands to the invoke command."""
    import argparse

    from cognito_backup import invoke

    _, program = main_program
    outputs = program.outputs
    parser = argparse.ArgumentParser()
    invoke.add_arguments(parser)
    target = invoke.resolve_target(parser.parse_args(["--stack-outputs", json.dumps(outputs, default=str),
                                                      "--pool", "all"]))
    assert target.function == outputs["functionName"]
    assert target.bucket == outputs["bucketName"]
    assert [(p.id, p.name) for p in target.pools] == [(p["id"], p["name"]) for p in outputs["pools"]]
