"""Pure transformations from a snapshot to the requests that recreate it (no AWS calls here).

DescribeUserPool's output cannot be fed to CreateUserPool as is, and the same holds for clients,
providers and users: ``../shared/notes/cognito-api.md`` lists the renamed and dropped fields and the
rules (schema, MFA, verification message, threat protection). Every function returns the request
parameters plus human-readable notes on what was changed and why, which the restore prints in its plan.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from cognito_backup.restore.schema import SchemaPlan, plan_schema
from cognito_backup.restore.shapes import drop_none, fit_to_input, service_model, violations

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
    params: dict[str, Any]  # CreateUserPool's, without LambdaConfig (triggers are attached last)
    schema: SchemaPlan
    mfa: dict[str, Any] | None
    notes: list[str]
    triggers: dict[str, Any] | None = None  # the LambdaConfig to attach last (None: none, or --without-triggers)


CODE_HALF = ("EmailMessage", "EmailSubject")
LINK_HALF = ("EmailMessageByLink", "EmailSubjectByLink")


def inactive_half(template: dict[str, Any]) -> tuple[str, ...]:
    """The email message fields that DefaultEmailOption does not use (the code pair by default)."""
    return CODE_HALF if template.get("DefaultEmailOption") == "CONFIRM_WITH_LINK" else LINK_HALF


def without_inactive_half(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """CreateUserPool/UpdateUserPool ``params`` with only the verification email that DefaultEmailOption uses,
    and the fields left out (``VerificationMessageTemplate.X``): the fallback when AWS refuses both halves."""
    template = params.get("VerificationMessageTemplate")
    if not isinstance(template, dict):
        return params, []
    dropped = [k for k in inactive_half(template) if k in template]
    kept = {k: v for k, v in template.items() if k not in dropped}
    return {**params, "VerificationMessageTemplate": kept}, [f"VerificationMessageTemplate.{k}" for k in dropped]


def pool_settings(pool: dict[str, Any]) -> dict[str, Any]:
    """A pool description's settings as a request takes them: read-only and retired fields out (DescribeUserPool
    returns both halves of the verification message template, and both are kept)."""
    src = drop_none(copy.deepcopy(pool))
    params = {k: v for k, v in src.items() if k not in POOL_READ_ONLY + POOL_RETIRED + ("Name", "SchemaAttributes")}
    acu = params.get("AdminCreateUserConfig")
    if isinstance(acu, dict):
        acu.pop("UnusedAccountValidityDays", None)  # retired: AWS refuses it
    return params


def update_pool_params(description: dict[str, Any], lambda_config: dict[str, Any] | None,
                       pool_id: str) -> tuple[dict[str, Any], list[str]]:
    """UpdateUserPool's request that attaches ``lambda_config`` and changes nothing else. UpdateUserPool is a
    full replacement (a setting left out goes back to its default), so it carries the whole updatable
    configuration of ``description`` (the pool as DescribeUserPool shows it now). Returns the request and the
    settings of the description that UpdateUserPool does not take."""
    params = pool_settings(description)
    if lambda_config:
        params["LambdaConfig"] = lambda_config
    else:
        params.pop("LambdaConfig", None)
    params["PoolName"] = description.get("Name")
    return fit_to_input("UpdateUserPool", {**params, "UserPoolId": pool_id})


def lambda_functions(lambda_config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(trigger, function ARN) of a LambdaConfig: plain triggers and the versioned ones (``LambdaArn``)."""
    out = []
    for trigger, value in (lambda_config or {}).items():
        if trigger == "KMSKeyID":
            continue
        arn = value.get("LambdaArn") if isinstance(value, dict) else value
        if isinstance(arn, str) and arn:
            out.append((trigger, arn))
    return out


