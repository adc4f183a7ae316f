"""No secret and no attribute value escapes: every byte written to S3, logged or printed is scanned.

The pool holds known secrets (an OIDC provider's client_secret, an app client's generated secret) and
known attribute values (emails, phone numbers, names). Each scenario runs the real code path (the
Lambda handler, the CLI, a continued multi-run snapshot, a failing run, a restore) and collects:
- every request body sent to S3 (parts of aborted uploads and checkpoints too), every object left;
- every log line: the Lambda's Powertools JSON lines, and all records of every logger at INFO (the
  production level) plus the project's own at DEBUG;
- stdout and stderr (EMF metrics, CLI output), and the value returned.
Secrets must appear in none of it; attribute values in none of the logs; excluded attributes nowhere.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from demo.sample_pool import build_pool
from tests.support.fault_injection import (
    ACCESS_DENIED,
    CallRecorder,
    CapturedLogs,
    Injector,
    LambdaRuns,
    fast_retries_and_limits,
    small_parts,
)

NOW = datetime(2026, 11, 24, 1, 0, 3, tzinfo=timezone.utc)


@pytest.fixture
def fast(monkeypatch):
    fast_retries_and_limits(monkeypatch)
    return small_parts(monkeypatch, 4096)


@pytest.fixture
def lambda_env(monkeypatch, bucket, fast):
    from backup_lambda import handler

    monkeypatch.setenv("BACKUP_BUCKET", bucket)
    monkeypatch.setenv("REQUEST_BUDGET", "30")
    monkeypatch.setattr(handler, "take_snapshot", _with(handler.take_snapshot, part_size=fast, now=NOW))
    return bucket


def _with(fn, **fixed):
    def call(*args, **kwargs):
        return fn(*args, **{**kwargs, **fixed})

    return call


class Evidence:
    """Everything a scenario wrote, logged, printed and returned, as text to search."""

    def __init__(self, s3, bucket: str, recorder: CallRecorder, logs: CapturedLogs, captured, returned: Any):
        self.objects = {}
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            self.objects[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        self.sent = recorder.bytes_sent()
        self.logs = logs.text()
        self.out, self.err = captured.out, captured.err
        self.returned = json.dumps(returned, default=str)

    def written(self) -> str:
        """Every byte sent to or left in S3, decoded (checkpoints carry base64 of buffered document bytes)."""
        parts = [self.sent, *self.objects.values()]
        for body in [self.sent, *self.objects.values()]:
            for blob in re.findall(rb'"tail": ?"([A-Za-z0-9+/=]*)"', body):
                parts.append(base64.b64decode(blob))
        return b"\n".join(parts).decode("utf-8", "replace")

    def everything(self) -> dict[str, str]:
        return {"written": self.written(), "logs": self.logs, "stdout": self.out, "stderr": self.err,
                "returned": self.returned}


def secrets_of(sample) -> list[str]:
    secrets = [sample.idp_secret, *sample.client_secrets]
    assert len(secrets) == 2 and all(len(s) >= 16 for s in secrets)
    return secrets


def attribute_values(cognito, pool_id: str) -> dict[str, set[str]]:
    """Every attribute value in the pool, by attribute name (what must not be logged)."""
    values: dict[str, set[str]] = {}
    token = None
    while True:
        page = cognito.list_users(UserPoolId=pool_id, **({"PaginationToken": token} if token else {}))
        for user in page["Users"]:
            for attr in user["Attributes"]:
                values.setdefault(attr["Name"], set()).add(attr["Value"])
        token = page.get("PaginationToken")
        if not token:
            return values


PII_ATTRIBUTES = ("email", "phone_number", "given_name", "family_name")


def pii(values: dict[str, set[str]]) -> set[str]:
    return {v for name in PII_ATTRIBUTES for v in values.get(name, ())}


def leaks(needles, text: str) -> list[str]:
    found = []
    for needle in needles:
        pattern = re.escape(needle)
        if needle[:1].isalnum():
            pattern = r"(?<!\w)" + pattern
        if needle[-1:].isalnum():
            pattern += r"(?!\w)"
        if re.search(pattern, text):
            found.append(needle)
    return sorted(found)


def assert_no_secret(evidence: Evidence, secrets: list[str]) -> None:
    for where, text in evidence.everything().items():
        assert not leaks(secrets, text), f"a secret reached {where}"


def assert_no_pii_in_logs(evidence: Evidence, values: set[str]) -> None:
    assert values, "the pool has no attribute values to look for"
    for where in ("logs", "stdout", "stderr", "returned"):
        found = leaks(values, evidence.everything()[where])
        assert not found, f"attribute values in {where}: {found[:5]}"


# --- the Lambda -----------------------------------------------------------------------------------

def test_a_lambda_snapshot_leaks_no_secret_and_logs_no_attribute_value(cognito, s3, lambda_env, monkeypatch, capsys):
    sample = build_pool(cognito, "secure-pool", users=40, unconfirmed=2)
    values = attribute_values(cognito, sample.pool_id)
    recorder = CallRecorder()
    runs = LambdaRuns(monkeypatch, recorder)
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        result = runs({"user_pool_id": sample.pool_id, "pool_name": "secure-pool"})

    evidence = Evidence(s3, lambda_env, recorder, logs, capsys.readouterr(), result)
    assert result["status"] == "ok" and result["users"] == 42
    assert "snapshot complete" in evidence.logs and "SnapshotSucceeded" in evidence.out
    assert leaks(values["email"], evidence.written()), "the scan would not see a value that is there"
    assert_no_secret(evidence, secrets_of(sample))
    assert_no_pii_in_logs(evidence, pii(values) | set(sample.users))


def test_a_continued_snapshot_leaks_nothing_through_checkpoints_or_invocations(cognito, s3, lambda_env, monkeypatch,
                                                                             capsys):
    sample = build_pool(cognito, "long-pool", users=120, unconfirmed=0)
    values = attribute_values(cognito, sample.pool_id)
    recorder = CallRecorder()
    runs = LambdaRuns(monkeypatch, recorder)
    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 10)  # many pages: several hand-overs
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        # two remaining-time checks a run: how many land before the users are all read depends on how
        # the concurrent phases interleave, so a run hands over after one or two pages
        result = runs.until_done({"user_pool_id": sample.pool_id, "pool_name": "long-pool"}, pages=2)

    evidence = Evidence(s3, lambda_env, recorder, logs, capsys.readouterr(), result)
    assert result["status"] == "ok" and result["runs"] >= 2  # at least one hand-over (usually two)
    assert recorder.count("s3", "PutObject") >= 3 and recorder.count("s3", "GetObject") >= 2
    evidence.returned += json.dumps(runs.invocations)
    assert_no_secret(evidence, secrets_of(sample))
    assert_no_pii_in_logs(evidence, pii(values) | set(sample.users))


def test_a_failing_run_leaks_nothing_in_its_error_and_traceback(cognito, s3, lambda_env, monkeypatch, capsys):
    sample = build_pool(cognito, "failing-pool", users=70, unconfirmed=0)
    values = attribute_values(cognito, sample.pool_id)
    recorder = CallRecorder()

    def deny_late_listing(service, client):
        if service == "cognito-idp":
            Injector(client, "ListUsers", ACCESS_DENIED, skip=6, times=None)

    runs = LambdaRuns(monkeypatch, recorder, prepare=deny_late_listing)
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs, pytest.raises(Exception) as raised:
        runs({"user_pool_id": sample.pool_id})

    evidence = Evidence(s3, lambda_env, recorder, logs, capsys.readouterr(), str(raised.value))
    assert "snapshot failed" in evidence.logs and "Traceback" in evidence.logs
    assert recorder.count("s3", "UploadPart") >= 1 and recorder.count("s3", "AbortMultipartUpload") == 1
    assert_no_secret(evidence, secrets_of(sample))
    assert_no_pii_in_logs(evidence, pii(values) | set(sample.users))


# --- EXCLUDE_ATTRIBUTES ---------------------------------------------------------------------------

def test_excluded_attributes_are_nowhere_in_what_the_lambda_writes_or_logs(cognito, s3, lambda_env, monkeypatch,
                                                                          capsys):
    sample = build_pool(cognito, "private-pool", users=45, unconfirmed=0, big_group_members=30)
    values = attribute_values(cognito, sample.pool_id)
    excluded = ["phone_number", "given_name", "custom:org_id"]
    monkeypatch.setenv("EXCLUDE_ATTRIBUTES", " , ".join(excluded))
    recorder = CallRecorder()
    runs = LambdaRuns(monkeypatch, recorder)
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        result = runs({"user_pool_id": sample.pool_id})

    evidence = Evidence(s3, lambda_env, recorder, logs, capsys.readouterr(), result)
    doc = json.loads(evidence.objects[result["key"]])
    assert {a["Name"] for u in doc["users"] for a in u["Attributes"]}.isdisjoint(excluded)
    assert {a["Name"] for u in doc["users"] for a in u["Attributes"]} >= {"sub", "email", "family_name"}
    assert doc["summary"]["excluded_attributes"] == sorted(excluded)
    assert sum(len(g["Members"]) for g in doc["groups"]) == result["memberships"] > 30
    for where, text in evidence.everything().items():  # phone numbers are distinctive enough to search for
        assert not leaks(values["phone_number"], text), f"an excluded phone number reached {where}"
    # org ids are small numbers and given names make up usernames here ("ana.00000"): look for the attributes
    for name in excluded:
        assert not re.search(rf'"Name":\s*"{re.escape(name)}",\s*"Value"', evidence.written()), name


def test_an_excluded_email_is_gone_from_users_and_group_members_of_an_email_sign_in_pool(
        cognito, s3, lambda_env, monkeypatch, capsys):
    """Where users sign in with their email, Cognito names them by a generated id: excluding
    ``email`` leaves no address anywhere, group member lists included."""
    from tests.support.rich_pool import build_rich_pool

    pool_id = build_rich_pool(cognito, "email-pool", username_attributes=["email"])
    emails = attribute_values(cognito, pool_id)["email"]
    monkeypatch.setenv("EXCLUDE_ATTRIBUTES", "email,email_verified")
    recorder = CallRecorder()
    runs = LambdaRuns(monkeypatch, recorder)
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        result = runs({"user_pool_id": pool_id})

    evidence = Evidence(s3, lambda_env, recorder, logs, capsys.readouterr(), result)
    doc = json.loads(evidence.objects[result["key"]])
    assert result["memberships"] == 5 and len(emails) == 5
    assert all(m not in emails for g in doc["groups"] for m in g["Members"])
    for where, text in evidence.everything().items():
        assert not leaks(emails, text), f"an excluded email reached {where}"
        assert "@example.com" not in text, where


# --- the CLI --------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--json"], ["--json", "--quiet"]])
def test_the_cli_prints_no_secret_and_no_attribute_value(cognito, s3, bucket, fast, monkeypatch, capsys, extra):
    import boto3

    from backup_lambda import aws
    from cognito_backup import snapshot_command as snapshot_cli
    from cognito_backup.cli import main

    sample = build_pool(cognito, "cli-pool", users=30, unconfirmed=0)
    values = attribute_values(cognito, sample.pool_id)
    recorder = CallRecorder()
    session = boto3.Session()
    monkeypatch.setattr(snapshot_cli, "make_client",
                        lambda service, **kw: recorder.attach(aws.make_client(service, session=session, **kw)))
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        code = main(["snapshot", "--user-pool-id", sample.pool_id, "--bucket", bucket, "--request-budget", "30",
                     *extra])

    captured = capsys.readouterr()
    evidence = Evidence(s3, bucket, recorder, logs, captured, None)
    assert code == 0 and "users" in captured.out + captured.err
    assert_no_secret(evidence, secrets_of(sample))
    assert_no_pii_in_logs(evidence, pii(values) | set(sample.users))


# --- restore --------------------------------------------------------------------------------------

def test_a_restore_prints_and_writes_no_secret(cognito, s3, bucket, fast, tmp_path, monkeypatch, capsys):
    """The provider secret comes in by ``--secrets FILE`` and the new clients get new secrets: neither
    is printed, logged or put in the mapping file."""
    from backup_lambda.snapshot import take_snapshot
    from cognito_backup.cli import main

    sample = build_pool(cognito, "restore-me", users=12, unconfirmed=0)
    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, request_budget=30, now=NOW)
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"CorpOIDC": {"client_secret": sample.idp_secret}}))
    mapping = tmp_path / "mapping.json"
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        code = main(["restore", f"s3://{bucket}/{result.key}", "--new-pool-name", "restored", "--users-via",
                     "admin-create", "--secrets", str(secrets_file), "--mapping-file", str(mapping), "--json",
                     "--work-dir", str(tmp_path)])

    captured = capsys.readouterr()
    assert code == 0, captured.err[-500:]
    report = json.loads(captured.out.strip().splitlines()[-1])
    new_pool = report["target_user_pool_id"]
    clients = cognito.list_user_pool_clients(UserPoolId=new_pool, MaxResults=60)["UserPoolClients"]
    described = [cognito.describe_user_pool_client(UserPoolId=new_pool, ClientId=c["ClientId"])["UserPoolClient"]
                 for c in clients]
    new_secrets = [c["ClientSecret"] for c in described if c.get("ClientSecret")]
    provider = cognito.describe_identity_provider(UserPoolId=new_pool, ProviderName="CorpOIDC")["IdentityProvider"]
    assert provider["ProviderDetails"]["client_secret"] == sample.idp_secret and len(new_secrets) == 1
    outputs = {"stdout": captured.out, "stderr": captured.err, "logs": logs.text(),
               "mapping file": mapping.read_text() if mapping.exists() else ""}
    for where, text in outputs.items():
        assert not leaks([sample.idp_secret, *new_secrets], text), f"a secret reached {where}"
    assert outputs["mapping file"], "the restore wrote no mapping file"
