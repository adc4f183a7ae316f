"""Pagination tokens live about an hour. Against the benchmark's stand-in Cognito, whose tokens expire
(``token_ttl``; refused as AWS refuses an invalid one, InvalidParameterException): a snapshot handed over
with chains half-way, carried on after its tokens expired, starts those chains again and is still exact:
every user once, every group with exactly its members."""

from __future__ import annotations

import time

import pytest

from backup_lambda.aws import make_client
from backup_lambda.checkpoint import load_checkpoint
from backup_lambda.snapshot import resume_snapshot, take_snapshot
from benchmarks import harness
from benchmarks.stand_in_cognito import StandInCognito, StandInServer
from benchmarks.synthetic_pool import SyntheticPool, group_shape
from tests.support.fault_injection import HandOverGate, capture_readers, params_have, small_parts

TTL = 0.5  # seconds a token lives at the stand-in here


@pytest.fixture
def stand_in(aws_env, monkeypatch):
    app = StandInCognito(SyntheticPool(400, groups=group_shape("everyone:2")), token_ttl=TTL)
    with StandInServer(app) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", server.endpoint_url)
        yield app


def test_tokens_that_expired_between_runs_are_read_again_and_nothing_is_lost_or_doubled(stand_in, s3, bucket,
                                                                                      monkeypatch):
    part_size = small_parts(monkeypatch, 8192)
    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 10)  # the big group: 40 pages; the ranges: 3 each
    readers = capture_readers(monkeypatch)
    cognito = make_client("cognito-idp")
    gate = HandOverGate(cognito, "ListUsersInGroup", readers, nth=5,
                        match=lambda p: params_have('"customers"')(p) and params_have('"NextToken"')(p))
    first = take_snapshot(cognito, s3, user_pool_id=stand_in.pool.pool_id, bucket=bucket, request_budget=30,
                          part_size=part_size, deadline=gate.deadline, workers=2)
    assert first.status == "continued"
    checkpoint = load_checkpoint(s3, bucket, first.checkpoint_key)
    assert checkpoint.groups.chains, "the big group's chain was not handed over half-way"

    time.sleep(TTL + 0.2)  # the next run comes too late for the tokens
    result = resume_snapshot(make_client("cognito-idp"), s3, checkpoint, workers=2)

    assert result.status == "ok" and result.runs == 2
    expired = stand_in.stats()["expired_tokens"]
    assert expired.get("ListUsersInGroup", 0) >= 1, expired
    checked = harness.verify(s3, bucket, result.key, stand_in.pool)
    assert checked["exact"], checked["problems"]
    assert checked["memberships"] == "exact"
    assert harness.verify_manifest(s3, bucket, result.manifest_key, checked) == []
