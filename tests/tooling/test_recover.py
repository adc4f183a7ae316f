"""Native point-in-time recovery: initiate, preview, confirm, start, wait; cancel when declined or
interrupted. moto does not implement these APIs: every test here uses botocore's Stubber."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

import backup_lambda.aws
from backup_lambda.errors import ConfigError
from cognito_backup.cli import main
from cognito_backup.recover import RecoveryError, native_recovery_advice, parse_timestamp, recover

POOL = "eu-west-1_Pool1"
RID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TO = datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc)
PREVIEW = [{"Entity": "USER", "CreateCount": 12, "UpdateCount": 3, "DeleteCount": 1},
           {"Entity": "GROUP_MEMBERSHIP", "CreateCount": 20, "UpdateCount": 0, "DeleteCount": 0}]


def restoration(status: str, preview: bool = False) -> dict:
    body = {"RestoreId": RID, "RestoreStatus": status, "RestoreTimestamp": TO}
    if preview:
        body["RestorePreview"] = PREVIEW
    return {"Restoration": body}


@pytest.fixture
def client():
    c = boto3.client("cognito-idp", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(c)
    with stub:
        yield c, stub
        stub.assert_no_pending_responses()


def expect(stub, op, status, preview=False, **params):
    stub.add_response(op, restoration(status, preview), {"UserPoolId": POOL, **params})


def test_confirmed_recovery_shows_the_preview_then_starts_and_waits(client):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATING", RestoreTimestamp=TO)
    expect(stub, "describe_point_in_time_recovery", "PREVIEW_GENERATED", True, RestoreId=RID)
    expect(stub, "start_point_in_time_recovery", "RESTORING", RestoreId=RID)
    expect(stub, "describe_point_in_time_recovery", "RESTORING", RestoreId=RID)
    expect(stub, "describe_point_in_time_recovery", "RESTORE_COMPLETED", True, RestoreId=RID)
    messages: list[str] = []
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return POOL

    report = recover(c, POOL, to=TO, input_fn=answer, interactive=True, sleep=lambda _s: None,
                     progress=messages.append)

    assert report["status"] == "completed" and report["restore_id"] == RID
    assert report["preview"] == PREVIEW
    assert asked and POOL in asked[0]
    shown = "\n".join(messages)
    assert "USER" in shown and "12" in shown and "GROUP_MEMBERSHIP" in shown


def test_yes_starts_without_asking(client):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATED", True, RestoreTimestamp=TO)
    expect(stub, "start_point_in_time_recovery", "RESTORING", RestoreId=RID)

    def never(prompt):
        raise AssertionError("asked despite --yes")

    report = recover(c, POOL, to=TO, yes=True, wait=False, input_fn=never, sleep=lambda _s: None)
    assert report["status"] == "started" and report["restore_status"] == "RESTORING"


def test_declined_recovery_is_cancelled_so_writes_resume(client):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATED", True, RestoreTimestamp=TO)
    expect(stub, "cancel_point_in_time_recovery", "PREVIEW_CANCELLED", RestoreId=RID)
    report = recover(c, POOL, to=TO, input_fn=lambda _p: "no", interactive=True, sleep=lambda _s: None)
    assert report["status"] == "cancelled"


def test_without_a_terminal_or_yes_the_recovery_is_cancelled_and_refused(client):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATED", True, RestoreTimestamp=TO)
    expect(stub, "cancel_point_in_time_recovery", "PREVIEW_CANCELLED", RestoreId=RID)
    with pytest.raises(RecoveryError, match="needs confirmation.*--yes"):
        recover(c, POOL, to=TO, interactive=False, sleep=lambda _s: None)


def test_interrupted_while_the_preview_is_generated_cancels(client):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATING", RestoreTimestamp=TO)
    expect(stub, "cancel_point_in_time_recovery", "PREVIEW_CANCELLED", RestoreId=RID)

    def ctrl_c(_seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        recover(c, POOL, to=TO, yes=True, sleep=ctrl_c)


def test_a_failed_preview_never_starts(client):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATING", RestoreTimestamp=TO)
    expect(stub, "describe_point_in_time_recovery", "PREVIEW_GENERATION_FAILED", RestoreId=RID)
    with pytest.raises(RecoveryError, match="PREVIEW_GENERATION_FAILED"):
        recover(c, POOL, to=TO, yes=True, sleep=lambda _s: None)


def test_an_aws_error_names_the_call_and_pool(client):
    c, stub = client
    stub.add_client_error("initiate_point_in_time_recovery", "InvalidParameterException",
                          "RestoreTimestamp is outside the recovery window",
                          expected_params={"UserPoolId": POOL, "RestoreTimestamp": TO})
    with pytest.raises(RecoveryError, match="initiate_point_in_time_recovery on eu-west-1_Pool1.*recovery window"):
        recover(c, POOL, to=TO, yes=True)


def test_an_existing_recovery_is_picked_up_by_its_id(client):
    c, stub = client
    expect(stub, "describe_point_in_time_recovery", "RESTORING", RestoreId=RID)
    expect(stub, "describe_point_in_time_recovery", "RESTORE_COMPLETED", RestoreId=RID)
    report = recover(c, POOL, restore_id=RID, sleep=lambda _s: None)
    assert report["status"] == "completed"


def test_an_old_botocore_is_told_to_upgrade():
    old = SimpleNamespace(meta=SimpleNamespace(service_model=SimpleNamespace(operation_names=["DescribeUserPool"])))
    with pytest.raises(RecoveryError, match="does not know point-in-time recovery.*upgrade boto3"):
        recover(old, POOL, to=TO, yes=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-11-25T23:00:00Z", TO), ("2026-11-25T23:00:00", TO), ("2026-11-26T00:00:00+01:00", TO)],
)
def test_timestamps_are_utc(value, expected):
    assert parse_timestamp(value, now=TO + timedelta(hours=1)) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-11-27T00:00:00Z"])
def test_bad_or_future_timestamps_are_refused(value):
    with pytest.raises(ConfigError, match="--to"):
        parse_timestamp(value, now=TO + timedelta(hours=1))


def test_cli_with_yes_prints_json(client, monkeypatch, capsys):
    c, stub = client
    expect(stub, "initiate_point_in_time_recovery", "PREVIEW_GENERATED", True, RestoreTimestamp=TO)
    expect(stub, "start_point_in_time_recovery", "RESTORE_COMPLETED", RestoreId=RID)
    monkeypatch.setattr(backup_lambda.aws, "make_client", lambda service, **kw: c)
    assert main(["recover", "--user-pool-id", POOL, "--to", "2026-11-25T23:00:00Z", "--yes", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out.strip().splitlines()[-1])["status"] == "completed"
    assert "USER" in out.err


def test_restore_advice_depends_on_whether_the_pool_still_exists(cognito):
    pool_id = cognito.create_user_pool(PoolName="p")["UserPool"]["Id"]
    advice = native_recovery_advice(cognito, pool_id, "2026-11-26T01:00:03Z")
    assert advice["pool_exists"] is True and f"--user-pool-id {pool_id}" in advice["command"]
    gone = native_recovery_advice(cognito, "us-east-1_gone0000", "2026-11-26T01:00:03Z")
    assert gone["pool_exists"] is False and "cannot help" in gone["advice"]
