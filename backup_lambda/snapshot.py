"""Take one snapshot of one user pool into S3: the code path of the Lambda and of the CLI.

The order of work makes failures cheap and visible, and keeps the budget busy from the start:
1. DescribeUserPool first: a wrong pool id or a denied call fails before anything is written.
2. The document (format 2, docs/snapshot-format.md) is streamed into a multipart upload: its header,
   then the users as they are read. Everything else is read at the same time (``scheduler.py``): the
   configuration sections, ListGroups, and every group's members, their UserList calls sharing the one
   budget with the user ranges. What is read but not written waits in the spool on local disk
   (``spool.py``), never in memory.
3. When everything is read: the groups with their members and the configuration sections come out of
   the spool, then the summary; the upload completes. On any failure the upload is aborted: no
   snapshot object.
4. Only when the object is complete is the manifest written. No manifest, no snapshot.

A run that would not finish in time (``deadline``) hands over, whatever it is reading: it stops making
calls, lets those in flight land, saves a checkpoint (``handover.py``) and returns a
:class:`ContinuedResult`; ``resume_snapshot`` carries on. The object is the same, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from backup_lambda.checkpoint import Checkpoint
from backup_lambda.contract import ContinuedResult, SnapshotResult
from backup_lambda.handover import carry_on
from backup_lambda.pool_reader import PoolReader
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.s3_upload import DEFAULT_PART_SIZE
from backup_lambda.snapshot_run import Deadline, ProgressReport, SnapshotRun
from backup_lambda.validation import (
    validate_attributes,
    validate_bucket,
    validate_budget,
    validate_pool_name,
    validate_prefix,
    validate_user_pool_id,
)

# Stop and hand over to the next run when less than this is left: enough to let the calls in flight
# land, upload the spool and the checkpoint, and invoke the next run.
DEFAULT_HANDOVER_S = 60.0

Result = SnapshotResult | ContinuedResult


def take_snapshot(
    cognito,
    s3,
    *,
    user_pool_id: str,
    bucket: str,
    pool_name: str | None = None,
    prefix: str = "",
    kms_key_id: str | None = None,
    exclude_attributes: Iterable[str] | str | None = (),
    request_budget: float = DEFAULT_REQUEST_BUDGET,
    progress: ProgressReport | None = None,
    now: datetime | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    workers: int = 16,
    deadline: Deadline | None = None,
    handover_s: float = DEFAULT_HANDOVER_S,
    spool_dir: str | None = None,
) -> Result:
    """Snapshot one pool; returns the :class:`SnapshotResult`. Raises on any failure.

    With ``deadline``, a run that would not finish in time stops, saves a checkpoint and returns a
    :class:`ContinuedResult`: ``resume_snapshot`` carries on from it (the Lambda invokes itself to do
    so). The object is the same either way. ``workers``: user ranges read at once (and as many group
    member chains). ``spool_dir``: where the spool goes (default: the system's temporary directory).
    """
    validate_user_pool_id(user_pool_id)
    if pool_name is not None:
        validate_pool_name(pool_name)
    prefix = validate_prefix(prefix)
    request_budget = validate_budget(request_budget)
    validate_bucket(bucket, "bucket")
    excluded = validate_attributes(exclude_attributes, "exclude_attributes")

    taken = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    reader = PoolReader(cognito, user_pool_id, request_budget=request_budget, workers=workers,
                        usernames_only_in_groups=True)
    run = SnapshotRun(reader, s3, bucket=bucket, prefix=prefix, kms_key_id=kms_key_id, excluded=excluded,
                      report=progress, deadline=deadline, handover_s=handover_s, spool_dir=spool_dir)
    try:
        work = run.begin(pool_name, taken, part_size)
        return run.read_and_finish(work)
    finally:
        run.close()


def resume_snapshot(cognito, s3, checkpoint: Checkpoint, *, progress: ProgressReport | None = None,
                    deadline: Deadline | None = None, handover_s: float = DEFAULT_HANDOVER_S,
                    workers: int = 16, spool_dir: str | None = None) -> Result:
    """Carry on a snapshot from its checkpoint (see ``take_snapshot``)."""
    reader = PoolReader(cognito, checkpoint.user_pool_id, request_budget=checkpoint.request_budget,
                        workers=workers, usernames_only_in_groups=True)
    run = SnapshotRun(reader, s3, bucket=checkpoint.upload.bucket, prefix=checkpoint.prefix,
                      kms_key_id=checkpoint.kms_key_id, excluded=frozenset(checkpoint.excluded),
                      report=progress, deadline=deadline, handover_s=handover_s, spool_dir=spool_dir)
    try:
        run.saved_upload = checkpoint.upload
        run.generation = checkpoint.generation
        run.key = checkpoint.snapshot_key
        with run.abort_on_failure():
            work = carry_on(run, checkpoint)
        return run.read_and_finish(work)
    finally:
        run.close()


__all__ = ["take_snapshot", "resume_snapshot", "SnapshotRun"]
