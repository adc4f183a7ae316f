"""What GitHub Actions may do in the AWS account: the trust and permission policies of its roles.

Pure functions of plain strings (no Pulumi), so that tests read and evaluate every statement.
One role per workflow that touches AWS, each assumed through GitHub's OIDC provider and trusted by
that workflow and nothing else:

- ``preview`` (``preview.yml``, pull requests): reads the *metadata* of the program's resources and
  the Pulumi state; never object contents, user data or logs, and it writes nothing but the state
  backend's lock files. A pull request's code runs with this role, so it must not be able to read
  what the backups hold: the AWS managed ``ReadOnlyAccess`` would (``s3:GetObject`` on every bucket,
  ``cognito-idp:ListUsers``, ``logs:GetLogEvents``), and ``ViewOnlyAccess`` misses what a
  ``pulumi preview --refresh`` reads (bucket policies, key policies, role policies).
- ``deploy`` (``_deploy-stack.yml``, the stacks' GitHub environments): manages the resources the
  program declares (buckets, keys, roles, function, queues, schedule, alarms), scoped to the
  program's names where AWS allows scoping by name; reads and writes the state. It is not a
  snapshot reader: the bucket policy denies it the snapshots. It cannot change the CI roles, the
  OIDC provider, the state bucket's settings or the state key (explicit denies, which hold even if
  someone attaches a broader policy to it).
- ``snapshot`` (``snapshot.yml``, the default branch): invokes the backup functions, reads the
  snapshot bucket for the "changes since the previous snapshot" report, and reads the state for
  the stack outputs. Kept apart from deploy because it must read snapshots (it is listed in each
  stack's ``cognito-backup:snapshotReaders``), which the deploy role must not; and apart from preview
  because pull-request code must not invoke anything.
- ``drill`` (``restore-drill.yml``, the default branch): what ``cognito_backup/permissions.py`` lists
  for the drill (``DRILL_OPERATIONS``: restore into a scratch pool, snapshot it, delete it), scope by
  scope, plus reading the state. Scratch pools get new ids, so its Cognito grants cover the account's
  pools; an explicit deny keeps every write off the stacks' own pools (``userPools`` of each
  ``Pulumi.<stack>.yaml``). It is a snapshot reader too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from backup_lambda.errors import ConfigError
from backup_lambda.permissions import Operation, actions_for
from backup_lambda.validation import pool_region, validate_user_pool_id
from cognito_backup.permissions import DRILL_OPERATIONS
from infra import names
from infra.names import ANY_STACK, AUTONAMED, POWERTOOLS_LAYER_ACCOUNT, StackNames, autoname_pattern, stack_name_problem

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
# The audience aws-actions/configure-aws-credentials asks GitHub for.
OIDC_AUDIENCE = "sts.amazonaws.com"

# Longest a role session may last: a snapshot of every pool runs them one after the other (up to
# 15 minutes each; snapshot.yml's job allows 3 hours).
SNAPSHOT_SESSION_SECONDS = 3 * 3600
DEFAULT_SESSION_SECONDS = 3600
# A drill of a large pool restores through user import jobs: restore-drill.yml allows 6 hours.
DRILL_SESSION_SECONDS = 6 * 3600

# Whole-value patterns (fullmatch: a "$" anchor would also match before a final newline).
GITHUB_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9_])?")
PREFIX_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,38}[a-z0-9]")
BRANCH_RE = re.compile(r"[A-Za-z0-9._/-]{1,200}")

# ----------------------------------------------------------------------------------------------
# Read-only metadata of the services the program uses: what preview (and a refresh) reads.
# Deliberately absent: s3:GetObject*, cognito-idp:List*/AdminGet*, logs:GetLogEvents/FilterLogEvents,
# sqs:ReceiveMessage, kms:Decrypt (outside the state key), lambda:InvokeFunction.
READ_METADATA_ACTIONS = sorted([
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListTagsForResource",
    "events:DescribeRule",
    "events:ListTagsForResource",
    "events:ListTargetsByRule",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "lambda:GetFunction",
    "lambda:GetFunctionCodeSigningConfig",
    "lambda:GetFunctionConcurrency",
    "lambda:GetFunctionConfiguration",
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:GetFunctionRecursionConfig",
    "lambda:GetLayerVersion",
    "lambda:GetPolicy",
    "lambda:GetRuntimeManagementConfig",
    "lambda:ListTags",
    "lambda:ListVersionsByFunction",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "logs:ListTagsLogGroup",
    "s3:GetAccelerateConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:ListAllMyBuckets",
    "sns:GetSubscriptionAttributes",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:ListTagsForResource",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListQueueTags",
])

# What deploy changes, by the kind of resource (the program's names start with the prefix).
MANAGE_ACTIONS: dict[str, list[str]] = {
    "buckets": [
        "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:DeleteBucketOwnershipControls",
        "s3:PutAccelerateConfiguration", "s3:PutBucketLogging", "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration",
    ],
    "keys": [
        "kms:CreateAlias", "kms:DeleteAlias", "kms:EnableKeyRotation", "kms:DisableKeyRotation",
        "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
        "kms:UpdateAlias", "kms:UpdateKeyDescription",
    ],
    "roles": [
        "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:PutRolePolicy", "iam:TagRole",
        "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
    ],
    "functions": [
        "lambda:AddPermission", "lambda:CreateFunction", "lambda:DeleteFunction",
        "lambda:DeleteFunctionConcurrency", "lambda:DeleteFunctionEventInvokeConfig",
        "lambda:PublishVersion", "lambda:PutFunctionConcurrency", "lambda:PutFunctionEventInvokeConfig",
        "lambda:PutFunctionRecursionConfig", "lambda:PutRuntimeManagementConfig", "lambda:RemovePermission",
        "lambda:TagResource", "lambda:UntagResource", "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionEventInvokeConfig",
    ],
    "log_groups": [
        "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:PutRetentionPolicy",
        "logs:TagLogGroup", "logs:TagResource", "logs:UntagLogGroup", "logs:UntagResource",
    ],
    "queues": [
        "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue",
    ],
    "rules": [
        "events:DeleteRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets",
        "events:TagResource", "events:UntagResource",
    ],
    "alarms": [
        "cloudwatch:DeleteAlarms", "cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard",
        "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource",
    ],
    "topics": [
        "sns:CreateTopic", "sns:DeleteTopic", "sns:SetSubscriptionAttributes", "sns:SetTopicAttributes",
        "sns:Subscribe", "sns:TagResource", "sns:Unsubscribe", "sns:UntagResource",
    ],
}

# The main program's names come from the program (infra/names.py): the names it sets itself all start
# with ``cognito-backup-<stack>`` (ANY_STACK: every stack), and Pulumi names the others after their
# logical names plus a random suffix (AUTONAMED). tests/infra/test_bootstrap.py runs the program under
# Pulumi's mocks and fails when the deploy role could not create one of its resources.
# The buckets the snapshot button reads: the snapshot bucket (its policy admits snapshotReaders only).
SNAPSHOT_BUCKETS = [autoname_pattern(names.snapshot_bucket(names.SNAPSHOT_STORAGE))]

# The services deploy may hand the program's roles to: the function's role, the replication role.
PASS_ROLE_TO = sorted(["lambda.amazonaws.com", "s3.amazonaws.com"])

# The CI roles live under their own IAM path, which the program's name pattern (role/<prefix>-*) does
# not match: deploy manages the program's roles, never its own or the other CI roles.
CI_ROLE_PATH = "/github-actions/"

# What the roles do with the state key and bucket; deploy is denied everything else on them.
STATE_KEY_USE = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
STATE_OBJECT_USE = ["s3:DeleteObject", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]


@dataclass(frozen=True)
class StateBackend:
    """The self-managed Pulumi backend: the state bucket and the secrets provider's KMS key."""

    bucket: str
    key_arn: str

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"


