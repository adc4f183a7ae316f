"""When the account's UserList quota left to the backup is lower than its budget (the application is
busy), the snapshot is throttled, slows down, and still ends exact. Against the benchmark's stand-in
Cognito (a real HTTP endpoint with a token-bucket quota) and a moto S3 server; not timed."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from backup_lambda.aws import make_client
from backup_lambda.snapshot import take_snapshot
from benchmarks import harness
from benchmarks.stand_in_cognito import StandInCognito, StandInServer
from benchmarks.synthetic_pool import SyntheticPool

pytestmark = pytest.mark.slow  # left out of `python3 tasks.py test`; CI runs it (.ci/run)

USERS = 2000
QUOTA = 6.0  # UserList calls/s left to the backup
BUDGET = 15.0  # what the backup would use if it could


@pytest.fixture
def s3_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def busy_cognito():
    app = StandInCognito(SyntheticPool(USERS), latency=0.01, quota=QUOTA, burst=1)
    with StandInServer(app) as server:
        yield app, server.endpoint_url


def test_a_quota_below_the_budget_throttles_slows_and_stays_exact(aws_env, monkeypatch, s3_url, busy_cognito):
    app, cognito_url = busy_cognito
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", cognito_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_url)
    s3 = make_client("s3")
    s3.create_bucket(Bucket="snapshots")

    result = take_snapshot(make_client("cognito-idp"), s3, user_pool_id=app.pool.pool_id, bucket="snapshots",
                           request_budget=BUDGET)

    stats = app.stats()
    attempts = stats["user_list_calls"]
    assert stats["throttles"] >= 1 and result.throttles >= 1
    # It backs off instead of retrying at its budget: a client holding 15 calls/s against a quota of
    # 6 would see more than half of its attempts refused.
    assert stats["throttles"] <= attempts / 4, stats
    checked = harness.verify(s3, "snapshots", result.key, app.pool)
    assert checked["exact"], checked["problems"]
    assert checked["memberships"] == "exact"
    assert harness.verify_manifest(s3, "snapshots", result.manifest_key, checked) == []
    assert result.users == USERS


def test_the_stand_in_refuses_calls_beyond_its_quota_as_aws_does(aws_env):
    app = StandInCognito(SyntheticPool(100), quota=0.01, burst=2)  # two calls, then ~none
    with StandInServer(app) as server:
        cognito = boto3.client("cognito-idp", endpoint_url=server.endpoint_url,
                               config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        pool_id = app.pool.pool_id
        cognito.list_users(UserPoolId=pool_id, Limit=60)
        cognito.list_users_in_group(UserPoolId=pool_id, GroupName="beta-testers")

        with pytest.raises(cognito.exceptions.TooManyRequestsException) as err:
            cognito.list_users(UserPoolId=pool_id, Limit=60)

        assert err.value.response["Error"] == {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        cognito.describe_user_pool(UserPoolId=pool_id)  # other categories are not counted
        assert app.stats()["throttled"] == {"ListUsers": 1}
