"""The snapshot a restore benchmark restores: N synthetic users, each in ``memberships`` groups, 2% disabled, written
as a format-2 snapshot file with its manifest (docs/snapshot-format.md), as the engine writes them (users and
groups one element per line), streamed: a million users never sit in memory.

User ``i`` is ``user0000042``, with a verified email (so that every user can be imported) and a custom attribute;
it is disabled when ``i % 50 == DISABLED_RESIDUE`` (2%). There are ``groups`` groups (GROUPS by default); user
``i`` is in groups ``(i + k * (groups // memberships)) % groups`` for ``k < memberships``: distinct groups, each
with about ``users * memberships / groups`` members, and a group's members computed in O(its members).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backup_lambda.snapshot_format import CONFIG_SECTIONS, DOCUMENT_KEYS, retention_class, snapshot_key

GROUPS = 100
DISABLED_EVERY = 50  # 2%
DISABLED_RESIDUE = 7
TAKEN_AT = datetime(2026, 11, 26, 1, 0, 3, tzinfo=timezone.utc)
DATE = "2026-11-20T10:00:00+00:00"
POOL = {
    "Id": "eu-west-1_Source1", "Name": "bench-users", "LambdaConfig": {}, "MfaConfiguration": "OFF",
    "Policies": {"PasswordPolicy": {"MinimumLength": 10, "RequireUppercase": True, "RequireLowercase": True,
                                    "RequireNumbers": True, "RequireSymbols": False,
                                    "TemporaryPasswordValidityDays": 7}},
    "SchemaAttributes": [
        {"Name": "sub", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": False,
         "Required": True, "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"}},
        {"Name": "email", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": True,
         "Required": True, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}},
        {"Name": "custom:tier", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": True,
         "Required": False, "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}}],
    "AutoVerifiedAttributes": ["email"], "EstimatedNumberOfUsers": 0,
    "EmailConfiguration": {"EmailSendingAccount": "COGNITO_DEFAULT"},
    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
    "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE", "EmailMessage": "Code {####}",
                                    "EmailSubject": "Your code"},
    "Arn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Source1",
}
SECTIONS: dict[str, Any] = {
    "mfa_config": {"status": "present", "value": {"MfaConfiguration": "OFF"}},
    "clients": {"status": "present", "items": [{"ClientName": "web", "ClientId": "1example23456789",
                                                "UserPoolId": "eu-west-1_Source1", "ExplicitAuthFlows":
                                                ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}]},
    "identity_providers": {"status": "present", "items": []},
    "resource_servers": {"status": "present", "items": []},
    "domain": {"status": "absent", "reason": "no domain"},
    "ui_customization": {"status": "absent", "reason": "none"},
    "risk_configuration": {"status": "absent", "reason": "threat protection is off"},
    "log_delivery": {"status": "absent", "reason": "none"},
    "tags": {"status": "present", "value": {}},
    "managed_login_branding": {"status": "present", "items": []},
}


def disabled(i: int) -> bool:
    return i % DISABLED_EVERY == DISABLED_RESIDUE


def disabled_count(users: int) -> int:
    return sum(1 for _ in range(DISABLED_RESIDUE, users, DISABLED_EVERY))


def user(i: int) -> dict[str, Any]:
    name = f"user{i:07d}"
    return {"Username": name,
            "Attributes": [{"Name": "sub", "Value": str(uuid.uuid5(uuid.NAMESPACE_URL, name))},
                           {"Name": "email", "Value": f"{name}@example.com"},
                           {"Name": "email_verified", "Value": "true"},
                           {"Name": "custom:tier", "Value": ("free", "pro", "gold")[i % 3]}],
            "UserCreateDate": DATE, "UserLastModifiedDate": DATE, "Enabled": not disabled(i),
            "UserStatus": "CONFIRMED"}


def members(g: int, users: int, memberships: int, groups: int) -> list[str]:
    """The members of group ``g``: the users ``i`` with ``(i + k * step) % groups == g`` for some ``k``."""
    step = groups // memberships
    out = []
    for k in range(memberships):
        out.extend(f"user{i:07d}" for i in range((g - k * step) % groups, users, groups))
    return out


def write_snapshot(directory: Path, users: int, memberships: int, groups: int = GROUPS) -> Path:
    """Write the snapshot and its manifest under ``directory`` (kept: a second call with the same shape reuses
    them); returns the snapshot's path."""
    group_count = min(groups, users)
    if users < 1 or not 1 <= memberships <= group_count:
        raise ValueError(f"users must be >= 1 and memberships 1..{group_count}: {users}, {memberships}")
    key = snapshot_key("", f"bench-{users}-{memberships}", TAKEN_AT)
    path = directory / key.rsplit("/", 1)[-1]
    manifest = path.with_name(path.name[: -len(".json")] + ".manifest.json")
    if path.exists() and manifest.exists():
        return path
    digest, size = hashlib.sha256(), 0
    summary = {"users": users, "groups": group_count, "memberships": users * memberships, "federated_users": 0,
               "disabled_users": disabled_count(users), "excluded_attributes": [], "user_listing": "single",
               "ranges": 1}
    values = {"format_version": 2, "taken_at": TAKEN_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "source": {"account": "123456789012", "region": "eu-west-1", "user_pool_id": POOL["Id"],
                         "pool_name": f"bench-{users}-{memberships}", "tool": "cognito-backup", "tool_version": "0.1.0",
                         "botocore_version": "1.44.8"},
              "pool": POOL, **SECTIONS, "summary": summary}
    with open(path, "wb") as out:
        def write(text: str) -> None:
            nonlocal size
            data = text.encode("utf-8")
            digest.update(data)
            size += len(data)
            out.write(data)

        for n, name in enumerate(DOCUMENT_KEYS[2]):
            write("{" if n == 0 else ",\n")
            if name == "users":
                write('"users": [\n' + ",\n".join(json.dumps(user(i)) for i in range(min(users, 1))))
                for start in range(1, users, 10_000):
                    write("".join(",\n" + json.dumps(user(i)) for i in range(start, min(users, start + 10_000))))
                write("\n]")
            elif name == "groups":
                write('"groups": [\n' + ",\n".join(
                    json.dumps({"GroupName": f"group-{g:04d}", "Precedence": g, "CreationDate": DATE,
                                "LastModifiedDate": DATE, "Members": members(g, users, memberships, group_count)})
                    for g in range(group_count)) + "\n]")
            else:
                write(f"{json.dumps(name)}: {json.dumps(values[name])}")
        write("}\n")
    manifest.write_text(json.dumps({
        "format_version": 2, "snapshot_key": key, "sha256": digest.hexdigest(), "bytes": size, "users": users,
        "groups": group_count, "memberships": users * memberships, "taken_at": values["taken_at"],
        "completed_at": values["taken_at"], "user_pool_id": POOL["Id"], "pool_name": values["source"]["pool_name"],
        "retention": retention_class(TAKEN_AT),
        "sections": {s: SECTIONS[s]["status"] for s in CONFIG_SECTIONS if s in DOCUMENT_KEYS[2]},
        "tool_version": "0.1.0"}))
    return path
