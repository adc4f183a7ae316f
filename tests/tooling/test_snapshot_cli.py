"""`python -m cognito_backup snapshot` end to end, against a moto server on localhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from demo.emulator import LocalAws
from demo.sample_pool import build_pool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server():
    with LocalAws() as local:
        yield local


def run_cli(server, *args):
    env = {**os.environ, **server.env(), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cognito_backup", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_snapshot_command_against_a_moto_server(server):
    env = server.env()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                            region_name="us-east-1")
    cognito = session.client("cognito-idp", endpoint_url=env["AWS_ENDPOINT_URL"])
    s3 = session.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    kms_key = session.client("kms", endpoint_url=env["AWS_ENDPOINT_URL"]).create_key()["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="cli-snapshots")
    sample = build_pool(cognito, "cli-pool", users=70, unconfirmed=3)

    proc = run_cli(server, "snapshot", "--user-pool-id", sample.pool_id, "--bucket", "cli-snapshots",
                   "--pool-name", "cli", "--prefix", "daily/", "--kms-key-id", kms_key,
                   "--exclude-attributes", "phone_number", "--request-budget", "30", "--json")

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok" and result["users"] == 73
    assert result["key"].startswith("daily/") and "/cli_" in result["key"]
    assert "users" in proc.stderr  # progress went to stderr
    head = s3.head_object(Bucket="cli-snapshots", Key=result["key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    body = s3.get_object(Bucket="cli-snapshots", Key=result["key"])["Body"].read()
    assert b"+1555" not in body  # the phone numbers (the name still appears in the schema)
    assert all(secret.encode() not in body for secret in [sample.idp_secret, *sample.client_secrets])
    s3.head_object(Bucket="cli-snapshots", Key=result["manifest_key"])


def test_snapshot_command_reports_a_missing_pool_clearly(server):
    boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(  # noqa: S106
        Bucket="cli-missing")

    proc = run_cli(server, "snapshot", "--user-pool-id", "us-east-1_nope", "--bucket", "cli-missing", "--json")

    assert proc.returncode == 2
    assert "DescribeUserPool failed for user pool us-east-1_nope" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "error"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user-pool-id", "bad", "--bucket", "b-ok"], "--user-pool-id must look like"),
        (["--user-pool-id", "us-east-1_a", "--bucket", "B"], "--bucket must be an S3 bucket name"),
        (["--user-pool-id", "us-east-1_a", "--bucket", "b-ok", "--exclude-attributes", "sub"], "cannot exclude"),
    ],
)
def test_snapshot_command_refuses_bad_arguments(server, args, message):
    proc = run_cli(server, "snapshot", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
