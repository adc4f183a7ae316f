"""Pools that do not fit one Lambda run: checkpoint, self-invoke, carry on, and end with the very
same object a single run writes."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.stub import ANY, Stubber

from backup_lambda.checkpoint import load_checkpoint
from backup_lambda.contract import ContinuationRequest
from backup_lambda.errors import ConfigError
from backup_lambda.settings import parse_event
from backup_lambda.snapshot import resume_snapshot, take_snapshot
from demo.sample_pool import build_pool
from tests.engine.test_snapshot import NOW
from tests.support.fault_injection import ShortContext


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of 4 KiB (moto's and our 5 MiB minimum lowered) so that a small pool spans many parts."""
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    monkeypatch.setattr("backup_lambda.s3_upload.MIN_PART_SIZE", 1024)
    return 4096


def short_run(pages: int):
    """A deadline that has time for ``pages`` pages, then says time is up."""
    calls = {"n": 0}

    def remaining() -> float:
        calls["n"] += 1
        return 1000.0 if calls["n"] <= pages else 0.0

    return remaining


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_a_continued_snapshot_is_byte_for_byte_a_single_run_one(cognito, s3, bucket, small_parts):
    # no domain: moto answers DescribeUserPoolDomain with a random AWSAccountId on every call
    sample = build_pool(cognito, "huge", users=400, unconfirmed=0, big_group_members=70, with_config=False)
    common = {"user_pool_id": sample.pool_id, "bucket": bucket, "now": NOW, "request_budget": 30,
              "part_size": small_parts, "workers": 1}
    single = take_snapshot(cognito, s3, prefix="single/", **common)

    result = take_snapshot(cognito, s3, prefix="multi/", deadline=short_run(2), **common)
    runs = 1
    while result.status == "continued":
        checkpoint = load_checkpoint(s3, bucket, result.checkpoint_key)
        assert checkpoint.generation == result.generation == runs
        result = resume_snapshot(cognito, s3, checkpoint, deadline=short_run(2), workers=1)
        runs += 1

    assert runs >= 4 and result.runs == runs
    single_body, multi_body = body(s3, bucket, single.key), body(s3, bucket, result.key)
    assert multi_body == single_body
    assert result.sha256 == hashlib.sha256(multi_body).hexdigest() == single.sha256
    manifest = json.loads(body(s3, bucket, result.manifest_key))
    assert manifest["sha256"] == result.sha256 and manifest["users"] == 400 and manifest["runs"] == runs
    assert s3.list_objects_v2(Bucket=bucket, Prefix="multi/.checkpoints/").get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_parallel_listing_continues_exactly(cognito, s3, bucket, small_parts):
    sample = build_pool(cognito, "wide", users=300, unconfirmed=0, with_config=False)
    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                           part_size=small_parts, deadline=short_run(3))
    while result.status == "continued":
        result = resume_snapshot(cognito, s3, load_checkpoint(s3, bucket, result.checkpoint_key),
                                 deadline=short_run(3))

    doc = json.loads(body(s3, bucket, result.key))
    assert sorted(u["Username"] for u in doc["users"]) == sorted(sample.users)
    assert result.runs > 1


