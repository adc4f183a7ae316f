"""The snapshot role (``snapshot.yml``, the default branch): invokes the backup functions and reads the
snapshot bucket (it is a snapshot reader) and the state; writes nothing."""

from __future__ import annotations

from bootstrap.account_settings import Settings
from bootstrap.state_backend import state_statements
from bootstrap.statements import allow
from infra import names
from infra.names import StackNames, autoname_pattern

# The main program's names come from the program (infra/names.py): the names it sets itself all start
# with ``cognito-backup-<stack>`` (ANY_STACK: every stack), and Pulumi names the others after their
# logical names plus a random suffix (AUTONAMED). tests/infra/test_bootstrap.py runs the program under
# Pulumi's mocks and fails when the deploy role could not create one of its resources.
# The buckets the snapshot button reads: the snapshot bucket (its policy admits snapshotReaders only).
SNAPSHOT_BUCKETS = [autoname_pattern(names.snapshot_bucket(names.SNAPSHOT_STORAGE))]


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
            allow("InvokeBackupFunctions", ["lambda:InvokeFunction"], snapshot_functions(settings)),
            allow("ListSnapshots", ["s3:ListBucket"], buckets),
            # The bucket policy still denies object reads to anyone not in the stack's snapshotReaders.
            allow("ReadSnapshots", ["s3:GetObject"], [f"{bucket}/*" for bucket in buckets]),
            allow("DecryptSnapshotsThroughS3", ["kms:Decrypt"], settings.arn("kms", "key/*"),
                   {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
            *state_statements(settings.state, write="none"),
        ],
    }
