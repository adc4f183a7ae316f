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
# Keys named like secrets (SECRET_DETAIL_RE: "token") that hold a function's ARN, not a secret.
NOT_SECRETS = frozenset({"PreTokenGeneration", "PreTokenGenerationConfig"})
NO_ACCOUNT = "ARNs without an account (e.g. S3 buckets)"


def walk(where: str, value: Any) -> Iterable[tuple[str, str]]:
    """(path, value) of every ARN or URL in ``value`` (secret-named keys skipped: never shown)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (key in NOT_REFERENCES or (
                    SECRET_DETAIL_RE.search(key) and key.lower() not in NOT_SECRET_DETAILS and key not in NOT_SECRETS)):
                continue
            yield from walk(f"{where}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(f"{where}[{i}]", item)
    elif isinstance(value, str) and (ARN.fullmatch(value) or URL.fullmatch(value)):
        yield where, value


def grouped(references: Iterable[tuple[str, str]], own_account: str | None,
            target_account: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The references by account (the account restored into first, then the snapshot's, then the others), then
    ARNs without an account, then URLs. ``own_account``: the snapshot's; ``target_account``: the one restored into
    (None: not asked, no ARN names an account)."""
    groups: dict[str, list[dict[str, str]]] = {}
    rank: dict[str, int] = {NO_ACCOUNT: 3, URLS: 4}
    for where, value in references:
        arn = ARN.fullmatch(value)
        if arn and arn["account"]:
            account = arn["account"]
            label = f"account {account} ({account_role(account, own_account, target_account)})"
            rank[label] = 0 if account == target_account else 1 if account == own_account else 2
        else:
            label = NO_ACCOUNT if arn else URLS
        groups.setdefault(label, []).append({"where": where, "value": value})
    return {label: groups[label] for label in sorted(groups, key=lambda label: (rank[label], label))}


def account_role(account: str, own_account: str | None, target_account: str | None) -> str:
    """What an account is to a restore, as the plan says it."""
    if target_account and account == target_account:
        return "the account restored into" + (", also the snapshot's" if account == own_account else "")
    said = "the snapshot's account" if account == own_account else "not the snapshot's account" if own_account \
        else "another account"
    return said + (": refused without --allow-foreign-arns" if target_account else "")


def text(groups: dict[str, list[dict[str, str]]]) -> list[str]:
    """The plan's lines for them."""
    lines = []
    for label, refs in groups.items():
        lines.append(f"    {label}:")
        lines += [f"      {r['where']}: {r['value']}" for r in refs]
    return lines
