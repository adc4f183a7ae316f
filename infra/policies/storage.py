"""The storage's documents: the key policy, the snapshot and access-log bucket policies, the
replication role's policy and the lifecycle rules by retention class.

Pure functions of plain strings so that tests can read and evaluate them without Pulumi; the
``SnapshotStorage`` component (``infra/storage.py``) declares the resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backup_lambda.snapshot_format import CHECKPOINT_DIR
from infra.config import Retention

# What "administer the key" means: everything but using it for cryptography, listed action by action.
# The account can manage the key (and must, to avoid an unmanageable key), but reading snapshots takes a
# grant below. No wildcard: "kms:Create*" would include kms:CreateGrant, with which an administrator
# could grant itself Decrypt. Absent too: the key-material import actions (the keys are KMS-generated),
# the multi-Region ones, kms:GetPublicKey (symmetric keys) and every cryptographic operation.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
]
OBJECT_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
READER_OBJECT_ACTIONS = [*OBJECT_READ_ACTIONS, "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
CHECKPOINT_EXPIRY_DAYS = 7  # a checkpoint older than a week belongs to a run that will never resume
REPLICATION_SOURCE_OBJECT_ACTIONS = [
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionTagging",
]
REPLICATION_DESTINATION_ACTIONS = ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"]


@dataclass(frozen=True)
class KeyGrant:
    """Principals allowed to use a key for the given actions, only through S3 in one region."""

    sid: str
    principals: Sequence[str]
    actions: Sequence[str]
    s3_region: str


def account_administers_key(partition: str, account_id: str) -> dict:
    """The key policy statement that keeps a key manageable: the account may administer it (through
    IAM), not use it."""
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*",  # in a key policy, "*" is this key
    }


def key_policy(*, partition: str, account_id: str, grants: Sequence[KeyGrant]) -> dict:
    """A key policy: the account administers the key; each grant uses it through S3, nothing wider."""
    statements: list[dict] = [account_administers_key(partition, account_id)]
    for grant in grants:
        if not grant.principals:
            continue
        statements.append(
            {
                "Sid": grant.sid,
                "Effect": "Allow",
                "Principal": {"AWS": sorted(grant.principals)},
                "Action": sorted(grant.actions),
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{grant.s3_region}.amazonaws.com"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def snapshot_bucket_policy(
    *,
    bucket_arn: str,
    kms_key_arn: str,
    readers: Sequence[str],
    writer_role_arn: str | None = None,
    snapshot_prefix: str = "",
) -> dict:
    """Deny non-TLS requests, uploads not encrypted with the key, and object reads by anyone but the
    readers (and the writer role, for its own continuation checkpoints only); let the readers list
    and read.

    Only object reads and uploads are denied, never bucket management: the account's administrators
    keep the power to change this policy.

    The encryption checks apply only when the request carries the header (``Null: false``):
    UploadPart and CompleteMultipartUpload, both authorised as s3:PutObject, carry none, and a missing
    key makes a negated condition (or an ``...IfExists`` one) true, which would deny every multipart
    upload. A request without the header gets the bucket's default encryption, which is this key; one
    that names another algorithm, aws:kms without this key's ARN, or a customer-provided key is denied.
    """
    objects = f"{bucket_arn}/*"
    exempt = sorted(readers) + ([writer_role_arn] if writer_role_arn else [])
    statements: list[dict] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyUploadsNotEncryptedWithKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        },
        {
            "Sid": "DenyUploadsWithAnotherKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
            },
        },
        {
            # aws:kms without a key id means the AWS managed key aws/s3, not this one.
            "Sid": "DenyKmsUploadsWithoutKeyId",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "true"},
            },
        },
        {
            "Sid": "DenyCustomerProvidedKeys",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}},
        },
        {
            "Sid": "DenyObjectReadsExceptReaders",
            "Effect": "Deny",
            "Principal": "*",
            "Action": OBJECT_READ_ACTIONS,
            "Resource": objects,
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": exempt}},
        },
    ]
    if readers:
        # Same-account readers could also be granted these in IAM; the bucket policy makes the
        # readers' access work from another account too, and says in one place who reads.
        statements.append(
            {
                "Sid": "ReadersListAndReadSnapshots",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(readers)},
                "Action": ["s3:ListBucket", *READER_OBJECT_ACTIONS],
                "Resource": [bucket_arn, objects],
            }
        )
    if writer_role_arn:
        statements.append(
            {
                "Sid": "DenyWriterReadsOutsideCheckpoints",
                "Effect": "Deny",
                "Principal": "*",
                "Action": OBJECT_READ_ACTIONS,
                "NotResource": f"{bucket_arn}/{snapshot_prefix}{CHECKPOINT_DIR}*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": writer_role_arn}},
            }
        )
        statements.extend(writer_cannot_replace(bucket_arn, writer_role_arn, snapshot_prefix))
    return {"Version": "2012-10-17", "Statement": statements}


def writer_cannot_replace(bucket_arn: str, writer_role_arn: str, snapshot_prefix: str) -> list[dict]:
    """The backup role creates snapshots and manifests, never replaces or re-tags one (its checkpoints,
    which it rewrites at every hand-over, excepted).

    - An object is created (PutObject, CompleteMultipartUpload: ``s3:ObjectCreationOperation``) only
      with ``If-None-Match`` (``s3:if-none-match``), so S3 refuses it where the key exists (412). The
      multipart upload's CreateMultipartUpload and UploadPart take no such header and create nothing:
      they are exempt, as S3's documentation on enforcing conditional writes requires.
    - Tags are set only at creation: s3:PutObjectTagging on an object that already carries its
      ``retention`` tag (``s3:ExistingObjectTag/retention``: every snapshot and manifest) is denied, so
      the role cannot move a snapshot into a shorter retention class for the lifecycle rules to expire.
    """
    writer = {"ArnEquals": {"aws:PrincipalArn": writer_role_arn}}
    checkpoints = f"{bucket_arn}/{snapshot_prefix}{CHECKPOINT_DIR}*"
    return [
        {
            "Sid": "DenyWriterUnconditionalCreation",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "NotResource": checkpoints,
            "Condition": {**writer, "Null": {"s3:if-none-match": "true"},
                          "Bool": {"s3:ObjectCreationOperation": "true"}},
        },
        {
            "Sid": "DenyWriterRetagging",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObjectTagging",
            "Resource": f"{bucket_arn}/*",
            "Condition": {**writer, "Null": {"s3:ExistingObjectTag/retention": "false"}},
        },
    ]


def access_log_bucket_policy(*, log_bucket_arn: str, source_bucket_arn: str, account_id: str) -> dict:
    """S3 server access logging may write here, for the source bucket only; TLS only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [log_bucket_arn, f"{log_bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{log_bucket_arn}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
        ],
    }


