"""The benchmark: the original design's sequential loop versus our snapshot, side by side.

Every cell starts a stand-in Cognito (``stand_in_cognito.py``) with N synthetic users in groups of a
given shape, a latency per call and a UserList quota, runs one backup against it and a moto S3 server
as Lambda would (``harness.run_lambda_runs``: runs of 15 minutes, each a child process, ``engine.py``,
handing over to the next), then reads the snapshot back and checks it is exact (``harness.verify``).
Each process is separate, so the backup's peak RSS is its own.

    PYTHONPATH=. .venv/bin/python -m benchmarks.run            # the documented matrix (~80 min)
    PYTHONPATH=. .venv/bin/python -m benchmarks.run --quick    # a two-minute smoke run (prints only)

The results table goes to stdout and into docs/performance.md, between its "generated" markers (the
rest of that page is prose and stays). Large pools run on a faster clock (``--big-scale``): the
stand-in's latency divided by K, its quota and every rate limit of the snapshot multiplied by K;
the table converts the measurements back to the real clock and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3

from benchmarks import harness
from benchmarks.report import LAMBDA_S, Cell, derive, duration, generated, write_doc
from benchmarks.synthetic_pool import SyntheticPool, group_shape

DOC = harness.ROOT / "docs" / "performance.md"
HANDOVER_S = 60.0  # real clock: the engine's default
TOKEN_TTL_S = 3600.0  # real clock: pagination tokens live about an hour
# The rows of the group shapes, at budget 15 and 150 ms: (users, shape).
GROUP_ROWS = "100000:tenants:10000,100000:everyone:20,1000000:tenants:10000,10000:five"


def default_matrix(sizes: list[int], latencies: list[float], big: int, big_scale: float,
                   full_baseline: bool, throttled_quota: float, engines: tuple[str, ...],
                   group_rows: list[tuple[int, str]]) -> list[Cell]:
    cells = []
    for n in sizes:
        scale = big_scale if n >= big else 1.0
        for i, latency in enumerate(latencies):
            cells.append(Cell("snapshot", n, latency, scale))
            # The loop is latency-bound whatever the pool's size: on big pools one latency is enough
            # to measure its memory; its speed at the others is that of the smaller pools.
            if scale == 1.0 or full_baseline or i == 0:
                cells.append(Cell("original", n, latency, scale))
    if throttled_quota and sizes:
        cells.append(Cell("snapshot", sizes[0], 150, 1.0, quota=throttled_quota))
        cells.append(Cell("original", sizes[0], 150, 1.0, quota=throttled_quota))
    for n, shape in group_rows:
        cells.append(Cell("snapshot", n, 150, big_scale if n >= big else 1.0, groups=shape))
    return [c for c in cells if c.engine in engines]


def quick_matrix(engines: tuple[str, ...]) -> list[Cell]:
    """Small, and with Lambda runs of a few seconds so that the hand-overs are exercised too."""
    cells = [Cell("snapshot", 3000, 20), Cell("original", 3000, 20),
             Cell("snapshot", 3000, 150, quota=8), Cell("original", 3000, 150, quota=8),
             Cell("snapshot", 3000, 20, groups="tenants:60", lambda_s=5),
             Cell("snapshot", 3000, 50, groups="everyone:5", lambda_s=4)]
    return [c for c in cells if c.engine in engines]


def run_cell(cell: Cell, number: int, s3, s3_url: str, jitter: float) -> dict[str, Any]:
    pool = SyntheticPool(cell.users, groups=group_shape(cell.groups))
    bucket = f"bench-{number:03d}-{cell.engine}"
    s3.create_bucket(Bucket=bucket)
    lambda_s = cell.lambda_s / cell.scale  # the run's clock
    try:
        with harness.stand_in(cell.users, latency_ms=cell.latency_ms / cell.scale, jitter=jitter,
                              quota=cell.quota * cell.scale, groups=cell.groups,
                              token_ttl=TOKEN_TTL_S / cell.scale) as cognito:
            measured = harness.run_lambda_runs(
                cell.engine, harness.backup_env(cognito.endpoint_url, s3_url), pool_id=pool.pool_id, bucket=bucket,
                budget=cell.budget * cell.scale, rate_scale=cell.scale, lambda_s=lambda_s,
                handover_s=HANDOVER_S * lambda_s / LAMBDA_S)
            stats = harness.stand_in_stats(cognito.endpoint_url)
        check = harness.verify(s3, bucket, measured["key"], pool)
        if cell.engine == "snapshot":
            check["problems"] += harness.verify_manifest(s3, bucket, measured["manifest_key"], check)
            check["exact"] = check["exact"] and not check["problems"]
    finally:
        harness.empty_bucket(s3, bucket)
    return {"cell": asdict(cell), "measured": measured, "stand_in": stats, "check": check}


def parse_group_rows(text: str) -> list[tuple[int, str]]:
    rows = []
    for item in filter(None, text.split(",")):
        users, _, shape = item.partition(":")
        group_shape(shape)  # ValueError for a shape that does not exist
        rows.append((int(users), shape))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000",
                   help="pool sizes of the default groups, comma-separated (empty: none)")
    p.add_argument("--latencies", default="50,150,300", help="ms per call, comma-separated")
    p.add_argument("--big", type=int, default=1_000_000, help="pools of at least this many users run faster")
    p.add_argument("--big-scale", type=float, default=5.0, help="how much faster (K)")
    p.add_argument("--full-baseline", action="store_true",
                   help="run the original loop at every latency on big pools too (adds ~15 min)")
    p.add_argument("--throttled-quota", type=float, default=8.0,
                   help="also run the smallest pool at 150 ms with only this UserList quota left (0: skip)")
    p.add_argument("--group-rows", default=GROUP_ROWS,
                   help="rows of other group shapes at 150 ms, as users:shape,... (shapes: default, five, "
                        "tenants:N, everyone:K; empty: none)")
    p.add_argument("--jitter", type=float, default=0.1, help="latency varies by +- this fraction")
    p.add_argument("--engines", default="snapshot,original", help="which backups to run, comma-separated")
    p.add_argument("--block", default="matrix", help="the name of the generated block to replace in --output")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 3,000 users, tenant and everyone groups, hand-overs; printed only")
    p.add_argument("--output", type=Path, default=DOC, help="the page to write (default docs/performance.md)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--raw", type=Path, help="also write every measurement as JSON lines here")
    args = p.parse_args(argv)

    engines = tuple(args.engines.split(","))
    if not set(engines) <= {"snapshot", "original"}:
        p.error("--engines: snapshot, original or both, comma-separated")
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        latencies = [float(x) for x in args.latencies.split(",")]
        group_rows = parse_group_rows(args.group_rows)
    except ValueError as exc:
        p.error(f"--sizes, --latencies and --group-rows: {exc}")
    if not all(0 < n < 16**8 for n in sizes) or not all(x >= 0 for x in latencies) or args.big_scale <= 0:
        p.error("sizes must be 1 to 4,294,967,295 users, latencies >= 0 ms, --big-scale > 0")
    if args.quick:
        cells = quick_matrix(engines)
        args.no_write = True  # never replaces the real results
    else:
        cells = default_matrix(sizes, latencies, args.big, args.big_scale, args.full_baseline,
                               args.throttled_quota, engines, group_rows)
    command = "PYTHONPATH=. .venv/bin/python -m benchmarks.run" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    rows: list[dict[str, Any]] = []
    loads = [os.getloadavg()[0]]
    block = ""
    with harness.s3_server() as s3_server:
        s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
        for number, cell in enumerate(cells, 1):
            print(f"[{number}/{len(cells)}] {cell}", file=sys.stderr, flush=True)
            row = run_cell(cell, number, s3, s3_server.endpoint_url, args.jitter)
            loads.append(os.getloadavg()[0])
            rows.append(row)
            d = derive(row)
            print(f"    {duration(d['wall_s'])} in {d['runs']} run(s), {100 * d['of_ideal']:.1f}% of ideal, "
                  f"{100 * d['of_bound']:.1f}% of bound, {d['throttles']} throttled, "
                  f"peak RSS {d['peak_rss']:,.0f} MiB, exact: {d['exact']}", file=sys.stderr, flush=True)
            if args.raw:
                with args.raw.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            block = generated(rows, block=args.block, command=command, started=started,
                              elapsed=time.monotonic() - t0, loads=loads, total=len(cells), jitter=args.jitter)
            if not args.no_write:
                write_doc(args.output, args.block, block)
    print(block)
    return 0 if all(r["check"]["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
