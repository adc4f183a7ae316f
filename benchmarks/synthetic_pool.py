"""One synthetic user pool of N users, generated on the fly: each user, page or group costs O(page).

- User ``i`` (0 <= i < N) has a sub whose first 8 hex digits are ``i`` written backwards in hex
  (least significant digit first). A filter ``sub ^= "<p>"`` with a prefix of L <= 8 digits therefore
  selects ``i = r, r + 16**L, r + 2 * 16**L, ...`` (r = the prefix read backwards): an arithmetic
  progression, sliced directly. The ranges are as balanced as random UUIDs would make them. The rest
  of the sub is a hash of ``i``, so the sub looks like a UUID v4.
- Group ``g`` holds the users ``i`` with ``i % period`` in its ``residues``: its ``k``-th member is
  ``(k // r) * period + residues[k % r]`` (``r`` residues, sorted), so a page of members costs O(page)
  too. Shapes (``group_shape``): ``default`` (six groups, 1.4% of the users in all), ``five`` (its five
  groups with members), ``tenants:N`` (N tenant groups, every user in 1 to 3 of them, 2 on average),
  ``everyone:K`` (one group holding every user, plus K groups of 1 in 5,000).

Served by the stand-in Cognito (``stand_in_cognito.py``) and checked against by the benchmarks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
POOL_ID = "us-east-1_BenchPool1"
POOL_NAME = "bench-users"
CREATED = 1_700_000_000.0
MAX_USERS = 16**8  # the sub's first 8 hex digits number the users

GIVEN = ["Ana", "Björn", "Chloé", "Dmitri", "Émilie", "Fatima", "Giorgos", "Hana", "Ігор", "José",
         "Kaito", "Lena", "Mateus", "Nguyễn", "Olga", "Priya", "Søren", "Zoë", "李", "Ólafur"]
FAMILY = ["Silva", "Müller", "O'Brien", "Kowalski", "佐藤", "Nakamura", "Haddad", "Okafor", "Lindqvist"]
TIERS = ["free", "pro", "enterprise"]


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    precedence: int | None
    period: int  # members: the users i with i % period in residues (period 0: no members)
    residues: tuple[int, ...] = (0,)


class Members:
    """The members of one group in a pool of ``users``, in listing order, as a sequence (sliceable)."""

    def __init__(self, group: Group, users: int):
        self.period, self.residues = group.period, tuple(sorted(group.residues))
        r = len(self.residues)
        if not self.period:
            self.n = 0
        else:
            whole, rest = divmod(users, self.period)
            self.n = whole * r + sum(1 for x in self.residues if x < rest)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self.n))]
        if not 0 <= k < self.n:
            raise IndexError(k)
        q, j = divmod(k, len(self.residues))
        return q * self.period + self.residues[j]

    def __iter__(self):
        return (self[i] for i in range(self.n))


# About 1.4% of the users are in a group: memberships cost UserList calls that list no new user.
DEFAULT_GROUPS = (
    Group("admins", "Administrators", 1, 10_000, (1,)),
    Group("support", "Customer support staff", 15, 2_000, (5,)),
    Group("editors", "Can edit content", 5, 500, (9,)),
    Group("early-adopters", "Joined in the first month", 30, 1_000, (17,)),
    Group("beta-testers", "Early access", 20, 100, (13,)),
    Group("archived", "No members any more", 99, 0),
)
TENANT_STEP = 3_331  # a user's 2nd and 3rd tenant groups are this far (mod N) from its first


def tenant_groups(n: int) -> tuple[Group, ...]:
    """N tenant groups over a period of 3N residues: the users of residue ``x`` (``b = x % N``) are in
    groups ``b``, ``b + STEP``, ``b + 2 STEP`` (mod N), the first ``x % 3 + 1`` of them: each user in 1,
    2 or 3 groups, 2 on average, each group holding 6 residues (1 in N/2 users)."""
    step = TENANT_STEP % n if n > 3 else 1
    groups = []
    for g in range(n):
        residues = {b + m * n for j in range(3) for b in [(g - j * step) % n] for m in range(3)
                    if (b + m * n) % 3 >= j}
        groups.append(Group(f"tenant-{g:05d}", f"Tenant {g:05d}", None, 3 * n, tuple(sorted(residues))))
    return tuple(groups)


def group_shape(name: str) -> tuple[Group, ...]:
    """The groups of a named shape (see the module docstring)."""
    kind, _, arg = name.partition(":")
    if kind == "default" and not arg:
        return DEFAULT_GROUPS
    if kind == "five" and not arg:
        return DEFAULT_GROUPS[:5]
    if kind == "tenants" and arg.isdigit() and int(arg) > 0:
        return tenant_groups(int(arg))
    if kind == "everyone" and arg.isdigit():
        return (Group("customers", "Every customer", 50, 1, (0,)),
                *(Group(f"team-{k:02d}", f"Team {k:02d}", k + 1, 5_000, (k,)) for k in range(int(arg))))
    raise ValueError(f"unknown group shape {name!r}: default, five, tenants:N or everyone:K")


def _json_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


_GIVEN_JSON = [_json_str(n) for n in GIVEN]
_FAMILY_JSON = [_json_str(n) for n in FAMILY]


class SyntheticPool:
    """N users, their groups and the pool's configuration, all computed on demand."""

    def __init__(self, users: int, *, pool_id: str = POOL_ID, name: str = POOL_NAME,
                 groups: tuple[Group, ...] = DEFAULT_GROUPS):
        if not 0 <= users < MAX_USERS:
            raise ValueError(f"users must be between 0 and {MAX_USERS - 1}")
        self.users = users
        self.pool_id = pool_id
        self.name = name
        self.arn = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{pool_id}"
        self.groups = {g.name: g for g in groups}
        self.group_order = [g.name for g in groups]
        self.clients = {
            "1example23456789webapp": {"ClientName": "web-app", "secret": None},
            "2example23456789backend": {"ClientName": "backend-service", "secret": "s3cr3t-" + "x" * 40},
        }

    # -- users ---------------------------------------------------------------------------------

    def sub(self, i: int) -> str:
        head = f"{i:08x}"[::-1]
        t = hashlib.blake2b(i.to_bytes(4, "little"), digest_size=12).hexdigest()
        return f"{head}-{t[0:4]}-4{t[4:7]}-{'89ab'[int(t[7], 16) & 3]}{t[8:11]}-{t[11:23]}"

    @staticmethod
    def index_of_sub(sub: str) -> int:
        return int(sub[:8][::-1], 16)

    @staticmethod
    def federated(i: int) -> bool:
        return i % 97 == 3

    def username(self, i: int) -> str:
        return f"Google_{100_000_000_000 + i}" if self.federated(i) else f"user{i:07d}"

    @staticmethod
    def index_of_username(name: str) -> int:
        return int(name[7:]) - 100_000_000_000 if name.startswith("Google_") else int(name[4:])

    @staticmethod
    def enabled(i: int) -> bool:
        return i % 50 != 7

    def status(self, i: int) -> str:
        if self.federated(i):
            return "EXTERNAL_PROVIDER"
        if i % 41 == 5:
            return "UNCONFIRMED"
        if i % 53 == 11:
            return "FORCE_CHANGE_PASSWORD"
        return "CONFIRMED"

    def user_json(self, i: int) -> str:
        """The UserType of user ``i`` as JSON text, the way ListUsers returns it."""
        username = self.username(i)
        email = f"user{i:07d}@example.com"
        attrs = (
            f'{{"Name":"sub","Value":"{self.sub(i)}"}},'
            f'{{"Name":"email_verified","Value":"true"}},'
            f'{{"Name":"given_name","Value":{_GIVEN_JSON[i % len(GIVEN)]}}},'
            f'{{"Name":"family_name","Value":{_FAMILY_JSON[(i // 7) % len(FAMILY)]}}},'
            f'{{"Name":"email","Value":"{email}"}},'
            f'{{"Name":"custom:tier","Value":"{TIERS[i % 3]}"}}'
        )
        if i % 3 == 0:
            attrs += f',{{"Name":"phone_number","Value":"+1555{i % 10_000_000:07d}"}}'
        if self.federated(i):
            identities = json.dumps([{"userId": str(100_000_000_000 + i), "providerName": "Google",
                                      "providerType": "Google", "issuer": None, "primary": True,
                                      "dateCreated": 1_700_000_000_000}], separators=(",", ":"))
            attrs += f',{{"Name":"identities","Value":{_json_str(identities)}}}'
        created = CREATED + i * 0.5
        return (f'{{"Username":"{username}","Attributes":[{attrs}],"UserCreateDate":{created},'
                f'"UserLastModifiedDate":{created + 3600.25},"Enabled":{"true" if self.enabled(i) else "false"},'
                f'"UserStatus":"{self.status(i)}"}}')

    def sub_prefix(self, prefix: str) -> range | list[int]:
        """The users whose sub starts with ``prefix``, in listing order."""
        if any(c not in "0123456789abcdef" for c in prefix[:8]):
            return []
        if len(prefix) <= 8:
            residue = int(prefix[::-1], 16) if prefix else 0
            return range(residue, self.users, 16 ** len(prefix))
        i = self.index_of_sub(prefix)
        return [i] if i < self.users and self.sub(i).startswith(prefix) else []

    def members(self, group: str) -> Members:
        return Members(self.groups[group], self.users)

    # -- configuration -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        schema = [
            {"Name": "sub", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": False,
             "Required": True, "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"}},
            {"Name": "email", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": True,
             "Required": True, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}},
            {"Name": "given_name", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
             "Mutable": True, "Required": False},
            {"Name": "family_name", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
             "Mutable": True, "Required": False},
            {"Name": "phone_number", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
             "Mutable": True, "Required": False},
            {"Name": "identities", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
             "Mutable": True, "Required": False},
            {"Name": "custom:tier", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
             "Mutable": True, "Required": False,
             "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}},
        ]
        return {
            "Id": self.pool_id, "Name": self.name, "Arn": self.arn, "Status": "Enabled",
            "CreationDate": CREATED, "LastModifiedDate": CREATED + 86400,
            "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True,
                                            "RequireLowercase": True, "RequireNumbers": True,
                                            "RequireSymbols": False, "TemporaryPasswordValidityDays": 7}},
            "DeletionProtection": "ACTIVE", "LambdaConfig": {}, "SchemaAttributes": schema,
            "AutoVerifiedAttributes": ["email"], "MfaConfiguration": "OFF",
            "EstimatedNumberOfUsers": self.users,
            "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE"},
            "EmailConfiguration": {"EmailSendingAccount": "COGNITO_DEFAULT"},
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
            "UsernameConfiguration": {"CaseSensitive": False},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
            "UserPoolTags": {"team": "identity", "env": "bench"}, "UserPoolTier": "ESSENTIALS",
        }

    def group_type(self, name: str) -> dict[str, Any]:
        g = self.groups[name]
        out = {"GroupName": g.name, "UserPoolId": self.pool_id, "Description": g.description,
               "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/cognito-{g.name}", "Precedence": g.precedence,
               "LastModifiedDate": CREATED, "CreationDate": CREATED}
        return {k: v for k, v in out.items() if v is not None}

    def client(self, client_id: str) -> dict[str, Any]:
        c = self.clients[client_id]
        out = {"UserPoolId": self.pool_id, "ClientName": c["ClientName"], "ClientId": client_id,
               "LastModifiedDate": CREATED, "CreationDate": CREATED, "RefreshTokenValidity": 30,
               "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
               "AllowedOAuthFlowsUserPoolClient": False}
        if c["secret"]:
            out["ClientSecret"] = c["secret"]
        return out
