"""The one list of AWS API calls the snapshot function makes, and the IAM action each one needs.

The code, the infrastructure and the tests read this module: the pool reader refuses to call a
Cognito operation that is not listed here, the Pulumi program builds the backup role's policy from
it, and tests record the calls a real run makes against moto and check them against it, both ways
(every call made is granted, every grant is used). The operator tooling's calls (restore, recover,
drill) are listed the same way in ``cognito_backup/permissions.py``.

Each operation has a *scope*, which names the resource its grant is limited to:

- ``pool``: the user pools listed in the stack (``arn:aws:cognito-idp:R:A:userpool/ID``)
- ``snapshots``: the snapshot objects in the backup bucket (``arn:aws:s3:::BUCKET/PREFIX*``)
- ``checkpoints``: the continuation checkpoints (``arn:aws:s3:::BUCKET/PREFIX.checkpoints/*``)
- ``kms_key``: the dedicated KMS key
- ``signing_key``: the stack's asymmetric signing key (manifests and checkpoints, ``signing.py``)
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


def scoped_operations(service: str, scope: str, pairs: list[tuple[str, str]]) -> list[Operation]:
    return [Operation(service, api, action, scope) for api, action in pairs]


def named_actions(service_prefix: str, names: list[str]) -> list[tuple[str, str]]:
    return [(n, f"{service_prefix}:{n}") for n in names]


# What a snapshot reads from Cognito. The reader calls these and nothing else.
SNAPSHOT_COGNITO = scoped_operations(
    "cognito-idp",
    "pool",
    named_actions(
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
            "GetUserPoolClientSessionConfiguration",
            "GetUserPoolSessionConfiguration",
            "ListTerms",
            "DescribeTerms",
            "ListCIMDPolicies",
            "DescribeCIMDPolicy",
            "ListUserPoolReplicas",
        ],
    ),
)

# Only with captureUserMfa (CAPTURE_USER_MFA=1): each user's MFA settings. The grant follows the stack key.
USER_MFA_COGNITO = scoped_operations("cognito-idp", "pool", named_actions("cognito-idp", ["AdminGetUser"]))

# IAM has no resource type for DescribeUserPoolDomain (a domain is looked up by name): it can only be
# granted on "*" (scope "account", which the infrastructure allows for read verbs only).
SNAPSHOT_COGNITO += scoped_operations("cognito-idp", "account",
                                      named_actions("cognito-idp", ["DescribeUserPoolDomain"]))

# How a snapshot is written. Multipart uploads are authorised by s3:PutObject; the retention tag
# given at upload needs s3:PutObjectTagging; an aborted upload needs s3:AbortMultipartUpload.
SNAPSHOT_S3 = scoped_operations(
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
CHECKPOINT_S3 = scoped_operations(
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
SNAPSHOT_KMS = scoped_operations(
    "kms",
    "kms_key",
    [
        ("GenerateDataKey", "kms:GenerateDataKey"),
        ("Decrypt", "kms:Decrypt"),
    ],
)

# The function signs each manifest and checkpoint, and verifies a checkpoint before it carries on from it:
# the only principal the signing key's policy lets Sign (readers may Verify and GetPublicKey).
SIGNING_KMS = scoped_operations(
    "kms",
    "signing_key",
    [
        ("Sign", "kms:Sign"),
        ("Verify", "kms:Verify"),
    ],
)

CONTINUATION_LAMBDA = scoped_operations("lambda", "self_function", [("Invoke", "lambda:InvokeFunction")])

# The snapshot key's calls are not made by the code itself (S3 makes them), so the call-recording test
# checks the direct calls: Cognito, S3, the signing key's and Lambda's (continuation).
BACKUP_ROLE_OPERATIONS: list[Operation] = (
    SNAPSHOT_COGNITO + SNAPSHOT_S3 + CHECKPOINT_S3 + SNAPSHOT_KMS + SIGNING_KMS + CONTINUATION_LAMBDA
)


def role_operations(capture_user_mfa: bool) -> list[Operation]:
    """What the backup role is granted: the snapshot's calls, and AdminGetUser only with captureUserMfa."""
    return BACKUP_ROLE_OPERATIONS + (USER_MFA_COGNITO if capture_user_mfa else [])


def actions_for(scope: str, operations: list[Operation] = BACKUP_ROLE_OPERATIONS) -> list[str]:
    """The sorted, de-duplicated IAM actions of one scope."""
    return sorted({op.action for op in operations if op.scope == scope})


def direct_calls(operations: list[Operation] = BACKUP_ROLE_OPERATIONS) -> set[tuple[str, str]]:
    """(service, api) pairs that the code itself calls (the snapshot key's are made by S3 on our behalf)."""
    return {(op.service, op.api) for op in operations if op.scope != "kms_key"}


SNAPSHOT_COGNITO_CALLS = frozenset(op.api for op in SNAPSHOT_COGNITO)
