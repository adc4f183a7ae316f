"""What happens to each item of a snapshot, given what the target pool holds: the decisions that the dry run
(plan.py) and the real run (configuration.py, users.py) both act on, so that the plan says what the run does.

Pure functions of the snapshot's items and of what the caller has read from the target pool: no AWS calls,
no run state. An action is what the plan shows ("create", "skip: ..." and the like); the real run does it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import Enum
from typing import Any

from backup_lambda.errors import ConfigError
from backup_lambda.quotas import QUOTA_RPS
from cognito_backup.restore.options import RestoreOptions
from cognito_backup.restore.requests import (
    admin_create_params,
    federated_identities,
    import_eligible,
    is_federated,
    plan_client,
    plan_provider,
    plan_resource_server,
)
from cognito_backup.restore.schema import custom_attribute_names, custom_attribute_request, is_custom
from cognito_backup.restore.shapes import fit_to_input

AUTO_IMPORT_FROM = 10_000
ALREADY = "skip: already in the target pool"
NOT_RESTORED = "skip: its user is not restored"
# The states of users that are (or, in a plan, will be) in the target pool.
RESTORED = frozenset({"created", "existed", "imported", "linked"})


@dataclass(frozen=True)
class Decision:
    action: str  # "create", ALREADY, "skip", "wait" (for a failed provider), "fail" (the domain is taken)
    why: str = ""
    params: dict[str, Any] | None = None  # the create request, without UserPoolId
    notes: tuple[str, ...] = ()


def users_path(o: RestoreOptions, users: int, pool: dict[str, Any]) -> tuple[str, str | None]:
    """How the users are created ("admin-create" or "import"), and a note when the choice was forced."""
    auto_verified = pool.get("AutoVerifiedAttributes") or []
    if o.users_via == "import" or (o.users_via == "auto" and users >= AUTO_IMPORT_FROM):
        if not auto_verified:
            if o.users_via == "import":
                raise ConfigError("--users-via import needs a pool with auto-verified email or phone "
                                  "(AWS refuses import jobs otherwise): use --users-via admin-create")
            return "admin-create", ("the pool has no auto-verified attribute, so import jobs cannot run: "
                                    "users are created with AdminCreateUser")
        if not o.import_role_arn:
            rate = QUOTA_RPS["UserCreation"] * o.rate_fraction
            raise ConfigError(
                f"this snapshot has {users:,} users: {'auto chooses' if o.users_via == 'auto' else 'you chose'} "
                "the user import job, which needs --import-role-arn (the stack output importRoleArn: a role "
                "Cognito assumes to write the job's CloudWatch logs). Or pass --users-via admin-create "
                f"(about {users / rate / 3600:.1f} h at {rate:.0f} users/s).")
        return "import", None
    return "admin-create", None


# -- the configuration ----------------------------------------------------------------------------------------

def custom_attributes(schema: list[dict[str, Any]], target_schema: list[dict[str, Any]]) -> tuple[list, int]:
    """The AddCustomAttributes requests for the snapshot's custom attributes the target lacks, and how many
    it has already."""
    wanted = {a["Name"]: a for a in schema if is_custom(a.get("Name", ""))}
    have = custom_attribute_names(target_schema)
    missing = [a for name, a in wanted.items() if (name if name.startswith("custom:") else name[len("dev:"):])
               not in have]
    return [custom_attribute_request(a, []) for a in missing], len(wanted) - len(missing)


def resource_server(server: dict[str, Any], existing: set[str]) -> Decision:
    if server.get("Identifier") in existing:
        return Decision(ALREADY)
    return Decision("create", params=plan_resource_server(server))


def identity_provider(provider: dict[str, Any], in_target: set[str], secrets: dict[str, dict[str, str]],
                      placeholder: str | None, new_name: str | None = None) -> Decision:
    """Create (under ``new_name`` where the snapshot's name is refused), or skip (its secret is not given: why
    says how to give it). ``in_target``: the names of the target's providers."""
    name = provider.get("ProviderName")
    if (new_name or name) in in_target:
        return Decision(ALREADY)
    params, reason = plan_provider(provider, secrets, placeholder, new_name)
    if params and new_name and new_name != name:
        reason += f"; created as {new_name!r} (CreateIdentityProvider refuses {name!r})"
    return Decision("create" if params else "skip", why=reason, params=params)


