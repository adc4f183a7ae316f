"""Read a user pool's configuration: every section of the snapshot besides the pool, groups and users.

Each section comes back as ``{"status": "present", "value" | "items": ...}``, ``{"status": "absent",
"reason"}`` (the pool does not use it) or ``{"status": "unavailable", "reason"}`` (this runtime's
botocore does not know the API). Secrets are removed at the source (``redact``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backup_lambda.pool_reader import Absent, PoolReader, Unavailable
from backup_lambda.redact import redact_client, redact_identity_provider

logger = logging.getLogger(__name__)


def _without_metadata(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def mfa_config(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    resp = reader.call("GetUserPoolMfaConfig", "get_user_pool_mfa_config", UserPoolId=reader.pool_id)
    return {"value": _without_metadata(resp)}


def clients(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    items = []
    for summary in reader.paginate("ListUserPoolClients", "list_user_pool_clients", "UserPoolClients",
                                   "NextToken", "NextToken", UserPoolId=reader.pool_id, MaxResults=60):
        client = reader.call("DescribeUserPoolClient", "describe_user_pool_client",
                             UserPoolId=reader.pool_id, ClientId=summary["ClientId"])["UserPoolClient"]
        items.append(redact_client(client))
    return {"items": items}


def identity_providers(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    items = []
    for summary in reader.paginate("ListIdentityProviders", "list_identity_providers", "Providers",
                                   "NextToken", "NextToken", UserPoolId=reader.pool_id, MaxResults=60):
        provider = reader.call("DescribeIdentityProvider", "describe_identity_provider",
                               UserPoolId=reader.pool_id,
                               ProviderName=summary["ProviderName"])["IdentityProvider"]
        items.append(redact_identity_provider(provider))
    return {"items": items}


def resource_servers(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    items = list(reader.paginate("ListResourceServers", "list_resource_servers", "ResourceServers",
                                 "NextToken", "NextToken", UserPoolId=reader.pool_id, MaxResults=50))
    return {"items": items}


def domain(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    names = {"Domain": pool.get("Domain"), "CustomDomain": pool.get("CustomDomain")}
    if not any(names.values()):
        raise Absent("the pool has no domain")
    value = {}
    for kind, name in names.items():
        value[kind] = (
            reader.call("DescribeUserPoolDomain", "describe_user_pool_domain",
                        Domain=name)["DomainDescription"] if name else None
        )
    return {"value": value}


def ui_customization(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    resp = reader.call_or_absent(
        "GetUICustomization", "get_ui_customization",
        {"ResourceNotFoundException": "the pool has no hosted UI customization"},
        UserPoolId=reader.pool_id,
    )
    return {"value": resp.get("UICustomization", {})}


def risk_configuration(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    resp = reader.call_or_absent(
        "DescribeRiskConfiguration", "describe_risk_configuration",
        {"UserPoolAddOnNotEnabledException": "threat protection is off for this pool"},
        UserPoolId=reader.pool_id,
    )
    return {"value": resp.get("RiskConfiguration", {})}


def log_delivery(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    resp = reader.call_or_absent(
        "GetLogDeliveryConfiguration", "get_log_delivery_configuration",
        {"ResourceNotFoundException": "the pool has no log delivery configuration"},
        UserPoolId=reader.pool_id,
    )
    return {"value": resp.get("LogDeliveryConfiguration", {})}


def tags(reader: PoolReader, pool: dict[str, Any]) -> dict[str, Any]:
    resp = reader.call("ListTagsForResource", "list_tags_for_resource", ResourceArn=pool["Arn"])
    return {"value": resp.get("Tags", {})}


def managed_login_branding(reader: PoolReader, pool: dict[str, Any], client_ids: list[str]) -> dict[str, Any]:
    items = []
    for client_id in client_ids:
        try:
            resp = reader.call_or_absent(
                "DescribeManagedLoginBrandingByClient", "describe_managed_login_branding_by_client",
                {"ResourceNotFoundException": "no branding"},
                UserPoolId=reader.pool_id, ClientId=client_id,
            )
        except Absent:
            continue
        items.append({"ClientId": client_id, "ManagedLoginBranding": resp.get("ManagedLoginBranding")})
    if not items:
        raise Absent("no app client uses managed login branding")
    return {"items": items}


def read_configuration(reader: PoolReader, pool: dict[str, Any], parallel: int = 1, *,
                       done: dict[str, dict[str, Any]] | None = None,
                       on_section: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Every configuration section, in the document's order, each with its status.

    With ``parallel`` > 1 the independent sections are read concurrently (each call still waits
    for its category's limiter): the configuration costs a few round trips instead of ~13.
    ``done``: sections read before (by an earlier run of the same snapshot), not read again.
    ``on_section(name, section)`` is called as each section is complete (from the thread that read it):
    a run that stops half-way (``pool_reader.Stopped`` out of a call) keeps the sections it has.
    """
    sections: dict[str, dict[str, Any]] = dict(done or {})

    def read(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            section = {"status": "present", **fn()}
        except Absent as exc:
            section = {"status": "absent", "reason": str(exc)}
        except Unavailable as exc:
            logger.warning("section %s unavailable: %s", name, exc)
            section = {"status": "unavailable", "reason": str(exc)}
        sections[name] = section
        if on_section is not None:
            on_section(name, section)

    independent = [
        ("mfa_config", mfa_config),
        ("clients", clients),
        ("identity_providers", identity_providers),
        ("resource_servers", resource_servers),
        ("domain", domain),
        ("ui_customization", ui_customization),
        ("risk_configuration", risk_configuration),
        ("log_delivery", log_delivery),
        ("tags", tags),
    ]
    todo = [(name, fn) for name, fn in independent if name not in sections]
    if parallel > 1 and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="config") as pool_:
            for future in [pool_.submit(read, name, lambda fn=fn: fn(reader, pool)) for name, fn in todo]:
                future.result()  # re-raises the first failure
    else:
        for name, fn in todo:
            read(name, lambda fn=fn: fn(reader, pool))
    if "managed_login_branding" not in sections:
        client_ids = [c["ClientId"] for c in sections["clients"].get("items", ())]
        read("managed_login_branding", lambda: managed_login_branding(reader, pool, client_ids))
    return {name: sections[name] for name, _ in independent} | {
        "managed_login_branding": sections["managed_login_branding"]}
