"""The backup role's policy, built BY SCOPE from ``backup_lambda/permissions.py``, and its trust.

``permissions.py`` is the one list of the API calls a snapshot makes and the IAM action each needs;
this module only decides which resource each scope means for a given stack. Two grants are not calls
the code makes and so are not in that list: the Lambda service writes the function's logs and sends
failed asynchronous invocations to the on-failure queue, both with the function's role
(``RUNTIME_GRANTS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backup_lambda.permissions import BACKUP_ROLE_OPERATIONS, Operation, actions_for
from backup_lambda.snapshot_format import CHECKPOINT_DIR

# What the Lambda service does with the role on the function's behalf (never called by the code).
RUNTIME_GRANTS: dict[str, list[str]] = {
    "log_group": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "failure_queue": ["sqs:SendMessage"],
}

# The only verbs that may be granted on "*" (scope "account"): reads of things without a resource type.
READ_ONLY_VERBS = ("Describe", "Get", "List")

# Statement ids by scope, for people reading the policy in the console.
SIDS = {
    "pool": "ReadListedUserPools",
    "snapshots": "WriteSnapshots",
    "checkpoints": "ContinuationCheckpoints",
    "kms_key": "UseSnapshotKey",
    "signing_key": "SignWithSigningKey",
    "self_function": "ContinueOwnSnapshot",
    "account": "CallsWithoutResourceType",
    "log_group": "WriteOwnLogs",
    "failure_queue": "SendFailedInvocations",
}


@dataclass(frozen=True)
class BackupRoleResources:
    """The concrete resources of one stack that the role's grants are limited to (plain strings)."""

    pool_arns: tuple[str, ...]
    bucket_arn: str
    snapshot_prefix: str
    kms_key_arn: str
    signing_key_arn: str
    function_arn: str
    log_group_arn: str  # arn:...:log-group:/aws/lambda/NAME (no ":*")
    failure_queue_arn: str

    def by_scope(self) -> dict[str, list[str]]:
        objects = f"{self.bucket_arn}/{self.snapshot_prefix}"
        return {
            "pool": list(self.pool_arns),
            "snapshots": [f"{objects}*"],
            "checkpoints": [f"{objects}{CHECKPOINT_DIR}*"],
            "kms_key": [self.kms_key_arn],
            "signing_key": [self.signing_key_arn],
            "self_function": [self.function_arn],
            # Actions IAM authorises on no resource type (e.g. cognito-idp:DescribeUserPoolDomain,
            # which names a domain, not a pool): "*" is the only resource they can be granted on.
            # permissions.py decides which actions are in this scope; none of them may write.
            "account": ["*"],
            "log_group": [self.log_group_arn, f"{self.log_group_arn}:*"],
            "failure_queue": [self.failure_queue_arn],
        }


def backup_role_policy(
    resources: BackupRoleResources, operations: Sequence[Operation] = BACKUP_ROLE_OPERATIONS
) -> dict:
    """The backup role's policy document: one Allow statement per scope, actions from permissions.py."""
    by_scope = resources.by_scope()
    scopes = list(dict.fromkeys(op.scope for op in operations))  # in permissions.py's order
    statements = []
    for scope in scopes:
        if scope not in by_scope:
            raise ValueError(
                f"permissions.py has scope {scope!r}, which infra/policies/backup_role.py does not map to a resource; "
                "add it to BackupRoleResources.by_scope"
            )
        actions = actions_for(scope, list(operations))
        if by_scope[scope] == ["*"]:
            writes = [a for a in actions if not a.split(":", 1)[1].startswith(READ_ONLY_VERBS)]
            if writes:
                raise ValueError(
                    f"permissions.py puts {', '.join(writes)} in scope {scope!r}, granted on '*': "
                    f"only {'/'.join(READ_ONLY_VERBS)} actions may be granted without a resource"
                )
        statements.append(_allow(scope, actions, by_scope[scope]))
    for scope, actions in RUNTIME_GRANTS.items():
        statements.append(_allow(scope, sorted(actions), by_scope[scope]))
    return {"Version": "2012-10-17", "Statement": statements}


def _allow(scope: str, actions: list[str], resources: list[str]) -> dict:
    return {
        "Sid": SIDS.get(scope, scope.title().replace("_", "")),
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    }


def lambda_trust_policy(*, account_id: str) -> dict:
    """Lambda may assume the role for this account's functions only (``aws:SourceAccount``). No
    ``aws:SourceArn``: Lambda's documentation does not say it sets one when it assumes an execution
    role, and a condition on a key that is absent would refuse every invocation."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }
