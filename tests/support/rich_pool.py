"""A rich user pool in moto, for the restore round trip and the drill: custom attributes, MFA, a resource
server, identity providers, clients with and without secrets, groups with members, disabled,
unconfirmed and unicode users."""

from __future__ import annotations

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
