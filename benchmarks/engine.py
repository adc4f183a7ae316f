"""Run one backup, the original design's or ours, in this process; print its measurements as JSON.

Started by the runner and the memory test as a child process, so that its peak RSS is the backup's
own (the stand-in Cognito and the S3 server run in other processes). The AWS endpoints come from the
environment (``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER``, ``AWS_ENDPOINT_URL_S3``), so both
engines build their clients exactly as they do in Lambda: ``make_client`` for ours (adaptive
retries), plain ``boto3.client`` for the original.

``--lambda-s L`` makes the run a Lambda run of L seconds (its ``deadline``; ``--handover-s`` is kept for the
hand-over): a snapshot that does not fit hands over and prints ``{"status": "continued",
"checkpoint_key"}``; the next run is this command again with ``--checkpoint-key``, a new process as a new
Lambda run is (``harness.run_engine`` does that until the snapshot is complete).

``--rate-scale K`` runs a faster clock: every rate limit of the snapshot (the request budget and the
other categories' shares) is multiplied by K, to match a stand-in whose quota is K times higher and
whose latency is K times lower. The engine's check that the budget stays <= 30 calls/s is lifted for
that (and only in this process).

    python -m benchmarks.engine snapshot --pool-id us-east-1_BenchPool1 --bucket b --budget 15
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def lift_rate_limits(scale: float) -> None:
    """Multiply every limiter rate of the snapshot engine by ``scale`` (a faster clock)."""
    from backup_lambda import pool_reader, snapshot

    def validate_budget(value: Any, field: str = "request_budget") -> float:
        budget = float(value)
        if not budget > 0:
            raise ValueError(f"{field} must be > 0")
        return budget

    snapshot.validate_budget = validate_budget
    pool_reader.DEFAULT_SHARE = {k: v * scale for k, v in pool_reader.DEFAULT_SHARE.items()}


def run_snapshot(args: argparse.Namespace, marks: dict[str, float]) -> dict[str, Any]:
    from backup_lambda.aws import make_client
    from backup_lambda.checkpoint import load_checkpoint
    from backup_lambda.snapshot import resume_snapshot, take_snapshot

    if args.rate_scale != 1:
        lift_rate_limits(args.rate_scale)

    def progress(event: dict[str, Any]) -> None:
        marks.setdefault(event.get("phase", "?"), time.perf_counter())

    def deadline() -> float:
        return args.lambda_s - (time.perf_counter() - marks["start"])

    cognito, s3 = make_client("cognito-idp"), make_client("s3")
    common: dict[str, Any] = {"workers": args.workers, "progress": progress,
                              "deadline": deadline if args.lambda_s else None, "handover_s": args.handover_s}
    marks["start"] = time.perf_counter()
    if args.checkpoint_key:
        result = resume_snapshot(cognito, s3, load_checkpoint(s3, args.bucket, args.checkpoint_key), **common)
    else:
        result = take_snapshot(cognito, s3, user_pool_id=args.pool_id, bucket=args.bucket,
                               request_budget=args.budget, **common)
    if result.status == "continued":
        return {"status": "continued", "checkpoint_key": result.checkpoint_key, "key": result.key,
                "users": result.users}
    return {"status": "ok", **{k: getattr(result, k) for k in (
        "key", "manifest_key", "users", "groups", "memberships", "bytes", "throttles", "calls", "sha256", "runs")}}


def run_original(args: argparse.Namespace, marks: dict[str, float]) -> dict[str, Any]:
    import boto3

    from benchmarks import original_design

    cognito, s3 = boto3.client("cognito-idp"), boto3.client("s3")
    marks["start"] = time.perf_counter()
    result = original_design.lambda_handler({}, None, cognito=cognito, s3=s3, user_pool_id=args.pool_id,
                                            bucket=args.bucket)
    return {"status": "ok", "key": result["key"], "runs": 1}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one backup and print its measurements as JSON.")
    p.add_argument("engine", choices=["snapshot", "original"])
    p.add_argument("--pool-id", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--budget", type=float, default=15.0, help="the snapshot's request budget (calls/s)")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--rate-scale", type=float, default=1.0)
    p.add_argument("--lambda-s", type=float, default=0.0, help="this run's Lambda time (s, its clock; 0: no limit)")
    p.add_argument("--handover-s", type=float, default=60.0, help="hand over when less than this is left")
    p.add_argument("--checkpoint-key", help="carry on the snapshot this checkpoint describes")
    args = p.parse_args(argv)

    import boto3  # noqa: F401 - imported before the first RSS reading: it is not the backup's memory

    import backup_lambda.snapshot  # noqa: F401

    rss_before = _rss_mib()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    marks: dict[str, float] = {}
    run = run_snapshot if args.engine == "snapshot" else run_original
    out = run(args, marks)
    end = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update({
        "engine": args.engine,
        "wall_s": end - marks["start"],
        "ended_at": time.time(),
        "started_at": time.time() - (end - marks["start"]),
        "cpu_s": (usage.ru_utime - cpu_before.ru_utime) + (usage.ru_stime - cpu_before.ru_stime),
        "rss_before_mib": rss_before,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
        "phases_s": {k: v - marks["start"] for k, v in marks.items() if k != "start"},
    })
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
