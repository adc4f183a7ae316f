"""The pure snapshot -> request transformations, table by table (no AWS involved)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cognito_backup.restore.decisions import branding_assets, other_settings
from cognito_backup.restore.requests import (
    admin_create_params,
    csv_row,
    federated_identities,
    import_eligible,
    lambda_functions,
    plan_client,
    plan_pool,
    plan_provider,
    provider_names,
    target_username,
    update_pool_params,
    user_identity,
    without_inactive_half,
)
from cognito_backup.restore.schema import normalize_schema, plan_schema
from cognito_backup.restore.shapes import fit_to_input, request_violations
from tests.support.snapshot_builder import default_pool, make_user


def custom(name: str, **extra) -> dict:
    return {"Name": name, "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": True,
            "Required": False, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}, **extra}


def test_pool_fields_are_renamed_and_read_only_ones_dropped():
    pool = default_pool(Domain="old-prefix", CustomDomain="auth.example.com", Status="Enabled",
                        SmsConfigurationFailure="x", EmailConfigurationFailure="y",
                        SmsVerificationMessage="old {####}", EmailVerificationMessage="old {####}",
                        EmailVerificationSubject="old")
    plan = plan_pool(pool, None, pool_name="restored")
    params = plan.params
    assert params["PoolName"] == "restored"
    for gone in ("Id", "Arn", "Name", "Status", "CreationDate", "LastModifiedDate", "EstimatedNumberOfUsers",
                 "SmsConfigurationFailure", "EmailConfigurationFailure", "Domain", "CustomDomain",
                 "SmsVerificationMessage", "EmailVerificationMessage", "EmailVerificationSubject", "SchemaAttributes"):
        assert gone not in params, gone
    assert "UnusedAccountValidityDays" not in params["AdminCreateUserConfig"]
    assert params["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert params["Policies"] == pool["Policies"]
    fit_to_input("CreateUserPool", params)  # botocore accepts every key left
    assert fit_to_input("CreateUserPool", params)[1] == []


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        (custom("custom:tier"), {"Name": "tier", "DeveloperOnlyAttribute": False}),
        (custom("dev:custom:secret_ref"), {"Name": "secret_ref", "DeveloperOnlyAttribute": True}),
        (custom("custom:must", Required=True), {"Name": "must", "Required": False}),
        ({"Name": "custom:n", "AttributeDataType": "Number", "Mutable": True,
          "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "9"}},
         {"Name": "n", "AttributeDataType": "Number",
          "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "9"}}),
        (custom("custom:blank", StringAttributeConstraints={}), {"Name": "blank"}),
    ],
)
def test_custom_attributes_are_sent_without_their_prefix(attribute, expected):
    plan = plan_schema([attribute])
    (sent,) = plan.create
    assert {k: sent.get(k) for k in expected} == expected
    assert "custom:" not in sent["Name"]
    if attribute.get("Required"):
        assert any("required" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("attribute", "sent"),
    [
        ({"Name": "sub", "AttributeDataType": "String", "Mutable": False, "Required": True}, False),
        ({"Name": "identities", "AttributeDataType": "String"}, False),
        ({"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": False,
          "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}}, False),  # the default
        ({"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True}, True),
        ({"Name": "name", "AttributeDataType": "String", "Mutable": False}, True),
        ({"Name": "updated_at", "AttributeDataType": "Number", "NumberAttributeConstraints": {"MinValue": "0"}}, False),
        ({"Name": "birthdate", "AttributeDataType": "String", "Mutable": True,
          "StringAttributeConstraints": {"MinLength": "10", "MaxLength": "10"}}, False),
    ],
)
def test_standard_attributes_are_sent_only_where_they_differ_from_the_defaults(attribute, sent):
    assert bool(plan_schema([attribute]).create) is sent


def test_at_most_fifty_schema_attributes_at_creation_the_rest_in_batches_of_25():
    attributes = [{"Name": "email", "AttributeDataType": "String", "Required": True}]
    attributes += [custom(f"custom:a{i:02d}") for i in range(80)]
    plan = plan_schema(attributes)
    assert len(plan.create) == 50 and plan.create[0]["Name"] == "email"
    assert [len(b) for b in plan.add_later] == [25, 6]
    names = [a["Name"] for a in plan.create[1:]] + [a["Name"] for b in plan.add_later for a in b]
    assert names == [f"a{i:02d}" for i in range(80)]


@pytest.mark.parametrize(
    ("mode", "section", "create_has_mfa", "set_to"),
    [
        ("OFF", None, False, None),
        ("OFF", {"status": "present", "value": {"MfaConfiguration": "OFF"}}, False, "OFF"),
        ("ON", {"status": "present", "value": {"MfaConfiguration": "ON",
                                               "SoftwareTokenMfaConfiguration": {"Enabled": True}}}, False, "ON"),
        ("OPTIONAL", None, False, "OPTIONAL"),
        ("OPTIONAL", {"status": "unavailable", "reason": "x"}, False, "OPTIONAL"),
    ],
)
def test_mfa_is_applied_after_creation(mode, section, create_has_mfa, set_to):
    plan = plan_pool(default_pool(MfaConfiguration=mode), section, pool_name="p")
    assert ("MfaConfiguration" in plan.params) is create_has_mfa
    assert (plan.mfa or {}).get("MfaConfiguration") == set_to


BOTH_HALVES = {"DefaultEmailOption": "CONFIRM_WITH_CODE", "EmailMessage": "c {####}", "EmailSubject": "s",
               "EmailMessageByLink": "l {##x##}", "EmailSubjectByLink": "sl", "SmsMessage": "{####}"}


@pytest.mark.parametrize("option", ["CONFIRM_WITH_CODE", "CONFIRM_WITH_LINK"])
def test_both_halves_of_the_verification_message_are_sent(option):
    template = {**BOTH_HALVES, "DefaultEmailOption": option}
    sent = plan_pool(default_pool(VerificationMessageTemplate=template), None, pool_name="p").params[
        "VerificationMessageTemplate"]
    assert sent == template


@pytest.mark.parametrize(("option", "dropped"), [("CONFIRM_WITH_CODE", {"EmailMessageByLink", "EmailSubjectByLink"}),
                                                 ("CONFIRM_WITH_LINK", {"EmailMessage", "EmailSubject"})])
def test_the_fallback_keeps_only_the_half_the_default_email_option_uses(option, dropped):
    params = {"PoolName": "p", "VerificationMessageTemplate": {**BOTH_HALVES, "DefaultEmailOption": option}}
    kept, left_out = without_inactive_half(params)
    assert set(BOTH_HALVES) - set(kept["VerificationMessageTemplate"]) == dropped
    assert sorted(left_out) == sorted(f"VerificationMessageTemplate.{k}" for k in dropped)
    assert params["VerificationMessageTemplate"] == {**BOTH_HALVES, "DefaultEmailOption": option}  # not changed


@pytest.mark.parametrize(
    ("tier", "mode", "expected"),
    [("PLUS", "ENFORCED", "ENFORCED"), ("ESSENTIALS", "AUDIT", "OFF"), (None, "ENFORCED", "OFF"), (None, "OFF", "OFF")],
)
def test_threat_protection_needs_the_plus_tier(tier, mode, expected):
    extra = {"UserPoolAddOns": {"AdvancedSecurityMode": mode}}
    if tier:
        extra["UserPoolTier"] = tier
    plan = plan_pool(default_pool(**extra), None, pool_name="p")
    assert plan.params["UserPoolAddOns"]["AdvancedSecurityMode"] == expected


TRIGGERS = {"PreSignUp": "arn:aws:lambda:eu-west-1:111122223333:function:pre",
            "CustomEmailSender": {"LambdaVersion": "V1_0",
                                  "LambdaArn": "arn:aws:lambda:eu-west-1:111122223333:function:mail"},
            "KMSKeyID": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}


def test_the_pool_is_created_without_its_triggers_which_are_attached_last():
    pool = default_pool(LambdaConfig=TRIGGERS)
    kept = plan_pool(pool, None, pool_name="p")
    assert "LambdaConfig" not in kept.params and kept.triggers == TRIGGERS
    assert any("attached last" in n and "resource policy" in n for n in kept.notes)
    assert lambda_functions(kept.triggers) == [("PreSignUp", TRIGGERS["PreSignUp"]),
                                               ("CustomEmailSender", TRIGGERS["CustomEmailSender"]["LambdaArn"])]
    left = plan_pool(pool, None, pool_name="p", without_triggers=True)
    assert "LambdaConfig" not in left.params and left.triggers is None
    assert any("--without-triggers" in n for n in left.notes)


def test_update_user_pool_sends_the_whole_configuration_again_with_the_triggers():
    """UpdateUserPool is a full replacement: everything DescribeUserPool shows that it takes goes back."""
    described = default_pool(VerificationMessageTemplate=BOTH_HALVES, DeletionProtection="ACTIVE",
                             UserPoolTags={"team": "identity"}, MfaConfiguration="OPTIONAL",
                             EmailVerificationMessage="old {####}", Status="Enabled")
    params, not_taken = update_pool_params(described, TRIGGERS, "eu-west-1_New1")
    assert params["LambdaConfig"] == TRIGGERS and params["UserPoolId"] == "eu-west-1_New1"
    assert params["PoolName"] == described["Name"]
    for kept in ("Policies", "AutoVerifiedAttributes", "EmailConfiguration", "AdminCreateUserConfig",
                 "VerificationMessageTemplate", "DeletionProtection", "UserPoolTags", "MfaConfiguration"):
        assert params[kept] == ({k: v for k, v in described[kept].items() if k != "UnusedAccountValidityDays"}
                                if kept == "AdminCreateUserConfig" else described[kept]), kept
    assert "EmailVerificationMessage" not in params and "Status" not in params
    assert request_violations("UpdateUserPool", params) == []


def test_unknown_fields_are_dropped_and_reported():
    plan = plan_pool(default_pool(FutureSetting={"x": 1}, Policies={"PasswordPolicy": {"MinimumLength": 8,
                                                                                       "NewRule": True}}),
                     None, pool_name="p")
    assert "FutureSetting" not in plan.params
    assert plan.params["Policies"] == {"PasswordPolicy": {"MinimumLength": 8}}
    assert any("FutureSetting" in n and "Policies.PasswordPolicy.NewRule" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("provider", "secrets", "created", "detail_keys"),
    [
        ({"ProviderName": "Corp", "ProviderType": "OIDC", "RedactedDetails": ["client_secret"],
          "ProviderDetails": {"client_id": "c", "oidc_issuer": "https://i", "attributes_url_add_attributes": "false"}},
         {"Corp": {"client_secret": "s3cr3t"}}, True, {"client_id", "oidc_issuer", "client_secret"}),
        ({"ProviderName": "Corp", "ProviderType": "OIDC", "RedactedDetails": ["client_secret"],
          "ProviderDetails": {"client_id": "c"}}, {}, False, None),
        ({"ProviderName": "Google", "ProviderType": "Google", "RedactedDetails": ["client_secret"],
          "ProviderDetails": {"client_id": "g", "authorize_scopes": "email", "token_url": "https://t",
                              "authorize_url": "https://a", "oidc_issuer": "https://accounts.google.com"}},
         {"Google": {"client_secret": "x"}}, True, {"client_id", "authorize_scopes", "client_secret"}),
        ({"ProviderName": "Apple", "ProviderType": "SignInWithApple", "RedactedDetails": [],
          "ProviderDetails": {"client_id": "a", "team_id": "t", "key_id": "k"}}, {}, False, None),
        ({"ProviderName": "Saml", "ProviderType": "SAML", "RedactedDetails": [],
          "ProviderDetails": {"MetadataURL": "https://m", "MetadataFile": "<xml/>",
                              "ActiveEncryptionCertificate": "MII"}}, {}, True, {"MetadataURL"}),
    ],
)
def test_identity_providers_need_their_secrets(provider, secrets, created, detail_keys):
    params, reason = plan_provider(provider, secrets)
    assert (params is not None) is created
    if created:
        assert set(params["ProviderDetails"]) == detail_keys
    else:
        assert "not in the secrets file" in reason and "--secrets" in reason


def test_app_clients_get_a_new_secret_where_they_had_one_and_lose_skipped_providers():
    client = {"ClientId": "old", "ClientName": "web", "UserPoolId": "p", "HasSecret": True,
              "CreationDate": "d", "LastModifiedDate": "d",
              "SupportedIdentityProviders": ["COGNITO", "Corp", "Google", "My IdP"], "RefreshTokenValidity": 5}
    params, notes = plan_client(client, skipped_providers={"Google"}, renames={"My IdP": "My-IdP"})
    assert params == {"ClientName": "web", "GenerateSecret": True, "RefreshTokenValidity": 5,
                      "SupportedIdentityProviders": ["COGNITO", "Corp", "My-IdP"]}
    assert any("Google" in n for n in notes)
    assert plan_client({**client, "HasSecret": False}, set())[0]["GenerateSecret"] is False


def test_a_client_whose_secret_was_in_secrets_manager_publishes_its_new_secret_there_again():
    client = {"ClientId": "old", "ClientName": "api", "HasSecret": False,
              "ClientSecretArn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cognito-api-AbCdEf"}
    params, notes = plan_client(client, set())
    assert params == {"ClientName": "api", "GenerateSecret": True, "PublishSecretsInAWSSecretsManager": True}
    assert any("Secrets Manager" in n for n in notes)


def test_a_client_of_dynamic_client_registration_comes_back_as_a_regular_client_and_says_so():
    params, notes = plan_client({"ClientId": "old", "ClientName": "dcr-app", "ClientType": "DCR",
                                 "AllowedOAuthFlows": ["code"]}, set())
    assert "ClientType" not in params and params["AllowedOAuthFlows"] == ["code"]
    assert any("dynamic client registration" in n and "regular client" in n for n in notes)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Corp", "Google"], {"Corp": "Corp", "Google": "Google"}),
        (["My IdP"], {"My IdP": "My-IdP"}),
        (["AB"], {"AB": "AB-idp"}),
        (["X"], {"X": "X-idp"}),
        (["corp_sso_v2"], {"corp_sso_v2": "corp-sso-v2"}),
        (["My IdP", "My-IdP"], {"My IdP": "My-IdP-2", "My-IdP": "My-IdP"}),
        (["A very long provider name with 40 chars"], {"A very long provider name with 40 chars":
                                                       "A-very-long-provider-name-with-4"}),
    ],
)
def test_provider_names_that_create_refuses_are_renamed_to_the_closest_it_takes(names, expected):
    renamed = provider_names(names)
    assert renamed == expected
    shape = "CreateIdentityProvider"
    for new in renamed.values():
        assert request_violations(shape, {"UserPoolId": "eu-west-1_A1", "ProviderName": new, "ProviderType": "SAML",
                                          "ProviderDetails": {}}) == []


def test_acr_mapping_is_sent_with_the_provider():
    provider = {"ProviderName": "Corp", "ProviderType": "OIDC", "RedactedDetails": ["client_secret"],
                "ProviderDetails": {"client_id": "c"}, "AcrMapping": {"Level1": "urn:acr:low"}}
    params, _ = plan_provider(provider, {"Corp": {"client_secret": "s"}})
    assert params["AcrMapping"] == {"Level1": "urn:acr:low"}


def test_branding_settings_are_a_document_sent_untouched_with_the_assets():
    settings = {"components": {"pageBackground": {"lightMode": {"color": "ffffffff"}}}, "categories": {"x": [1]}}
    logo = {"Category": "PAGE_HEADER_LOGO", "ColorMode": "LIGHT", "Extension": "PNG", "Bytes": "iVBORw0KGgo="}
    item = {"ClientId": "old", "ManagedLoginBranding": {"UseCognitoProvidedValues": False, "Settings": settings,
                                                        "Assets": [logo]}}
    calls, notes = other_settings({"managed_login_branding": [item]}, client_ids={"old": "new"},
                                  pool_id="eu-west-1_New1", created_pool=True, target_pool={})
    (call,) = calls
    assert call.params["Settings"] == settings and notes == []
    assert call.params["Assets"][0]["Bytes"] == b"\x89PNG\r\n\x1a\n"


def test_cognito_provided_branding_is_sent_without_settings_or_assets():
    item = {"ClientId": "old", "ManagedLoginBranding": {"UseCognitoProvidedValues": True, "Settings": {}}}
    (call,), _ = other_settings({"managed_login_branding": [item]}, client_ids={"old": "new"},
                                pool_id="eu-west-1_New1", created_pool=True, target_pool={})
    assert call.params == {"ClientId": "new", "UseCognitoProvidedValues": True, "UserPoolId": "eu-west-1_New1"}


@pytest.mark.parametrize(
    ("stored", "restored"),
    [("PHN2Zy8+", b"<svg/>"),  # base64 (lossless snapshots)
     ("<svg xmlns='http://www.w3.org/2000/svg'/>", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),  # text, whole
     ("\ufffdPNG\r\n\x1a\n\x00\ufffd", None)],  # binary stored as lossy text: reported, not sent
)
def test_branding_assets_come_back_whole_or_are_reported(stored, restored):
    sent, lost = branding_assets([{"Category": "FORM_LOGO", "ColorMode": "DARK", "Extension": "SVG", "Bytes": stored}])
    assert [a["Bytes"] for a in sent] == ([restored] if restored else [])
    assert lost == ([] if restored else ["FORM_LOGO DARK SVG"])


def test_the_hosted_ui_css_is_not_sent_to_a_pool_without_a_domain():
    calls, notes = other_settings({"ui_customization": {"CSS": ".banner {}"}}, client_ids={}, pool_id="p",
                                  created_pool=True, target_pool={}, has_domain=False)
    assert calls == [] and any("needs a domain" in n for n in notes)


@pytest.mark.parametrize(
    ("username_attributes", "attributes", "username", "identity"),
    [
        (None, {"email": "a@x.com"}, "alice", "username:alice"),
        (["email"], {"email": "a@x.com"}, "a@x.com", "email:a@x.com"),
        (["phone_number"], {"phone_number": "+15550100"}, "+15550100", "phone_number:+15550100"),
        (["email", "phone_number"], {"phone_number": "+15550100"}, "+15550100", "phone_number:+15550100"),
        (["email"], {}, None, "username:alice"),
    ],
)
def test_username_and_identity_follow_the_pools_sign_in_attributes(username_attributes, attributes, username,
                                                                    identity):
    user = make_user("alice", attributes=attributes)
    assert target_username(user, username_attributes) == username
    assert user_identity(user, username_attributes) == identity
    params, reason = admin_create_params(user, username_attributes)
    assert (params or {}).get("Username") == username
    assert bool(reason) is (username is None)


def test_admin_create_strips_sub_identities_and_orphan_verified_flags():
    user = make_user("u", attributes={"identities": "[]", "phone_number_verified": "true", "custom:tier": "g"})
    user["Attributes"].append({"Name": "email_verified", "Value": "true"})
    params, _ = admin_create_params(user, None)
    assert {a["Name"] for a in params["UserAttributes"]} == {"custom:tier"}
    assert params["MessageAction"] == "SUPPRESS"


@pytest.mark.parametrize(
    ("auto_verified", "attributes", "eligible"),
    [
        (["email"], {"email": "a@x", "email_verified": "true"}, True),
        (["email"], {"email": "a@x", "email_verified": "false"}, False),
        (["email"], {"phone_number": "+1", "phone_number_verified": "true"}, False),
        (["email", "phone_number"], {"phone_number": "+1", "phone_number_verified": "true"}, True),
        ([], {"email": "a@x", "email_verified": "true"}, False),
    ],
)
def test_import_needs_a_true_verified_flag_of_an_auto_verified_attribute(auto_verified, attributes, eligible):
    assert import_eligible(make_user("u", attributes=attributes, email_verified=None), auto_verified) is eligible


def test_csv_row_fills_every_header_column():
    header = ["cognito:username", "name", "email", "email_verified", "phone_number_verified",
              "cognito:mfa_enabled", "custom:tier", "sub"]
    user = make_user("alice", email="a@x.com", attributes={"name": 'Alice, "A"', "custom:tier": "gold"})
    assert csv_row(user, header, None) == ["alice", 'Alice, "A"', "a@x.com", "true", "", "false", "gold", ""]


@given(st.lists(st.fixed_dictionaries({"providerName": st.sampled_from(["Google", "Corp"]),
                                       "userId": st.text(min_size=1, max_size=10)}), max_size=3))
def test_federated_identities_are_read_from_the_identities_attribute(identities):
    user = make_user("Google_1", status="EXTERNAL_PROVIDER", attributes={"identities": json.dumps(identities)})
    assert federated_identities(user) == identities


def test_schema_normalization_treats_missing_standard_attributes_as_defaults():
    a = normalize_schema([{"Name": "email", "AttributeDataType": "String", "Required": True},
                          {"Name": "custom:x", "AttributeDataType": "String", "StringAttributeConstraints": {}}])
    b = normalize_schema([{"Name": "email", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
                           "Mutable": True, "Required": True,
                           "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}},
                          {"Name": "name", "AttributeDataType": "String", "NumberAttributeConstraints": None},
                          {"Name": "custom:x", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
                           "Mutable": True, "Required": False}])
    assert a == b
