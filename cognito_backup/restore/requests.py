"""Pure transformations from a snapshot to the requests that recreate it (no AWS calls here).

DescribeUserPool's output cannot be fed to CreateUserPool as is, and the same holds for clients,
providers and users: ``../shared/notes/cognito-api.md`` lists the renamed and dropped fields and the
rules (schema, MFA, verification message, threat protection). Every function returns the request
parameters plus human-readable notes on what was changed and why, which the restore prints in its plan.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import botocore.session

# --- standard attributes and their defaults (what DescribeUserPool shows for an untouched pool) ----
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

# Never sent to CreateUserPool: read-only, derived, or retired (AWS rejects the retired ones).
POOL_READ_ONLY = ("Id", "Arn", "Status", "CreationDate", "LastModifiedDate", "EstimatedNumberOfUsers",
                  "SmsConfigurationFailure", "EmailConfigurationFailure", "Domain", "CustomDomain")
POOL_RETIRED = ("SmsVerificationMessage", "EmailVerificationMessage", "EmailVerificationSubject")
MAX_SCHEMA_PER_CREATE = 50
MAX_CUSTOM_PER_ADD = 25

CLIENT_READ_ONLY = ("ClientId", "ClientSecret", "ClientSecretArn", "ClientSecretExpiresAt", "CreationDate",
                    "LastModifiedDate", "UserPoolId", "HasSecret", "ClientType")
# Provider details AWS derives (sending them back is refused or pointless).
DERIVED_DETAILS = {
    "Google": ("attributes_url", "attributes_url_add_attributes", "authorize_url", "token_url",
               "token_request_method", "oidc_issuer"),
    "Facebook": ("attributes_url", "attributes_url_add_attributes", "authorize_url", "token_url",
                 "token_request_method"),
    "LoginWithAmazon": ("attributes_url", "attributes_url_add_attributes", "authorize_url", "token_url",
                        "token_request_method"),
    "SignInWithApple": ("attributes_url_add_attributes", "authorize_url", "token_url", "token_request_method",
                        "oidc_issuer"),
    "OIDC": ("attributes_url_add_attributes",),
    "SAML": ("ActiveEncryptionCertificate",),
}
# Secret details a provider cannot be created without (never in a snapshot).
REQUIRED_SECRETS = {"OIDC": ("client_secret",), "Google": ("client_secret",), "Facebook": ("client_secret",),
                    "LoginWithAmazon": ("client_secret",), "SignInWithApple": ("private_key",)}

_model = None


def service_model():
    global _model
    if _model is None:
        _model = botocore.session.get_session().get_service_model("cognito-idp")
    return _model


# --- generic helpers -------------------------------------------------------------------------------

def drop_none(value: Any) -> Any:
    """A copy without None values (moto and some AWS responses carry explicit nulls)."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value if v is not None]
    return value


def _fit(value: Any, shape: Any, path: str, dropped: list[str]) -> Any:
    if shape.type_name == "structure" and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in shape.members:
                out[key] = _fit(item, shape.members[key], f"{path}.{key}" if path else key, dropped)
            else:
                dropped.append(f"{path}.{key}" if path else key)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_fit(item, shape.member, f"{path}[]", dropped) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _fit(v, shape.value, f"{path}.{k}", dropped) for k, v in value.items()}
    return value


