"""Take one snapshot of one user pool into S3: the code path of the Lambda and of the CLI.

The order of work makes failures cheap and visible:
1. DescribeUserPool and the whole configuration are read first (small): a wrong pool id or a
   denied call fails before anything is written.
2. The document is streamed into a multipart upload: header, configuration, groups with members
   (fetched a few groups ahead in parallel), users (parallel sub ranges), summary. On any failure the
   upload is aborted: no snapshot object.
3. Only when the object is complete is the manifest written. No manifest, no snapshot.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any

import botocore
from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda import __version__
from backup_lambda.errors import ConfigError, SnapshotError
from backup_lambda.pool_reader import DONE, PoolReader, sub_of
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.redact import parse_attribute_list, strip_attributes
from backup_lambda.s3_upload import DEFAULT_PART_SIZE, StreamingUpload, encryption_args, tagging
from backup_lambda.snapshot_format import (
    CHECKPOINT_DIR,
    CONFIG_SECTIONS,
    FORMAT_VERSION,
    POOL_NAME_RE,
    manifest_key,
    retention_class,
    snapshot_key,
)

logger = logging.getLogger(__name__)

USER_POOL_ID_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+_[0-9A-Za-z]+$")
PREFIX_RE = re.compile(r"^([\w.=@+-]+/)*$")
GROUP_LOOKAHEAD = 8
CONFIG_WORKERS = 6  # configuration sections read at once

Progress = Callable[[dict[str, Any]], None]
Deadline = Callable[[], float]  # seconds left in this run (Lambda: context.get_remaining_time_in_millis()/1000)
CHECKPOINT_VERSION = 1
# Stop and hand over to the next run when less than this is left: enough to finish the page being
# written, upload the buffered part and the checkpoint, and invoke the next run.
DEFAULT_HANDOVER_S = 60.0


def _shown(value: Any, limit: int = 80) -> str:
    """A value as quoted in an error message: never more than ``limit`` characters, whatever it is."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_user_pool_id(value: Any, field: str = "user_pool_id") -> str:
    if not isinstance(value, str) or not USER_POOL_ID_RE.fullmatch(value):
        shown = _shown(value)
        raise ConfigError(f"{field} must look like '<region>_<alphanumerics>' (e.g. eu-west-1_AbC123), got {shown}")
    return value


def validate_pool_name(value: Any, field: str = "pool_name") -> str:
    if not isinstance(value, str) or not POOL_NAME_RE.fullmatch(value):
        shown = _shown(value)
        raise ConfigError(
            f"{field} must be 1-128 characters of letters, digits and . + = , @ _ - (no '/'), got {shown}"
        )
    return value


def validate_prefix(value: Any, field: str = "prefix") -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 512:
        raise ConfigError(f"{field} must be a string of at most 512 characters, got {_shown(value)}")
    if not value.endswith("/"):
        value += "/"
    if not PREFIX_RE.fullmatch(value) or any(seg in (".", "..") for seg in value.split("/")):
        raise ConfigError(f"{field} must be path segments like 'backups/prod/', got {_shown(value)}")
    return value


def validate_budget(value: Any, field: str = "request_budget") -> float:
    try:
        budget = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{field} must be a number of calls per second, got {_shown(value)}") from None
    if not 0 < budget <= 30:
        raise ConfigError(f"{field} must be > 0 and <= 30 (Cognito's UserList quota), got {_shown(value)}")
    return budget


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _groups_with_members(reader: PoolReader) -> Iterator[tuple[dict[str, Any], int, Any]]:
    """(group, member count, spooled member list), in listing order, fetched a few groups ahead."""
    with ThreadPoolExecutor(max_workers=GROUP_LOOKAHEAD, thread_name_prefix="group-members") as pool:
        pending: deque = deque()
        try:
            for group in reader.iter_groups():
                pending.append((group, pool.submit(reader.spool_members, group["GroupName"])))
                if len(pending) >= GROUP_LOOKAHEAD:
                    group_, future = pending.popleft()
                    yield (group_, *future.result())
            while pending:
                group_, future = pending.popleft()
                yield (group_, *future.result())
        finally:
            for _, future in pending:
                future.cancel()
                if future.done() and not future.cancelled() and future.exception() is None:
                    future.result()[1].close()


