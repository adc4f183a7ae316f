"""Invoke the deployed snapshot Lambda for one pool or all of a stack's pools, and report.

The "snapshot on demand" workflow runs this command. It calls the function synchronously
(RequestResponse) with the event ``{"user_pool_id", "pool_name"}`` of each pool, one pool after the
other (every run of the function draws on the same per-account Cognito quota, so pools are not
snapshotted in parallel), and reports for each: the snapshot key, its counts, and what changed since
the previous complete snapshot of that pool. With ``--summary`` (or ``$GITHUB_STEP_SUMMARY``) the
report is appended there as Markdown.

Where the pools and the function come from, one of:

- ``--stack-outputs FILE_OR_JSON --pool NAME|all``: the output of ``pulumi stack output --json``
  (``functionName``, ``bucketName``, ``pools``);
- ``--pools-json FILE_OR_JSON --pool NAME|all --function NAME``: a JSON list of ``{"id", "name"}``;
- ``--pool-id ID --pool-name NAME --function NAME``: one pool.

A pool too large for one 15-minute run answers ``{"status": "continued", "key", ...}``: the function
carries on asynchronously and writes the snapshot's manifest when the last run completes. The command
then waits for that manifest (``--wait-minutes``) and reports its counts; a snapshot that does not
complete in time is a failure.

Exit status: 0 when every pool's snapshot succeeded, 1 when any failed (the others still run and
are reported), 2 for a usage error such as an unknown pool.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from backup_lambda.aws import make_client
from backup_lambda.contract import ContinuedResult, SnapshotResult, result_from_json, snapshot_event
from backup_lambda.errors import ConfigError
from backup_lambda.snapshot_format import KEY_RE, manifest_key
from cognito_backup.invoke_report import (
    COUNTS,
    PoolResult,
    render_footer,
    render_header,
    render_pool,
    result_text,
    write_summary,
)
from cognito_backup.invoke_target import Pool, resolve_target
from cognito_backup.output import emit

# A snapshot may run for the Lambda maximum of 15 minutes; wait a minute longer for the answer.
INVOKE_READ_TIMEOUT_S = 960
# A synchronous invoke is never retried: a retry after a read timeout would start a second snapshot
# of the same pool while the first is still running.
INVOKE_TOTAL_ATTEMPTS = 1

# How long to wait for a snapshot that continues in the background, and how often to look.
DEFAULT_WAIT_MINUTES = 120
POLL_SECONDS = 20




# --------------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack-outputs", metavar="FILE_OR_JSON",
                        help="the output of `pulumi stack output --json`: functionName, bucketName, pools")
    source.add_argument("--pools-json", metavar="FILE_OR_JSON",
                        help='a JSON list of {"id": ..., "name": ...} (a file, or the JSON itself)')
    source.add_argument("--pool-id", help="the id of the one pool to snapshot (with --pool-name)")
    parser.add_argument("--pool-name", help="the name of the pool given by --pool-id")
    parser.add_argument("--pool", metavar="NAME|all",
                        help="with --stack-outputs or --pools-json: the pool to snapshot, or `all` "
                             "(every pool, even if one is named `all`: pick that one with --pool-id)")
    parser.add_argument("--function", help="the snapshot Lambda's name or ARN (default: functionName "
                                           "of --stack-outputs)")
    parser.add_argument("--bucket", help="the snapshot bucket, for the changes since the previous "
                                         "snapshot (default: bucketName of --stack-outputs)")
    parser.add_argument("--region", help="AWS region of the function (default: the pools' region, from their ids)")
    parser.add_argument("--wait-minutes", type=float, default=DEFAULT_WAIT_MINUTES, metavar="N",
                        help="how long to wait for a snapshot that continues in the background "
                             f"(default {DEFAULT_WAIT_MINUTES})")
    parser.add_argument("--summary", metavar="PATH",
                        help="append a Markdown report to this file (default: $GITHUB_STEP_SUMMARY, if set)")


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    summary_path = args.summary or os.environ.get("GITHUB_STEP_SUMMARY") or None
    if args.wait_minutes < 0:
        raise ConfigError("--wait-minutes must be 0 or more")
    region = args.region or target.region
    lam = lambda_client(region)
    clients: dict[str, Any] = {}

    def s3() -> Any:  # only made when a diff or a continued snapshot needs it
        if "s3" not in clients:
            clients["s3"] = s3_client(region)
        return clients["s3"]

    # The summary grows pool by pool, so that a long `all` run shows what is done if it is stopped.
    if summary_path:
        write_summary(summary_path, render_header(target.function, len(target.pools)))
    results = []
    for pool in target.pools:
        _progress(f"invoking {target.function} for pool {pool.name} ({pool.id}) ...")
        result = invoke_pool(lam, target.function, pool)
        bucket = target.bucket or result.bucket
        if result.status == "continued":
            wait_for_completion(result, s3() if bucket else None, bucket, args.wait_minutes * 60)
        if result.status == "ok":
            add_changes(result, s3() if bucket else None, bucket)
        results.append(result)
        _progress(result_text(result))
        if summary_path:
            write_summary(summary_path, render_pool(result))
    if summary_path:
        write_summary(summary_path, render_footer(results))

    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"error: pool {r.pool_name}: {r.error}", file=sys.stderr)
    emit(args, {"status": "failed" if failed else "ok", "function": target.function,
                "results": [asdict(r) for r in results]},
         f"{len(results) - len(failed)} of {len(results)} snapshot(s) succeeded")
    return 1 if failed else 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Invoking


def lambda_client_config() -> Config:
    return Config(
        read_timeout=INVOKE_READ_TIMEOUT_S,
        connect_timeout=10,
        tcp_keepalive=True,  # the connection idles for as long as the snapshot runs
        retries={"total_max_attempts": INVOKE_TOTAL_ATTEMPTS, "mode": "standard"},
    )


def lambda_client(region: str | None = None) -> Any:
    return boto3.Session().client("lambda", region_name=region, config=lambda_client_config())


def s3_client(region: str | None = None) -> Any:
    return make_client("s3", region)


def event_for(pool: Pool) -> dict[str, str]:
    """The snapshot Lambda's event for one pool."""
    return snapshot_event(pool.id, pool.name)


