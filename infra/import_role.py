"""The role Cognito assumes to write a user-import job's results to CloudWatch Logs.

CreateUserImportJob requires one (``CloudWatchLogsRoleArn``); the restore tooling takes its ARN from
the stack output ``importRoleArn``. A restore imports into a NEW pool, whose id is not known here, so
the trust is limited to Cognito acting for a user pool of this account and region
(``infra/policies/import_role.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import names
from infra.config import BackupConfig
from infra.documents import as_json
from infra.policies.import_role import import_role_policy, import_role_trust_policy


@dataclass
class UserImportLogsRoleArgs:
    config: BackupConfig
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    permissions_boundary: pulumi.Input[str]  # names.permissions_boundary_arn: the bootstrap's boundary


class UserImportLogsRole(pulumi.ComponentResource):
    role: aws.iam.Role

    def __init__(self, name: str, args: UserImportLogsRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:UserImportLogsRole", name, None, opts)
        where = {"partition": args.partition, "account_id": args.account_id, "region": args.config.region}
        self.role = aws.iam.Role(
            names.role(name),
            description="Lets Cognito user-import jobs (cognito-backup restores) write their CloudWatch logs",
            path=names.PROGRAM_ROLE_PATH,
            permissions_boundary=args.permissions_boundary,
            assume_role_policy=as_json(import_role_trust_policy, **where),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=as_json(import_role_policy, **where),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"role_arn": self.role.arn})