class _Document:
    """Writes the top-level JSON object key by key into the upload."""

    def __init__(self, upload: StreamingUpload, first: bool = True):
        self.upload = upload
        self.first = first

    def raw(self, text: str) -> None:
        self.upload.write(text.encode("utf-8"))

    def key(self, name: str) -> None:
        self.raw(("{" if self.first else ",\n") + json.dumps(name) + ":")
        self.first = False

    def field(self, name: str, value: Any) -> None:
        self.key(name)
        self.raw(dumps(value))

    def close(self) -> None:
        self.raw("}\n")


def checkpoint_key_for(snapshot_key_: str, prefix: str) -> str:
    """``<prefix>.checkpoints/<snapshot file name>``: the only objects the backup role reads back."""
    return f"{prefix}{CHECKPOINT_DIR}{snapshot_key_.rsplit('/', 1)[-1]}"


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
    progress: Progress | None = None,
    now: datetime | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    workers: int = 16,
    deadline: Deadline | None = None,
    handover_s: float = DEFAULT_HANDOVER_S,
) -> dict[str, Any]:
    """Snapshot one pool; returns the result (key, counts, sha256...). Raises on any failure.

    With ``deadline``, a listing that would not finish in time stops after a page, saves a
    checkpoint and returns ``{"status": "continued", "checkpoint_key": ...}``: ``resume_snapshot``
    carries on from it (the Lambda invokes itself to do so). The object is the same either way.
    """
    validate_user_pool_id(user_pool_id)
    if pool_name is not None:
        validate_pool_name(pool_name)
    prefix = validate_prefix(prefix)
    request_budget = validate_budget(request_budget)
    if not isinstance(bucket, str) or not bucket:
        raise ConfigError("bucket is required")
    excluded = parse_attribute_list(exclude_attributes)
    if "sub" in excluded:
        raise ConfigError("exclude_attributes cannot exclude 'sub': it identifies users across snapshots")

    taken = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    reader = PoolReader(cognito, user_pool_id, request_budget=request_budget, workers=workers)
    run = _Run(reader, s3, bucket=bucket, prefix=prefix, kms_key_id=kms_key_id, excluded=excluded,
               report=progress, deadline=deadline, handover_s=handover_s)
    try:
        run.begin(pool_name, taken, part_size)
        return run.users_and_finish(None)
    finally:
        reader.close()


