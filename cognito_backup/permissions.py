"""The AWS API calls the operator tooling makes (restore, recover, drill), and the IAM action each needs.

The same shape as the function's own list (``backup_lambda/permissions.py``): the bootstrap builds the
drill role's policy from it, and tests record the calls real runs make and check them against it.
"""

from __future__ import annotations

from backup_lambda.permissions import SNAPSHOT_COGNITO, Operation, named_actions, scoped_operations

# --- Restore, recover, drill: run by people (the restore runbook) and by the restore-drill workflow ---
#
# More scopes, for these roles only:
#
# - ``restored_pool``: the pools a restore creates or fills; their ids are not known in advance, so
#   ``arn:aws:cognito-idp:R:A:userpool/*``
# - ``account``: calls without a resource type (``*``): CreateUserPool, DescribeUserPoolDomain,
#   ListUserPools
# - ``bucket``: the backup bucket itself (``arn:aws:s3:::BUCKET``), for listing snapshots
# - ``import_role``: the stack's user-import logs role (output ``importRoleArn``), passed to Cognito
# - ``trigger_function``: the Lambda functions a snapshot's pool names as triggers (``restore --grant-triggers``
#   adds their permission for the new pool), e.g. ``arn:aws:lambda:R:A:function:<the application's prefix>*``

# What a restore calls on the pool it creates or fills (resume lists what is already there, and waits for an
# import job the run that stopped had started: ListUserImportJobs).
RESTORE_COGNITO = scoped_operations(
    "cognito-idp",
    "restored_pool",
    named_actions(
        "cognito-idp",
        [
            "DescribeUserPool",
            "UpdateUserPool",
            "AddCustomAttributes",
            "SetUserPoolMfaConfig",
            "ListResourceServers",
            "CreateResourceServer",
            "ListIdentityProviders",
            "CreateIdentityProvider",
            "ListUserPoolClients",
            "CreateUserPoolClient",
            "CreateUserPoolDomain",
            "SetUICustomization",
            "SetRiskConfiguration",
            "SetLogDeliveryConfiguration",
            "TagResource",
            "CreateManagedLoginBranding",
            "SetUserPoolSessionConfiguration",
            "SetUserPoolClientSessionConfiguration",
            "CreateTerms",
            "CreateCIMDPolicy",
            "ListGroups",
            "CreateGroup",
            "ListUsers",
            "ListUsersInGroup",
            "AdminCreateUser",
            "AdminGetUser",
            "AdminAddUserToGroup",
            "AdminDisableUser",
            "AdminSetUserMFAPreference",
            "AdminLinkProviderForUser",
            "GetCSVHeader",
            "CreateUserImportJob",
            "StartUserImportJob",
            "DescribeUserImportJob",
            "ListUserImportJobs",
        ],
    ),
)
# ListUserPools: before creating a pool, the restore looks for one of the same name (left by a run that lost
# CreateUserPool's answer), and after a lost answer, whether the pool was created. IAM cannot scope it to a pool.
RESTORE_ACCOUNT = scoped_operations("cognito-idp", "account",
                       named_actions("cognito-idp", ["CreateUserPool", "DescribeUserPoolDomain", "ListUserPools"]))
# Whether the snapshot's own pool still exists (then native recovery may serve better).
RESTORE_SOURCE_POOL = scoped_operations("cognito-idp", "pool", named_actions("cognito-idp", ["DescribeUserPool"]))
# CreateUserImportJob hands Cognito the import logs role.
RESTORE_PASS_ROLE = [Operation("cognito-idp", "CreateUserImportJob", "iam:PassRole", "import_role")]
# Reading a snapshot and its manifest (HeadObject is authorised by s3:GetObject), and listing them.
SNAPSHOT_READ_S3 = scoped_operations("s3", "snapshots", [("GetObject", "s3:GetObject"), ("HeadObject", "s3:GetObject")])
SNAPSHOT_LIST_S3 = scoped_operations("s3", "bucket", [("ListObjectsV2", "s3:ListBucket")])
# S3 decrypts the SSE-KMS snapshot objects on the reader's behalf.
SNAPSHOT_READ_KMS = scoped_operations("kms", "kms_key", [("Decrypt", "kms:Decrypt")])
# The manifest's signature is checked by KMS with the stack's signing key (cognito_backup/signatures.py).
SNAPSHOT_VERIFY_KMS = scoped_operations("kms", "signing_key", [("Verify", "kms:Verify")])

# `restore --check` snapshots the pool it restored (to a local folder) and compares: the snapshot's reads.
RESTORE_CHECK = [Operation(op.service, op.api, op.action, "restored_pool") for op in SNAPSHOT_COGNITO
                 if op.scope == "pool"]

# `restore --grant-triggers`: each trigger function's resource policy read, and the new pool's permission added.
RESTORE_GRANT_TRIGGERS = scoped_operations(
    "lambda", "trigger_function", [("GetPolicy", "lambda:GetPolicy"), ("AddPermission", "lambda:AddPermission")])
# Attaching the triggers (UpdateUserPool): a restore without triggers (the drill's) never makes these calls.
RESTORE_TRIGGER_CALLS = {("cognito-idp", "UpdateUserPool")} | {(op.service, op.api) for op in RESTORE_GRANT_TRIGGERS}

# sts:GetCallerIdentity names the account a restore writes into (restore/foreign.py, the foreign-ARN check). AWS
# answers it for every principal whatever the policies say (an explicit deny does not stop it): no role lists it.
NO_PERMISSION_NEEDED = frozenset({("sts", "GetCallerIdentity")})

RESTORE_OPERATIONS: list[Operation] = (
    RESTORE_COGNITO + RESTORE_ACCOUNT + RESTORE_SOURCE_POOL + RESTORE_PASS_ROLE + SNAPSHOT_READ_S3
    + SNAPSHOT_LIST_S3 + SNAPSHOT_READ_KMS + SNAPSHOT_VERIFY_KMS + RESTORE_CHECK + RESTORE_GRANT_TRIGGERS
)

# `recover`: native point-in-time recovery of an existing pool of the stack.
RECOVER_OPERATIONS = scoped_operations(
    "cognito-idp",
    "pool",
    named_actions(
        "cognito-idp",
        [
            "InitiatePointInTimeRecovery",
            "DescribePointInTimeRecovery",
            "StartPointInTimeRecovery",
            "CancelPointInTimeRecovery",
        ],
    ),
)

# The drill: a restore into a scratch pool without triggers (so none of RESTORE_TRIGGER_CALLS), a snapshot of
# that pool (written to a local directory, never to the bucket), and the scratch pool's deletion.
DRILL_OPERATIONS: list[Operation] = (
    [op for op in RESTORE_OPERATIONS if (op.service, op.api) not in RESTORE_TRIGGER_CALLS]
    + scoped_operations("cognito-idp", "restored_pool",
                        named_actions("cognito-idp", ["DeleteUserPool", "DeleteUserPoolDomain"]))
)
