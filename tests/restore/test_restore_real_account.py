"""Issue 14: a restore that works on a real account, not only on the emulator.

A snapshot of a pool as a real account holds it (``rich_pool.real_account_snapshot``: both verification message
halves, triggers with custom senders and their KMS key, SMS with an ExternalId, SES in another account, DCR and
Secrets-Manager clients, SAML/OIDC/Google/Apple providers with AcrMapping, provider names CreateIdentityProvider
refuses, a custom domain, per-client threat protection, log delivery, branding with Settings and assets, disabled,
unconfirmed, MFA and federated users) is restored by both user paths, into moto, behind ``aws_fakes.AwsRules``: a
recording fake that does what AWS does and moto does not (trust policies, the stricter provider-name pattern, the
trigger that runs on AdminCreateUser and fails when its function's resource policy names another pool, Secrets
Manager client secrets, SetUICustomization's domain, branding's rules, AdminLinkProviderForUser, import jobs), and
``aws_fakes.Lambdas`` for the functions' resource policies. Every request the restore sends is checked against
botocore's model with ``model_validator.ModelValidator`` (lengths, whole-value patterns, enums, ranges, sizes).

Passing here is not proof on AWS either: what is still unverified there is listed in docs/restoring.md.
"""

from __future__ import annotations

import json

import botocore.session
import pytest

from backup_lambda.aws import make_client
from cognito_backup.restore import RestoreOptions, Restorer, format_report
from cognito_backup.restore.overrides import collect, parse_command_line
from tests.restore.aws_fakes import AwsRules, Lambdas, RequestLog
from tests.restore.call_order import USER_WRITES, assert_no_window_for_disabled_users, assert_triggers_attached_last
from tests.restore.model_validator import ModelValidator
from tests.support.rich_pool import (
    BOTH_TEMPLATE_HALVES,
    BRANDING_SETTINGS,
    OLD_ACCOUNT,
    OLD_POOL,
    OTHER_ACCOUNT,
    REAL_SECRETS,
    REAL_TRIGGERS,
    SMS_ROLE,
    fast_rate_limits,  # noqa: F401 - autouse fixture
    real_account_snapshot,
)
from tests.support.snapshot_builder import write_s3

IMPORT_ROLE = "arn:aws:iam::123456789012:role/cognito-import-logs"
NEW = {  # what the operator points the new pool at (the old pool's role, identity and key stay the old pool's)
    "pool.SmsConfiguration.SnsCallerArn": "arn:aws:iam::123456789012:role/cognito-sms-restored",
    "pool.SmsConfiguration.ExternalId": "new-pool-external-id",
    "pool.EmailConfiguration.SourceArn": "arn:aws:ses:us-east-1:123456789012:identity/no-reply@example.com",
    "pool.LambdaConfig.KMSKeyID": "arn:aws:kms:us-east-1:123456789012:key/0a0b0c0d-1111-2222-3333-444455556666",
    "pool.LambdaConfig.PreSignUp": "arn:aws:lambda:us-east-1:123456789012:function:app-pre-sign-up-v2",
    "pool.DeletionProtection": "INACTIVE",
    "domain.CustomDomain.Domain": "auth2.example.com",
    "domain.CustomDomain.CustomDomainConfig.CertificateArn":
        "arn:aws:acm:us-east-1:123456789012:certificate/11112222-3333-4444-5555-666677778888",
    "groups.admins.RoleArn": "arn:aws:iam::123456789012:role/prod-admins-restored",
}
DISABLED = {"bob", "My-IdP_partner-7"}  # as created in the new pool (the provider renamed)


