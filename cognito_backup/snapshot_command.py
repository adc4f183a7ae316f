"""Take a snapshot of a user pool into S3, from a laptop or CI: the Lambda's own code path.

Uses the standard AWS environment (profile, region, AWS_ENDPOINT_URL). To try it without an AWS account,
`python3 tasks.py emulator` runs a local moto server with the Cognito calls moto lacks filled in, and
prints the AWS_ENDPOINT_URL and credentials to export (a stock moto_server fails the snapshot).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backup_lambda.aws import make_client
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.snapshot import take_snapshot
from backup_lambda.validation import (
    validate_attributes,
    validate_bucket,
    validate_budget,
    validate_kms_key,
    validate_pool_name,
    validate_prefix,
    validate_user_pool_id,
)
from cognito_backup.output import emit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-pool-id", required=True, help="e.g. eu-west-1_AbC123")
    p.add_argument("--bucket", required=True, help="the snapshot bucket")
    p.add_argument("--pool-name", help="name used in the key (default: the pool's own name)")
    p.add_argument("--prefix", default="", help="key prefix, e.g. backups/ (default: none)")
    p.add_argument("--kms-key-id", help="write with SSE-KMS under this key")
    p.add_argument("--exclude-attributes", default="", help="attribute names left out, e.g. custom:ssn,phone_number")
    p.add_argument("--request-budget", type=float, default=DEFAULT_REQUEST_BUDGET,
                   help=f"ListUsers/ListUsersInGroup calls per second (default {DEFAULT_REQUEST_BUDGET:g})")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


# What the snapshot is doing, by the phase an event names; the counts say what has been read so far. Keyed
# off each event's own fields, whatever order the engine reports phases in. Users, groups with their members
# and the configuration are read at once (format 2), then the groups and the configuration are written.
ACTIVITIES = {
    "users": "reading users, groups and their members",
    "writing": "writing the groups and the configuration",
    "uploading": "completing the upload",
    "continued": "handing over to the next run (checkpoint saved)",
}
COUNTED = ("users", "groups", "memberships")


def progress_line(event: dict[str, Any]) -> str | None:
    """One progress line for an engine event, or None for an event a person need not see."""
    phase = event.get("phase")
    if phase == "config":
        return f"reading the configuration of {event.get('pool_name')}"
    if phase == "done":
        return f"done: s3://{event['bucket']}/{event['key']}"
    counts = [f"{event[name]:,} {name}" for name in COUNTED if isinstance(event.get(name), int)]
    if phase not in ACTIVITIES and not counts:
        return None
    line = ACTIVITIES.get(phase, str(phase))
    if counts:
        line += f" (read so far: {', '.join(counts)})"
    if "elapsed_s" in event:
        line += f", {event['elapsed_s']} s, {event.get('throttles', 0)} throttles"
    return line


def _printer(quiet: bool):
    def show(event: dict[str, Any]) -> None:
        line = None if quiet else progress_line(event)
        if line:
            print(line, file=sys.stderr, flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    bucket = validate_bucket(args.bucket, "--bucket")
    kms = validate_kms_key(args.kms_key_id, "--kms-key-id")
    excluded = validate_attributes(args.exclude_attributes, "--exclude-attributes")
    validate_user_pool_id(args.user_pool_id, "--user-pool-id")
    if args.pool_name is not None:
        validate_pool_name(args.pool_name, "--pool-name")
    validate_prefix(args.prefix, "--prefix")
    validate_budget(args.request_budget, "--request-budget")
    result = take_snapshot(
        make_client("cognito-idp"), make_client("s3"),
        user_pool_id=args.user_pool_id, bucket=bucket, pool_name=args.pool_name, prefix=args.prefix,
        kms_key_id=kms, exclude_attributes=excluded, request_budget=args.request_budget,
        progress=_printer(args.quiet),
    )
    text = (f"snapshot s3://{bucket}/{result.key}\n"
            f"  {result.users:,} users, {result.groups:,} groups, {result.memberships:,} memberships, "
            f"{result.bytes:,} bytes in {result.duration_s} s (sha256 {result.sha256[:16]}...)")
    emit(args, result.to_json(), text)
    return 0
