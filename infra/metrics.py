"""What the program watches: the function's metrics per pool, as ``backup_lambda.contract`` names
them, and how long a pool may go without a successful snapshot before it alarms."""

from __future__ import annotations

from backup_lambda.contract import POOL_DIMENSION, SERVICE_NAME
from infra.config import Pool

MISSING_SNAPSHOT_HOURS = 26  # a daily schedule, and two hours for a run that waited or retried


def pool_dimensions(pool: Pool) -> dict[str, str]:
    """The dimensions the snapshot Lambda's metrics carry (Powertools adds ``service``)."""
    return {"service": SERVICE_NAME, POOL_DIMENSION: pool.name}