class World:
    """moto behind the fake, a snapshot in S3, and what a restore of it sent."""

    def __init__(self, s3, bucket, doc=None, **rules):
        self.source = f"s3://{bucket}/" + write_s3(s3, bucket, doc or real_account_snapshot())
        self.log = RequestLog()
        self.s3 = self.log.attach(make_client("s3"))  # the restore's own: the log holds only its requests
        self.lambdas = Lambdas(log=self.log)
        old_arn = f"arn:aws:cognito-idp:eu-west-1:{OLD_ACCOUNT}:userpool/{OLD_POOL}"
        for value in REAL_TRIGGERS.values():  # each function lets the OLD pool invoke it
            arn = value["LambdaArn"] if isinstance(value, dict) else value
            if ":function:" in arn:
                self.lambdas.allow(arn, old_arn)
        self.rules = AwsRules(make_client("cognito-idp"), lambdas=self.lambdas,
                              sms_trust={NEW["pool.SmsConfiguration.SnsCallerArn"]: "new-pool-external-id",
                                         SMS_ROLE: f"(its trust policy names the old pool {OLD_POOL})"}, **rules)
        self.cognito = self.rules.attach(self.log.attach(make_client("cognito-idp")))
        self.reader = make_client("cognito-idp")

    def restore(self, tmp_path, *, users_via="admin-create", overrides=NEW, **extra):
        options = dict(snapshot=self.source, new_pool_name="prod-customers-restored", users_via=users_via,
                       import_role_arn=IMPORT_ROLE, secrets=REAL_SECRETS, domain_prefix="prod-customers-2",
                       link_federated=True, grant_triggers=True, mapping_file=str(tmp_path / "mapping.json"),
                       workers=2, import_poll_interval=0,
                       # The triggers and the log group stay in the old account, the analytics role and the threat
                       # protection's SES identity in a third one, on purpose: what a restore does with them is
                       # what these tests check (the refusal itself: test_restore_foreign_arns.py).
                       allow_foreign_arns=True,
                       overrides=collect([], parse_command_line([f"{k}={v}" for k, v in overrides.items()])))
        options.update(extra)
        return Restorer(self.cognito, self.s3, RestoreOptions(**options), lambdas=self.lambdas.client,
                        uploader=self.rules.upload, sleep=lambda _s: None).run()

    def violations(self):
        validators = {}
        out = []
        for service, operation, params in self.log.requests:
            if service not in validators:
                validators[service] = ModelValidator(botocore.session.get_session().get_service_model(service))
            out += validators[service].check(operation, params)
        return out


@pytest.fixture
def world(cognito, s3, bucket):
    return World(s3, bucket)


@pytest.mark.parametrize("users_via", ["admin-create", "import"])
def test_every_request_of_a_rich_restore_is_valid_under_the_full_model(world, tmp_path, users_via):
    report = world.restore(tmp_path, users_via=users_via)

    assert report["status"] == "ok", report["failures"]
    assert world.log.requests, "nothing was recorded"
    violations = world.violations()
    assert violations == [], "\n".join(map(str, violations))
    sent = set(world.log.operations())
    assert {"CreateUserPool", "CreateIdentityProvider", "CreateUserPoolClient", "CreateUserPoolDomain",
            "SetUICustomization", "SetRiskConfiguration", "SetLogDeliveryConfiguration",
            "CreateManagedLoginBranding", "AdminLinkProviderForUser", "UpdateUserPool", "GetPolicy",
            "AddPermission"} <= sent
    if users_via == "import":
        assert {"GetCSVHeader", "CreateUserImportJob", "StartUserImportJob", "DescribeUserImportJob"} <= sent
    # The adaptations are reported, not silent.
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    assert {"old_name": "My IdP", "new_name": "My-IdP"} in mapping["identity_providers"]
    assert {"old_name": "X", "new_name": "X-idp"} in mapping["identity_providers"]
    text = format_report(report)
    for said in ("restored as 'My-IdP'", "dynamic client registration", "Secrets Manager",
                 "PAGE_BACKGROUND DARK JPEG"):
        assert said in text, said


