"""`import-cbr`: a backup made by cognito-backup-restore (cbr) becomes a snapshot that verifies, diffs
against a real snapshot of the same pool (users identical) and restores; a damaged or foreign file is
refused naming what is wrong, and nothing is written. Files that are not snapshots are named as such by
verify, diff and restore, with the import command for a cbr file."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from backup_lambda.errors import SnapshotFileError
from backup_lambda.snapshot import take_snapshot
from cognito_backup import cli
from cognito_backup.diff import diff_snapshots
from cognito_backup.import_cbr import Configuration, Importer
from cognito_backup.restore import RestoreOptions, format_report, restore_snapshot
from cognito_backup.snapshot_file import SnapshotSource
from cognito_backup.verify import verify_snapshot
from demo.sample_pool import build_pool
from tests.support.snapshot_builder import encode_snapshot, make_snapshot, make_user

BUCKET = "snapshots-test"


def js_date(value: datetime) -> str:
    """A date as JSON.stringify writes a JavaScript Date (cbr runs on node)."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def cbr_bytes(users: list[dict]) -> bytes:
    """What cbr's backup writes: JSONStream.stringify() of ListUsers' Users, one pool per file."""
    return ("[\n" + "\n,\n".join(json.dumps(u, ensure_ascii=False) for u in users) + "\n]\n").encode("utf-8")


def cbr_backup_of(cognito, pool_id: str) -> bytes:
    users = []
    for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for user in page["Users"]:
            users.append({**user, **{k: js_date(user[k]) for k in ("UserCreateDate", "UserLastModifiedDate")}})
    return cbr_bytes(users)