@dataclass(frozen=True)
class Settings:
    """One AWS account's side of the repository's continuous delivery."""

    account_id: str
    github_owner: str
    github_repo: str
    stacks: tuple[str, ...]
    resource_prefix: str = "cognito-backup"  # of the bootstrap's own names: CI roles, state bucket and key
    default_branch: str = "main"
    partition: str = "aws"
    state: StateBackend | None = None  # None: Pulumi Cloud holds the state
    stack_pool_ids: tuple[str, ...] = ()  # the stacks' own user pools: the drill never writes to them

    @property
    def repository(self) -> str:
        return f"{self.github_owner}/{self.github_repo}"

    def arn(self, service: str, resource: str, region: str = "*") -> str:
        """An ARN in this account (any region: the program's replica lives in a second region)."""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"


class SettingsError(ValueError):
    """The bootstrap configuration is not valid: one line per problem, each naming its key."""


def read_stack_pool_ids(project_dir: Path, stacks: tuple[str, ...]) -> tuple[str, ...]:
    """The user pools of the main program's stacks: ``cognito-backup:userPools`` of each
    ``Pulumi.<stack>.yaml`` (the drill role is denied writing to them)."""
    ids: list[str] = []
    for stack in stacks:
        path = project_dir / f"Pulumi.{stack}.yaml"
        try:
            config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"cognito-backup-bootstrap:stacks: cannot read {path} for stack {stack!r}: "
                                f"{exc}") from exc
        pools = config.get("cognito-backup:userPools") or []
        ids += [pool["id"] for pool in pools if isinstance(pool, dict) and isinstance(pool.get("id"), str)]
    return tuple(dict.fromkeys(ids))


