"""A local stand-in for AWS: moto, plus the few Cognito read calls moto 5.2 does not implement.

moto answers GetUICustomization, DescribeRiskConfiguration, GetLogDeliveryConfiguration,
ListTagsForResource and DescribeManagedLoginBrandingByClient with NotImplementedError (a 500 in
server mode). ``install_cognito_gaps()`` adds them, answering as AWS does for a pool that does not use
those features (no customization, threat protection off, no log delivery, the pool's own tags, no
branding). The snapshot code is not changed for this: it meets the same answers as on AWS. The cases
where a pool does use these features are tested with botocore's Stubber.

``LocalAws`` starts a moto server on a free localhost port (no AWS account, no credentials needed)
and gives the environment that points boto3 at it.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from typing import Any

from moto.cognitoidp.exceptions import ResourceNotFoundError
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's fake credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


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


def install_cognito_gaps() -> None:
    """Add the missing read calls to moto's Cognito (idempotent; never replaces a real one)."""
    for name, fn in GAPS.items():
        if name not in CognitoIdpResponse.__dict__:
            setattr(CognitoIdpResponse, name, fn)


class LocalAws:
    """A moto server on a free localhost port, in this process (a background thread)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        install_cognito_gaps()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url: str | None = None

    def start(self) -> LocalAws:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        return {**FAKE_ENV, "AWS_ENDPOINT_URL": self.endpoint_url or ""}

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextmanager
def environment(values: dict[str, str]):
    """Set environment variables for the duration of a block (restoring the old ones after)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
