"""verify: a snapshot passes only when manifest, hash, byte count, version, structure and counts hold."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from backup_lambda.errors import SnapshotFileError
from cognito_backup.cli import main
from cognito_backup.verify import require_verified, verify_snapshot
from tests.support.snapshot_builder import encode_snapshot, make_snapshot, write_local, write_s3


def test_a_good_snapshot_passes_with_its_counts(tmp_path):
    path = write_local(tmp_path, make_snapshot())
    result = verify_snapshot(str(path))
    assert result["ok"], result["problems"]
    assert result["counts"] == {"users": 3, "groups": 2, "memberships": 3, "federated_users": 0,
                                "disabled_users": 1}
    assert result["sha256"] == result["manifest"]["sha256"]


def _tamper(doc_bytes: bytes) -> bytes:
    return doc_bytes.replace(b'"alice"', b'"alicf"', 1)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_manifest", "not complete"),
        ("tampered", "sha256 does not match"),
        ("appended", "byte count"),
        ("truncated", "ends early"),
        ("manifest_counts", "the manifest says 4 users, the snapshot holds 3"),
        ("summary_counts", "summary says 9 users"),
        ("unknown_version", "format_version 3 is not one this tool reads"),
        ("missing_key", "lacks summary"),
        ("bad_section", "section 'domain' has no valid status"),
        ("other_key", "the manifest is for"),
        ("not_json", "is not a cognito-backup snapshot: it is an HTML page (Access Denied)"),
        ("bad_member_list", "has no Members list"),
    ],
)
def test_each_kind_of_damage_fails_verification_and_says_what(tmp_path, case, expected):
    doc = make_snapshot()
    data = encode_snapshot(doc)
    overrides: dict = {}
    manifest = True
    if case == "no_manifest":
        manifest = False
    elif case == "tampered":
        path = write_local(tmp_path, doc)
        path.write_bytes(_tamper(data))
        assert len(_tamper(data)) == len(data)
        result = verify_snapshot(str(path))
        assert not result["ok"]
        assert any(expected in p for p in result["problems"]), result["problems"]
        return
    elif case == "appended":
        path = write_local(tmp_path, doc)
        path.write_bytes(data + b"\n\n")
        result = verify_snapshot(str(path))
        assert any(expected in p for p in result["problems"]), result["problems"]
        return
    elif case == "truncated":
        data = data[: len(data) // 2]
    elif case == "manifest_counts":
        overrides = {"users": 4}
    elif case == "summary_counts":
        doc["summary"]["users"] = 9
        data = encode_snapshot(doc)
    elif case == "unknown_version":
        doc["format_version"] = 3
        data = encode_snapshot(doc)
    elif case == "missing_key":
        del doc["summary"]
        data = encode_snapshot(doc)
        doc["summary"] = {}
    elif case == "bad_section":
        doc["domain"] = {"status": "maybe"}
        data = encode_snapshot(doc)
    elif case == "other_key":
        overrides = {"snapshot_key": "2026/11/25/prod-users_20261125_010003.json"}
    elif case == "not_json":
        data = b"<html>Access Denied</html>"
    elif case == "bad_member_list":
        doc["groups"][0]["Members"] = "alice"
        data = encode_snapshot(doc)
    path = write_local(tmp_path, doc, manifest=manifest, data=data, manifest_overrides=overrides)
    result = verify_snapshot(str(path))
    assert not result["ok"]
    assert any(expected in p for p in result["problems"]), result["problems"]


def test_require_verified_raises_with_every_problem(tmp_path):
    path = write_local(tmp_path, make_snapshot(), manifest=False)
    with pytest.raises(SnapshotFileError, match="fails verification, refusing it"):
        require_verified(str(path))


def test_s3_snapshot_verifies_and_reports_etag(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="snaps")
        key = write_s3(s3, "snaps", make_snapshot(), prefix="backups/")
        result = verify_snapshot(f"s3://snaps/{key}", s3=s3)
        assert result["ok"], result["problems"]
        assert result["etag"]
        missing = verify_snapshot("s3://snaps/backups/2026/01/01/x_20260101_000000.json", s3=s3)
        assert not missing["ok"]
        assert any("does not exist" in p for p in missing["problems"])


def test_cli_exit_codes_and_json_last_line(tmp_path, capsys):
    good = write_local(tmp_path, make_snapshot())
    assert main(["verify", str(good), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["status"] == "ok"

    good.write_bytes(_tamper(good.read_bytes()))
    assert main(["verify", str(good), "--json"]) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["status"] == "failed"
    assert any("sha256" in p for p in last["problems"])
