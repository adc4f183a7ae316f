"""list: snapshots newest first, complete only with a manifest, counts from the manifest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from cognito_backup.cli import main
from cognito_backup.listing import list_snapshots, newest_complete
from tests.support.snapshot_builder import make_snapshot, make_user, write_s3

T0 = datetime(2026, 11, 20, 1, 0, 0, tzinfo=timezone.utc)


def put(s3, bucket, pool_name, when, *, users=1, manifest=True, prefix=""):
    doc = make_snapshot(users=[make_user(f"u{i}") for i in range(users)], groups=[], taken_at=when,
                        pool_name=pool_name)
    return write_s3(s3, bucket, doc, prefix=prefix, manifest=manifest)


def test_newest_first_with_counts_and_completeness(s3, bucket):
    old = put(s3, bucket, "prod", T0, users=2)
    new = put(s3, bucket, "prod", T0 + timedelta(days=1), users=3)
    partial = put(s3, bucket, "prod", T0 + timedelta(days=2), manifest=False)
    other = put(s3, bucket, "staging", T0 + timedelta(hours=5))

    entries = list_snapshots(s3, bucket)
    assert [e["key"] for e in entries] == [partial, new, other, old]
    by_key = {e["key"]: e for e in entries}
    assert by_key[partial]["complete"] is False and by_key[partial]["users"] is None
    assert by_key[new]["complete"] is True and by_key[new]["users"] == 3 and by_key[new]["bytes"] > 0
    assert by_key[old]["taken_at"] == "2026-11-20T01:00:00Z"
    assert {e["pool_name"] for e in list_snapshots(s3, bucket, pool_name="staging")} == {"staging"}
    assert newest_complete(s3, bucket, "prod")["key"] == new


def test_paginates_and_skips_hidden_folders(s3, bucket):
    keys = [put(s3, bucket, "prod", T0 + timedelta(days=i)) for i in range(3)]
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"2026/01/01/noise{i}.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key=".checkpoints/prod.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key=".drills/2026/11/20/drill-prod_20261120_010000.json", Body=b"{}")
    calls = []
    s3.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(1))
    assert [e["key"] for e in list_snapshots(s3, bucket, page_size=2)] == keys[::-1]
    assert len(calls) >= 7  # 3 snapshots + 3 manifests + 5 others + 2 hidden, 2 keys a page


def test_prefix_limits_the_listing(s3, bucket):
    put(s3, bucket, "prod", T0)
    key = put(s3, bucket, "prod", T0, prefix="backups/")
    assert [e["key"] for e in list_snapshots(s3, bucket, prefix="backups/")] == [key]


@pytest.mark.parametrize("body", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'{"users": ' + b"9" * 5000 + b"}"])
def test_unreadable_manifest_is_reported_not_fatal(s3, bucket, body):
    key = put(s3, bucket, "prod", T0)
    s3.put_object(Bucket=bucket, Key=key.replace(".json", ".manifest.json"), Body=body)
    (entry,) = list_snapshots(s3, bucket)
    assert entry["complete"] and entry["manifest_error"] == "the manifest is not valid JSON"
    assert newest_complete(s3, bucket, "prod") is None


def test_cli_prints_a_table_and_json(s3, bucket, capsys):
    put(s3, bucket, "prod", T0, users=7)
    assert main(["list", "--bucket", bucket, "--pool-name", "prod"]) == 0
    out = capsys.readouterr().out
    assert "prod" in out and "yes" in out and "7" in out
    assert main(["list", "--bucket", bucket, "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["snapshots"][0]["users"] == 7


def test_missing_bucket_is_a_clear_error(s3, capsys):
    assert main(["list", "--bucket", "no-such-bucket"]) == 2
    assert "does not exist" in capsys.readouterr().err
