"""The `invoke` command: invoke the deployed snapshot Lambda for one pool or all, and report.

moto can create a Lambda function but cannot run its Python code without Docker, so the Lambda's
answers come from botocore's ``Stubber`` on a real ``lambda`` client: each test states exactly what
the function returns and checks exactly what the command sent (the event, RequestResponse). The
snapshot bucket the report reads (previous snapshots, the diff) is moto's S3.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import types
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from backup_lambda.contract import ContinuedResult, SnapshotResult
from backup_lambda.snapshot_format import manifest_key, snapshot_key
from cognito_backup import cli, invoke, invoke_report, invoke_target
from tests.support.snapshot_builder import default_pool, make_group, make_snapshot, make_user, present, write_s3

FUNCTION = "cognito-backup-prod"
BUCKET = "snapshots-test"  # conftest's `bucket`
POOLS = [
    {"id": "us-east-1_Users0001", "name": "prod-users"},
    {"id": "us-east-1_Staff0002", "name": "prod-staff"},
    {"id": "us-east-1_Parts0003", "name": "prod-partners"},
]


@pytest.fixture(autouse=True)
def _env(aws_env, monkeypatch):
    """conftest's fake credentials and region; no job summary unless a test sets one."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def lam(monkeypatch):
    """A real lambda client whose answers are stubbed; the command gets it instead of its own."""
    client = boto3.client("lambda", config=invoke.lambda_client_config())
    stubber = Stubber(client)
    monkeypatch.setattr(invoke, "lambda_client", lambda region=None: client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def no_diff_modules(monkeypatch):
    """Make the diff tooling unimportable, as it is before cognito_backup.diff/listing exist."""
    monkeypatch.setitem(sys.modules, "cognito_backup.listing", None)
    monkeypatch.setitem(sys.modules, "cognito_backup.diff", None)


def run_cli(monkeypatch, *argv: str) -> int:
    """Through the project's CLI entry point (only the `invoke` command registered, so that commands
    still being written elsewhere cannot break these tests)."""
    monkeypatch.setattr(cli, "COMMANDS", {"invoke": cli.COMMANDS["invoke"]})
    return cli.main(["invoke", *argv])


def body(payload) -> StreamingBody:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def key_for(pool_name: str, when: datetime, prefix: str = "") -> str:
    return snapshot_key(prefix, pool_name, when)


NOW = datetime(2026, 11, 26, 1, 0, 3, tzinfo=timezone.utc)


def ok_result(pool: dict, users: int = 5, key: str | None = None) -> dict:
    """What the function answers for a complete snapshot (its own result type)."""
    key = key or key_for(pool["name"], NOW)
    return SnapshotResult(
        key=key, manifest_key=manifest_key(key), bucket=BUCKET, pool_name=pool["name"], user_pool_id=pool["id"],
        users=users, groups=2, memberships=7, federated_users=0, disabled_users=0, bytes=4096, sha256="0" * 64,
        retention="daily", sections={}, runs=1, duration_s=12.5, throttles=0, calls=9, users_per_s=0.4,
    ).to_json()


def expect_invoke(stubber: Stubber, pool: dict, result=None, *, function_error: str | None = None,
                  error_payload: dict | None = None, log: str | None = None) -> None:
    response = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    if function_error:
        response["FunctionError"] = function_error
        response["Payload"] = body(error_payload or {})
    else:
        response["Payload"] = body(result if result is not None else ok_result(pool))
    if log is not None:
        response["LogResult"] = base64.b64encode(log.encode()).decode()
    stubber.add_response("invoke", response, expected_params={
        "FunctionName": FUNCTION,
        "InvocationType": "RequestResponse",
        "LogType": "Tail",
        "Payload": json.dumps({"user_pool_id": pool["id"], "pool_name": pool["name"]}).encode(),
    })


def outputs_file(tmp_path, **overrides) -> str:
    outputs = {"bucketName": BUCKET, "functionName": FUNCTION, "kmsKeyArn": "arn:aws:kms:us-east-1:1:key/k",
               "alarmTopicArn": "arn:aws:sns:us-east-1:1:t", "importRoleArn": "arn:aws:iam::1:role/r",
               "pools": POOLS}
    outputs.update(overrides)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return str(path)


# --------------------------------------------------------------------------------------------------
# Success, one pool


def test_one_pool_is_invoked_synchronously_and_reported(lam, tmp_path, monkeypatch, capsys,
                                                        no_diff_modules):
    # Given a function that answers with a snapshot of the one pool
    pool = POOLS[0]
    expect_invoke(lam, pool)
    summary = tmp_path / "summary.md"
    # When the command runs for that pool
    code = run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", pool["id"], "--pool-name", pool["name"],
                   "--summary", str(summary), "--json")
    # Then it succeeds and reports the key and the counts, in the JSON and in the job summary
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "ok"
    [r] = result["results"]
    assert r["key"] == "2026/11/26/prod-users_20261126_010003.json"
    assert r["counts"] == {"users": 5, "groups": 2, "memberships": 7, "bytes": 4096, "duration_s": 12.5}
    md = summary.read_text()
    assert "`2026/11/26/prod-users_20261126_010003.json`" in md
    assert "| 5 | 2 | 7 | 4,096 | 12.5 s |" in md
    assert "1 of 1 snapshot(s) succeeded" in md


