"""The snapshot format: names, keys and constants every part of the project shares.

A snapshot is one JSON object (``docs/snapshot-format.md`` describes it field by field) stored at
``<prefix>YYYY/MM/DD/<pool_name>_YYYYMMDD_HHMMSS.json``, completed by a manifest at
``<same key without .json>.manifest.json``. No manifest means the snapshot is not complete.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

FORMAT_VERSION = 2
SUPPORTED_FORMAT_VERSIONS = frozenset({1, 2})

SNAPSHOT_SUFFIX = ".json"
MANIFEST_SUFFIX = ".manifest.json"
CHECKPOINT_DIR = ".checkpoints/"
SPOOL_SUFFIX = ".spool"  # a continued snapshot's spool, next to its checkpoint (``<checkpoint key>.spool``)

# Configuration sections, in the order they appear in the document. Each holds {"status": "present"|
# "absent"|"unavailable", ...}.
CONFIG_SECTIONS = (
    "mfa_config",
    "clients",
    "identity_providers",
    "resource_servers",
    "domain",
    "ui_customization",
    "risk_configuration",
    "log_delivery",
    "tags",
    "managed_login_branding",
)

HEADER_KEYS = ("format_version", "taken_at", "source", "pool")
# The document's keys in the order each version writes them. Version 1 read the configuration and every
# group's members before the first user; version 2 writes users first (the configuration and the groups,
# read alongside them, wait in the spool): the same keys, in another order.
DOCUMENT_KEYS = {
    1: (*HEADER_KEYS, *CONFIG_SECTIONS, "groups", "users", "summary"),
    2: (*HEADER_KEYS, "users", "groups", *CONFIG_SECTIONS, "summary"),
}

KEY_RE = re.compile(
    r"(?P<date>\d{4}/\d{2}/\d{2})/(?P<pool_name>.+)_(?P<stamp>\d{8}_\d{6})\.json$"
)


def retention_class(when: datetime) -> str:
    """``monthly`` on the 1st of a month, ``weekly`` on Sundays, else ``daily`` (UTC)."""
    when = when.astimezone(timezone.utc)
    if when.day == 1:
        return "monthly"
    if when.weekday() == 6:
        return "weekly"
    return "daily"


def snapshot_key(prefix: str, pool_name: str, when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    return f"{prefix}{when:%Y/%m/%d}/{pool_name}_{when:%Y%m%d_%H%M%S}{SNAPSHOT_SUFFIX}"


def manifest_key(snapshot_key_: str) -> str:
    if not snapshot_key_.endswith(SNAPSHOT_SUFFIX) or snapshot_key_.endswith(MANIFEST_SUFFIX):
        raise ValueError(f"not a snapshot key: {snapshot_key_!r}")
    return snapshot_key_[: -len(SNAPSHOT_SUFFIX)] + MANIFEST_SUFFIX


def is_snapshot_key(key: str) -> bool:
    return key.endswith(SNAPSHOT_SUFFIX) and not key.endswith(MANIFEST_SUFFIX) and bool(KEY_RE.search(key))


def parse_snapshot_key(key: str) -> dict | None:
    """{"pool_name", "taken_at" (datetime)} of a snapshot key, or None if it is not one."""
    m = KEY_RE.search(key)
    if not m or key.endswith(MANIFEST_SUFFIX):
        return None
    taken = datetime.strptime(m["stamp"], "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)
    return {"pool_name": m["pool_name"], "taken_at": taken}
