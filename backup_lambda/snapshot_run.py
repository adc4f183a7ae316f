"""One snapshot being written: where every chain of calls stands, and the main thread that applies
what the scheduler reads (users into the upload, the rest into the spool) until everything is read.

Begun by ``snapshot.take_snapshot`` (``SnapshotRun.begin``) or carried over from a checkpoint
(``handover.carry_on``); handed over by ``handover.hand_over``; ended by ``snapshot_end``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import botocore
from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda import __version__
from backup_lambda.checkpoint import DONE, MAX_RESTARTS, SEQUENTIAL, checkpoint_key, delete_checkpoint
from backup_lambda.config_reader import read_configuration
from backup_lambda.contract import ContinuedResult, Counts, SnapshotResult
from backup_lambda.document import DocumentWriter, dumps, iso
from backup_lambda.errors import SnapshotError
from backup_lambda.handover import hand_over
from backup_lambda.pool_reader import PoolReader, keep_users
from backup_lambda.redact import strip_attributes
from backup_lambda.s3_upload import StreamingUpload, UploadState
from backup_lambda.scheduler import (
    Exited,
    Failed,
    GroupsPage,
    MembersPage,
    Restarted,
    Scheduler,
    SectionRead,
    Sequential,
    UsersPage,
    Work,
    fresh_ranges,
)
from backup_lambda.snapshot_end import write_manifest, write_the_rest
from backup_lambda.snapshot_format import CONFIG_SECTIONS, FORMAT_VERSION, retention_class, snapshot_key
from backup_lambda.spool import Spool, SpoolError
from backup_lambda.subs import SeenSubs
from backup_lambda.validation import validate_pool_name

logger = logging.getLogger(__name__)

CONFIG_WORKERS = 6  # configuration sections read at once
PROGRESS_EVERY_S = 2.0

ProgressReport = Callable[[dict[str, Any]], None]
Deadline = Callable[[], float]  # seconds left in this run (Lambda: context.get_remaining_time_in_millis()/1000)
Result = SnapshotResult | ContinuedResult


class SnapshotRun:
    """One snapshot being written: begun here (``begin``) or carried over from a checkpoint
    (``handover.carry_on``). Its main thread applies what the scheduler reads, so it always knows where
    every chain of calls stands."""

    def __init__(self, reader: PoolReader, s3, *, bucket: str, prefix: str, kms_key_id: str | None,
                 excluded: frozenset[str], report: ProgressReport | None, deadline: Deadline | None,
                 handover_s: float, spool_dir: str | None = None):
        self.reader, self.s3, self.bucket, self.prefix = reader, s3, bucket, prefix
        self.kms_key_id, self.excluded = kms_key_id, excluded
        self.report = report or (lambda _event: None)
        self.deadline, self.handover_s = deadline, handover_s
        self.spool_dir = spool_dir
        self.started = time.monotonic()
        self.counts = Counts()  # users written; groups listed and members read so far
        self.elapsed_before = 0.0
        self.throttles_before = 0
        self.calls_before = 0
        self.generation = 0  # checkpoints saved so far: runs before this one
        # Where every chain stands (set by begin() or handover.carry_on()):
        self.user_listing = "parallel-sub-ranges"
        self.ranges: dict[str, str | None] = {}  # prefix -> next token, None (not started) or DONE
        self.groups_token: str | None = None  # ListGroups' next token, None (not started) or DONE
        self.chains: dict[int, str] = {}  # group index -> next token, for chains in progress
        self.next_page: dict[int, int] = {}  # group index -> number of its next member page
        self.groups_done = 0
        self.restarts: dict[str, int] = {}
        self.sections: dict[str, str] = {}  # section -> status, for those read (their bodies: in the spool)
        self.seen = SeenSubs()
        self.spool: Spool | None = None
        self.pool_name = ""
        self.estimated: int | None = None
        self.taken = datetime.now(timezone.utc)
        self.key = ""
        self.retention = ""
        self.upload: StreamingUpload | None = None
        self.saved_upload: UploadState | None = None  # a continued run's upload, before it is resumed

    # -- the start -------------------------------------------------------------------------------

    def begin(self, pool_name: str | None, taken: datetime, part_size: int) -> Work:
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
        with self.abort_on_failure():
            self.spool = Spool.create(self.key, pool, directory=self.spool_dir)
            doc = DocumentWriter(self.upload)
            doc.field("format_version", FORMAT_VERSION)
            doc.field("taken_at", iso(taken))
            doc.field("source", source)
            doc.field("pool", pool)
            doc.key("users")
            doc.raw("[")
        ranges = fresh_ranges(reader, self.estimated)
        self.ranges = dict(ranges)
        return Work(ranges, probe=True, groups_token=None, chains=[], config=self.config_job(pool, {}))

    def config_job(self, pool: dict[str, Any], done: dict[str, dict[str, Any]]):
        """What the scheduler's configuration thread runs: the sections not in ``done``."""
        if set(done) >= set(CONFIG_SECTIONS):
            return None
        return lambda post: read_configuration(self.reader, pool, parallel=CONFIG_WORKERS, done=done,
                                               on_section=post)

    @property
    def tags(self) -> dict[str, str]:
        return {"retention": self.retention, "pool": self.pool_name}

    @property
    def sections_in_order(self) -> dict[str, str]:
        return {name: self.sections[name] for name in CONFIG_SECTIONS if name in self.sections}

    @property
    def checkpoint_key(self) -> str:
        return checkpoint_key(self.key, self.prefix)

    # -- reading, possibly over several runs -----------------------------------------------------

    def read_and_finish(self, work: Work) -> Result:
        with self.abort_on_failure():
            self.report({"phase": "users", **self.counts.to_json()})
            scheduler = Scheduler(self.reader, work, workers=self.reader.workers).start()
            try:
                applied, last_report = 0, time.monotonic()
                while scheduler.running:
                    event = scheduler.next_event(1.0)
                    if event is not None:
                        applied += self.apply(event, scheduler)
                    if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                        last_report = time.monotonic()
                        self.report({"phase": "users", **self.counts.to_json(), "elapsed_s": round(self.elapsed, 1),
                                     "throttles": self.throttles})
                    if applied and self.time_is_short():
                        return hand_over(self, scheduler)
            finally:
                scheduler.close()
            self.check_complete()
            if self.time_is_short():  # everything is read, but there may not be time to write it
                return hand_over(self, None)
            sha256 = self.write_the_rest()
        return self.write_manifest(sha256)

    def time_is_short(self) -> bool:
        return self.deadline is not None and self.deadline() < self.handover_s

    def apply(self, event: Any, scheduler: Scheduler) -> int:
        """Record one event of the scheduler (write users, spool the rest); 1 if it was progress."""
        spool = self.spool
        assert spool is not None and self.upload is not None
        if isinstance(event, UsersPage):
            prefix = None if self.user_listing == "sequential" else event.prefix
            for user in keep_users(event.users, prefix, self.seen, self.reader.stats):
                self.upload.write((("\n" if self.counts.users == 0 else ",\n")
                                   + dumps(strip_attributes(user, self.excluded))).encode("utf-8"))
                self.counts.users += 1
                self.counts.federated_users += user.get("UserStatus") == "EXTERNAL_PROVIDER"
                self.counts.disabled_users += user.get("Enabled") is False
            self.ranges[event.prefix] = event.token or DONE
        elif isinstance(event, MembersPage):
            page = self.next_page.get(event.group, 0)
            spool.add_member_page(event.group, page, event.names)
            self.counts.memberships += len(event.names)
            if event.token:
                self.chains[event.group], self.next_page[event.group] = event.token, page + 1
            else:
                self.chains.pop(event.group, None)
                self.next_page.pop(event.group, None)
                spool.finish_group(event.group)
                self.groups_done += 1
        elif isinstance(event, GroupsPage):
            new = spool.add_groups((g["GroupName"], dumps({k: v for k, v in g.items() if k != "UserPoolId"}))
                                   for g in event.groups)
            self.counts.groups += len(new)
            scheduler.add_groups(new)
            self.groups_token = event.token or DONE
            if not event.token:
                scheduler.groups_listed()
        elif isinstance(event, SectionRead):
            spool.put_section(event.name, dumps(event.section))
            self.sections[event.name] = event.section["status"]
            if len(self.sections) == len(CONFIG_SECTIONS):
                logger.debug("configuration read: %s", self.sections_in_order)
        elif isinstance(event, Restarted):
            self.restarted(event)
        elif isinstance(event, Sequential):
            self.user_listing, self.ranges = "sequential", {SEQUENTIAL: None}
        elif isinstance(event, Failed):
            raise event.error
        elif isinstance(event, Exited):
            scheduler.exited()
            return 0
        return 1

    def restarted(self, event: Restarted) -> None:
        """A chain's token was refused: what it read is discarded (users: skipped when read again)."""
        if event.chain == "range":
            chain, operation = f"range {event.key}", "ListUsers"
            self.ranges[event.key] = None
        elif event.chain == "members":
            assert self.spool is not None
            chain, operation = f"group {self.spool.group_name(event.key)}", "ListUsersInGroup"
            self.counts.memberships -= self.spool.discard_members(event.key)
            self.chains.pop(event.key, None)
            self.next_page[event.key] = 0
        else:
            chain, operation = "ListGroups", "ListGroups"
            self.groups_token = None
        self.restarts[chain] = self.restarts.get(chain, 0) + 1
        logger.warning("the pagination token of %s was refused (expired?): it starts again", chain)
        if self.restarts[chain] > MAX_RESTARTS:
            raise SnapshotError(
                f"{operation} for user pool {self.reader.pool_id} refused the pagination token of {chain} "
                f"{self.restarts[chain]} times (tokens live about an hour: were the runs of this snapshot "
                "delayed?); the snapshot is abandoned", pool=self.reader.pool_id, operation=operation)

    def check_complete(self) -> None:
        assert self.spool is not None
        unread = [name for name, token in self.ranges.items() if token != DONE]
        listed, done, members = self.spool.totals()
        if (unread or self.groups_token != DONE or self.chains or done != listed or members != self.counts.memberships
                or set(self.sections) != set(CONFIG_SECTIONS)):
            raise SnapshotError(f"the reading of user pool {self.reader.pool_id} ended incomplete (ranges left: "
                                f"{unread}, groups: {done} of {listed} read, sections: {sorted(self.sections)})",
                                pool=self.reader.pool_id)

    # -- the rest of the document, and the manifest ----------------------------------------------

    def write_the_rest(self) -> str:
        """Users are written: the groups with their members, the configuration, the summary. Returns the
        object's SHA-256 once the upload is complete."""
        return write_the_rest(self)

    def write_manifest(self, sha256: str) -> SnapshotResult:
        return write_manifest(self, sha256)

    # -- bookkeeping -----------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def throttles(self) -> int:
        return self.throttles_before + self.reader.throttles

    @property
    def calls(self) -> int:
        return self.calls_before + self.reader.stats["calls"]

    def _s3_error(self, exc: Exception) -> SnapshotError:
        operation = getattr(exc, "operation_name", None) or "S3 request"
        return SnapshotError(f"{operation} failed for user pool {self.reader.pool_id} while writing "
                             f"s3://{self.bucket}/{self.key}: {exc}", pool=self.reader.pool_id, operation=operation)

    def _spool_error(self, exc: Exception) -> SnapshotError:
        where = self.spool.path if self.spool is not None else "the spool"
        hint = (" (the disk is full: give the function more ephemeral storage, docs/deploying.md \"Disk: /tmp\")"
                if "full" in str(exc) else "")
        return SnapshotError(f"the spool {where} of user pool {self.reader.pool_id} failed: {exc}{hint}",
                             pool=self.reader.pool_id)

    @contextmanager
    def abort_on_failure(self):
        try:
            try:
                yield
            except (ClientError, BotoCoreError) as exc:  # Cognito errors are SnapshotErrors already
                raise self._s3_error(exc) from exc
            except (sqlite3.Error, OSError) as exc:
                raise self._spool_error(exc) from exc
            except SpoolError as exc:
                raise SnapshotError(f"the spool of the checkpoint {self.checkpoint_key} is not usable for "
                                    f"user pool {self.reader.pool_id}: {exc}", pool=self.reader.pool_id) from None
        except BaseException:
            try:
                if self.upload is not None:
                    self.upload.abort()
                elif self.saved_upload is not None:
                    StreamingUpload.abort_saved(self.s3, self.saved_upload)
            except Exception as abort_exc:  # the lifecycle rule cleans up what could not be aborted
                logger.error("could not abort the multipart upload of %s: %s", self.key, abort_exc)
            if self.generation:  # a continued snapshot: its checkpoint points at the aborted upload
                delete_checkpoint(self.s3, self.bucket, self.checkpoint_key)
            raise

    def close(self) -> None:
        try:
            if self.spool is not None:
                self.spool.discard()
        finally:
            self.reader.close()
