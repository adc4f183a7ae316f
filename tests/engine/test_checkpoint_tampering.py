"""A checkpoint or spool that was changed, replaced or does not agree with the other fails the next run
cleanly, naming what is wrong, and leaves nothing half-written: the upload is aborted, the checkpoint and
its spool removed, and no snapshot object or manifest ever appears.

(Checkpoints that are not even well-formed, field by field: tests/security/test_bad_input.py.)
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from backup_lambda.checkpoint import spool_key
from backup_lambda.errors import SnapshotError
from backup_lambda.snapshot import take_snapshot
from demo.sample_pool import build_pool
from tests.engine.test_snapshot import NOW
from tests.support.emf import emf_metric_names
from tests.support.fault_injection import (
    FakeContext,
    HandOverGate,
    capture_readers,
    fast_retries_and_limits,
    params_have,
    small_parts,
)


@pytest.fixture
def handed_over(cognito, s3, bucket, monkeypatch, tmp_path):
    """A snapshot handed over half-way through a group's member chain: its checkpoint and spool in S3."""
    fast_retries_and_limits(monkeypatch)
    part_size = small_parts(monkeypatch, 4096)
    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 5)
    sample = build_pool(cognito, "tampered", users=60, unconfirmed=0, big_group_members=30, with_config=False)
    readers = capture_readers(monkeypatch)
    gate = HandOverGate(cognito, "ListUsersInGroup", readers, nth=2,
                        match=lambda p: params_have('"everyone"')(p) and params_have('"NextToken"')(p))
    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                           part_size=part_size, deadline=gate.deadline, workers=1)
    assert result.status == "continued"
    return {"key": result.checkpoint_key, "generation": result.generation, "pool": sample.pool_id, "dir": tmp_path}


def read(s3, bucket, key) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def rewrite_checkpoint(s3, bucket, handed_over, change) -> None:
    data = json.loads(read(s3, bucket, handed_over["key"]))
    change(data)
    s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=json.dumps(data).encode())


def rewrite_spool(s3, bucket, handed_over, sql: str, *, pin: bool = True) -> None:
    """Change the spool's contents; with ``pin``, also make the checkpoint describe the changed file (as
    someone who could write both would)."""
    path = handed_over["dir"] / "spool.sqlite"
    path.write_bytes(read(s3, bucket, spool_key(handed_over["key"])))
    db = sqlite3.connect(path)
    db.executescript(sql)
    db.close()
    data = path.read_bytes()
    s3.put_object(Bucket=bucket, Key=spool_key(handed_over["key"]), Body=data)
    if pin:
        rewrite_checkpoint(s3, bucket, handed_over, lambda c: c.update(
            spool={"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}))


def run_next(monkeypatch, bucket, handed_over, capsys):
    """The next Lambda run, as the continuation event starts it; returns what it raised."""
    from backup_lambda import handler

    monkeypatch.setenv("BACKUP_BUCKET", bucket)
    capsys.readouterr()
    with pytest.raises(SnapshotError) as raised:
        handler.lambda_handler({"checkpoint_key": handed_over["key"], "generation": handed_over["generation"]},
                               FakeContext())
    assert "SnapshotFailed" in emf_metric_names(capsys.readouterr().out)
    return str(raised.value)


def assert_nothing_left(s3, bucket) -> None:
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "something was left in the bucket"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "the upload was left open"


def flip_a_byte(s3, bucket, handed_over) -> None:
    key = spool_key(handed_over["key"])
    data = bytearray(read(s3, bucket, key))
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))


TAMPERINGS = {
    "spool changed": (flip_a_byte, "is not the one its checkpoint describes"),
    "spool gone": (lambda s3, b, h: s3.delete_object(Bucket=b, Key=spool_key(h["key"])), "GetObject of the spool"),
    "spool of another snapshot": (
        lambda s3, b, h: rewrite_spool(s3, b, h, "UPDATE meta SET value = 'x.json' WHERE key = 'snapshot_key'"),
        "belongs to the snapshot 'x.json'"),
    "members added": (lambda s3, b, h: rewrite_spool(s3, b, h, "UPDATE member_pages SET n = n + 1"),
                      "memberships, the checkpoint says"),
    "subs dropped": (lambda s3, b, h: rewrite_spool(s3, b, h, "DELETE FROM blobs WHERE name = 'seen'"),
                     "its seen is missing"),
    "tail cut": (lambda s3, b, h: rewrite_spool(s3, b, h, "UPDATE blobs SET data = x'00' WHERE name = 'tail'"),
                 "saved tail holds 1 bytes"),
    "section changed": (
        lambda s3, b, h: rewrite_spool(s3, b, h, """UPDATE sections SET body = '{"status":"absent","reason":"x"}'
                                                  WHERE name = 'mfa_config'"""), "its section mfa_config"),
    "chain of an unknown group": (
        lambda s3, b, h: rewrite_checkpoint(s3, b, h, lambda c: c["groups"].update(chains={"nobody": "t0ken"})),
        "member chain of group 'nobody'"),
    "subs count changed": (
        lambda s3, b, h: rewrite_checkpoint(s3, b, h, lambda c: c.update(seen_subs=c["seen_subs"] + 1)),
        "set of subs holds"),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_a_tampered_hand_over_fails_the_next_run_cleanly_and_leaves_nothing(s3, bucket, handed_over, monkeypatch,
                                                                           capsys, tampering):
    change, says = TAMPERINGS[tampering]
    change(s3, bucket, handed_over)

    message = run_next(monkeypatch, bucket, handed_over, capsys)

    assert says in message, message
    assert handed_over["pool"] in message, message
    assert_nothing_left(s3, bucket)


def test_a_checkpoint_that_is_not_one_fails_the_run_naming_its_field_and_writes_nothing(s3, bucket, handed_over,
                                                                                       monkeypatch, capsys):
    """The checkpoint itself cannot be trusted, so neither can the upload it names: the run writes
    nothing and leaves the upload to the bucket's lifecycle rule (incomplete uploads: a day)."""
    rewrite_checkpoint(s3, bucket, handed_over, lambda c: c["groups"].update(done=c["groups"]["listed"] + 1))

    message = run_next(monkeypatch, bucket, handed_over, capsys)

    assert "groups.listed and groups.done" in message, message
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert all("/.checkpoints/" in f"/{k}" for k in keys), keys
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
