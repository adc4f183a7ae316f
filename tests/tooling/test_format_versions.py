"""Both snapshot formats are read by every command: snapshots taken before format 2 keep verifying,
diffing and listing; format 2 is what the engine writes now. The two hold the same keys in another order,
and no reader relies on the order."""

from __future__ import annotations

import json

import pytest

from backup_lambda.snapshot import take_snapshot
from backup_lambda.snapshot_format import DOCUMENT_KEYS, FORMAT_VERSION, SUPPORTED_FORMAT_VERSIONS
from cognito_backup.diff import diff_snapshots
from cognito_backup.listing import list_snapshots
from cognito_backup.verify import verify_snapshot
from tests.support.snapshot_builder import make_group, make_snapshot, make_user, write_local, write_s3


def test_the_engine_writes_format_2_and_every_version_has_the_same_keys():
    assert FORMAT_VERSION == 2
    assert set(SUPPORTED_FORMAT_VERSIONS) == {1, 2}
    assert set(DOCUMENT_KEYS[1]) == set(DOCUMENT_KEYS[2])
    assert DOCUMENT_KEYS[2].index("users") < DOCUMENT_KEYS[2].index("groups") < DOCUMENT_KEYS[2].index("mfa_config")
    assert DOCUMENT_KEYS[1].index("mfa_config") < DOCUMENT_KEYS[1].index("groups") < DOCUMENT_KEYS[1].index("users")


@pytest.mark.parametrize("version", [1, 2])
def test_a_snapshot_of_either_version_verifies_with_its_counts(tmp_path, version):
    result = verify_snapshot(str(write_local(tmp_path, make_snapshot(format_version=version))))

    assert result["ok"], result["problems"]
    assert result["counts"]["users"] == 3 and result["counts"]["memberships"] == 3
    assert result["manifest"]["format_version"] == version


@pytest.mark.parametrize("version", [1, 2])
def test_the_order_of_the_keys_carries_no_meaning(tmp_path, version):
    other = make_snapshot(format_version=3 - version)
    other["format_version"] = version  # the keys in the other version's order
    result = verify_snapshot(str(write_local(tmp_path, other)))

    assert result["ok"], result["problems"]
    missing = make_snapshot(format_version=version)
    del missing["groups"]
    (tmp_path / "missing").mkdir()
    result = verify_snapshot(str(write_local(tmp_path / "missing", missing)))
    assert not result["ok"] and any("lacks groups" in p for p in result["problems"]), result["problems"]


def written(tmp_path, name: str, doc: dict) -> str:
    (tmp_path / name).mkdir()
    return str(write_local(tmp_path / name, doc))


def test_a_snapshot_taken_before_format_2_and_one_after_diff_as_identical(tmp_path):
    users = [make_user(n, email=f"{n}@example.com") for n in ("ann", "ben", "cy")]
    groups = [make_group("g1", ["ann", "cy"]), make_group("g2", [])]
    old = written(tmp_path, "old", make_snapshot(users=users, groups=groups, format_version=1))
    new = written(tmp_path, "new", make_snapshot(users=users, groups=groups, format_version=2))
    changed = written(tmp_path, "changed", make_snapshot(
        users=users, groups=[make_group("g1", ["ann"]), make_group("g2", [])], format_version=2))

    same, other = diff_snapshots(old, new), diff_snapshots(old, changed)

    assert same["summary"]["identical"], json.dumps(same["summary"])
    assert not other["summary"]["identical"] and other["summary"]["memberships_lost"] == 1


def test_the_list_shows_each_snapshots_format(s3, bucket):
    write_s3(s3, bucket, make_snapshot(format_version=1, pool_name="old-pool"))
    write_s3(s3, bucket, make_snapshot(format_version=2, pool_name="new-pool"))

    versions = {e["pool_name"]: e["format_version"] for e in list_snapshots(s3, bucket)}

    assert versions == {"old-pool": 1, "new-pool": 2}


def test_a_real_snapshot_is_format_2_and_its_bytes_are_laid_out_users_first(cognito, s3, bucket):
    from demo.sample_pool import build_pool

    sample = build_pool(cognito, "layout", users=20, unconfirmed=0, with_config=False)
    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, request_budget=30)

    data = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    assert data.index(b'"users":[') < data.index(b'"groups":[') < data.index(b'"mfa_config":')
    verdict = verify_snapshot(f"s3://{bucket}/{result.key}", s3=s3)
    assert verdict["ok"], verdict["problems"]
    assert verdict["manifest"]["format_version"] == 2 == json.loads(data)["format_version"]
