"""A CloudWatch dashboard of the stack's backups (its body: ``infra/dashboard_body.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import BackupConfig
from infra.dashboard_body import dashboard_body


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
        body = pulumi.Output.all(
            args.bucket_name, pulumi.Output.all(*args.alarm_arns), args.failure_queue_name, args.schedule_dlq_name
        ).apply(
            lambda v: json.dumps(
                dashboard_body(
                    config=args.config,
                    bucket_name=v[0],
                    alarm_arns=list(v[1]),
                    failure_queue_name=v[2],
                    schedule_dlq_name=v[3],
                )
            )
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.config.names.dashboard,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"dashboard_name": self.dashboard.dashboard_name})
