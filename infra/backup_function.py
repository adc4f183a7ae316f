"""The snapshot Lambda, the SDK layer it runs on, its schedule and what catches its failures.

One function serves every pool: the EventBridge rule has one target per pool whose constant input is
that pool's snapshot event. Reserved concurrency 1 makes runs queue instead of overlapping (they share
Cognito's account-wide UserList quota): EventBridge invokes asynchronously, and Lambda keeps throttled
asynchronous events for up to six hours, so the pools are snapshotted one after the other.

The function's only layer is its SDK (``infra/sdk_layer.py``), published by the program from the
function's runtime lock. A layer version is immutable: a new lock gives a new zip, whose digest
(``source_code_hash``) replaces the version, and the function moves to the new one before the old one
is deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import names
from infra.config import BackupConfig
from infra.documents import as_json
from infra.function_package import (
    ARCHITECTURE,
    HANDLER,
    RUNTIME,
    code_archive,
    function_environment,
    sdk_layer_archive,
)
from infra.policies.backup_function import schedule_dlq_policy
from infra.policies.backup_role import BackupRoleResources, backup_role_policy
from infra.sdk_layer import SdkLayer

QUEUE_RETENTION_SECONDS = 14 * 24 * 3600  # the most SQS keeps: two weeks to look at a failed event
MAX_ASYNC_EVENT_AGE = 6 * 3600  # the most Lambda keeps an event that waits for the one concurrent run
ASYNC_RETRIES = 2
SCHEDULE_EVENT_AGE = 3600
SCHEDULE_RETRIES = 10


@dataclass
class BackupFunctionArgs:
    config: BackupConfig
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    role: aws.iam.Role
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    project_dir: Path
    sdk_layer: SdkLayer  # built before any resource is declared (__main__.py)


class BackupFunction(pulumi.ComponentResource):
    sdk_layer: aws.lambda_.LayerVersion
    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup
    failure_queue: aws.sqs.Queue
    schedule_dlq: aws.sqs.Queue
    rule: aws.cloudwatch.EventRule
    targets: list[aws.cloudwatch.EventTarget]

    def __init__(self, name: str, args: BackupFunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:BackupFunction", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=cfg.names.log_group,
            retention_in_days=cfg.log_retention_days,
            opts=child,
        )
        self.failure_queue = aws.sqs.Queue(
            names.failure_queue(name),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.schedule_dlq = aws.sqs.Queue(
            names.schedule_dlq(name),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=child,
        )

        # The function's own ARN, built from its explicit name: no cycle between role and function.
        function_arn = pulumi.Output.concat(
            "arn:", args.partition, ":lambda:", cfg.region, ":", args.account_id, ":function:", cfg.names.function
        )
        log_group_arn = pulumi.Output.concat(
            "arn:", args.partition, ":logs:", cfg.region, ":", args.account_id, ":log-group:", cfg.names.log_group
        )
        pool_arns = [
            pulumi.Output.concat(
                "arn:", args.partition, ":cognito-idp:", cfg.region, ":", args.account_id, ":userpool/", pool.id
            )
            for pool in cfg.pools
        ]

        def role_policy_of(pool_arns: list[str], **arns: str) -> dict:
            resources = BackupRoleResources(pool_arns=tuple(pool_arns), snapshot_prefix=cfg.snapshot_prefix, **arns)
            return backup_role_policy(resources)

        policy = as_json(
            role_policy_of,
            pool_arns=pool_arns,
            bucket_arn=args.bucket_arn,
            kms_key_arn=args.kms_key_arn,
            function_arn=function_arn,
            log_group_arn=log_group_arn,
            failure_queue_arn=self.failure_queue.arn,
        )
        role_policy = aws.iam.RolePolicy(f"{name}-permissions", role=args.role.id, policy=policy, opts=child)

        self.sdk_layer = aws.lambda_.LayerVersion(
            names.sdk_layer(name),
            layer_name=cfg.names.sdk_layer,
            description=args.sdk_layer.description,
            code=sdk_layer_archive(args.sdk_layer),
            source_code_hash=args.sdk_layer.base64_sha256,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=child,
        )
        environment = pulumi.Output.all(args.bucket_name, args.kms_key_arn).apply(
            lambda v: function_environment(cfg, v[0], v[1])
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=cfg.names.function,
            description="Takes one snapshot of a Cognito user pool into S3 (cognito-backup)",
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            code=code_archive(args.project_dir),
            role=args.role.arn,
            timeout=cfg.lambda_timeout,
            memory_size=cfg.lambda_memory,
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=cfg.lambda_ephemeral_storage),
            reserved_concurrent_executions=1,
            layers=[self.sdk_layer.arn],
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, role_policy]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_event_age_in_seconds=MAX_ASYNC_EVENT_AGE,
            maximum_retry_attempts=ASYNC_RETRIES,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.failure_queue.arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        self.rule = aws.cloudwatch.EventRule(
            names.schedule_rule(name),
            description=f"Snapshot the Cognito user pools of {cfg.resource_prefix}",
            schedule_expression=cfg.schedule,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-schedule-dlq-policy",
            queue_url=self.schedule_dlq.url,
            policy=as_json(schedule_dlq_policy, queue_arn=self.schedule_dlq.arn, rule_arn=self.rule.arn,
                           account_id=args.account_id),
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{name}-schedule-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            source_account=args.account_id,
            opts=child,
        )
        self.targets = [
            aws.cloudwatch.EventTarget(
                f"{name}-target-{pool.id}",
                rule=self.rule.name,
                target_id=f"snapshot-{pool.id}",
                arn=self.function.arn,
                input=json.dumps(pool.event()),
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=SCHEDULE_EVENT_AGE,
                    maximum_retry_attempts=SCHEDULE_RETRIES,
                ),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.schedule_dlq.arn),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
            )
            for pool in cfg.pools
        ]
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "sdk_layer_arn": self.sdk_layer.arn,
                "failure_queue_arn": self.failure_queue.arn,
                "schedule_dlq_arn": self.schedule_dlq.arn,
            }
        )
