"""The self-managed Pulumi backend: the state bucket and the secrets provider's KMS key, their policies
and names, and what each CI role may do with them."""

from __future__ import annotations

from bootstrap.account_settings import Settings, StateBackend
from bootstrap.statements import allow

# What the roles do with the state key and bucket; deploy is denied everything else on them.
STATE_KEY_USE = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
STATE_OBJECT_USE = ["s3:DeleteObject", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]


def state_statements(state: StateBackend | None, *, write: str) -> list[dict]:
    """The self-managed backend: read the state; ``write`` is "none", "locks" or "all"."""
    if state is None:
        return []
    statements = [
        allow("ListPulumiState", ["s3:ListBucket", "s3:GetBucketLocation"], state.bucket_arn),
        allow("ReadPulumiState", ["s3:GetObject"], f"{state.bucket_arn}/*"),
    ]
    key_actions = ["kms:Decrypt", "kms:DescribeKey"]
    if write == "locks":
        # `pulumi preview` takes the stack's lock: a file under .pulumi/locks/, deleted afterwards.
        statements.append(allow("WritePulumiLocks", ["s3:PutObject", "s3:DeleteObject"],
                                 f"{state.bucket_arn}/.pulumi/locks/*"))
        key_actions.append("kms:GenerateDataKey")
    elif write == "all":
        statements.append(allow("WritePulumiState", ["s3:PutObject", "s3:DeleteObject"], f"{state.bucket_arn}/*"))
        key_actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    elif write != "none":
        raise ValueError(f"write must be none, locks or all, not {write!r}")
    # The key encrypts the state objects (SSE-KMS) and is the stacks' secrets provider (awskms://).
    statements.append(allow("UsePulumiSecretsKey", key_actions, state.key_arn))
    return statements


def state_bucket_name(settings: Settings) -> str:
    """Outside the program's name pattern (``<prefix>-*``), so deploy's bucket grants miss it."""
    return f"pulumi-state-{settings.account_id}-{settings.resource_prefix}"


def state_key_alias(settings: Settings) -> str:
    return f"alias/pulumi-state-{settings.resource_prefix}"


def state_bucket_policy(bucket_arn: str) -> dict:
    """TLS only: the state holds the stacks' resource graph."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def state_key_policy(*, partition: str, account_id: str) -> dict:
    """The account administers and uses the key through IAM: the roles' policies say who may."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountUsesKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def backend_url(bucket: str, region: str) -> str:
    return f"s3://{bucket}?region={region}&awssdk=v2"


def secrets_provider(alias: str, region: str) -> str:
    return f"awskms://{alias}?region={region}"