def run_cli(capsys, *args: str) -> tuple[int, dict, str]:
    code = cli.main([*args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def nothing_written(s3) -> bool:
    return not s3.list_objects_v2(Bucket=BUCKET).get("Contents") and not s3.list_multipart_uploads(
        Bucket=BUCKET).get("Uploads")


@pytest.fixture
def pool(cognito, s3, bucket):
    return build_pool(cognito, "legacy", users=30, unconfirmed=2, disabled_every=7)


def test_a_cbr_backup_imports_verifies_diffs_as_the_same_users_and_restores(cognito, s3, pool, tmp_path, capsys):
    # Given a cbr backup of a pool, and a real snapshot of the same pool
    backup = tmp_path / f"{pool.pool_id}.json"
    backup.write_bytes(cbr_backup_of(cognito, pool.pool_id))
    real = take_snapshot(cognito, s3, user_pool_id=pool.pool_id, bucket=BUCKET)

    # When it is imported (no configuration given), then verified
    code, imported, err = run_cli(capsys, "import-cbr", str(backup), "--bucket", BUCKET, "--pool-name", "legacy",
                                  "--taken-at", "2026-11-20T10:00:00Z")
    assert code == 0, err
    uri = f"s3://{BUCKET}/{imported['key']}"
    code, verified, err = run_cli(capsys, "verify", uri)

    # Then it is a proper snapshot at the engine's key, marked imported, that says what it lacks
    assert imported["key"] == "2026/11/20/legacy_20261120_100000.json"
    assert imported["users"] == len(pool.users) == 32
    assert imported["lacks"] == ["groups", "memberships", "configuration"]
    assert code == 0 and verified["ok"], verified["problems"]
    assert verified["source"]["imported"] is True
    assert verified["source"]["imported_from"]["file"] == str(backup)
    assert "note: imported from cognito-backup-restore file" in err + json.dumps(verified)
    listing = cli.main(["list", "--bucket", BUCKET])
    assert listing == 0 and "yes (imported)" in capsys.readouterr().out

    # and its users are exactly the real snapshot's
    diff = diff_snapshots(f"s3://{BUCKET}/{real.key}", uri, s3=s3)
    summary = diff["summary"]
    assert (summary["users_added"], summary["users_removed"], summary["users_changed"]) == (0, 0, 0)
    assert summary["groups_removed"] == real.groups and summary["memberships_lost"] == real.memberships
    assert "clients" in summary["not_compared"]

    # and it restores: every user, with its custom attributes (a schema made from the users' attributes)
    report = restore_snapshot(cognito, s3, RestoreOptions(snapshot=uri, new_pool_name="legacy-restored",
                                                          users_via="admin-create", rate_fraction=1,
                                                          mapping_file=str(tmp_path / "map.json")))
    assert report["status"] == "ok", report.get("failures")
    assert "no groups, no memberships, no configuration" in report["imported"]
    assert "imported snapshot:" in format_report(report)
    restored = {u["Username"]: {a["Name"]: a["Value"] for a in u["Attributes"]}
                for page in cognito.get_paginator("list_users").paginate(UserPoolId=report["target_user_pool_id"])
                for u in page["Users"]}
    assert set(restored) == set(pool.users)
    tiers = {name: attrs.get("custom:tier") for name, attrs in restored.items()}
    assert any(tiers.values())


def test_a_cbr_backup_takes_its_configuration_from_the_live_pool(cognito, s3, pool, tmp_path, capsys):
    backup = tmp_path / "backup.json"
    backup.write_bytes(cbr_backup_of(cognito, pool.pool_id))

    code, imported, err = run_cli(capsys, "import-cbr", str(backup), "--bucket", BUCKET, "--pool-name", "legacy",
                                  "--config-from-pool", pool.pool_id, "--prefix", "imported/")

    assert code == 0, err
    assert imported["lacks"] == ["groups", "memberships"]
    assert imported["configuration_from"]["user_pool_id"] == pool.pool_id
    verified = verify_snapshot(f"s3://{BUCKET}/{imported['key']}", s3=s3, keep_config=True)
    assert verified["ok"], verified["problems"]
    assert verified["config"]["pool"]["Id"] == pool.pool_id
    assert verified["config"]["clients"]["status"] == "present"
    assert imported["key"].startswith("imported/")


def test_a_truncated_backup_is_refused_naming_the_element_and_its_upload_aborted(s3, bucket, tmp_path):
    # Given a cbr file cut in the middle of its third user, and a configuration (so users stream straight
    # into the upload)
    data = cbr_bytes([make_user(f"user{i}", email=f"u{i}@example.com") for i in range(5)])
    cut = data.index(b'"user2"') + 3
    backup = tmp_path / "cut.json"
    backup.write_bytes(data[:cut])
    config = snapshot_with_config(tmp_path)
    # When it is imported, Then it is refused naming the element, and nothing is left in the bucket
    with pytest.raises(SnapshotFileError, match=r"ends early \(truncated\?\).*in users\[2\]"):
        Importer(SnapshotSource(str(backup)), s3, bucket=bucket, pool_name="legacy",
                 configuration=Configuration.from_snapshot(config, s3)).run()
    assert nothing_written(s3)


def snapshot_with_config(tmp_path) -> str:
    from tests.support.snapshot_builder import make_manifest

    doc = make_snapshot()
    data = encode_snapshot(doc)
    path = tmp_path / "config-source.json"
    path.write_bytes(data)
    (tmp_path / "config-source.manifest.json").write_text(json.dumps(make_manifest(doc, data, path.name)))
    return str(path)


GOOD = {"Username": "fine", "Attributes": [{"Name": "email", "Value": "f@example.com"}],
        "UserCreateDate": "2026-11-20T10:00:00.000Z", "Enabled": True, "UserStatus": "CONFIRMED"}


@pytest.mark.parametrize(("bad", "message"), [
    ({"Attributes": []}, r"users\[1\] has no Username"),
    ({**GOOD}, r"users\[1\] \('fine'\): the Username appears earlier in the file too"),
    ("just a string", r"users\[1\] is not a user: a JSON object was expected, not str"),
    ({**GOOD, "Username": "x", "Password": "p"}, r"users\[1\] \('x'\) has fields ListUsers never returns: Password"),
    ({**GOOD, "Username": "x", "UserCreateDate": "yesterday"}, r"users\[1\] \('x'\): UserCreateDate 'yesterday'"),
    ({**GOOD, "Username": "x", "Attributes": [{"Name": "email"}]}, r"users\[1\] \('x'\): Attributes\[0\] is not"),
    ({**GOOD, "Username": "x", "UserStatus": "HAPPY"}, r"users\[1\] \('x'\): UserStatus 'HAPPY' is not one"),
    ({**GOOD, "Username": "x", "Enabled": "yes"}, r"users\[1\] \('x'\): Enabled is not true or false"),
], ids=["no-username", "duplicate", "not-an-object", "unknown-field", "bad-date", "bad-attribute", "bad-status",
        "bad-enabled"])
@pytest.mark.parametrize("with_config", [False, True], ids=["two-passes", "one-pass"])
def test_a_bad_user_is_refused_naming_the_element_and_nothing_is_written(s3, bucket, tmp_path, bad, message,
                                                                         with_config):
    backup = tmp_path / "bad.json"
    backup.write_bytes(cbr_bytes([GOOD, bad, {**GOOD, "Username": "after"}]))
    config = Configuration.from_snapshot(snapshot_with_config(tmp_path), s3) if with_config else None
    with pytest.raises(SnapshotFileError, match=message):
        Importer(SnapshotSource(str(backup)), s3, bucket=bucket, pool_name="legacy", configuration=config).run()
    assert nothing_written(s3)


def test_a_custom_attribute_the_configured_pool_lacks_is_refused(s3, bucket, tmp_path):
    backup = tmp_path / "extra.json"
    backup.write_bytes(cbr_bytes([{**GOOD, "Attributes": [{"Name": "custom:shoe_size", "Value": "42"}]}]))
    config = Configuration.from_snapshot(snapshot_with_config(tmp_path), s3)
    with pytest.raises(SnapshotFileError, match=r"users\[0\] \('fine'\) has the attribute custom:shoe_size, which "
                                                r"the pool's schema \(snapshot .*config-source.json\) lacks"):
        Importer(SnapshotSource(str(backup)), s3, bucket=bucket, pool_name="legacy", configuration=config).run()
    assert nothing_written(s3)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (encode_snapshot(make_snapshot()), "is a JSON object, not a cbr backup .*python -m cognito_backup verify"),
    (b"Username,UserCreateDate,UserLastModifiedDate,Enabled,UserStatus,phone_number,email\n", "looks like CSV"),
    (b"\x1f\x8b\x08\x00rest", "gzip-compressed"),
])
def test_a_file_that_is_not_a_cbr_backup_is_refused_saying_what_it_is(s3, bucket, tmp_path, content, message):
    backup = tmp_path / "other.json"
    backup.write_bytes(content)
    with pytest.raises(SnapshotFileError, match=message):
        Importer(SnapshotSource(str(backup)), s3, bucket=bucket, pool_name="legacy").run()
    assert nothing_written(s3)


