"""Continuation checkpoints: what a snapshot that spans several Lambda runs hands to the next run.

A run that is about to run out of time saves two objects under ``<prefix>.checkpoints/`` (the only
objects the backup role may read back), both encrypted like the snapshot:
- the :class:`Checkpoint` at ``<prefix>.checkpoints/<snapshot file name>``: where every chain of calls
  stands (each user range's token, ListGroups' token, each member chain's token), the counts, the
  upload's state, and the size and SHA-256 of
- the spool at ``<that key>.spool`` (``backup_lambda.spool``): what was read but not yet written (the
  groups and their members, the configuration), the set of subs already written and the upload's tail.
Then it invokes its own function with ``{"checkpoint_key", "generation"}``; the next run loads both and
carries on. Both are untrusted input: :meth:`Checkpoint.from_json` refuses anything that is not exactly
the shape written here, naming the field, and ``load_spool`` a spool whose size or SHA-256 is not the
checkpoint's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.contract import Counts
from backup_lambda.errors import SnapshotError
from backup_lambda.s3_upload import StreamingUpload, UploadState, encryption_args
from backup_lambda.snapshot_format import CHECKPOINT_DIR, CONFIG_SECTIONS, SPOOL_SUFFIX
from backup_lambda.validation import shown

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 2
MAX_CHECKPOINT_BYTES = 1 << 20
DONE = "done"  # a chain's state once it is drained (otherwise: its next token, or None: not started)
SEQUENTIAL = "*"  # the one "range" of an unfiltered scan
LISTINGS = ("parallel-sub-ranges", "sequential")
# A chain whose token expired starts again from its beginning, at most this many times per snapshot.
MAX_RESTARTS = 3
SECTION_STATUSES = ("present", "absent", "unavailable")
_HEX = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"[0-9a-f]{1,2}")


def checkpoint_key(snapshot_key: str, prefix: str) -> str:
    """``<prefix>.checkpoints/<snapshot file name>``: where the checkpoint of that snapshot lives."""
    return f"{prefix}{CHECKPOINT_DIR}{snapshot_key.rsplit('/', 1)[-1]}"


def spool_key(checkpoint_key_: str) -> str:
    """Where the spool of that checkpoint lives: next to it (never named in the checkpoint: derived)."""
    return checkpoint_key_ + SPOOL_SUFFIX


@dataclass
class ListingState:
    """Where the user listing stands: each range's next token (None: not started, "done": drained)."""

    user_listing: str
    ranges: dict[str, str | None]


@dataclass
class GroupsState:
    """Where the groups stand: ListGroups' next token (None: not started, "done"), how many groups are
    listed (in the spool) and how many have all their members read, and each member chain in progress."""

    listing: str | None
    listed: int
    done: int
    chains: dict[str, str]  # group name -> its next ListUsersInGroup token


