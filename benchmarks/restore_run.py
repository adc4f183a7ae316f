"""The restore benchmark: time to recovery of a pool of N users, by both user paths, against the write quotas.

Every row writes a synthetic format-2 snapshot (``restore_pool.py``: N users, 1 or 3 memberships each, 2%
disabled), starts the restore stand-in (``restore_stand_in.py``: a token bucket per quota category answering
TooManyRequestsException, a latency per call, import jobs at a given rate) in a process of its own, runs one
restore into a new pool in another (``restore_engine.py``), then checks that the stand-in's pool holds exactly
the snapshot's users, memberships and disabled users.

    PYTHONPATH=. .venv/bin/python -m benchmarks.restore_run            # the documented rows
    PYTHONPATH=. .venv/bin/python -m benchmarks.restore_run --quick    # two rows of 2,000 users (prints only)

Rows run on a faster clock (x2.5, ``CLOCK``; ``--scale`` per size): the stand-in's latency divided by K, its
quotas, the import rate and the restore's quota shares multiplied by K; the table converts back to the real clock
and says so.
``--raw FILE`` appends every row's measurements as a JSON line; ``--from-raw FILE`` renders the table from such
a file without running anything; ``--block NAME`` writes it into the generated block NAME of docs/performance.md
(default ``restore``; the other blocks stay). Rows asked for but not measured are listed as such, never
estimated. The table of docs/performance.md is rendered from ``benchmarks/results/restore.jsonl`` (RESULTS, a
test holds the two together): measure a row with ``--raw`` into that file, then render it with ``--from-raw``.
The load average is recorded before and after each row: the table's heading says what the rows ran beside.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.report import machine, markers, write_doc
from benchmarks.restore_pool import disabled_count, write_snapshot
from benchmarks.restore_stand_in import QUOTA_RPS

DOC = harness.ROOT / "docs" / "performance.md"
BLOCK, MODULE = "restore", "benchmarks.restore_run"  # the generated block of DOC, by default, and who writes it
RESULTS = harness.ROOT / "benchmarks" / "results" / "restore.jsonl"  # the measurements DOC's table is rendered from
PHASE_CALLS = {"users": ("AdminCreateUser",), "memberships": ("AdminAddUserToGroup",),
               "disabling": ("AdminDisableUser",),
               "import jobs": ("CreateUserImportJob", "StartUserImportJob", "DescribeUserImportJob"),
               "listing imported users": ("ListUsers",)}
# A phase that is one item, its calls made in parallel inside it (the listing of the pool by ranges of sub): its
# share used is measured at the stand-in, its accepted calls over its calls' time, against the restore's share.
WINDOWED = {"listing imported users": "UserList"}
# The clock of every row unless --scale says otherwise: as fast as this 2-core machine keeps every lane at its
# share (docs/performance.md). At x5 the import path's short phases that overlap (the listing, 7,200 users/s
# parsed at that clock, beside the disabling and the memberships) reached 72-86% of their share on 10,000 users;
# the same row reached 97% at x2.5 and 98-99% on the real clock. A faster clock for the 1,000,000-user rows
# would make this machine's CPU, not the quotas, bound them: they take the real clock's time / 2.5 (5.6-17 h).
CLOCK = 2.5


@dataclass(frozen=True)
class Row:
    users: int
    memberships: int  # per user
    path: str  # admin-create or import
    scale: float = 1.0
    latency_ms: float = 100.0  # per call, real clock
    import_rate: float = 1000.0  # rows/s an import job imports, real clock


def matrix(sizes: list[int], scales: dict[int, float], latency_ms: float, import_rate: float) -> list[Row]:
    """Every row, at the clock ``scales`` gives its size (``--scale``), else at CLOCK."""
    return [Row(n, m, path, scales.get(n) or CLOCK, latency_ms, import_rate)
            for n in sizes for m in (1, 3) for path in ("import", "admin-create")]


def run_row(row: Row, work: Path, timeout: float) -> dict[str, Any]:
    snapshot = write_snapshot(work, row.users, row.memberships)
    load_before = os.getloadavg()[0]
    args = ["-m", "benchmarks.restore_stand_in", "--latency-ms", str(row.latency_ms / row.scale),
            "--jitter", "0.1", "--scale", str(row.scale), "--import-rate", str(row.import_rate)]
    with harness.Server(args) as server:
        env = {**harness.base_env(), "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": server.endpoint_url}
        done = subprocess.run([sys.executable, "-m", "benchmarks.restore_engine", str(snapshot), "--users-via",
                               row.path, "--rate-scale", str(row.scale)], env=env, cwd=harness.ROOT,
                              capture_output=True, text=True, timeout=timeout)
        stats = harness.stand_in_stats(server.endpoint_url)
    if not done.stdout.strip():
        raise RuntimeError(f"the restore failed (exit code {done.returncode}):\n{done.stderr[-4000:]}")
    return {"row": asdict(row), "measured": json.loads(done.stdout.strip().splitlines()[-1]), "stand_in": stats,
            "load": [load_before, os.getloadavg()[0]]}


def check(result: dict[str, Any]) -> str:
    """Whether the stand-in's pool holds exactly the snapshot's users, memberships and disabled users."""
    row, pools = Row(**result["row"]), result["stand_in"]["pools"]
    if len(pools) != 1:
        return f"NO: {len(pools)} pools"
    pool = next(iter(pools.values()))
    want = {"users": row.users, "memberships": row.users * row.memberships, "disabled": disabled_count(row.users)}
    wrong = [f"{k} {pool[k]:,} of {v:,}" for k, v in want.items() if pool[k] != v]
    return "NO: " + "; ".join(wrong) if wrong else "yes"


def derive(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the table, on the real clock (the run's seconds x K)."""
    row, m, st = Row(**result["row"]), result["measured"], result["stand_in"]
    phases = {}
    for name, p in (m.get("phases") or {}).items():
        ops = PHASE_CALLS.get(name, ())
        share = p["share_per_s"] / row.scale if p.get("share_per_s") else None
        calls, throttled = (sum(st[k].get(op, 0) for op in ops) for k in ("calls", "throttled"))
        share_used, busy_s = p.get("share_used"), (p.get("busy_s") or 0) * row.scale
        window = st["windows_s"].get(ops[0]) if name in WINDOWED else None
        if window and window[1] > window[0]:
            share = QUOTA_RPS[WINDOWED[name]] * m["rate_fraction"]
            busy_s = (window[1] - window[0]) * row.scale
            share_used = (calls - throttled - 1) / busy_s / share
        phases[name] = {"seconds": (p.get("seconds") or 0) * row.scale, "done": p.get("done", 0),
                        "total": p.get("total"), "calls": calls, "throttled": throttled, "category": p.get("category"),
                        "share_per_s": share, "share_used": share_used, "busy_s": busy_s}
    return {"recovery_s": (m.get("elapsed_s") or m["wall_s"]) * row.scale, "status": m["status"],
            "exact": check(result), "phases": phases}


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def table(results: list[dict[str, Any]], wanted: list[Row]) -> str:
    head = ("| users | memberships | path | clock | time to recovery | phase | time | done | calls | throttled | "
            "quota share (category) | share used while work waited | exact |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    measured = {(r["row"]["users"], r["row"]["memberships"], r["row"]["path"]): r for r in results}
    for row in wanted:
        result = measured.get((row.users, row.memberships, row.path))
        lead = f"| {row.users:,} | {row.memberships} per user | {row.path} | "
        if result is None:
            lines.append(lead + "| **not run** (see below) | | | | | | | | |")
            continue
        row, d = Row(**result["row"]), derive(result)
        clock = "real" if row.scale == 1 else f"x{row.scale:g}"
        first = True
        for name, p in d["phases"].items():
            if not p["done"] and not p["total"] and not p["calls"]:
                continue  # a phase with nothing to do in this snapshot (users' MFA, without captureUserMfa)
            share = f"{p['share_per_s']:g}/s ({p['category']})" if p["share_per_s"] else (p["category"] or "-")
            if p["share_used"] is not None:
                used = f"{100 * p['share_used']:.0f}% ({duration(p['busy_s'])} waiting)"
            else:
                used = "never waited for its quota" if p["category"] else "-"
            total = f"{p['done']:,}" + (f"/{p['total']:,}" if p["total"] is not None else "")
            recovery = f"**{duration(d['recovery_s'])}** ({d['status']})" if first else ""
            lines.append((lead if first else "| | | | ") + f"{clock if first else ''} | {recovery} | {name} | "
                         f"{duration(p['seconds'])} | {total} | {p['calls']:,} | {p['throttled']:,} | {share} | "
                         f"{used} | {d['exact'] if first else ''} |")
            first = False
    return "\n".join(lines)


def load_text(results: list[dict[str, Any]]) -> str:
    """The load average the rows ran under (1-minute, before and after each row), as the heading says it."""
    loads = [x for r in results for x in r.get("load") or ()]
    if not loads:
        return "load average not recorded"
    missing = sum(1 for r in results if not r.get("load"))
    return (f"load average {min(loads):.1f} to {max(loads):.1f} before and after the rows (the benchmark's own "
            "two processes make up to about 2)" + (f"; not recorded for {missing} of them" if missing else ""))


def generated(results: list[dict[str, Any]], wanted: list[Row], *, command: str, started: datetime,
              elapsed: float, rendered: bool = False, block: str = BLOCK) -> str:
    begin, end = markers(block, MODULE)
    when = (f"{len(results)} rows measured earlier (`--raw`), rendered {started:%Y-%m-%d %H:%M} UTC with `{command}`"
            if rendered else f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.0f} min, with `{command}`")
    latency = {r.latency_ms for r in wanted}
    rates = {r.import_rate for r in wanted}
    fraction = {r["measured"].get("rate_fraction") for r in results}
    return f"""{begin}
{when}
on {machine()}; {load_text(results)}. Latency per call {', '.join(f'{x:g}' for x in sorted(latency))} ms
(+-10%), import jobs at {', '.join(f'{x:g}' for x in sorted(rates))} rows/s, the restore's share of each quota
{', '.join(f'{x:g}' for x in sorted(f for f in fraction if f))} (its default). Quotas: {', '.join(
        f'{k} {v}/s' for k, v in QUOTA_RPS.items() if k in ('UserCreation', 'UserResourceUpdate', 'UserUpdate',
                                                             'UserList'))}. Times on the real clock (a row at
xK ran K times faster; its times are multiplied back).

{table(results, wanted)}
{end}"""


def load_results(path: Path) -> list[dict[str, Any]]:
    """The measurements of a ``--raw`` file, one row per line; a line that is not one is a ValueError naming it."""
    results = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            result = json.loads(line)
            Row(**result["row"])
            if not isinstance(result["measured"], dict) or not isinstance(result["stand_in"], dict):
                raise TypeError("measured and stand_in must be objects")
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path} line {number} is not a row's measurements ({type(exc).__name__}: {exc})") \
                from None
        results.append(result)
    return results


