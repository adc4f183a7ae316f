"""The Lambda entry point: one event, one pool, one snapshot.

Event: ``{"user_pool_id": "<id>", "pool_name": "<name>"}`` (pool_name defaults to the pool's own).
Environment: BACKUP_BUCKET and SIGNING_KEY_ID (required), KMS_KEY_ID, SNAPSHOT_PREFIX, EXCLUDE_ATTRIBUTES,
REQUEST_BUDGET, CAPTURE_USER_MFA. Every manifest and checkpoint is signed with SIGNING_KEY_ID; a continued
run takes its settings from this environment, never from the checkpoint, and refuses a checkpoint it did
not sign (whether users' MFA settings are captured stays as the snapshot's first run chose).
Returns ``{"status": "ok", "key", "users", "groups", "memberships", ...}``; any failure raises, so
Lambda counts an error and the alarm fires.

A pool too large for one run (15 minutes) continues itself: when the remaining time runs short, the
snapshot saves a checkpoint under ``<prefix>.checkpoints/`` and this function invokes itself
asynchronously with ``{"checkpoint_key", "generation"}``; the last run completes the object and writes
the manifest (the result then says ``"runs": n``). Intermediate runs return ``{"status": "continued"}``.

Logs are structured JSON (Powertools Logger) and never carry attribute values; metrics are CloudWatch
embedded metrics (Powertools Metrics), dimensions ``service`` and ``pool_name``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from backup_lambda import contract
from backup_lambda.aws import make_client
from backup_lambda.checkpoint import abandon_checkpoint, bind, delete_checkpoint, load_checkpoint, settings_sha256
from backup_lambda.contract import ContinuationRequest, ContinuedResult, IgnoredResult, SnapshotResult
from backup_lambda.errors import SnapshotError
from backup_lambda.settings import Settings, load_settings, parse_event
from backup_lambda.signing import Signer
from backup_lambda.snapshot import resume_snapshot, take_snapshot

SERVICE = os.environ.get(contract.ENV_SERVICE, contract.SERVICE_NAME)
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get(contract.ENV_NAMESPACE, contract.METRICS_NAMESPACE), service=SERVICE)
copy_config_to_registered_loggers(source_logger=logger, include={"backup_lambda"})

# Progress events carry counts only: the keys allowed into a log line.
_LOGGED_PROGRESS_KEYS = ("phase", "users", "groups", "memberships", "elapsed_s", "throttles", "key", "bytes")


def _log_progress(event: dict[str, Any]) -> None:
    logger.info("snapshot progress", extra={k: event[k] for k in _LOGGED_PROGRESS_KEYS if k in event})


def _publish(result: SnapshotResult) -> None:
    values = {
        contract.SNAPSHOT_SUCCEEDED: 1,
        contract.USERS_EXPORTED: result.users,
        contract.GROUPS_EXPORTED: result.groups,
        contract.MEMBERSHIPS_EXPORTED: result.memberships,
        contract.SNAPSHOT_BYTES: result.bytes,
        contract.SNAPSHOT_DURATION: result.duration_s,
        contract.THROTTLES: result.throttles,
    }
    metrics.add_dimension(name=contract.POOL_DIMENSION, value=result.pool_name)
    for name, unit in contract.SUCCESS_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=values[name])


def _deadline(context: Any):
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return (lambda: remaining() / 1000.0) if callable(remaining) else None


def _continue_in_next_run(result: ContinuedResult, context: Any, s3, signer: Signer) -> None:
    """Invoke this same function asynchronously to carry on from the checkpoint just saved."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or getattr(context, "function_name", None)
    if not function:
        raise SnapshotError("cannot continue the snapshot: the function's own name is unknown",
                            operation="Invoke")
    payload = contract.continuation_event(result.checkpoint_key, result.generation)
    try:
        make_client("lambda", max_attempts=3).invoke(FunctionName=function, InvocationType="Event",
                                                     Payload=json.dumps(payload).encode())
    except Exception as exc:
        abandon_checkpoint(s3, result.bucket, result.checkpoint_key, signer=signer)
        raise SnapshotError(f"Invoke of {function} to continue the snapshot of user pool {result.user_pool_id} "
                            f"failed, the snapshot is abandoned: {exc}", pool=result.user_pool_id,
                            operation="Invoke") from exc
    logger.info("snapshot continues in a new run", extra={"generation": result.generation, "users": result.users})


