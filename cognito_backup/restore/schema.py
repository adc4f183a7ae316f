"""The pool schema: standard attributes and their defaults, normalisation (so that a restored pool compares
equal to its snapshot, see ``cognito_backup.diff``), and the split of a snapshot's schema into what
CreateUserPool takes and the AddCustomAttributes batches that follow (``../shared/notes/cognito-api.md``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.restore.shapes import drop_none

# Standard attributes and their defaults (what DescribeUserPool shows for an untouched pool).
_STRING = {"AttributeDataType": "String", "DeveloperOnlyAttribute": False, "Mutable": True, "Required": False,
           "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}}
_BOOLEAN = {"AttributeDataType": "Boolean", "DeveloperOnlyAttribute": False, "Mutable": True, "Required": False}
STANDARD_ATTRIBUTES: dict[str, dict[str, Any]] = {
    name: copy.deepcopy(_STRING)
    for name in ("name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
                 "profile", "picture", "website", "email", "gender", "zoneinfo", "locale", "phone_number",
                 "address", "identities")
}
STANDARD_ATTRIBUTES["identities"].pop("StringAttributeConstraints")
STANDARD_ATTRIBUTES["sub"] = {**copy.deepcopy(_STRING), "Mutable": False, "Required": True,
                              "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"}}
STANDARD_ATTRIBUTES["birthdate"] = {**copy.deepcopy(_STRING),
                                    "StringAttributeConstraints": {"MinLength": "10", "MaxLength": "10"}}
STANDARD_ATTRIBUTES["email_verified"] = dict(_BOOLEAN)
STANDARD_ATTRIBUTES["phone_number_verified"] = dict(_BOOLEAN)
STANDARD_ATTRIBUTES["updated_at"] = {"AttributeDataType": "Number", "DeveloperOnlyAttribute": False,
                                     "Mutable": True, "Required": False,
                                     "NumberAttributeConstraints": {"MinValue": "0"}}
MAX_SCHEMA_PER_CREATE = 50
MAX_CUSTOM_PER_ADD = 25


def normalize_schema_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    """An attribute as a comparable dict: defaults filled in, empty constraints removed."""
    attr = drop_none(attr)
    name = attr.get("Name", "")
    base = copy.deepcopy(STANDARD_ATTRIBUTES.get(name, {"DeveloperOnlyAttribute": False, "Mutable": True,
                                                          "Required": False}))
    base.update({k: v for k, v in attr.items() if v not in ({}, None)})
    for key in ("StringAttributeConstraints", "NumberAttributeConstraints"):
        if key in base:
            base[key] = {k: str(v) for k, v in base[key].items() if v not in (None, "")}
            if not base[key]:
                del base[key]
    return base


def normalize_schema(attrs: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """name -> normalized attribute, with every standard attribute present (default when not listed)."""
    out = {name: normalize_schema_attribute({"Name": name}) for name in STANDARD_ATTRIBUTES}
    for attr in attrs or ():
        if attr.get("Name"):
            out[attr["Name"]] = normalize_schema_attribute(attr)
    return out


def is_custom(name: str) -> bool:
    return name.startswith("custom:") or name.startswith("dev:custom:")


@dataclass
class SchemaPlan:
    create: list[dict[str, Any]] = field(default_factory=list)  # in CreateUserPool's Schema
    add_later: list[list[dict[str, Any]]] = field(default_factory=list)  # AddCustomAttributes batches
    notes: list[str] = field(default_factory=list)


def custom_attribute_request(attr: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """``custom:x`` / ``dev:custom:x`` as CreateUserPool/AddCustomAttributes take it: ``x``."""
    name = attr["Name"]
    out = normalize_schema_attribute(attr)
    if name.startswith("dev:custom:"):
        out["Name"] = name[len("dev:custom:"):]
        out["DeveloperOnlyAttribute"] = True
    else:
        out["Name"] = name[len("custom:"):]
    if out.get("Required"):
        notes.append(f"custom attribute {name} was marked required: AWS refuses required custom attributes, "
                     "created as optional")
    out["Required"] = False
    return out


def plan_schema(schema_attributes: list[dict[str, Any]] | None) -> SchemaPlan:
    """Standard attributes only where they differ from the defaults; custom ones as ``x``; at most 50
    in CreateUserPool and the rest in batches of 25 for AddCustomAttributes."""
    plan = SchemaPlan()
    standard: list[dict[str, Any]] = []
    custom: list[dict[str, Any]] = []
    for attr in schema_attributes or ():
        name = attr.get("Name", "")
        if name in ("sub", "identities"):
            continue
        if is_custom(name):
            request = custom_attribute_request(attr, plan.notes)
            custom.append(request)
        elif name in STANDARD_ATTRIBUTES:
            normalized = normalize_schema_attribute(attr)
            if normalized != normalize_schema_attribute({"Name": name}):
                standard.append(normalized)
        else:
            plan.notes.append(f"schema attribute {name!r} is neither standard nor custom: left out")
    room = MAX_SCHEMA_PER_CREATE - len(standard)
    plan.create = standard + custom[:room]
    rest = custom[room:]
    plan.add_later = [rest[i:i + MAX_CUSTOM_PER_ADD] for i in range(0, len(rest), MAX_CUSTOM_PER_ADD)]
    if rest:
        plan.notes.append(f"{len(rest)} custom attributes beyond the 50 CreateUserPool takes are added after "
                          f"creation (AddCustomAttributes, {len(plan.add_later)} calls)")
    return plan


def custom_attribute_names(schema: list[dict[str, Any]]) -> set[str]:
    """The user-attribute names (``custom:x``) of the custom attributes of a DescribeUserPool schema."""
    return {a["Name"] if a["Name"].startswith("custom:") else a["Name"][len("dev:"):]
            for a in schema or () if is_custom(a.get("Name", ""))}
