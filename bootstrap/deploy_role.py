"""The deploy role (``_deploy-stack.yml``, the stacks' GitHub environments): manages the resources the
main program declares, scoped to the program's names (``infra/names.py``) where AWS allows scoping by
name, and uses the state; explicit denies keep it off the CI roles, the OIDC provider and the state
backend's settings."""

from __future__ import annotations

from bootstrap.account_settings import CI_ROLE_PATH, Settings
from bootstrap.preview_role import READ_METADATA_ACTIONS
from bootstrap.state_backend import STATE_KEY_USE, STATE_OBJECT_USE, state_statements
from bootstrap.statements import allow
from bootstrap.trust import GITHUB_OIDC_HOST
from infra.names import ANY_STACK, AUTONAMED, POWERTOOLS_LAYER_ACCOUNT, autoname_pattern

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

# The services deploy may hand the program's roles to: the function's role, the replication role.
PASS_ROLE_TO = sorted(["lambda.amazonaws.com", "s3.amazonaws.com"])

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
        allow("ReadProgramResourceMetadata", READ_METADATA_ACTIONS, "*"),
        allow("CreateKeys", ["kms:CreateKey"], "*"),
    ]
    for kind, actions in MANAGE_ACTIONS.items():
        sid = "Manage" + "".join(part.title() for part in kind.split("_"))
        statements.append(allow(sid, actions, resources[kind]))
    statements += [
        allow("PassProgramRoles", ["iam:PassRole"], resources["roles"],
               {"StringEquals": {"iam:PassedToService": PASS_ROLE_TO}}),
        allow("UsePowertoolsLayer", ["lambda:GetLayerVersion"],
               f"arn:{settings.partition}:lambda:*:{POWERTOOLS_LAYER_ACCOUNT}:layer:*"),
        *state_statements(settings.state, write="all"),
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
