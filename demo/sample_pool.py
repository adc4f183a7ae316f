"""Build a realistic user pool through the Cognito API (used by the demo and the tests).

Custom attributes, users with Unicode names, disabled and unconfirmed users, groups with
precedence and roles, a group larger than one page, app clients with and without a secret, a
resource server, an OIDC identity provider with a client secret, a domain and tags.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

IDP_SECRET = "idp-secret-DO-NOT-LEAK-7f3a9c"  # noqa: S105 - a known value that tests look for
GROUPS = [
    ("admins", "Administrators", 1),
    ("editors", "Can edit content", 5),
    ("viewers", "Read-only", 10),
    ("beta-testers", "Early access", 20),
    ("support", "Customer support staff", 15),
]
FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Émilie", "Fatima", "Giorgos", "Hana", "Ігор", "José",
         "Kaito", "Lena", "Mateus", "Nguyễn", "Olga", "Priya", "Søren", "Zoë", "李", "Ólafur"]


@dataclass
class SamplePool:
    pool_id: str
    name: str
    users: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    client_ids: list[str] = field(default_factory=list)
    client_secrets: list[str] = field(default_factory=list)
    idp_secret: str = IDP_SECRET


def create_pool(cognito, name: str, *, domain: str | None = None) -> dict[str, Any]:
    return cognito.create_user_pool(
        PoolName=name,
        Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True,
                                     "RequireLowercase": True, "RequireNumbers": True,
                                     "RequireSymbols": False}},
        AutoVerifiedAttributes=["email"],
        Schema=[
            {"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True},
            {"Name": "tier", "AttributeDataType": "String", "Mutable": True,
             "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}},
            {"Name": "org_id", "AttributeDataType": "Number", "Mutable": True,
             "NumberAttributeConstraints": {"MinValue": "0", "MaxValue": "1000000"}},
        ],
        UserPoolTags={"team": "identity", "env": "demo"},
        MfaConfiguration="OFF",
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
    )["UserPool"]


def build_pool(cognito, name: str = "demo-users", *, users: int = 2000, seed: int = 7,
               unconfirmed: int = 25, disabled_every: int = 40, big_group_members: int | None = None,
               extra_groups: int = 0, with_config: bool = True, progress=None) -> SamplePool:
    """Create and fill a pool. ``progress(done, total)`` is called every 250 users."""
    rng = random.Random(seed)
    pool = create_pool(cognito, name)
    sample = SamplePool(pool_id=pool["Id"], name=name)
    pid = pool["Id"]

    if with_config:
        cognito.create_resource_server(UserPoolId=pid, Identifier="https://api.example.com", Name="api",
                                       Scopes=[{"ScopeName": "read", "ScopeDescription": "read"},
                                               {"ScopeName": "write", "ScopeDescription": "write"}])
        cognito.create_identity_provider(
            UserPoolId=pid, ProviderName="CorpOIDC", ProviderType="OIDC",
            ProviderDetails={"client_id": "corp-client", "client_secret": IDP_SECRET,
                             "attributes_request_method": "GET", "oidc_issuer": "https://idp.example.com",
                             "authorize_scopes": "openid email"},
            AttributeMapping={"email": "email"},
        )
        web = cognito.create_user_pool_client(UserPoolId=pid, ClientName="web-app", GenerateSecret=False,
                                              ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH",
                                                                 "ALLOW_REFRESH_TOKEN_AUTH"])
        backend = cognito.create_user_pool_client(
            UserPoolId=pid, ClientName="backend-service", GenerateSecret=True,
            AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["https://api.example.com/read"],
            AllowedOAuthFlowsUserPoolClient=True,
        )["UserPoolClient"]
        sample.client_ids = [web["UserPoolClient"]["ClientId"], backend["ClientId"]]
        sample.client_secrets = [backend["ClientSecret"]]
        cognito.create_user_pool_domain(UserPoolId=pid, Domain=f"{name}-{seed}-auth")
        # The newer pool features (held by demo/cognito_gaps.py where moto lacks them).
        web_id = sample.client_ids[0]
        cognito.create_terms(UserPoolId=pid, ClientId=web_id, TermsName="terms-of-use", TermsSource="LINK",
                             Enforcement="NONE", Links={"cognito:default": "https://example.com/terms"})
        cognito.create_cimd_policy(UserPoolId=pid, ClientId=web_id, PolicyName="partners",
                                   URLPatterns=["https://*.partner.example.com/client.json"], CacheDuration=86400)
        cognito.set_user_pool_session_configuration(UserPoolId=pid, UserSessionTracking="ENABLED",
                                                    TokenSession={"MaxPerUser": 10})
        cognito.set_user_pool_client_session_configuration(UserPoolId=pid, ClientId=web_id,
                                                           SSOSession={"MaxValidityMinutes": 480})

    group_names = [g[0] for g in GROUPS] + [f"team-{i:03d}" for i in range(extra_groups)]
    for gname, desc, precedence in GROUPS:
        cognito.create_group(UserPoolId=pid, GroupName=gname, Description=desc, Precedence=precedence,
                             RoleArn=f"arn:aws:iam::123456789012:role/cognito-{gname}")
    for i in range(extra_groups):
        cognito.create_group(UserPoolId=pid, GroupName=f"team-{i:03d}", Precedence=100 + i)
    sample.groups = {g: [] for g in group_names}

    for i in range(users):
        first = FIRST[i % len(FIRST)]
        username = f"{first.lower()}.{i:05d}"
        attrs = [
            {"Name": "email", "Value": f"user{i:05d}@example.com"},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "given_name", "Value": first},
            {"Name": "family_name", "Value": rng.choice(["Silva", "Müller", "O'Brien", "Kowalski", "佐藤"])},
            {"Name": "custom:tier", "Value": rng.choice(["free", "pro", "enterprise"])},
            {"Name": "custom:org_id", "Value": str(rng.randrange(1, 5000))},
        ]
        if i % 3 == 0:
            attrs.append({"Name": "phone_number", "Value": f"+1555{i:07d}"})
        cognito.admin_create_user(UserPoolId=pid, Username=username, UserAttributes=attrs,
                                  MessageAction="SUPPRESS")
        sample.users.append(username)
        if disabled_every and i % disabled_every == 7:
            cognito.admin_disable_user(UserPoolId=pid, Username=username)
            sample.disabled.append(username)
        for gname in group_names:
            share = {"admins": 0.01, "editors": 0.1, "viewers": 0.2, "beta-testers": 0.05,
                     "support": 0.02}.get(gname, 0.02)
            if rng.random() < share:
                cognito.admin_add_user_to_group(UserPoolId=pid, Username=username, GroupName=gname)
                sample.groups[gname].append(username)
        if progress and (i + 1) % 250 == 0:
            progress(i + 1, users)

    if unconfirmed and sample.client_ids:
        for j in range(unconfirmed):
            username = f"pending.{j:04d}"
            cognito.sign_up(ClientId=sample.client_ids[0], Username=username, Password="Pending-Passw0rd!x",  # noqa: S106
                            UserAttributes=[{"Name": "email", "Value": f"pending{j:04d}@example.com"}])
            sample.unconfirmed.append(username)
            sample.users.append(username)

    if big_group_members:
        cognito.create_group(UserPoolId=pid, GroupName="everyone", Description="All users")
        sample.groups["everyone"] = []
        for username in sample.users[:big_group_members]:
            cognito.admin_add_user_to_group(UserPoolId=pid, Username=username, GroupName="everyone")
            sample.groups["everyone"].append(username)
    return sample