@dataclass
class SpoolRef:
    bytes: int
    sha256: str


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
    sections: dict[str, str]  # the configuration sections read so far (in the spool): their statuses
    counts: Counts  # users written; groups listed and members read so far
    elapsed_s: float
    throttles: int
    calls: int
    listing: ListingState
    groups: GroupsState
    restarts: dict[str, int]  # chain ("range 3", "group admins", "ListGroups") -> times it started again
    seen_subs: int  # users in the set of subs written (in the spool)
    spool: SpoolRef
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
                 f"checkpoint_version {shown(data.get('checkpoint_version'))} is not {CHECKPOINT_VERSION}")
        _fields(data, cls, "")
        for name in ("saved_at", "snapshot_key", "user_pool_id", "pool_name", "prefix", "taken_at", "retention"):
            _require(isinstance(data[name], str), f"{name} is not a string")
        for name in ("generation", "throttles", "calls", "seen_subs"):
            _require(_whole(data[name]), f"{name} is not a whole number >= 0")
        _require(data["generation"] >= 1, "generation is not >= 1")
        _require(data["kms_key_id"] is None or isinstance(data["kms_key_id"], str), "kms_key_id is not a string")
        _require(isinstance(data["excluded"], list) and all(isinstance(n, str) for n in data["excluded"]),
                 "excluded is not a list of attribute names")
        _require(_number(data["request_budget"]) and data["request_budget"] > 0, "request_budget is not > 0")
        _require(_number(data["elapsed_s"]) and data["elapsed_s"] >= 0, "elapsed_s is not a number >= 0")
        _require(data["estimated"] is None or _whole(data["estimated"]), "estimated is not a whole number")
        sections = data["sections"]
        _require(isinstance(sections, dict) and all(k in CONFIG_SECTIONS and v in SECTION_STATUSES
                                                    for k, v in sections.items()),
                 "sections is not a map of configuration sections to statuses")
        counts = Counts.from_json(data["counts"])
        listing = _listing(data["listing"])
        groups = _groups(data["groups"])
        _require(groups.listed == counts.groups, "groups.listed is not counts.groups")
        _require(counts.users <= data["seen_subs"], "seen_subs is fewer than the users written")
        restarts = data["restarts"]
        _require(isinstance(restarts, dict) and all(isinstance(k, str) and _whole(v) and v <= MAX_RESTARTS
                                                    for k, v in restarts.items()),
                 f"restarts is not a map of chains to counts <= {MAX_RESTARTS}")
        spool = data["spool"]
        _fields(spool, SpoolRef, "spool.")
        _require(_whole(spool["bytes"]) and spool["bytes"] > 0, "spool.bytes is not a whole number > 0")
        _require(isinstance(spool["sha256"], str) and bool(_HEX.fullmatch(spool["sha256"])),
                 "spool.sha256 is not a SHA-256 in hex")
        return cls(
            generation=data["generation"], saved_at=data["saved_at"], snapshot_key=data["snapshot_key"],
            user_pool_id=data["user_pool_id"], pool_name=data["pool_name"], prefix=data["prefix"],
            kms_key_id=data["kms_key_id"], excluded=list(data["excluded"]),
            request_budget=float(data["request_budget"]), taken_at=data["taken_at"], retention=data["retention"],
            estimated=data["estimated"], sections=dict(sections), counts=counts,
            elapsed_s=float(data["elapsed_s"]), throttles=data["throttles"], calls=data["calls"],
            listing=listing, groups=groups, restarts=dict(restarts), seen_subs=data["seen_subs"],
            spool=SpoolRef(spool["bytes"], spool["sha256"]), upload=UploadState.from_json(data["upload"]),
        )


def _listing(listing: Any) -> ListingState:
    _fields(listing, ListingState, "listing.")
    mode, ranges = listing["user_listing"], listing["ranges"]
    _require(mode in LISTINGS, f"listing.user_listing is not one of {', '.join(LISTINGS)}")
    _require(isinstance(ranges, dict) and all(v is None or (isinstance(v, str) and v) for v in ranges.values()),
             "listing.ranges is not a map of ranges to tokens, null or \"done\"")
    if mode == "sequential":
        _require(set(ranges) == {SEQUENTIAL}, f"listing.ranges of a sequential listing is not {{{SEQUENTIAL!r}}}")
    else:
        lengths = {len(k) for k in ranges}
        _require(all(isinstance(k, str) and _PREFIX.fullmatch(k) for k in ranges) and len(lengths) == 1
                 and len(ranges) == 16 ** lengths.pop(), "listing.ranges are not the 16 or 256 sub prefixes")
    return ListingState(mode, dict(ranges))


def _groups(groups: Any) -> GroupsState:
    _fields(groups, GroupsState, "groups.")
    listing, chains = groups["listing"], groups["chains"]
    _require(listing is None or (isinstance(listing, str) and bool(listing)),
             "groups.listing is not a token, null or \"done\"")
    _require(_whole(groups["listed"]) and _whole(groups["done"]) and groups["done"] <= groups["listed"],
             "groups.listed and groups.done are not whole numbers with done <= listed")
    _require(isinstance(chains, dict) and all(isinstance(k, str) and isinstance(v, str) and v and v != DONE
                                              for k, v in chains.items()),
             "groups.chains is not a map of group names to tokens")
    _require(len(chains) <= groups["listed"] - groups["done"], "groups.chains holds more groups than are unfinished")
    return GroupsState(listing, groups["listed"], groups["done"], dict(chains))


def _fields(data: Any, kind: type, where: str) -> None:
    expected = set(kind.__dataclass_fields__)
    _require(isinstance(data, dict) and set(data) == expected,
             f"{where.rstrip('.') or 'it'} must have exactly the fields {sorted(expected)}")


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(problem)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- in S3 -----------------------------------------------------------------------------------------