def test_what_moto_would_have_dropped_is_sent(world, tmp_path):
    world.restore(tmp_path)
    log = world.log

    (pool,) = log.of("CreateUserPool")
    assert pool["VerificationMessageTemplate"] == BOTH_TEMPLATE_HALVES
    assert "LambdaConfig" not in pool
    assert pool["SmsConfiguration"]["ExternalId"] == "new-pool-external-id"
    assert pool["EmailConfiguration"]["SourceArn"] == NEW["pool.EmailConfiguration.SourceArn"]
    providers = {p["ProviderName"]: p for p in log.of("CreateIdentityProvider")}
    assert set(providers) == {"Corp", "Google", "SignInWithApple", "My-IdP", "X-idp"}
    assert providers["Corp"]["AcrMapping"] == {"Level1": "urn:corp:acr:password", "Level2": "urn:corp:acr:mfa"}
    assert providers["My-IdP"]["AcrMapping"] == {"Level1": "urn:oasis:names:tc:SAML:2.0:ac"}
    clients = {c["ClientName"]: c for c in log.of("CreateUserPoolClient")}
    assert clients["web"]["SupportedIdentityProviders"] == ["COGNITO", "Corp", "Google", "SignInWithApple",
                                                           "My-IdP", "X-idp"]
    assert clients["api-sm"]["PublishSecretsInAWSSecretsManager"] is True
    assert clients["web"]["RefreshTokenRotation"] == {"Feature": "ENABLED", "RetryGracePeriodSeconds": 10}
    assert "ClientType" not in clients["partner-app-dcr"]
    brandings = log.of("CreateManagedLoginBranding")
    web = next(b for b in brandings if "Settings" in b)
    assert web["Settings"] == BRANDING_SETTINGS  # a Document: untouched
    assert [a["Category"] for a in web["Assets"]] == ["PAGE_HEADER_LOGO", "FAVICON_SVG"]  # the lossy one reported
    assert any(b == {"UserPoolId": b["UserPoolId"], "ClientId": b["ClientId"], "UseCognitoProvidedValues": True}
               for b in brandings)
    (domain,) = [d for d in log.of("CreateUserPoolDomain") if "CustomDomainConfig" in d]
    assert domain["Domain"] == "auth2.example.com"
    links = log.of("AdminLinkProviderForUser")
    assert {link["SourceUser"]["ProviderName"] for link in links} == {"My-IdP", "Google", "Corp"}
    (update,) = log.of("UpdateUserPool")
    assert update["LambdaConfig"]["PreSignUp"] == NEW["pool.LambdaConfig.PreSignUp"]
    assert update["LambdaConfig"]["KMSKeyID"] == NEW["pool.LambdaConfig.KMSKeyID"]
    # UpdateUserPool is a full replacement: the whole configuration goes with the triggers.
    for kept in ("VerificationMessageTemplate", "SmsConfiguration", "EmailConfiguration", "AutoVerifiedAttributes",
                 "UserPoolTags", "AdminCreateUserConfig", "AccountRecoverySetting", "MfaConfiguration"):
        assert update.get(kept) == pool.get(kept, update.get(kept)) and kept in update, kept


def test_triggers_are_attached_after_the_last_user_write_and_never_run_for_the_restore(world, tmp_path):
    report = world.restore(tmp_path)

    operations = world.log.operations()
    attach = operations.index("UpdateUserPool")
    last_user_write = max(i for i, op in enumerate(operations) if op in USER_WRITES)
    assert attach > last_user_write
    assert all(op not in USER_WRITES for op in operations[attach:])
    assert world.rules.invocations == []  # no trigger ran for the restore's own writes
    pool = world.reader.describe_user_pool(UserPoolId=report["target_user_pool_id"])["UserPool"]
    assert pool["LambdaConfig"]["PreSignUp"] == NEW["pool.LambdaConfig.PreSignUp"]
    assert pool["LambdaConfig"]["CustomEmailSender"] == REAL_TRIGGERS["CustomEmailSender"]
    # Each function now lets the NEW pool invoke it (and only the functions the pool names).
    grants = world.log.of("AddPermission")
    assert {g["FunctionName"] for g in grants} == {
        NEW["pool.LambdaConfig.PreSignUp"], REAL_TRIGGERS["CustomMessage"], REAL_TRIGGERS["PostConfirmation"],
        REAL_TRIGGERS["PreTokenGeneration"], REAL_TRIGGERS["CustomEmailSender"]["LambdaArn"]}
    assert {g["SourceArn"] for g in grants} == {pool["Arn"]}
    assert {g["Principal"] for g in grants} == {"cognito-idp.amazonaws.com"}
    assert all(world.lambdas.may_invoke(g["FunctionName"], pool["Arn"]) for g in grants)
    functions = report["steps"]["triggers"]["functions"]
    assert {f["permission"] for f in functions} == {"granted"}


def test_a_trigger_attached_with_the_pool_would_have_failed_every_user(world, tmp_path, monkeypatch):
    """What the old order did, for contrast: the fake fails AdminCreateUser as AWS does while the pool's PreSignUp
    function does not let it invoke it."""
    from cognito_backup.restore import requests

    original = requests.plan_pool

    def with_triggers(*args, **kwargs):
        plan = original(*args, **kwargs)
        plan.params["LambdaConfig"] = plan.triggers
        return plan

    monkeypatch.setattr("cognito_backup.restore.runner.plan_pool", with_triggers)
    report = world.restore(tmp_path, grant_triggers=False)
    assert report["status"] == "incomplete"
    assert any("UnexpectedLambdaException" in f for f in report["failures"])
    assert world.rules.invocations


