"""The Lambda entry point: the contract (event, environment, result), metrics, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_lambda.errors import ConfigError, SnapshotError
from backup_lambda.settings import load_settings, parse_event
from demo.sample_pool import build_pool, create_pool
from tests.support.emf import emf_records
from tests.support.fault_injection import FakeContext


@pytest.fixture
def handler_env(monkeypatch, bucket, signing_key):
    monkeypatch.setenv("BACKUP_BUCKET", bucket)
    monkeypatch.setenv("SIGNING_KEY_ID", signing_key)
    monkeypatch.setenv("REQUEST_BUDGET", "30")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cognito-backup")
    return bucket


def test_handler_snapshots_the_pool_of_the_event(cognito, s3, handler_env, capsys):
    from backup_lambda.handler import lambda_handler

    sample = build_pool(cognito, "prod-users", users=40, unconfirmed=2)

    result = lambda_handler({"user_pool_id": sample.pool_id, "pool_name": "prod"}, FakeContext())

    assert result["status"] == "ok"
    assert result["key"].startswith("20") and "/prod_" in result["key"] and result["key"].endswith(".json")
    assert result["users"] == 42 and result["groups"] == 5
    assert result["memberships"] == sum(len(m) for m in sample.groups.values())
    s3.head_object(Bucket=handler_env, Key=result["manifest_key"])
    metrics = {name: rec[name] for rec in emf_records(capsys.readouterr().out) for name in
               [m["Name"] for d in rec["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]}
    assert metrics["SnapshotSucceeded"] in (1.0, [1.0])
    assert metrics["UsersExported"] in (42.0, [42.0])


def test_metrics_carry_service_and_pool_dimensions(cognito, handler_env, capsys):
    from backup_lambda.handler import lambda_handler

    pool_id = create_pool(cognito, "dims")["Id"]
    lambda_handler({"user_pool_id": pool_id}, FakeContext())

    (record,) = emf_records(capsys.readouterr().out)
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CognitoBackup"
    (dimensions,) = record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert sorted(dimensions) == ["pool_name", "service"]
    assert record["pool_name"] == "dims"  # defaults to the pool's own name
    assert record["service"] == "cognito-backup"


def test_handler_failure_raises_and_counts_a_failure(cognito, s3, handler_env, capsys):
    from backup_lambda.handler import lambda_handler

    with pytest.raises(SnapshotError, match="us-east-1_missing"):
        lambda_handler({"user_pool_id": "us-east-1_missing", "pool_name": "gone"}, FakeContext())

    records = emf_records(capsys.readouterr().out)
    names = {m["Name"] for r in records for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert "SnapshotFailed" in names and "SnapshotSucceeded" not in names
    assert s3.list_objects_v2(Bucket=handler_env).get("KeyCount") == 0


def test_missing_bucket_variable_is_named(cognito, monkeypatch):
    from backup_lambda.handler import lambda_handler

    monkeypatch.delenv("BACKUP_BUCKET", raising=False)
    with pytest.raises(ConfigError, match="BACKUP_BUCKET is required"):
        lambda_handler({"user_pool_id": "us-east-1_abc"}, FakeContext())


SIGNING = "arn:aws:kms:eu-west-1:123456789012:key/5190abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKUP_BUCKET": "Not_A_Bucket"}, "BACKUP_BUCKET must be an S3 bucket name"),
        ({"BACKUP_BUCKET": "ok-bucket", "KMS_KEY_ID": "my key"}, "KMS_KEY_ID must be"),
        ({"BACKUP_BUCKET": "ok-bucket", "REQUEST_BUDGET": "fast"}, "REQUEST_BUDGET must be a number"),
        ({"BACKUP_BUCKET": "ok-bucket", "REQUEST_BUDGET": "-1"}, "REQUEST_BUDGET must be > 0"),
        ({"BACKUP_BUCKET": "ok-bucket", "SNAPSHOT_PREFIX": "a/../b"}, "SNAPSHOT_PREFIX must be"),
        ({"BACKUP_BUCKET": "ok-bucket", "EXCLUDE_ATTRIBUTES": "email,bad name"}, "EXCLUDE_ATTRIBUTES has invalid"),
    ],
)
def test_bad_environment_is_named(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"SIGNING_KEY_ID": SIGNING, **env})


@pytest.mark.parametrize("value", [None, "", "my key"])
def test_the_signing_key_is_required_and_named(value):
    env = {"BACKUP_BUCKET": "ok-bucket"} | ({} if value is None else {"SIGNING_KEY_ID": value})
    with pytest.raises(ConfigError, match="SIGNING_KEY_ID (is required|must be a KMS key)"):
        load_settings(env)


def test_good_environment_is_parsed():
    settings_ = load_settings({
        "BACKUP_BUCKET": "acme-cognito-snapshots", "KMS_KEY_ID": "alias/cognito-backup",
        "SNAPSHOT_PREFIX": "prod", "EXCLUDE_ATTRIBUTES": "custom:ssn, phone_number", "REQUEST_BUDGET": "10",
        "SIGNING_KEY_ID": SIGNING,
    })
    assert settings_.bucket == "acme-cognito-snapshots"
    assert settings_.signing_key_id == SIGNING
    assert settings_.prefix == "prod/"
    assert settings_.exclude_attributes == {"custom:ssn", "phone_number"}
    assert settings_.request_budget == 10.0


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "event must be a JSON object"),
        ("us-east-1_abc", "event must be a JSON object"),
        ({}, "user_pool_id is required"),
        ({"user_pool_id": 42}, "user_pool_id must look like"),
        ({"user_pool_id": "pool"}, "user_pool_id must look like"),
        ({"user_pool_id": "us-east-1_abc", "pool_name": ""}, "pool_name must be"),
        ({"user_pool_id": "us-east-1_abc", "pool_name": ["x"]}, "pool_name must be"),
        ({"user_pool_id": "us-east-1_abc", "poolname": "x"}, "unknown field"),
    ],
)
def test_malformed_events_are_refused_naming_the_field(event, message):
    with pytest.raises(ConfigError, match=message):
        parse_event(event)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.none(), st.integers(), st.text(max_size=50), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=20), st.one_of(st.none(), st.integers(), st.text(max_size=300),
                                                   st.lists(st.integers(), max_size=2)), max_size=4),
    st.fixed_dictionaries({"user_pool_id": st.text(max_size=10_000)}),
))
def test_any_malformed_event_gives_a_config_error_or_a_valid_request(event):
    try:
        request = parse_event(event)
    except ConfigError as exc:
        message = str(exc)
        assert "event" in message and len(message) < 400
        return
    assert request.user_pool_id == event["user_pool_id"]