def load_checkpoint(s3, bucket: str, key: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise SnapshotError(f"cannot read the continuation checkpoint s3://{bucket}/{key}: {exc}",
                            operation="GetObject") from exc
    try:
        state = json.loads(body)
    except ValueError as exc:
        raise SnapshotError(f"the checkpoint s3://{bucket}/{key} is not JSON: {exc}") from exc
    if not isinstance(state, dict) or state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise SnapshotError(f"the checkpoint s3://{bucket}/{key} has an unknown version")
    return state


def abandon_checkpoint(s3, bucket: str, key: str) -> None:
    """Give up a continued snapshot: abort its upload and delete its checkpoint (best effort)."""
    try:
        state = load_checkpoint(s3, bucket, key)
        StreamingUpload.resume(s3, state["upload"]).abort()
    except Exception as exc:  # the lifecycle rules remove what could not be removed here
        logger.error("could not abort the upload of the checkpoint %s: %s", key, exc)
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:
        logger.error("could not delete the checkpoint %s: %s", key, exc)


def resume_snapshot(cognito, s3, checkpoint: dict[str, Any], *, progress: Progress | None = None,
                    deadline: Deadline | None = None, handover_s: float = DEFAULT_HANDOVER_S,
                    workers: int = 16) -> dict[str, Any]:
    """Carry on a snapshot from its checkpoint (see ``take_snapshot``)."""
    reader = PoolReader(cognito, checkpoint["user_pool_id"], request_budget=checkpoint["request_budget"],
                        workers=workers)
    run = _Run(reader, s3, bucket=checkpoint["upload"]["bucket"], prefix=checkpoint["prefix"],
               kms_key_id=checkpoint["kms_key_id"], excluded=frozenset(checkpoint["excluded"]),
               report=progress, deadline=deadline, handover_s=handover_s)
    try:
        run.restore(checkpoint)
        return run.users_and_finish(checkpoint["listing"])
    finally:
        reader.close()


class _Run:
    """One snapshot being written: begun here or carried over from a checkpoint."""

    def __init__(self, reader: PoolReader, s3, *, bucket, prefix, kms_key_id, excluded, report, deadline,
                 handover_s):
        self.reader, self.s3, self.bucket, self.prefix = reader, s3, bucket, prefix
        self.kms_key_id, self.excluded = kms_key_id, excluded
        self.report = report or (lambda _event: None)
        self.deadline, self.handover_s = deadline, handover_s
        self.started = time.monotonic()
        self.counts = {"users": 0, "groups": 0, "memberships": 0, "federated_users": 0, "disabled_users": 0}
        self.elapsed_before = 0.0
        self.throttles_before = 0
        self.calls_before = 0
        self.generation = 0

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
        sections = reader.config_sections(pool, parallel=CONFIG_WORKERS)
        logger.debug("configuration read: %s", {name: sections[name]["status"] for name in CONFIG_SECTIONS})
        self.sections = {name: sections[name]["status"] for name in CONFIG_SECTIONS}

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
            doc = _Document(self.upload)
            doc.field("format_version", FORMAT_VERSION)
            doc.field("taken_at", _iso(taken))
            doc.field("source", source)
            doc.field("pool", pool)
            for name in CONFIG_SECTIONS:
                doc.field(name, sections[name])
            self.report({"phase": "groups", **self.counts})
            doc.key("groups")
            doc.raw("[")
            for group, n_members, members in _groups_with_members(reader):
                with members:
                    body = dumps(group)
                    doc.raw(("\n" if self.counts["groups"] == 0 else ",\n") + body[:-1])
                    doc.raw((',' if len(body) > 2 else '') + '"Members":[')
                    while chunk := members.read(1 << 16):
                        self.upload.write(chunk)
                    doc.raw("]}")
                self.counts["groups"] += 1
                self.counts["memberships"] += n_members
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
                self.upload.abort()
            except Exception as abort_exc:  # the lifecycle rule cleans up what could not be aborted
                logger.error("could not abort the multipart upload of %s: %s", self.key, abort_exc)
            if self.generation:  # a continued snapshot: its checkpoint points at the aborted upload
                try:
                    self.s3.delete_object(Bucket=self.bucket, Key=self.checkpoint_key)
                except Exception as delete_exc:
                    logger.error("could not delete the checkpoint %s: %s", self.checkpoint_key, delete_exc)
            raise

    # -- phase 2: users, possibly over several runs ----------------------------------------------

    def users_and_finish(self, resume_listing: dict[str, Any] | None) -> dict[str, Any]:
        reader = self.reader
        with self._abort_on_failure():
            self.report({"phase": "users", **self.counts})
            last_report = time.monotonic()
            for page in reader.iter_user_pages(self.estimated, resume=resume_listing):
                for user in page:
                    self.upload.write((("\n" if self.counts["users"] == 0 else ",\n")
                                       + dumps(strip_attributes(user, self.excluded))).encode("utf-8"))
                    self.counts["users"] += 1
                    if user.get("UserStatus") == "EXTERNAL_PROVIDER":
                        self.counts["federated_users"] += 1
                    if user.get("Enabled") is False:
                        self.counts["disabled_users"] += 1
                if time.monotonic() - last_report >= 2:
                    last_report = time.monotonic()
                    self.report({"phase": "users", **self.counts, "elapsed_s": round(self.elapsed, 1),
                                 "throttles": self.throttles})
                if self.deadline is not None and self.deadline() < self.handover_s and not self._listing_done():
                    return self._hand_over()
            summary = {
                **self.counts,
                "estimated_users": self.estimated,
                "excluded_attributes": sorted(self.excluded),
                "user_listing": reader.user_listing,
                "ranges": reader.ranges,
            }
            doc = _Document(self.upload, first=False)
            doc.raw("\n]")
            doc.field("summary", summary)
            doc.close()
            self.report({"phase": "uploading", **self.counts})
            sha256 = self.upload.complete()
        return self._write_manifest(sha256)

    def _listing_done(self) -> bool:
        return all(state == DONE for state in self.reader.listing_state.values())

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def throttles(self) -> int:
        return self.throttles_before + self.reader.throttles

    # -- checkpoints -----------------------------------------------------------------------------

    @property
    def checkpoint_key(self) -> str:
        return checkpoint_key_for(self.key, self.prefix)

    def _hand_over(self) -> dict[str, Any]:
        self.generation += 1
        state = {
            "checkpoint_version": CHECKPOINT_VERSION,
            "generation": self.generation,
            "saved_at": _iso(datetime.now(timezone.utc)),
            "snapshot_key": self.key,
            "user_pool_id": self.reader.pool_id,
            "pool_name": self.pool_name,
            "prefix": self.prefix,
            "kms_key_id": self.kms_key_id,
            "excluded": sorted(self.excluded),
            "request_budget": self.reader.limiters["UserList"].max_rate,
            "taken_at": _iso(self.taken),
            "retention": self.retention,
            "estimated": self.estimated,
            "sections": self.sections,
            "counts": self.counts,
            "elapsed_s": self.elapsed,
            "throttles": self.throttles,
            "calls": self.calls_before + self.reader.stats["calls"],
            "listing": {"user_listing": self.reader.user_listing, "ranges": self.reader.listing_state},
            "upload": self.upload.save_state(),
        }
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.checkpoint_key, Body=json.dumps(state).encode(),
                               ContentType="application/json", **encryption_args(self.kms_key_id))
        except (ClientError, BotoCoreError) as exc:
            raise SnapshotError(f"PutObject of the checkpoint s3://{self.bucket}/{self.checkpoint_key} failed for "
                                f"user pool {self.reader.pool_id}: {exc}", pool=self.reader.pool_id,
                                operation="PutObject") from exc
        self.report({"phase": "continued", **self.counts, "key": self.key})
        return {"status": "continued", "key": self.key, "checkpoint_key": self.checkpoint_key,
                "generation": self.generation, "bucket": self.bucket, "pool_name": self.pool_name,
                "user_pool_id": self.reader.pool_id, **self.counts}

    def restore(self, state: dict[str, Any]) -> None:
        self.generation = state["generation"]
        self.pool_name = state["pool_name"]
        self.key = state["snapshot_key"]
        self.taken = datetime.fromisoformat(state["taken_at"].replace("Z", "+00:00"))
        self.retention = state["retention"]
        self.estimated = state["estimated"]
        self.sections = state["sections"]
        self.counts = dict(state["counts"])
        self.elapsed_before = state["elapsed_s"]
        self.throttles_before = state["throttles"]
        self.calls_before = state["calls"]
        self.upload = StreamingUpload.resume(self.s3, state["upload"])
        self.resumed = True

    # -- phase 3: the manifest -------------------------------------------------------------------

    def _write_manifest(self, sha256: str) -> dict[str, Any]:
        reader = self.reader
        manifest = {
            "format_version": FORMAT_VERSION,
            "snapshot_key": self.key,
            "sha256": sha256,
            "bytes": self.upload.bytes,
            "users": self.counts["users"],
            "groups": self.counts["groups"],
            "memberships": self.counts["memberships"],
            "taken_at": _iso(self.taken),
            "completed_at": _iso(datetime.now(timezone.utc)),
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
        if self.generation:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=self.checkpoint_key)
            except Exception as exc:  # harmless: the snapshot is complete; lifecycle removes it later
                logger.warning("could not delete the checkpoint %s: %s", self.checkpoint_key, exc)

        duration = self.elapsed
        result = {
            "status": "ok",
            "key": self.key,
            "manifest_key": mkey,
            "bucket": self.bucket,
            "pool_name": self.pool_name,
            "user_pool_id": reader.pool_id,
            **{k: self.counts[k] for k in ("users", "groups", "memberships", "federated_users", "disabled_users")},
            "bytes": self.upload.bytes,
            "sha256": sha256,
            "retention": self.retention,
            "sections": self.sections,
            "runs": self.generation + 1,
            "duration_s": round(duration, 3),
            "throttles": self.throttles,
            "calls": self.calls_before + reader.stats["calls"],
            "users_per_s": round(self.counts["users"] / duration, 1) if duration > 0 else None,
        }
        logger.info("snapshot %s complete: %d users, %d groups, %d memberships, %d bytes, %d run(s)", self.key,
                    result["users"], result["groups"], result["memberships"], result["bytes"], result["runs"])
        self.report({"phase": "done", **result})
        return result


__all__ = ["take_snapshot", "resume_snapshot", "load_checkpoint", "validate_user_pool_id", "validate_pool_name",
           "sub_of"]
