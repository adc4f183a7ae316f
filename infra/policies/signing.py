"""The signing key's policy (``backup_lambda/signing.py`` says what it signs): a pure function of
plain strings, declared by ``SnapshotStorage`` (``infra/storage.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from infra.policies.storage import account_administers_key

# The signing key: ECDSA P-256 for signing and verifying (backup_lambda/signing.py); the algorithm its users
# may ask for.
SIGNING_KEY_SPEC = "ECC_NIST_P256"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
SIGNER_ACTIONS = ["kms:Sign", "kms:Verify"]
VERIFIER_ACTIONS = ["kms:GetPublicKey", "kms:Verify"]


def signing_key_policy(*, partition: str, account_id: str, signer_role_arn: str, readers: Sequence[str]) -> dict:
    """The signing key's policy: the account administers it; only the backup role may Sign (and Verify
    its checkpoints); the readers may Verify and read the public key. Anyone else's Sign is denied, so no
    grant or IAM policy can add a signer (an administrator could still rewrite this policy: SECURITY.md)."""
    algorithm = {"StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM}}
    statements: list[dict] = [
        account_administers_key(partition, account_id),
        {"Sid": "BackupRoleSigns", "Effect": "Allow", "Principal": {"AWS": [signer_role_arn]},
         "Action": SIGNER_ACTIONS, "Resource": "*", "Condition": algorithm},
        {"Sid": "DenySigningByOthers", "Effect": "Deny", "Principal": "*", "Action": "kms:Sign", "Resource": "*",
         "Condition": {"ArnNotEquals": {"aws:PrincipalArn": signer_role_arn}}},
    ]
    if readers:
        statements.insert(2, {"Sid": "ReadersVerify", "Effect": "Allow", "Principal": {"AWS": sorted(readers)},
                              "Action": VERIFIER_ACTIONS, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}
