"""What the configuration points at outside the new pool: every ARN and URL a restore sends (triggers, the
KMS key of custom senders, SMS and SES identities, identity providers' metadata and issuer URLs, group roles,
clients' callback URLs and analytics, log delivery, threat protection notifications), grouped by account, so
that an operator reviews them before restoring (a snapshot could point a trigger or a SAML provider anywhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from backup_lambda.redact import NOT_SECRET_DETAILS, SECRET_DETAIL_RE

ARN = re.compile(r"arn:[^:\s]+:[^:\s]+:[^:\s]*:(?P<account>[^:\s]*):\S+")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
URLS = "URLs (outside AWS accounts)"
NOT_REFERENCES = frozenset({"AllowedOAuthScopes", "AllowedScopes"})  # scopes named like URLs: the pool's own
NO_ACCOUNT = "ARNs without an account (e.g. S3 buckets)"


def walk(where: str, value: Any) -> Iterable[tuple[str, str]]:
    """(path, value) of every ARN or URL in ``value`` (secret-named keys skipped: never shown)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (key in NOT_REFERENCES or (
                    SECRET_DETAIL_RE.search(key) and key.lower() not in NOT_SECRET_DETAILS)):
                continue
            yield from walk(f"{where}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(f"{where}[{i}]", item)
    elif isinstance(value, str) and (ARN.fullmatch(value) or URL.fullmatch(value)):
        yield where, value


def grouped(references: Iterable[tuple[str, str]], own_account: str | None) -> dict[str, list[dict[str, str]]]:
    """The references by account (the snapshot's account first, then the others), then ARNs without an account,
    then URLs."""
    groups: dict[str, list[dict[str, str]]] = {}
    for where, value in references:
        arn = ARN.fullmatch(value)
        if arn and arn["account"]:
            account = arn["account"]
            label = f"account {account}" + (" (the snapshot's account)" if account == own_account
                                             else " (not the snapshot's account)" if own_account else "")
        else:
            label = NO_ACCOUNT if arn else URLS
        groups.setdefault(label, []).append({"where": where, "value": value})

    def order(label: str) -> tuple[int, str]:
        return (0 if "snapshot's" in label else 1 if label.startswith("account") else 2 if label == NO_ACCOUNT
                else 3, label)

    return {label: groups[label] for label in sorted(groups, key=order)}


def text(groups: dict[str, list[dict[str, str]]]) -> list[str]:
    """The plan's lines for them."""
    lines = []
    for label, refs in groups.items():
        lines.append(f"    {label}:")
        lines += [f"      {r['where']}: {r['value']}" for r in refs]
    return lines
