"""Build snapshots by hand, exactly as docs/snapshot-format.md describes them, for tests.

``make_snapshot(...)`` returns the document as a dict, in the documented key order of its format
(``format_version=2``, the current one, by default; ``format_version=1`` for a snapshot taken before
format 2: the same keys, the configuration and groups before the users);
``encode_snapshot`` turns it into the bytes a writer would store (users and groups one element per
line, UTF-8, not \\u-escaped); ``write_local`` / ``write_s3`` store it with its manifest.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backup_lambda.snapshot_format import (
    CONFIG_SECTIONS,
    DOCUMENT_KEYS,
    FORMAT_VERSION,
    manifest_key,
    retention_class,
    snapshot_key,
)

TAKEN_AT = datetime(2026, 11, 26, 1, 0, 3, tzinfo=timezone.utc)
DATE = "2026-11-20T10:00:00+00:00"


def make_user(username: str, *, sub: str | None = None, email: str | None = None,
              status: str = "CONFIRMED", enabled: bool = True, attributes: dict[str, str] | None = None,
              email_verified: bool | None = True) -> dict[str, Any]:
    attrs = {"sub": sub or str(uuid.uuid5(uuid.NAMESPACE_URL, username))}
    if email is not None:
        attrs["email"] = email
        if email_verified is not None:
            attrs["email_verified"] = "true" if email_verified else "false"
    attrs.update(attributes or {})
    return {
        "Username": username,
        "Attributes": [{"Name": k, "Value": v} for k, v in attrs.items()],
        "UserCreateDate": DATE,
        "UserLastModifiedDate": DATE,
        "Enabled": enabled,
        "UserStatus": status,
    }


def make_group(name: str, members: list[str] | tuple[str, ...] = (), *, precedence: int | None = None,
               description: str | None = None, role_arn: str | None = None) -> dict[str, Any]:
    group: dict[str, Any] = {"GroupName": name}
    if description is not None:
        group["Description"] = description
    if role_arn is not None:
        group["RoleArn"] = role_arn
    if precedence is not None:
        group["Precedence"] = precedence
    group.update({"CreationDate": DATE, "LastModifiedDate": DATE, "Members": list(members)})
    return group


def default_pool(pool_id: str = "eu-west-1_Source1", name: str = "prod-users", **extra: Any) -> dict[str, Any]:
    pool = {
        "Id": pool_id,
        "Name": name,
        "Policies": {"PasswordPolicy": {"MinimumLength": 10, "RequireUppercase": True,
                                        "RequireLowercase": True, "RequireNumbers": True,
                                        "RequireSymbols": False, "TemporaryPasswordValidityDays": 7}},
        "LambdaConfig": {},
        "LastModifiedDate": DATE,
        "CreationDate": DATE,
        "SchemaAttributes": [
            {"Name": "sub", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": False,
             "Required": True, "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"}},
            {"Name": "email", "AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": True,
             "Required": True, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}},
            {"Name": "custom:tier", "AttributeDataType": "String", "DeveloperOnlyAttribute": False,
             "Mutable": True, "Required": False, "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}},
        ],
        "AutoVerifiedAttributes": ["email"],
        "MfaConfiguration": "OFF",
        "EstimatedNumberOfUsers": 3,
        "EmailConfiguration": {"EmailSendingAccount": "COGNITO_DEFAULT"},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True, "UnusedAccountValidityDays": 7},
        "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE",
                                        "EmailMessage": "Code {####}", "EmailSubject": "Your code"},
        "Arn": f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{pool_id}",
    }
    pool.update(extra)
    return pool


def present(value: Any = None, items: list | None = None) -> dict[str, Any]:
    if items is not None:
        return {"status": "present", "items": items}
    return {"status": "present", "value": value}


def absent(reason: str = "not used") -> dict[str, Any]:
    return {"status": "absent", "reason": reason}


def default_sections() -> dict[str, Any]:
    return {
        "mfa_config": present({"MfaConfiguration": "OFF"}),
        "clients": present(items=[]),
        "identity_providers": present(items=[]),
        "resource_servers": present(items=[]),
        "domain": absent("no domain"),
        "ui_customization": absent("none"),
        "risk_configuration": absent("threat protection is off"),
        "log_delivery": absent("none"),
        "tags": present({}),
        "managed_login_branding": present(items=[]),
    }


def make_snapshot(*, users: list[dict] | None = None, groups: list[dict] | None = None,
                  pool: dict | None = None, sections: dict[str, Any] | None = None,
                  taken_at: datetime = TAKEN_AT, pool_name: str | None = None,
                  excluded: list[str] | None = None, format_version: int = FORMAT_VERSION) -> dict[str, Any]:
    users = list(users if users is not None else [
        make_user("alice", email="alice@example.com", attributes={"custom:tier": "gold"}),
        make_user("bob", email="bob@example.com", enabled=False),
        make_user("carol", email="carol@example.com", status="UNCONFIRMED", email_verified=False),
    ])
    groups = list(groups if groups is not None else [
        make_group("admins", ["alice"], precedence=1, description="Administrators"),
        make_group("staff", ["alice", "bob"], precedence=5),
    ])
    pool = pool or default_pool()
    pool_name = pool_name or pool["Name"]
    all_sections = default_sections()
    all_sections.update(sections or {})
    values: dict[str, Any] = {
        "format_version": format_version,
        "taken_at": taken_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"account": "123456789012", "region": "eu-west-1", "user_pool_id": pool["Id"],
                   "pool_name": pool_name, "tool": "cognito-backup", "tool_version": "0.1.0",
                   "botocore_version": "1.44.8"},
        "pool": pool,
        **{name: all_sections[name] for name in CONFIG_SECTIONS},
        "groups": groups,
        "users": users,
        "summary": summary_for(users, groups, excluded or []),
    }
    return {key: values[key] for key in DOCUMENT_KEYS[format_version]}


def summary_for(users: list[dict], groups: list[dict], excluded: list[str]) -> dict[str, Any]:
    return {
        "users": len(users),
        "groups": len(groups),
        "memberships": sum(len(g.get("Members", [])) for g in groups),
        "federated_users": sum(1 for u in users if u.get("UserStatus") == "EXTERNAL_PROVIDER"),
        "disabled_users": sum(1 for u in users if u.get("Enabled") is False),
        "excluded_attributes": excluded,
        "user_listing": "single",
        "ranges": 1,
    }


def encode_snapshot(doc: dict[str, Any], *, one_per_line: bool = True, indent: int | None = None) -> bytes:
    """The bytes of a snapshot: users and groups one element per line, as the writer stores them."""
    if indent is not None or not one_per_line:
        return json.dumps(doc, ensure_ascii=False, indent=indent).encode("utf-8")
    parts = []
    for key, value in doc.items():
        if key in ("users", "groups") and value:
            inner = ",\n".join(json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f"{json.dumps(key)}: [\n{inner}\n]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return ("{" + ",\n".join(parts) + "}\n").encode("utf-8")


def make_manifest(doc: dict[str, Any], data: bytes, key: str) -> dict[str, Any]:
    summary = doc.get("summary") or {}
    taken = datetime.strptime(doc["taken_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return {
        "format_version": doc.get("format_version", FORMAT_VERSION),
        "snapshot_key": key,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "users": summary.get("users"),
        "groups": summary.get("groups"),
        "memberships": summary.get("memberships"),
        "taken_at": doc["taken_at"],
        "completed_at": doc["taken_at"],
        "user_pool_id": doc["source"]["user_pool_id"],
        "pool_name": doc["source"]["pool_name"],
        "retention": retention_class(taken),
        "sections": {name: doc[name]["status"] for name in CONFIG_SECTIONS if name in doc},
        "tool_version": "0.1.0",
    }


def key_for(doc: dict[str, Any], prefix: str = "") -> str:
    taken = datetime.strptime(doc["taken_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return snapshot_key(prefix, doc["source"]["pool_name"], taken)


def write_local(directory: Path, doc: dict[str, Any], *, manifest: bool = True, data: bytes | None = None,
                manifest_overrides: dict[str, Any] | None = None) -> Path:
    """Write ``doc`` (or raw ``data``) and its manifest under ``directory``; returns the snapshot path."""
    key = key_for(doc)
    path = directory / key.rsplit("/", 1)[-1]
    data = encode_snapshot(doc) if data is None else data
    path.write_bytes(data)
    if manifest:
        body = make_manifest(doc, encode_snapshot(doc) if data is None else data, key)
        body.update(manifest_overrides or {})
        path.with_name(path.name[: -len(".json")] + ".manifest.json").write_text(json.dumps(body))
    return path


def write_s3(s3: Any, bucket: str, doc: dict[str, Any], *, prefix: str = "", manifest: bool = True,
             data: bytes | None = None, manifest_overrides: dict[str, Any] | None = None) -> str:
    key = key_for(doc, prefix)
    data = encode_snapshot(doc) if data is None else data
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    if manifest:
        body = make_manifest(doc, data, key)
        body.update(manifest_overrides or {})
        s3.put_object(Bucket=bucket, Key=manifest_key(key), Body=json.dumps(body).encode())
    return key
