"""The snapshot's memory does not grow with the pool: peak RSS for 200,000 users stays within 100 MB of
that for 1,000, whatever the groups (a few; 2,000 tenant groups holding each user 1 to 3 times; one
group holding everyone): members wait in the spool on disk, not in memory.

The real ``take_snapshot`` runs in a child process (``benchmarks/engine.py``, the Lambda's own client
setup) against the benchmark's stand-in Cognito and a moto S3 server, each in a process of its own,
so the peak RSS measured (``ru_maxrss`` of the child) is the snapshot's alone. Not timed: zero latency
and no quota, with the snapshot's rate limits lifted (``--rate-scale``), so it runs as fast as the CPU
allows (~30 s on 2 cores). Both snapshots are read back and must be exact: a run that saved memory by
dropping users would not pass.
"""

from __future__ import annotations

import boto3
import pytest

from benchmarks import harness
from benchmarks.synthetic_pool import SyntheticPool, group_shape

pytestmark = pytest.mark.slow  # left out of `python3 tasks.py test`; CI runs it (.ci/run)

SMALL, LARGE = 1_000, 200_000
MAX_GROWTH_MIB = 100


@pytest.fixture(scope="module")
def s3_server():
    with harness.s3_server() as server:
        yield server


def snapshot_peak_rss(users: int, s3_server, groups: str = "default") -> float:
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"memory-{users}-{groups.replace(':', '-')}"
    s3.create_bucket(Bucket=bucket)
    pool = SyntheticPool(users, groups=group_shape(groups))
    with harness.stand_in(users, groups=groups) as cognito:
        measured = harness.run_engine("snapshot", harness.backup_env(cognito.endpoint_url, s3_server.endpoint_url),
                                      pool_id=pool.pool_id, bucket=bucket, budget=15_000, rate_scale=1_000,
                                      timeout=300)
    checked = harness.verify(s3, bucket, measured["key"], pool)
    assert checked["exact"], checked["problems"]
    assert checked["memberships"] == "exact"
    assert measured["users"] == users
    harness.empty_bucket(s3, bucket)
    return measured["peak_rss_mib"]


@pytest.fixture(scope="module")
def small_peak(s3_server) -> float:
    return snapshot_peak_rss(SMALL, s3_server)


@pytest.mark.parametrize("groups", ["default", "tenants:2000", "everyone:5"])
def test_peak_rss_does_not_grow_with_the_pool_whatever_its_groups(s3_server, small_peak, groups):
    large = snapshot_peak_rss(LARGE, s3_server, groups)

    assert large - small_peak <= MAX_GROWTH_MIB, (
        f"peak RSS {small_peak:.0f} MiB ({SMALL:,} users), {large:.0f} MiB ({LARGE:,}, groups {groups})")
