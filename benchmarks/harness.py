"""Shared by the runner and the tests: the server processes, the backup's environment, and the check
that a snapshot is exact.

- ``stand_in(...)``: the stand-in Cognito (``stand_in_cognito.py``) in a process of its own.
- ``s3_server()``: a moto server (S3) in a process of its own (``python -m benchmarks.harness s3``).
- ``run_engine(...)``: one backup in a child process (``engine.py``), its measurements as a dict.
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
             burst: float = 0) -> Server:
    return Server(["-m", "benchmarks.stand_in_cognito", "--users", str(users), "--latency-ms", str(latency_ms),
                   "--jitter", str(jitter), "--quota", str(quota), "--burst", str(burst)])


def s3_server() -> Server:
    return Server(["-m", "benchmarks.harness", "s3"])


def stand_in_stats(endpoint_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint_url + "/_stats", timeout=10) as resp:  # noqa: S310 - local
        return json.loads(resp.read())


def run_engine(engine: str, env: dict[str, str], *, pool_id: str, bucket: str, budget: float = 15.0,
               rate_scale: float = 1.0, workers: int = 16, timeout: float = 7200) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.engine", engine, "--pool-id", pool_id, "--bucket", bucket,
           "--budget", str(budget), "--rate-scale", str(rate_scale), "--workers", str(workers)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed (exit code {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    groups: list[dict[str, Any]] = []
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
            groups.append(event.value)
        elif event.kind == "value" and event.key == "summary":
            summary = event.value
    missing = pool.users - sum(seen)
    if missing:
        problems.append(f"{missing} users missing")
    if duplicates:
        problems.append(f"{duplicates} users written more than once")
    return {"users": count, "exact": not problems and count == pool.users,
            "memberships": _check_groups(groups, pool), "problems": problems, "bytes": stream.bytes,
            "sha256": stream.sha256, "summary": summary}


def _check_groups(groups: list[dict[str, Any]], pool: SyntheticPool) -> str:
    names = [g.get("GroupName") for g in groups]
    if sorted(names) != sorted(pool.groups):
        return f"wrong groups: {names}"
    if not any("Members" in g for g in groups):
        return "not captured"
    for g in groups:
        expected = pool.members(g["GroupName"])
        got = [pool.index_of_username(u) for u in g.get("Members", ())]
        if len(got) != len(expected) or sorted(got) != list(expected):
            return f"wrong members in {g['GroupName']}: {len(got)} of {len(expected)}"
    return "exact"


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