def replication_trust_policy(*, account_id: str, source_bucket_arn: str) -> dict:
    """S3 may assume the replication role, for this account's snapshot bucket only (``source_bucket_arn``
    may be a pattern: the auto-name of the bucket)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                },
            }
        ],
    }


def replication_role_policy(
    *,
    source_bucket_arn: str,
    replica_bucket_arn: str,
    source_key_arn: str,
    replica_key_arn: str,
    source_region: str,
    replica_region: str,
) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadReplicationConfiguration",
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": source_bucket_arn,
            },
            {
                "Sid": "ReadSourceVersions",
                "Effect": "Allow",
                "Action": REPLICATION_SOURCE_OBJECT_ACTIONS,
                "Resource": f"{source_bucket_arn}/*",
            },
            {
                "Sid": "WriteReplicas",
                "Effect": "Allow",
                "Action": REPLICATION_DESTINATION_ACTIONS,
                "Resource": f"{replica_bucket_arn}/*",
            },
            {
                "Sid": "DecryptSource",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": source_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{source_region}.amazonaws.com"}},
            },
            {
                "Sid": "EncryptReplica",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": replica_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{replica_region}.amazonaws.com"}},
            },
        ],
    }


def lifecycle_rules(retention: Retention, snapshot_prefix: str = "") -> list[dict]:
    """Each retention class (the ``retention`` tag of a snapshot and its manifest) expires after its
    own age; expired and overwritten versions go after ``noncurrent_days``; incomplete multipart
    uploads are aborted after a day; stale continuation checkpoints after a week."""
    rules: list[dict] = [
        {
            "id": f"expire-{cls}-snapshots",
            "status": "Enabled",
            "filter": {"tag": {"key": "retention", "value": cls}},
            "expiration": {"days": days},
        }
        for cls, days in retention.days_by_class().items()
    ]
    rules.append(
        {
            "id": "expire-stale-checkpoints",
            "status": "Enabled",
            "filter": {"prefix": f"{snapshot_prefix}{CHECKPOINT_DIR}"},
            "expiration": {"days": CHECKPOINT_EXPIRY_DAYS},
        }
    )
    rules.append(
        {
            "id": "expire-old-versions-and-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": retention.noncurrent_days},
            "expiration": {"expired_object_delete_marker": True},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        }
    )
    return rules


def access_log_lifecycle_rules(retention_days: int) -> list[dict]:
    """Access logs expire after ``retention_days``; incomplete uploads are aborted after a day."""
    return [
        {
            "id": "expire-access-logs",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": retention_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        }
    ]
