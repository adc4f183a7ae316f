"""Per-app-client settings: read for every client of the pool, each item recorded with the client's id.

``ListUserPoolClients`` without a ``ClientType`` filter returns every client, those created by dynamic
client registration included, so the ids passed here (the ``clients`` section's) are all of them. Each
section holds ``items``: ``{"ClientId", <setting>}``, only for the clients that have a setting of their
own; restore maps ``ClientId`` to the client it creates in the new pool.

- ``client_ui_customization``: GetUICustomization with the ClientId. A client without its own CSS/logo
  is answered with the pool's (``ClientId`` "ALL", or another id than the one asked): not recorded again
  (the pool's is the ``ui_customization`` section).
- ``client_risk_configuration``: DescribeRiskConfiguration with the ClientId, the same way (threat
  protection off for the pool: ``UserPoolAddOnNotEnabledException``, the section is absent).
- ``client_session_configuration``: GetUserPoolClientSessionConfiguration (the SSO session validity).

How AWS answers for a client without its own UI or risk settings (the pool's with ``ClientId`` "ALL")
is what its documentation describes; it is not verified on AWS here.
"""

from __future__ import annotations

from typing import Any

from backup_lambda.pool_reader import Absent, PoolReader

NOT_ENABLED = "OperationNotEnabledException"


def _per_client(client_ids: list[str], read_one, none_left: str) -> dict[str, Any]:
    items = [item for item in (read_one(client_id) for client_id in client_ids) if item is not None]
    if not items:
        raise Absent(none_left)
    return {"items": items}


def client_ui_customization(reader: PoolReader, pool: dict[str, Any], client_ids: list[str]) -> dict[str, Any]:
    def one(client_id: str) -> dict[str, Any] | None:
        try:
            resp = reader.call_or_absent("GetUICustomization", "get_ui_customization",
                                         {"ResourceNotFoundException": "no customization"},
                                         UserPoolId=reader.pool_id, ClientId=client_id)
        except Absent:
            return None
        ui = resp.get("UICustomization") or {}
        return {"ClientId": client_id, "UICustomization": ui} if ui.get("ClientId") == client_id else None

    return _per_client(client_ids, one, "no app client has a hosted UI customization of its own")


def client_risk_configuration(reader: PoolReader, pool: dict[str, Any], client_ids: list[str]) -> dict[str, Any]:
    def one(client_id: str) -> dict[str, Any] | None:
        resp = reader.call_or_absent("DescribeRiskConfiguration", "describe_risk_configuration",
                                     {"UserPoolAddOnNotEnabledException": "threat protection is off for this pool"},
                                     UserPoolId=reader.pool_id, ClientId=client_id)
        risk = resp.get("RiskConfiguration") or {}
        return {"ClientId": client_id, "RiskConfiguration": risk} if risk.get("ClientId") == client_id else None

    return _per_client(client_ids, one, "no app client has threat protection settings of its own")


def client_session_configuration(reader: PoolReader, pool: dict[str, Any], client_ids: list[str]) -> dict[str, Any]:
    def one(client_id: str) -> dict[str, Any] | None:
        try:
            resp = reader.call_or_absent(
                "GetUserPoolClientSessionConfiguration", "get_user_pool_client_session_configuration",
                {"ResourceNotFoundException": "no session configuration",
                 NOT_ENABLED: "session configuration is not enabled"},
                UserPoolId=reader.pool_id, ClientId=client_id)
        except Absent:
            return None
        session = resp.get("SSOSession")
        return {"ClientId": client_id, "SSOSession": session} if session else None

    return _per_client(client_ids, one, "no app client has an SSO session configuration")


PER_CLIENT = (
    ("client_ui_customization", client_ui_customization),
    ("client_risk_configuration", client_risk_configuration),
    ("client_session_configuration", client_session_configuration),
)