def block_name(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", text):
        raise argparse.ArgumentTypeError(f"--block takes lower-case letters, digits and dashes: {text!r}")
    return text


def parse_scales(text: str) -> dict[int, float]:
    out = {}
    for part in filter(None, text.split(",")):
        users, _, scale = part.partition(":")
        if not users.isdigit() or not scale or float(scale) <= 0:
            raise argparse.ArgumentTypeError(f"--scale takes USERS:K,...: {part!r}")
        out[int(users)] = float(scale)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="two small rows, printed only")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--paths", default="import,admin-create")
    p.add_argument("--memberships", default="1,3")
    p.add_argument("--scale", type=parse_scales, default={},
                   help=f"USERS:K,... (the clock per size; default x{CLOCK:g})")
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--import-rate", type=float, default=1000.0, help="rows/s an import job imports (real clock)")
    p.add_argument("--raw", help="append every row's measurements to this file (JSON lines)")
    p.add_argument("--from-raw", help="render the table from this file of measurements; run nothing")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md")
    p.add_argument("--block", type=block_name, default=BLOCK,
                   help="the generated block of docs/performance.md to write")
    p.add_argument("--timeout", type=float, default=6 * 3600)
    args = p.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        counts = [int(x) for x in args.memberships.split(",") if x]
    except ValueError:
        p.error("--sizes and --memberships take comma-separated integers")
    paths = [x for x in args.paths.split(",") if x]
    if not sizes or not counts or any(x not in ("import", "admin-create") for x in paths):
        p.error("--paths takes import and/or admin-create; --sizes and --memberships at least one value")
    wanted = [r for r in matrix(sizes, args.scale, args.latency_ms, args.import_rate)
              if r.memberships in counts and r.path in paths]
    if args.quick:
        wanted = [Row(2000, 3, "import", 5.0, 100.0, args.import_rate),
                  Row(2000, 1, "admin-create", 5.0, 100.0, args.import_rate)]
    command = "PYTHONPATH=. .venv/bin/python -m benchmarks.restore_run " + shlex.join(argv or sys.argv[1:])
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    results: list[dict[str, Any]] = []
    if args.from_raw:
        try:
            results = load_results(Path(args.from_raw))
        except (OSError, ValueError) as exc:
            p.error(f"--from-raw: {exc}")
    else:
        with tempfile.TemporaryDirectory(prefix="restore-bench-") as work:
            for row in wanted:
                print(f"{row.users:,} users, {row.memberships} membership(s) each, {row.path}, x{row.scale:g}",
                      file=sys.stderr, flush=True)
                result = run_row(row, Path(work), args.timeout)
                results.append(result)
                if args.raw:
                    with open(args.raw, "a") as raw:
                        raw.write(json.dumps(result) + "\n")
                d = derive(result)
                print(f"  time to recovery {duration(d['recovery_s'])} ({d['status']}), exact: {d['exact']}",
                      file=sys.stderr, flush=True)
    block = generated(results, wanted, command=command, started=started, elapsed=time.monotonic() - t0,
                      rendered=bool(args.from_raw), block=args.block)
    print(block)
    if not args.quick and not args.no_doc:
        write_doc(DOC, args.block, block, MODULE)
    return 0 if all(derive(r)["exact"] == "yes" and r["measured"]["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
