"""The drill role (``restore-drill.yml``, the default branch): what ``cognito_backup/permissions.py``
lists for the drill, scope by scope, plus reading the state.

- It creates a user pool only tagged as a drill's scratch pool (``aws:RequestTag``: the drill's
  ``DRILL_SCRATCH_TAG``), and changes, reads back and deletes only pools that carry that tag
  (``aws:ResourceTag``); an explicit deny keeps every write off the stacks' own pools besides.
- It reads the stacks' own pools (the snapshot's source) and no other.
- It passes the stacks' user-import logs role, and only to Cognito.
- It reads the snapshot buckets (it is a snapshot reader) and decrypts through S3 with the program's
  keys only.
"""

from __future__ import annotations

from backup_lambda.permissions import Operation, actions_for
from bootstrap import program_resources as program
from bootstrap.account_settings import Settings
from bootstrap.state_backend import state_statements
from bootstrap.statements import allow
from cognito_backup.drill import DRILL_SCRATCH_TAG
from cognito_backup.permissions import DRILL_OPERATIONS
from infra import names

# The account-scope calls that create a pool: allowed only with the scratch tag in the request.
CREATES = ("cognito-idp:CreateUserPool",)
READ_VERBS = ("Describe", "Get", "List", "AdminGet")


def scratch_tag(kind: str) -> dict:
    """``aws:RequestTag`` (kind "Request") or ``aws:ResourceTag`` ("Resource") equals the scratch tag."""
    return {"StringEquals": {f"aws:{kind}Tag/{key}": value for key, value in DRILL_SCRATCH_TAG.items()}}


def drill_scopes(settings: Settings) -> dict[str, tuple[list[str], dict | None]]:
    """What each scope of ``permissions.py``'s drill operations means here: (resources, condition)."""
    buckets = program.snapshot_buckets(settings)
    return {
        # a scratch pool's id is known only once it exists: any pool, as long as it carries the tag
        "restored_pool": ([settings.arn("cognito-idp", "userpool/*")], scratch_tag("Resource")),
        "pool": (program.pools(settings), None),
        "account": (["*"], None),  # DescribeUserPoolDomain, ListUserPools have no resource
        "import_role": (program.role(settings, names.role(names.USER_IMPORT_LOGS_ROLE)),
                        {"StringEquals": {"iam:PassedToService": "cognito-idp.amazonaws.com"}}),
        "snapshots": (program.objects(buckets), program.this_account(settings)),
        "bucket": (buckets, program.this_account(settings)),
        "kms_key": (program.keys(settings),
                    {**program.tagged_keys(settings), "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}),
        "signing_key": (program.keys(settings), program.tagged_keys(settings)),  # kms:Verify of manifests
    }


def drill_policy(settings: Settings, operations: list[Operation] = DRILL_OPERATIONS) -> dict:
    scopes = drill_scopes(settings)
    statements = []
    for scope in dict.fromkeys(op.scope for op in operations):  # in permissions.py's order
        if scope not in scopes:
            raise ValueError(f"permissions.py's drill has scope {scope!r}, which bootstrap/drill_role.py does "
                             "not map to a resource; add it to drill_scopes")
        resources, condition = scopes[scope]
        if not resources:  # no stack lists a pool: nothing of this scope to grant
            continue
        actions = actions_for(scope, operations)
        sid = "Drill" + "".join(part.title() for part in scope.split("_"))
        if scope == "account":
            creates = [a for a in actions if a in CREATES]
            actions = [a for a in actions if a not in CREATES]
            if creates:
                statements.append(allow("DrillCreatesScratchPools", creates, "*", scratch_tag("Request")))
        if actions:
            statements.append(allow(sid, actions, resources, condition))
    writes = sorted({op.action for op in operations if op.service == "cognito-idp"
                     and not op.action.split(":", 1)[1].startswith(READ_VERBS)})
    if settings.stack_pool_ids:
        statements.append({
            "Sid": "DenyWritingTheStacksPools",
            "Effect": "Deny",
            "Action": writes,
            "Resource": program.pools(settings),
        })
    statements += state_statements(settings.state, write="none")
    return {"Version": "2012-10-17", "Statement": statements}