@pytest.mark.parametrize("users_via", ["admin-create", "import"])
def test_no_app_client_exists_while_a_user_disabled_in_the_snapshot_is_enabled(world, tmp_path, users_via):
    world.restore(tmp_path, users_via=users_via)

    calls = [(op, p) for _, op, p in world.log.requests]
    imported = {job_id: [row["cognito:username"] for row in job["rows"]] for job_id, job in world.rules.jobs.items()}
    if users_via == "import":
        assert "bob" in imported[next(iter(imported))]  # bob (disabled) comes by the import job
    assert_no_window_for_disabled_users(calls, DISABLED, imported)
    assert_triggers_attached_last(calls)
    assert [op for op, _ in calls].count("CreateUserPoolClient") == 4


def test_the_dry_run_shows_triggers_overrides_and_what_points_outside_the_new_pool(world, tmp_path):
    report = world.restore(tmp_path, dry_run=True)

    plan = report["plan"]
    outside = plan["outside_references"]
    refused = ": refused without --allow-foreign-arns"
    own = outside[f"account {OLD_ACCOUNT} (the snapshot's account{refused})"]
    assert {r["where"] for r in own} >= {
        "pool.LambdaConfig.CustomMessage", "pool.LambdaConfig.CustomEmailSender.LambdaArn",
        "pool.LambdaConfig.PreTokenGeneration", "pool.LambdaConfig.PreTokenGenerationConfig.LambdaArn",
        "log_delivery.LogConfigurations[0].CloudWatchLogsConfiguration.LogGroupArn"}
    other = outside[f"account {OTHER_ACCOUNT} (not the snapshot's account{refused})"]
    assert {r["where"] for r in other} == {"clients.web.AnalyticsConfiguration.RoleArn",
                                           "risk_configuration.AccountTakeoverRiskConfiguration.NotifyConfiguration"
                                           ".SourceArn"}
    overridden = {r["where"] for r in outside["account 123456789012 (the account restored into)"]}
    assert list(outside)[0] == "account 123456789012 (the account restored into)"
    assert report["foreign_arns"]["allowed"] and len(report["foreign_arns"]["arns"]) == 9
    assert {"pool.SmsConfiguration.SnsCallerArn", "pool.LambdaConfig.KMSKeyID", "groups.admins.RoleArn",
            "domain.CustomDomainConfig.CertificateArn"} <= overridden
    urls = {r["value"] for r in outside["URLs (outside AWS accounts)"]}
    assert {"https://sso.partner.example.org/metadata.xml", "https://idp.corp.example.com",
            "https://app.example.com/cb"} <= urls
    assert all("secret" not in r["where"] for refs in outside.values() for r in refs)
    functions = {t["function"] for t in plan["triggers"] if "function" in t}
    assert NEW["pool.LambdaConfig.PreSignUp"] in functions
    assert all("lambda:InvokeFunction" in t["needs"] for t in plan["triggers"] if "function" in t)
    text = format_report(report)
    assert "outside the new pool (review these before restoring):" in text
    assert "override pool.SmsConfiguration.ExternalId: \"old-pool-external-id\" -> \"new-pool-external-id\"" in text
    assert "triggers (attached last, after the users):" in text
    assert ("users changing status: 7 (3 CONFIRMED -> FORCE_CHANGE_PASSWORD, 2 EXTERNAL_PROVIDER -> "
            "FORCE_CHANGE_PASSWORD, 1 UNCONFIRMED -> FORCE_CHANGE_PASSWORD, 1 RESET_REQUIRED -> "
            "FORCE_CHANGE_PASSWORD)") in text
    assert "users losing MFA: 1 with MFA options (SMS)" in text and "TOTP" in text
    for secret in ("corp-oidc-secret-value", "google-secret", "BEGIN PRIVATE KEY"):
        assert secret not in text and secret not in json.dumps(report)
    assert not (tmp_path / "mapping.json").exists()
    assert not world.reader.list_user_pools(MaxResults=60)["UserPools"]


def test_secrets_reach_no_report_log_or_mapping_file(world, tmp_path):
    lines: list[str] = []
    report = Restorer(world.cognito, world.s3, RestoreOptions(
        snapshot=world.source, new_pool_name="r", secrets=REAL_SECRETS, link_federated=True, grant_triggers=True,
        mapping_file=str(tmp_path / "mapping.json"), workers=2, allow_foreign_arns=True,
        overrides=collect([], parse_command_line([f"{k}={v}" for k, v in NEW.items()]))),
        progress=lines.append, lambdas=world.lambdas.client).run()
    everything = "\n".join(lines) + format_report(report) + json.dumps(report) + (tmp_path / "mapping.json").read_text()
    for secret in ("corp-oidc-secret-value", "google-secret", "BEGIN PRIVATE KEY"):
        assert secret not in everything
