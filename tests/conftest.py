"""Shared fixtures: fake credentials, moto in process (with the Cognito read calls moto lacks, as
AWS answers them for a pool that does not use them: demo/cognito_gaps.py), clients and a bucket."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from demo.emulator import FAKE_ENV, install_cognito_gaps

install_cognito_gaps()

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) draws the same examples on every run, so that a red build
# always means a change broke something; local runs keep drawing new ones, to find what is not yet known.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def unsigned_snapshots_accepted(request, monkeypatch):
    """Most suites build their snapshots by hand or take them without the stack's signing key: they run
    as ``--allow-unsigned`` would (COGNITO_BACKUP_ALLOW_UNSIGNED=1). Tests marked ``signatures`` run as an
    operator does by default, refusing unsigned snapshots (tests/tooling/test_signatures.py)."""
    monkeypatch.delenv("COGNITO_BACKUP_SIGNING_KEY", raising=False)
    if request.node.get_closest_marker("signatures"):
        monkeypatch.delenv("COGNITO_BACKUP_ALLOW_UNSIGNED", raising=False)
    else:
        monkeypatch.setenv("COGNITO_BACKUP_ALLOW_UNSIGNED", "1")


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "BACKUP_BUCKET", "KMS_KEY_ID", "SNAPSHOT_PREFIX",
                "EXCLUDE_ATTRIBUTES", "REQUEST_BUDGET", "SIGNING_KEY_ID", "COGNITO_BACKUP_SIGNING_KEY"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def aws(aws_env):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def cognito(aws):
    from backup_lambda.aws import make_client

    return make_client("cognito-idp")


@pytest.fixture
def s3(aws):
    from backup_lambda.aws import make_client

    return make_client("s3")


@pytest.fixture
def signing_key(aws):
    """The ARN of a signing key like the stack's (asymmetric, SIGN_VERIFY), in moto."""
    from tests.support.signing import make_signing_key

    return make_signing_key()


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket="snapshots-test")
    return "snapshots-test"


def pytest_configure(config):
    config.addinivalue_line("markers", "signatures: runs with unsigned snapshots refused, as an operator's default")
    config.addinivalue_line(
        "markers", "slow: memory and scale tests (seconds to a minute each): left out of `python3 tasks.py test`, "
        "run by CI (`python3 tasks.py test --slow`)")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CognitoBackup")
