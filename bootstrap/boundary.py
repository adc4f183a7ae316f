"""The permissions boundary of the main program's roles: the most any of them can ever do, whatever
policy the deploy role attaches to it.

The deploy role may create and change roles only under the program's path and only with this boundary
(``deploy_role.py``); it cannot edit the boundary or remove it. So a role it creates, or a policy it
writes on one, is capped to the union of what the program's three roles need:

- the backup role (``backup_lambda/permissions.py``, plus what Lambda does with the role): read the
  user pools the stacks list, write snapshots into the snapshot buckets and read back only its
  continuation checkpoints, use the program's keys through S3, sign with the program's signing keys,
  invoke the stacks' functions, write their logs, send failed invocations to the failure queues;
- the replication role (``infra/policies/storage.py``): read versions of the snapshot buckets for
  replication, replicate into the replica buckets, use the program's keys through S3;
- the user-import logs role (``infra/policies/import_role.py``): write ``/aws/cognito/*`` logs.

Nothing on IAM or STS, and no S3 request on a bucket of another account (``s3:ResourceAccount``):
no replication, or any other write, outside the account. The program's own policies are narrower
still (one stack's pools, bucket, key, function); tests/infra/test_bootstrap.py checks that the
boundary allows every grant they make and evaluates what it refuses.
"""

from __future__ import annotations

from backup_lambda.permissions import actions_for, role_operations
from backup_lambda.snapshot_format import CHECKPOINT_DIR
from bootstrap import program_resources as program
from bootstrap.account_settings import Settings
from bootstrap.statements import allow
from infra.policies.backup_role import RUNTIME_GRANTS
from infra.policies.import_role import import_role_policy
from infra.policies.storage import REPLICATION_DESTINATION_ACTIONS, REPLICATION_SOURCE_OBJECT_ACTIONS

# Replication reads the source bucket's configuration and lists it.
REPLICATION_SOURCE_BUCKET_ACTIONS = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
# What the replication role does with the keys: decrypt the source, encrypt the replica.
REPLICATION_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]


def import_log_actions() -> list[str]:
    """The user-import logs role's actions, as its policy builder lists them."""
    policy = import_role_policy(partition="aws", account_id="000000000000", region="any")
    return sorted({a for statement in policy["Statement"] for a in statement["Action"]})


def boundary_policy(settings: Settings) -> dict:
    """The managed policy every role of the program carries as its permissions boundary."""
    snapshot_buckets = program.snapshot_buckets(settings)
    in_account = program.this_account(settings)
    statements = []
    if settings.stack_pool_ids:
        # The ceiling of any stack's role: captureUserMfa's AdminGetUser included.
        statements.append(allow("ReadTheStacksPools", actions_for("pool", role_operations(True)),
                                program.pools(settings)))
    if actions_for("account"):
        statements.append(allow("CallsWithoutResourceType", actions_for("account"), "*"))
    statements += [
        allow("WriteSnapshots", actions_for("snapshots"), program.objects(snapshot_buckets), in_account),
        # Read back and delete continuation checkpoints only (``<prefix>.checkpoints/``, whatever the
        # stack's prefix): never a snapshot, even if a bucket policy let the role.
        allow("ContinuationCheckpoints", actions_for("checkpoints"),
              [f"{bucket}/*{CHECKPOINT_DIR}*" for bucket in snapshot_buckets], in_account),
        allow("ReplicateFromTheSnapshotBuckets", REPLICATION_SOURCE_BUCKET_ACTIONS, snapshot_buckets, in_account),
        allow("ReadVersionsForReplication", REPLICATION_SOURCE_OBJECT_ACTIONS, program.objects(snapshot_buckets),
              in_account),
        allow("ReplicateIntoTheReplicaBuckets", REPLICATION_DESTINATION_ACTIONS,
              program.objects(program.replica_buckets(settings)), in_account),
        allow("UseTheProgramsKeysThroughS3", actions_for("kms_key") + REPLICATION_KEY_ACTIONS, program.keys(settings),
              {**program.tagged_keys(settings), "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
        # The signing key (asymmetric: S3 never uses it): the backup role signs manifests and checkpoints.
        allow("SignWithTheProgramsKeys", actions_for("signing_key"), program.keys(settings),
              program.tagged_keys(settings)),
        allow("InvokeTheStacksFunctions", actions_for("self_function"), program.functions(settings)),
        allow("WriteTheFunctionsLogs", RUNTIME_GRANTS["log_group"], program.log_groups(settings)),
        allow("SendFailedInvocations", RUNTIME_GRANTS["failure_queue"], program.failure_queues(settings)),
        allow("WriteImportJobLogs", import_log_actions(), program.import_log_groups(settings)),
        {"Sid": "NothingOnIam", "Effect": "Deny", "Action": ["iam:*", "sts:*"], "Resource": "*"},
        {"Sid": "NoS3OutsideTheAccount", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringNotEquals": {"s3:ResourceAccount": settings.account_id}}},
    ]
    return {"Version": "2012-10-17", "Statement": statements}
