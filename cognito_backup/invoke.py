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
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from backup_lambda.aws import make_client
from backup_lambda.contract import snapshot_event
from backup_lambda.errors import ConfigError
from backup_lambda.snapshot_format import KEY_RE, manifest_key
from cognito_backup.output import emit

# A snapshot may run for the Lambda maximum of 15 minutes; wait a minute longer for the answer.
INVOKE_READ_TIMEOUT_S = 960
# A synchronous invoke is never retried: a retry after a read timeout would start a second snapshot
# of the same pool while the first is still running.
INVOKE_TOTAL_ATTEMPTS = 1

# How long to wait for a snapshot that continues in the background, and how often to look.
DEFAULT_WAIT_MINUTES = 120
POLL_SECONDS = 20

# What the report shows of the function's result.
COUNTS = ("users", "groups", "memberships", "bytes", "duration_s")

# The diff summary's counters, in the order (and with the labels) the report shows them.
DIFF_COUNTERS = (
    ("users_added", "users added"),
    ("users_removed", "users removed"),
    ("users_changed", "users changed"),
    ("memberships_gained", "memberships gained"),
    ("memberships_lost", "memberships lost"),
    ("groups_added", "groups added"),
    ("groups_removed", "groups removed"),
    ("groups_changed", "groups changed"),
)
CHANGED_FIELDS_SHOWN = 10


@dataclass(frozen=True)
class Pool:
    id: str
    name: str


@dataclass
class Target:
    """What to invoke: the function, the pools, and (for the diff) the snapshot bucket."""

    function: str
    pools: list[Pool]
    bucket: str | None = None

    @property
    def region(self) -> str | None:
        """The pools' region (a pool id starts with it), where the stack's function and bucket live."""
        regions = {pool.id.split("_", 1)[0] for pool in self.pools}
        return regions.pop() if len(regions) == 1 else None


@dataclass
class PoolResult:
    pool_name: str
    pool_id: str
    status: str  # "ok" or "failed" ("continued" while the function carries on in the background)
    key: str | None = None
    runs: int | None = 1  # Lambda runs the snapshot took (None: several, count unknown)
    bucket: str | None = None  # where the function said it writes (a continued snapshot's answer)
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    previous_key: str | None = None
    previous_taken_at: str | None = None
    changes: dict[str, Any] | None = None
    changes_note: str | None = None  # why there are no changes to show


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
# What to invoke


def load_json_arg(value: str, flag: str) -> Any:
    """The JSON given to ``flag``: the text itself if it looks like JSON, else the file it names."""
    text = value.strip()
    origin = f"{flag} (inline JSON)"
    if not text.startswith(("{", "[")):
        path = Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{flag}: cannot read {value!r}: {exc.strerror or exc}") from exc
        origin = f"{flag} {value}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}") from exc