def test_the_lambda_invokes_itself_until_the_snapshot_is_complete(cognito, s3, bucket, small_parts, monkeypatch,
                                                                  capsys):
    """The self-invoke is checked with botocore's Stubber (moto cannot run a Python function here)."""
    from backup_lambda import handler

    sample = build_pool(cognito, "selfinvoke", users=250, unconfirmed=0, with_config=False)
    monkeypatch.setenv("BACKUP_BUCKET", bucket)
    monkeypatch.setenv("REQUEST_BUDGET", "30")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "cognito-backup-prod")  # what the runtime sets
    monkeypatch.setattr("backup_lambda.s3_upload.DEFAULT_PART_SIZE", small_parts)
    invoked: list[dict] = []
    real_make_client = handler.make_client

    def make_client_(service, **kwargs):
        if service != "lambda":
            return real_make_client(service, **kwargs)
        client = real_make_client("lambda")
        stub = Stubber(client)
        stub.add_response("invoke", {"StatusCode": 202},
                          {"FunctionName": "cognito-backup-prod", "InvocationType": "Event", "Payload": ANY})
        stub.activate()
        original = client.invoke

        def invoke(**kw):
            invoked.append(json.loads(kw["Payload"]))
            return original(**kw)

        client.invoke = invoke
        return client

    monkeypatch.setattr(handler, "make_client", make_client_)

    event = {"user_pool_id": sample.pool_id, "pool_name": "selfinvoke"}
    result = handler.lambda_handler(event, ShortContext(2))
    assert result["status"] == "continued"
    while result["status"] == "continued":
        event = invoked[-1]
        assert event == {"checkpoint_key": result["checkpoint_key"], "generation": result["generation"]}
        result = handler.lambda_handler(event, ShortContext(2))

    assert result["status"] == "ok" and result["users"] == 250 and result["runs"] == len(invoked) + 1
    out = capsys.readouterr().out
    assert out.count('"SnapshotSucceeded"') >= 1


def test_continuation_events_are_validated():
    assert parse_event({"checkpoint_key": "p/.checkpoints/x_20260101_000000.json", "generation": 2}, "p/") == \
        ContinuationRequest("p/.checkpoints/x_20260101_000000.json", 2)
    for event, message in [
        ({"checkpoint_key": "2026/01/01/x.json", "generation": 1}, "checkpoint_key must be"),
        ({"checkpoint_key": ".checkpoints/../x.json", "generation": 1}, "checkpoint_key must be"),
        ({"checkpoint_key": ".checkpoints/x.json", "generation": 0}, "generation must be"),
        ({"checkpoint_key": ".checkpoints/x.json", "generation": True}, "generation must be"),
        ({"checkpoint_key": ".checkpoints/x.json", "generation": 1, "extra": 1}, "unknown field"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_event(event)


def test_a_missing_checkpoint_is_a_clear_error(s3, bucket):
    from backup_lambda.errors import SnapshotError

    with pytest.raises(SnapshotError, match="cannot read the continuation checkpoint"):
        load_checkpoint(s3, bucket, ".checkpoints/gone.json")


def test_a_duplicate_continuation_event_is_ignored(cognito, s3, bucket, small_parts, monkeypatch):
    from backup_lambda import handler

    sample = build_pool(cognito, "dup", users=200, unconfirmed=0, with_config=False)
    first = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                          part_size=small_parts, deadline=short_run(1))
    second = resume_snapshot(cognito, s3, load_checkpoint(s3, bucket, first.checkpoint_key),
                             deadline=short_run(1))
    assert second.status == "continued" and second.generation == 2
    monkeypatch.setenv("BACKUP_BUCKET", bucket)

    stale = {"checkpoint_key": first.checkpoint_key, "generation": 1}
    assert handler.lambda_handler(stale, ShortContext(100)) == {"status": "ignored",
                                                               "reason": "duplicate continuation event"}
    assert load_checkpoint(s3, bucket, first.checkpoint_key).generation == 2


def test_a_failing_continuation_aborts_and_removes_its_checkpoint(cognito, s3, bucket, small_parts, monkeypatch):
    from tests.engine.test_snapshot import fail_operation

    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 5)  # several pages a range: some left for run 2
    sample = build_pool(cognito, "broken", users=200, unconfirmed=0, with_config=False)
    first = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                          part_size=small_parts, deadline=short_run(1))
    fail_operation(cognito, "ListUsers", "AccessDeniedException")

    with pytest.raises(Exception, match="ListUsers"):
        resume_snapshot(cognito, s3, load_checkpoint(s3, bucket, first.checkpoint_key))

    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