def test_summary_goes_to_github_step_summary_when_no_path_given(lam, tmp_path, monkeypatch,
                                                                 no_diff_modules):
    pool = POOLS[0]
    expect_invoke(lam, pool)
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", pool["id"], "--pool-name", pool["name"]) == 0
    md = summary.read_text()
    assert md.startswith("earlier step\n")  # appended, never overwritten
    assert "prod-users" in md


def test_pool_from_stack_outputs_uses_function_and_bucket_outputs(lam, bucket, tmp_path, monkeypatch, capsys,
                                                                  no_diff_modules):
    # Given the JSON of `pulumi stack output --json` and a pool named in it
    expect_invoke(lam, POOLS[1])
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-staff", "--json")
    assert code == 0
    [r] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    assert r["pool_name"] == "prod-staff"
    # the bucket came from the outputs too: the diff was attempted (and is unavailable here)
    assert r["changes_note"].startswith("diff unavailable: ")
    assert "no bucket" not in r["changes_note"]


def test_stack_outputs_may_be_given_inline(lam, monkeypatch, no_diff_modules):
    expect_invoke(lam, POOLS[0])
    outputs = json.dumps({"functionName": FUNCTION, "pools": POOLS})
    assert run_cli(monkeypatch, "--stack-outputs", outputs, "--pool", "prod-users") == 0


def test_pools_json_with_function(lam, tmp_path, monkeypatch, no_diff_modules):
    expect_invoke(lam, POOLS[2])
    path = tmp_path / "pools.json"
    path.write_text(json.dumps(POOLS))
    assert run_cli(monkeypatch, "--function", FUNCTION, "--pools-json", str(path), "--pool", "prod-partners") == 0


# --------------------------------------------------------------------------------------------------
# Failures of the function


def test_function_error_fails_naming_the_pool_and_the_message(lam, tmp_path, monkeypatch, capsys,
                                                              no_diff_modules):
    # Given a function that fails for the pool
    pool = POOLS[0]
    expect_invoke(lam, pool, function_error="Unhandled",
                  error_payload={"errorMessage": "ListUsers: AccessDeniedException: not authorized",
                                 "errorType": "SnapshotError", "stackTrace": ["..."]},
                  log="START RequestId: 1\nsnapshot failed\nEND RequestId: 1\n")
    summary = tmp_path / "summary.md"
    # When the command runs
    code = run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", pool["id"], "--pool-name", pool["name"],
                   "--summary", str(summary), "--json")
    # Then it fails, and says which pool and why: in the log, the JSON and the summary
    assert code == 1
    out, err = capsys.readouterr()
    assert "error: pool prod-users: " in err
    assert "SnapshotError" in err and "ListUsers: AccessDeniedException: not authorized" in err
    assert "snapshot failed" in err  # the function's log tail is in the job log
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "failed"
    assert result["results"][0]["error_type"] == "SnapshotError"
    md = summary.read_text()
    assert ":x: `prod-users`" in md
    assert "ListUsers: AccessDeniedException: not authorized" in md
    assert "snapshot failed" not in md  # logs stay out of the summary
    assert "0 of 1 snapshot(s) succeeded" in md