def fit_to_input(operation: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``params`` without the keys (at any depth) that ``operation`` does not accept, and those keys."""
    dropped: list[str] = []
    shape = service_model().operation_model(operation).input_shape
    return _fit(drop_none(params), shape, "", dropped), dropped


def attributes_of(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a.get("Value", "") for a in user.get("Attributes") or () if "Name" in a}


# --- schema ------------------------------------------------------------------------------------------

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


# --- the pool ------------------------------------------------------------------------------------------

@dataclass
class PoolPlan:
    params: dict[str, Any]
    schema: SchemaPlan
    mfa: dict[str, Any] | None
    notes: list[str]


def verification_template(template: dict[str, Any]) -> dict[str, Any]:
    """Only the email message that matches DefaultEmailOption (AWS refuses the other)."""
    template = dict(template)
    if template.get("DefaultEmailOption") == "CONFIRM_WITH_LINK":
        template.pop("EmailMessage", None)
        template.pop("EmailSubject", None)
    else:
        template.pop("EmailMessageByLink", None)
        template.pop("EmailSubjectByLink", None)
    return template


def plan_pool(pool: dict[str, Any], mfa_section: dict[str, Any] | None, *, pool_name: str,
              without_triggers: bool = False, overrides: dict[str, Any] | None = None) -> PoolPlan:
    """CreateUserPool parameters, the schema split, and SetUserPoolMfaConfig parameters (or None)."""
    notes: list[str] = []
    src = drop_none(copy.deepcopy(pool))
    params = {k: v for k, v in src.items() if k not in POOL_READ_ONLY + POOL_RETIRED + ("Name", "SchemaAttributes")}
    params["PoolName"] = pool_name
    schema = plan_schema(src.get("SchemaAttributes"))
    notes.extend(schema.notes)
    if schema.create:
        params["Schema"] = [{k: v for k, v in a.items()} for a in schema.create]

    acu = params.get("AdminCreateUserConfig")
    if isinstance(acu, dict) and "UnusedAccountValidityDays" in acu:
        acu.pop("UnusedAccountValidityDays")  # retired: AWS refuses it
    if isinstance(params.get("VerificationMessageTemplate"), dict):
        params["VerificationMessageTemplate"] = verification_template(params["VerificationMessageTemplate"])

    # Created without MFA (OFF is the default, so the field is left out), set after creation.
    mfa_mode = params.pop("MfaConfiguration", "OFF")
    mfa: dict[str, Any] | None = None
    if mfa_section and mfa_section.get("status") == "present":
        mfa, dropped = fit_to_input("SetUserPoolMfaConfig", {**mfa_section.get("value", {}), "UserPoolId": "x"})
        mfa.pop("UserPoolId")
        mfa.setdefault("MfaConfiguration", mfa_mode)
        if dropped:
            notes.append(f"MFA configuration fields not accepted by SetUserPoolMfaConfig: {', '.join(dropped)}")
    elif mfa_mode != "OFF":
        mfa = {"MfaConfiguration": mfa_mode}
        notes.append(f"the snapshot has no MFA section: MfaConfiguration {mfa_mode} is set without factor details")
    if mfa is not None and mfa_mode != "OFF":
        notes.append(f"created with MFA OFF, then MFA set to {mfa.get('MfaConfiguration')} (SetUserPoolMfaConfig)")

    addons = params.get("UserPoolAddOns") or {}
    mode = addons.get("AdvancedSecurityMode", "OFF")
    if mode != "OFF" and params.get("UserPoolTier") != "PLUS":
        addons["AdvancedSecurityMode"] = "OFF"
        notes.append(f"threat protection ({mode}) needs the PLUS tier, and the pool's tier is "
                     f"{params.get('UserPoolTier', 'not set')}: created with threat protection OFF")

    triggers = params.get("LambdaConfig") or {}
    if without_triggers and triggers:
        params.pop("LambdaConfig")
        notes.append(f"Lambda triggers left out (--without-triggers): {', '.join(sorted(triggers))}")
    elif triggers:
        notes.append(f"Lambda triggers kept ({', '.join(sorted(triggers))}): each function must allow "
                     "cognito-idp.amazonaws.com to invoke it for the NEW pool (resource policy SourceArn)")
    elif "LambdaConfig" in params:
        params.pop("LambdaConfig")
    for key, value in (overrides or {}).items():
        params[key] = value
        notes.append(f"{key} set to {value!r} for this restore")
    params, dropped = fit_to_input("CreateUserPool", params)
    if dropped:
        notes.append(f"fields CreateUserPool does not accept, left out: {', '.join(sorted(dropped))}")
    return PoolPlan(params=params, schema=schema, mfa=mfa, notes=notes)


# --- providers, resource servers, clients, groups ----------------------------------------------------------

def plan_provider(provider: dict[str, Any], secrets: dict[str, dict[str, str]],
                  placeholder: str | None = None) -> tuple[dict | None, str]:
    """CreateIdentityProvider parameters, or None and the reason it must be skipped. With
    ``placeholder`` (drills: a scratch pool nobody signs in to), missing secrets get that value."""
    name, kind = provider.get("ProviderName", ""), provider.get("ProviderType", "")
    details = {k: v for k, v in (provider.get("ProviderDetails") or {}).items()
               if k not in DERIVED_DETAILS.get(kind, ())}
    if kind == "SAML" and details.get("MetadataURL"):
        details.pop("MetadataFile", None)  # AWS takes one of the two
    needed = sorted(set(provider.get("RedactedDetails") or ()) | set(REQUIRED_SECRETS.get(kind, ())))
    supplied = dict(secrets.get(name) or {})
    if placeholder:
        supplied.update({k: placeholder for k in needed if not supplied.get(k)})
    missing = [k for k in needed if not supplied.get(k)]
    if missing:
        return None, (f"{', '.join(missing)} not in the secrets file (give it with --secrets FILE: "
                      f'{{"{name}": {{"{missing[0]}": "..."}}}})')
    details.update({k: v for k, v in supplied.items() if isinstance(v, str)})
    params, _ = fit_to_input("CreateIdentityProvider", {
        "UserPoolId": "x", "ProviderName": name, "ProviderType": kind, "ProviderDetails": details,
        "AttributeMapping": provider.get("AttributeMapping"), "IdpIdentifiers": provider.get("IdpIdentifiers"),
    })
    params.pop("UserPoolId")
    return params, "secret from the secrets file" if needed else "no secret needed"


def plan_resource_server(server: dict[str, Any]) -> dict[str, Any]:
    params, _ = fit_to_input("CreateResourceServer", {**server, "UserPoolId": "x"})
    params.pop("UserPoolId")
    return params


def plan_client(client: dict[str, Any], skipped_providers: set[str]) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    params = {k: v for k, v in drop_none(client).items() if k not in CLIENT_READ_ONLY}
    params["GenerateSecret"] = bool(client.get("HasSecret"))
    supported = params.get("SupportedIdentityProviders")
    if supported:
        left_out = [p for p in supported if p in skipped_providers]
        if left_out:
            params["SupportedIdentityProviders"] = [p for p in supported if p not in skipped_providers]
            notes.append(f"client {client.get('ClientName')!r}: provider(s) {', '.join(left_out)} not restored, "
                         "left out of SupportedIdentityProviders")
    params, dropped = fit_to_input("CreateUserPoolClient", {**params, "UserPoolId": "x"})
    params.pop("UserPoolId")
    if dropped:
        notes.append(f"client {client.get('ClientName')!r}: left out {', '.join(sorted(dropped))}")
    return params, notes


def plan_group(group: dict[str, Any]) -> dict[str, Any]:
    params = {k: group[k] for k in ("GroupName", "Description", "RoleArn", "Precedence") if group.get(k) is not None}
    return params


# --- users -----------------------------------------------------------------------------------------------

def is_federated(user: dict[str, Any]) -> bool:
    return user.get("UserStatus") == "EXTERNAL_PROVIDER"


def federated_identities(user: dict[str, Any]) -> list[dict[str, Any]]:
    """The provider identities of a user (its ``identities`` attribute), [] when none or unreadable."""
    raw = attributes_of(user).get("identities")
    if not raw:
        return []
    try:
        identities = json.loads(raw)
    except ValueError:
        return []
    return [i for i in identities if isinstance(i, dict) and i.get("providerName") and i.get("userId")]


def target_username(user: dict[str, Any], username_attributes: list[str] | None) -> str | None:
    """The Username to create: the email/phone in pools that sign in with them, else the old username."""
    if not username_attributes:
        return user["Username"]
    attrs = attributes_of(user)
    for attribute in ("email", "phone_number"):
        if attribute in username_attributes and attrs.get(attribute):
            return attrs[attribute]
    return None


def user_identity(user: dict[str, Any], username_attributes: list[str] | None) -> str:
    """What identifies a user across pools: the username, or in pools that sign in with email/phone
    (where a restore gets a new generated username) the email or phone number."""
    if username_attributes:
        attrs = attributes_of(user)
        for attribute in ("email", "phone_number"):
            if attribute in username_attributes and attrs.get(attribute):
                return f"{attribute}:{attrs[attribute]}"
    return f"username:{user['Username']}"


def restorable_attributes(user: dict[str, Any]) -> list[dict[str, str]]:
    """The attributes AdminCreateUser takes: no ``sub``/``identities``, verified flags only with their value."""
    attrs = attributes_of(user)
    out = []
    for name, value in attrs.items():
        if name in ("sub", "identities"):
            continue
        if name == "email_verified" and not attrs.get("email"):
            continue
        if name == "phone_number_verified" and not attrs.get("phone_number"):
            continue
        out.append({"Name": name, "Value": value})
    return out


def admin_create_params(user: dict[str, Any], username_attributes: list[str] | None) -> tuple[dict | None, str]:
    username = target_username(user, username_attributes)
    if username is None:
        return None, f"has no {' or '.join(username_attributes or [])}, which this pool uses as the username"
    return {"Username": username, "UserAttributes": restorable_attributes(user), "MessageAction": "SUPPRESS"}, ""


def import_eligible(user: dict[str, Any], auto_verified: list[str] | None) -> bool:
    """An import row needs a true verified flag: the only auto-verified attribute's, or either one's."""
    attrs = attributes_of(user)
    verified = {name for name, flag in (("email", "email_verified"), ("phone_number", "phone_number_verified"))
                if attrs.get(name) and attrs.get(flag) == "true"}
    auto = set(auto_verified or ())
    if not auto:
        return False
    if len(auto) == 1:
        return auto <= verified
    return bool(auto & verified)


def csv_row(user: dict[str, Any], header: list[str], username_attributes: list[str] | None) -> list[str]:
    attrs = {a["Name"]: a["Value"] for a in restorable_attributes(user)}
    row = []
    for column in header:
        if column == "cognito:username":
            row.append(target_username(user, username_attributes) or "")
        elif column == "cognito:mfa_enabled":
            row.append("false")
        else:  # blank when the user has no such attribute (verified flags included: no phone, no flag)
            row.append(attrs.get(column, ""))
    return row
