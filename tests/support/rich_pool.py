"""A rich user pool in moto, for the restore round trip and the drill: custom attributes, MFA, a resource
server, identity providers, clients with and without secrets, groups with members, disabled,
unconfirmed and unicode users."""

from __future__ import annotations

import json
from typing import Any

import pytest

PROVIDER_SECRETS = {"Corp": {"client_secret": "corp-oidc-secret-value"}}


TRIGGERS = {"PreSignUp": "arn:aws:lambda:us-east-1:123456789012:function:pre-sign-up",
            "CustomMessage": "arn:aws:lambda:us-east-1:123456789012:function:custom-message"}
BOTH_TEMPLATE_HALVES = {"DefaultEmailOption": "CONFIRM_WITH_CODE", "EmailMessage": "Your code is {####}",
                        "EmailSubject": "Your code", "EmailMessageByLink": "Click {##here##} to verify",
                        "EmailSubjectByLink": "Verify your email", "SmsMessage": "Your code is {####}"}


def build_rich_pool(cognito: Any, name: str = "prod-users", *, username_attributes: list[str] | None = None,
                    lambda_config: dict[str, Any] | None = None,
                    verification_template: dict[str, str] | None = None) -> str:
    """The pool; ``lambda_config`` (moto never invokes triggers) and ``verification_template`` (e.g. both halves,
    as the console stores them) where given."""
    extra: dict[str, Any] = {"UsernameAttributes": username_attributes} if username_attributes else {}
    if lambda_config:
        extra["LambdaConfig"] = lambda_config
    if verification_template:
        extra["VerificationMessageTemplate"] = verification_template
    pool_id = cognito.create_user_pool(
        PoolName=name,
        Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True, "RequireLowercase": True,
                                     "RequireNumbers": True, "RequireSymbols": False,
                                     "TemporaryPasswordValidityDays": 3}},
        AutoVerifiedAttributes=["email"],
        Schema=[
            {"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True},
            {"Name": "tier", "AttributeDataType": "String", "Mutable": True,
             "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}},
            {"Name": "level", "AttributeDataType": "Number", "Mutable": True,
             "NumberAttributeConstraints": {"MinValue": "0", "MaxValue": "99"}},
            {"Name": "legacy_id", "AttributeDataType": "String", "Mutable": False},
        ],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        UserPoolTags={"team": "identity"},
        DeletionProtection="INACTIVE",
        **extra,
    )["UserPool"]["Id"]
    cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    cognito.create_resource_server(UserPoolId=pool_id, Identifier="https://api.example.com", Name="API",
                                   Scopes=[{"ScopeName": "read", "ScopeDescription": "read things"},
                                           {"ScopeName": "write", "ScopeDescription": "write things"}])
    cognito.create_identity_provider(
        UserPoolId=pool_id, ProviderName="Corp", ProviderType="OIDC",
        ProviderDetails={"client_id": "corp-client", "client_secret": PROVIDER_SECRETS["Corp"]["client_secret"],
                         "authorize_scopes": "openid email", "oidc_issuer": "https://idp.example.com",
                         "attributes_request_method": "GET"},
        AttributeMapping={"email": "email"},
    )
    web = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web", GenerateSecret=False,
                                    ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                                    SupportedIdentityProviders=["COGNITO", "Corp"],
                                    CallbackURLs=["https://app.example.com/cb"],
                                    AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"],
                                    AllowedOAuthFlowsUserPoolClient=True)["UserPoolClient"]
    cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="backend", GenerateSecret=True,
                                    AllowedOAuthFlows=["client_credentials"],
                                    AllowedOAuthScopes=["https://api.example.com/read"],
                                    AllowedOAuthFlowsUserPoolClient=True, RefreshTokenValidity=7)
    cognito.create_group(UserPoolId=pool_id, GroupName="admins", Description="Administrators", Precedence=1,
                         RoleArn="arn:aws:iam::123456789012:role/admins")
    cognito.create_group(UserPoolId=pool_id, GroupName="staff", Precedence=10)
    cognito.create_group(UserPoolId=pool_id, GroupName="empty")

    def user(username: str, email: str, **attrs: str) -> str:
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        attributes += [{"Name": k, "Value": v} for k, v in attrs.items()]
        created = cognito.admin_create_user(UserPoolId=pool_id, Username=email if username_attributes else username,
                                            UserAttributes=attributes, MessageAction="SUPPRESS")["User"]
        return created["Username"]

    alice = user("alice", "alice@example.com", **{"custom:tier": "gold", "custom:level": "7", "name": "Alice A"})
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=alice, Password="Correct-Horse-9", Permanent=True)
    bob = user("bob", "bob@example.com", **{"custom:tier": "silver", "custom:legacy_id": "B-1"})
    cognito.admin_disable_user(UserPoolId=pool_id, Username=bob)
    carol = user("carol", "carol@example.com", given_name="Carol")  # stays FORCE_CHANGE_PASSWORD
    zoe = user("zoë", "zoe@example.com", name="Zoë Ångström, \"quoted\"")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=zoe, Password="Correct-Horse-9", Permanent=True)
    # Signed up, never confirmed: UNCONFIRMED.
    cognito.sign_up(ClientId=web["ClientId"], Username="dave@example.com" if username_attributes else "dave",
                    Password="Correct-Horse-9", UserAttributes=[{"Name": "email", "Value": "dave@example.com"}])
    dave = cognito.admin_get_user(UserPoolId=pool_id, Username="dave@example.com" if username_attributes
                                  else "dave")["Username"]
    for group, members in (("admins", [alice]), ("staff", [alice, bob, zoe, dave])):
        for member in members:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=member, GroupName=group)
    del carol
    return pool_id


