"""The benchmark: the original design's sequential loop versus our snapshot, side by side.

Every cell starts a stand-in Cognito (``stand_in_cognito.py``) with N synthetic users, a latency per
call and a UserList quota, runs one backup in a child process (``engine.py``) against it and a moto S3
server, then reads the snapshot back and checks it is exact (``harness.verify``). Each process is
separate, so the backup's peak RSS is its own.

    PYTHONPATH=. .venv/bin/python -m benchmarks.run            # the documented matrix (~40 min)
    PYTHONPATH=. .venv/bin/python -m benchmarks.run --quick    # a one-minute smoke run (prints only)

The results table goes to stdout and into docs/performance.md, between its "generated" markers (the
rest of that page is prose and stays). Large pools run on a faster clock (``--big-scale``): the
stand-in's latency divided by K, its quota and every rate limit of the snapshot multiplied by K;
the table converts the measurements back to the real clock and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore
import moto

from benchmarks import harness
from benchmarks.synthetic_pool import SyntheticPool

PAGE = 60
DOC = harness.ROOT / "docs" / "performance.md"


def markers(block: str) -> tuple[str, str]:
    return f"<!-- BEGIN GENERATED {block}: python -m benchmarks.run -->", f"<!-- END GENERATED {block} -->"


@dataclass(frozen=True)
class Cell:
    engine: str  # "original" or "snapshot"
    users: int
    latency_ms: float  # per call, on the real clock
    scale: float = 1.0  # K: the run's clock is K times faster (latency / K, quota and budget x K)
    quota: float = 30.0  # the UserList calls/s the account leaves to the backup (real clock)
    budget: float = 15.0  # the snapshot's request budget (real clock)

    @property
    def ideal(self) -> float:
        """Users/s if every call of the budget listed a full page of new users."""
        return self.budget * PAGE


def default_matrix(sizes: list[int], latencies: list[float], big: int, big_scale: float,
                   full_baseline: bool, throttled_quota: float, engines: tuple[str, ...]) -> list[Cell]:
    cells = []
    for n in sizes:
        scale = big_scale if n >= big else 1.0
        for i, latency in enumerate(latencies):
            cells.append(Cell("snapshot", n, latency, scale))
            # The loop is latency-bound whatever the pool's size: on big pools one latency is enough
            # to measure its memory; its speed at the others is that of the smaller pools.
            if scale == 1.0 or full_baseline or i == 0:
                cells.append(Cell("original", n, latency, scale))
    if throttled_quota:
        cells.append(Cell("snapshot", sizes[0], 150, 1.0, quota=throttled_quota))
        cells.append(Cell("original", sizes[0], 150, 1.0, quota=throttled_quota))
    return [c for c in cells if c.engine in engines]


def run_cell(cell: Cell, number: int, s3, s3_url: str, jitter: float) -> dict[str, Any]:
    pool = SyntheticPool(cell.users)
    bucket = f"bench-{number:03d}-{cell.engine}"
    s3.create_bucket(Bucket=bucket)
    try:
        with harness.stand_in(cell.users, latency_ms=cell.latency_ms / cell.scale, jitter=jitter,
                              quota=cell.quota * cell.scale) as cognito:
            measured = harness.run_engine(cell.engine, harness.backup_env(cognito.endpoint_url, s3_url),
                                          pool_id=pool.pool_id, bucket=bucket, budget=cell.budget * cell.scale,
                                          rate_scale=cell.scale)
            stats = harness.stand_in_stats(cognito.endpoint_url)
        check = harness.verify(s3, bucket, measured["key"], pool)
        if cell.engine == "snapshot":
            check["problems"] += harness.verify_manifest(s3, bucket, measured["manifest_key"], check)
            check["exact"] = check["exact"] and not check["problems"]
    finally:
        harness.empty_bucket(s3, bucket)
    return {"cell": asdict(cell), "measured": measured, "stand_in": stats, "check": check}


# -- the table ---------------------------------------------------------------------------------------


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the table, on the real clock."""
    cell, m, st, check = Cell(**row["cell"]), row["measured"], row["stand_in"], row["check"]
    wall = m["wall_s"] * cell.scale
    calls = st["calls"]
    user_list = calls.get("ListUsers", 0) + calls.get("ListUsersInGroup", 0)
    out = {
        "wall_s": wall,
        "users_per_s": cell.users / wall,
        "of_ideal": cell.users / wall / cell.ideal,
        "calls_per_s": user_list / wall,
        "list_users": calls.get("ListUsers", 0),
        "list_users_in_group": calls.get("ListUsersInGroup", 0),
        "throttles": st["throttles"],
        "peak_rss": m["peak_rss_mib"],
        "cpu_share": m["cpu_s"] / m["wall_s"],
        "listing_users_per_s": None,
    }
    phases = m.get("phases_s") or {}
    if "users" in phases and "uploading" in phases:
        out["listing_users_per_s"] = cell.users / ((phases["uploading"] - phases["users"]) * cell.scale)
    if check["exact"]:
        out["exact"] = "yes" if check["memberships"] == "exact" else f"users yes; memberships {check['memberships']}"
    else:
        out["exact"] = "NO: " + "; ".join(check["problems"] or [check["memberships"]])
    return out


