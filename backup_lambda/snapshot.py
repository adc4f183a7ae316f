"""Take one snapshot of one user pool into S3: the code path of the Lambda and of the CLI.

The order of work makes failures cheap and visible:
1. DescribeUserPool and the whole configuration are read first (small): a wrong pool id or a
   denied call fails before anything is written.
2. The document is streamed into a multipart upload: header, configuration, groups with members
   (fetched a few groups ahead in parallel), users (parallel sub ranges), summary. On any failure the
   upload is aborted: no snapshot object.
3. Only when the object is complete is the manifest written. No manifest, no snapshot.

A run that would not finish in time (``deadline``) hands over: it saves a checkpoint
(``backup_lambda.checkpoint``) and returns a :class:`ContinuedResult`; ``resume_snapshot`` carries on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import botocore
from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda import __version__
from backup_lambda.checkpoint import Checkpoint, ListingState, checkpoint_key, delete_checkpoint, save_checkpoint
from backup_lambda.config_reader import read_configuration
from backup_lambda.contract import ContinuedResult, Counts, SnapshotResult
from backup_lambda.document import DocumentWriter, dumps, iso
from backup_lambda.errors import SnapshotError
from backup_lambda.pool_reader import DONE, PoolReader, groups_with_members
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.redact import strip_attributes
from backup_lambda.s3_upload import DEFAULT_PART_SIZE, StreamingUpload, encryption_args, tagging
from backup_lambda.snapshot_format import CONFIG_SECTIONS, FORMAT_VERSION, manifest_key, retention_class, snapshot_key
from backup_lambda.validation import (
    validate_attributes,
    validate_bucket,
    validate_budget,
    validate_pool_name,
    validate_prefix,
    validate_user_pool_id,
)

logger = logging.getLogger(__name__)

CONFIG_WORKERS = 6  # configuration sections read at once
PROGRESS_EVERY_S = 2.0

ProgressReport = Callable[[dict[str, Any]], None]
Deadline = Callable[[], float]  # seconds left in this run (Lambda: context.get_remaining_time_in_millis()/1000)
# Stop and hand over to the next run when less than this is left: enough to finish the page being
# written, upload the buffered part and the checkpoint, and invoke the next run.
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
) -> Result:
    """Snapshot one pool; returns the :class:`SnapshotResult`. Raises on any failure.

    With ``deadline``, a listing that would not finish in time stops after a page, saves a
    checkpoint and returns a :class:`ContinuedResult`: ``resume_snapshot`` carries on from it (the
    Lambda invokes itself to do so). The object is the same either way.
    """
    validate_user_pool_id(user_pool_id)
    if pool_name is not None:
        validate_pool_name(pool_name)
    prefix = validate_prefix(prefix)
    request_budget = validate_budget(request_budget)
    validate_bucket(bucket, "bucket")
    excluded = validate_attributes(exclude_attributes, "exclude_attributes")

    taken = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    reader = PoolReader(cognito, user_pool_id, request_budget=request_budget, workers=workers)
    run = SnapshotRun(reader, s3, bucket=bucket, prefix=prefix, kms_key_id=kms_key_id, excluded=excluded,
                      report=progress, deadline=deadline, handover_s=handover_s)
    try:
        run.begin(pool_name, taken, part_size)
        return run.users_and_finish(None)
    finally:
        reader.close()


def resume_snapshot(cognito, s3, checkpoint: Checkpoint, *, progress: ProgressReport | None = None,
                    deadline: Deadline | None = None, handover_s: float = DEFAULT_HANDOVER_S,
                    workers: int = 16) -> Result:
    """Carry on a snapshot from its checkpoint (see ``take_snapshot``)."""
    reader = PoolReader(cognito, checkpoint.user_pool_id, request_budget=checkpoint.request_budget,
                        workers=workers)
    run = SnapshotRun(reader, s3, bucket=checkpoint.upload.bucket, prefix=checkpoint.prefix,
                      kms_key_id=checkpoint.kms_key_id, excluded=frozenset(checkpoint.excluded),
                      report=progress, deadline=deadline, handover_s=handover_s)
    try:
        run.carry_on_from(checkpoint)
        return run.users_and_finish(asdict(checkpoint.listing))
    finally:
        reader.close()


class SnapshotRun:
    """One snapshot being written: begun here (``begin``) or carried over from a checkpoint."""

    def __init__(self, reader: PoolReader, s3, *, bucket: str, prefix: str, kms_key_id: str | None,
                 excluded: frozenset[str], report: ProgressReport | None, deadline: Deadline | None,
                 handover_s: float):
        self.reader, self.s3, self.bucket, self.prefix = reader, s3, bucket, prefix
        self.kms_key_id, self.excluded = kms_key_id, excluded
        self.report = report or (lambda _event: None)
        self.deadline, self.handover_s = deadline, handover_s
        self.started = time.monotonic()
        self.counts = Counts()
        self.elapsed_before = 0.0
        self.throttles_before = 0
        self.calls_before = 0
        self.generation = 0  # checkpoints saved so far: runs before this one
        # Set by begin() or carry_on_from():
        self.pool_name = ""
        self.estimated: int | None = None
        self.sections: dict[str, str] = {}
        self.taken = datetime.now(timezone.utc)
        self.key = ""
        self.retention = ""
        self.upload: StreamingUpload | None = None

    # -- phase 1: configuration and groups -------------------------------------------------------

    def begin(self, pool_name: str | None, taken: datetime, part_size: int) -> None:
        reader = self.reader
        pool = reader.describe_pool()
        self.pool_name = validate_pool_name(pool_name or pool.get("Name"), "pool_name (the pool's own name)")
        self.estimated = pool.get("EstimatedNumberOfUsers")
        arn_parts = (pool.get("Arn") or "").split(":")
        source = {
            "account": arn_parts[4] if len(arn_parts) > 5 else None,
            "region": arn_parts[3] if len(arn_parts) > 5 else reader.cognito.meta.region_name,
            "user_pool_id": reader.pool_id,
            "pool_name": self.pool_name,
            "tool": "cognito-backup",
            "tool_version": __version__,
            "botocore_version": botocore.__version__,
        }
        self.report({"phase": "config", "pool_name": self.pool_name})
        sections = read_configuration(reader, pool, parallel=CONFIG_WORKERS)
        self.sections = {name: sections[name]["status"] for name in CONFIG_SECTIONS}
        logger.debug("configuration read: %s", self.sections)

        self.taken = taken
        self.key = snapshot_key(self.prefix, self.pool_name, taken)
        self.retention = retention_class(taken)
        self.upload = StreamingUpload(self.s3, self.bucket, self.key, kms_key_id=self.kms_key_id,
                                      tags=self.tags, part_size=part_size)
        try:
            self.upload.start()
        except Exception as exc:
            raise SnapshotError(f"cannot start the upload of s3://{self.bucket}/{self.key} for user pool "
                                f"{reader.pool_id}: {exc}", pool=reader.pool_id,
                                operation="CreateMultipartUpload") from exc
        with self._abort_on_failure():
            doc = DocumentWriter(self.upload)
            doc.field("format_version", FORMAT_VERSION)
            doc.field("taken_at", iso(taken))
            doc.field("source", source)
            doc.field("pool", pool)
            for name in CONFIG_SECTIONS:
                doc.field(name, sections[name])
            self.report({"phase": "groups", **self.counts.to_json()})
            doc.key("groups")
            doc.raw("[")
            for group, n_members, members in groups_with_members(reader):
                with members:
                    body = dumps(group)
                    doc.raw(("\n" if self.counts.groups == 0 else ",\n") + body[:-1])
                    doc.raw((',' if len(body) > 2 else '') + '"Members":[')
                    while chunk := members.read(1 << 16):
                        self.upload.write(chunk)
                    doc.raw("]}")
                self.counts.groups += 1
                self.counts.memberships += n_members
            doc.raw("\n]")
            doc.key("users")
            doc.raw("[")

    @property
    def tags(self) -> dict[str, str]:
        return {"retention": self.retention, "pool": self.pool_name}

    def _s3_error(self, exc: Exception) -> SnapshotError:
        operation = getattr(exc, "operation_name", None) or "S3 request"
        return SnapshotError(f"{operation} failed for user pool {self.reader.pool_id} while writing "
                             f"s3://{self.bucket}/{self.key}: {exc}", pool=self.reader.pool_id, operation=operation)

    @contextmanager
    def _abort_on_failure(self):
        try:
            try:
                yield
            except (ClientError, BotoCoreError) as exc:  # Cognito errors are SnapshotErrors already
                raise self._s3_error(exc) from exc
        except BaseException:
            try:
                if self.upload is not None:
                    self.upload.abort()
            except Exception as abort_exc:  # the lifecycle rule cleans up what could not be aborted
                logger.error("could not abort the multipart upload of %s: %s", self.key, abort_exc)
            if self.generation:  # a continued snapshot: its checkpoint points at the aborted upload
                delete_checkpoint(self.s3, self.bucket, self.checkpoint_key)
            raise

    # -- phase 2: users, possibly over several runs ----------------------------------------------

    def users_and_finish(self, resume_listing: dict[str, Any] | None) -> Result:
        reader, upload = self.reader, self.upload
        assert upload is not None, "begin() or carry_on_from() comes first"
        with self._abort_on_failure():
            self.report({"phase": "users", **self.counts.to_json()})
            last_report = time.monotonic()
            for page in reader.iter_user_pages(self.estimated, resume=resume_listing):
                for user in page:
                    upload.write((("\n" if self.counts.users == 0 else ",\n")
                                  + dumps(strip_attributes(user, self.excluded))).encode("utf-8"))
                    self.counts.users += 1
                    if user.get("UserStatus") == "EXTERNAL_PROVIDER":
                        self.counts.federated_users += 1
                    if user.get("Enabled") is False:
                        self.counts.disabled_users += 1
                if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                    last_report = time.monotonic()
                    self.report({"phase": "users", **self.counts.to_json(), "elapsed_s": round(self.elapsed, 1),
                                 "throttles": self.throttles})
                if self.deadline is not None and self.deadline() < self.handover_s and not self._listing_done():
                    return self._hand_over()
            summary = {
                **self.counts.to_json(),
                "estimated_users": self.estimated,
                "excluded_attributes": sorted(self.excluded),
                "user_listing": reader.user_listing,
                "ranges": reader.ranges,
            }
            doc = DocumentWriter(upload, first=False)
            doc.raw("\n]")
            doc.field("summary", summary)
            doc.close()
            self.report({"phase": "uploading", **self.counts.to_json()})
            sha256 = upload.complete()
        return self._write_manifest(sha256)

    def _listing_done(self) -> bool:
        return all(state == DONE for state in self.reader.listing_state.values())

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def throttles(self) -> int:
        return self.throttles_before + self.reader.throttles

    @property
    def calls(self) -> int:
        return self.calls_before + self.reader.stats["calls"]

    # -- checkpoints -----------------------------------------------------------------------------

    @property
    def checkpoint_key(self) -> str:
        return checkpoint_key(self.key, self.prefix)

    def _hand_over(self) -> ContinuedResult:
        assert self.upload is not None
        self.generation += 1
        checkpoint = Checkpoint(
            generation=self.generation,
            saved_at=iso(datetime.now(timezone.utc)),
            snapshot_key=self.key,
            user_pool_id=self.reader.pool_id,
            pool_name=self.pool_name,
            prefix=self.prefix,
            kms_key_id=self.kms_key_id,
            excluded=sorted(self.excluded),
            request_budget=self.reader.limiters["UserList"].max_rate,
            taken_at=iso(self.taken),
            retention=self.retention,
            estimated=self.estimated,
            sections=self.sections,
            counts=self.counts,
            elapsed_s=self.elapsed,
            throttles=self.throttles,
            calls=self.calls,
            listing=ListingState(self.reader.user_listing, dict(self.reader.listing_state)),
            upload=self.upload.save_state(),
        )
        save_checkpoint(self.s3, self.bucket, self.checkpoint_key, checkpoint)
        self.report({"phase": "continued", **self.counts.to_json(), "key": self.key})
        return ContinuedResult(key=self.key, checkpoint_key=self.checkpoint_key, generation=self.generation,
                               bucket=self.bucket, pool_name=self.pool_name, user_pool_id=self.reader.pool_id,
                               **self.counts.to_json())

    def carry_on_from(self, checkpoint: Checkpoint) -> None:
        """Take over the snapshot a previous run handed over in ``checkpoint``."""
        self.generation = checkpoint.generation
        self.pool_name = checkpoint.pool_name
        self.key = checkpoint.snapshot_key
        self.taken = datetime.fromisoformat(checkpoint.taken_at.replace("Z", "+00:00"))
        self.retention = checkpoint.retention
        self.estimated = checkpoint.estimated
        self.sections = checkpoint.sections
        self.counts = Counts(**checkpoint.counts.to_json())
        self.elapsed_before = checkpoint.elapsed_s
        self.throttles_before = checkpoint.throttles
        self.calls_before = checkpoint.calls
        self.upload = StreamingUpload.resume(self.s3, checkpoint.upload)

    # -- phase 3: the manifest -------------------------------------------------------------------

    def _write_manifest(self, sha256: str) -> SnapshotResult:
        reader, upload = self.reader, self.upload
        assert upload is not None
        manifest = {
            "format_version": FORMAT_VERSION,
            "snapshot_key": self.key,
            "sha256": sha256,
            "bytes": upload.bytes,
            "users": self.counts.users,
            "groups": self.counts.groups,
            "memberships": self.counts.memberships,
            "taken_at": iso(self.taken),
            "completed_at": iso(datetime.now(timezone.utc)),
            "user_pool_id": reader.pool_id,
            "pool_name": self.pool_name,
            "retention": self.retention,
            "sections": self.sections,
            "runs": self.generation + 1,
            "tool_version": __version__,
        }
        mkey = manifest_key(self.key)
        # Unconditional: CompleteMultipartUpload (If-None-Match) made this key ours, and a retry after a
        # lost answer must not meet the manifest its first attempt wrote.
        try:
            self.s3.put_object(Bucket=self.bucket, Key=mkey, Body=json.dumps(manifest, indent=2).encode(),
                               ContentType="application/json",
                               **encryption_args(self.kms_key_id), **tagging(self.tags))
        except Exception as exc:
            raise SnapshotError(
                f"the snapshot s3://{self.bucket}/{self.key} was written but its manifest could not be: {exc}. "
                "Without a manifest the snapshot counts as incomplete.",
                pool=reader.pool_id, operation="PutObject",
            ) from exc
        if self.generation:  # harmless if it fails: the snapshot is complete; lifecycle removes it later
            delete_checkpoint(self.s3, self.bucket, self.checkpoint_key)

        duration = self.elapsed
        result = SnapshotResult(
            key=self.key, manifest_key=mkey, bucket=self.bucket, pool_name=self.pool_name,
            user_pool_id=reader.pool_id, **self.counts.to_json(), bytes=upload.bytes, sha256=sha256,
            retention=self.retention, sections=self.sections, runs=self.generation + 1,
            duration_s=round(duration, 3), throttles=self.throttles, calls=self.calls,
            users_per_s=round(self.counts.users / duration, 1) if duration > 0 else None,
        )
        logger.info("snapshot %s complete: %d users, %d groups, %d memberships, %d bytes, %d run(s)", self.key,
                    result.users, result.groups, result.memberships, result.bytes, result.runs)
        self.report({"phase": "done", **result.to_json()})
        return result


__all__ = ["take_snapshot", "resume_snapshot", "groups_with_members", "SnapshotRun"]
