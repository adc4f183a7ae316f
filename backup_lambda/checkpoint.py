"""Continuation checkpoints: what a snapshot that spans several Lambda runs hands to the next run.

A run that is about to run out of time saves a :class:`Checkpoint` at ``<prefix>.checkpoints/<snapshot
file name>`` (the only objects the backup role may read back) and invokes its own function with
``{"checkpoint_key", "generation"}``; the next run loads it and carries on. A checkpoint read back is
untrusted input: :meth:`Checkpoint.from_json` refuses anything that is not exactly the shape written
here, naming the field.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.contract import Counts
from backup_lambda.errors import SnapshotError
from backup_lambda.s3_upload import StreamingUpload, UploadState, encryption_args
from backup_lambda.snapshot_format import CHECKPOINT_DIR

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
MAX_CHECKPOINT_BYTES = 1 << 20


def checkpoint_key(snapshot_key: str, prefix: str) -> str:
    """``<prefix>.checkpoints/<snapshot file name>``: where the checkpoint of that snapshot lives."""
    return f"{prefix}{CHECKPOINT_DIR}{snapshot_key.rsplit('/', 1)[-1]}"


@dataclass
class ListingState:
    """Where the user listing stands: each range's next token (None: not started, "done": drained)."""

    user_listing: str
    ranges: dict[str, str | None]


@dataclass
class Checkpoint:
    generation: int
    saved_at: str
    snapshot_key: str
    user_pool_id: str
    pool_name: str
    prefix: str
    kms_key_id: str | None
    excluded: list[str]
    request_budget: float
    taken_at: str
    retention: str
    estimated: int | None
    sections: dict[str, str]
    counts: Counts
    elapsed_s: float
    throttles: int
    calls: int
    listing: ListingState
    upload: UploadState
    checkpoint_version: int = field(default=CHECKPOINT_VERSION)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "the checkpoint") -> Checkpoint:
        """Parse a checkpoint read back from S3; ``SnapshotError`` naming the first field that is wrong."""
        try:
            return cls._parse(data)
        except (TypeError, ValueError) as exc:
            raise SnapshotError(f"{where} is not a checkpoint this function wrote: {exc}") from None

    @classmethod
    def _parse(cls, data: Any) -> Checkpoint:
        _require(isinstance(data, dict), "it is not a JSON object")
        _require(data.get("checkpoint_version") == CHECKPOINT_VERSION,
                 f"checkpoint_version {data.get('checkpoint_version')!r} is not {CHECKPOINT_VERSION}")
        expected = {f for f in cls.__dataclass_fields__}
        _require(set(data) == expected, f"its fields are not {sorted(expected)}")
        for name in ("saved_at", "snapshot_key", "user_pool_id", "pool_name", "prefix", "taken_at", "retention"):
            _require(isinstance(data[name], str), f"{name} is not a string")
        for name in ("generation", "throttles", "calls"):
            _require(_whole(data[name]), f"{name} is not a whole number >= 0")
        _require(data["generation"] >= 1, "generation is not >= 1")
        _require(data["kms_key_id"] is None or isinstance(data["kms_key_id"], str), "kms_key_id is not a string")
        _require(isinstance(data["excluded"], list) and all(isinstance(n, str) for n in data["excluded"]),
                 "excluded is not a list of attribute names")
        _require(_number(data["request_budget"]) and data["request_budget"] > 0, "request_budget is not > 0")
        _require(_number(data["elapsed_s"]) and data["elapsed_s"] >= 0, "elapsed_s is not a number >= 0")
        _require(data["estimated"] is None or _whole(data["estimated"]), "estimated is not a whole number")
        sections = data["sections"]
        _require(isinstance(sections, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in sections.items()), "sections is not a map of statuses")
        listing = data["listing"]
        _require(isinstance(listing, dict) and set(listing) == {"user_listing", "ranges"}, "listing is malformed")
        _require(isinstance(listing["user_listing"], str), "listing.user_listing is not a string")
        ranges = listing["ranges"]
        _require(isinstance(ranges, dict) and all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                  for k, v in ranges.items()), "listing.ranges is malformed")
        return cls(
            generation=data["generation"], saved_at=data["saved_at"], snapshot_key=data["snapshot_key"],
            user_pool_id=data["user_pool_id"], pool_name=data["pool_name"], prefix=data["prefix"],
            kms_key_id=data["kms_key_id"], excluded=list(data["excluded"]),
            request_budget=float(data["request_budget"]), taken_at=data["taken_at"], retention=data["retention"],
            estimated=data["estimated"], sections=dict(sections), counts=Counts.from_json(data["counts"]),
            elapsed_s=float(data["elapsed_s"]), throttles=data["throttles"], calls=data["calls"],
            listing=ListingState(listing["user_listing"], dict(ranges)),
            upload=UploadState.from_json(data["upload"]),
        )


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(problem)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def save_checkpoint(s3, bucket: str, key: str, checkpoint: Checkpoint) -> None:
    """Write the checkpoint (encrypted like the snapshot); ``SnapshotError`` naming the pool on failure."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(checkpoint.to_json()).encode(),
                      ContentType="application/json", **encryption_args(checkpoint.kms_key_id))
    except (ClientError, BotoCoreError) as exc:
        raise SnapshotError(f"PutObject of the checkpoint s3://{bucket}/{key} failed for user pool "
                            f"{checkpoint.user_pool_id}: {exc}", pool=checkpoint.user_pool_id,
                            operation="PutObject") from exc


def load_checkpoint(s3, bucket: str, key: str) -> Checkpoint:
    where = f"the checkpoint s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_CHECKPOINT_BYTES + 1)
    except Exception as exc:
        raise SnapshotError(f"cannot read the continuation checkpoint s3://{bucket}/{key}: {exc}",
                            operation="GetObject") from exc
    if len(body) > MAX_CHECKPOINT_BYTES:
        raise SnapshotError(f"{where} is larger than {MAX_CHECKPOINT_BYTES} bytes: not a checkpoint")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"{where} is not JSON: {str(exc)[:200]}") from None
    return Checkpoint.from_json(data, where)


def delete_checkpoint(s3, bucket: str, key: str) -> None:
    """Remove a checkpoint; a failure is logged, never raised (the lifecycle rule removes it later)."""
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:
        logger.error("could not delete the checkpoint %s: %s", key, exc)


def abandon_checkpoint(s3, bucket: str, key: str) -> None:
    """Give up a continued snapshot: abort its upload and delete its checkpoint (best effort)."""
    try:
        StreamingUpload.resume(s3, load_checkpoint(s3, bucket, key).upload).abort()
    except Exception as exc:  # the lifecycle rules remove what could not be removed here
        logger.error("could not abort the upload of the checkpoint %s: %s", key, exc)
    delete_checkpoint(s3, bucket, key)