def plan_pool(pool: dict[str, Any], mfa_section: dict[str, Any] | None, *, pool_name: str,
              without_triggers: bool = False, overrides: dict[str, Any] | None = None) -> PoolPlan:
    """CreateUserPool parameters, the schema split, SetUserPoolMfaConfig parameters (or None), and the triggers
    to attach last. Both halves of the verification message template are kept. ``overrides``: pool settings by
    path (``DeletionProtection``, ``UserPoolTags.<key>``), applied as overrides.py applies ``pool.<path>`` (the
    restore applies its overrides to the whole snapshot before it plans; this serves callers that plan a pool
    alone, such as the drill role's tests)."""
    if overrides:
        from cognito_backup.restore import overrides as ov

        resolved = [ov.resolve(f"pool.{path}", value, from_command_line=False) for path, value in overrides.items()]
        pool = ov.apply({"pool": pool}, {o.path: o for o in resolved})[0]["pool"]
    notes: list[str] = []
    src = drop_none(copy.deepcopy(pool))
    params = pool_settings(src)
    params["PoolName"] = pool_name
    schema = plan_schema(src.get("SchemaAttributes"))
    notes.extend(schema.notes)
    if schema.create:
        params["Schema"] = [{k: v for k, v in a.items()} for a in schema.create]

    # Created without MFA (OFF is the default, so the field is left out), set after creation.
    mfa_mode = params.pop("MfaConfiguration", "OFF")
    mfa: dict[str, Any] | None = None
    if mfa_section and mfa_section.get("status") == "present":
        mfa, dropped = fit_to_input("SetUserPoolMfaConfig", {**mfa_section.get("value", {}), "UserPoolId": "x"})
        mfa.pop("UserPoolId")
        if "MfaConfiguration" in src or "MfaConfiguration" not in mfa:
            mfa["MfaConfiguration"] = mfa_mode  # the pool's (an override included): the section agrees otherwise
        if dropped:
            notes.append(f"MFA configuration fields not accepted by SetUserPoolMfaConfig: {', '.join(dropped)}")
    elif mfa_mode != "OFF":
        mfa = {"MfaConfiguration": mfa_mode}
        notes.append(f"the snapshot has no MFA section: MfaConfiguration {mfa_mode} is set without factor details")
    sms = (mfa or {}).get("SmsMfaConfiguration") or {}
    if isinstance(sms.get("SmsConfiguration"), dict) and isinstance(params.get("SmsConfiguration"), dict):
        sms["SmsConfiguration"] = params["SmsConfiguration"]  # the pool's SMS settings (overrides included)
    if mfa is not None and mfa_mode != "OFF":
        notes.append(f"created with MFA OFF, then MFA set to {mfa.get('MfaConfiguration')} (SetUserPoolMfaConfig)")

    addons = params.get("UserPoolAddOns") or {}
    mode = addons.get("AdvancedSecurityMode", "OFF")
    if mode != "OFF" and params.get("UserPoolTier") != "PLUS":
        addons["AdvancedSecurityMode"] = "OFF"
        notes.append(f"threat protection ({mode}) needs the PLUS tier, and the pool's tier is "
                     f"{params.get('UserPoolTier', 'not set')}: created with threat protection OFF")

    # The pool is created without its triggers: a PreSignUp or CustomMessage trigger would run for every user the
    # restore creates (and fail, its function's resource policy naming the old pool). They are attached last.
    triggers = params.pop("LambdaConfig", None) or None
    if without_triggers and triggers:
        notes.append(f"Lambda triggers left out (--without-triggers): {', '.join(sorted(triggers))}")
        triggers = None
    elif triggers:
        notes.append(f"Lambda triggers ({', '.join(sorted(triggers))}) are attached last, after the users: each "
                     "function must allow cognito-idp.amazonaws.com to invoke it for the NEW pool (resource "
                     "policy SourceArn; --grant-triggers adds it)")
    params, dropped = fit_to_input("CreateUserPool", params)
    if dropped:
        notes.append(f"fields CreateUserPool does not accept, left out: {', '.join(sorted(dropped))}")
    if triggers:
        triggers, dropped = fit_to_input("UpdateUserPool", {"UserPoolId": "x", "LambdaConfig": triggers})
        triggers = triggers["LambdaConfig"]
        if dropped:
            notes.append(f"trigger settings UpdateUserPool does not accept, left out: {', '.join(sorted(dropped))}")
    return PoolPlan(params=params, schema=schema, mfa=mfa, notes=notes, triggers=triggers)


# --- providers, resource servers, clients, groups ----------------------------------------------------------

def provider_name_problem(name: str) -> str | None:
    """Why CreateIdentityProvider refuses ``name`` (None: it takes it). DescribeIdentityProvider shows names
    that CreateIdentityProvider's stricter pattern refuses: a space, an underscore after the second character,
    fewer than 3 characters."""
    shape = service_model().operation_model("CreateIdentityProvider").input_shape.members["ProviderName"]
    problems = violations(shape, name, "ProviderName")
    return "; ".join(problems) if problems else None


def provider_names(names: list[str]) -> dict[str, str]:
    """The name each identity provider is created with: its own, or, where CreateIdentityProvider refuses it,
    the closest it takes (spaces and underscores become '-', too short a name gets '-idp'), unique."""
    out: dict[str, str] = {}
    taken = {n for n in names if provider_name_problem(n) is None}
    for name in names:
        if provider_name_problem(name) is None:
            out[name] = name
            continue
        base = "".join("-" if c == "_" or c.isspace() or unicodedata.category(c).startswith("Z") else c
                       for c in name).strip("-") or "idp"
        if len(base) < 3:
            base += "-idp"
        candidate, n = base[:32], 2
        while candidate in taken or provider_name_problem(candidate) is not None:
            suffix = f"-{n}"
            candidate, n = base[:32 - len(suffix)] + suffix, n + 1
            if n > 99:
                break
        taken.add(candidate)
        out[name] = candidate
    return out


def plan_provider(provider: dict[str, Any], secrets: dict[str, dict[str, str]],
                  placeholder: str | None = None, new_name: str | None = None) -> tuple[dict | None, str]:
    """CreateIdentityProvider parameters (under ``new_name``, when it had to be renamed), or None and the reason
    it must be skipped. With ``placeholder`` (drills: a scratch pool nobody signs in to), missing secrets get
    that value. Secrets are looked up by the snapshot's name (or the new one)."""
    name, kind = provider.get("ProviderName", ""), provider.get("ProviderType", "")
    details = {k: v for k, v in (provider.get("ProviderDetails") or {}).items()
               if k not in DERIVED_DETAILS.get(kind, ())}
    if kind == "SAML" and details.get("MetadataURL"):
        details.pop("MetadataFile", None)  # AWS takes one of the two
    needed = sorted(set(provider.get("RedactedDetails") or ()) | set(REQUIRED_SECRETS.get(kind, ())))
    supplied = dict(secrets.get(name) or secrets.get(new_name or name) or {})
    if placeholder:
        supplied.update({k: placeholder for k in needed if not supplied.get(k)})
    missing = [k for k in needed if not supplied.get(k)]
    if missing:
        return None, (f"{', '.join(missing)} not in the secrets file (give it with --secrets FILE: "
                      f'{{"{name}": {{"{missing[0]}": "..."}}}})')
    details.update({k: v for k, v in supplied.items() if isinstance(v, str)})
    params, _ = fit_to_input("CreateIdentityProvider", {
        "UserPoolId": "x", "ProviderName": new_name or name, "ProviderType": kind, "ProviderDetails": details,
        "AttributeMapping": provider.get("AttributeMapping"), "IdpIdentifiers": provider.get("IdpIdentifiers"),
        "AcrMapping": provider.get("AcrMapping") or None,
    })
    params.pop("UserPoolId")
    return params, "secret from the secrets file" if needed else "no secret needed"


def plan_resource_server(server: dict[str, Any]) -> dict[str, Any]:
    params, _ = fit_to_input("CreateResourceServer", {**server, "UserPoolId": "x"})
    params.pop("UserPoolId")
    return params


def plan_client(client: dict[str, Any], skipped_providers: set[str],
                renames: dict[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """CreateUserPoolClient parameters and notes: a new secret where it had one (published in Secrets Manager
    again where it was kept there), a client of dynamic client registration as the closest regular client, the
    providers skipped by design left out, renamed providers under their new names."""
    notes: list[str] = []
    name = client.get("ClientName")
    params = {k: v for k, v in drop_none(client).items() if k not in CLIENT_READ_ONLY}
    params["GenerateSecret"] = bool(client.get("HasSecret") or client.get("ClientSecretArn"))
    if client.get("ClientSecretArn"):
        params["PublishSecretsInAWSSecretsManager"] = True
        notes.append(f"client {name!r}: its secret was kept in Secrets Manager; the new client's (new) secret is "
                     "published there again, under a new ARN (the mapping file's new_secret_arn)")
    if client.get("ClientType") == "DCR":
        notes.append(f"client {name!r} was registered by dynamic client registration: recreated as a regular "
                     "client with the same settings (a new client id; the application registers again or uses it)")
    supported = params.get("SupportedIdentityProviders")
    if supported:
        left_out = [p for p in supported if p in skipped_providers]
        if left_out:
            notes.append(f"client {name!r}: provider(s) {', '.join(left_out)} not restored, "
                         "left out of SupportedIdentityProviders")
        params["SupportedIdentityProviders"] = [(renames or {}).get(p, p) for p in supported
                                                if p not in skipped_providers]
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