def clients_in_order(clients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order in which clients are matched with the target's (by name: a name may be there twice)."""
    return sorted(clients, key=lambda c: (c.get("ClientName", ""), c.get("ClientId", "")))


def app_client(client: dict[str, Any], *, already_there: bool, failed_providers: set[str],
               skipped_providers: set[str], renames: dict[str, str] | None = None,
               disabled_pending: int = 0) -> Decision:
    """Reuse the target's client of that name; wait (a failure) while a user disabled in the snapshot is not
    disabled in the target (a client is what lets a user sign in or reset a password), or while one of its
    providers failed to be created, as a resume reuses clients as they are; else create it, without the
    providers skipped by design."""
    if already_there:
        return Decision(ALREADY)
    if disabled_pending:
        return Decision("wait", why=f"not created while {disabled_pending} user(s) disabled in the snapshot are "
                                    "not disabled in the new pool (an app client would let them sign in): run "
                                    "again with --resume")
    waiting_for = sorted(set(client.get("SupportedIdentityProviders") or ()) & failed_providers)
    if waiting_for:
        return Decision("wait", why=f"not created, as its identity provider {', '.join(waiting_for)} failed: run "
                                    "again with --resume (or leave the provider's secret out of --secrets to "
                                    "restore the client without it)")
    params, notes = plan_client(client, skipped_providers, renames)
    return Decision("create", params=params, notes=tuple(notes))


def domain(value: dict[str, Any], prefix: str | None, holder: str | None, pool_id: str | None,
           requested_custom: bool = False) -> Decision:
    """The prefix domain: ``value`` is the snapshot's, ``holder`` the pool that holds ``prefix`` now (if any)."""
    old = (value.get("Domain") or {}).get("Domain")
    custom = (value.get("CustomDomain") or {}).get("Domain")
    notes = []
    if custom and not requested_custom:
        notes.append(f"custom domain {custom} is not recreated: it belongs to the old pool until that is deleted. "
                     "To create it (or another) with its ACM certificate: --override "
                     "domain.CustomDomain.CustomDomainConfig.CertificateArn=ARN [--override "
                     "domain.CustomDomain.Domain=NAME]")
    if not prefix:
        if old:
            notes.append(f"the pool's domain prefix {old!r} was not recreated (the old pool may still hold it): "
                         "give --domain-prefix")
        return Decision("skip", why=f"no --domain-prefix (old prefix: {old})", notes=tuple(notes))
    if holder is not None and holder == pool_id:
        return Decision(ALREADY, notes=tuple(notes))
    if holder:
        return Decision("fail", why="the prefix is taken by another pool: choose another --domain-prefix",
                        notes=tuple(notes))
    params: dict[str, Any] = {"Domain": prefix}
    version = (value.get("Domain") or {}).get("ManagedLoginVersion")
    if version:
        params["ManagedLoginVersion"] = version
    return Decision("create", params=params, notes=tuple(notes))


def custom_domain(description: dict[str, Any], holder: str | None, pool_id: str | None) -> Decision:
    """The custom domain, asked for by an override: ``description`` is the snapshot's (with the overrides)."""
    name = description.get("Domain")
    if not name or not (description.get("CustomDomainConfig") or {}).get("CertificateArn"):
        return Decision("fail", why="a custom domain needs a name and an ACM certificate: --override "
                                    "domain.CustomDomain.CustomDomainConfig.CertificateArn=ARN")
    if holder is not None and holder == pool_id:
        return Decision(ALREADY)
    if holder:
        return Decision("fail", why=f"the custom domain {name} is held by pool {holder} (the old pool?): delete it "
                                    "there first, or give another: --override domain.CustomDomain.Domain=NAME")
    params, _ = fit_to_input("CreateUserPoolDomain", {
        "UserPoolId": "x", "Domain": name, "CustomDomainConfig": description.get("CustomDomainConfig"),
        "ManagedLoginVersion": description.get("ManagedLoginVersion")})
    params.pop("UserPoolId")
    return Decision("create", params=params)


@dataclass(frozen=True)
class Setting:
    """A call that applies one of the other settings."""
    what: str  # as the report lists it
    method: str
    params: dict[str, Any]
    failure: str  # as a failure names it
    exists_code: str | None = None  # the error code that says it is there already (not a failure)


def branding_assets(assets: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Managed login branding assets as CreateManagedLoginBranding takes them (``Bytes`` as bytes), and the ones
    that cannot be: a snapshot holds each asset's bytes as base64, or (older snapshots) as text, which keeps a
    text asset (SVG) whole but a binary one (PNG...) only lossily (its bytes became U+FFFD)."""
    out, lost = [], []
    for asset in assets:
        data = asset.get("Bytes")
        label = f"{asset.get('Category')} {asset.get('ColorMode')} {asset.get('Extension')}"
        if not isinstance(data, str):
            if data is None:
                out.append(asset)  # an asset without bytes (a ResourceId reference)
            else:
                lost.append(label)
            continue
        try:
            out.append({**asset, "Bytes": base64.b64decode(data, validate=True)})
        except ValueError:
            if "\ufffd" in data:
                lost.append(label)
            else:
                out.append({**asset, "Bytes": data.encode("utf-8")})
    return out, lost


def other_settings(sections: dict[str, Any], *, client_ids: dict[str, str], pool_id: str | None,
                   created_pool: bool, target_pool: dict[str, Any],
                   has_domain: bool = True) -> tuple[list[Setting], list[str]]:
    """Hosted UI CSS, threat protection, log delivery, tags and managed login branding: the calls for what the
    snapshot has set (``sections``: name -> value, ``managed_login_branding`` -> items), and notes on what cannot
    be restored. ``client_ids``: old client id -> new, of the restored clients; ``has_domain``: the new pool has a
    domain (the hosted UI CSS needs one)."""
    calls: list[Setting] = []
    notes: list[str] = []

    def setting(what: str, operation: str, method: str, params: dict[str, Any], **extra: Any) -> None:
        fitted, _ = fit_to_input(operation, {**params, "UserPoolId": pool_id})
        calls.append(Setting(what, method, fitted, extra.pop("failure", what), **extra))

    ui = sections.get("ui_customization") or {}
    if ui.get("CSS") and not has_domain:
        notes.append("the hosted UI CSS is not restored: SetUICustomization needs a domain, and the new pool has "
                     "none (give --domain-prefix)")
    elif ui.get("CSS"):
        setting("hosted UI CSS", "SetUICustomization", "set_ui_customization", {"CSS": ui["CSS"]})
    if ui.get("ImageUrl"):
        notes.append("the hosted UI logo is not in the snapshot (only its URL): upload it again")
    risk = sections.get("risk_configuration")
    if risk:
        client = risk.get("ClientId")
        params = {k: v for k, v in risk.items() if k not in ("UserPoolId", "ClientId", "LastModifiedDate")}
        if client and client != "ALL":
            params["ClientId"] = client_ids.get(client)
        if not params.get("ClientId", True):
            notes.append("threat protection settings of a client that was not restored: skipped")
        else:
            setting("threat protection settings", "SetRiskConfiguration", "set_risk_configuration", params)
    logs = sections.get("log_delivery")
    if logs and logs.get("LogConfigurations"):
        setting("log delivery", "SetLogDeliveryConfiguration", "set_log_delivery_configuration",
                {"LogConfigurations": logs["LogConfigurations"]})
    tags = sections.get("tags")
    if tags and not created_pool and tags != (target_pool.get("UserPoolTags") or {}):
        calls.append(Setting("tags", "tag_resource", {"ResourceArn": target_pool.get("Arn"), "Tags": tags}, "tags"))
    for item in sections.get("managed_login_branding") or ():
        new_client = client_ids.get(item.get("ClientId"))
        branding = item.get("ManagedLoginBranding") or {}
        if not new_client:
            continue
        params: dict[str, Any] = {"ClientId": new_client}
        if branding.get("UseCognitoProvidedValues"):
            params["UseCognitoProvidedValues"] = True  # AWS refuses Settings and Assets with it
        else:
            params["Settings"] = branding.get("Settings")  # a Document: sent as it is
            assets, lost = branding_assets(branding.get("Assets") or [])
            if assets:
                params["Assets"] = assets
            if lost:
                notes.append(f"managed login branding of client {new_client}: assets {', '.join(lost)} are held only "
                             "lossily by the snapshot (binary bytes stored as text): upload them again")
        setting(f"branding of client {new_client}", "CreateManagedLoginBranding", "create_managed_login_branding",
                params, failure=f"managed login branding of client {new_client}",
                exists_code="ManagedLoginBrandingExistsException")
    return calls, notes


# -- groups and users -----------------------------------------------------------------------------------------

def group(group: dict[str, Any], existing: set[str]) -> str:
    return ALREADY if group["GroupName"] in existing else "create"


class UserAction(Enum):
    """What happens to a snapshot user: (the plan's label, its state in the journal once decided, the run's
    progress count for it (None: counted by the outcome of its AdminCreateUser), its state once the run is done)."""
    EXISTS = (ALREADY, "existed", "already there", "existed")
    FEDERATED = ("skip: federated, not recreated (listed in the report)", "federated", "federated (listed)",
                 "federated")
    FEDERATED_WITHOUT_PROVIDER = ("skip: federated, its provider is not restored (listed in the report)",
                                  "federated", "federated (provider not restored)", "federated")
    NO_USERNAME = ("skip: no usable username (listed in the report)", "skipped", "skipped (no usable username)",
                   "skipped")
    LINK = ("federated: linked to a new native user", "pending", None, "created")
    IMPORT = ("create: import job", "importing", "queued for import", "imported")
    CREATE = ("create: AdminCreateUser", "pending", None, "created")

    def __init__(self, label: str, state: str, progress: str | None, done: str):
        self.label, self.state, self.progress, self.done = label, state, progress, done


@dataclass(frozen=True)
class UserRules:
    """What decides a user's fate besides the user: the pool's sign-in attributes and the options."""
    username_attributes: list[str] | None
    users_via: str
    auto_verified: list[str]
    link_federated: bool
    renames: dict[str, str] | None = None  # identity providers created under another name (old -> new)


@dataclass(frozen=True)
class UserDecision:
    action: UserAction
    detail: str | None = None  # why (the mapping file's detail)
    params: dict[str, Any] | None = None  # the AdminCreateUser request (CREATE, LINK; IMPORT: its Username)
    existing: tuple[str, str | None] | None = None  # EXISTS: (username, sub) in the target pool
    import_fallback: bool = False  # the import path cannot take it (no verified email/phone): AdminCreateUser


def user(user: dict[str, Any], rules: UserRules, existing: tuple[str, str | None] | None,
         restored_providers: set[str]) -> UserDecision:
    """``existing``: the target pool's user of the same identity, if any."""
    if existing:
        return UserDecision(UserAction.EXISTS, existing=existing)
    if is_federated(user):
        if not rules.link_federated:
            return UserDecision(UserAction.FEDERATED, "federated user: not recreated")
        if not any(i["providerName"] in restored_providers for i in federated_identities(user)):
            return UserDecision(UserAction.FEDERATED_WITHOUT_PROVIDER, "its provider was not restored: not recreated")
    params, reason = admin_create_params(user, rules.username_attributes)
    if params is None:
        return UserDecision(UserAction.NO_USERNAME, reason)
    if is_federated(user):
        # Its native user is named as the federated one was (<provider>_<id>), with the provider's new name.
        prefix = next((old for old in (rules.renames or {}) if params["Username"].startswith(f"{old}_")), None)
        if prefix:
            params = {**params, "Username": rules.renames[prefix] + params["Username"][len(prefix):]}
        return UserDecision(UserAction.LINK, params=params)
    if rules.users_via == "import":
        if import_eligible(user, rules.auto_verified):
            return UserDecision(UserAction.IMPORT, params=params)
        return UserDecision(UserAction.CREATE, params=params, import_fallback=True)
    return UserDecision(UserAction.CREATE, params=params)


def membership(user_state: str | None, already_member: bool) -> str:
    if user_state not in RESTORED:
        return NOT_RESTORED
    return ALREADY if already_member else "add"


def disabled_user(user_state: str, enabled_in_target: bool | None) -> str:
    """A user disabled in the snapshot; ``enabled_in_target``: its state in the target (None: not there before)."""
    if user_state not in RESTORED:
        return NOT_RESTORED
    return "skip: already disabled in the target pool" if enabled_in_target is False else "disable"


def identity_link(user_state: str, provider: str, restored_providers: set[str]) -> str | None:
    """A provider identity of a user: linked to its native user (None: the user is not restored)."""
    if user_state not in RESTORED:
        return None
    return "link" if provider in restored_providers else "skip: provider not restored"
