"""Handing a snapshot over to the next Lambda run, and taking it over there.

``hand_over``: the run stops making calls, lets the calls in flight land (their pages are recorded like
any other), then saves what the next run needs: into the spool the set of subs written and the
upload's tail; the spool to S3; then the checkpoint (``checkpoint.py``), which pins the spool by size
and SHA-256. The order matters: a checkpoint is only ever saved after the spool it describes.

``carry_on``: the next run loads the spool the checkpoint describes, checks that it agrees with the
checkpoint (counts, sections), and rebuilds where every chain stands: the work left for the scheduler.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from backup_lambda.checkpoint import (
    DONE,
    Checkpoint,
    GroupsState,
    ListingState,
    load_spool,
    save_checkpoint,
    save_spool,
    spool_key,
)
from backup_lambda.contract import ContinuedResult, Counts
from backup_lambda.document import iso
from backup_lambda.s3_upload import StreamingUpload
from backup_lambda.scheduler import Scheduler, Work
from backup_lambda.spool import SPOOL_NAME, Spool, SpoolError
from backup_lambda.subs import SeenSubs

if TYPE_CHECKING:
    from backup_lambda.snapshot_run import SnapshotRun

logger = logging.getLogger(__name__)

LAND_WAIT_S = 20.0  # at most this long for the calls in flight to land; later pages are read again


def hand_over(run: SnapshotRun, scheduler: Scheduler | None) -> ContinuedResult:
    """Stop, record what lands, save the spool and the checkpoint; the next run carries on."""
    if scheduler is not None:
        scheduler.stop()
        until = time.monotonic() + LAND_WAIT_S
        while scheduler.running and time.monotonic() < until:
            event = scheduler.next_event(0.2)
            if event is not None:
                run.apply(event, scheduler)
        if scheduler.running:
            logger.warning("%d reader(s) still waiting for an answer at the hand-over: read again next run",
                           scheduler.running)
        scheduler.close()
    spool, upload = run.spool, run.upload
    assert spool is not None and upload is not None
    run.generation += 1
    spool.put_blob("seen", run.seen.save())
    spool.put_blob("tail", [upload.tail()])
    spool.flush()
    ref = save_spool(run.s3, run.bucket, spool_key(run.checkpoint_key), spool.path, kms_key_id=run.kms_key_id,
                     pool=run.reader.pool_id)
    by_index = {idx: name for idx, name in spool.unfinished_groups()}
    checkpoint = Checkpoint(
        generation=run.generation,
        saved_at=iso(datetime.now(timezone.utc)),
        snapshot_key=run.key,
        user_pool_id=run.reader.pool_id,
        pool_name=run.pool_name,
        prefix=run.prefix,
        kms_key_id=run.kms_key_id,
        excluded=sorted(run.excluded),
        request_budget=run.reader.limiters["UserList"].max_rate,
        taken_at=iso(run.taken),
        retention=run.retention,
        estimated=run.estimated,
        sections=run.sections_in_order,
        counts=run.counts,
        elapsed_s=run.elapsed,
        throttles=run.throttles,
        calls=run.calls,
        listing=ListingState(run.user_listing, dict(run.ranges)),
        groups=GroupsState(run.groups_token, run.counts.groups, run.groups_done,
                           {by_index[idx]: token for idx, token in run.chains.items()}),
        restarts=dict(run.restarts),
        seen_subs=len(run.seen),
        spool=ref,
        upload=upload.save_state(),
    )
    save_checkpoint(run.s3, run.bucket, run.checkpoint_key, checkpoint)
    run.report({"phase": "continued", **run.counts.to_json(), "key": run.key})
    return ContinuedResult(key=run.key, checkpoint_key=run.checkpoint_key, generation=run.generation,
                           bucket=run.bucket, pool_name=run.pool_name, user_pool_id=run.reader.pool_id,
                           **run.counts.to_json())


def carry_on(run: SnapshotRun, checkpoint: Checkpoint) -> Work:
    """Take over the snapshot a previous run handed over: its spool, its upload, its chains."""
    run.pool_name = checkpoint.pool_name
    run.taken = datetime.fromisoformat(checkpoint.taken_at.replace("Z", "+00:00"))
    run.retention = checkpoint.retention
    run.estimated = checkpoint.estimated
    run.counts = Counts(**checkpoint.counts.to_json())
    run.elapsed_before = checkpoint.elapsed_s
    run.throttles_before = checkpoint.throttles
    run.calls_before = checkpoint.calls
    run.restarts = dict(checkpoint.restarts)
    directory = Spool.new_directory(run.spool_dir)
    try:
        load_spool(run.s3, run.bucket, spool_key(run.checkpoint_key), f"{directory}/{SPOOL_NAME}", checkpoint.spool,
                   pool=checkpoint.user_pool_id)
    except BaseException:
        Spool.remove_directory(directory)
        raise
    run.spool = spool = Spool.adopt(directory, checkpoint.snapshot_key)
    _agrees(spool, checkpoint)
    try:
        run.seen = SeenSubs.restore(spool.blob("seen"))
        run.upload = StreamingUpload.resume(run.s3, checkpoint.upload, b"".join(spool.blob("tail")))
    except ValueError as exc:
        raise SpoolError(str(exc)) from None
    if len(run.seen) != checkpoint.seen_subs:
        raise SpoolError(f"its set of subs holds {len(run.seen)} users, the checkpoint says {checkpoint.seen_subs}")
    spool.drop_blobs()

    run.user_listing = checkpoint.listing.user_listing
    run.ranges = dict(checkpoint.listing.ranges)
    run.groups_token = checkpoint.groups.listing
    run.groups_done = checkpoint.groups.done
    run.sections = dict(checkpoint.sections)
    unfinished = spool.unfinished_groups()
    index = {name: idx for idx, name in unfinished}
    chains = []
    for name, token in checkpoint.groups.chains.items():
        if name not in index:
            raise SpoolError(f"the checkpoint's member chain of group {name[:128]!r} is not an unfinished group in it")
        idx = index[name]
        run.chains[idx], run.next_page[idx] = token, spool.pages_of(idx)
        chains.append((idx, name, token))
    chains += [(idx, name, None) for idx, name in unfinished if idx not in run.chains]
    done_sections = {name: json.loads(text) for name, text in spool.sections().items()}
    # Handed over before the first user call landed: that call still has to tell whether the filter works.
    probe = run.user_listing == "parallel-sub-ranges" and all(t is None for t in run.ranges.values())
    return Work([(p, t) for p, t in run.ranges.items() if t != DONE], probe=probe, groups_token=run.groups_token,
                chains=chains, config=run.config_job(spool.pool(), done_sections))


def _agrees(spool: Spool, checkpoint: Checkpoint) -> None:
    """The spool is the one the checkpoint describes (its SHA-256 matched): its contents must add up."""
    listed, done, members = spool.totals()
    expected = (checkpoint.groups.listed, checkpoint.groups.done, checkpoint.counts.memberships)
    if (listed, done, members) != expected:
        raise SpoolError(f"it holds {listed} groups ({done} read) and {members} memberships, the checkpoint "
                         f"says {expected[0]} ({expected[1]}) and {expected[2]}")
    sections = spool.sections()
    if set(sections) != set(checkpoint.sections):
        raise SpoolError(f"its configuration sections are {sorted(sections)}, the checkpoint's "
                         f"{sorted(checkpoint.sections)}")
    for name, text in sections.items():
        try:
            status = json.loads(text).get("status")
        except (ValueError, AttributeError):
            status = None
        if status != checkpoint.sections[name]:
            raise SpoolError(f"its section {name} is not the checkpoint's ({checkpoint.sections[name]})")


__all__ = ["hand_over", "carry_on"]