def _checkpoint(s3, settings: Settings, request: ContinuationRequest, signer: Signer):
    """The checkpoint the event names, only if this function signed it at that key, for this bucket,
    prefix and settings. One that is not is removed with its spool (its upload, which it cannot be
    trusted to name, is left to the bucket's lifecycle rule), and the run fails: the alarm fires."""
    try:
        checkpoint = load_checkpoint(s3, settings.bucket, request.checkpoint_key, signer=signer)
        bind(checkpoint, request.checkpoint_key, bucket=settings.bucket, prefix=settings.prefix,
             settings=settings_sha256(settings.bucket, settings.prefix, settings.kms_key_id,
                                      settings.exclude_attributes))
    except SnapshotError as exc:
        if exc.operation not in ("GetObject", "Verify"):  # it was read and is not one this run can carry on
            delete_checkpoint(s3, settings.bucket, request.checkpoint_key)
        raise
    return checkpoint


def _run(event: Any, context: Any) -> SnapshotResult | ContinuedResult | IgnoredResult:
    settings = load_settings(os.environ)
    request = parse_event(event, settings.prefix)
    cognito, s3 = make_client("cognito-idp"), make_client("s3")
    signer = Signer(make_client("kms"), settings.signing_key_id)
    if isinstance(request, ContinuationRequest):
        checkpoint = _checkpoint(s3, settings, request, signer)
        if checkpoint.generation != request.generation:
            logger.warning("duplicate continuation event ignored", extra={"generation": request.generation})
            return IgnoredResult(reason="duplicate continuation event")
        logger.append_keys(user_pool_id=checkpoint.user_pool_id, pool_name=checkpoint.pool_name)
        logger.info("snapshot continuing", extra={"generation": request.generation})
        result = resume_snapshot(cognito, s3, checkpoint, bucket=settings.bucket, prefix=settings.prefix,
                                 kms_key_id=settings.kms_key_id, exclude_attributes=settings.exclude_attributes,
                                 request_budget=settings.request_budget, signer=signer, progress=_log_progress,
                                 deadline=_deadline(context))
    else:
        logger.append_keys(user_pool_id=request.user_pool_id, pool_name=request.pool_name)
        logger.info("snapshot starting")
        result = take_snapshot(
            cognito, s3,
            user_pool_id=request.user_pool_id,
            bucket=settings.bucket,
            pool_name=request.pool_name,
            prefix=settings.prefix,
            kms_key_id=settings.kms_key_id,
            exclude_attributes=settings.exclude_attributes,
            request_budget=settings.request_budget,
            capture_user_mfa=settings.capture_user_mfa,
            progress=_log_progress,
            deadline=_deadline(context),
            signer=signer,
        )
    if isinstance(result, ContinuedResult):
        _continue_in_next_run(result, context, s3, signer)
    return result


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        result = _run(event, context)
    except Exception as exc:
        given = event if isinstance(event, dict) else {}
        pool = (given.get(contract.EVENT_POOL_NAME) or getattr(exc, "pool", None)
                or given.get(contract.EVENT_POOL_ID))
        metrics.add_dimension(name=contract.POOL_DIMENSION, value=str(pool or "").strip()[:128] or "unknown")
        metrics.add_metric(name=contract.SNAPSHOT_FAILED, unit=MetricUnit.Count, value=1)
        logger.exception("snapshot failed")
        raise
    if not isinstance(result, SnapshotResult):
        return result.to_json()
    _publish(result)
    logger.info("snapshot complete", extra={k: getattr(result, k) for k in (
        "key", "users", "groups", "memberships", "bytes", "duration_s", "throttles", "runs")})
    return result.to_json()


logging.getLogger("botocore").setLevel(logging.WARNING)
