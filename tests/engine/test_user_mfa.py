"""captureUserMfa: each user's MFA settings (AdminGetUser's UserMFASettingList and PreferredMfaSetting), on and
off, over hand-overs (a page is written whole: a hand-over never splits a user), under its own quota category;
never a secret. moto keeps SMS and TOTP preferences (AdminSetUserMFAPreference); email MFA is covered with
botocore's Stubber (moto does not model it)."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from backup_lambda.aws import make_client
from backup_lambda.checkpoint import load_checkpoint
from backup_lambda.errors import ConfigError
from backup_lambda.pool_reader import PoolReader
from backup_lambda.quotas import OPERATION_CATEGORY
from backup_lambda.settings import load_settings
from backup_lambda.snapshot import resume_snapshot, take_snapshot
from backup_lambda.user_mfa import UserMfa
from demo.sample_pool import build_pool
from tests.engine.test_continuation import body, short_run, small_parts  # noqa: F401,F811 - fixture
from tests.engine.test_snapshot import NOW


def enrol(cognito, pool_id: str, sample) -> dict[str, str]:
    """Two users with SMS MFA (one preferring it), one with TOTP: their usernames by what they have."""
    sms, sms_preferred, totp = sample.users[0], sample.users[3], sample.users[1]
    cognito.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=sms,
                                          SMSMfaSettings={"Enabled": True, "PreferredMfa": False})
    cognito.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=sms_preferred,
                                          SMSMfaSettings={"Enabled": True, "PreferredMfa": True})
    # moto wants a verified authenticator before TOTP can be preferred: enrolled in its backend directly.
    from moto.cognitoidp.models import cognitoidp_backends

    backend = cognitoidp_backends["123456789012"][cognito.meta.region_name]  # moto's default account
    user = backend.user_pools[pool_id]._get_user(totp)
    user.software_token_mfa_enabled, user.preferred_mfa_setting = True, "SOFTWARE_TOKEN_MFA"
    return {"sms": sms, "sms_preferred": sms_preferred, "totp": totp}


def counted(cognito):
    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-identity-provider",
                                 lambda model, **_: calls.append(model.name))
    return calls


def test_with_the_option_every_user_carries_its_mfa_settings(cognito, s3, bucket):
    sample = build_pool(cognito, "mfa-on", users=70, unconfirmed=0, with_config=False)
    who = enrol(cognito, sample.pool_id, sample)
    calls = counted(cognito)

    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                           capture_user_mfa=True)

    doc = json.loads(body(s3, bucket, result.key))
    mfa = {u["Username"]: u["MFA"] for u in doc["users"]}
    assert set(mfa) == set(sample.users)
    assert mfa[who["sms"]] == {"UserMFASettingList": ["SMS_MFA"]}
    assert mfa[who["sms_preferred"]] == {"UserMFASettingList": ["SMS_MFA"], "PreferredMfaSetting": "SMS_MFA"}
    assert mfa[who["totp"]] == {"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"],
                                "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"}
    assert sum(1 for m in mfa.values() if m == {}) == 67
    assert calls.count("AdminGetUser") == 70
    assert set(doc["users"][0]) <= {"Username", "Attributes", "UserCreateDate", "UserLastModifiedDate", "Enabled",
                                    "UserStatus", "MFAOptions", "MFA"}


def test_without_the_option_no_user_is_asked_and_none_carries_mfa(cognito, s3, bucket):
    sample = build_pool(cognito, "mfa-off", users=20, unconfirmed=0, with_config=False)
    enrol(cognito, sample.pool_id, sample)
    calls = counted(cognito)

    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30)

    doc = json.loads(body(s3, bucket, result.key))
    assert "AdminGetUser" not in calls
    assert not any("MFA" in u for u in doc["users"])


def test_mfa_capture_carries_over_hand_overs_and_no_user_is_split(cognito, s3, bucket, small_parts):  # noqa: F811
    sample = build_pool(cognito, "mfa-long", users=150, unconfirmed=0, with_config=False)
    who = enrol(cognito, sample.pool_id, sample)
    common = {"user_pool_id": sample.pool_id, "bucket": bucket, "now": NOW, "request_budget": 30,
              "part_size": small_parts, "workers": 1}
    single = take_snapshot(cognito, s3, prefix="single/", capture_user_mfa=True, **common)

    result = take_snapshot(cognito, s3, prefix="multi/", deadline=short_run(2), capture_user_mfa=True, **common)
    runs = 1
    while result.status == "continued":
        # The later runs are given the settings (from their environment) but not the MFA choice: it travels
        # with the snapshot.
        result = resume_snapshot(cognito, s3, load_checkpoint(s3, bucket, result.checkpoint_key), bucket=bucket,
                                 prefix="multi/", request_budget=30, deadline=short_run(2), workers=1)
        runs += 1

    assert runs >= 3
    assert body(s3, bucket, result.key) == body(s3, bucket, single.key)
    doc = json.loads(body(s3, bucket, result.key))
    assert all("MFA" in u for u in doc["users"]) and len(doc["users"]) == 150
    assert {u["Username"]: u["MFA"] for u in doc["users"]}[who["totp"]]["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"


def test_email_mfa_and_a_user_deleted_meanwhile_with_the_stubber(aws_env):
    client = make_client("cognito-idp", region="eu-west-1")
    reader = PoolReader(client, "eu-west-1_AbCdEf123")
    users = [{"Username": "ann", "Attributes": []}, {"Username": "gone", "Attributes": []}]
    with Stubber(client) as stub:
        stub.add_response("admin_get_user", {"Username": "ann", "UserMFASettingList": ["EMAIL_OTP"],
                                             "PreferredMfaSetting": "EMAIL_OTP", "UserAttributes": [
                                                 {"Name": "email", "Value": "ann@example.com"}]},
                          {"UserPoolId": "eu-west-1_AbCdEf123", "Username": "ann"})
        stub.add_client_error("admin_get_user", "UserNotFoundException", "User does not exist.",
                              expected_params={"UserPoolId": "eu-west-1_AbCdEf123", "Username": "gone"})
        mfa = UserMfa(reader, workers=1)
        try:
            out = mfa.add_to(users)
        finally:
            mfa.close()

    assert out[0] == {"Username": "ann", "Attributes": [],
                      "MFA": {"UserMFASettingList": ["EMAIL_OTP"], "PreferredMfaSetting": "EMAIL_OTP"}}
    assert out[1] == users[1] and mfa.gone == 1


def test_admin_get_user_is_refused_unless_the_option_grants_it(aws_env):
    from backup_lambda.errors import SnapshotError

    reader = PoolReader(make_client("cognito-idp", region="eu-west-1"), "eu-west-1_AbCdEf123")
    with pytest.raises(SnapshotError, match="AdminGetUser is not a call the snapshot may make"):
        reader.call("AdminGetUser", "admin_get_user", UserPoolId=reader.pool_id, Username="x")


def test_mfa_reads_have_their_own_category_and_budget_share():
    reader_rates = PoolReader.__init__.__kwdefaults__["user_mfa_budget"]

    assert OPERATION_CATEGORY["AdminGetUser"] == "UserResourceRead" != OPERATION_CATEGORY["ListUsers"]
    assert reader_rates == pytest.approx(50 / 3)


SIGNING_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("", False), ("0", False), ("1", True)])
def test_the_environment_switch(value, expected):
    env = {"BACKUP_BUCKET": "snapshots-bucket", "SIGNING_KEY_ID": SIGNING_KEY} | (
        {"CAPTURE_USER_MFA": value} if value is not None else {})
    assert load_settings(env).capture_user_mfa is expected


def test_a_bad_switch_names_the_variable():
    with pytest.raises(ConfigError, match="CAPTURE_USER_MFA must be 1 or 0"):
        load_settings({"BACKUP_BUCKET": "snapshots-bucket", "SIGNING_KEY_ID": SIGNING_KEY, "CAPTURE_USER_MFA": "yes"})
