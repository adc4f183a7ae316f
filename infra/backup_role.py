"""The snapshot function's execution role (its policy: ``infra/policies/backup_role.py``)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra import names
from infra.policies.backup_role import lambda_trust_policy


class BackupRole(pulumi.ComponentResource):
    """The snapshot function's execution role. Created first (it has no grants yet) so that the key
    and bucket policies can name it; ``BackupFunction`` attaches its policy once the bucket, key and
    queue exist."""

    role: aws.iam.Role

    def __init__(self, name: str, description: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cognito-backup:infra:BackupRole", name, None, opts)
        self.role = aws.iam.Role(
            names.role(name),
            description=description,
            assume_role_policy=json.dumps(lambda_trust_policy()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"role_arn": self.role.arn})
