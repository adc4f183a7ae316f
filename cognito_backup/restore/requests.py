"""Pure transformations from a snapshot to the requests that recreate it (no AWS calls here).

DescribeUserPool's output cannot be fed to CreateUserPool as is, and the same holds for clients,
providers and users: ``../shared/notes/cognito-api.md`` lists the renamed and dropped fields and the
rules (schema, MFA, verification message, threat protection). Every function returns the request
parameters plus human-readable notes on what was changed and why, which the restore prints in its plan.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from cognito_backup.restore.schema import SchemaPlan, plan_schema
from cognito_backup.restore.shapes import drop_none, fit_to_input

POOL_READ_ONLY = ("Id", "Arn", "Status", "CreationDate", "LastModifiedDate", "EstimatedNumberOfUsers",
                  "SmsConfigurationFailure", "EmailConfigurationFailure", "Domain", "CustomDomain")
POOL_RETIRED = ("SmsVerificationMessage", "EmailVerificationMessage", "EmailVerificationSubject")

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


def attributes_of(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a.get("Value", "") for a in user.get("Attributes") or () if "Name" in a}


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
