"""Where snapshots live: a dedicated KMS key, the snapshot bucket, its access-log bucket, lifecycle
rules by retention class, optional Object Lock, and an optional cross-region replica with its own key.

The policy documents and lifecycle rules are the pure functions of ``infra/policies/storage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from backup_lambda.permissions import actions_for
from infra import names
from infra.config import BackupConfig, ObjectLock
from infra.documents import as_json
from infra.policies.signing import SIGNING_KEY_SPEC, signing_key_policy
from infra.policies.storage import (
    KeyGrant,
    access_log_bucket_policy,
    access_log_lifecycle_rules,
    key_policy,
    lifecycle_rules,
    replication_role_policy,
    replication_trust_policy,
    snapshot_bucket_policy,
)


def _key_policy_json(partition, account_id, grants: list[KeyGrant]) -> pulumi.Output[str]:
    """``key_policy`` as JSON, for grants whose principals may still be Outputs (role ARNs)."""

    def policy(partition: str, account_id: str, principals: list[list[str]]) -> dict:
        resolved = [replace(g, principals=p) for g, p in zip(grants, principals, strict=True)]
        return key_policy(partition=partition, account_id=account_id, grants=resolved)

    return as_json(policy, partition=partition, account_id=account_id, principals=[g.principals for g in grants])


@dataclass
class SnapshotStorageArgs:
    config: BackupConfig
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    writer_role_arn: pulumi.Input[str]
    permissions_boundary: pulumi.Input[str]  # names.permissions_boundary_arn: the bootstrap's boundary


@dataclass
class _SnapshotBucket:
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning


class SnapshotStorage(pulumi.ComponentResource):
    """The snapshot key and bucket (with logging, lifecycle, optional Object Lock) and the optional
    cross-region replica (its own key, bucket and log bucket, and the replication role)."""

    key: aws.kms.Key
    signing_key: aws.kms.Key
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
            # The bucket's name is Pulumi's auto-name, not known before the bucket exists (and the
            # bucket's key policy names this role): the trust names the pattern of that auto-name.
            source_buckets = pulumi.Output.concat(
                "arn:", args.partition, ":s3:::", names.autoname_pattern(names.snapshot_bucket(name))
            )
            replication_role = aws.iam.Role(
                names.replication_role(name),
                description=f"S3 replication of the {cfg.resource_prefix} snapshots to {cfg.replica_region}",
                path=names.PROGRAM_ROLE_PATH,
                permissions_boundary=args.permissions_boundary,
                assume_role_policy=as_json(
                    replication_trust_policy, account_id=args.account_id, source_bucket_arn=source_buckets
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        grants = [
            KeyGrant("BackupRoleUsesKey", [args.writer_role_arn], actions_for("kms_key"), cfg.region),
            KeyGrant("ReadersDecryptSnapshots", readers, ["kms:Decrypt"], cfg.region),
        ]
        if replication_role is not None:
            grants.append(KeyGrant("ReplicationDecrypts", [replication_role.arn], ["kms:Decrypt"], cfg.region))
        self.key = self._key(name, cfg.names.key_alias, "Cognito snapshots", grants, region=None)
        self.signing_key = aws.kms.Key(
            f"{name}-signing-key",
            description=f"Signs the snapshot manifests and checkpoints of {cfg.resource_prefix}",
            key_usage="SIGN_VERIFY",
            customer_master_key_spec=SIGNING_KEY_SPEC,
            deletion_window_in_days=30,
            policy=as_json(signing_key_policy, partition=args.partition, account_id=args.account_id,
                           signer_role_arn=args.writer_role_arn, readers=readers),
            tags=names.key_tags(cfg.stack),  # what the CI roles' KMS grants require
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        self.log_bucket, log_block = self._log_bucket(names.access_log_bucket(name), region=None)
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
                "signing_key_arn": self.signing_key.arn,
                "log_bucket_name": self.log_bucket.bucket,
                "replica_bucket_name": self.replica_bucket.bucket if self.replica_bucket else None,
            }
        )

    def _replicate(self, name: str, cfg: BackupConfig, role: aws.iam.Role, primary: _SnapshotBucket) -> None:
        region = cfg.replica_region
        assert region is not None
        replica = names.replica(name)
        self.replica_key = self._key(
            replica,
            cfg.names.replica_key_alias,
            f"Cognito snapshot replicas (from {cfg.region})",
            [
                KeyGrant("ReadersDecryptSnapshots", list(cfg.snapshot_readers), ["kms:Decrypt"], region),
                KeyGrant("ReplicationEncrypts", [role.arn], ["kms:Encrypt", "kms:GenerateDataKey"], region),
            ],
            region=region,
        )
        logs, logs_block = self._log_bucket(names.access_log_bucket(replica), region=region)
        replica_bucket = self._snapshot_bucket(
            replica, key=self.replica_key, log_bucket=logs, log_block=logs_block, region=region,
            writer_role_arn=None,
        )
        self.replica_bucket = replica_bucket.bucket
        policy = aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=as_json(
                replication_role_policy,
                source_bucket_arn=self.bucket.arn,
                replica_bucket_arn=replica_bucket.bucket.arn,
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
                        bucket=replica_bucket.bucket.arn,
                        encryption_configuration=s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                            replica_kms_key_id=self.replica_key.arn
                        ),
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[primary.versioning, replica_bucket.versioning, policy]
            ),
        )

    def _key(self, name: str, alias: str, what: str, grants: list[KeyGrant], *, region: str | None) -> aws.kms.Key:
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {what} of {self._args.config.resource_prefix}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=_key_policy_json(self._args.partition, self._args.account_id, grants),
            tags=names.key_tags(self._args.config.stack),  # what the CI roles' KMS grants require
            region=region,
            opts=pulumi.ResourceOptions(parent=self, protect=self._args.config.protect),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=alias,
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
            rules=access_log_lifecycle_rules(self._args.config.access_log_retention_days),
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
            names.snapshot_bucket(name),
            # Object Lock can only be chosen when the bucket is created: turning it on later replaces it.
            object_lock_enabled=True if lock.enabled else None,
            region=region,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        block = self._harden(names.snapshot_bucket(name), bucket, region)
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
            policy=as_json(
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
            policy=as_json(
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