def invoke_pool(lam: Any, function: str, pool: Pool) -> PoolResult:
    """Invoke the function for one pool and read its answer; never raises for an AWS failure."""
    result = PoolResult(pool_name=pool.name, pool_id=pool.id, status="failed")
    try:
        response = lam.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            LogType="Tail",
            Payload=json.dumps(event_for(pool)).encode(),
        )
        raw = response["Payload"].read()
    except ReadTimeoutError:
        result.error_type = "ReadTimeout"
        result.error = (f"no answer from {function} within {INVOKE_READ_TIMEOUT_S} s; the function may "
                        "still be running: check its logs before trying again")
        return result
    except ClientError as exc:
        err = exc.response.get("Error", {})
        result.error_type = err.get("Code") or "ClientError"
        result.error = f"invoking {function} failed: {err.get('Code')}: {err.get('Message') or exc}"
        return result
    except BotoCoreError as exc:
        result.error_type = type(exc).__name__
        result.error = f"invoking {function} failed: {exc}"
        return result

    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
        if not response.get("FunctionError"):
            result.error_type = "BadPayload"
            result.error = f"{function} returned a payload that is not JSON: {raw[:200]!r}"
            return result

    if response.get("FunctionError"):
        details = payload if isinstance(payload, dict) else {}
        result.error_type = details.get("errorType") or response["FunctionError"]
        message = details.get("errorMessage") or (raw.decode("utf-8", "replace")[:500] if raw else "")
        result.error = f"{function} reported an error ({result.error_type}): {message or 'no message'}"
        _print_log_tail(response)
        return result

    status_code = response.get("StatusCode")
    if status_code != 200:
        result.error_type = "UnexpectedStatus"
        result.error = f"{function} answered with status code {status_code}, expected 200"
        return result
    try:
        answer = result_from_json(payload)
    except ValueError as exc:
        answer, problem = None, str(exc)
    if isinstance(answer, ContinuedResult):
        result.status, result.key, result.bucket = "continued", answer.key, answer.bucket
        return result
    if not isinstance(answer, SnapshotResult):
        result.error_type = "UnexpectedResult"
        status = payload.get("status") if isinstance(payload, dict) else None
        why = problem if answer is None else f"status {status!r}"
        result.error = (f"{function} did not report a completed snapshot ({why}; expected status 'ok' with "
                        f"the snapshot's key and counts): {json.dumps(payload, default=str)[:500]}")
        return result

    result.status = "ok"
    result.key = answer.key
    result.bucket = answer.bucket
    result.runs = answer.runs
    result.counts = {k: getattr(answer, k) for k in COUNTS}
    return result


