"""The snapshot role (``snapshot.yml``, the default branch): invokes the stacks' backup functions and
reads the snapshot buckets (it is a snapshot reader) and the state; writes nothing."""

from __future__ import annotations

from bootstrap import program_resources as program
from bootstrap.account_settings import Settings
from bootstrap.state_backend import state_statements
from bootstrap.statements import allow


def snapshot_functions(settings: Settings) -> list[str]:
    """The backup functions of the stacks, as the program names them (``StackNames.function``)."""
    return program.functions(settings)


def snapshot_policy(settings: Settings) -> dict:
    buckets = program.snapshot_buckets(settings)
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow("InvokeBackupFunctions", ["lambda:InvokeFunction"], snapshot_functions(settings)),
            allow("ListSnapshots", ["s3:ListBucket"], buckets, program.this_account(settings)),
            # The bucket policy still denies object reads to anyone not in the stack's snapshotReaders.
            allow("ReadSnapshots", ["s3:GetObject"], program.objects(buckets), program.this_account(settings)),
            allow("DecryptSnapshotsThroughS3", ["kms:Decrypt"], program.keys(settings),
                  {**program.tagged_keys(settings), "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
            *state_statements(settings.state, write="none"),
        ],
    }
