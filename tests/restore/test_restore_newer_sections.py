"""Restore of format 3's sections: the newer pool features (session configuration, terms, CIMD policies) and each
app client's own settings (hosted UI CSS, threat protection, SSO session) come back on the new clients; replicas
are reported with the command that recreates them; a format 2 snapshot sends none of these calls.

The terms, CIMD policies and session configuration land in moto through demo/cognito_gaps.py (moto lacks them);
SetUICustomization and SetRiskConfiguration are answered by the recording fake (tests/restore/aws_fakes.py). Every
request is checked against botocore's model."""

from __future__ import annotations

import json

from backup_lambda.snapshot_format import NEW_IN_V3
from cognito_backup.restore.newer_settings import newer_settings, replica_notes
from cognito_backup.restore.report import format_report
from tests.restore.test_restore_real_account import World
from tests.support.rich_pool import fast_rate_limits, real_account_snapshot  # noqa: F401 - autouse fixture


def new_client_ids(tmp_path) -> dict[str, str]:
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    return {c["old_client_id"]: c["new_client_id"] for c in mapping["clients"]}


def test_the_newer_sections_come_back_on_the_new_clients(cognito, s3, bucket, tmp_path):
    world = World(s3, bucket)

    report = world.restore(tmp_path)

    assert report["status"] == "ok", report["failures"]
    assert world.violations() == []
    ids, log, pool_id = new_client_ids(tmp_path), world.log, report["target_user_pool_id"]
    (terms,) = log.of("CreateTerms")
    assert terms["ClientId"] == ids["oldweb01"] and terms["TermsName"] == "privacy-policy"
    assert terms["Links"]["cognito:french"] == "https://example.com/fr/privacy" and "TermsId" not in terms
    (cimd,) = log.of("CreateCIMDPolicy")
    assert cimd["ClientId"] == ids["oldweb01"] and cimd["URLPatterns"] == ["https://*.partner.example.com/client.json"]
    assert log.of("SetUserPoolSessionConfiguration") == [
        {"UserPoolId": pool_id, "UserSessionTracking": "ENABLED", "TokenSession": {"MaxPerUser": 20}}]
    assert log.of("SetUserPoolClientSessionConfiguration") == [
        {"UserPoolId": pool_id, "ClientId": ids["oldweb01"], "SSOSession": {"MaxValidityMinutes": 720}}]
    ui = {u.get("ClientId"): u["CSS"] for u in log.of("SetUICustomization")}
    assert ui[ids["oldweb01"]] == ".banner-customizable {background-color: navy}"
    risk = {r.get("ClientId"): r for r in log.of("SetRiskConfiguration")}
    assert risk[ids["oldback01"]]["CompromisedCredentialsRiskConfiguration"]["Actions"]["EventAction"] == "NO_ACTION"
    # In the new pool (moto, through the gaps): what a snapshot of it reads back.
    listed = world.reader.list_terms(UserPoolId=pool_id)["Terms"]
    assert [t["TermsName"] for t in listed] == ["privacy-policy"]
    # Replicas: reported with the command, never created.
    (replica,) = report["steps"]["replicas_to_recreate"]
    assert replica["command"] == (f"aws cognito-idp create-user-pool-replica --user-pool-id {pool_id} "
                                  "--region-name eu-central-1")
    assert "CreateUserPoolReplica" not in log.operations()
    assert "create-user-pool-replica" in format_report(report)


def test_a_format_2_snapshot_sends_none_of_the_newer_calls(cognito, s3, bucket, tmp_path):
    doc = real_account_snapshot()
    for name in NEW_IN_V3:
        del doc[name]
    doc["format_version"] = 2
    world = World(s3, bucket, doc)

    report = world.restore(tmp_path)

    assert report["status"] == "ok", report["failures"]
    newer = {"CreateTerms", "CreateCIMDPolicy", "SetUserPoolSessionConfiguration",
             "SetUserPoolClientSessionConfiguration", "ListCIMDPolicies"}
    assert newer & set(world.log.operations()) == set()
    assert "replicas_to_recreate" not in report["steps"]


def test_a_setting_of_a_client_not_restored_is_skipped_and_said():
    sections = {"terms": [{"ClientId": "gone", "TermsName": "terms-of-use", "TermsSource": "LINK",
                           "Enforcement": "NONE", "Links": {"cognito:default": "https://example.com/t"}}],
                "client_session_configuration": [{"ClientId": "gone", "SSOSession": {"MaxValidityMinutes": 5}}]}

    calls, notes = newer_settings(sections, client_ids={}, pool_id="eu-west-1_New", has_domain=True)

    assert calls == []
    assert any("terms document terms-of-use of client gone" in n for n in notes)
    assert any("SSO session configuration of client gone" in n for n in notes)


