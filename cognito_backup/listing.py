"""List the snapshots in a bucket, newest first, with their counts and whether each is complete.

A snapshot is complete when its manifest exists; the counts (users, groups, memberships, bytes)
and the format version (1: written before format 2, users after the groups; 2: users first) come from
the manifest: both are read by every command. Keys under a hidden folder (``.checkpoints/``, ``.drills/``) are not
snapshots and are skipped.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from backup_lambda.errors import ConfigError
from backup_lambda.snapshot_format import MANIFEST_SUFFIX, is_snapshot_key, manifest_key, parse_snapshot_key

MANIFEST_READERS = 8


def _hidden(key: str, prefix: str) -> bool:
    return any(part.startswith(".") for part in key[len(prefix):].split("/")[:-1])


def _read_manifest(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        manifest = json.loads(body)
        if not isinstance(manifest, dict):
            return None, "the manifest is not a JSON object"
        return manifest, None
    except ClientError as exc:
        return None, f"cannot read the manifest: {exc.response.get('Error', {}).get('Code')}"
    except (ValueError, UnicodeDecodeError):
        return None, "the manifest is not valid JSON"


def list_snapshots(s3: Any, bucket: str, prefix: str = "", pool_name: str | None = None, *,
                   page_size: int = 1000) -> list[dict[str, Any]]:
    """Every snapshot under ``prefix``, newest first (by the time in its key, then by key).

    Each entry: ``key, pool_name, taken_at`` (ISO), ``complete`` (manifest exists), ``users``,
    ``groups``, ``memberships``, ``bytes``, ``format_version`` (from the manifest when complete, else None),
    ``size`` (the object's size), ``manifest_key``, and ``manifest_error`` when a manifest exists but
    cannot be read; ``imported`` (from the manifest) for a snapshot made by ``import-cbr``.
    """
    snapshots: dict[str, dict[str, Any]] = {}
    manifests: set[str] = set()
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                if _hidden(key, prefix):
                    continue
                if key.endswith(MANIFEST_SUFFIX):
                    manifests.add(key)
                elif is_snapshot_key(key):
                    parsed = parse_snapshot_key(key)
                    if parsed is None or (pool_name is not None and parsed["pool_name"] != pool_name):
                        continue
                    snapshots[key] = {
                        "key": key,
                        "pool_name": parsed["pool_name"],
                        "taken_at": parsed["taken_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "size": obj.get("Size"),
                        "manifest_key": manifest_key(key),
                    }
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchBucket":
            raise ConfigError(f"bucket {bucket!r} does not exist") from None
        raise
    entries = sorted(snapshots.values(), key=lambda e: (e["taken_at"], e["key"]), reverse=True)
    complete = [e for e in entries if e["manifest_key"] in manifests]

    def load(entry: dict[str, Any]) -> tuple[dict[str, Any], tuple]:
        return entry, _read_manifest(s3, bucket, entry["manifest_key"])

    for entry in entries:
        entry.update(complete=entry["manifest_key"] in manifests, users=None, groups=None, memberships=None,
                     bytes=None, format_version=None)
    with ThreadPoolExecutor(max_workers=MANIFEST_READERS) as pool:
        for entry, (manifest, error) in pool.map(load, complete):
            if manifest is None:
                entry["manifest_error"] = error
                continue
            for name in ("users", "groups", "memberships", "bytes", "format_version"):
                entry[name] = manifest.get(name)
            if manifest.get("imported"):
                entry["imported"] = manifest["imported"]
    return entries


def newest_complete(s3: Any, bucket: str, pool_name: str, prefix: str = "") -> dict[str, Any] | None:
    for entry in list_snapshots(s3, bucket, prefix=prefix, pool_name=pool_name):
        if entry["complete"] and "manifest_error" not in entry:
            return entry
    return None


def format_table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no snapshots"
    rows = [("taken at (UTC)", "pool", "complete", "users", "groups", "memberships", "bytes", "format", "key")]
    for e in entries:
        def num(v: Any) -> str:
            return f"{v:,}" if isinstance(v, int) else "-"
        complete = "yes" if e["complete"] and "manifest_error" not in e else (
            "BAD MANIFEST" if e["complete"] else "NO")
        if e.get("imported"):
            complete += " (imported)"
        rows.append((e["taken_at"], e["pool_name"], complete, num(e["users"]), num(e["groups"]),
                     num(e["memberships"]), num(e["bytes"]), num(e["format_version"]), e["key"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1]
                     for r in rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="the backup bucket")
    parser.add_argument("--pool-name", help="only the snapshots of this pool")
    parser.add_argument("--prefix", default="", help="the snapshot prefix in the bucket (default: none)")
    parser.add_argument("--limit", type=int, default=0, help="show at most N snapshots (default: all)")


def run(args: argparse.Namespace) -> int:
    from backup_lambda.aws import make_client
    from cognito_backup.output import emit

    entries = list_snapshots(make_client("s3"), args.bucket, prefix=args.prefix, pool_name=args.pool_name)
    if args.limit > 0:
        entries = entries[: args.limit]
    emit(args, {"status": "ok", "bucket": args.bucket, "snapshots": entries}, format_table(entries))
    return 0
