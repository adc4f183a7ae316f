"""The preview role (``preview.yml``, pull requests): reads the metadata of the program's own resources
and the program's Pulumi state, never object contents, user data, logs or another resource's
configuration; writes nothing but the locks of the stacks' state.

What ``pulumi preview`` itself needs from AWS is the state alone (with the self-managed backend): it
compares the program with the state and calls no AWS API but ``sts:GetCallerIdentity``, which needs
no permission. The metadata reads serve ``pulumi preview --refresh``, which reads every resource of
the stack; they are scoped to the program's resources (``program_resources.py``) wherever IAM scopes
the action, so a pull request's code cannot read other functions' code and environment, other
queues' attributes or other rules' targets.
"""

from __future__ import annotations

from bootstrap import program_resources as program
from bootstrap.account_settings import Settings
from bootstrap.state_backend import state_statements
from bootstrap.statements import allow

# Reads of configuration, by the kind of resource the program declares. Deliberately absent:
# s3:GetObject*, s3:ListBucket (object names), cognito-idp:* (user data), logs:GetLogEvents and
# FilterLogEvents, sqs:ReceiveMessage, kms:Decrypt (outside the state), lambda:InvokeFunction.
READS: dict[str, list[str]] = {
    "buckets": [
        "s3:GetAccelerateConfiguration", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketLocation",
        "s3:GetBucketLogging", "s3:GetBucketNotification", "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketRequestPayment", "s3:GetBucketTagging", "s3:GetBucketVersioning", "s3:GetBucketWebsite",
        "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration",
    ],
    "keys": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
    "roles": ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
              "iam:ListRolePolicies", "iam:ListRoleTags"],
    "functions": [
        "lambda:GetFunction", "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionConcurrency",
        "lambda:GetFunctionConfiguration", "lambda:GetFunctionEventInvokeConfig", "lambda:GetFunctionRecursionConfig",
        "lambda:GetPolicy", "lambda:GetRuntimeManagementConfig", "lambda:ListTags", "lambda:ListVersionsByFunction",
    ],
    # The function's SDK layer: a version's configuration and a link to its code (the SDK, public).
    "sdk_layers": ["lambda:GetLayerVersion"],
    "log_groups": ["logs:ListTagsForResource", "logs:ListTagsLogGroup"],
    "queues": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"],
    "rules": ["events:DescribeRule", "events:ListTagsForResource", "events:ListTargetsByRule"],
    "alarms": ["cloudwatch:GetDashboard", "cloudwatch:ListTagsForResource"],
    "topics": ["sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource"],
}
# Reads IAM authorises on no resource of their own, and what they show: aliases' names and targets,
# log groups' names and retention, alarms' definitions, a subscription's endpoint. None shows data.
UNSCOPED_READS = ["cloudwatch:DescribeAlarms", "kms:ListAliases", "logs:DescribeLogGroups",
                  "sns:GetSubscriptionAttributes"]


def kind_resources(settings: Settings) -> dict[str, list[str]]:
    """The program's resources by kind, as ``READS`` (and the deploy role's grants) name them."""
    return {
        "buckets": program.all_buckets(settings),
        "keys": program.keys(settings),
        "roles": program.roles(settings),
        "functions": program.functions(settings),
        "sdk_layers": program.sdk_layer_versions(settings),
        "log_groups": program.log_groups(settings),
        "queues": program.queues(settings),
        "rules": program.rules(settings),
        "alarms": program.alarms(settings) + program.dashboards(settings),
        "topics": program.topics(settings),
    }


def metadata_statements(settings: Settings) -> list[dict]:
    """Reading the configuration of the program's resources: what a refresh reads (deploy reads the
    same)."""
    resources = kind_resources(settings)
    statements = []
    for kind, actions in READS.items():
        sid = "Read" + "".join(part.title() for part in kind.split("_"))
        condition = program.tagged_keys(settings) if kind == "keys" else None
        statements.append(allow(sid, actions, resources[kind], condition))
    statements += unscoped_reads(settings)
    return statements


def unscoped_reads(settings: Settings) -> list[dict]:
    return [allow("ReadWithoutResourceType", UNSCOPED_READS, "*")]


def preview_policy(settings: Settings) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            *metadata_statements(settings),
            *state_statements(settings.state, write="locks", stacks=settings.stacks),
        ],
    }
