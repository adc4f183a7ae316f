"""Requests as botocore's model of cognito-idp takes them: explicit nulls dropped, and the keys an
operation does not accept left out (and named, so that the restore can say what it did not send)."""

from __future__ import annotations

from typing import Any

import botocore.session

_model = None


def service_model():
    """cognito-idp's botocore service model, loaded once."""
    global _model
    if _model is None:
        _model = botocore.session.get_session().get_service_model("cognito-idp")
    return _model


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