def test_an_empty_pools_backup_imports_as_a_snapshot_of_no_users(s3, bucket, tmp_path):
    backup = tmp_path / "empty.json"
    backup.write_bytes(b"[\n]\n")
    result = Importer(SnapshotSource(str(backup)), s3, bucket=bucket, pool_name="empty").run()
    assert result["users"] == 0
    assert verify_snapshot(f"s3://{bucket}/{result['key']}", s3=s3)["ok"]


# --- a cbr file given where a snapshot is expected ---------------------------------------------------------

@pytest.fixture
def raw_cbr(tmp_path):
    path = tmp_path / "eu-west-1_Legacy1.json"
    path.write_bytes(cbr_bytes([GOOD]))
    return str(path)


CBR_MESSAGE = ("is not a cognito-backup snapshot: it is a JSON array of users (ListUsers entries), the backup "
               "format of the cognito-backup-restore npm tool (cbr). Turn it into a snapshot first: "
               "python -m cognito_backup import-cbr ")


def test_verify_says_a_cbr_file_is_one_and_how_to_import_it(raw_cbr, capsys):
    code, result, _ = run_cli(capsys, "verify", raw_cbr)
    assert code == 1
    assert result["problems"] == [f"{raw_cbr} {CBR_MESSAGE}{raw_cbr} --bucket BUCKET --pool-name NAME"]


