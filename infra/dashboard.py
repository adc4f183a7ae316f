"""A CloudWatch dashboard of the stack's backups (its body: ``infra/dashboard_body.py``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import BackupConfig
from infra.dashboard_body import dashboard_body
from infra.documents import as_json


@dataclass
class BackupDashboardArgs:
    config: BackupConfig
    bucket_name: pulumi.Input[str]
    alarm_arns: list[pulumi.Input[str]]
    failure_queue_name: pulumi.Input[str]
    schedule_dlq_name: pulumi.Input[str]


class BackupDashboard(pulumi.ComponentResource):
    dashboard: aws.cloudwatch.Dashboard

    def __init__(self, name: str, args: BackupDashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:BackupDashboard", name, None, opts)
        body = as_json(
            functools.partial(dashboard_body, config=args.config),
            bucket_name=args.bucket_name,
            alarm_arns=args.alarm_arns,
            failure_queue_name=args.failure_queue_name,
            schedule_dlq_name=args.schedule_dlq_name,
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.config.names.dashboard,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"dashboard_name": self.dashboard.dashboard_name})
