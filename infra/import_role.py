"""The role Cognito assumes to write a user-import job's results to CloudWatch Logs.

CreateUserImportJob requires one (``CloudWatchLogsRoleArn``); the restore tooling takes its ARN from
the stack output ``importRoleArn``. A restore imports into a NEW pool, whose id is not known here, so
the trust is limited to Cognito acting for a user pool of this account and region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import names
from infra.config import BackupConfig


def import_role_trust_policy(*, partition: str, account_id: str, region: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cognito-idp.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cognito-idp:{region}:{account_id}:userpool/*"},
                },
            }
        ],
    }


def import_role_policy(*, partition: str, account_id: str, region: str) -> dict:
    """What Cognito's import jobs need, as the Cognito developer guide lists it: their log groups only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteImportJobLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                "Resource": f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/cognito/*",
            }
        ],
    }


@dataclass
class UserImportLogsRoleArgs:
    config: BackupConfig
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]


class UserImportLogsRole(pulumi.ComponentResource):
    role: aws.iam.Role

    def __init__(self, name: str, args: UserImportLogsRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:UserImportLogsRole", name, None, opts)
        region = args.config.region
        ids = pulumi.Output.all(args.partition, args.account_id)
        self.role = aws.iam.Role(
            names.role(name),
            description="Lets Cognito user-import jobs (cognito-backup restores) write their CloudWatch logs",
            assume_role_policy=ids.apply(
                lambda v: json.dumps(import_role_trust_policy(partition=v[0], account_id=v[1], region=region))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=ids.apply(
                lambda v: json.dumps(import_role_policy(partition=v[0], account_id=v[1], region=region))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"role_arn": self.role.arn})
