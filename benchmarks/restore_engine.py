"""One restore, in a process of its own, against the restore stand-in (``restore_stand_in.py``); its report (the
phases, the quota use, the time to recovery) and the progress records as one JSON line on stdout.

    python -m benchmarks.restore_engine SNAPSHOT --users-via admin-create|import [--rate-scale K]

``--rate-scale K`` runs a faster clock: every quota share of the restore is multiplied by K (the stand-in's
quotas are too), the import jobs are polled K times as often; the caller multiplies the times by K. The import
CSV goes to the stand-in's pre-signed URL, which is plain HTTP on localhost: the restore's own uploader refuses
anything but https, so the benchmark gives its own (the same PUT).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from typing import Any

ACCOUNT = "123456789012"  # the stand-in's account (its pool ARNs), which it does not answer for on STS
IMPORT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cognito-import-logs"


def lift_rate_limits(scale: float) -> None:
    """Multiply every quota the restore's limiters are built from by ``scale`` (a faster clock)."""
    from cognito_backup.restore import calls

    calls.QUOTA_RPS = {k: v * scale for k, v in calls.QUOTA_RPS.items()}
    calls.PER_POOL_OPERATION_LIMIT *= scale


def http_put(url: str, path: str) -> None:
    """The CSV to the stand-in's pre-signed URL (http, localhost)."""
    if not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"the benchmark uploads to the stand-in only, not to {url}")
    with open(path, "rb") as body:
        request = urllib.request.Request(url, data=body.read(), method="PUT",  # noqa: S310 - localhost
                                         headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - localhost
            if response.status >= 300:
                raise RuntimeError(f"upload refused: HTTP {response.status}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("snapshot")
    p.add_argument("--users-via", choices=("admin-create", "import"), required=True)
    p.add_argument("--rate-scale", type=float, default=1.0)
    p.add_argument("--rate-fraction", type=float, default=None)
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args(argv)
    if args.rate_scale <= 0:
        p.error("--rate-scale must be > 0")
    lift_rate_limits(args.rate_scale)

    from backup_lambda.aws import make_client
    from cognito_backup.restore.options import DEFAULT_RATE_FRACTION, DEFAULT_WORKERS, RestoreOptions
    from cognito_backup.restore.runner import restore_snapshot
    from cognito_backup.signatures import Trust

    records: list[dict[str, Any]] = []
    lines: list[str] = []
    verbose = bool(os.environ.get("BENCH_VERBOSE"))

    def say(line: str) -> None:
        lines.append(line)
        if verbose:
            print(line, file=sys.stderr, flush=True)
    workers = args.workers or DEFAULT_WORKERS
    with tempfile.TemporaryDirectory(prefix="restore-bench-") as work:
        options = RestoreOptions(
            snapshot=args.snapshot, new_pool_name=f"bench-{os.getpid()}", users_via=args.users_via,
            import_role_arn=IMPORT_ROLE if args.users_via == "import" else None,
            rate_fraction=args.rate_fraction or DEFAULT_RATE_FRACTION, workers=workers, work_dir=work,
            import_poll_interval=10.0 / args.rate_scale, mapping_file=os.path.join(work, "mapping.json"),
            # The benchmark's snapshot is written by restore_pool.py, not by a stack's function: nothing signs it.
            trust=Trust(allow_unsigned=True, warn=False))
        cognito = make_client("cognito-idp", max_pool_connections=max(32, 6 * workers))
        started = time.monotonic()
        report = restore_snapshot(cognito, None, options, progress=say, records=records.append,
                                  uploader=http_put, account=lambda: ACCOUNT)
        wall = time.monotonic() - started
    print(json.dumps({"wall_s": wall, "status": report["status"], "failures": report.get("failures"),
                      "elapsed_s": report.get("elapsed_s"), "phases": report.get("phases"),
                      "quota": report.get("quota"), "steps": report.get("steps"),
                      "progress_records": len(records), "progress_lines": sum(1 for x in lines if "left" in x),
                      "rate_fraction": options.rate_fraction}, default=str))
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
