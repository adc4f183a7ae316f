"""The Lambda entry point: one event, one pool, one snapshot.

Event: ``{"user_pool_id": "<id>", "pool_name": "<name>"}`` (pool_name defaults to the pool's own).
Environment: BACKUP_BUCKET (required), KMS_KEY_ID, SNAPSHOT_PREFIX, EXCLUDE_ATTRIBUTES, REQUEST_BUDGET.
Returns ``{"status": "ok", "key", "users", "groups", "memberships", ...}``; any failure raises, so
Lambda counts an error and the alarm fires.

Logs are structured JSON (Powertools Logger) and never carry attribute values; metrics are CloudWatch
embedded metrics (Powertools Metrics), dimensions ``service`` and ``pool_name``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from backup_lambda.aws import make_client
from backup_lambda.settings import load_settings, parse_event
from backup_lambda.snapshot import take_snapshot

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "cognito-backup")
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CognitoBackup"), service=SERVICE)
copy_config_to_registered_loggers(source_logger=logger, include={"backup_lambda"})

# Progress events carry counts only: the keys allowed into a log line.
_LOGGED_PROGRESS_KEYS = ("phase", "users", "groups", "memberships", "elapsed_s", "throttles", "key", "bytes")


def _log_progress(event: dict[str, Any]) -> None:
    logger.info("snapshot progress", extra={k: event[k] for k in _LOGGED_PROGRESS_KEYS if k in event})


def _publish(result: dict[str, Any]) -> None:
    metrics.add_dimension(name="pool_name", value=result["pool_name"])
    metrics.add_metric(name="SnapshotSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="UsersExported", unit=MetricUnit.Count, value=result["users"])
    metrics.add_metric(name="GroupsExported", unit=MetricUnit.Count, value=result["groups"])
    metrics.add_metric(name="MembershipsExported", unit=MetricUnit.Count, value=result["memberships"])
    metrics.add_metric(name="SnapshotBytes", unit=MetricUnit.Bytes, value=result["bytes"])
    metrics.add_metric(name="SnapshotDurationSeconds", unit=MetricUnit.Seconds, value=result["duration_s"])
    metrics.add_metric(name="Throttles", unit=MetricUnit.Count, value=result["throttles"])


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_event(event)
    settings = load_settings(os.environ)
    logger.append_keys(user_pool_id=request.user_pool_id, pool_name=request.pool_name)
    logger.info("snapshot starting")
    try:
        result = take_snapshot(
            make_client("cognito-idp"),
            make_client("s3"),
            user_pool_id=request.user_pool_id,
            bucket=settings.bucket,
            pool_name=request.pool_name,
            prefix=settings.prefix,
            kms_key_id=settings.kms_key_id,
            exclude_attributes=settings.exclude_attributes,
            request_budget=settings.request_budget,
            progress=_log_progress,
        )
    except Exception:
        metrics.add_dimension(name="pool_name", value=request.pool_name or request.user_pool_id)
        metrics.add_metric(name="SnapshotFailed", unit=MetricUnit.Count, value=1)
        logger.exception("snapshot failed")
        raise
    _publish(result)
    logger.info("snapshot complete", extra={k: result[k] for k in ("key", "users", "groups", "memberships",
                                                                   "bytes", "duration_s", "throttles")})
    return result


logging.getLogger("botocore").setLevel(logging.WARNING)