def test_function_timeout_without_error_type_is_a_failure(lam, monkeypatch, capsys, no_diff_modules):
    pool = POOLS[0]
    expect_invoke(lam, pool, function_error="Unhandled",
                  error_payload={"errorMessage": "2026-11-26T01:15:03Z Task timed out after 900.00 seconds"})
    code = run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", pool["id"], "--pool-name", pool["name"])
    assert code == 1
    err = capsys.readouterr().err
    assert "(Unhandled)" in err and "Task timed out after 900.00 seconds" in err


def test_an_answer_that_is_not_a_completed_snapshot_is_a_failure(lam, monkeypatch, capsys, no_diff_modules):
    pool = POOLS[0]
    expect_invoke(lam, pool, result={"status": "skipped", "reason": "already running"})
    assert run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", pool["id"], "--pool-name", pool["name"]) == 1
    assert "status 'skipped'" in capsys.readouterr().err


def test_an_aws_error_on_invoke_is_a_failure_of_that_pool(lam, monkeypatch, capsys, no_diff_modules):
    pool = POOLS[0]
    lam.add_client_error("invoke", service_error_code="ResourceNotFoundException",
                         service_message=f"Function not found: {FUNCTION}", http_status_code=404)
    assert run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", pool["id"], "--pool-name", pool["name"]) == 1
    err = capsys.readouterr().err
    assert "error: pool prod-users: invoking cognito-backup-prod failed: ResourceNotFoundException" in err


def test_a_read_timeout_says_the_function_may_still_be_running():
    class TimingOut:
        def invoke(self, **kwargs):
            raise ReadTimeoutError(endpoint_url="https://lambda.eu-west-1.amazonaws.com")

    r = invoke.invoke_pool(TimingOut(), FUNCTION, invoke.Pool("eu-west-1_X", "p"))
    assert r.status == "failed" and r.error_type == "ReadTimeout"
    assert "within 960 s" in r.error and "may still be running" in r.error


def test_the_invoke_waits_a_full_lambda_run_and_is_never_retried():
    client = invoke.lambda_client("eu-west-1")
    assert client.meta.config.read_timeout == invoke.INVOKE_READ_TIMEOUT_S >= 15 * 60 + 30
    assert client.meta.config.retries["total_max_attempts"] == 1


# --------------------------------------------------------------------------------------------------
# A snapshot too large for one run continues in the background


