"""The function signs each manifest with the stack's signing key, over its canonical bytes (which hold
the object's sha256, key, bytes, counts and pool), and writes it only where none exists (If-None-Match)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from backup_lambda.aws import make_client
from backup_lambda.signing import canonical_bytes
from backup_lambda.snapshot import take_snapshot
from demo.sample_pool import build_pool
from tests.engine.test_snapshot import NOW
from tests.support.signing import signer_for


@pytest.fixture
def signed(cognito, s3, bucket, signing_key):
    sample = build_pool(cognito, "signed", users=12, unconfirmed=0, with_config=False)
    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                           signer=signer_for(signing_key))
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())
    return result, manifest


def test_the_manifest_is_signed_over_its_canonical_bytes_and_the_public_key_verifies_it(signed, signing_key):
    result, manifest = signed
    signature = manifest["signature"]
    assert signature["algorithm"] == "ECDSA_SHA_256" and signature["key_id"] == signing_key
    body = canonical_bytes(manifest)
    for field in ("sha256", "snapshot_key", "bytes", "users", "groups", "memberships", "user_pool_id", "pool_name"):
        assert f'"{field}":'.encode() in body
    assert manifest["sha256"] == result.sha256
    public = load_der_public_key(make_client("kms").get_public_key(KeyId=signing_key)["PublicKey"])
    public.verify(base64.b64decode(signature["value"]), body, ec.ECDSA(hashes.SHA256()))  # raises if not


def test_the_signature_covers_every_field_of_the_manifest(signed, signing_key):
    _, manifest = signed
    kms = make_client("kms")
    value = base64.b64decode(manifest["signature"]["value"])
    assert kms.verify(KeyId=signing_key, Message=canonical_bytes(manifest), MessageType="RAW", Signature=value,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    for field in manifest:
        if field == "signature":
            continue
        changed = {**manifest, field: "changed"}
        assert kms.verify(KeyId=signing_key, Message=canonical_bytes(changed), MessageType="RAW", Signature=value,
                          SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is False, field


def test_the_manifest_is_written_only_where_none_exists_and_a_retry_keeps_the_first(cognito, s3, bucket,
                                                                                   signing_key, monkeypatch):
    """PutObject carries If-None-Match: * (the bucket policy refuses the backup role any other); a retried
    request that meets the manifest its first attempt wrote (412) keeps it."""
    sent = []
    sample = build_pool(cognito, "retried", users=3, unconfirmed=0, with_config=False)

    def first_attempt_lost(params, model, **_):
        sent.append(params["headers"].get("If-None-Match"))
        if params["url_path"].endswith(".manifest.json") and len(sent) == 1:
            # the first attempt landed, its answer was lost: botocore sends the request again
            s3.put_object(Bucket=bucket, Key=params["url_path"][1:], Body=b"first")

    s3.meta.events.register("before-call.s3.PutObject", first_attempt_lost)
    result = take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, now=NOW, request_budget=30,
                           signer=signer_for(signing_key))

    assert s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read() == b"first"
    assert sent[0] == "*"
