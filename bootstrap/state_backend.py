"""The self-managed Pulumi backend: the state bucket and the secrets provider's KMS key, their policies
and names, and what each CI role may do with them."""

from __future__ import annotations

from bootstrap.account_settings import Settings, StateBackend
from bootstrap.statements import allow

# What the roles do with the state key and bucket; deploy is denied everything else on them.
STATE_KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey"]
STATE_OBJECT_USE = ["s3:DeleteObject", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]

# The main program's Pulumi project (its Pulumi.yaml): the self-managed backend keeps its files under
# .pulumi/ (pkg/backend/diy of the Pulumi CLI): the backend's version in meta.yaml, a stack's state
# in stacks/<project>/<stack>.json (.gz, .zst), its history, backups and update journal in
# history|backups|journal/<project>/<stack>/, and its lock in locks/organization/<project>/<stack>/.
PROJECT = "cognito-backup"
WRITE_LEVELS = ("none", "locks", "all")


def state_paths(stacks: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """The backend's objects of the program, by use: of the given stacks, or of every stack of the
    project (``None``)."""
    named = [f"{stack}" for stack in stacks] if stacks is not None else ["*"]
    return {
        "meta": [".pulumi/meta.yaml"],
        "state": [f".pulumi/stacks/{PROJECT}/{stack}.json*" for stack in named],
        "locks": [f".pulumi/locks/organization/{PROJECT}/{stack}/*" for stack in named],
    }


def state_statements(state: StateBackend | None, *, write: str, stacks: tuple[str, ...] | None = None) -> list[dict]:
    """What a role may do with the self-managed backend: read the state of ``stacks`` (every stack of
    the project when None) and the locks (``pulumi`` looks for other runs' locks), and ``write``:
    "none", "locks" (``pulumi preview`` takes and removes its stack's lock) or "all" (``pulumi up``).

    The state key: S3 decrypts the objects with it on the role's behalf (``kms:ViaService``), and
    writes need a data key for SSE-KMS. Pulumi itself decrypts one thing with the key directly: the
    stack's data key (``encryptedkey`` in ``Pulumi.<stack>.yaml``, the awskms:// secrets provider),
    which it does when it loads the stack, so every role that reads a stack needs it. Pulumi encrypts
    it without an encryption context, and S3 always sends one (``aws:s3:arn``): direct decryption is
    limited to ciphertexts without a context, so no role can decrypt an object's data key it got hold
    of outside S3.
    """
    if write not in WRITE_LEVELS:
        raise ValueError(f"write must be one of {', '.join(WRITE_LEVELS)}, not {write!r}")
    if state is None:
        return []
    bucket = state.bucket_arn
    paths = state_paths(stacks)
    statements = [
        # Listing shows object names only (stacks, lock and history files), never their contents.
        allow("ListPulumiState", ["s3:ListBucket", "s3:GetBucketLocation"], bucket),
    ]
    if write == "all":
        # `pulumi up` reads and writes the whole bookkeeping directory (state, history, backups,
        # journal, locks) of the backend, a bucket the bootstrap made for this program alone.
        statements.append(allow("UsePulumiState", ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                                f"{bucket}/.pulumi/*"))
    else:
        readable = paths["meta"] + paths["state"] + paths["locks"]
        statements.append(allow("ReadPulumiState", ["s3:GetObject"], [f"{bucket}/{p}" for p in readable]))
    via_s3 = {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    key_via_s3 = ["kms:Decrypt"]
    if write == "locks":
        statements.append(allow("WritePulumiLocks", ["s3:PutObject", "s3:DeleteObject"],
                                [f"{bucket}/{p}" for p in paths["locks"]]))
        key_via_s3.append("kms:GenerateDataKey")
    elif write == "all":
        key_via_s3.append("kms:GenerateDataKey")
    statements += [
        allow("UseStateKeyThroughS3", key_via_s3, state.key_arn, via_s3),
        allow("DecryptStackDataKeys", ["kms:Decrypt"], state.key_arn,
              {"Null": {"kms:ViaService": "true", "kms:EncryptionContextKeys": "true"}}),
    ]
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
