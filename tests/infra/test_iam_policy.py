"""Least privilege, proven by evaluating the policies rather than by reading them.

The backup role's policy is built by scope from ``backup_lambda/permissions.py``; the tests' IAM
evaluator (``tests/support/iam.py``: Allow/Deny, Action/NotAction, Resource/NotResource, Principal and
the condition operators these policies use) checks that every operation of the list is allowed on the
right resource and that nothing else is. The bucket and key policies are evaluated the same way.
"""

from __future__ import annotations

from datetime import datetime, timezone

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_lambda.checkpoint import checkpoint_key
from backup_lambda.permissions import BACKUP_ROLE_OPERATIONS, Operation, actions_for
from backup_lambda.snapshot_format import manifest_key, snapshot_key
from infra.policies.backup_role import RUNTIME_GRANTS, BackupRoleResources, backup_role_policy
from infra.policies.storage import KEY_ADMIN_ACTIONS, KeyGrant, key_policy, snapshot_bucket_policy
from tests.support.iam import allowed, as_list, decision, wildcard_match

ACCOUNT = "123456789012"
BUCKET = "cognito-backup-snapshots-a1b2c3d"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SIGNING_KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/5190abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-prod"
LOG_GROUP_ARN = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-prod"
QUEUE_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:backup-failures-7f3e2a1"
POOLS = ("eu-west-1_AbCd12345", "eu-west-1_EfGh67890")
POOL_ARNS = tuple(f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{p}" for p in POOLS)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/backup-role-5d1c9e0"
READER_ARN = f"arn:aws:iam::{ACCOUNT}:role/cognito-backup-restore"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
TAKEN = datetime(2026, 11, 26, 1, 0, 3, tzinfo=timezone.utc)


# --- the backup role ------------------------------------------------------------------------------

def resources(prefix: str = "cognito/") -> BackupRoleResources:
    return BackupRoleResources(
        pool_arns=POOL_ARNS,
        bucket_arn=BUCKET_ARN,
        snapshot_prefix=prefix,
        kms_key_arn=KEY_ARN,
        signing_key_arn=SIGNING_KEY_ARN,
        function_arn=FUNCTION_ARN,
        log_group_arn=LOG_GROUP_ARN,
        failure_queue_arn=QUEUE_ARN,
    )


def object_arn(key: str) -> str:
    return f"{BUCKET_ARN}/{key}"


def resources_of_scope(scope: str, prefix: str) -> list[str]:
    """Concrete resources a real run touches, for each scope of permissions.py."""
    snapshot = snapshot_key(prefix, "prod-users", TAKEN)
    return {
        "pool": list(POOL_ARNS),
        "snapshots": [object_arn(snapshot), object_arn(manifest_key(snapshot))],
        "checkpoints": [object_arn(checkpoint_key(snapshot_key(prefix, "prod-users", TAKEN), prefix))],
        "kms_key": [KEY_ARN],
        "signing_key": [SIGNING_KEY_ARN],
        "self_function": [FUNCTION_ARN],
        "account": ["*"],  # actions without a resource type are evaluated against "*"
    }[scope]


PREFIXES = pytest.mark.parametrize("prefix", ["", "cognito/"])


@PREFIXES
def test_every_operation_of_permissions_py_is_allowed_on_its_resource(prefix):
    policy = backup_role_policy(resources(prefix))

    for op in BACKUP_ROLE_OPERATIONS:
        for resource in resources_of_scope(op.scope, prefix):
            assert allowed(policy, op.action, resource), f"{op} is not allowed on {resource}"


def test_the_lambda_service_can_write_logs_and_failed_events_with_the_role():
    policy = backup_role_policy(resources())

    assert allowed(policy, "logs:CreateLogStream", LOG_GROUP_ARN)
    assert allowed(policy, "logs:PutLogEvents", f"{LOG_GROUP_ARN}:log-stream:2026/11/26/[$LATEST]0123abcd")
    assert allowed(policy, "sqs:SendMessage", QUEUE_ARN)


@PREFIXES
def test_no_statement_has_a_wildcard_resource_or_action(prefix):
    policy = backup_role_policy(resources(prefix))

    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        for action in as_list(statement["Action"]):
            assert "*" not in action and "?" not in action, statement
        if statement["Resource"] == ["*"]:
            # Only what permissions.py lists as having no resource type, and only reads.
            assert statement["Sid"] == "CallsWithoutResourceType"
            assert statement["Action"] == actions_for("account")
            continue
        for resource in as_list(statement["Resource"]):
            assert resource != "*" and not resource.endswith(":*:*"), statement
            assert "*" not in resource.split(":::", 1)[-1].split("/", 1)[0], f"wildcard bucket in {resource}"
        if any(a.startswith(("cognito-idp:", "kms:", "lambda:", "sqs:")) for a in statement["Action"]):
            assert all("*" not in r for r in statement["Resource"]), statement


def test_actions_without_a_resource_type_get_their_own_read_only_statement():
    describe_domain = Operation("cognito-idp", "DescribeUserPoolDomain", "cognito-idp:DescribeUserPoolDomain",
                                "account")
    operations = [op for op in BACKUP_ROLE_OPERATIONS if op.api != "DescribeUserPoolDomain"] + [describe_domain]

    policy = backup_role_policy(resources(), operations)

    unscoped = [s for s in policy["Statement"] if s["Resource"] == ["*"]]
    assert unscoped == [{"Sid": "CallsWithoutResourceType", "Effect": "Allow",
                         "Action": ["cognito-idp:DescribeUserPoolDomain"], "Resource": ["*"]}]
    assert allowed(policy, "cognito-idp:DescribeUserPoolDomain", "*")
    assert not allowed(policy, "cognito-idp:ListUsers", OTHER_POOL)
    with pytest.raises(ValueError, match="cognito-idp:DeleteUserPoolDomain"):
        backup_role_policy(resources(), [*operations, Operation(
            "cognito-idp", "DeleteUserPoolDomain", "cognito-idp:DeleteUserPoolDomain", "account")])


@PREFIXES
def test_the_policy_grants_exactly_the_scopes_of_permissions_py_and_the_runtime_grants(prefix):
    res = resources(prefix)
    by_scope = res.by_scope()
    expected = {
        (action, resource)
        for scope in {op.scope for op in BACKUP_ROLE_OPERATIONS}
        for action in actions_for(scope)
        for resource in by_scope[scope]
    } | {
        (action, resource)
        for scope, actions in RUNTIME_GRANTS.items()
        for action in actions
        for resource in by_scope[scope]
    }

    granted = {
        (action, resource)
        for statement in backup_role_policy(res)["Statement"]
        for action in statement["Action"]
        for resource in statement["Resource"]
    }

    assert granted == expected


SNAPSHOT = object_arn(snapshot_key("cognito/", "prod-users", TAKEN))
OTHER_POOL = f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/eu-west-1_Zz9Yy8Xx7"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("cognito-idp:AdminDeleteUser", POOL_ARNS[0]),
        ("cognito-idp:AdminCreateUser", POOL_ARNS[0]),
        ("cognito-idp:AdminSetUserPassword", POOL_ARNS[0]),
        ("cognito-idp:DeleteUserPool", POOL_ARNS[0]),
        ("cognito-idp:UpdateUserPool", POOL_ARNS[1]),
        ("cognito-idp:CreateUserImportJob", POOL_ARNS[0]),
        ("cognito-idp:ListUsers", OTHER_POOL),
        ("cognito-idp:DescribeUserPool", f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/*"),
        ("cognito-idp:ListUsers", "*"),
        ("s3:GetObject", SNAPSHOT),
        ("s3:GetObjectVersion", SNAPSHOT),
        ("s3:DeleteObject", SNAPSHOT),
        ("s3:DeleteObjectVersion", SNAPSHOT),
        ("s3:PutObjectAcl", SNAPSHOT),
        ("s3:PutObjectRetention", SNAPSHOT),
        ("s3:BypassGovernanceRetention", SNAPSHOT),
        ("s3:PutObject", object_arn("elsewhere/x.json")),
        ("s3:PutObject", "arn:aws:s3:::another-bucket/cognito/x.json"),
        ("s3:ListBucket", BUCKET_ARN),
        ("s3:PutBucketPolicy", BUCKET_ARN),
        ("s3:PutLifecycleConfiguration", BUCKET_ARN),
        ("s3:GetObject", object_arn(".checkpoints/prod-users.json")),  # outside the prefix
        ("kms:Decrypt", OTHER_KEY_ARN),
        ("kms:Encrypt", KEY_ARN),
        ("kms:ScheduleKeyDeletion", KEY_ARN),
        ("kms:PutKeyPolicy", KEY_ARN),
        ("kms:CreateGrant", KEY_ARN),
        ("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:something-else"),
        ("lambda:UpdateFunctionCode", FUNCTION_ARN),
        ("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/other:log-stream:x"),
        ("logs:DeleteLogGroup", LOG_GROUP_ARN),
        ("sqs:ReceiveMessage", QUEUE_ARN),
        ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:other-queue"),
        ("iam:PassRole", ROLE_ARN),
        ("sts:AssumeRole", ROLE_ARN),
    ],
)
def test_nothing_outside_the_list_is_allowed(action, resource):
    assert not allowed(backup_role_policy(resources("cognito/")), action, resource)


def _operation_names(service: str) -> list[str]:
    return list(botocore.session.get_session().get_service_model(service).operation_names)


@given(operation=st.sampled_from(_operation_names("cognito-idp")), pool=st.sampled_from(POOL_ARNS))
def test_a_cognito_operation_is_allowed_exactly_when_permissions_py_lists_it(operation, pool):
    action = f"cognito-idp:{operation}"

    expected = action in actions_for("pool") or action in actions_for("account")

    assert allowed(backup_role_policy(resources()), action, pool) == expected


@given(operation=st.sampled_from(_operation_names("s3")), key=st.sampled_from([SNAPSHOT, object_arn("cognito/x")]))
def test_an_s3_action_on_snapshot_keys_is_allowed_exactly_when_permissions_py_lists_it(operation, key):
    action = f"s3:{operation}"

    assert allowed(backup_role_policy(resources()), action, key) == (action in actions_for("snapshots"))


@given(suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1,
                      max_size=12),
       region=st.sampled_from(["eu-west-1", "us-east-1"]))
def test_pools_not_listed_are_not_readable(suffix, region):
    pool_id = f"{region}_{suffix}"
    arn = f"arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{pool_id}"

    assert allowed(backup_role_policy(resources()), "cognito-idp:ListUsers", arn) == (arn in POOL_ARNS)


def test_a_scope_the_infrastructure_does_not_map_is_refused_by_name():
    operations = [*BACKUP_ROLE_OPERATIONS, Operation("dynamodb", "PutItem", "dynamodb:PutItem", "audit_table")]

    with pytest.raises(ValueError, match="'audit_table'"):
        backup_role_policy(resources(), operations)


# --- the bucket policy ----------------------------------------------------------------------------

def bucket_policy(writer: str | None = ROLE_ARN) -> dict:
    return snapshot_bucket_policy(
        bucket_arn=BUCKET_ARN, kms_key_arn=KEY_ARN, readers=[READER_ARN], writer_role_arn=writer,
        snapshot_prefix="cognito/",
    )


def bucket_decision(action: str, resource: str, principal: str, writer: str | None = ROLE_ARN, **context: str):
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": principal, **context}
    return decision(bucket_policy(writer), action=action, resource=resource, principal=principal, context=context)


CHECKPOINT = object_arn(checkpoint_key(snapshot_key("cognito/", "prod-users", TAKEN), "cognito/"))
KMS_UPLOAD = {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN}


def test_the_bucket_policy_allows_only_the_readers_and_only_to_list_and_read():
    allows = [s for s in bucket_policy()["Statement"] if s["Effect"] == "Allow"]

    assert len(allows) == 1
    assert allows[0]["Principal"] == {"AWS": [READER_ARN]}
    assert set(allows[0]["Action"]) == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion",
                                        "s3:GetObjectTagging", "s3:GetObjectVersionTagging"}
    assert bucket_decision("s3:GetObject", SNAPSHOT, READER_ARN) == "Allow"
    assert bucket_decision("s3:ListBucket", BUCKET_ARN, READER_ARN) == "Allow"
    assert bucket_decision("s3:PutObject", SNAPSHOT, READER_ARN, **KMS_UPLOAD) == "ImplicitDeny"
    assert bucket_decision("s3:DeleteObject", SNAPSHOT, READER_ARN) == "ImplicitDeny"


@pytest.mark.parametrize(
    ("principal", "resource", "denied"),
    [
        (READER_ARN, SNAPSHOT, False),
        (READER_ARN, CHECKPOINT, False),
        (ADMIN_ARN, SNAPSHOT, True),
        (ADMIN_ARN, CHECKPOINT, True),
        (ROLE_ARN, SNAPSHOT, True),
        (ROLE_ARN, object_arn(manifest_key(snapshot_key("cognito/", "prod-users", TAKEN))), True),
        (ROLE_ARN, CHECKPOINT, False),
        (ROLE_ARN, object_arn(".checkpoints/prod-users.json"), True),  # not under the prefix
    ],
)
@pytest.mark.parametrize("action", ["s3:GetObject", "s3:GetObjectVersion"])
def test_only_readers_read_snapshots_and_the_writer_only_its_checkpoints(principal, resource, denied, action):
    assert (bucket_decision(action, resource, principal) == "Deny") == denied


def test_without_a_writer_only_readers_read():
    assert bucket_decision("s3:GetObject", CHECKPOINT, ROLE_ARN, writer=None) == "Deny"
    assert bucket_decision("s3:GetObject", SNAPSHOT, READER_ARN, writer=None) != "Deny"


@pytest.mark.parametrize(
    ("headers", "denied"),
    [
        (KMS_UPLOAD, False),  # PutObject, CreateMultipartUpload
        ({}, False),  # UploadPart, CompleteMultipartUpload: no header, the bucket's default key applies
        ({"s3:x-amz-server-side-encryption": "aws:kms"}, True),  # S3 would use aws/s3, not the key
        ({"s3:x-amz-server-side-encryption": "AES256"}, True),
        ({"s3:x-amz-server-side-encryption": "aws:kms:dsse"}, True),
        ({**KMS_UPLOAD, "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY_ARN}, True),
        ({"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}, True),
    ],
)
def test_uploads_not_encrypted_with_the_key_are_denied(headers, denied):
    assert (bucket_decision("s3:PutObject", SNAPSHOT, ROLE_ARN, **headers) == "Deny") == denied


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:PutBucketPolicy"])
def test_requests_without_tls_are_denied(action):
    resource = BUCKET_ARN if action in ("s3:ListBucket", "s3:PutBucketPolicy") else SNAPSHOT

    assert bucket_decision(action, resource, READER_ARN, **{"aws:SecureTransport": "false", **KMS_UPLOAD}) == "Deny"


@pytest.mark.parametrize(
    "action",
    ["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration",
     "s3:PutEncryptionConfiguration", "s3:ListBucket", "s3:PutBucketVersioning"],
)
def test_the_account_administrator_is_not_locked_out_of_the_bucket(action):
    assert bucket_decision(action, BUCKET_ARN, ADMIN_ARN) != "Deny"


# --- the key policy -------------------------------------------------------------------------------

CRYPTO_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
                  "kms:ReEncryptFrom", "kms:ReEncryptTo"]


def snapshot_key_policy() -> dict:
    return key_policy(
        partition="aws",
        account_id=ACCOUNT,
        grants=[
            KeyGrant("BackupRoleUsesKey", [ROLE_ARN], actions_for("kms_key"), "eu-west-1"),
            KeyGrant("ReadersDecryptSnapshots", [READER_ARN], ["kms:Decrypt"], "eu-west-1"),
        ],
    )


def key_decision(principal: str, action: str, via: str | None = "s3.eu-west-1.amazonaws.com") -> str:
    context = {"kms:ViaService": via} if via else {}
    return decision(snapshot_key_policy(), action=action, resource=KEY_ARN, principal=principal, context=context)


@pytest.mark.parametrize("action", ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation",
                                    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:TagResource", "kms:CreateAlias"])
def test_the_account_administers_the_key(action):
    assert key_decision(f"arn:aws:iam::{ACCOUNT}:root", action, via=None) == "Allow"


@pytest.mark.parametrize("action", CRYPTO_ACTIONS)
def test_the_account_cannot_use_the_key_without_a_grant(action):
    assert key_decision(f"arn:aws:iam::{ACCOUNT}:root", action) == "ImplicitDeny"
    assert not any(wildcard_match(pattern, action, ignore_case=True) for pattern in KEY_ADMIN_ACTIONS)


GRANT_ACTIONS = ["kms:CreateGrant", "kms:RetireGrant", "kms:ReplicateKey", "kms:ImportKeyMaterial",
                 "kms:GetParametersForImport"]


@pytest.mark.parametrize("action", GRANT_ACTIONS)
def test_no_key_administrator_can_grant_itself_the_key(action):
    """kms:Create* used to be an administrator's action, and it includes kms:CreateGrant: an
    administrator could have granted itself Decrypt. Even an administrator whose IAM policy allows every
    action gets none of these from the key policy."""
    from tests.support.iam import request_decision

    administrator = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

    assert request_decision(action, KEY_ARN, principal=ADMIN_ARN, account=ACCOUNT, identity=[administrator],
                            key_policy=snapshot_key_policy()) == "ImplicitDeny"
    assert request_decision("kms:PutKeyPolicy", KEY_ARN, principal=ADMIN_ARN, account=ACCOUNT,
                            identity=[administrator], key_policy=snapshot_key_policy()) == "Allow"
    assert all("*" not in a for a in KEY_ADMIN_ACTIONS), "list the administrator's actions one by one"


@pytest.mark.parametrize("action", CRYPTO_ACTIONS)
def test_the_backup_role_uses_the_key_for_what_permissions_py_lists_and_only_through_s3(action):
    expected = "Allow" if action in actions_for("kms_key") else "ImplicitDeny"

    assert key_decision(ROLE_ARN, action) == expected
    assert key_decision(ROLE_ARN, action, via=None) == "ImplicitDeny"
    assert key_decision(ROLE_ARN, action, via="ec2.eu-west-1.amazonaws.com") == "ImplicitDeny"


@pytest.mark.parametrize("action", CRYPTO_ACTIONS)
def test_readers_only_decrypt_and_others_nothing(action):
    assert key_decision(READER_ARN, action) == ("Allow" if action == "kms:Decrypt" else "ImplicitDeny")
    assert key_decision(ADMIN_ARN, action) == "ImplicitDeny"


def test_the_key_policy_names_no_wildcard_principal():
    for statement in snapshot_key_policy()["Statement"]:
        assert statement["Principal"] != "*" and "*" not in as_list(statement["Principal"]["AWS"])
