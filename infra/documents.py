"""The JSON documents the components hand to AWS (policies, the dashboard's body), from the pure
builders of ``infra/policies/`` and ``infra/dashboard_body.py`` once their inputs resolve."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi


def as_json(builder: Callable[..., Any], **inputs: pulumi.Input[Any]) -> pulumi.Output[str]:
    """``json.dumps(builder(**inputs))``, the inputs resolved first: the builders take plain values.

    An input may be an Output, a plain value, or a list of either (e.g. the alarms' ARNs).
    """
    return pulumi.Output.all(**inputs).apply(lambda values: json.dumps(builder(**values)))
