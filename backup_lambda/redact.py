"""Keep secrets and excluded attributes out of a snapshot.

App-client secrets and identity-provider secrets are removed at the source, before anything is
written, logged or returned. Which provider details are secret: the ones AWS documents as secret
(``client_secret`` for OIDC/Google/Facebook/LoginWithAmazon, ``private_key`` for Apple) and, to be
safe with provider types added later, any key whose name says secret, private, password or token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SECRET_DETAIL_RE = re.compile(r"secret|private|password|token|credential", re.IGNORECASE)
# Non-secret details whose names match the pattern above: keep them (they are needed to restore).
NOT_SECRET_DETAILS = frozenset({"token_url", "authorize_scopes", "token_request_method"})


def redact_client(client: dict[str, Any]) -> dict[str, Any]:
    out = dict(client)
    out["HasSecret"] = bool(out.pop("ClientSecret", None))
    out.pop("ClientSecretExpiresAt", None)
    return out


def redact_identity_provider(provider: dict[str, Any]) -> dict[str, Any]:
    out = dict(provider)
    details = dict(out.get("ProviderDetails") or {})
    removed = sorted(
        k for k in details if SECRET_DETAIL_RE.search(k) and k.lower() not in NOT_SECRET_DETAILS
    )
    for k in removed:
        del details[k]
    out["ProviderDetails"] = details
    out["RedactedDetails"] = removed
    return out


def strip_attributes(user: dict[str, Any], excluded: frozenset[str]) -> dict[str, Any]:
    """A copy of ``user`` without the excluded attributes (by name, exact)."""
    if not excluded:
        return user
    out = dict(user)
    out["Attributes"] = [a for a in user.get("Attributes", ()) if a.get("Name") not in excluded]
    return out


def parse_attribute_list(value: str | Iterable[str] | None) -> frozenset[str]:
    """``"custom:ssn, phone_number"`` -> {"custom:ssn", "phone_number"}."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(i.strip() for i in items if i and i.strip())
