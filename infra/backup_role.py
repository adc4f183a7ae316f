"""The snapshot function's execution role (its policy: ``infra/policies/backup_role.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import names
from infra.documents import as_json
from infra.policies.backup_role import lambda_trust_policy


@dataclass
class BackupRoleArgs:
    description: str
    account_id: pulumi.Input[str]
    permissions_boundary: pulumi.Input[str]  # names.permissions_boundary_arn: the bootstrap's boundary


class BackupRole(pulumi.ComponentResource):
    """The snapshot function's execution role. Created first (it has no grants yet) so that the key
    and bucket policies can name it; ``BackupFunction`` attaches its policy once the bucket, key and
    queue exist. Like every role of the program it lives under ``names.PROGRAM_ROLE_PATH`` and carries
    the bootstrap's permissions boundary."""

    role: aws.iam.Role

    def __init__(self, name: str, args: BackupRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:BackupRole", name, None, opts)
        self.role = aws.iam.Role(
            names.role(name),
            description=args.description,
            path=names.PROGRAM_ROLE_PATH,
            permissions_boundary=args.permissions_boundary,
            assume_role_policy=as_json(lambda_trust_policy, account_id=args.account_id),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"role_arn": self.role.arn})
