"""The drill role (``restore-drill.yml``, the default branch): what ``cognito_backup/permissions.py``
lists for the drill, scope by scope, plus reading the state; never a write to the stacks' own pools."""

from __future__ import annotations

from backup_lambda.permissions import Operation, actions_for
from backup_lambda.validation import pool_region
from bootstrap.account_settings import Settings
from bootstrap.snapshot_role import SNAPSHOT_BUCKETS
from bootstrap.state_backend import state_statements
from bootstrap.statements import allow
from cognito_backup.permissions import DRILL_OPERATIONS
from infra import names
from infra.names import ANY_STACK, autoname_pattern


def drill_scopes(settings: Settings) -> dict[str, tuple[list[str], dict | None]]:
    """What each scope of ``permissions.py``'s drill operations means here: (resources, condition)."""
    iam = f"arn:{settings.partition}:iam::{settings.account_id}"
    buckets = [f"arn:{settings.partition}:s3:::{name}" for name in SNAPSHOT_BUCKETS]
    pools = [settings.arn("cognito-idp", "userpool/*")]
    return {
        "restored_pool": (pools, None),  # a scratch pool's id is known only once it exists
        "pool": (pools, None),
        "account": (["*"], None),  # CreateUserPool, DescribeUserPoolDomain have no resource
        "import_role": ([f"{iam}:role/{autoname_pattern(names.role(names.USER_IMPORT_LOGS_ROLE))}",
                         f"{iam}:role/{ANY_STACK.prefix}"],
                        {"StringEquals": {"iam:PassedToService": "cognito-idp.amazonaws.com"}}),
        "snapshots": ([f"{b}/*" for b in buckets], None),
        "bucket": (buckets, None),
        "kms_key": ([settings.arn("kms", "key/*")], {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
    }


READ_VERBS = ("Describe", "Get", "List", "AdminGet")


def drill_policy(settings: Settings, operations: list[Operation] = DRILL_OPERATIONS) -> dict:
    scopes = drill_scopes(settings)
    statements = []
    for scope in dict.fromkeys(op.scope for op in operations):  # in permissions.py's order
        if scope not in scopes:
            raise ValueError(f"permissions.py's drill has scope {scope!r}, which bootstrap/ci_access.py does "
                             "not map to a resource; add it to drill_scopes")
        resources, condition = scopes[scope]
        sid = "Drill" + "".join(part.title() for part in scope.split("_"))
        statements.append(allow(sid, actions_for(scope, operations), resources, condition))
    writes = sorted({op.action for op in operations if op.service == "cognito-idp"
                     and not op.action.split(":", 1)[1].startswith(READ_VERBS)})
    if settings.stack_pool_ids:
        statements.append({
            "Sid": "DenyWritingTheStacksPools",
            "Effect": "Deny",
            "Action": writes,
            "Resource": sorted(f"arn:{settings.partition}:cognito-idp:{pool_region(pool_id)}:"
                               f"{settings.account_id}:userpool/{pool_id}" for pool_id in settings.stack_pool_ids),
        })
    statements += state_statements(settings.state, write="none")
    return {"Version": "2012-10-17", "Statement": statements}