def _failed(what: str, bucket: str, key: str, pool: str | None, exc: Exception, operation: str) -> SnapshotError:
    about = f" for user pool {pool}" if pool else ""
    return SnapshotError(f"{operation} of the {what} s3://{bucket}/{key} failed{about}: {exc}", pool=pool,
                         operation=operation)


def save_checkpoint(s3, bucket: str, key: str, checkpoint: Checkpoint) -> None:
    """Write the checkpoint (encrypted like the snapshot); ``SnapshotError`` naming the pool on failure."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(checkpoint.to_json()).encode(),
                      ContentType="application/json", **encryption_args(checkpoint.kms_key_id))
    except (ClientError, BotoCoreError) as exc:
        raise _failed("checkpoint", bucket, key, checkpoint.user_pool_id, exc, "PutObject") from exc


def save_spool(s3, bucket: str, key: str, path: str, *, kms_key_id: str | None, pool: str) -> SpoolRef:
    """Upload the spool file (one PutObject, streamed from disk) and return its size and SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        size = f.tell()
        f.seek(0)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=f, ContentLength=size,
                          ContentType="application/vnd.sqlite3", **encryption_args(kms_key_id))
        except (ClientError, BotoCoreError) as exc:
            raise _failed("spool", bucket, key, pool, exc, "PutObject") from exc
    return SpoolRef(size, digest.hexdigest())


SPOOL_DOWNLOADS = 3  # attempts: a body that breaks off mid-stream is not retried by botocore


def load_spool(s3, bucket: str, key: str, path: str, expected: SpoolRef, *, pool: str) -> None:
    """Download the spool to ``path``; ``SnapshotError`` if it cannot be read or is not the checkpoint's."""
    where = f"the spool s3://{bucket}/{key} of user pool {pool}"
    for attempt in range(1, SPOOL_DOWNLOADS + 1):
        try:
            size, digest = _download(s3, bucket, key, path, expected, where, pool)
            break
        except ClientError as exc:  # the service answered: retrying will not change its answer
            raise _failed("spool", bucket, key, pool, exc, "GetObject") from exc
        except BotoCoreError as exc:  # the connection broke, possibly half-way through the body
            if attempt == SPOOL_DOWNLOADS:
                raise _failed("spool", bucket, key, pool, exc, "GetObject") from exc
            logger.warning("the download of the spool broke off (%s): attempt %d of %d", exc, attempt + 1,
                           SPOOL_DOWNLOADS)
    if size != expected.bytes or digest != expected.sha256:
        raise SnapshotError(f"{where} is not the one its checkpoint describes ({size} bytes, sha256 "
                            f"{digest[:12]}..., expected {expected.bytes} bytes, "
                            f"{expected.sha256[:12]}...): it was changed or replaced", pool=pool)


def _download(s3, bucket: str, key: str, path: str, expected: SpoolRef, where: str, pool: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with open(path, "wb") as f:
            while chunk := body.read(1 << 20):
                size += len(chunk)
                if size > expected.bytes:
                    raise SnapshotError(f"{where} is larger than its checkpoint says ({expected.bytes} bytes)",
                                        pool=pool)
                digest.update(chunk)
                f.write(chunk)
    except OSError as exc:
        raise SnapshotError(f"cannot write {where} to local disk ({exc.strerror}): give the function more "
                            "ephemeral storage (docs/deploying.md, \"Disk: /tmp\")", pool=pool) from exc
    finally:
        body.close()
    return size, digest.hexdigest()


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
    """Remove a checkpoint and its spool; a failure is logged, never raised (the lifecycle rule removes
    them later)."""
    for target in (spool_key(key), key):
        try:
            s3.delete_object(Bucket=bucket, Key=target)
        except Exception as exc:
            logger.error("could not delete the checkpoint object %s: %s", target, exc)


def abandon_checkpoint(s3, bucket: str, key: str) -> None:
    """Give up a continued snapshot: abort its upload and delete its checkpoint (best effort)."""
    try:
        StreamingUpload.abort_saved(s3, load_checkpoint(s3, bucket, key).upload)
    except Exception as exc:  # the lifecycle rules remove what could not be removed here
        logger.error("could not abort the upload of the checkpoint %s: %s", key, exc)
    delete_checkpoint(s3, bucket, key)
