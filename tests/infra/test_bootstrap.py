"""The bootstrap project (bootstrap/): the CI roles' trust and permission policies, evaluated.

The policies are checked by what they allow, not by their text, with the tests' IAM evaluator
(``tests/support/iam.py``). Then the program itself runs once under
Pulumi's mocks, for the Pulumi Cloud and the self-managed S3 backend.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from backup_lambda.permissions import Operation
from bootstrap import ci_access as ca
from bootstrap.account_settings import Settings, SettingsError, StateBackend, check_settings, read_stack_pool_ids
from bootstrap.deploy_role import deploy_policy, deploy_resources
from bootstrap.drill_role import drill_policy
from bootstrap.preview_role import READ_METADATA_ACTIONS, preview_policy
from bootstrap.snapshot_role import snapshot_policy
from bootstrap.state_backend import state_bucket_name, state_key_alias
from bootstrap.trust import OIDC_AUDIENCE, trust_policy
from cognito_backup.permissions import DRILL_OPERATIONS
from tests.support.iam import allowed, as_list, matches_any
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


def settings(state: bool = True, **overrides) -> Settings:
    values = dict(account_id=ACCOUNT, github_owner="example-org", github_repo="cognito-backup", stacks=STACKS)
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


# --------------------------------------------------------------------------------------------------
# Trust


REPO = "repo:example-org/cognito-backup"


@pytest.mark.parametrize(("role", "trusted", "refused"), [
    ("preview", [f"{REPO}:pull_request"],
     [f"{REPO}:ref:refs/heads/main", f"{REPO}:environment:prod", "repo:someone/cognito-backup:pull_request"]),
    ("deploy", [f"{REPO}:environment:staging", f"{REPO}:environment:prod"],
     [f"{REPO}:ref:refs/heads/main", f"{REPO}:pull_request", f"{REPO}:environment:production",
      f"{REPO}:environment:prod-copy", "repo:example-org/cognito-backup-fork:environment:prod"]),
    ("snapshot", [f"{REPO}:ref:refs/heads/main"],
     [f"{REPO}:ref:refs/heads/feature", f"{REPO}:pull_request", f"{REPO}:environment:prod",
      f"{REPO}:ref:refs/tags/main"]),
    ("drill", [f"{REPO}:ref:refs/heads/main"],
     [f"{REPO}:ref:refs/heads/feature", f"{REPO}:pull_request", f"{REPO}:environment:prod"]),
])
def test_each_role_trusts_only_its_own_workflow(role, trusted, refused):
    trust = trust_policy(PROVIDER, ca.subjects(settings(), role))
    for sub in trusted:
        assert can_assume(trust, sub), f"{role} should trust {sub}"
    for sub in refused:
        assert not can_assume(trust, sub), f"{role} must not trust {sub}"


def test_trust_requires_the_sts_audience_and_federates_github_only():
    trust = trust_policy(PROVIDER, ca.subjects(settings(), "snapshot"))
    assert not can_assume(trust, f"{REPO}:ref:refs/heads/main", aud="https://github.com/example-org")
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Condition"]) == {"StringEquals"}  # exact matches, never StringLike


@pytest.mark.parametrize("subjects", [[], [f"{REPO}:*"], [f"{REPO}:environment:pro?"]])
def test_trust_refuses_wildcards_and_empty_subjects(subjects):
    with pytest.raises(ValueError, match="exact subjects"):
        trust_policy(PROVIDER, subjects)


def test_a_custom_default_branch_is_the_one_the_snapshot_role_trusts():
    assert ca.subjects(settings(default_branch="trunk"), "snapshot") == [f"{REPO}:ref:refs/heads/trunk"]


# --------------------------------------------------------------------------------------------------
# Preview: reads metadata, never data; writes only the state's lock files


SNAPSHOT_BUCKET = "arn:aws:s3:::snapshots-bucket-1a2b3c4"  # as Pulumi names the program's bucket
SNAPSHOT_OBJECT = f"{SNAPSHOT_BUCKET}/cognito/2026/11/26/prod-users_20261126_010003.json"
SNAPSHOT_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-4333-8444-555555555555"
POOL = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/eu-west-1_AbCd12345"
LOG_GROUP = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod:*"
FUNCTION = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-prod"

DATA_READS = [
    ("s3:GetObject", SNAPSHOT_OBJECT),
    ("s3:GetObjectVersion", SNAPSHOT_OBJECT),
    ("kms:Decrypt", SNAPSHOT_KEY),
    ("cognito-idp:ListUsers", POOL),
    ("cognito-idp:AdminGetUser", POOL),
    ("cognito-idp:ListUsersInGroup", POOL),
    ("logs:GetLogEvents", LOG_GROUP),
    ("logs:FilterLogEvents", LOG_GROUP),
    ("logs:StartQuery", LOG_GROUP),
    ("sqs:ReceiveMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-1a2b3c4"),
    ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:x"),
    ("ssm:GetParameter", f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/x"),
    ("lambda:InvokeFunction", FUNCTION),
]


@pytest.mark.parametrize(("action", "resource"), DATA_READS)
def test_preview_reads_no_data(action, resource):
    assert not allowed(preview_policy(settings()), action, resource)


@pytest.mark.parametrize(("action", "resource"), [
    ("s3:GetBucketPolicy", SNAPSHOT_BUCKET),
    ("s3:GetLifecycleConfiguration", SNAPSHOT_BUCKET),
    ("kms:GetKeyPolicy", SNAPSHOT_KEY),
    ("iam:GetRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/backup-role-1a2b3c4"),
    ("lambda:GetFunctionConfiguration", FUNCTION),
    ("logs:DescribeLogGroups", LOG_GROUP),
    ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cognito-backup-prod-errors"),
])
def test_preview_reads_the_metadata_a_refresh_needs(action, resource):
    assert allowed(preview_policy(settings()), action, resource)


def test_preview_changes_nothing_but_the_state_lock():
    policy = preview_policy(settings())
    state = settings().state
    for statement in policy["Statement"]:
        for action in statement["Action"]:
            verb = re.sub(r"^[a-z0-9-]+:", "", action)
            if statement["Sid"] == "WritePulumiLocks":
                assert statement["Resource"] == f"{state.bucket_arn}/.pulumi/locks/*"
            elif statement["Sid"] == "UsePulumiSecretsKey":
                assert verb in ("Decrypt", "DescribeKey", "GenerateDataKey")
                assert statement["Resource"] == STATE_KEY
            else:
                assert verb.startswith(("Describe", "Get", "List")), f"preview may {action}"
    stack_state = f"{state.bucket_arn}/.pulumi/stacks/organization/cognito-backup/prod.json"
    assert allowed(policy, "s3:PutObject", f"{state.bucket_arn}/.pulumi/locks/organization/cognito-backup/prod/1.json")
    assert not allowed(policy, "s3:PutObject", stack_state)
    assert allowed(policy, "s3:GetObject", stack_state)


# --------------------------------------------------------------------------------------------------
# Deploy: manages the program's resources, nothing else; never reads the snapshots


PROGRAM_CHANGES = [
    ("s3:CreateBucket", SNAPSHOT_BUCKET),
    ("s3:PutBucketPolicy", SNAPSHOT_BUCKET),
    ("s3:PutLifecycleConfiguration", SNAPSHOT_BUCKET),
    ("s3:PutBucketObjectLockConfiguration", "arn:aws:s3:::snapshots-replica-bucket-1a2b3c4"),
    ("s3:PutReplicationConfiguration", SNAPSHOT_BUCKET),
    ("kms:CreateKey", "*"),
    ("kms:PutKeyPolicy", SNAPSHOT_KEY),
    ("kms:CreateAlias", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/cognito-backup-prod"),
    ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/backup-role-1a2b3c4"),
    ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/snapshots-replication-role-1a2b3c4"),
    ("lambda:CreateFunction", FUNCTION),
    ("lambda:UpdateFunctionCode", FUNCTION),
    ("lambda:AddPermission", FUNCTION),
    ("lambda:GetLayerVersion",
     "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:25"),
    ("logs:CreateLogGroup", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod"),
    ("logs:PutRetentionPolicy", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod"),
    ("sqs:CreateQueue", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-1a2b3c4"),
    ("sqs:SetQueueAttributes", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-schedule-dlq-1a2b3c4"),
    ("events:PutRule", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-1a2b3c4"),
    ("events:PutTargets", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-1a2b3c4"),
    ("cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cognito-backup-prod-errors"),
    ("sns:CreateTopic", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts-topic-1a2b3c4"),
    ("sns:Subscribe", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts-topic-1a2b3c4"),
]


@pytest.mark.parametrize(("action", "resource"), PROGRAM_CHANGES)
def test_deploy_manages_the_programs_resources(action, resource):
    assert allowed(deploy_policy(settings()), action, resource)


@pytest.mark.parametrize(("action", "resource"), [
    ("lambda:UpdateFunctionCode", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:payments-api"),
    ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/admin"),
    ("s3:PutBucketPolicy", "arn:aws:s3:::company-data"),
    ("s3:DeleteBucket", "arn:aws:s3:::company-data"),
    ("sqs:DeleteQueue", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:orders"),
    ("lambda:UpdateFunctionCode", "arn:aws:lambda:eu-west-1:999999999999:function:cognito-backup-prod"),
])
def test_deploy_changes_nothing_outside_the_program(action, resource):
    assert not allowed(deploy_policy(settings()), action, resource)


@pytest.mark.parametrize(("action", "resource"), DATA_READS)
def test_deploy_reads_no_data(action, resource):
    assert not allowed(deploy_policy(settings()), action, resource)


@pytest.mark.parametrize("role", sorted(ca.ROLES))
@pytest.mark.parametrize("action", ["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole",
                                    "iam:AttachRolePolicy"])
def test_deploy_cannot_change_any_ci_role_including_its_own(role, action):
    s = settings()
    assert not allowed(deploy_policy(s), action, ca.role_arn(s, role))


@pytest.mark.parametrize(("action", "resource"), [
    ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/github-actions/cognito-backup-deploy"),
    ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/github-actions/cognito-backup-preview"),
    ("iam:DeleteOpenIDConnectProvider", PROVIDER),
    ("kms:ScheduleKeyDeletion", STATE_KEY),
    ("s3:PutBucketPolicy", f"arn:aws:s3:::pulumi-state-{ACCOUNT}-cognito-backup"),
])
def test_the_bootstrap_stays_protected_even_if_the_deploy_role_is_widened(action, resource):
    """An explicit deny in one of a role's policies wins over an allow in any other: if someone
    attaches AdministratorAccess to the deploy role, it still cannot change CI access or the state."""
    policy = deploy_policy(settings())
    widened = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, *policy["Statement"]]}
    assert not allowed(widened, action, resource)


def test_deploy_cannot_touch_the_oidc_provider():
    assert not allowed(deploy_policy(settings()), "iam:UpdateOpenIDConnectProviderThumbprint", PROVIDER)


def test_deploy_uses_the_state_but_cannot_manage_its_bucket_or_key():
    s = settings()
    policy = deploy_policy(s)
    state_object = f"{s.state.bucket_arn}/.pulumi/stacks/organization/cognito-backup/prod.json"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allowed(policy, action, state_object)
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"):
        assert allowed(policy, action, STATE_KEY)
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKeyRotation"):
        assert not allowed(policy, action, STATE_KEY), action
        assert allowed(policy, action, SNAPSHOT_KEY), action  # the deny is what stops it
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketVersioning"):
        assert not allowed(policy, action, s.state.bucket_arn), action


def test_the_state_bucket_and_key_are_outside_the_programs_name_pattern():
    s = settings()
    resources = deploy_resources(s)
    assert not matches_any(resources["buckets"], s.state.bucket_arn)
    assert not matches_any(resources["keys"], f"arn:aws:kms:eu-west-1:{ACCOUNT}:{state_key_alias(s)}")
    for role in ca.ROLES:
        assert not matches_any(resources["roles"], ca.role_arn(s, role))


@pytest.mark.parametrize(("service", "expected"), [("lambda.amazonaws.com", True), ("s3.amazonaws.com", True),
                                                   ("ec2.amazonaws.com", False), ("glue.amazonaws.com", False)])
def test_deploy_passes_the_programs_roles_only_to_lambda_and_s3(service, expected):
    role = f"arn:aws:iam::{ACCOUNT}:role/backup-role-1a2b3c4"
    assert allowed(deploy_policy(settings()), "iam:PassRole", role, **{"iam:PassedToService": service}) is expected


def test_deploy_reads_everything_preview_does():
    deploy = deploy_policy(settings())
    for action in READ_METADATA_ACTIONS:
        assert allowed(deploy, action, "*"), action


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


def test_snapshot_reads_snapshots_and_decrypts_only_through_s3():
    policy = snapshot_policy(settings())
    assert allowed(policy, "s3:ListBucket", SNAPSHOT_BUCKET)
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::snapshots-access-logs-1a2b3c4/log")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::company-data/x")
    assert allowed(policy, "s3:GetObject", SNAPSHOT_OBJECT)
    assert allowed(policy, "kms:Decrypt", SNAPSHOT_KEY, **{"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert not allowed(policy, "kms:Decrypt", SNAPSHOT_KEY)  # not directly
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
    assert not allowed(snapshot_policy(settings()), action, resource)


def test_snapshot_reads_the_state_for_the_stack_outputs():
    s = settings()
    policy = snapshot_policy(s)
    assert allowed(policy, "s3:GetObject", f"{s.state.bucket_arn}/.pulumi/stacks/organization/cognito-backup/prod.json")
    assert allowed(policy, "kms:Decrypt", STATE_KEY)


# --------------------------------------------------------------------------------------------------
# Drill: what permissions.py lists for the drill, never a write to the stacks' own pools

STACK_POOL = "eu-west-1_Xk4Rt7Lm2"
SCRATCH_POOL = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/eu-west-1_Scratch99"
IMPORT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/user-import-logs-role-1a2b3c4"
SCOPE_EXAMPLES = {  # a resource of each scope, as the drill meets it
    "restored_pool": SCRATCH_POOL,
    "pool": f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{STACK_POOL}",
    "account": "*",
    "import_role": IMPORT_ROLE,
    "snapshots": SNAPSHOT_OBJECT,
    "bucket": SNAPSHOT_BUCKET,
    "kms_key": SNAPSHOT_KEY,
}
SCOPE_CONTEXT = {"import_role": {"iam:PassedToService": "cognito-idp.amazonaws.com"},
                 "kms_key": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def drill_settings() -> Settings:
    return settings(stack_pool_ids=(STACK_POOL, "us-east-1_Other0001"))


@pytest.mark.parametrize("op", DRILL_OPERATIONS, ids=lambda op: f"{op.scope}:{op.action}")
def test_the_drill_may_make_every_call_permissions_py_lists(op):
    assert op.scope in SCOPE_EXAMPLES, f"a new drill scope {op.scope!r}: give it an example here"
    assert allowed(drill_policy(drill_settings()), op.action, SCOPE_EXAMPLES[op.scope],
                   **SCOPE_CONTEXT.get(op.scope, {}))


@pytest.mark.parametrize("action", ["cognito-idp:AdminCreateUser", "cognito-idp:AdminDisableUser",
                                    "cognito-idp:DeleteUserPool", "cognito-idp:CreateGroup",
                                    "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:CreateUserImportJob"])
def test_the_drill_never_writes_to_the_stacks_pools(action):
    policy = drill_policy(drill_settings())
    assert allowed(policy, action, SCRATCH_POOL)
    for pool in (f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{STACK_POOL}",
                 f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_Other0001"):
        assert not allowed(policy, action, pool), pool


def test_the_drill_reads_the_stacks_pools():
    pool = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{STACK_POOL}"
    assert allowed(drill_policy(drill_settings()), "cognito-idp:DescribeUserPool", pool)


@pytest.mark.parametrize(("action", "resource", "context"), [
    ("iam:PassRole", IMPORT_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {"iam:PassedToService": "cognito-idp.amazonaws.com"}),
    ("s3:PutObject", SNAPSHOT_OBJECT, {}),
    ("s3:DeleteObject", SNAPSHOT_OBJECT, {}),
    ("lambda:InvokeFunction", FUNCTION, {}),
    ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/anything", {}),
    ("kms:Decrypt", SNAPSHOT_KEY, {}),
])
def test_the_drill_may_not(action, resource, context):
    assert not allowed(drill_policy(drill_settings()), action, resource, **context)


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
def test_policies_are_well_formed_and_fit_inline(role, state):
    policy = ca.ROLES[role].policy(settings(state=state))
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        actions = as_list(statement.get("Action") or statement.get("NotAction"))
        assert actions == sorted(actions) and all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z*]+", a) for a in actions)
        if statement["Effect"] == "Allow":
            assert not any(a == "*" or a.endswith(":*") for a in actions), f"{role}: wildcard grant {actions}"
    # IAM allows 10,240 characters of inline policy per role (a managed policy only 6,144).
    assert len(json.dumps(policy, separators=(",", ":"))) < 10_240


def test_with_pulumi_cloud_no_role_touches_a_state_bucket():
    for role, spec in ca.ROLES.items():
        text = json.dumps(spec.policy(settings(state=False)))
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
])
def test_bad_settings_are_refused_naming_the_key(overrides, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings(state=False, **overrides)


# --------------------------------------------------------------------------------------------------
# The bootstrap and the workflows agree


def _workflow_text() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / ".github" / "workflows").glob("*.yml")))


def test_the_workflows_read_the_variables_the_bootstrap_outputs():
    produced = set(ca.github_variables(region="eu-west-1", role_arns=dict.fromkeys(ca.ROLES, "arn"),
                                       backend="s3://b"))
    read = set(re.findall(r"vars\.([A-Z0-9_]+)", _workflow_text()))
    assert read - produced == {"PULUMI_ORG"}  # the one optional variable, for Pulumi Cloud organisations
    assert produced <= read


def test_every_workflow_asks_for_sessions_its_role_allows():
    variables = {f"${{{{ vars.AWS_{role.upper()}_ROLE_ARN }}}}": role for role in ca.ROLES}
    checked = 0
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
            for step in job.get("steps") or []:
                if not str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials"):
                    continue
                role = variables[step["with"]["role-to-assume"]]
                asked = step["with"].get("role-duration-seconds", ca.DEFAULT_SESSION_SECONDS)
                assert asked <= ca.ROLES[role].max_session_seconds, f"{path.name}: {role} role sessions"
                checked += 1
    assert checked >= 3


def test_the_example_configuration_is_valid_and_names_the_workflows_stacks():
    example = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.example.yaml").read_text())["config"]
    assert sorted(example["cognito-backup-bootstrap:stacks"]) == sorted(STACKS)
    assert example["cognito-backup-bootstrap:stateBackend"] in ("cloud", "s3")
    project = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.yaml").read_text())
    assert project["name"] == "cognito-backup-bootstrap"
    declared = set(project["config"]) | {"aws:region"}
    assert {k.split(":", 1)[1] if k.startswith("cognito-backup-bootstrap:") else k for k in example} <= declared


# --------------------------------------------------------------------------------------------------
# The program under Pulumi's mocks


def run_bootstrap(**config: str) -> ProgramRun:
    values = {"aws:region": "eu-west-1", "githubOwner": "example-org", "githubRepo": "cognito-backup",
              "stacks": list(STACKS), "stateBackend": "cloud", "existingOidcProviderArn": "", **config}
    return run_program(ROOT / "bootstrap", project="cognito-backup-bootstrap", stack="test",
                       config=as_pulumi_config(values, "cognito-backup-bootstrap"))


def test_program_with_pulumi_cloud_creates_the_provider_and_the_roles():
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
                           f"arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{pool_id}"), pool_id
    deploy_trust = json.loads(roles["deploy-role"].inputs["assumeRolePolicy"])
    assert can_assume(deploy_trust, f"{REPO}:environment:prod")
    assert deploy_trust["Statement"][0]["Principal"] == {"Federated": PROVIDER}
    [provider] = bootstrap.by_name("aws:iam/openIdConnectProvider:OpenIdConnectProvider").values()
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    policies = bootstrap.by_name("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(policies["deploy-permissions"].inputs["policy"]) == deploy_policy(settings(state=False))
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
# and ask, for every resource it declares, whether the deploy role may create and configure it.


STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def _s3(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def requests_for(r: Declared, region: str) -> list[tuple[str, str, dict]]:
    """The (action, resource, context) a deploy makes to create and configure one resource."""
    i = r.state  # the inputs, and the names AWS or Pulumi would give
    region = i.get("region") or region

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"

    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{i.get('role')}"
    table = {
        "aws:s3/bucket:Bucket": lambda: [("s3:CreateBucket", _s3(i["bucket"]), {}), ("s3:PutBucketTagging",
                                                                                     _s3(i["bucket"]), {})]
        + ([("s3:PutBucketObjectLockConfiguration", _s3(i["bucket"]), {}),
            ("s3:PutBucketVersioning", _s3(i["bucket"]), {})] if i.get("objectLockEnabled") else []),
        "aws:s3/bucketPolicy:BucketPolicy": lambda: [("s3:PutBucketPolicy", _s3(i["bucket"]), {})],
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
        "aws:kms/key:Key": lambda: [("kms:CreateKey", "*", {}), ("kms:TagResource", arn("kms", "key/new"), {}),
                                    ("kms:EnableKeyRotation", arn("kms", "key/new"), {})],
        "aws:kms/alias:Alias": lambda: [("kms:CreateAlias", arn("kms", i["name"]), {}),
                                        ("kms:CreateAlias", arn("kms", f"key/{i['targetKeyId']}"), {})],
        "aws:iam/role:Role": lambda: [("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{i['name']}", {}),
                                      ("iam:TagRole", f"arn:aws:iam::{ACCOUNT}:role/{i['name']}", {})],
        "aws:iam/rolePolicy:RolePolicy": lambda: [("iam:PutRolePolicy", role_arn, {})],
        "aws:lambda/function:Function": lambda: [
            ("lambda:CreateFunction", arn("lambda", f"function:{i['name']}"), {}),
            ("iam:PassRole", i["role"], {"iam:PassedToService": "lambda.amazonaws.com"}),
            *[("lambda:GetLayerVersion", layer, {}) for layer in i.get("layers") or []]],
        "aws:lambda/permission:Permission":
            lambda: [("lambda:AddPermission", arn("lambda", f"function:{i['function']}"), {})],
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
            lambda: [("lambda:PutFunctionEventInvokeConfig", arn("lambda", f"function:{i['functionName']}"), {})],
        "aws:cloudwatch/logGroup:LogGroup": lambda: [("logs:CreateLogGroup", arn("logs", f"log-group:{i['name']}"), {}),
                                                     ("logs:PutRetentionPolicy", arn("logs", f"log-group:{i['name']}"),
                                                      {})],
        "aws:sqs/queue:Queue": lambda: [("sqs:CreateQueue", arn("sqs", i["name"]), {})],
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
                            "requests_for here and, if needed, to bootstrap/ci_access.py")
    return table[r.typ]()


@pytest.fixture(scope="module", params=STACK_FILES, ids=lambda p: p.name)
def main_program(request):
    if not (ROOT / "__main__.py").exists():
        pytest.fail("the main program (__main__.py) is missing")
    return stack_name(request.param), run_main_program(request.param)


def test_there_are_stacks_to_check():
    assert STACK_FILES, "no Pulumi.<stack>.yaml at the root: the cross-checks below ran on nothing"


def test_the_deploy_role_can_create_every_resource_of_the_main_program(main_program):
    stack, program = main_program
    s = settings(stacks=tuple(stack_name(p) for p in STACK_FILES))
    policy = deploy_policy(s)
    refused = [f"{r.typ} {r.name}: {action} on {resource}"
               for r in program.resources for action, resource, context in requests_for(r, program.region)
               if not allowed(policy, action, resource, **context)]
    assert not refused, f"stack {stack}: the deploy role may not:\n" + "\n".join(refused)


def test_the_snapshot_role_can_invoke_the_function_and_read_the_bucket_of_each_stack(main_program):
    stack, program = main_program
    outputs = program.outputs
    s = settings(stacks=tuple(stack_name(p) for p in STACK_FILES))
    policy = snapshot_policy(s)
    function = f"arn:aws:lambda:{program.region}:{ACCOUNT}:function:{outputs['functionName']}"
    assert allowed(policy, "lambda:InvokeFunction", function), function
    bucket = _s3(outputs["bucketName"])
    assert allowed(policy, "s3:ListBucket", bucket), bucket
    key = f"{outputs.get('snapshotPrefix') or ''}2026/11/26/x_20261126_010003.json"
    assert allowed(policy, "s3:GetObject", f"{bucket}/{key}")
    # and nothing else of the program's buckets (access logs, replica)
    others = [r.state["bucket"] for r in program.resources
              if r.typ == "aws:s3/bucket:Bucket" and r.state["bucket"] != outputs["bucketName"]]
    assert others and not any(allowed(policy, "s3:GetObject", f"{_s3(b)}/k") for b in others)


def test_the_drill_role_can_use_the_import_role_and_read_the_bucket_of_each_stack(main_program):
    _, program = main_program
    outputs = program.outputs
    policy = drill_policy(settings())
    assert allowed(policy, "iam:PassRole", outputs["importRoleArn"],
                   **{"iam:PassedToService": "cognito-idp.amazonaws.com"}), outputs["importRoleArn"]
    assert allowed(policy, "s3:ListBucket", _s3(outputs["bucketName"]))
    assert allowed(policy, "s3:GetObject", f"{_s3(outputs['bucketName'])}/2026/11/26/x_20261126_010003.json")


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