def allow_bursts(monkeypatch) -> None:
    """Let the rate limiters allow bursts of 1,000 calls, so that tests do not wait on quotas sized for
    production. Rates, categories, call counts and throttle handling work as usual."""
    from backup_lambda.ratelimit import RateLimiter

    original = RateLimiter.__init__

    def init(self, rate, burst=None, **kwargs):
        original(self, rate, 1000.0 if burst is None else burst, **kwargs)

    monkeypatch.setattr(RateLimiter, "__init__", init)


@pytest.fixture(autouse=True)
def fast_rate_limits(monkeypatch):
    """``allow_bursts`` for every test of a module that imports this fixture."""
    allow_bursts(monkeypatch)


# --- a snapshot of a pool as a real account holds it (what moto cannot produce) -------------------------------

OLD_ACCOUNT = "111122223333"  # the snapshot's account
OTHER_ACCOUNT = "444455556666"  # another account the old pool pointed at
OLD_POOL = "eu-west-1_OldPool01"
REGION = "eu-west-1"


def _arn(service: str, resource: str, account: str = OLD_ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


REAL_TRIGGERS = {
    "PreSignUp": _arn("lambda", "function:app-pre-sign-up"),
    "CustomMessage": _arn("lambda", "function:app-custom-message"),
    "PostConfirmation": _arn("lambda", "function:app-post-confirmation"),
    "PreTokenGeneration": _arn("lambda", "function:app-token"),
    "PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": _arn("lambda", "function:app-token")},
    "CustomEmailSender": {"LambdaVersion": "V1_0", "LambdaArn": _arn("lambda", "function:app-mailer")},
    "CustomSMSSender": {"LambdaVersion": "V1_0", "LambdaArn": _arn("lambda", "function:app-mailer")},
    "KMSKeyID": _arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab", OTHER_ACCOUNT),
}
SMS_ROLE = f"arn:aws:iam::{OLD_ACCOUNT}:role/cognito-sms"
SES_IDENTITY = _arn("ses", "identity/no-reply@example.com", OTHER_ACCOUNT)
CUSTOM_DOMAIN_CERT = _arn("acm", "certificate/0f0e0d0c-0b0a-0908-0706-050403020100", OLD_ACCOUNT, "us-east-1")
REAL_SECRETS = {"Corp": {"client_secret": "corp-oidc-secret-value"}, "Google": {"client_secret": "google-secret"},
                "SignInWithApple": {"private_key": "-----BEGIN PRIVATE KEY-----\nMIGTAgEA\n-----END PRIVATE KEY-----"}}
