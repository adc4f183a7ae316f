"""The end of a snapshot: once every chain is read, the rest of the document comes out of the spool
(the groups with their members, in listing order; the configuration sections, in the documented
order; the summary), the upload completes, and the manifest is written."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from backup_lambda import __version__
from backup_lambda.checkpoint import delete_checkpoint
from backup_lambda.contract import SnapshotResult
from backup_lambda.document import DocumentWriter, iso
from backup_lambda.errors import SnapshotError
from backup_lambda.s3_upload import encryption_args, tagging
from backup_lambda.snapshot_format import CONFIG_SECTIONS, FORMAT_VERSION, manifest_key

if TYPE_CHECKING:
    from backup_lambda.snapshot_run import SnapshotRun

logger = logging.getLogger(__name__)


def write_the_rest(run: SnapshotRun) -> str:
    """Close ``users``, write ``groups``, the sections and ``summary``; complete the upload: its SHA-256."""
    upload, spool = run.upload, run.spool
    assert upload is not None and spool is not None
    run.report({"phase": "writing", **run.counts.to_json()})
    doc = DocumentWriter(upload, first=False)
    doc.raw("\n]")
    doc.key("groups")
    doc.raw("[")
    groups = memberships = 0
    for body, pages in spool.groups_for_document():
        doc.raw(("\n" if groups == 0 else ",\n") + body[:-1] + ("," if len(body) > 2 else "") + '"Members":[')
        first = True
        for n, text in pages:
            if n:
                doc.raw(text if first else "," + text)
                first = False
            memberships += n
        doc.raw("]}")
        groups += 1
    doc.raw("\n]")
    if (groups, memberships) != (run.counts.groups, run.counts.memberships):
        raise SnapshotError(f"the spool of user pool {run.reader.pool_id} holds {groups} groups and {memberships} "
                            f"memberships, not the {run.counts.groups} and {run.counts.memberships} read",
                            pool=run.reader.pool_id)
    sections = spool.sections()
    for name in CONFIG_SECTIONS:
        doc.key(name)
        doc.raw(sections[name])
    summary = {
        **run.counts.to_json(),
        "estimated_users": run.estimated,
        "excluded_attributes": sorted(run.excluded),
        "user_listing": run.user_listing,
        "ranges": len(run.ranges),
    }
    doc.field("summary", summary)
    doc.close()
    run.report({"phase": "uploading", **run.counts.to_json()})
    return upload.complete()


def write_manifest(run: SnapshotRun, sha256: str) -> SnapshotResult:
    upload = run.upload
    assert upload is not None
    pool_id = run.reader.pool_id
    manifest = {
        "format_version": FORMAT_VERSION,
        "snapshot_key": run.key,
        "sha256": sha256,
        "bytes": upload.bytes,
        "users": run.counts.users,
        "groups": run.counts.groups,
        "memberships": run.counts.memberships,
        "taken_at": iso(run.taken),
        "completed_at": iso(datetime.now(timezone.utc)),
        "user_pool_id": pool_id,
        "pool_name": run.pool_name,
        "retention": run.retention,
        "sections": run.sections_in_order,
        "runs": run.generation + 1,
        "tool_version": __version__,
    }
    mkey = manifest_key(run.key)
    # Unconditional: CompleteMultipartUpload (If-None-Match) made this key ours, and a retry after a
    # lost answer must not meet the manifest its first attempt wrote.
    try:
        run.s3.put_object(Bucket=run.bucket, Key=mkey, Body=json.dumps(manifest, indent=2).encode(),
                          ContentType="application/json", **encryption_args(run.kms_key_id), **tagging(run.tags))
    except Exception as exc:
        raise SnapshotError(
            f"the snapshot s3://{run.bucket}/{run.key} was written but its manifest could not be: {exc}. "
            "Without a manifest the snapshot counts as incomplete.",
            pool=pool_id, operation="PutObject",
        ) from exc
    if run.generation:  # harmless if it fails: the snapshot is complete; lifecycle removes it later
        delete_checkpoint(run.s3, run.bucket, run.checkpoint_key)

    duration = run.elapsed
    result = SnapshotResult(
        key=run.key, manifest_key=mkey, bucket=run.bucket, pool_name=run.pool_name,
        user_pool_id=pool_id, **run.counts.to_json(), bytes=upload.bytes, sha256=sha256,
        retention=run.retention, sections=run.sections_in_order, runs=run.generation + 1,
        duration_s=round(duration, 3), throttles=run.throttles, calls=run.calls,
        users_per_s=round(run.counts.users / duration, 1) if duration > 0 else None,
    )
    logger.info("snapshot %s complete: %d users, %d groups, %d memberships, %d bytes, %d run(s)", run.key,
                result.users, result.groups, result.memberships, result.bytes, result.runs)
    run.report({"phase": "done", **result.to_json()})
    return result