def wait_for_completion(result: PoolResult, s3: Any, bucket: str | None, timeout_s: float) -> None:
    """A snapshot that continues in the background is complete when its manifest exists: wait for it,
    then take the counts from it. Not there in time: the pool failed."""
    if not bucket:
        result.status, result.error_type = "failed", "Continued"
        result.error = (f"the snapshot {result.key} continues in the background, but no bucket is known to "
                        "watch for its manifest (pass --bucket or --stack-outputs)")
        return
    key = manifest_key(result.key or "")
    deadline = time.monotonic() + timeout_s
    _progress(f"  {result.pool_name}: the snapshot continues in the background; waiting for s3://{bucket}/{key}")
    while True:
        try:
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("NoSuchKey", "404"):
                result.status, result.error_type = "failed", code or "ClientError"
                result.error = f"cannot read the manifest s3://{bucket}/{key}: {code}: {exc}"
                return
        except ValueError:
            result.status, result.error_type = "failed", "BadManifest"
            result.error = f"the manifest s3://{bucket}/{key} is not valid JSON"
            return
        if time.monotonic() + POLL_SECONDS > deadline:
            result.status, result.error_type = "failed", "ContinuationTimeout"
            result.error = (f"the snapshot {result.key} continued in the background and was not complete "
                            f"after {timeout_s / 60:g} minutes (no manifest yet): check the function's logs "
                            "and its failure queue; it may still complete")
            return
        time.sleep(POLL_SECONDS)
    result.status = "ok"
    result.counts = {k: manifest[k] for k in ("users", "groups", "memberships", "bytes") if k in manifest}
    result.runs = None  # more than one; the manifest does not say how many
    started, completed = _parse_time(manifest.get("taken_at")), _parse_time(manifest.get("completed_at"))
    if started and completed:
        result.counts["duration_s"] = (completed - started).total_seconds()


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _print_log_tail(response: dict) -> None:
    """The last 4 KB of the function's log for this invocation, to the job log (not the summary)."""
    encoded = response.get("LogResult")
    if not encoded:
        return
    try:
        tail = base64.b64decode(encoded).decode("utf-8", "replace")
    except ValueError:
        return
    print("---- end of the function's log ----", file=sys.stderr)
    print(tail.rstrip(), file=sys.stderr)
    print("----", file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# Changes since the previous snapshot


def snapshot_prefix(key: str) -> str:
    """The bucket prefix a snapshot key was written under (``<prefix>YYYY/MM/DD/<pool>_<stamp>.json``)."""
    match = KEY_RE.search(key)
    return key[: match.start()] if match else ""


def _tool(module: str, name: str) -> Any:
    """A function of the diff tooling, imported only when needed (the snapshot works without it)."""
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError as exc:
        raise ImportError(f"{module} cannot be imported ({exc})") from exc
    if not callable(found):
        raise ImportError(f"{module} has no {name}()")
    return found


def add_changes(result: PoolResult, s3: Any, bucket: str | None) -> None:
    """Fill ``result.changes`` from the diff with the previous complete snapshot, or say why not.

    A diff that cannot be made never fails the command: the snapshot itself succeeded.
    """
    if not bucket:
        result.changes_note = ("diff unavailable: no bucket (pass --bucket, "
                               "or --stack-outputs with bucketName)")
        return
    try:
        list_snapshots = _tool("cognito_backup.listing", "list_snapshots")
        diff_snapshots = _tool("cognito_backup.diff", "diff_snapshots")
    except ImportError as exc:
        result.changes_note = f"diff unavailable: {exc}"
        return
    try:
        snapshots = list_snapshots(s3, bucket, prefix=snapshot_prefix(result.key or ""),
                                   pool_name=result.pool_name)
        previous = next((s for s in snapshots if s.get("complete") and not s.get("manifest_error")
                         and s.get("key") != result.key), None)
        if previous is None:
            result.changes_note = "first complete snapshot of this pool: nothing to compare with"
            return
        result.previous_key = previous["key"]
        result.previous_taken_at = str(previous.get("taken_at") or "")
        # Only the summary is reported: keep the detail lists (usernames) to a minimum.
        diffed = diff_snapshots(f"s3://{bucket}/{previous['key']}", f"s3://{bucket}/{result.key}", s3=s3,
                                max_detail=1)
    except Exception as exc:  # any failure of the diff is reported, never fatal
        result.changes_note = f"diff unavailable: {type(exc).__name__}: {exc}"
        return
    summary = diffed.get("summary") if isinstance(diffed, dict) else None
    if not isinstance(summary, dict):
        result.changes_note = "diff unavailable: the diff returned no summary"
        return
    result.changes = summary