BRANDING_SETTINGS = {"components": {"pageBackground": {"image": {"enabled": True}},
                                    "primaryButton": {"lightMode": {"defaults": {"backgroundColor": "0972d3ff"}}}},
                     "categories": {"form": {"displayGraphics": True, "location": {"horizontal": "CENTER"}}}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SVG = "<svg xmlns='http://www.w3.org/2000/svg' width='8' height='8'/>"


# Format 3's sections as a real account holds them (the web client has terms, a CIMD policy, its own CSS and SSO
# session; the backend its own threat protection; the pool one replica).
NEWER_SECTIONS: dict[str, Any] = {
    "session_configuration": {"status": "present", "value": {"UserSessionTracking": "ENABLED",
                                                             "TokenSession": {"MaxPerUser": 20}}},
    "terms": {"status": "present", "items": [
        {"TermsId": "old-terms-1", "UserPoolId": OLD_POOL, "ClientId": "oldweb01", "TermsName": "privacy-policy",
         "TermsSource": "LINK", "Enforcement": "NONE", "Links": {"cognito:default": "https://example.com/privacy",
                                                                 "cognito:french": "https://example.com/fr/privacy"},
         "CreationDate": "2026-01-02T00:00:00+00:00", "LastModifiedDate": "2026-01-02T00:00:00+00:00"}]},
    "cimd_policies": {"status": "present", "items": [
        {"UserPoolId": OLD_POOL, "CIMDPolicyId": "old-cimd-1", "ClientId": "oldweb01", "PolicyName": "partners",
         "CacheDuration": 86400, "URLPatterns": ["https://*.partner.example.com/client.json"]}]},
    "replicas": {"status": "present", "items": [
        {"RegionName": "eu-central-1", "Status": "ACTIVE", "Role": "SECONDARY",
         "UserPoolArn": f"arn:aws:cognito-idp:eu-central-1:{OLD_ACCOUNT}:userpool/{OLD_POOL}"}]},
    "client_ui_customization": {"status": "present", "items": [
        {"ClientId": "oldweb01", "UICustomization": {"UserPoolId": OLD_POOL, "ClientId": "oldweb01",
                                                     "CSS": ".banner-customizable {background-color: navy}"}}]},
    "client_risk_configuration": {"status": "present", "items": [
        {"ClientId": "oldback01", "RiskConfiguration": {
            "UserPoolId": OLD_POOL, "ClientId": "oldback01",
            "CompromisedCredentialsRiskConfiguration": {"Actions": {"EventAction": "NO_ACTION"}}}}]},
    "client_session_configuration": {"status": "present", "items": [
        {"ClientId": "oldweb01", "SSOSession": {"MaxValidityMinutes": 720}}]},
}


# Users' MFA (captureUserMfa): dan prefers SMS, alice has TOTP and email (email preferred).
USER_MFA = {"dan": {"UserMFASettingList": ["SMS_MFA"], "PreferredMfaSetting": "SMS_MFA"},
            "alice": {"UserMFASettingList": ["SOFTWARE_TOKEN_MFA", "EMAIL_OTP"], "PreferredMfaSetting": "EMAIL_OTP"}}


def real_account_snapshot() -> dict[str, Any]:
    """A snapshot of a pool that uses what moto cannot hold: both verification message halves, triggers with
    custom senders and their KMS key, SMS with an ExternalId, SES in another account, DCR and Secrets-Manager
    clients and per-client settings, SAML/OIDC/Google/Apple providers with AcrMapping, provider names that
    CreateIdentityProvider refuses ("My IdP", "X"), a custom domain, hosted UI CSS, per-client threat
    protection, log delivery, branding with Settings and assets (base64, text, lossy), and users: disabled,
    unconfirmed, with SMS MFA options, federated (of a renamed provider too), and one with a linked identity."""
    from tests.support.snapshot_builder import default_pool, make_group, make_snapshot, make_user, present

    pool = default_pool(
        OLD_POOL, "prod-customers", Arn=_arn("cognito-idp", f"userpool/{OLD_POOL}"),
        VerificationMessageTemplate=BOTH_TEMPLATE_HALVES, SmsVerificationMessage="Your code is {####}",
        EmailVerificationMessage="Your code is {####}", EmailVerificationSubject="Your code",
        SmsAuthenticationMessage="Your sign-in code is {####}",
        LambdaConfig=REAL_TRIGGERS, MfaConfiguration="OPTIONAL", DeletionProtection="ACTIVE",
        SmsConfiguration={"SnsCallerArn": SMS_ROLE, "ExternalId": "old-pool-external-id", "SnsRegion": REGION},
        EmailConfiguration={"SourceArn": SES_IDENTITY, "EmailSendingAccount": "DEVELOPER",
                            "From": "Example <no-reply@example.com>", "ReplyToEmailAddress": "help@example.com",
                            "ConfigurationSet": "cognito-mail"},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False, "UnusedAccountValidityDays": 7,
                               "InviteMessageTemplate": {"SMSMessage": "User {username} code {####}",
                                                         "EmailMessage": "Hello {username}, code {####}",
                                                         "EmailSubject": "Welcome"}},
        AccountRecoverySetting={"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"},
                                                       {"Priority": 2, "Name": "verified_phone_number"}]},
        UsernameConfiguration={"CaseSensitive": False}, DeviceConfiguration={"ChallengeRequiredOnNewDevice": True,
                                                                              "DeviceOnlyRememberedOnUserPrompt": True},
        UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": ["email"]},
        UserPoolTier="PLUS", UserPoolAddOns={"AdvancedSecurityMode": "ENFORCED"},
        DcrConfiguration={"EnableStatus": "Enabled", "AuthenticatedGrantTypes": ["code"], "AllowedScopes": ["openid"]},
        UserPoolTags={"team": "identity", "cost-centre": "4711"}, Domain="old-prefix", CustomDomain="auth.example.com",
        Status="Enabled", EstimatedNumberOfUsers=7)
    web = {"ClientId": "oldweb01", "ClientName": "web", "UserPoolId": OLD_POOL, "HasSecret": False,
           "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], "RefreshTokenValidity": 30,
           "AccessTokenValidity": 60, "IdTokenValidity": 60,
           "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
           "SupportedIdentityProviders": ["COGNITO", "Corp", "Google", "SignInWithApple", "My IdP", "X"],
           "CallbackURLs": ["https://app.example.com/cb"], "LogoutURLs": ["https://app.example.com/bye"],
           "DefaultRedirectURI": "https://app.example.com/cb", "AllowedOAuthFlows": ["code"],
           "AllowedOAuthScopes": ["openid", "email", "https://api.example.com/read"],
           "AllowedOAuthFlowsUserPoolClient": True, "PreventUserExistenceErrors": "ENABLED",
           "EnableTokenRevocation": True, "EnablePropagateAdditionalUserContextData": False, "AuthSessionValidity": 5,
           "RefreshTokenRotation": {"Feature": "ENABLED", "RetryGracePeriodSeconds": 10},
           "ReadAttributes": ["email", "custom:tier"], "WriteAttributes": ["email"],
           "AnalyticsConfiguration": {"ApplicationId": "0123456789abcdef0123456789abcdef",
                                      "RoleArn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/pinpoint",
                                      "ExternalId": "analytics-ext", "UserDataShared": False},
           "ClientType": "REGULAR"}
    clients = [
        web,
        {"ClientId": "oldback01", "ClientName": "backend", "UserPoolId": OLD_POOL, "HasSecret": True,
         "AllowedOAuthFlows": ["client_credentials"], "AllowedOAuthScopes": ["https://api.example.com/read"],
         "AllowedOAuthFlowsUserPoolClient": True, "RefreshTokenValidity": 7, "ClientType": "REGULAR"},
        {"ClientId": "oldsm01", "ClientName": "api-sm", "UserPoolId": OLD_POOL, "HasSecret": False,
         "ClientSecretArn": f"arn:aws:secretsmanager:{REGION}:{OLD_ACCOUNT}:secret:cognito/api-sm-AbCdEf",
         "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"], "ClientType": "REGULAR"},
        {"ClientId": "olddcr01", "ClientName": "partner-app-dcr", "UserPoolId": OLD_POOL, "HasSecret": False,
         "AllowedOAuthFlows": ["code"], "AllowedOAuthScopes": ["openid"], "AllowedOAuthFlowsUserPoolClient": True,
         "CallbackURLs": ["https://partner.example.net/cb"], "SupportedIdentityProviders": ["COGNITO"],
         "ClientType": "DCR"},
    ]
    providers = [
        {"ProviderName": "Corp", "ProviderType": "OIDC", "RedactedDetails": ["client_secret"],
         "ProviderDetails": {"client_id": "corp-client", "authorize_scopes": "openid email",
                             "oidc_issuer": "https://idp.corp.example.com", "attributes_request_method": "GET",
                             "attributes_url_add_attributes": "false"},
         "AttributeMapping": {"email": "email", "username": "sub"},
         "AcrMapping": {"Level1": "urn:corp:acr:password", "Level2": "urn:corp:acr:mfa"}},
        {"ProviderName": "Google", "ProviderType": "Google", "RedactedDetails": ["client_secret"],
         "ProviderDetails": {"client_id": "g-client.apps.googleusercontent.com", "authorize_scopes": "openid email",
                             "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
                             "token_url": "https://www.googleapis.com/oauth2/v4/token", "token_request_method": "POST",
                             "attributes_url": "https://people.googleapis.com/v1/people/me?personFields=",
                             "attributes_url_add_attributes": "true", "oidc_issuer": "https://accounts.google.com"},
         "AttributeMapping": {"email": "email", "username": "sub"}},
        {"ProviderName": "SignInWithApple", "ProviderType": "SignInWithApple", "RedactedDetails": ["private_key"],
         "ProviderDetails": {"client_id": "com.example.app", "team_id": "TEAM123456", "key_id": "KEY1234567",
                             "authorize_scopes": "email name"},
         "AttributeMapping": {"email": "email", "username": "sub"}},
        {"ProviderName": "My IdP", "ProviderType": "SAML", "RedactedDetails": [],
         "ProviderDetails": {"MetadataURL": "https://sso.partner.example.org/metadata.xml", "IDPSignout": "true",
                             "ActiveEncryptionCertificate": "MIIC..."},
         "AttributeMapping": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
         "IdpIdentifiers": ["partner.example.org"], "AcrMapping": {"Level1": "urn:oasis:names:tc:SAML:2.0:ac"}},
        {"ProviderName": "X", "ProviderType": "SAML", "RedactedDetails": [],
         "ProviderDetails": {"MetadataFile": "<md:EntityDescriptor entityID='https://x.example.org'/>"},
         "AttributeMapping": {"email": "email"}},
    ]
    old_web_branding = {"ManagedLoginBrandingId": "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", "UserPoolId": OLD_POOL,
                        "UseCognitoProvidedValues": False, "Settings": BRANDING_SETTINGS,
                        "Assets": [{"Category": "PAGE_HEADER_LOGO", "ColorMode": "LIGHT", "Extension": "PNG",
                                    "Bytes": PNG},
                                   {"Category": "FAVICON_SVG", "ColorMode": "DYNAMIC", "Extension": "SVG",
                                    "Bytes": SVG},
                                   {"Category": "PAGE_BACKGROUND", "ColorMode": "DARK", "Extension": "JPEG",
                                    "Bytes": "\ufffd\ufffd\ufffd\u0010JFIF\u0000\u0001"}]}
    sections = {
        "mfa_config": present({"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": True},
                               "SmsMfaConfiguration": {"SmsAuthenticationMessage": "Your sign-in code is {####}",
                                                       "SmsConfiguration": {"SnsCallerArn": SMS_ROLE,
                                                                            "ExternalId": "old-pool-external-id",
                                                                            "SnsRegion": REGION}}}),
        "clients": present(items=clients),
        "identity_providers": present(items=providers),
        "resource_servers": present(items=[{"UserPoolId": OLD_POOL, "Identifier": "https://api.example.com",
                                            "Name": "API",
                                            "Scopes": [{"ScopeName": "read", "ScopeDescription": "read"}]}]),
        "domain": present({"Domain": {"UserPoolId": OLD_POOL, "AWSAccountId": OLD_ACCOUNT, "Domain": "old-prefix",
                                      "S3Bucket": "aws-cognito-prod-dub-assets",
                                      "CloudFrontDistribution": "d1.cloudfront.net",
                                      "Version": "20260101", "Status": "ACTIVE", "ManagedLoginVersion": 2},
                           "CustomDomain": {"UserPoolId": OLD_POOL, "AWSAccountId": OLD_ACCOUNT,
                                            "Domain": "auth.example.com", "CloudFrontDistribution": "d2.cloudfront.net",
                                            "Status": "ACTIVE", "ManagedLoginVersion": 2,
                                            "CustomDomainConfig": {"CertificateArn": CUSTOM_DOMAIN_CERT}}}),
        "ui_customization": present({"UserPoolId": OLD_POOL, "ClientId": "ALL", "CSS": ".banner-customizable {}",
                                     "CSSVersion": "20260101", "ImageUrl": "https://d1.cloudfront.net/logo.png"}),
        "risk_configuration": present({
            "UserPoolId": OLD_POOL, "ClientId": "oldweb01",
            "CompromisedCredentialsRiskConfiguration": {"EventFilter": ["SIGN_IN"],
                                                        "Actions": {"EventAction": "BLOCK"}},
            "AccountTakeoverRiskConfiguration": {
                "NotifyConfiguration": {"SourceArn": SES_IDENTITY, "From": "security@example.com",
                                        "BlockEmail": {"Subject": "Blocked sign-in",
                                                       "TextBody": "We blocked a sign-in"}},
                "Actions": {"HighAction": {"Notify": True, "EventAction": "BLOCK"}}}}),
        "log_delivery": present({"UserPoolId": OLD_POOL, "LogConfigurations": [
            {"LogLevel": "ERROR", "EventSource": "userNotification",
             "CloudWatchLogsConfiguration": {"LogGroupArn": _arn("logs", "log-group:/aws/cognito/prod-customers")}}]}),
        "tags": present({"team": "identity", "cost-centre": "4711"}),
        "managed_login_branding": present(items=[
            {"ClientId": "oldweb01", "ManagedLoginBranding": old_web_branding},
            {"ClientId": "oldback01", "ManagedLoginBranding": {"UseCognitoProvidedValues": True, "Settings": {}}}]),
        **NEWER_SECTIONS,
    }

    def identities(provider: str, user_id: str) -> dict[str, str]:
        return {"identities": json.dumps([{"userId": user_id, "providerName": provider, "providerType": "SAML",
                                           "primary": "true"}])}

    dan = make_user("dan", email="dan@example.com", attributes={"phone_number": "+15550100",
                                                                "phone_number_verified": "true"})
    dan["MFAOptions"] = [{"DeliveryMedium": "SMS", "AttributeName": "phone_number"}]
    users = [
        make_user("alice", email="alice@example.com", attributes={"custom:tier": "gold", "name": "Alice Ångström"}),
        make_user("bob", email="bob@example.com", enabled=False),
        make_user("carol", email="carol@example.com", status="UNCONFIRMED", email_verified=False),
        dan,
        make_user("erin", email="erin@example.com", status="RESET_REQUIRED", attributes=identities("Corp", "c-9")),
        make_user("My IdP_partner-7", email="p7@partner.example.org", status="EXTERNAL_PROVIDER", enabled=False,
                  attributes=identities("My IdP", "partner-7")),
        make_user("Google_1234", email="g@example.com", status="EXTERNAL_PROVIDER",
                  attributes=identities("Google", "1234")),
    ]
    groups = [make_group("admins", ["alice", "My IdP_partner-7"], precedence=1, description="Administrators",
                         role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/prod-admins"),
              make_group("staff", ["alice", "bob", "carol", "dan", "Google_1234"], precedence=5)]
    for user in users:  # taken with captureUserMfa: every user carries MFA
        user["MFA"] = USER_MFA.get(user["Username"], {})
    doc = make_snapshot(users=users, groups=groups, pool=pool, sections=sections)
    doc["source"]["account"], doc["source"]["region"] = OLD_ACCOUNT, REGION
    return doc
