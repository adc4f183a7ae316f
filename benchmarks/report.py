"""The benchmark's results as a table, on the real clock, and the page block they are written into.

Two yardsticks per row, both on the real clock:
- **ideal**: (user pages + member pages) / budget, the issue's ideal: every UserList call of the budget
  reads a full page (``ceil(users / 60)`` pages of users, ``max(1, ceil(members / 60))`` per group);
- **bound**: max(ideal, longest member chain x latency). A group of M members is ``ceil(M / 60)``
  calls, each needing the token of the one before: however large the budget, it takes that many round
  trips (1,667 at 150 ms for a group of 100,000: 250 s). No engine can beat the bound.
"""

from __future__ import annotations

import functools
import math
import os
import platform
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore
import moto

from benchmarks.synthetic_pool import SyntheticPool, group_shape

PAGE = 60
LAMBDA_S = 900.0  # a Lambda run's time, real clock


@dataclass(frozen=True)
class Cell:
    engine: str  # "original" or "snapshot"
    users: int
    latency_ms: float  # per call, on the real clock
    scale: float = 1.0  # K: the run's clock is K times faster (latency / K, quota and budget x K)
    quota: float = 30.0  # the UserList calls/s the account leaves to the backup (real clock)
    budget: float = 15.0  # the snapshot's request budget (real clock)
    groups: str = "default"  # the pool's group shape (synthetic_pool.group_shape)
    lambda_s: float = LAMBDA_S  # each run's Lambda time (real clock): the snapshot hands over before

    def pages(self) -> tuple[int, int, int]:
        """(user pages, member pages, the longest member chain) at 60 a page."""
        return pages(self.users, self.groups)

    @property
    def ideal_s(self) -> float:
        users, members, _ = self.pages()
        return (users + members) / self.budget

    @property
    def bound_s(self) -> float:
        _, _, longest = self.pages()
        return max(self.ideal_s, longest * self.latency_ms / 1000)


@functools.lru_cache(maxsize=64)
def pages(users: int, groups: str) -> tuple[int, int, int]:
    pool = SyntheticPool(users, groups=group_shape(groups))
    chains = [max(1, math.ceil(len(pool.members(g)) / PAGE)) for g in pool.group_order]
    return math.ceil(users / PAGE), sum(chains), max(chains, default=0)


def markers(block: str, module: str = "benchmarks.run") -> tuple[str, str]:
    """The lines around the generated block ``block`` of a page, written by ``python -m module``."""
    return f"<!-- BEGIN GENERATED {block}: python -m {module} -->", f"<!-- END GENERATED {block} -->"


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the table, on the real clock. A run's time is the run's clock x K; the gaps between
    runs (a new process, as a new Lambda run) are real time already."""
    cell, m, st, check = Cell(**row["cell"]), row["measured"], row["stand_in"], row["check"]
    runs = m.get("runs") or [{"wall_s": m["wall_s"], "peak_rss_mib": m["peak_rss_mib"]}]
    wall = m["wall_s"] * cell.scale + sum(m.get("gaps_s") or ())
    calls = st["calls"]
    user_list = calls.get("ListUsers", 0) + calls.get("ListUsersInGroup", 0)
    out = {
        "wall_s": wall,
        "of_ideal": cell.ideal_s / wall,
        "of_bound": cell.bound_s / wall,
        "runs": len(runs),
        "longest_run_s": max(r["wall_s"] for r in runs) * cell.scale,
        "calls_per_s": user_list / wall,
        "list_users": calls.get("ListUsers", 0),
        "list_users_in_group": calls.get("ListUsersInGroup", 0),
        "throttles": st["throttles"],
        "expired": sum((st.get("expired_tokens") or {}).values()),
        "peak_rss": m["peak_rss_mib"],
    }
    if check["exact"]:
        out["exact"] = "yes" if check["memberships"] == "exact" else f"users yes; memberships {check['memberships']}"
    else:
        out["exact"] = "NO: " + "; ".join(check["problems"] or [check["memberships"]])
    return out


def _latency(cell: Cell) -> str:
    text = f"{cell.latency_ms:g} ms"
    return text if cell.scale == 1 else f"{text} (run: {cell.latency_ms / cell.scale:g} ms, x{cell.scale:g} clock)"


def _groups(shape: str) -> str:
    kind, _, arg = shape.partition(":")
    return {"default": "6 (1.4% of users)", "five": "5 (1.4%)", "tenants": f"{int(arg or 0):,} tenants (1-3 each)",
            "everyone": f"1 of everyone + {arg}"}.get(kind, shape)


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| users | groups | latency | quota left | engine | time | ideal | % of ideal | bound | % of bound | "
            "runs (longest) | ListUsers + ListUsersInGroup | UserList calls/s (budget 15) | throttled | "
            "peak RSS | exact |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        cell, d = Cell(**row["cell"]), derive(row)
        engine = "snapshot" if cell.engine == "snapshot" else "original loop"
        runs = f"{d['runs']} ({duration(d['longest_run_s'])})"
        if d["longest_run_s"] > cell.lambda_s:
            runs += " **over Lambda's 15 min**" if cell.engine == "snapshot" else ", over Lambda's 15 min"
        bound = duration(cell.bound_s) if cell.bound_s > cell.ideal_s * 1.0001 else "= ideal"
        lines.append(
            f"| {cell.users:,} | {_groups(cell.groups)} | {_latency(cell)} | {cell.quota:g}/s | {engine} | "
            f"{duration(d['wall_s'])} | {duration(cell.ideal_s)} | {100 * d['of_ideal']:.1f}% | {bound} | "
            f"{100 * d['of_bound']:.1f}% | {runs} | {d['list_users']:,} + {d['list_users_in_group']:,} | "
            f"{d['calls_per_s']:.1f} ({100 * d['calls_per_s'] / cell.budget:.0f}%) | {d['throttles']:,} | "
            f"{d['peak_rss']:,.0f} MiB | {d['exact']} |")
    return "\n".join(lines)


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
(the machine was shared). Latency per call: as listed, +-{100 * jitter:g}% uniform. Each snapshot runs as
Lambda runs it: runs of 15 minutes (real clock), handing over with a minute left.
{status}
{table(rows)}
{end}"""


def write_doc(path: Path, name: str, block: str, module: str = "benchmarks.run") -> None:
    """Replace the generated block ``name`` (of ``module``) in ``path`` (or append it): the prose around it and
    the other blocks stay."""
    begin, end = markers(name, module)
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = (text or "# Performance\n\n") + "\n" + block + "\n"
    path.write_text(text)
