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
from datetime import date, datetime, timezone
from typing import Any

import botocore

from backup_lambda import __version__
from backup_lambda.errors import ConfigError, SnapshotError
from backup_lambda.pool_reader import PoolReader, sub_of
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.redact import parse_attribute_list, strip_attributes
from backup_lambda.s3_upload import DEFAULT_PART_SIZE, StreamingUpload, encryption_args, tagging
from backup_lambda.snapshot_format import (
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

Progress = Callable[[dict[str, Any]], None]


def validate_user_pool_id(value: Any, field: str = "user_pool_id") -> str:
    if not isinstance(value, str) or not USER_POOL_ID_RE.fullmatch(value):
        shown = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:80] + "...")
        raise ConfigError(f"{field} must look like '<region>_<alphanumerics>' (e.g. eu-west-1_AbC123), got {shown}")
    return value


def validate_pool_name(value: Any, field: str = "pool_name") -> str:
    if not isinstance(value, str) or not POOL_NAME_RE.fullmatch(value):
        shown = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:80] + "...")
        raise ConfigError(
            f"{field} must be 1-128 characters of letters, digits and . + = , @ _ - (no '/'), got {shown}"
        )
    return value


def validate_prefix(value: Any, field: str = "prefix") -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 512:
        raise ConfigError(f"{field} must be a string of at most 512 characters")
    if not value.endswith("/"):
        value += "/"
    if not PREFIX_RE.fullmatch(value) or any(seg in (".", "..") for seg in value.split("/")):
        raise ConfigError(f"{field} must be path segments like 'backups/prod/', got {value!r}")
    return value


def validate_budget(value: Any, field: str = "request_budget") -> float:
    try:
        budget = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{field} must be a number of calls per second, got {value!r}") from None
    if not 0 < budget <= 30:
        raise ConfigError(f"{field} must be > 0 and <= 30 (Cognito's UserList quota), got {value!r}")
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

    def __init__(self, upload: StreamingUpload):
        self.upload = upload
        self.first = True

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
) -> dict[str, Any]:
    """Snapshot one pool; returns the result (key, counts, sha256...). Raises on any failure."""
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

    started = time.monotonic()
    taken = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    report = progress or (lambda _event: None)
    reader = PoolReader(cognito, user_pool_id, request_budget=request_budget, workers=workers)
    try:
        return _take(reader, s3, bucket=bucket, pool_name=pool_name, prefix=prefix, kms_key_id=kms_key_id,
                     excluded=excluded, report=report, taken=taken, started=started, part_size=part_size,
                     request_budget=request_budget)
    finally:
        reader.close()