def check_settings(settings: Settings) -> Settings:
    problems = []
    if not re.fullmatch(r"\d{12}", settings.account_id):
        problems.append(f"account id {settings.account_id!r} is not 12 digits")
    for key, value in (("githubOwner", settings.github_owner), ("githubRepo", settings.github_repo)):
        if not GITHUB_NAME_RE.fullmatch(value or ""):
            problems.append(f"cognito-backup-bootstrap:{key}: {value!r} is not a GitHub owner or repository name")
    if not settings.stacks:
        problems.append("cognito-backup-bootstrap:stacks: list the stacks (one GitHub environment each)")
    for stack in settings.stacks:
        if stack_name_problem(stack):
            problems.append(f"cognito-backup-bootstrap:stacks: {stack!r} is not a stack name")
    if len(set(settings.stacks)) != len(settings.stacks):
        problems.append("cognito-backup-bootstrap:stacks: a stack is listed twice")
    if not PREFIX_RE.fullmatch(settings.resource_prefix):
        problems.append(f"cognito-backup-bootstrap:resourcePrefix: {settings.resource_prefix!r} must be 3-40 "
                        "lower-case letters, digits or '-'")
    for pool_id in settings.stack_pool_ids:
        try:
            validate_user_pool_id(pool_id)
        except ConfigError:
            problems.append(f"a stack's cognito-backup:userPools lists {pool_id!r}, which is not a pool id")
    if not BRANCH_RE.fullmatch(settings.default_branch):
        problems.append(f"cognito-backup-bootstrap:defaultBranch: {settings.default_branch!r} is not a branch")
    if problems:
        raise SettingsError("invalid bootstrap configuration:\n" + "\n".join(f"  {p}" for p in problems))
    return settings


# ----------------------------------------------------------------------------------------------
# Trust: who may assume each role


def subjects(settings: Settings, role: str) -> list[str]:
    """The GitHub OIDC ``sub`` claims a role trusts: exact values, no wildcards."""
    repo = f"repo:{settings.repository}"
    if role == "preview":
        return [f"{repo}:pull_request"]
    if role == "deploy":
        # A job with `environment:` gets `...:environment:NAME` (and no branch in its subject): the
        # environment's deployment-branch rule limits it to the default branch.
        return [f"{repo}:environment:{stack}" for stack in settings.stacks]
    if role in ("snapshot", "drill"):  # dispatched from, or scheduled on, the default branch
        return [f"{repo}:ref:refs/heads/{settings.default_branch}"]
    raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


