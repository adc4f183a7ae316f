"""Authentic snapshots, evaluated on the generated policies: only the backup role may Sign with the signing
key (readers Verify and read the public key); the backup role cannot overwrite or re-tag a snapshot or a
manifest (the bucket policy's conditions on ``s3:if-none-match`` and ``s3:ExistingObjectTag/retention``)."""

from __future__ import annotations

import pytest

from infra.policies.signing import signing_key_policy
from tests.security.test_least_privilege import (  # noqa: F401 - recording: a fixture
    ACCOUNT,
    BUCKET,
    PREFIX,
    READER_ARN,
    ROLE_ARN,
    bucket_policy,
    decision,
    recording,
    role_policy,
)

SIGNING_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/5190abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ECDSA = {"kms:SigningAlgorithm": "ECDSA_SHA_256"}


def kms_decision(policy: dict, action: str, who: str, algorithm: str = "ECDSA_SHA_256") -> str:
    """As KMS evaluates a request: aws:PrincipalArn is always in its context."""
    return decision(policy, action, SIGNING_KEY, who, {"kms:SigningAlgorithm": algorithm, "aws:PrincipalArn": who})


def key_policy() -> dict:
    return signing_key_policy(partition="aws", account_id=ACCOUNT, signer_role_arn=ROLE_ARN, readers=[READER_ARN])


def test_only_the_backup_role_may_sign_and_readers_may_verify():
    policy = key_policy()

    assert kms_decision(policy, "kms:Sign", ROLE_ARN) == "Allow"
    assert kms_decision(policy, "kms:Verify", ROLE_ARN) == "Allow"
    for who in (READER_ARN, OTHER_ROLE, ROOT):
        assert kms_decision(policy, "kms:Sign", who) == "Deny", who
    for action in ("kms:Verify", "kms:GetPublicKey"):
        assert kms_decision(policy, action, READER_ARN) == "Allow", action
        assert kms_decision(policy, action, OTHER_ROLE) != "Allow", action


def test_the_backup_role_signs_with_ecdsa_only_and_administrators_cannot_grant_themselves_signing():
    policy = key_policy()

    assert kms_decision(policy, "kms:Sign", ROLE_ARN, "RSASSA_PSS_SHA_256") != "Allow"
    for action in ("kms:CreateGrant", "kms:Sign", "kms:Decrypt", "kms:Encrypt"):
        assert kms_decision(policy, action, ROOT) != "Allow", action


def test_the_role_signs_only_with_the_signing_key(recording):  # noqa: F811
    policy = role_policy(recording)
    signing = [c for c in recording.calls if c.service == "kms"]

    assert {c.operation for c in signing} == {"Sign", "Verify"}
    assert {c.params["KeyId"] for c in signing} == {recording.signing_arn}
    for action in ("kms:Sign", "kms:Verify"):
        assert decision(policy, action, recording.signing_arn) == "Allow"
        assert decision(policy, action, recording.key_arn) != "Allow"
        assert decision(policy, action, SIGNING_KEY) != "Allow"
    assert decision(policy, "kms:GetPublicKey", recording.signing_arn) != "Allow"


def test_every_snapshot_and_manifest_the_function_creates_says_if_none_match(recording):  # noqa: F811
    created = [c for c in recording.calls if c.operation in ("PutObject", "CompleteMultipartUpload")
               and ".checkpoints/" not in c.params["Key"]]

    assert {c.operation for c in created} == {"PutObject", "CompleteMultipartUpload"}
    assert all(c.params.get("IfNoneMatch") == "*" for c in created), [c.params for c in created]


SNAPSHOT = f"arn:aws:s3:::{BUCKET}/{PREFIX}2026/11/24/prod_20261124_010003.json"
MANIFEST = SNAPSHOT.replace(".json", ".manifest.json")
CHECKPOINT = f"arn:aws:s3:::{BUCKET}/{PREFIX}.checkpoints/prod_20261124_010003.json"
TLS = {"aws:SecureTransport": "true", "aws:PrincipalArn": ROLE_ARN}


@pytest.mark.parametrize("target", [SNAPSHOT, MANIFEST])
@pytest.mark.parametrize("operation", ["PutObject", "CompleteMultipartUpload"])
def test_the_backup_role_cannot_create_a_snapshot_or_manifest_without_if_none_match(recording, target,  # noqa: F811
                                                                                    operation):
    policy = bucket_policy(recording)
    creation = {**TLS, "s3:ObjectCreationOperation": "true"}

    assert decision(policy, "s3:PutObject", target, ROLE_ARN, creation) == "Deny", operation
    assert decision(policy, "s3:PutObject", target, ROLE_ARN, {**creation, "s3:if-none-match": "*"}) != "Deny"


def test_the_multipart_steps_that_take_no_condition_and_the_checkpoints_stay_writable(recording):  # noqa: F811
    policy = bucket_policy(recording)

    for step in ("CreateMultipartUpload", "UploadPart"):  # s3:ObjectCreationOperation is false for them
        assert decision(policy, "s3:PutObject", SNAPSHOT, ROLE_ARN,
                        {**TLS, "s3:ObjectCreationOperation": "false"}) != "Deny", step
    assert decision(policy, "s3:PutObject", CHECKPOINT, ROLE_ARN, {**TLS, "s3:ObjectCreationOperation": "true"}) \
        != "Deny"


@pytest.mark.parametrize("target", [SNAPSHOT, MANIFEST])
def test_the_backup_role_cannot_retag_an_existing_snapshot_or_manifest(recording, target):  # noqa: F811
    policy = bucket_policy(recording)
    existing = {**TLS, "s3:ExistingObjectTag/retention": "daily"}

    assert decision(policy, "s3:PutObjectTagging", target, ROLE_ARN, existing) == "Deny"
    # tags given when the object is created (no object yet: no existing tag) are not refused
    assert decision(policy, "s3:PutObjectTagging", target, ROLE_ARN, TLS) != "Deny"


def test_the_conditions_bind_the_backup_role_only(recording):  # noqa: F811
    """Administrators (who may restore an object, or fix a tag) are not the backup role."""
    policy = bucket_policy(recording)
    admin = {"aws:SecureTransport": "true", "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/admin",
             "s3:ObjectCreationOperation": "true", "s3:ExistingObjectTag/retention": "daily"}

    assert decision(policy, "s3:PutObject", SNAPSHOT, admin["aws:PrincipalArn"], admin) != "Deny"
    assert decision(policy, "s3:PutObjectTagging", SNAPSHOT, admin["aws:PrincipalArn"], admin) != "Deny"
