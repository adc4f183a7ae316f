"""Alerts: an encrypted SNS topic (optional email subscription) and the alarms that publish to it.

- the function failed (Lambda ``Errors``);
- a pool has had no ``SnapshotSucceeded`` for 26 hours (missing data counts as breaching, so a
  schedule that never fires, or a function that never starts, alarms too);
- a failed asynchronous invocation or an undeliverable schedule event is waiting in its queue.

CloudWatch can only publish to an encrypted topic when the key's policy lets it, which the AWS-managed
``alias/aws/sns`` key cannot: the topic gets its own small key, so that the snapshot key's policy stays
as narrow as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from backup_lambda.contract import METRICS_NAMESPACE, SNAPSHOT_SUCCEEDED
from infra import names
from infra.config import BackupConfig
from infra.documents import as_json
from infra.metrics import MISSING_SNAPSHOT_HOURS, pool_dimensions
from infra.policies.alerts import alerts_key_policy


@dataclass
class AlertsArgs:
    config: BackupConfig
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    function_name: pulumi.Input[str]
    failure_queue_name: pulumi.Input[str]
    schedule_dlq_name: pulumi.Input[str]


class Alerts(pulumi.ComponentResource):
    topic: aws.sns.Topic
    errors_alarm: aws.cloudwatch.MetricAlarm
    missing_snapshot_alarms: dict[str, aws.cloudwatch.MetricAlarm]
    queue_alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:Alerts", name, None, opts)
        cfg = args.config
        prefix = cfg.resource_prefix
        child = pulumi.ResourceOptions(parent=self)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {prefix} alarm topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=as_json(alerts_key_policy, partition=args.partition, account_id=args.account_id,
                           region=cfg.region, alarm_prefix=cfg.names.alarm("")),
            tags=names.key_tags(cfg.stack),  # what the CI roles' KMS grants require
            opts=child,
        )
        self.topic = aws.sns.Topic(
            names.alarm_topic(name),
            display_name=f"{prefix} alarms",
            kms_master_key_id=key.arn,
            opts=child,
        )
        if cfg.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=cfg.alarm_email,
                opts=child,
            )
        actions = [self.topic.arn]

        self.errors_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-function-errors",
            name=cfg.names.alarm("function-errors"),
            alarm_description="The snapshot function failed (see its log group for the pool and the error).",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": args.function_name},
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            opts=child,
        )
        self.missing_snapshot_alarms = {
            pool.id: aws.cloudwatch.MetricAlarm(
                f"{name}-missing-snapshot-{pool.id}",
                name=cfg.names.alarm(f"missing-snapshot-{pool.name}"),
                alarm_description=(
                    f"No successful snapshot of {pool.name} ({pool.id}) in {MISSING_SNAPSHOT_HOURS} hours."
                ),
                namespace=METRICS_NAMESPACE,
                metric_name=SNAPSHOT_SUCCEEDED,
                dimensions=pool_dimensions(pool),
                statistic="Sum",
                period=3600,
                evaluation_periods=MISSING_SNAPSHOT_HOURS,
                datapoints_to_alarm=MISSING_SNAPSHOT_HOURS,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
            for pool in cfg.pools
        }
        self.queue_alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=cfg.names.alarm(suffix),
                alarm_description=description,
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
                period=300,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
            for suffix, queue_name, description in (
                (
                    "failed-invocations",
                    args.failure_queue_name,
                    "A snapshot failed after its retries: its event waits in the failure queue.",
                ),
                (
                    "undelivered-schedules",
                    args.schedule_dlq_name,
                    "EventBridge could not invoke the snapshot function: the event waits in the DLQ.",
                ),
            )
        ]
        self.register_outputs({"topic_arn": self.topic.arn})

    @property
    def alarm_arns(self) -> list[pulumi.Output[str]]:
        return [
            self.errors_alarm.arn,
            *(alarm.arn for alarm in self.missing_snapshot_alarms.values()),
            *(alarm.arn for alarm in self.queue_alarms),
        ]