def trust_policy(provider_arn: str, subject_claims: list[str]) -> dict:
    """Let GitHub Actions jobs whose token has one of these subjects assume the role through OIDC."""
    if not subject_claims or any("*" in s or "?" in s for s in subject_claims):
        raise ValueError(f"trust needs exact subjects, got {subject_claims!r}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": sorted(subject_claims),
                    }
                },
            }
        ],
    }


# ----------------------------------------------------------------------------------------------
# Permissions: what each role may do


def _allow(sid: str, actions: list[str], resources: list[str] | str, condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _state_statements(state: StateBackend | None, *, write: str) -> list[dict]:
    """The self-managed backend: read the state; ``write`` is "none", "locks" or "all"."""
    if state is None:
        return []
    statements = [
        _allow("ListPulumiState", ["s3:ListBucket", "s3:GetBucketLocation"], state.bucket_arn),
        _allow("ReadPulumiState", ["s3:GetObject"], f"{state.bucket_arn}/*"),
    ]
    key_actions = ["kms:Decrypt", "kms:DescribeKey"]
    if write == "locks":
        # `pulumi preview` takes the stack's lock: a file under .pulumi/locks/, deleted afterwards.
        statements.append(_allow("WritePulumiLocks", ["s3:PutObject", "s3:DeleteObject"],
                                 f"{state.bucket_arn}/.pulumi/locks/*"))
        key_actions.append("kms:GenerateDataKey")
    elif write == "all":
        statements.append(_allow("WritePulumiState", ["s3:PutObject", "s3:DeleteObject"], f"{state.bucket_arn}/*"))
        key_actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    elif write != "none":
        raise ValueError(f"write must be none, locks or all, not {write!r}")
    # The key encrypts the state objects (SSE-KMS) and is the stacks' secrets provider (awskms://).
    statements.append(_allow("UsePulumiSecretsKey", key_actions, state.key_arn))
    return statements


def preview_policy(settings: Settings) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            _allow("ReadProgramResourceMetadata", READ_METADATA_ACTIONS, "*"),
            *_state_statements(settings.state, write="locks"),
        ],
    }


def program_names(kind: str) -> list[str]:
    """The main program's names of one kind of resource: ``cognito-backup-*`` (any name the program
    sets starts so) and the patterns of Pulumi's names for its auto-named resources of that kind."""
    return [ANY_STACK.prefix, *(autoname_pattern(name) for name in AUTONAMED[kind])]


def deploy_resources(settings: Settings) -> dict[str, list[str]]:
    """The resources deploy may change, by kind: the program's names (``infra/names.py``), in this
    account, in any region (the replica)."""
    iam = f"arn:{settings.partition}:iam::{settings.account_id}"
    return {
        "buckets": [f"arn:{settings.partition}:s3:::{name}" for name in program_names("buckets")],
        # Keys cannot be scoped by name (the alarm topic's key has no alias); their aliases can.
        "keys": [settings.arn("kms", "key/*"), settings.arn("kms", ANY_STACK.key_alias)],
        "roles": [f"{iam}:role/{name}" for name in program_names("roles")],
        "functions": [settings.arn("lambda", f"function:{ANY_STACK.function}")],
        "log_groups": [settings.arn("logs", f"log-group:{ANY_STACK.log_group}"),
                       settings.arn("logs", f"log-group:{ANY_STACK.log_group}:*")],
        "queues": [settings.arn("sqs", name) for name in program_names("queues")],
        "rules": [settings.arn("events", f"rule/{name}") for name in program_names("rules")],
        # Every alarm's name starts with the stack's prefix (StackNames.alarm).
        "alarms": [settings.arn("cloudwatch", f"alarm:{ANY_STACK.prefix}"),
                   f"arn:{settings.partition}:cloudwatch::{settings.account_id}:dashboard/{ANY_STACK.dashboard}"],
        "topics": [settings.arn("sns", name) for name in program_names("topics")],
    }


