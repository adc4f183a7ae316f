"""The deploy role (``_deploy-stack.yml``, the stacks' GitHub environments): manages the resources the
main program declares and uses the state; nothing else.

- Resources by the program's exact names (``program_resources.py``), the stacks' SDK layers among
  them (publish a version, read and delete versions; an allow on the program's layer names that the
  guardrails narrow to the stacks' own); KMS keys by the program's tag:
  created only tagged as a stack's (``aws:RequestTag``), administered only while they carry it
  (``aws:ResourceTag``); it cannot tag any other key into reach.
- Roles only under the program's path and only with the bootstrap's permissions boundary
  (``iam:PermissionsBoundary``), which caps whatever policy it writes on them (``boundary.py``); it
  cannot change or remove the boundary. It passes the function's role to Lambda and the replication
  role to S3, nothing else to anything.
- It is never a snapshot reader, and explicit denies (which no allow, nor a bucket or key policy it
  writes, can override) keep it from the data: no object read on the program's buckets, no
  cryptographic use of any key but the state's, no Cognito call, no role assumption. So even a bucket
  policy and a key policy rewritten to admit it give it nothing.
- Explicit denies keep it off the CI roles, the OIDC provider, the boundary and the state backend's
  settings, even if someone attaches a broader policy to it.
"""

from __future__ import annotations

from bootstrap import program_resources as program
from bootstrap.account_settings import CI_ROLE_PATH, Settings
from bootstrap.preview_role import READS, kind_resources, unscoped_reads
from bootstrap.state_backend import STATE_KEY_USE, STATE_OBJECT_USE, state_statements
from bootstrap.statements import allow, as_list
from bootstrap.trust import GITHUB_OIDC_HOST
from infra import names