def test_a_cimd_policy_already_in_the_target_is_not_created_again():
    sections = {"cimd_policies": [{"ClientId": "old", "PolicyName": "p", "URLPatterns": ["https://a.example.com/x"]}]}

    calls, notes = newer_settings(sections, client_ids={"old": "new"}, pool_id="eu-west-1_New", has_domain=True,
                                  existing_cimd={("new", "p")})

    assert calls == [] and notes == ["CIMD policy p of client new: already there"]


def test_client_css_without_a_domain_is_reported_not_sent():
    sections = {"client_ui_customization": [{"ClientId": "old", "UICustomization": {"CSS": ".x{}"}}]}

    calls, notes = newer_settings(sections, client_ids={"old": "new"}, pool_id="p", has_domain=False)

    assert calls == [] and "needs a domain" in notes[0]


def test_the_primary_is_not_a_replica_to_recreate():
    replicas = [{"RegionName": "eu-west-1", "Role": "PRIMARY"}, {"RegionName": "us-east-2", "Role": "SECONDARY"}]

    assert [r["region"] for r in replica_notes(replicas, "p")] == ["us-east-2"]


def test_sms_and_email_mfa_come_back_and_totp_users_are_listed_to_enrol_again(cognito, s3, bucket, tmp_path):
    world = World(s3, bucket)

    report = world.restore(tmp_path)

    assert report["status"] == "ok", report["failures"]
    assert world.violations() == []
    pool_id = report["target_user_pool_id"]
    sent = {p["Username"]: p for p in world.log.of("AdminSetUserMFAPreference")}
    assert sent["dan"] == {"UserPoolId": pool_id, "Username": "dan",
                           "SMSMfaSettings": {"Enabled": True, "PreferredMfa": True}}
    assert sent["alice"] == {"UserPoolId": pool_id, "Username": "alice",
                             "EmailMfaSettings": {"Enabled": True, "PreferredMfa": True}}
    assert set(sent) == {"dan", "alice"}
    step = report["steps"]["user_mfa"]
    assert step["restored"] == 2
    assert step["reenrol"] == [{"user": "alice", "old_user": "alice", "factors": ["SOFTWARE_TOKEN_MFA"]}]
    text = format_report(report)
    assert "enrol again" in text and "passkeys" in text
    # In moto: dan's SMS MFA is set (moto does not model email MFA).
    assert world.reader.admin_get_user(UserPoolId=pool_id, Username="dan")["UserMFASettingList"] == ["SMS_MFA"]


def test_a_snapshot_without_user_mfa_sets_no_preference(cognito, s3, bucket, tmp_path):
    doc = real_account_snapshot()
    for user in doc["users"]:
        del user["MFA"]
    world = World(s3, bucket, doc)

    report = world.restore(tmp_path)

    assert report["status"] == "ok", report["failures"]
    assert "AdminSetUserMFAPreference" not in world.log.operations() and "user_mfa" not in report["steps"]


def test_factors_that_cannot_be_set_back_are_split_from_those_that_can():
    from cognito_backup.restore.user_mfa import preference_request

    settings, lost = preference_request({"UserMFASettingList": ["SMS_MFA", "SOFTWARE_TOKEN_MFA"],
                                         "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"})

    assert settings == {"SMSMfaSettings": {"Enabled": True, "PreferredMfa": False}}
    assert lost == ["SOFTWARE_TOKEN_MFA"]


def test_a_preference_refused_until_the_first_sign_in_is_listed_not_failed(cognito, s3, bucket, tmp_path):
    from tests.support.fault_injection import Fault, Injector

    refused = Fault("password-reset-required", False, 400, ("PasswordResetRequiredException", ""))
    world = World(s3, bucket)
    Injector(world.cognito, "AdminSetUserMFAPreference", refused, times=None)

    report = world.restore(tmp_path)

    assert report["status"] == "ok", report["failures"]
    listed = {e["user"]: e for e in report["steps"]["user_mfa"]["reenrol"]}
    assert listed["dan"]["factors"] == ["SMS_MFA"] and "PasswordResetRequiredException" in listed["dan"]["why"]
    assert report["steps"]["user_mfa"]["refused until sign-in"] == 2