def deploy_policy(settings: Settings) -> dict:
    resources = deploy_resources(settings)
    statements = [
        _allow("ReadProgramResourceMetadata", READ_METADATA_ACTIONS, "*"),
        _allow("CreateKeys", ["kms:CreateKey"], "*"),
    ]
    for kind, actions in MANAGE_ACTIONS.items():
        sid = "Manage" + "".join(part.title() for part in kind.split("_"))
        statements.append(_allow(sid, actions, resources[kind]))
    statements += [
        _allow("PassProgramRoles", ["iam:PassRole"], resources["roles"],
               {"StringEquals": {"iam:PassedToService": PASS_ROLE_TO}}),
        _allow("UsePowertoolsLayer", ["lambda:GetLayerVersion"],
               f"arn:{settings.partition}:lambda:*:{POWERTOOLS_LAYER_ACCOUNT}:layer:*"),
        *_state_statements(settings.state, write="all"),
        *_protect_bootstrap(settings),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _protect_bootstrap(settings: Settings) -> list[dict]:
    """Explicit denies: deploy may not touch what the bootstrap made (the CI roles, the OIDC provider,
    the state bucket's settings, the state key's policy), whatever its allows match."""
    iam = f"arn:{settings.partition}:iam::{settings.account_id}"
    statements = [{
        "Sid": "DenyChangingCiAccess",
        "Effect": "Deny",
        "Action": "iam:*",
        "Resource": [f"{iam}:role{CI_ROLE_PATH}*", f"{iam}:oidc-provider/{GITHUB_OIDC_HOST}"],
    }]
    if settings.state:
        statements += [
            {"Sid": "DenyManagingStateKey", "Effect": "Deny", "NotAction": STATE_KEY_USE,
             "Resource": settings.state.key_arn},
            {"Sid": "DenyManagingStateBucket", "Effect": "Deny", "NotAction": STATE_OBJECT_USE,
             "Resource": [settings.state.bucket_arn, f"{settings.state.bucket_arn}/*"]},
        ]
    return statements


def snapshot_functions(settings: Settings) -> list[str]:
    """The backup functions of the stacks, as the program names them (``StackNames.function``)."""
    arns = []
    for stack in settings.stacks:
        function = settings.arn("lambda", f"function:{StackNames.of(stack).function}")
        arns += [function, f"{function}:*"]
    return arns


def snapshot_policy(settings: Settings) -> dict:
    buckets = [f"arn:{settings.partition}:s3:::{name}" for name in SNAPSHOT_BUCKETS]
    return {
        "Version": "2012-10-17",
        "Statement": [
            _allow("InvokeBackupFunctions", ["lambda:InvokeFunction"], snapshot_functions(settings)),
            _allow("ListSnapshots", ["s3:ListBucket"], buckets),
            # The bucket policy still denies object reads to anyone not in the stack's snapshotReaders.
            _allow("ReadSnapshots", ["s3:GetObject"], [f"{bucket}/*" for bucket in buckets]),
            _allow("DecryptSnapshotsThroughS3", ["kms:Decrypt"], settings.arn("kms", "key/*"),
                   {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
            *_state_statements(settings.state, write="none"),
        ],
    }


def drill_scopes(settings: Settings) -> dict[str, tuple[list[str], dict | None]]:
    """What each scope of ``permissions.py``'s drill operations means here: (resources, condition)."""
    iam = f"arn:{settings.partition}:iam::{settings.account_id}"
    buckets = [f"arn:{settings.partition}:s3:::{name}" for name in SNAPSHOT_BUCKETS]
    pools = [settings.arn("cognito-idp", "userpool/*")]
    return {
        "restored_pool": (pools, None),  # a scratch pool's id is known only once it exists
        "pool": (pools, None),
        "account": (["*"], None),  # CreateUserPool, DescribeUserPoolDomain have no resource
        "import_role": ([f"{iam}:role/{autoname_pattern(names.role(names.USER_IMPORT_LOGS_ROLE))}",
                         f"{iam}:role/{ANY_STACK.prefix}"],
                        {"StringEquals": {"iam:PassedToService": "cognito-idp.amazonaws.com"}}),
        "snapshots": ([f"{b}/*" for b in buckets], None),
        "bucket": (buckets, None),
        "kms_key": ([settings.arn("kms", "key/*")], {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
    }


READ_VERBS = ("Describe", "Get", "List", "AdminGet")


def drill_policy(settings: Settings, operations: list[Operation] = DRILL_OPERATIONS) -> dict:
    scopes = drill_scopes(settings)
    statements = []
    for scope in dict.fromkeys(op.scope for op in operations):  # in permissions.py's order
        if scope not in scopes:
            raise ValueError(f"permissions.py's drill has scope {scope!r}, which bootstrap/ci_access.py does "
                             "not map to a resource; add it to drill_scopes")
        resources, condition = scopes[scope]
        sid = "Drill" + "".join(part.title() for part in scope.split("_"))
        statements.append(_allow(sid, actions_for(scope, operations), resources, condition))
    writes = sorted({op.action for op in operations if op.service == "cognito-idp"
                     and not op.action.split(":", 1)[1].startswith(READ_VERBS)})
    if settings.stack_pool_ids:
        statements.append({
            "Sid": "DenyWritingTheStacksPools",
            "Effect": "Deny",
            "Action": writes,
            "Resource": sorted(f"arn:{settings.partition}:cognito-idp:{pool_region(pool_id)}:"
                               f"{settings.account_id}:userpool/{pool_id}" for pool_id in settings.stack_pool_ids),
        })
    statements += _state_statements(settings.state, write="none")
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class RoleSpec:
    description: str
    policy: Callable[[Settings], dict]
    max_session_seconds: int = DEFAULT_SESSION_SECONDS


ROLES: dict[str, RoleSpec] = {
    "preview": RoleSpec("GitHub Actions: pulumi preview on pull requests (read-only)", preview_policy),
    "deploy": RoleSpec("GitHub Actions: pulumi up in the stacks' environments", deploy_policy),
    "snapshot": RoleSpec("GitHub Actions: snapshot on demand (invoke, read snapshots)", snapshot_policy,
                         SNAPSHOT_SESSION_SECONDS),
    "drill": RoleSpec("GitHub Actions: weekly restore drill (scratch pools, read snapshots)", drill_policy,
                      DRILL_SESSION_SECONDS),
}


def role_name(settings: Settings, role: str) -> str:
    """``<prefix>-<role>``, under the path ``/github-actions/``."""
    return f"{settings.resource_prefix}-{role}"


def role_arn(settings: Settings, role: str) -> str:
    return f"arn:{settings.partition}:iam::{settings.account_id}:role{CI_ROLE_PATH}{role_name(settings, role)}"


def state_bucket_name(settings: Settings) -> str:
    """Outside the program's name pattern (``<prefix>-*``), so deploy's bucket grants miss it."""
    return f"pulumi-state-{settings.account_id}-{settings.resource_prefix}"


def state_key_alias(settings: Settings) -> str:
    return f"alias/pulumi-state-{settings.resource_prefix}"


# ----------------------------------------------------------------------------------------------
# The self-managed backend's bucket and key


def state_bucket_policy(bucket_arn: str) -> dict:
    """TLS only: the state holds the stacks' resource graph."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def state_key_policy(*, partition: str, account_id: str) -> dict:
    """The account administers and uses the key through IAM: the roles' policies say who may."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountUsesKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def backend_url(bucket: str, region: str) -> str:
    return f"s3://{bucket}?region={region}&awssdk=v2"


def secrets_provider(alias: str, region: str) -> str:
    return f"awskms://{alias}?region={region}"


def github_variables(*, region: str, role_arns: dict[str, str], backend: str | None) -> dict[str, str]:
    """The repository variables the workflows read (set them with `gh variable set`)."""
    variables = {"AWS_REGION": region}
    variables.update({f"AWS_{role.upper()}_ROLE_ARN": role_arns[role] for role in ROLES})
    if backend:
        variables["PULUMI_BACKEND_URL"] = backend
    return variables