def _latency(cell: Cell) -> str:
    text = f"{cell.latency_ms:g} ms"
    return text if cell.scale == 1 else f"{text} (run: {cell.latency_ms / cell.scale:g} ms, x{cell.scale:g} clock)"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| users | latency | quota left to the backup | engine | time | users/s | % of ideal | "
            "listing phase users/s | UserList calls/s (budget 15) | ListUsers + ListUsersInGroup calls | "
            "throttled | peak RSS | CPU (of one core) | exact |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        cell, d = Cell(**row["cell"]), derive(row)
        listing = f"{d['listing_users_per_s']:,.0f}" if d["listing_users_per_s"] else "-"
        engine = "snapshot" if cell.engine == "snapshot" else "original loop"
        lines.append(
            f"| {cell.users:,} | {_latency(cell)} | {cell.quota:g}/s | {engine} | {_duration(d['wall_s'])} | "
            f"{d['users_per_s']:,.0f} | {100 * d['of_ideal']:.1f}% | {listing} | "
            f"{d['calls_per_s']:.1f} ({100 * d['calls_per_s'] / cell.budget:.0f}%) | "
            f"{d['list_users']:,} + {d['list_users_in_group']:,} | {d['throttles']:,} | "
            f"{d['peak_rss']:,.0f} MiB | {100 * d['cpu_share']:.0f}% | {d['exact']} |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return (f"{cpu}, {os.cpu_count()} cores, {mem / 2**20:.0f} GiB; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, boto3 {boto3.__version__}, botocore {botocore.__version__}, "
            f"moto {moto.__version__}")


def generated(rows: list[dict[str, Any]], *, block: str, command: str, started: datetime, elapsed: float,
              loads: list[float], total: int, jitter: float) -> str:
    begin, end = markers(block)
    status = "" if len(rows) == total else f"\n**Incomplete: {len(rows)} of {total} cells so far.**\n"
    return f"""{begin}
Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.0f} min, with `{command}`
on {machine()}. Load average during the run: {min(loads):.1f} to {max(loads):.1f}
(the machine was shared). Latency per call: as listed, +-{100 * jitter:g}% uniform.
{status}
{table(rows)}
{end}"""


def write_doc(path: Path, name: str, block: str) -> None:
    """Replace the generated block ``name`` in ``path`` (or append it): the prose around it stays."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = (text or "# Performance\n\n") + "\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="pool sizes, comma-separated")
    p.add_argument("--latencies", default="50,150,300", help="ms per call, comma-separated")
    p.add_argument("--big", type=int, default=1_000_000, help="pools of at least this many users run faster")
    p.add_argument("--big-scale", type=float, default=5.0, help="how much faster (K)")
    p.add_argument("--full-baseline", action="store_true",
                   help="run the original loop at every latency on big pools too (adds ~15 min)")
    p.add_argument("--throttled-quota", type=float, default=8.0,
                   help="also run the smallest pool at 150 ms with only this UserList quota left (0: skip)")
    p.add_argument("--jitter", type=float, default=0.1, help="latency varies by +- this fraction")
    p.add_argument("--engines", default="snapshot,original", help="which backups to run, comma-separated")
    p.add_argument("--block", default="matrix", help="the name of the generated block to replace in --output")
    p.add_argument("--quick", action="store_true", help="a smoke run: 3,000 users, 20 ms, printed only")
    p.add_argument("--output", type=Path, default=DOC, help="the page to write (default docs/performance.md)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--raw", type=Path, help="also write every measurement as JSON lines here")
    args = p.parse_args(argv)

    engines = tuple(args.engines.split(","))
    if not set(engines) <= {"snapshot", "original"}:
        p.error("--engines: snapshot, original or both, comma-separated")
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
        latencies = [float(x) for x in args.latencies.split(",")]
    except ValueError:
        p.error("--sizes and --latencies take comma-separated numbers, e.g. --sizes 10000,100000")
    if not all(0 < n < 16**8 for n in sizes) or not all(x >= 0 for x in latencies) or args.big_scale <= 0:
        p.error("sizes must be 1 to 4,294,967,295 users, latencies >= 0 ms, --big-scale > 0")
    if args.quick:
        cells = default_matrix([3000], [20], 10**9, 1, False, 8, engines)
        args.no_write = True  # never replaces the real results
    else:
        cells = default_matrix(sizes, latencies, args.big, args.big_scale, args.full_baseline,
                               args.throttled_quota, engines)
    command = "PYTHONPATH=. .venv/bin/python -m benchmarks.run" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    rows: list[dict[str, Any]] = []
    loads = [os.getloadavg()[0]]
    with harness.s3_server() as s3_server:
        s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
        for number, cell in enumerate(cells, 1):
            print(f"[{number}/{len(cells)}] {cell}", file=sys.stderr, flush=True)
            row = run_cell(cell, number, s3, s3_server.endpoint_url, args.jitter)
            loads.append(os.getloadavg()[0])
            rows.append(row)
            d = derive(row)
            print(f"    {_duration(d['wall_s'])}, {d['users_per_s']:,.0f} users/s ({100 * d['of_ideal']:.1f}% of "
                  f"ideal), {d['throttles']} throttled, peak RSS {d['peak_rss']:,.0f} MiB, exact: {d['exact']}",
                  file=sys.stderr, flush=True)
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