BUCKET_ACTIONS = [
    "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:DeleteBucketOwnershipControls",
    "s3:PutAccelerateConfiguration", "s3:PutBucketLogging", "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
]
# What the program does with its keys after creating them (PutKeyPolicy: the grants follow the readers).
KEY_ACTIONS = [
    "kms:DisableKeyRotation", "kms:EnableKeyRotation", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
    "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
]
ALIAS_ACTIONS = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
# Role actions IAM evaluates with the role's permissions boundary in the request (iam:PermissionsBoundary).
BOUNDED_ROLE_ACTIONS = [
    "iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
]
ROLE_ACTIONS = [
    "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
    "iam:UpdateRoleDescription",
]
# Every action that changes a role or hands it to a service: denied on any role outside the program's
# path, and (those that carry the key) without the boundary.
ANY_ROLE_CHANGE = sorted({*BOUNDED_ROLE_ACTIONS, *ROLE_ACTIONS, "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                          "iam:PassRole"})
BOUNDARY_CARRIERS = sorted({*BOUNDED_ROLE_ACTIONS, "iam:AttachRolePolicy", "iam:DetachRolePolicy"})
MANAGE_ACTIONS: dict[str, list[str]] = {
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
    "queues": ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"],
    "rules": ["events:DeleteRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets",
              "events:TagResource", "events:UntagResource"],
    "alarms": ["cloudwatch:DeleteAlarms", "cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard",
               "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"],
    "topics": ["sns:CreateTopic", "sns:DeleteTopic", "sns:SetSubscriptionAttributes", "sns:SetTopicAttributes",
               "sns:Subscribe", "sns:TagResource", "sns:Unsubscribe", "sns:UntagResource"],
}
# The function's SDK layer (LayerVersion): publish a version when the lock changes (on the layer), read
# it and delete the version it replaced (on the version). Never AddLayerVersionPermission: the layer is
# shared with no one.
SDK_LAYER_ACTIONS = ["lambda:DeleteLayerVersion", "lambda:GetLayerVersion", "lambda:PublishLayerVersion"]
# What would reach the snapshots' contents: denied outright.
OBJECT_READS = ["s3:GetObject", "s3:GetObjectAttributes", "s3:GetObjectTorrent", "s3:GetObjectVersion",
                "s3:GetObjectVersionAttributes", "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionTorrent", "s3:RestoreObject"]
KEY_USE = ["kms:CreateGrant", "kms:Decrypt", "kms:DeriveSharedSecret", "kms:Encrypt", "kms:GenerateDataKey*",
           "kms:GenerateMac", "kms:ReEncrypt*", "kms:RetireGrant", "kms:Sign", "kms:Verify"]


def deploy_resources(settings: Settings) -> dict[str, list[str]]:
    """The resources deploy may read and change, by kind (the preview role reads the same)."""
    return {**kind_resources(settings), "key_aliases": program.key_aliases(settings)}


def deploy_policy(settings: Settings) -> dict:
    """Everything the deploy role's policies say, as one document: its permissions (inline) and its
    guardrails (a managed policy: together they exceed IAM's 10,240 characters of inline policy)."""
    statements = deploy_permissions(settings)["Statement"] + deploy_guardrails(settings)["Statement"]
    return {"Version": "2012-10-17", "Statement": statements}


def deploy_permissions(settings: Settings) -> dict:
    """The deploy role's inline policy: what it may do."""
    resources = deploy_resources(settings)
    boundary = {"StringEquals": {"iam:PermissionsBoundary": program.boundary(settings)}}
    statements = [
        *unscoped_reads(settings),
        # Each kind's reads (what preview reads too) and changes in one statement: IAM caps a role's
        # inline policies at 10,240 characters.
        allow("ManageBuckets", READS["buckets"] + BUCKET_ACTIONS, resources["buckets"]),
        # Replication only from the snapshot buckets; where to is the replication role's to say, and
        # the boundary keeps that role's writes to the replica buckets of this account.
        allow("ReplicateSnapshotBuckets", ["s3:PutReplicationConfiguration"], program.snapshot_buckets(settings)),
        # CreateKey's tags need kms:TagResource on no key in particular: both require the program's tag.
        allow("CreateTaggedKeys", ["kms:CreateKey", "kms:TagResource"], "*", program.new_tagged_keys(settings)),
        allow("ManageTaggedKeys", READS["keys"] + KEY_ACTIONS + ALIAS_ACTIONS, resources["keys"],
              program.tagged_keys(settings)),
        allow("ManageKeyAliases", ALIAS_ACTIONS, resources["key_aliases"]),
        allow("ManageBoundedRoles", BOUNDED_ROLE_ACTIONS, resources["roles"], boundary),
        allow("ManageRoles", READS["roles"] + ROLE_ACTIONS, resources["roles"]),
        # The stacks' SDK layers and their versions. Allowed here on the program's layer names (one
        # pattern, whatever the number of stacks: this policy is near IAM's limit) and denied by the
        # guardrails on any layer but the stacks' own, exactly (DenyOtherLayers).
        allow("ManageSdkLayers", SDK_LAYER_ACTIONS, program.any_program_layer(settings)),
        allow("PassTheFunctionRole", ["iam:PassRole"], program.role(settings, names.role(names.BACKUP_ROLE)),
              {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
        allow("PassTheReplicationRole", ["iam:PassRole"],
              program.role(settings, names.replication_role(names.SNAPSHOT_STORAGE)),
              {"StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}}),
    ]
    for kind, actions in MANAGE_ACTIONS.items():
        sid = "Manage" + "".join(part.title() for part in kind.split("_"))
        statements.append(allow(sid, READS[kind] + actions, resources[kind]))
    statements += state_statements(settings.state, write="all")
    return {"Version": "2012-10-17", "Statement": statements}


def deploy_guardrails(settings: Settings) -> dict:
    """The deploy role's managed policy of explicit denies."""
    return {"Version": "2012-10-17", "Statement": _denies(settings)}


def _deny(sid: str, actions: list[str] | str, resources: list[str] | str, condition: dict | None = None,
          *, not_resource: bool = False) -> dict:
    statement = {"Sid": sid, "Effect": "Deny", "Action": sorted(set(as_list(actions))),
                 ("NotResource" if not_resource else "Resource"): resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _denies(settings: Settings) -> list[dict]:
    """Explicit denies: they hold whatever else allows (a policy attached later, a bucket or key policy
    deploy itself wrote)."""
    boundary = program.boundary(settings)
    state_key = settings.state.key_arn if settings.state else None
    statements = [
        # The CI roles and their policies (these guardrails among them), the OIDC provider, the boundary.
        _deny("DenyChangingCiAccess", "iam:*", [settings.iam_arn(f"role{CI_ROLE_PATH}*"),
                                                 settings.iam_arn(f"policy{CI_ROLE_PATH}*"),
                                                 settings.iam_arn(f"oidc-provider/{GITHUB_OIDC_HOST}"), boundary]),
        _deny("DenyRolesWithoutTheBoundary", BOUNDARY_CARRIERS, "*",
              {"StringNotEquals": {"iam:PermissionsBoundary": boundary}}),
        _deny("DenyRemovingBoundaries", "iam:DeleteRolePermissionsBoundary", "*"),
        _deny("DenyRolesOutsideTheProgramsPath", ANY_ROLE_CHANGE, program.roles(settings), not_resource=True),
        _deny("DenyOtherLayers", SDK_LAYER_ACTIONS,
              program.sdk_layers(settings) + program.sdk_layer_versions(settings), not_resource=True),
        _deny("DenyReadingSnapshots", OBJECT_READS, program.objects(program.all_buckets(settings))),
        _deny("DenyUsingKeys", KEY_USE, state_key or "*", not_resource=state_key is not None),
        _deny("DenyUserData", "cognito-idp:*", "*"),
        _deny("DenyAssumingRoles", ["sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"],
              "*"),
        _deny("DenyKeyPolicyLockoutBypass", ["kms:CreateKey", "kms:PutKeyPolicy"], "*",
              {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}}),
        # A key that is not the program's cannot be tagged into reach (nor a tag of one changed).
        _deny("DenyTaggingOtherKeys", ["kms:TagResource", "kms:UntagResource"], program.keys(settings),
              {"StringNotEquals": {f"aws:ResourceTag/{names.KEY_TAG}": sorted(settings.stacks)}}),
    ]
    if settings.state:
        # Everything but using the state (NotAction) on the state key and bucket.
        statements += [
            {"Sid": "DenyManagingStateKey", "Effect": "Deny", "NotAction": STATE_KEY_USE,
             "Resource": settings.state.key_arn},
            {"Sid": "DenyManagingStateBucket", "Effect": "Deny", "NotAction": STATE_OBJECT_USE,
             "Resource": [settings.state.bucket_arn, f"{settings.state.bucket_arn}/*"]},
        ]
    return statements