def parse_pools(value: Any, origin: str) -> list[Pool]:
    """A list of ``{"id", "name"}`` objects, checked: each pool named once, ids and names non-empty."""
    if not isinstance(value, list):
        raise ConfigError(f"{origin}: pools must be a JSON list of {{\"id\", \"name\"}}, "
                          f"got {type(value).__name__}")
    pools: list[Pool] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{origin}: pools[{i}] must be an object with id and name")
        pool_id, name = item.get("id"), item.get("name")
        if not isinstance(pool_id, str) or not pool_id or not isinstance(name, str) or not name:
            raise ConfigError(f"{origin}: pools[{i}] needs a non-empty string id and name, got {item!r}")
        pools.append(Pool(id=pool_id, name=name))
    names = [p.name for p in pools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{origin}: pool names must be unique; repeated: {', '.join(duplicates)}")
    return pools


def select_pools(pools: list[Pool], wanted: str | None, origin: str) -> list[Pool]:
    """``all`` pools, or the one named ``wanted``; an unknown name is an error that lists the known.

    ``all`` always means every pool, even when one of them is named ``all``.
    """
    if not wanted:
        raise ConfigError(f"--pool is required with {origin}: a pool name or `all`")
    if not pools:
        raise ConfigError(f"{origin} lists no pools")
    if wanted == "all":
        return list(pools)
    for pool in pools:
        if pool.name == wanted:
            return [pool]
    known = ", ".join(p.name for p in pools)
    raise ConfigError(f"unknown pool {wanted!r}: {origin} knows {known} (or `all`)")


def resolve_target(args: argparse.Namespace) -> Target:
    function, bucket = args.function, args.bucket
    if args.pool_name and not args.pool_id:
        raise ConfigError("--pool-name goes with --pool-id; to pick a pool from a list, use --pool")
    if args.pool_id:
        if not args.pool_name:
            raise ConfigError("--pool-id needs --pool-name (the name the snapshot is filed under)")
        if args.pool:
            raise ConfigError("--pool selects from --stack-outputs or --pools-json; with --pool-id, "
                              "give --pool-name only")
        pools = [Pool(id=args.pool_id, name=args.pool_name)]
    elif args.pools_json:
        pools = select_pools(parse_pools(load_json_arg(args.pools_json, "--pools-json"), "--pools-json"),
                             args.pool, "--pools-json")
    else:
        outputs = load_json_arg(args.stack_outputs, "--stack-outputs")
        origin = "--stack-outputs"
        if not isinstance(outputs, dict):
            raise ConfigError(f"{origin} must be the JSON object of `pulumi stack output --json`")
        if "pools" not in outputs:
            found = ", ".join(sorted(outputs)) or "none"
            raise ConfigError(f"{origin} has no `pools` output (outputs: {found}); "
                              "has the stack been deployed?")
        pools = select_pools(parse_pools(outputs["pools"], origin), args.pool, origin)
        function = function or _string_output(outputs, "functionName", origin)
        bucket = bucket or _string_output(outputs, "bucketName", origin, required=False)
    if not function:
        raise ConfigError("no function to invoke: pass --function, or --stack-outputs with functionName")
    return Target(function=function, pools=pools, bucket=bucket)


def _string_output(outputs: dict, name: str, origin: str, required: bool = True) -> str | None:
    value = outputs.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or value == "[secret]":
        raise ConfigError(f"{origin}: output {name!r} must be a plain string, got {value!r}")
    return value


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
    if isinstance(payload, dict) and payload.get("status") == "continued" and payload.get("key"):
        result.status = "continued"
        result.key = payload["key"]
        result.bucket = payload.get("bucket")
        return result
    if not isinstance(payload, dict) or payload.get("status") != "ok" or not payload.get("key"):
        result.error_type = "UnexpectedResult"
        status = payload.get("status") if isinstance(payload, dict) else None
        result.error = (f"{function} did not report a completed snapshot (status {status!r}, "
                        f"expected 'ok' with a key): {json.dumps(payload, default=str)[:500]}")
        return result

    result.status = "ok"
    result.key = payload["key"]
    result.bucket = payload.get("bucket")
    result.runs = payload.get("runs") or 1
    result.counts = {k: payload[k] for k in COUNTS if k in payload}
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


# --------------------------------------------------------------------------------------------------
# Reporting


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _code(text: str) -> str:
    """Inline code that survives any text: backticks become quotes, newlines become spaces."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def result_text(r: PoolResult) -> str:
    if r.status != "ok":
        return f"{r.pool_name} ({r.pool_id}): FAILED: {r.error}"
    counts = ", ".join(f"{_count(r.counts[k])} {k}" for k in COUNTS[:3] if k in r.counts)
    line = f"{r.pool_name} ({r.pool_id}): ok, {counts} -> {r.key}"
    if r.changes is not None:
        changed = [f"{_count(r.changes[k])} {label}" for k, label in DIFF_COUNTERS if r.changes.get(k)]
        sections = r.changes.get("config_changed") or []
        if sections:
            changed.append("configuration: " + ", ".join(map(str, sections)))
        line += f"\n  since {r.previous_key}: " + ("; ".join(changed) or "no changes")
    elif r.changes_note:
        line += f"\n  {r.changes_note}"
    return line


def render_header(function: str, pools: int) -> str:
    return f"## Snapshot on demand\n\nFunction {_code(function)}, {pools} pool(s).\n\n"


def render_footer(results: list[PoolResult]) -> str:
    ok = sum(r.status == "ok" for r in results)
    mark = ":white_check_mark:" if ok == len(results) else ":x:"
    return f"{mark} **{ok} of {len(results)} snapshot(s) succeeded.**\n\n"


def render_markdown(function: str, results: list[PoolResult]) -> str:
    """The whole report, as the summary file holds it at the end of a run."""
    return (render_header(function, len(results)) + "".join(render_pool(r) for r in results)
            + render_footer(results))


def render_pool(r: PoolResult) -> str:
    return "\n".join(_render_pool(r)) + "\n"


def _render_pool(r: PoolResult) -> list[str]:
    if r.status != "ok":
        return [f"### :x: {_code(r.pool_name)} ({_code(r.pool_id)}) failed", "",
                f"**{r.error_type or 'Error'}**: {_code(r.error or 'no message')}", ""]
    runs = "" if r.runs == 1 else f", taken over {r.runs or 'several'} Lambda runs"
    lines = [f"### :white_check_mark: {_code(r.pool_name)} ({_code(r.pool_id)})", "",
             f"Snapshot {_code(r.key or '')}{runs}", "",
             "| users | groups | memberships | bytes | duration |", "|---:|---:|---:|---:|---:|",
             "| " + " | ".join(_count(r.counts.get(k, "?")) for k in COUNTS[:4])
             + f" | {_duration(r.counts.get('duration_s'))} |", ""]
    if r.changes is None:
        lines += [f"Changes since the previous snapshot: {r.changes_note}", ""]
        return lines
    when = f" ({r.previous_taken_at})" if r.previous_taken_at else ""
    lines += [f"Changes since {_code(r.previous_key or '')}{when}:", ""]
    c = r.changes
    if c.get("identical") is True:
        return [*lines, "No changes: users, memberships, groups and configuration are the same.", ""]
    columns = [(k, label) for k, label in DIFF_COUNTERS if k in c]
    if columns:
        lines += ["| " + " | ".join(label for _, label in columns) + " |",
                  "|" + "---:|" * len(columns),
                  "| " + " | ".join(_count(c[k]) for k, _ in columns) + " |", ""]
    fields = c.get("changed_fields")
    if isinstance(fields, dict) and fields:
        shown = list(fields.items())[:CHANGED_FIELDS_SHOWN]
        more = f", and {len(fields) - len(shown)} more" if len(fields) > len(shown) else ""
        lines += ["Changed user fields: " + ", ".join(f"{_code(k)} ({_count(v)})" for k, v in shown) + more, ""]
    sections = c.get("config_changed") or []
    lines += [("Configuration changed: " + ", ".join(_code(s) for s in sections)) if sections
              else "Configuration: unchanged", ""]
    if c.get("not_compared"):
        lines += ["Not compared: " + ", ".join(_code(s) for s in c["not_compared"]), ""]
    return lines


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "?"
    minutes, secs = divmod(float(seconds), 60)
    return f"{int(minutes)} min {secs:.0f} s" if minutes else f"{secs:.1f} s"


def write_summary(path: str, markdown: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    except OSError as exc:
        raise ConfigError(f"--summary: cannot append to {path!r}: {exc.strerror or exc}") from exc