def test_diff_and_restore_refuse_a_cbr_file_saying_what_it_is(raw_cbr, cognito, s3, tmp_path, capsys):
    other = snapshot_with_config(tmp_path)
    with pytest.raises(SnapshotFileError, match="import-cbr") as raised:
        diff_snapshots(other, raw_cbr)
    assert "no manifest" not in str(raised.value) and "expected '{'" not in str(raised.value)
    code, result, err = run_cli(capsys, "restore", raw_cbr, "--new-pool-name", "never", "--dry-run")
    assert code == 2 and CBR_MESSAGE in result["error"] and "no manifest" not in result["error"]
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == []


@pytest.mark.parametrize(("content", "message"), [
    (b"[1, 2]", "it is a JSON array (its first element is a number), and a snapshot is one JSON object"),
    (b'"hello"', "it is a single JSON value, and a snapshot is one JSON object"),
    (b"hello world", "it is not JSON (it starts with 'hello world')"),
    (b"PK\x03\x04\xff\xfe", "it is a zip archive; extract the JSON file from it first"),
])
def test_verify_says_what_a_foreign_file_looks_like(tmp_path, content, message):
    path = tmp_path / "foreign.json"
    path.write_bytes(content)
    result = verify_snapshot(str(path))
    assert not result["ok"] and result["problems"] == [f"{path} is not a cognito-backup snapshot: {message}"]


# --- streaming ---------------------------------------------------------------------------------------------

class CountingS3:
    """An S3 client that keeps nothing: it counts and hashes what a multipart upload sends."""

    def __init__(self):
        import hashlib

        self.sha, self.bytes, self.manifest = hashlib.sha256(), 0, None

    def create_multipart_upload(self, **_):
        return {"UploadId": "u1"}

    def upload_part(self, *, Body, PartNumber, **_):
        self.sha.update(Body)
        self.bytes += len(Body)
        return {"ETag": f"e{PartNumber}"}

    def complete_multipart_upload(self, **_):
        return {}

    def abort_multipart_upload(self, **_):
        raise AssertionError("the import was aborted")

    def put_object(self, *, Body, **_):
        self.manifest = json.loads(Body)


def peak_import_memory(tmp_path, users: int) -> tuple[int, int, CountingS3]:
    import tracemalloc

    backup = tmp_path / f"big-{users}.json"
    user = make_user("x", email="someone@example.com", attributes={"custom:tier": "gold", "name": "N" * 300})
    with backup.open("wb") as f:
        f.write(b"[\n")
        for i in range(users):
            f.write((b"" if i == 0 else b"\n,\n") + json.dumps({**user, "Username": f"user-{i:07d}"}).encode())
        f.write(b"\n]\n")
    s3 = CountingS3()
    tracemalloc.start()
    try:
        Importer(SnapshotSource(str(backup)), s3, bucket="b-big", pool_name="big",
                 taken_at=datetime(2026, 11, 20, tzinfo=timezone.utc), part_size=5 * 1024 * 1024).run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, backup.stat().st_size, s3


@pytest.mark.slow
def test_importing_a_large_backup_streams_it(tmp_path):
    # Given backups of 10,000 and 100,000 users (5 and 50 MB)
    small_peak, _, _ = peak_import_memory(tmp_path, 10_000)
    large_peak, size, s3 = peak_import_memory(tmp_path, 100_000)
    # Then the large one was written whole, and memory did not grow with the file: one upload part
    # (5 MiB, copied once as it is sent) and 32 bytes a user to refuse a repeated username
    assert s3.manifest["users"] == 100_000 and s3.manifest["bytes"] == s3.bytes
    assert s3.manifest["sha256"] == s3.sha.hexdigest()
    assert large_peak < size / 3, f"peak {large_peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"
    assert large_peak - small_peak < 8 * 2**20, f"{small_peak / 2**20:.1f} -> {large_peak / 2**20:.1f} MiB"
