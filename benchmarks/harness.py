"""Shared by the runner and the tests: the server processes, the backup's environment, and the check
that a snapshot is exact.

- ``stand_in(...)``: the stand-in Cognito (``stand_in_cognito.py``) in a process of its own.
- ``s3_server()``: a moto server (S3) in a process of its own (``python -m benchmarks.harness s3``).
- ``run_engine(...)``: one backup in a child process (``engine.py``), its measurements as a dict;
  ``run_lambda_runs(...)``: a snapshot as Lambda runs it, one process per run of ``lambda_s`` seconds,
  each carrying on from the checkpoint the one before saved, until it is complete.
- ``verify(...)``: reads the snapshot back as a stream and checks every user is there exactly once,
  as the synthetic pool defines it, and every group with exactly its members (when captured).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.synthetic_pool import SyntheticPool
from cognito_backup.snapshot_file import SnapshotStream
from demo.emulator import FAKE_ENV

ROOT = Path(__file__).resolve().parents[1]


class Server:
    """A child process that prints ``{"endpoint": ...}`` on its first line, then serves."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, timeout: float = 60):
        self.proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True,
                                     env=env or base_env(), cwd=ROOT)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.kill()
            raise RuntimeError(f"{' '.join(args)} did not start (exit code {self.proc.wait(timeout)})")
        self.endpoint_url: str = json.loads(line)["endpoint"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def base_env() -> dict[str, str]:
    """This environment without any AWS_ setting, plus fake credentials and the project on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_ENV)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def backup_env(cognito_url: str, s3_url: str) -> dict[str, str]:
    """The environment of a backup process: Cognito at the stand-in, S3 at the S3 server."""
    return {**base_env(), "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": cognito_url,
            "AWS_ENDPOINT_URL_S3": s3_url}


def stand_in(users: int, *, latency_ms: float = 0, jitter: float = 0, quota: float = 0,
             burst: float = 0, groups: str = "default", token_ttl: float = 0) -> Server:
    return Server(["-m", "benchmarks.stand_in_cognito", "--users", str(users), "--latency-ms", str(latency_ms),
                   "--jitter", str(jitter), "--quota", str(quota), "--burst", str(burst), "--groups", groups,
                   "--token-ttl", str(token_ttl)])


def s3_server() -> Server:
    return Server(["-m", "benchmarks.harness", "s3"])


def stand_in_stats(endpoint_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint_url + "/_stats", timeout=10) as resp:  # noqa: S310 - local
        return json.loads(resp.read())


def run_engine(engine: str, env: dict[str, str], *, pool_id: str, bucket: str, budget: float = 15.0,
               rate_scale: float = 1.0, workers: int = 16, timeout: float = 7200, lambda_s: float = 0,
               handover_s: float = 60, checkpoint_key: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.engine", engine, "--pool-id", pool_id, "--bucket", bucket,
           "--budget", str(budget), "--rate-scale", str(rate_scale), "--workers", str(workers),
           "--lambda-s", str(lambda_s), "--handover-s", str(handover_s)]
    if checkpoint_key:
        cmd += ["--checkpoint-key", checkpoint_key]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed (exit code {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_lambda_runs(engine: str, env: dict[str, str], *, lambda_s: float, handover_s: float, max_runs: int = 100,
                    **kwargs: Any) -> dict[str, Any]:
    """A snapshot over as many runs as it takes (``lambda_s`` each, on the run's clock): the last run's
    measurements, plus ``runs`` (each run's wall time, peak RSS, CPU) and ``gaps_s`` (between runs:
    a new process, as a new Lambda run is)."""
    runs: list[dict[str, Any]] = []
    checkpoint = None
    while True:
        measured = run_engine(engine, env, lambda_s=lambda_s if engine == "snapshot" else 0, handover_s=handover_s,
                              checkpoint_key=checkpoint, **kwargs)
        runs.append(measured)
        if measured.get("status") != "continued":
            break
        if len(runs) >= max_runs:
            raise RuntimeError(f"the snapshot was not complete after {max_runs} runs")
        checkpoint = measured["checkpoint_key"]
    last = dict(runs[-1])
    last["runs"] = [{k: r[k] for k in ("wall_s", "peak_rss_mib", "cpu_s", "phases_s")} for r in runs]
    last["gaps_s"] = [b["started_at"] - a["ended_at"] for a, b in zip(runs, runs[1:], strict=False)]
    last["wall_s"] = sum(r["wall_s"] for r in runs)
    last["cpu_s"] = sum(r["cpu_s"] for r in runs)
    last["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return last


# -- reading a snapshot back -------------------------------------------------------------------------


def verify(s3, bucket: str, key: str, pool: SyntheticPool) -> dict[str, Any]:
    """Check a snapshot (ours or the original design's) against the pool it was taken of.

    Read as a stream (the project's ``SnapshotStream``), whatever its size. ``exact``: every user
    exactly once (same username, sub, status, enabled flag) and nothing else; ``memberships``:
    "exact", "not captured" (no ``Members`` in the groups) or what was wrong.
    """
    stream = SnapshotStream(s3.get_object(Bucket=bucket, Key=key)["Body"], name=f"s3://{bucket}/{key}",
                            chunk_size=1 << 20)
    seen = bytearray(pool.users)
    problems: list[str] = []
    count = duplicates = 0
    groups = GroupCheck(pool)
    summary: dict[str, Any] = {}
    for event in stream.events():
        if event.kind == "item" and event.key == "users":
            user = event.value
            count += 1
            sub = next((a["Value"] for a in user.get("Attributes", ()) if a.get("Name") == "sub"), "")
            try:
                i = pool.index_of_sub(sub)
            except ValueError:
                i = -1
            if not 0 <= i < pool.users or sub != pool.sub(i) or user.get("Username") != pool.username(i) \
                    or user.get("UserStatus") != pool.status(i) or user.get("Enabled") != pool.enabled(i):
                if len(problems) < 5:
                    problems.append(f"unexpected user {user.get('Username')!r} (sub {sub!r})")
                continue
            duplicates += seen[i]
            seen[i] = 1
        elif event.kind == "item" and event.key == "groups":
            groups.add(event.value)
        elif event.kind == "value" and event.key == "summary":
            summary = event.value
    missing = pool.users - sum(seen)
    if missing:
        problems.append(f"{missing} users missing")
    if duplicates:
        problems.append(f"{duplicates} users written more than once")
    return {"users": count, "exact": not problems and count == pool.users,
            "memberships": groups.verdict(), "problems": problems, "bytes": stream.bytes,
            "sha256": stream.sha256, "summary": summary}


class GroupCheck:
    """Each group as it streams by, against the pool: exactly its members (one group in memory at a time)."""

    def __init__(self, pool: SyntheticPool):
        self.pool = pool
        self.names: list[str] = []
        self.captured = False
        self.wrong: str | None = None

    def add(self, group: dict[str, Any]) -> None:
        name = group.get("GroupName")
        self.names.append(name)
        if "Members" not in group or self.wrong or name not in self.pool.groups:
            return
        self.captured = True
        expected = self.pool.members(name)
        got = sorted(self.pool.index_of_username(u) for u in group["Members"])
        if len(got) != len(expected) or got != list(expected):
            self.wrong = f"wrong members in {name}: {len(got)} of {len(expected)}"

    def verdict(self) -> str:
        if sorted(self.names) != sorted(self.pool.groups):
            return f"wrong groups: {len(self.names)} named, {len(self.pool.groups)} in the pool"
        if not self.captured and self.names:
            return "not captured"
        return self.wrong or "exact"


def verify_manifest(s3, bucket: str, manifest_key: str, checked: dict[str, Any]) -> list[str]:
    """Problems between the manifest and the object as read (empty when they agree)."""
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    problems = []
    for field, got in (("sha256", checked["sha256"]), ("bytes", checked["bytes"]), ("users", checked["users"])):
        if manifest.get(field) != got:
            problems.append(f"manifest {field} {manifest.get(field)!r} != {got!r}")
    return problems


def empty_bucket(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", ()):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def _serve_s3() -> int:
    import logging
    import threading

    from demo.emulator import LocalAws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    with LocalAws() as aws:
        print(json.dumps({"endpoint": aws.endpoint_url}), flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["s3"]:
        sys.exit("usage: python -m benchmarks.harness s3   (serves S3 through moto; prints its endpoint)")
    sys.exit(_serve_s3())