def _take(reader: PoolReader, s3, *, bucket, pool_name, prefix, kms_key_id, excluded, report, taken,
          started, part_size, request_budget) -> dict[str, Any]:
    pool = reader.describe_pool()
    pool_name = validate_pool_name(pool_name or pool.get("Name"), "pool_name (the pool's own name)")
    arn = pool.get("Arn") or ""
    arn_parts = arn.split(":")
    source = {
        "account": arn_parts[4] if len(arn_parts) > 5 else None,
        "region": arn_parts[3] if len(arn_parts) > 5 else reader.cognito.meta.region_name,
        "user_pool_id": reader.pool_id,
        "pool_name": pool_name,
        "tool": "cognito-backup",
        "tool_version": __version__,
        "botocore_version": botocore.__version__,
    }
    report({"phase": "config", "pool_name": pool_name})
    sections = reader.config_sections(pool)

    key = snapshot_key(prefix, pool_name, taken)
    retention = retention_class(taken)
    tags = {"retention": retention, "pool": pool_name}
    upload = StreamingUpload(s3, bucket, key, kms_key_id=kms_key_id, tags=tags, part_size=part_size)
    counts = {"users": 0, "groups": 0, "memberships": 0, "federated_users": 0, "disabled_users": 0}
    try:
        upload.start()
    except Exception as exc:
        raise SnapshotError(f"cannot start the upload of s3://{bucket}/{key} for user pool "
                            f"{reader.pool_id}: {exc}", pool=reader.pool_id,
                            operation="CreateMultipartUpload") from exc
    try:
        doc = _Document(upload)
        doc.field("format_version", FORMAT_VERSION)
        doc.field("taken_at", _iso(taken))
        doc.field("source", source)
        doc.field("pool", pool)
        for name in CONFIG_SECTIONS:
            doc.field(name, sections[name])

        report({"phase": "groups", **counts})
        doc.key("groups")
        doc.raw("[")
        for group, n_members, members in _groups_with_members(reader):
            with members:
                body = dumps(group)
                doc.raw(("\n" if counts["groups"] == 0 else ",\n") + body[:-1])
                doc.raw((',' if len(body) > 2 else '') + '"Members":[')
                while chunk := members.read(1 << 16):
                    upload.write(chunk)
                doc.raw("]}")
            counts["groups"] += 1
            counts["memberships"] += n_members
        doc.raw("\n]")

        report({"phase": "users", **counts})
        doc.key("users")
        doc.raw("[")
        last_report = time.monotonic()
        estimated = pool.get("EstimatedNumberOfUsers")
        for page in reader.iter_user_pages(estimated):
            for user in page:
                doc.raw(("\n" if counts["users"] == 0 else ",\n") + dumps(strip_attributes(user, excluded)))
                counts["users"] += 1
                if user.get("UserStatus") == "EXTERNAL_PROVIDER":
                    counts["federated_users"] += 1
                if user.get("Enabled") is False:
                    counts["disabled_users"] += 1
            if time.monotonic() - last_report >= 2:
                last_report = time.monotonic()
                report({"phase": "users", **counts, "elapsed_s": round(last_report - started, 1),
                        "throttles": reader.throttles})
        doc.raw("\n]")
        summary = {
            **counts,
            "estimated_users": estimated,
            "excluded_attributes": sorted(excluded),
            "user_listing": reader.user_listing,
            "ranges": reader.ranges,
        }
        doc.field("summary", summary)
        doc.close()
        report({"phase": "uploading", **counts})
        sha256 = upload.complete()
    except BaseException:
        try:
            upload.abort()
        except Exception as abort_exc:  # the lifecycle rule cleans up what could not be aborted
            logger.error("could not abort the multipart upload of %s: %s", key, abort_exc)
        raise

    completed = datetime.now(timezone.utc)
    manifest = {
        "format_version": FORMAT_VERSION,
        "snapshot_key": key,
        "sha256": sha256,
        "bytes": upload.bytes,
        "users": counts["users"],
        "groups": counts["groups"],
        "memberships": counts["memberships"],
        "taken_at": _iso(taken),
        "completed_at": _iso(completed),
        "user_pool_id": reader.pool_id,
        "pool_name": pool_name,
        "retention": retention,
        "sections": {name: sections[name]["status"] for name in CONFIG_SECTIONS},
        "tool_version": __version__,
    }
    mkey = manifest_key(key)
    try:
        s3.put_object(Bucket=bucket, Key=mkey, Body=json.dumps(manifest, indent=2).encode(),
                      ContentType="application/json", IfNoneMatch="*",
                      **encryption_args(kms_key_id), **tagging(tags))
    except Exception as exc:
        raise SnapshotError(
            f"the snapshot s3://{bucket}/{key} was written but its manifest could not be: {exc}. "
            "Without a manifest the snapshot counts as incomplete.",
            pool=reader.pool_id, operation="PutObject",
        ) from exc

    duration = time.monotonic() - started
    result = {
        "status": "ok",
        "key": key,
        "manifest_key": mkey,
        "bucket": bucket,
        "pool_name": pool_name,
        "user_pool_id": reader.pool_id,
        "users": counts["users"],
        "groups": counts["groups"],
        "memberships": counts["memberships"],
        "federated_users": counts["federated_users"],
        "disabled_users": counts["disabled_users"],
        "bytes": upload.bytes,
        "sha256": sha256,
        "retention": retention,
        "sections": manifest["sections"],
        "duration_s": round(duration, 3),
        "throttles": reader.throttles,
        "calls": reader.stats["calls"],
        "users_per_s": round(counts["users"] / duration, 1) if duration > 0 else None,
    }
    report({"phase": "done", **result})
    return result


__all__ = ["take_snapshot", "validate_user_pool_id", "validate_pool_name", "sub_of"]
