"""The stack's signing key, in moto: an asymmetric ECC_NIST_P256 key for SIGN_VERIFY (moto implements
Sign, Verify and GetPublicKey for it), and a checkpoint re-signed as someone who held that key would."""

from __future__ import annotations

import json
from typing import Any

from backup_lambda.aws import make_client
from backup_lambda.signing import SIGNATURE_FIELD, Signer


def make_signing_key() -> str:
    """A new signing key's ARN (inside ``mock_aws``)."""
    kms = make_client("kms")
    return kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                          Description="cognito-backup test signing key")["KeyMetadata"]["Arn"]


def signer_for(key_arn: str) -> Signer:
    return Signer(make_client("kms"), key_arn)


def resign_checkpoint(s3, bucket: str, key: str, key_arn: str, data: dict[str, Any]) -> None:
    """Write ``data`` as the checkpoint at ``key``, signed with the signing key (an attacker who holds it)."""
    body = {k: v for k, v in data.items() if k != SIGNATURE_FIELD}
    sealed = signer_for(key_arn).seal_checkpoint(key, body)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(sealed).encode())
