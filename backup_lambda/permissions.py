"""The one list of AWS API calls this project makes, and the IAM action each one needs.

Both the code and the infrastructure read this module: the Pulumi program builds the backup role's
policy from it, and tests record the calls a real run makes against moto and check them against it,
both ways (every call made is granted, every grant is used).

Each operation has a *scope*, which names the resource its grant is limited to:

- ``pool``: the user pools listed in the stack (``arn:aws:cognito-idp:R:A:userpool/ID``)
- ``snapshots``: the snapshot objects in the backup bucket (``arn:aws:s3:::BUCKET/PREFIX*``)
- ``checkpoints``: the continuation checkpoints (``arn:aws:s3:::BUCKET/PREFIX.checkpoints/*``)
- ``kms_key``: the dedicated KMS key
- ``self_function``: the backup Lambda itself (continuation of a long snapshot)
- ``account``: calls IAM cannot scope to a resource (``*``): read verbs only
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    service: str  # boto3 service name
    api: str  # botocore operation name (as recorded by the before-call event)
    action: str  # IAM action
    scope: str


def _ops(service: str, scope: str, pairs: list[tuple[str, str]]) -> list[Operation]:
    return [Operation(service, api, action, scope) for api, action in pairs]


def _same(service_prefix: str, names: list[str]) -> list[tuple[str, str]]:
    return [(n, f"{service_prefix}:{n}") for n in names]


# What a snapshot reads from Cognito. The reader calls these and nothing else.
SNAPSHOT_COGNITO = _ops(
    "cognito-idp",
    "pool",
    _same(
        "cognito-idp",
        [
            "DescribeUserPool",
            "ListUsers",
            "ListGroups",
            "ListUsersInGroup",
            "GetUserPoolMfaConfig",
            "ListUserPoolClients",
            "DescribeUserPoolClient",
            "ListIdentityProviders",
            "DescribeIdentityProvider",
            "ListResourceServers",
            "GetUICustomization",
            "DescribeRiskConfiguration",
            "GetLogDeliveryConfiguration",
            "ListTagsForResource",
            "DescribeManagedLoginBrandingByClient",
        ],
    ),
)

# IAM has no resource type for DescribeUserPoolDomain (a domain is looked up by name): it can only be
# granted on "*" (scope "account", which the infrastructure allows for read verbs only).
SNAPSHOT_COGNITO += _ops("cognito-idp", "account", _same("cognito-idp", ["DescribeUserPoolDomain"]))

# How a snapshot is written. Multipart uploads are authorised by s3:PutObject; the retention tag
# given at upload needs s3:PutObjectTagging; an aborted upload needs s3:AbortMultipartUpload.
SNAPSHOT_S3 = _ops(
    "s3",
    "snapshots",
    [
        ("CreateMultipartUpload", "s3:PutObject"),
        ("UploadPart", "s3:PutObject"),
        ("CompleteMultipartUpload", "s3:PutObject"),
        ("AbortMultipartUpload", "s3:AbortMultipartUpload"),
        ("PutObject", "s3:PutObject"),
        ("CreateMultipartUpload", "s3:PutObjectTagging"),
        ("PutObject", "s3:PutObjectTagging"),
    ],
)

# Continuation checkpoints of a snapshot that spans several Lambda runs: the role reads back only these.
CHECKPOINT_S3 = _ops(
    "s3",
    "checkpoints",
    [
        ("PutObject", "s3:PutObject"),
        ("GetObject", "s3:GetObject"),
        ("DeleteObject", "s3:DeleteObject"),
    ],
)

# SSE-KMS: S3 asks KMS for a data key on every write, and decrypts it to assemble multipart parts
# and to read a checkpoint back.
SNAPSHOT_KMS = _ops(
    "kms",
    "kms_key",
    [
        ("GenerateDataKey", "kms:GenerateDataKey"),
        ("Decrypt", "kms:Decrypt"),
    ],
)

CONTINUATION_LAMBDA = _ops("lambda", "self_function", [("Invoke", "lambda:InvokeFunction")])

# KMS and the continuation invoke are not calls the code makes itself (S3 makes the KMS calls), so
# the call-recording test checks the direct calls: Cognito and S3 (and Lambda for continuation).
BACKUP_ROLE_OPERATIONS: list[Operation] = (
    SNAPSHOT_COGNITO + SNAPSHOT_S3 + CHECKPOINT_S3 + SNAPSHOT_KMS + CONTINUATION_LAMBDA
)


def actions_for(scope: str, operations: list[Operation] = BACKUP_ROLE_OPERATIONS) -> list[str]:
    """The sorted, de-duplicated IAM actions of one scope."""
    return sorted({op.action for op in operations if op.scope == scope})


def direct_calls(operations: list[Operation] = BACKUP_ROLE_OPERATIONS) -> set[tuple[str, str]]:
    """(service, api) pairs that the code itself calls (KMS calls are made by S3 on our behalf)."""
    return {(op.service, op.api) for op in operations if op.service != "kms"}


# --- Restore, recover, drill: run by people (the restore runbook) and by the restore-drill workflow ---
#
# More scopes, for these roles only:
#
# - ``restored_pool``: the pools a restore creates or fills; their ids are not known in advance, so
#   ``arn:aws:cognito-idp:R:A:userpool/*``
# - ``account``: calls without a resource type (``*``): CreateUserPool, DescribeUserPoolDomain,
#   ListUserPools
# - ``bucket``: the backup bucket itself (``arn:aws:s3:::BUCKET``), for listing snapshots
# - ``import_role``: the stack's user-import logs role (output ``importRoleArn``), passed to Cognito

# What a restore calls on the pool it creates or fills (resume lists what is already there).
RESTORE_COGNITO = _ops(
    "cognito-idp",
    "restored_pool",
    _same(
        "cognito-idp",
        [
            "DescribeUserPool",
            "AddCustomAttributes",
            "SetUserPoolMfaConfig",
            "ListResourceServers",
            "CreateResourceServer",
            "ListIdentityProviders",
            "CreateIdentityProvider",
            "ListUserPoolClients",
            "CreateUserPoolClient",
            "CreateUserPoolDomain",
            "SetUICustomization",
            "SetRiskConfiguration",
            "SetLogDeliveryConfiguration",
            "TagResource",
            "CreateManagedLoginBranding",
            "ListGroups",
            "CreateGroup",
            "ListUsers",
            "ListUsersInGroup",
            "AdminCreateUser",
            "AdminGetUser",
            "AdminAddUserToGroup",
            "AdminDisableUser",
            "AdminLinkProviderForUser",
            "GetCSVHeader",
            "CreateUserImportJob",
            "StartUserImportJob",
            "DescribeUserImportJob",
        ],
    ),
)
# ListUserPools: before creating a pool, the restore looks for one of the same name (left by a run that lost
# CreateUserPool's answer), and after a lost answer, whether the pool was created. IAM cannot scope it to a pool.
RESTORE_ACCOUNT = _ops("cognito-idp", "account",
                       _same("cognito-idp", ["CreateUserPool", "DescribeUserPoolDomain", "ListUserPools"]))
# Whether the snapshot's own pool still exists (then native recovery may serve better).
RESTORE_SOURCE_POOL = _ops("cognito-idp", "pool", _same("cognito-idp", ["DescribeUserPool"]))
# CreateUserImportJob hands Cognito the import logs role.
RESTORE_PASS_ROLE = [Operation("cognito-idp", "CreateUserImportJob", "iam:PassRole", "import_role")]
# Reading a snapshot and its manifest (HeadObject is authorised by s3:GetObject), and listing them.
SNAPSHOT_READ_S3 = _ops("s3", "snapshots", [("GetObject", "s3:GetObject"), ("HeadObject", "s3:GetObject")])
SNAPSHOT_LIST_S3 = _ops("s3", "bucket", [("ListObjectsV2", "s3:ListBucket")])
# S3 decrypts the SSE-KMS snapshot objects on the reader's behalf.
SNAPSHOT_READ_KMS = _ops("kms", "kms_key", [("Decrypt", "kms:Decrypt")])

# `restore --check` snapshots the pool it restored (to a local folder) and compares: the snapshot's reads.
RESTORE_CHECK = [Operation(op.service, op.api, op.action, "restored_pool") for op in SNAPSHOT_COGNITO
                 if op.scope == "pool"]

RESTORE_OPERATIONS: list[Operation] = (
    RESTORE_COGNITO + RESTORE_ACCOUNT + RESTORE_SOURCE_POOL + RESTORE_PASS_ROLE + SNAPSHOT_READ_S3
    + SNAPSHOT_LIST_S3 + SNAPSHOT_READ_KMS + RESTORE_CHECK
)

# `recover`: native point-in-time recovery of an existing pool of the stack.
RECOVER_OPERATIONS = _ops(
    "cognito-idp",
    "pool",
    _same(
        "cognito-idp",
        [
            "InitiatePointInTimeRecovery",
            "DescribePointInTimeRecovery",
            "StartPointInTimeRecovery",
            "CancelPointInTimeRecovery",
        ],
    ),
)

# The drill: a restore into a scratch pool, a snapshot of that pool (written to a local directory,
# never to the bucket), and the scratch pool's deletion.
DRILL_OPERATIONS: list[Operation] = (
    RESTORE_OPERATIONS
    + _ops("cognito-idp", "restored_pool", _same("cognito-idp", ["DeleteUserPool", "DeleteUserPoolDomain"]))
)
