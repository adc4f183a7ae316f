"""The Cognito read calls moto 5.2 lacks, answered as AWS answers for a pool that does not use them.

moto answers GetUICustomization, DescribeRiskConfiguration, GetLogDeliveryConfiguration,
ListTagsForResource and DescribeManagedLoginBrandingByClient with NotImplementedError (a 500 with an
HTML page in server mode). ``install_cognito_gaps()`` adds them, answering as AWS does for a pool that
does not use those features (no customization, threat protection off, no log delivery, the pool's own
tags, no branding), and corrects one answer moto gets wrong: DescribeUserPoolDomain's ``AWSAccountId``
is a new random UUID on every call in moto (so two snapshots of an unchanged pool would differ), and
the account's id on AWS. The snapshot code is not changed for this: it meets the same answers as on
AWS. The cases where a pool does use these features are tested with botocore's Stubber.
"""

from __future__ import annotations

import json

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
    return json.dumps({"UICustomization": {"UserPoolId": pool_id,
                                           "ClientId": self._get_param("ClientId") or "ALL"}})


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


GAPS = {
    "get_ui_customization": _get_ui_customization,
    "describe_risk_configuration": _describe_risk_configuration,
    "get_log_delivery_configuration": _get_log_delivery_configuration,
    "list_tags_for_resource": _list_tags_for_resource,
    "describe_managed_login_branding_by_client": _describe_managed_login_branding_by_client,
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
