"""The Cognito read calls moto 5.2 lacks, answered as AWS answers for a pool that does not use them.

moto answers GetUICustomization, DescribeRiskConfiguration, GetLogDeliveryConfiguration,
ListTagsForResource and DescribeManagedLoginBrandingByClient with NotImplementedError (a 500 with an
HTML page in server mode). ``install_cognito_gaps()`` adds them, answering as AWS does for a pool that
does not use those features (no customization, threat protection off, no log delivery, the pool's own
tags, no branding, no replicas), holds the newer pool features in memory as AWS documents them (terms
documents, client ID metadata document policies, session configuration of the pool and of each client:
create, describe, list; none of them set until created), and corrects one answer moto gets wrong:
DescribeUserPoolDomain's ``AWSAccountId`` is a new random UUID on every call in moto (so two snapshots
of an unchanged pool would differ), and
the account's id on AWS. The snapshot code is not changed for this: it meets the same answers as on
AWS. The cases where a pool does use these features are tested with botocore's Stubber.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from moto.cognitoidp.exceptions import ResourceNotFoundError
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError


class _AddOnNotEnabled(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("UserPoolAddOnNotEnabledException",
                         "Threat protection is not enabled for this user pool.")


def _get_ui_customization(self: CognitoIdpResponse) -> str:
    pool_id = self._get_param("UserPoolId")
    self.backend.describe_user_pool(pool_id)
    # A client without a customization of its own is answered with the pool's (ClientId "ALL").
    return json.dumps({"UICustomization": {"UserPoolId": pool_id, "ClientId": "ALL"}})


def _describe_risk_configuration(self: CognitoIdpResponse) -> str:
    self.backend.describe_user_pool(self._get_param("UserPoolId"))
    raise _AddOnNotEnabled()


def _get_log_delivery_configuration(self: CognitoIdpResponse) -> str:
    pool_id = self._get_param("UserPoolId")
    self.backend.describe_user_pool(pool_id)
    return json.dumps({"LogDeliveryConfiguration": {"UserPoolId": pool_id, "LogConfigurations": []}})


def _list_tags_for_resource(self: CognitoIdpResponse) -> str:
    arn = self._get_param("ResourceArn")
    for pool in self.backend.user_pools.values():
        if pool.arn == arn:
            return json.dumps({"Tags": pool.extended_config.get("UserPoolTags") or {}})
    raise ResourceNotFoundError(f"Resource {arn} not found")


def _describe_managed_login_branding_by_client(self: CognitoIdpResponse) -> str:
    pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
    client_id = self._get_param("ClientId")
    if client_id not in pool.clients:
        raise ResourceNotFoundError(f"Client {client_id} not found")
    raise ResourceNotFoundError("No managed login branding for this client")


def _pool_state(self: CognitoIdpResponse, name: str) -> tuple[Any, dict[str, Any]]:
    """The pool of the request and its in-memory store ``name`` (a feature moto does not model)."""
    pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
    return pool, pool.__dict__.setdefault(f"_gap_{name}", {})


def _client_of(pool: Any, client_id: str | None) -> str:
    if client_id not in pool.clients:
        raise ResourceNotFoundError(f"Client {client_id} not found")
    return client_id


def _create_terms(self: CognitoIdpResponse) -> str:
    pool, store = _pool_state(self, "terms")
    client_id, name = self._get_param("ClientId"), self._get_param("TermsName")
    if any(t["ClientId"] == client_id and t["TermsName"] == name for t in store.values()):
        raise JsonRESTError("TermsExistsException", f"Terms {name} already exist for client {client_id}")
    now = time.time()
    terms = {"TermsId": str(uuid.uuid4()), "UserPoolId": pool.id,
             "ClientId": _client_of(pool, self._get_param("ClientId")), "TermsName": self._get_param("TermsName"),
             "TermsSource": self._get_param("TermsSource"), "Enforcement": self._get_param("Enforcement"),
             "Links": self._get_param("Links") or {}, "CreationDate": now, "LastModifiedDate": now}
    store[terms["TermsId"]] = terms
    return json.dumps({"Terms": terms})


def _describe_terms(self: CognitoIdpResponse) -> str:
    _, store = _pool_state(self, "terms")
    terms_id = self._get_param("TermsId")
    if terms_id not in store:
        raise ResourceNotFoundError(f"Terms {terms_id} not found")
    return json.dumps({"Terms": store[terms_id]})


def _list_terms(self: CognitoIdpResponse) -> str:
    _, store = _pool_state(self, "terms")
    keys = ("TermsId", "TermsName", "Enforcement", "CreationDate", "LastModifiedDate")
    return json.dumps({"Terms": [{k: t[k] for k in keys} for t in store.values()]})


def _create_cimd_policy(self: CognitoIdpResponse) -> str:
    pool, store = _pool_state(self, "cimd")
    now = time.time()
    policy = {"UserPoolId": pool.id, "CIMDPolicyId": str(uuid.uuid4()),
              "ClientId": _client_of(pool, self._get_param("ClientId")), "PolicyName": self._get_param("PolicyName"),
              "URLPatterns": self._get_param("URLPatterns") or [], "CreationDate": now, "LastModifiedDate": now}
    if self._get_param("CacheDuration") is not None:
        policy["CacheDuration"] = self._get_param("CacheDuration")
    store[policy["CIMDPolicyId"]] = policy
    return json.dumps({"CIMDPolicy": policy})


def _describe_cimd_policy(self: CognitoIdpResponse) -> str:
    _, store = _pool_state(self, "cimd")
    policy_id = self._get_param("CIMDPolicyId")
    if policy_id not in store:
        raise ResourceNotFoundError(f"CIMD policy {policy_id} not found")
    return json.dumps({"CIMDPolicy": store[policy_id]})


def _list_cimd_policies(self: CognitoIdpResponse) -> str:
    _, store = _pool_state(self, "cimd")
    return json.dumps({"CIMDPolicies": [{k: v for k, v in p.items() if k not in ("UserPoolId", "URLPatterns")}
                                        for p in store.values()]})


def _set_user_pool_session_configuration(self: CognitoIdpResponse) -> str:
    pool, store = _pool_state(self, "session")
    store["pool"] = {"UserSessionTracking": self._get_param("UserSessionTracking"),
                     "TokenSession": self._get_param("TokenSession")}
    return json.dumps({"UserPoolId": pool.id, **store["pool"]})


def _get_user_pool_session_configuration(self: CognitoIdpResponse) -> str:
    pool, store = _pool_state(self, "session")
    if "pool" not in store:
        raise ResourceNotFoundError("No session configuration for this user pool")
    return json.dumps({"UserPoolId": pool.id, **store["pool"]})


def _set_user_pool_client_session_configuration(self: CognitoIdpResponse) -> str:
    pool, store = _pool_state(self, "session")
    client_id = _client_of(pool, self._get_param("ClientId"))
    store[client_id] = self._get_param("SSOSession")
    return json.dumps({"UserPoolId": pool.id, "ClientId": client_id, "SSOSession": store[client_id]})


def _get_user_pool_client_session_configuration(self: CognitoIdpResponse) -> str:
    pool, store = _pool_state(self, "session")
    client_id = _client_of(pool, self._get_param("ClientId"))
    if client_id not in store:
        raise ResourceNotFoundError("No session configuration for this app client")
    return json.dumps({"UserPoolId": pool.id, "ClientId": client_id, "SSOSession": store[client_id]})


def _list_user_pool_replicas(self: CognitoIdpResponse) -> str:
    self.backend.describe_user_pool(self._get_param("UserPoolId"))
    return json.dumps({"UserPoolReplicas": []})


GAPS = {
    "get_ui_customization": _get_ui_customization,
    "describe_risk_configuration": _describe_risk_configuration,
    "get_log_delivery_configuration": _get_log_delivery_configuration,
    "list_tags_for_resource": _list_tags_for_resource,
    "describe_managed_login_branding_by_client": _describe_managed_login_branding_by_client,
    "create_terms": _create_terms,
    "describe_terms": _describe_terms,
    "list_terms": _list_terms,
    "create_cimd_policy": _create_cimd_policy,
    "describe_cimd_policy": _describe_cimd_policy,
    "list_cimd_policies": _list_cimd_policies,
    "set_user_pool_session_configuration": _set_user_pool_session_configuration,
    "get_user_pool_session_configuration": _get_user_pool_session_configuration,
    "set_user_pool_client_session_configuration": _set_user_pool_client_session_configuration,
    "get_user_pool_client_session_configuration": _get_user_pool_client_session_configuration,
    "list_user_pool_replicas": _list_user_pool_replicas,
}


def _describe_user_pool_domain(self: CognitoIdpResponse) -> str:
    domain = self.backend.describe_user_pool_domain(self._get_param("Domain"))
    description = domain.to_json() if domain else {}
    if description:
        description["AWSAccountId"] = self.current_account
    return json.dumps({"DomainDescription": description})


CORRECTIONS = {"describe_user_pool_domain": _describe_user_pool_domain}


def install_cognito_gaps() -> None:
    """Add the missing read calls to moto's Cognito, and the corrections (idempotent).

    A missing call is added only where moto has none: a moto that implements one keeps its own.
    """
    for name, fn in GAPS.items():
        if name not in CognitoIdpResponse.__dict__:
            setattr(CognitoIdpResponse, name, fn)
    for name, fn in CORRECTIONS.items():
        setattr(CognitoIdpResponse, name, fn)
