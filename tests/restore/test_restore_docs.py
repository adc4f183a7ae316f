"""docs/restoring.md says how long a restore takes: the default share it states is the restore's, and its table
of floors is the membership quota's arithmetic (AdminAddUserToGroup, UserResourceUpdate, 25/s)."""

from __future__ import annotations

import re
from pathlib import Path

from backup_lambda.quotas import OPERATION_CATEGORY, QUOTA_RPS
from cognito_backup.restore.options import DEFAULT_RATE_FRACTION

DOC = Path(__file__).resolve().parents[2] / "docs" / "restoring.md"


def _hours_or_minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def test_the_documented_default_share_is_the_restores():
    text = DOC.read_text()
    assert f"uses {DEFAULT_RATE_FRACTION:g} of each category's quota by default" in text
    assert f"**The default share, {DEFAULT_RATE_FRACTION:g}.**" in text


def test_the_floor_table_is_the_membership_quota_at_the_default_share_and_at_the_full_quota():
    quota = QUOTA_RPS[OPERATION_CATEGORY["AdminAddUserToGroup"]]
    assert quota == 25
    rows = re.findall(r"^\| ([\d,]+) users, (\d) groups? each \| ([\d,]+) \| ([^|]+) \| ([^|]+) \|$", DOC.read_text(),
                      flags=re.M)
    assert len(rows) == 4
    for users, per_user, memberships, at_default, at_full in rows:
        count = int(users.replace(",", "")) * int(per_user)
        assert int(memberships.replace(",", "")) == count
        assert at_default.strip() == _hours_or_minutes(count / (quota * DEFAULT_RATE_FRACTION))
        assert at_full.strip() == _hours_or_minutes(count / quota)