class FakeClock:
    """Stands in for the module's `time`: sleeping advances the clock and can run an action."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


def continued(pool: dict, key: str) -> dict:
    return ContinuedResult(key=key, checkpoint_key=f"cognito/.checkpoints/{key.rsplit('/', 1)[-1]}", generation=1,
                           bucket=BUCKET, pool_name=pool["name"], user_pool_id=pool["id"], users=120_000, groups=3,
                           memberships=0, federated_users=0, disabled_users=0).to_json()


def test_a_continued_snapshot_is_reported_once_its_manifest_appears(lam, s3, bucket, tmp_path, monkeypatch,
                                                                    capsys, no_diff_modules):
    # Given a function that answers "continued": the last run writes the manifest two polls later
    pool = POOLS[0]
    doc = make_snapshot(pool=default_pool(pool["id"], pool["name"]), taken_at=NOW)
    key = snapshot_key("", pool["name"], NOW)
    expect_invoke(lam, pool, result=continued(pool, key))
    clock = FakeClock(on_sleep=lambda n: n == 2 and write_s3(s3, bucket, doc))
    monkeypatch.setattr(invoke, "time", clock)
    summary = tmp_path / "summary.md"
    # When the command runs
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary), "--json")
    # Then it waited for the manifest and reports the snapshot with the manifest's counts
    assert code == 0
    assert clock.sleeps == 2
    [r] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    assert (r["status"], r["key"], r["runs"]) == ("ok", key, None)
    assert r["counts"]["users"] == 3 and r["counts"]["memberships"] == 3
    assert "taken over several Lambda runs" in summary.read_text()


def test_a_continued_snapshot_that_does_not_complete_in_time_fails(lam, bucket, tmp_path, monkeypatch, capsys):
    pool = POOLS[0]
    key = snapshot_key("", pool["name"], NOW)
    expect_invoke(lam, pool, result=continued(pool, key))
    clock = FakeClock()
    monkeypatch.setattr(invoke, "time", clock)
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--wait-minutes", "5")
    assert code == 1
    assert clock.now <= 5 * 60
    err = capsys.readouterr().err
    assert f"error: pool prod-users: the snapshot {key} continued in the background and was not complete " \
           "after 5 minutes" in err
    assert "failure queue" in err


# --------------------------------------------------------------------------------------------------
# Choosing pools


def test_unknown_pool_lists_the_known_ones_and_invokes_nothing(lam, tmp_path, monkeypatch, capsys):
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-usrs")
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown pool 'prod-usrs'" in err
    assert "prod-users, prod-staff, prod-partners (or `all`)" in err


def test_all_runs_every_pool_in_order_and_fails_at_the_end_if_one_failed(lam, tmp_path, monkeypatch, capsys,
                                                                          no_diff_modules):
    # Given three pools, the second of which fails
    expect_invoke(lam, POOLS[0])
    expect_invoke(lam, POOLS[1], function_error="Unhandled",
                  error_payload={"errorMessage": "throttled beyond retries", "errorType": "SnapshotError"})
    expect_invoke(lam, POOLS[2])
    summary = tmp_path / "summary.md"
    # When the command runs for `all`
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "all",
                   "--summary", str(summary), "--json")
    # Then every pool was invoked (the stubber checks the order), each is reported, and the run fails
    assert code == 1
    out, err = capsys.readouterr()
    results = json.loads(out.strip().splitlines()[-1])["results"]
    assert [(r["pool_name"], r["status"]) for r in results] == [
        ("prod-users", "ok"), ("prod-staff", "failed"), ("prod-partners", "ok")]
    assert "error: pool prod-staff: " in err and "throttled beyond retries" in err
    md = summary.read_text()
    assert md.count("### ") == 3
    assert md.index("prod-users") < md.index("prod-staff") < md.index("prod-partners")
    assert "2 of 3 snapshot(s) succeeded" in md


def test_all_succeeds_when_every_pool_does(lam, tmp_path, monkeypatch, no_diff_modules):
    for pool in POOLS:
        expect_invoke(lam, pool)
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "all") == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["--function", FUNCTION, "--pool-id", "eu-west-1_X"], "--pool-id needs --pool-name"),
    (["--function", FUNCTION, "--pools-json", "[]", "--pool", "all", "--pool-name", "x"],
     "--pool-name goes with --pool-id"),
    (["--function", FUNCTION, "--pool-id", "eu-west-1_X", "--pool-name", "x", "--pool", "x"],
     "with --pool-id, give --pool-name only"),
    (["--pool-id", "eu-west-1_X", "--pool-name", "x"], "no function to invoke"),
    (["--function", FUNCTION, "--pools-json", "[]", "--pool", "all"], "--pools-json lists no pools"),
    (["--function", FUNCTION, "--pools-json", json.dumps(POOLS)], "--pool is required with --pools-json"),
    (["--function", FUNCTION, "--pools-json", "[{\"id\": \"x\"}]", "--pool", "all"],
     "pools[0] needs a non-empty string id and name"),
    (["--function", FUNCTION, "--pools-json", json.dumps(POOLS + POOLS[:1]), "--pool", "all"],
     "pool names must be unique; repeated: prod-users"),
    (["--function", FUNCTION, "--pools-json", "[not json", "--pool", "all"],
     "--pools-json (inline JSON) is not valid JSON"),
    (["--function", FUNCTION, "--pools-json", "/nonexistent/pools.json", "--pool", "all"],
     "--pools-json: cannot read '/nonexistent/pools.json'"),
    (["--stack-outputs", json.dumps({"functionName": FUNCTION}), "--pool", "all"],
     "has no `pools` output (outputs: functionName); has the stack been deployed?"),
    (["--stack-outputs", json.dumps({"functionName": "[secret]", "pools": POOLS}), "--pool", "all"],
     "output 'functionName' must be a plain string"),
    (["--stack-outputs", json.dumps({"pools": POOLS}), "--pool", "all"], "output 'functionName' must be"),
    (["--stack-outputs", "[]", "--pool", "all"], "must be the JSON object of `pulumi stack output --json`"),
])
def test_usage_errors_name_what_is_wrong(lam, monkeypatch, capsys, argv, message):
    assert run_cli(monkeypatch, *argv) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# Changes since the previous snapshot


def test_without_the_diff_tooling_the_summary_says_diff_unavailable(lam, bucket, tmp_path, monkeypatch,
                                                                    no_diff_modules):
    expect_invoke(lam, POOLS[0])
    summary = tmp_path / "summary.md"
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary))
    # the snapshot succeeded, so the run does too; the summary says why it shows no changes
    assert code == 0
    assert "Changes since the previous snapshot: diff unavailable: cognito_backup.listing cannot be imported" \
        in summary.read_text()


def test_a_diff_module_without_diff_snapshots_is_reported(lam, bucket, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cognito_backup.listing", types.SimpleNamespace(list_snapshots=lambda *a, **k: []))
    monkeypatch.setitem(sys.modules, "cognito_backup.diff", types.SimpleNamespace())
    expect_invoke(lam, POOLS[0])
    summary = tmp_path / "summary.md"
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    assert "diff unavailable: cognito_backup.diff has no diff_snapshots()" in summary.read_text()


def test_without_a_bucket_flag_the_changes_come_from_the_bucket_the_function_wrote_to(lam, tmp_path, monkeypatch,
                                                                                       fake_diff_tooling):
    calls, state = fake_diff_tooling
    expect_invoke(lam, POOLS[0])  # the function's answer names its bucket
    summary = tmp_path / "summary.md"

    assert run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", POOLS[0]["id"],
                   "--pool-name", POOLS[0]["name"], "--summary", str(summary)) == 0

    assert [c["bucket"] for c in calls["list"]] == [BUCKET]
    assert "first complete snapshot of this pool" in summary.read_text()


def test_an_answer_without_the_snapshots_counts_is_a_failure_naming_the_missing_field(lam, tmp_path, monkeypatch,
                                                                                     capsys):
    partial = {k: v for k, v in ok_result(POOLS[0]).items() if k != "memberships"}
    expect_invoke(lam, POOLS[0], result=partial)

    assert run_cli(monkeypatch, "--function", FUNCTION, "--pool-id", POOLS[0]["id"],
                   "--pool-name", POOLS[0]["name"]) == 1

    assert "needs 'memberships'" in capsys.readouterr().err


@pytest.fixture
def fake_diff_tooling(monkeypatch):
    """Stand-ins with the signatures of listing.list_snapshots and diff.diff_snapshots, recording how
    the command calls them."""
    calls: dict = {"list": [], "diff": [], "diff_options": []}
    state: dict = {"snapshots": [], "summary": {}, "raise": None}

    def list_snapshots(s3, bucket, prefix="", pool_name=None):
        calls["list"].append({"bucket": bucket, "prefix": prefix, "pool_name": pool_name})
        return state["snapshots"]

    def diff_snapshots(source_a, source_b, s3=None, *, max_detail=10_000):
        calls["diff"].append((source_a, source_b))
        calls["diff_options"].append({"s3": s3 is not None, "max_detail": max_detail})
        if state["raise"]:
            raise state["raise"]
        return {"summary": state["summary"], "users": {"added": ["secret-user"]}}

    monkeypatch.setitem(sys.modules, "cognito_backup.listing",
                        types.SimpleNamespace(list_snapshots=list_snapshots))
    monkeypatch.setitem(sys.modules, "cognito_backup.diff", types.SimpleNamespace(diff_snapshots=diff_snapshots))
    return calls, state


def test_changes_are_diffed_against_the_newest_earlier_complete_snapshot(lam, bucket, tmp_path, monkeypatch,
                                                                         fake_diff_tooling):
    calls, state = fake_diff_tooling
    pool = POOLS[0]
    new_key = "backups/" + key_for(pool["name"], NOW)
    state["snapshots"] = [  # newest first, as list_snapshots returns them
        {"key": new_key, "complete": True, "taken_at": NOW, "users": 6, "groups": 2},
        {"key": "backups/" + key_for(pool["name"], NOW - timedelta(hours=3)), "complete": False,
         "taken_at": NOW - timedelta(hours=3), "users": None, "groups": None},
        {"key": "backups/" + key_for(pool["name"], NOW - timedelta(hours=6)), "complete": True,
         "manifest_error": "the manifest is not valid JSON", "taken_at": NOW - timedelta(hours=6)},
        {"key": "backups/" + key_for(pool["name"], NOW - timedelta(days=1)), "complete": True,
         "taken_at": NOW - timedelta(days=1), "users": 5, "groups": 2},
    ]
    state["summary"] = {"users_added": 2, "users_removed": 1, "users_changed": 0, "memberships_gained": 3,
                        "memberships_lost": 0, "groups_added": 0, "groups_removed": 1,
                        "config_changed": ["clients", "mfa_config"]}
    expect_invoke(lam, pool, result=ok_result(pool, key=new_key))
    summary = tmp_path / "summary.md"

    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0

    # the listing was asked for this pool under the prefix the new key was written with
    assert calls["list"] == [{"bucket": BUCKET, "prefix": "backups/", "pool_name": "prod-users"}]
    # the incomplete snapshot of 3 hours ago and the unreadable one of 6 hours ago were passed over
    previous = "backups/2026/11/25/prod-users_20261125_010003.json"
    assert calls["diff"] == [(f"s3://{BUCKET}/{previous}", f"s3://{BUCKET}/{new_key}")]
    # with the command's S3 client, and no more detail than needed (the report shows counts only)
    assert calls["diff_options"] == [{"s3": True, "max_detail": 1}]
    md = summary.read_text()
    assert f"Changes since `{previous}` (2026-11-25 01:00:03+00:00):" in md
    assert "| users added | users removed | users changed | memberships gained | memberships lost " \
           "| groups added | groups removed |" in md
    assert "| 2 | 1 | 0 | 3 | 0 | 0 | 1 |" in md
    assert "Configuration changed: `clients`, `mfa_config`" in md
    assert "secret-user" not in md  # only the counts reach the summary


def test_the_first_snapshot_of_a_pool_has_nothing_to_compare(lam, bucket, tmp_path, monkeypatch, fake_diff_tooling):
    calls, state = fake_diff_tooling
    pool = POOLS[0]
    state["snapshots"] = [{"key": key_for(pool["name"], NOW), "complete": True, "taken_at": NOW}]
    expect_invoke(lam, pool)
    summary = tmp_path / "summary.md"
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    assert calls["diff"] == []
    assert "first complete snapshot of this pool: nothing to compare with" in summary.read_text()


def test_a_failing_diff_is_reported_but_does_not_fail_the_run(lam, bucket, tmp_path, monkeypatch, fake_diff_tooling):
    _, state = fake_diff_tooling
    pool = POOLS[0]
    state["snapshots"] = [{"key": key_for(pool["name"], NOW - timedelta(days=1)), "complete": True,
                           "taken_at": NOW - timedelta(days=1)}]
    state["raise"] = PermissionError("kms:Decrypt denied")
    expect_invoke(lam, pool)
    summary = tmp_path / "summary.md"
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    assert "diff unavailable: PermissionError: kms:Decrypt denied" in summary.read_text()


def test_no_configuration_change_is_said_plainly(lam, bucket, tmp_path, monkeypatch, fake_diff_tooling):
    _, state = fake_diff_tooling
    pool = POOLS[0]
    state["snapshots"] = [{"key": key_for(pool["name"], NOW - timedelta(days=1)), "complete": True}]
    state["summary"] = {"users_added": 0, "users_removed": 1, "config_changed": [], "identical": False}
    expect_invoke(lam, pool)
    summary = tmp_path / "summary.md"
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    md = summary.read_text()
    assert "| users added | users removed |" in md and "Configuration: unchanged" in md


def test_the_summary_shows_changed_fields_and_sections_not_compared(lam, bucket, tmp_path, monkeypatch,
                                                                    fake_diff_tooling):
    _, state = fake_diff_tooling
    pool = POOLS[0]
    state["snapshots"] = [{"key": key_for(pool["name"], NOW - timedelta(days=1)), "complete": True}]
    fields = {f"attribute custom:f{i}": 12 - i for i in range(12)}
    state["summary"] = {"users_changed": 30, "groups_changed": 1, "changed_fields": fields, "config_changed": [],
                        "not_compared": ["risk_configuration"], "identical": False, "users_a": 5, "users_b": 5}
    expect_invoke(lam, pool)
    summary = tmp_path / "summary.md"
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    md = summary.read_text()
    assert "| users changed | groups changed |\n|---:|---:|\n| 30 | 1 |" in md
    assert "Changed user fields: `attribute custom:f0` (12), " in md and ", and 2 more" in md
    assert "`attribute custom:f10`" not in md
    assert "Not compared: `risk_configuration`" in md
    assert "users a" not in md  # totals are not changes


def test_identical_snapshots_say_no_changes(lam, bucket, tmp_path, monkeypatch, fake_diff_tooling):
    _, state = fake_diff_tooling
    pool = POOLS[0]
    state["snapshots"] = [{"key": key_for(pool["name"], NOW - timedelta(days=1)), "complete": True}]
    state["summary"] = {"users_added": 0, "users_removed": 0, "config_changed": [], "identical": True}
    expect_invoke(lam, pool)
    summary = tmp_path / "summary.md"
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    md = summary.read_text()
    assert "No changes: users, memberships, groups and configuration are the same." in md
    assert "| users added |" not in md


# The real diff tooling, end to end: snapshots written by tests/snapshot_builder.py (the documented
# format) into moto's S3.

def test_the_previous_snapshot_is_found_by_the_real_listing(lam, s3, bucket, tmp_path, monkeypatch):
    listing = pytest.importorskip("cognito_backup.listing", reason="cognito_backup.listing is not written yet")
    # Given, under a prefix: yesterday's complete snapshot, this morning's incomplete one (no manifest),
    # another pool's newer snapshot, and the one the function has just written
    pool = POOLS[0]
    source = default_pool(pool["id"], pool["name"])
    previous = write_s3(s3, bucket, make_snapshot(pool=source, taken_at=NOW - timedelta(days=1)), prefix="cb/")
    write_s3(s3, bucket, make_snapshot(pool=source, taken_at=NOW - timedelta(hours=2)), prefix="cb/", manifest=False)
    write_s3(s3, bucket, make_snapshot(pool=default_pool(POOLS[1]["id"], POOLS[1]["name"]),
                                       taken_at=NOW - timedelta(hours=1)), prefix="cb/")
    new_key = write_s3(s3, bucket, make_snapshot(pool=source, taken_at=NOW), prefix="cb/")
    diffed: list = []
    monkeypatch.setitem(sys.modules, "cognito_backup.listing", listing)
    monkeypatch.setitem(sys.modules, "cognito_backup.diff", types.SimpleNamespace(
        diff_snapshots=lambda a, b, s3=None, **_: diffed.append((a, b)) or {"summary": {"users_added": 0}}))
    expect_invoke(lam, pool, result=ok_result(pool, key=new_key))
    summary = tmp_path / "summary.md"
    # When the command runs
    assert run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary)) == 0
    # Then it compared the new snapshot with yesterday's, the newest complete one of the same pool
    assert previous == "cb/2026/11/25/prod-users_20261125_010003.json"
    assert diffed == [(f"s3://{BUCKET}/{previous}", f"s3://{BUCKET}/{new_key}")]
    assert f"Changes since `{previous}` (2026-11-25T01:00:03Z):" in summary.read_text()


def test_changes_from_the_real_diff_tooling(lam, s3, bucket, tmp_path, monkeypatch, capsys):
    listing = pytest.importorskip("cognito_backup.listing", reason="cognito_backup.listing is not written yet")
    diff = pytest.importorskip("cognito_backup.diff", reason="cognito_backup.diff is not written yet")
    if not callable(getattr(listing, "list_snapshots", None)) or not callable(getattr(diff, "diff_snapshots", None)):
        pytest.skip("cognito_backup.listing.list_snapshots / cognito_backup.diff.diff_snapshots not written yet")
    # Given yesterday's complete snapshot and the one the function has just written
    pool = POOLS[0]
    source = default_pool(pool["id"], pool["name"])
    write_s3(s3, bucket, make_snapshot(
        pool=source, taken_at=NOW - timedelta(days=1),
        users=[make_user("alice"), make_user("bob")],
        groups=[make_group("admins", ["alice"], precedence=1)]))
    new_key = write_s3(s3, bucket, make_snapshot(
        pool=source, taken_at=NOW,
        users=[make_user("bob"), make_user("carol")],
        groups=[make_group("admins", ["bob"], precedence=1), make_group("staff", ["carol"], precedence=5)],
        sections={"mfa_config": present({"MfaConfiguration": "OPTIONAL"})}))
    expect_invoke(lam, pool, result=ok_result(pool, users=2, key=new_key))
    summary = tmp_path / "summary.md"
    # When the command runs
    code = run_cli(monkeypatch, "--stack-outputs", outputs_file(tmp_path), "--pool", "prod-users",
                   "--summary", str(summary), "--json")
    # Then the summary tells what changed since yesterday
    assert code == 0
    [r] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    assert r["previous_key"] == "2026/11/25/prod-users_20261125_010003.json", r["changes_note"]
    assert r["changes"]["users_added"] == 1
    assert r["changes"]["users_removed"] == 1
    assert r["changes"]["groups_added"] == 1
    assert "mfa_config" in r["changes"]["config_changed"]
    md = summary.read_text()
    assert "Changes since `2026/11/25/prod-users_20261125_010003.json`" in md
    # added carol, removed alice; bob and carol joined groups, alice left admins; staff is new
    assert "| 1 | 1 | 0 | 2 | 1 | 1 | 0 | 0 |" in md
    assert "Configuration changed: `mfa_config`" in md


# --------------------------------------------------------------------------------------------------
# Small pieces


@pytest.mark.parametrize(("key", "prefix"), [
    ("2026/11/26/prod-users_20261126_010003.json", ""),
    ("backups/2026/11/26/prod-users_20261126_010003.json", "backups/"),
    ("a/b/2026/11/26/p_1_20261126_010003.json", "a/b/"),
    ("not-a-snapshot-key", ""),
])
def test_snapshot_prefix(key, prefix):
    assert invoke.snapshot_prefix(key) == prefix


@given(st.text())
def test_inline_code_holds_any_text_on_one_line(text):
    code = invoke_report._code(text)
    assert code.startswith("`") and code.endswith("`") and code.count("`") == 2
    assert "\n" not in code and "\r" not in code


@given(st.lists(st.fixed_dictionaries({"id": st.text(min_size=1), "name": st.text(min_size=1)}),
                min_size=1, unique_by=lambda p: p["name"]))
def test_any_valid_pool_list_parses_and_all_selects_every_pool_in_order(pools):
    parsed = invoke_target.parse_pools(pools, "test")
    assert invoke_target.select_pools(parsed, "all", "test") == [invoke.Pool(p["id"], p["name"]) for p in pools]
    if pools[-1]["name"] != "all":
        assert invoke_target.select_pools(parsed, pools[-1]["name"], "test") == [parsed[-1]]


def test_all_means_every_pool_even_when_one_is_named_all():
    pools = invoke_target.parse_pools([{"id": "a", "name": "all"}, {"id": "b", "name": "users"}], "test")
    assert invoke_target.select_pools(pools, "all", "test") == pools


def test_the_region_is_the_pools_own_so_one_workflow_serves_stacks_in_any_region():
    from cognito_backup.invoke_target import Pool, Target

    assert Target("fn", [Pool("eu-west-1_AbC", "a"), Pool("eu-west-1_DeF", "b")]).region == "eu-west-1"
    assert Target("fn", [Pool("us-east-1_AbC", "a")]).region == "us-east-1"
    assert Target("fn", [Pool("eu-west-1_AbC", "a"), Pool("us-east-1_AbC", "b")]).region is None
