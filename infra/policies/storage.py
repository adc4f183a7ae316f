"""Where snapshots live: a dedicated KMS key, the snapshot bucket, its access-log bucket, lifecycle
rules by retention class, optional Object Lock, and an optional cross-region replica with its own key.

The policy documents and lifecycle rules are pure functions of plain strings so that tests can read
and evaluate them without Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from backup_lambda.permissions import actions_for
from backup_lambda.snapshot_format import CHECKPOINT_DIR
from infra.config import BackupConfig, ObjectLock, Retention

# What "administer the key" means: everything but using it for cryptography. The account can manage
# the key (and must, to avoid an unmanageable key), but reading snapshots takes a grant below.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
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


def key_policy(*, partition: str, account_id: str, grants: Sequence[KeyGrant]) -> dict:
    """A key policy: the account administers the key; each grant uses it through S3, nothing wider."""
    statements: list[dict] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": KEY_ADMIN_ACTIONS,
            "Resource": "*",  # in a key policy, "*" is this key
        }
    ]
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
    return {"Version": "2012-10-17", "Statement": statements}


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


def _json(builder, **inputs) -> pulumi.Output[str]:
    """``json.dumps(builder(**resolved inputs))`` as an Output: the pure builders take plain strings."""
    names = list(inputs)
    return pulumi.Output.all(*inputs.values()).apply(
        lambda values: json.dumps(builder(**dict(zip(names, values, strict=True))))
    )


def _key_policy_json(partition, account_id, grants: list[KeyGrant]) -> pulumi.Output[str]:
    """``key_policy`` as an Output, for grants whose principals may still be Outputs (role ARNs)."""
    principals = [pulumi.Output.all(*g.principals) for g in grants]
    return pulumi.Output.all(partition, account_id, *principals).apply(
        lambda v: json.dumps(
            key_policy(
                partition=v[0],
                account_id=v[1],
                grants=[replace(g, principals=p) for g, p in zip(grants, v[2:], strict=True)],
            )
        )
    )


@dataclass
class SnapshotStorageArgs:
    config: BackupConfig
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    writer_role_arn: pulumi.Input[str]


@dataclass
class _SnapshotBucket:
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning


class SnapshotStorage(pulumi.ComponentResource):
    """The snapshot key and bucket (with logging, lifecycle, optional Object Lock) and the optional
    cross-region replica (its own key, bucket and log bucket, and the replication role)."""

    key: aws.kms.Key
    bucket: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    replica_key: aws.kms.Key | None = None
    replica_bucket: aws.s3.Bucket | None = None

    def __init__(self, name: str, args: SnapshotStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:SnapshotStorage", name, None, opts)
        cfg = args.config
        self._args = args
        readers = list(cfg.snapshot_readers)

        replication_role = None
        if cfg.replica_region:
            replication_role = aws.iam.Role(
                f"{name}-replication-role",
                description=f"S3 replication of the {cfg.resource_prefix} snapshots to {cfg.replica_region}",
                assume_role_policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                            }
                        ],
                    }
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        grants = [
            KeyGrant("BackupRoleUsesKey", [args.writer_role_arn], actions_for("kms_key"), cfg.region),
            KeyGrant("ReadersDecryptSnapshots", readers, ["kms:Decrypt"], cfg.region),
        ]
        if replication_role is not None:
            grants.append(KeyGrant("ReplicationDecrypts", [replication_role.arn], ["kms:Decrypt"], cfg.region))
        self.key = self._key(name, cfg.resource_prefix, "Cognito snapshots", grants, region=None)
        self.log_bucket, log_block = self._log_bucket(f"{name}-access-logs", region=None)
        primary = self._snapshot_bucket(
            name, key=self.key, log_bucket=self.log_bucket, log_block=log_block, region=None,
            writer_role_arn=args.writer_role_arn,
        )
        self.bucket = primary.bucket

        if cfg.replica_region and replication_role is not None:
            self._replicate(name, cfg, replication_role, primary)

        self.register_outputs(
            {
                "bucket_name": self.bucket.bucket,
                "kms_key_arn": self.key.arn,
                "log_bucket_name": self.log_bucket.bucket,
                "replica_bucket_name": self.replica_bucket.bucket if self.replica_bucket else None,
            }
        )

    def _replicate(self, name: str, cfg: BackupConfig, role: aws.iam.Role, primary: _SnapshotBucket) -> None:
        region = cfg.replica_region
        assert region is not None
        self.replica_key = self._key(
            f"{name}-replica",
            f"{cfg.resource_prefix}-replica",
            f"Cognito snapshot replicas (from {cfg.region})",
            [
                KeyGrant("ReadersDecryptSnapshots", list(cfg.snapshot_readers), ["kms:Decrypt"], region),
                KeyGrant("ReplicationEncrypts", [role.arn], ["kms:Encrypt", "kms:GenerateDataKey"], region),
            ],
            region=region,
        )
        logs, logs_block = self._log_bucket(f"{name}-replica-access-logs", region=region)
        replica = self._snapshot_bucket(
            f"{name}-replica", key=self.replica_key, log_bucket=logs, log_block=logs_block, region=region,
            writer_role_arn=None,
        )
        self.replica_bucket = replica.bucket
        policy = aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=_json(
                replication_role_policy,
                source_bucket_arn=self.bucket.arn,
                replica_bucket_arn=replica.bucket.arn,
                source_key_arn=self.key.arn,
                replica_key_arn=self.replica_key.arn,
                source_region=cfg.region,
                replica_region=region,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        s3 = aws.s3
        aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=self.bucket.id,
            role=role.arn,
            rules=[
                s3.BucketReplicationConfigRuleArgs(
                    id="replicate-snapshots",
                    status="Enabled",
                    filter=s3.BucketReplicationConfigRuleFilterArgs(prefix=cfg.snapshot_prefix),
                    delete_marker_replication=s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Disabled"
                    ),
                    source_selection_criteria=s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                        sse_kms_encrypted_objects=s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                            status="Enabled"
                        )
                    ),
                    destination=s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=replica.bucket.arn,
                        encryption_configuration=s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                            replica_kms_key_id=self.replica_key.arn
                        ),
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[primary.versioning, replica.versioning, policy]),
        )

    def _key(self, name: str, alias: str, what: str, grants: list[KeyGrant], *, region: str | None) -> aws.kms.Key:
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {what} of {self._args.config.resource_prefix}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=_key_policy_json(self._args.partition, self._args.account_id, grants),
            region=region,
            opts=pulumi.ResourceOptions(parent=self, protect=self._args.config.protect),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{alias}",
            target_key_id=key.key_id,
            region=region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key

    def _harden(self, name: str, bucket: aws.s3.Bucket, region: str | None) -> aws.s3.BucketPublicAccessBlock:
        """No ACLs (the bucket owner owns every object) and no public access, whatever a policy says."""
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            region=region,
            opts=child,
        )
        return aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            region=region,
            opts=child,
        )

    def _log_bucket(
        self, name: str, *, region: str | None
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(name, region=region, opts=child)
        block = self._harden(name, bucket, region)
        # Server access logs can only be delivered to a bucket encrypted with SSE-S3.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                )
            ],
            region=region,
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-access-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": self._args.config.access_log_retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            region=region,
            opts=child,
        )
        return bucket, block

    def _snapshot_bucket(
        self,
        name: str,
        *,
        key: aws.kms.Key,
        log_bucket: aws.s3.Bucket,
        log_block: aws.s3.BucketPublicAccessBlock,
        region: str | None,
        writer_role_arn: pulumi.Input[str] | None,
    ) -> _SnapshotBucket:
        cfg = self._args.config
        lock: ObjectLock = cfg.object_lock
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            # Object Lock can only be chosen when the bucket is created: turning it on later replaces it.
            object_lock_enabled=True if lock.enabled else None,
            region=region,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        block = self._harden(f"{name}-bucket", bucket, region)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            region=region,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    bucket_key_enabled=True,
                    blocked_encryption_types=["SSE-C"],
                )
            ],
            region=region,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=_json(
                snapshot_bucket_policy,
                bucket_arn=bucket.arn,
                kms_key_arn=key.arn,
                readers=list(cfg.snapshot_readers),
                writer_role_arn=writer_role_arn,
                snapshot_prefix=cfg.snapshot_prefix,
            ),
            region=region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=lifecycle_rules(cfg.retention, cfg.snapshot_prefix),
            region=region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-access-logs-policy",
            bucket=log_bucket.id,
            policy=_json(
                access_log_bucket_policy,
                log_bucket_arn=log_bucket.arn,
                source_bucket_arn=bucket.arn,
                account_id=self._args.account_id,
            ),
            region=region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_block]),
        )
        aws.s3.BucketLogging(
            f"{name}-access-logging",
            bucket=bucket.id,
            target_bucket=log_bucket.id,
            target_prefix="snapshots/",
            target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                    partition_date_source="EventTime"
                )
            ),
            region=region,
            opts=child,
        )
        if lock.enabled:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=lock.mode.upper(), days=lock.days
                    )
                ),
                region=region,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        return _SnapshotBucket(bucket, versioning)
