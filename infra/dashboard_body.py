"""The body of the CloudWatch dashboard (a pure function of plain values; the ``BackupDashboard``
component, ``infra/dashboard.py``, declares it): a dashboard a person would rather look at than read
logs.

Top: the alarms' state and the last successful snapshot of each pool; then the function (invocations,
errors, throttles, queueing, duration) and the failure queues; then one row per pool: snapshots
taken, users/groups/memberships over time, duration, bytes, Cognito throttles and the last success.
"""

from __future__ import annotations

from backup_lambda import contract
from backup_lambda.contract import METRICS_NAMESPACE
from infra.config import BackupConfig, Pool
from infra.metrics import MISSING_SNAPSHOT_HOURS, pool_dimensions

DAY = 86400
WIDTH = 24  # the dashboard grid


def _metric(name: str, pool: Pool, **options) -> list:
    dimensions = [part for dimension in pool_dimensions(pool).items() for part in dimension]
    return [METRICS_NAMESPACE, name, *dimensions, options or {}]


def _widget(kind: str, x: int, y: int, width: int, height: int, **properties) -> dict:
    return {"type": kind, "x": x, "y": y, "width": width, "height": height, "properties": properties}


def _last_success_query(log_group: str, pool: Pool | None) -> str:
    """Logs Insights over the metric (EMF) lines the function writes: one per successful snapshot."""
    where = f' and pool_name = "{pool.name}"' if pool else ""
    by = "" if pool else " by pool_name"
    return (
        f"SOURCE '{log_group}' | filter ispresent(SnapshotSucceeded){where}"
        f" | stats max(@timestamp) as last_success, count(*) as snapshots{by}"
    )


def dashboard_body(
    *,
    config: BackupConfig,
    bucket_name: str,
    alarm_arns: list[str],
    failure_queue_name: str,
    schedule_dlq_name: str,
) -> dict:
    region, fn, logs = config.region, config.names.function, config.names.log_group
    pools = ", ".join(f"{p.name} ({p.id})" for p in config.pools)
    widgets: list[dict] = [
        _widget(
            "text", 0, 0, WIDTH, 2,
            markdown=(
                f"# Cognito backup: {config.stack}\n"
                f"Snapshots of {pools} on `{config.schedule}` into `s3://{bucket_name}/{config.snapshot_prefix}`. "
                f"A pool alarms after {MISSING_SNAPSHOT_HOURS} hours without a successful snapshot."
            ),
        ),
        _widget("alarm", 0, 2, 14, 4, title="Alarms", alarms=sorted(alarm_arns)),
        _widget(
            "log", 14, 2, 10, 4, title="Last successful snapshot per pool", region=region, view="table",
            query=_last_success_query(logs, None),
        ),
        _widget(
            "metric", 0, 6, 8, 6, title="Function runs", region=region, view="timeSeries", stat="Sum",
            period=3600,
            metrics=[
                ["AWS/Lambda", "Invocations", "FunctionName", fn],
                ["AWS/Lambda", "Errors", "FunctionName", fn, {"color": "#d62728"}],
                ["AWS/Lambda", "Throttles", "FunctionName", fn, {"label": "Throttles (queued: one run at a time)"}],
                ["AWS/Lambda", "AsyncEventsDropped", "FunctionName", fn],
            ],
        ),
        _widget(
            "metric", 8, 6, 8, 6, title="Run time and queueing (seconds)", region=region, view="timeSeries",
            stat="Maximum", period=3600,
            metrics=[
                ["AWS/Lambda", "Duration", "FunctionName", fn, {"id": "duration", "visible": False}],
                [{"expression": "duration / 1000", "label": "Duration", "id": "seconds"}],
                ["AWS/Lambda", "AsyncEventAge", "FunctionName", fn, {"id": "age", "visible": False}],
                [{"expression": "age / 1000", "label": "Wait before start", "id": "wait"}],
            ],
        ),
        _widget(
            "metric", 16, 6, 8, 6, title="Waiting in failure queues", region=region, view="timeSeries",
            stat="Maximum", period=300,
            metrics=[
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", failure_queue_name,
                 {"label": "failed snapshots"}],
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", schedule_dlq_name,
                 {"label": "undelivered schedule events"}],
            ],
        ),
    ]
    y = 12
    for pool in config.pools:
        widgets.append(_widget("text", 0, y, WIDTH, 1, markdown=f"## {pool.name} `{pool.id}`"))
        y += 1
        common = {"region": region, "period": DAY}
        widgets += [
            _widget(
                "metric", 0, y, 4, 6, title="Snapshots per day", view="bar", stat="Sum",
                metrics=[
                    _metric(contract.SNAPSHOT_SUCCEEDED, pool, label="succeeded", color="#2ca02c"),
                    _metric(contract.SNAPSHOT_FAILED, pool, label="failed", color="#d62728"),
                ],
                **common,
            ),
            _widget(
                "metric", 4, y, 6, 6, title="Users and groups", view="timeSeries", stat="Maximum",
                metrics=[
                    _metric(contract.USERS_EXPORTED, pool, label="users"),
                    _metric(contract.GROUPS_EXPORTED, pool, label="groups", yAxis="right"),
                    _metric(contract.MEMBERSHIPS_EXPORTED, pool, label="memberships"),
                ],
                **common,
            ),
            _widget(
                "metric", 10, y, 4, 6, title="Duration (s)", view="timeSeries", stat="Maximum",
                metrics=[_metric(contract.SNAPSHOT_DURATION, pool, label="duration")], **common,
            ),
            _widget(
                "metric", 14, y, 4, 6, title="Snapshot size (bytes)", view="timeSeries", stat="Maximum",
                metrics=[_metric(contract.SNAPSHOT_BYTES, pool, label="bytes")], **common,
            ),
            _widget(
                "metric", 18, y, 3, 6, title="Cognito throttles", view="timeSeries", stat="Sum",
                metrics=[_metric("Throttles", pool, label="throttled calls")], **common,
            ),
            _widget(
                "log", 21, y, 3, 6, title="Last success", region=region, view="table",
                query=_last_success_query(logs, pool),
            ),
        ]
        y += 6
    return {"start": "-P30D", "periodOverride": "inherit", "widgets": widgets}
