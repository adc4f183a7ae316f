"""Signatures with the stack's asymmetric KMS key (``SIGNING_KEY_ID``): only the backup role may Sign.

- **Manifests**: ``signature`` in the manifest is ECDSA P-256 / SHA-256 (``ECDSA_SHA_256``) over the
  manifest's *canonical bytes*: the manifest without ``signature``, as
  ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` in UTF-8. Those bytes
  include the object's ``sha256``, ``snapshot_key``, ``bytes``, counts and pool, so a signed manifest
  vouches for the snapshot's content (``cognito_backup/signatures.py`` checks it; docs/signing.md says how
  to check it by hand with the public key).
- **Checkpoints**: the checkpoint's ``signature`` is over the SHA-256 of ``CHECKPOINT_CONTEXT``, the
  checkpoint's own S3 key and its canonical bytes: a checkpoint moved to another key, or edited in any
  field, no longer verifies. The function verifies it (``kms:Verify``) before it reads any field.

The two messages cannot stand for each other: a manifest's canonical bytes start with ``{``, a
checkpoint's message is the digest of bytes that start with ``CHECKPOINT_CONTEXT``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import SnapshotError

ALGORITHM = "ECDSA_SHA_256"
SIGNATURE_FIELD = "signature"
SIGNATURE_KEYS = frozenset({"algorithm", "key_id", "value"})
MAX_RAW_MESSAGE = 4096  # KMS Sign's limit for MessageType RAW
MAX_SIGNATURE_B64 = 1024  # an ECDSA P-256 signature is 70-72 bytes of DER
CHECKPOINT_CONTEXT = b"cognito-backup checkpoint v3\n"


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the document without its ``signature``, sorted, compact, ASCII."""
    body = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def checkpoint_digest(key: str, document: dict[str, Any]) -> bytes:
    return hashlib.sha256(CHECKPOINT_CONTEXT + key.encode() + b"\n" + canonical_bytes(document)).digest()


def parse_signature(value: Any, where: str) -> tuple[str, bytes]:
    """(key_id, signature bytes) of a ``signature`` field; ``ValueError`` saying what is wrong."""
    if not isinstance(value, dict) or set(value) != SIGNATURE_KEYS:
        raise ValueError(f"{where}'s signature must be an object with exactly {sorted(SIGNATURE_KEYS)}")
    if value["algorithm"] != ALGORITHM:
        raise ValueError(f"{where}'s signature algorithm {str(value['algorithm'])[:40]!r} is not {ALGORITHM}")
    if not isinstance(value["key_id"], str) or not 1 <= len(value["key_id"]) <= 2048:
        raise ValueError(f"{where}'s signature key_id is not a KMS key ARN")
    raw = value["value"]
    if not isinstance(raw, str) or len(raw) > MAX_SIGNATURE_B64:
        raise ValueError(f"{where}'s signature value is not a base64 signature")
    try:
        return value["key_id"], base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}'s signature value is not base64") from None


def kms_verify(kms, key_id: str, message: bytes, signature: bytes, *, digest: bool) -> bool:
    """True when KMS says the signature is the key's over ``message``; False when it is not. Other
    failures (access denied, no such key) raise ``ClientError``/``BotoCoreError`` to the caller."""
    try:
        answer = kms.verify(KeyId=key_id, Message=message, MessageType="DIGEST" if digest else "RAW",
                            Signature=signature, SigningAlgorithm=ALGORITHM)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
            return False
        raise
    return answer.get("SignatureValid") is True


class Signer:
    """Signs manifests and checkpoints, and verifies checkpoints, with one KMS key."""

    def __init__(self, kms, key_id: str):
        self.kms, self.key_id = kms, key_id

    def _sign(self, message: bytes, *, digest: bool, what: str, pool: str | None) -> dict[str, str]:
        try:
            answer = self.kms.sign(KeyId=self.key_id, Message=message, MessageType="DIGEST" if digest else "RAW",
                                   SigningAlgorithm=ALGORITHM)
        except (ClientError, BotoCoreError) as exc:
            raise SnapshotError(f"Sign of the {what} with KMS key {self.key_id} failed: {exc}", pool=pool,
                                operation="Sign") from exc
        return {"algorithm": ALGORITHM, "key_id": answer["KeyId"],
                "value": base64.b64encode(answer["Signature"]).decode()}

    def sign_manifest(self, manifest: dict[str, Any], *, pool: str | None = None) -> dict[str, Any]:
        message = canonical_bytes(manifest)
        if len(message) > MAX_RAW_MESSAGE:
            raise SnapshotError(f"the manifest's canonical bytes ({len(message)}) exceed KMS Sign's "
                                f"{MAX_RAW_MESSAGE}", pool=pool, operation="Sign")
        return {**manifest, SIGNATURE_FIELD: self._sign(message, digest=False, what="manifest", pool=pool)}

    def seal_checkpoint(self, key: str, document: dict[str, Any], *, pool: str | None = None) -> dict[str, Any]:
        signature = self._sign(checkpoint_digest(key, document), digest=True, what="checkpoint", pool=pool)
        return {**document, SIGNATURE_FIELD: signature}

    def check_checkpoint(self, key: str, document: dict[str, Any]) -> None:
        """``SnapshotError`` unless ``document`` carries this key's signature over itself at ``key``."""
        where = f"the checkpoint s3://.../{key}"
        if SIGNATURE_FIELD not in document:
            raise SnapshotError(f"{where} is not signed: a checkpoint this function wrote always is")
        try:
            _named, signature = parse_signature(document[SIGNATURE_FIELD], where)
        except ValueError as exc:
            raise SnapshotError(str(exc)) from None
        try:
            valid = kms_verify(self.kms, self.key_id, checkpoint_digest(key, document), signature, digest=True)
        except (ClientError, BotoCoreError) as exc:
            raise SnapshotError(f"Verify of {where} with KMS key {self.key_id} failed: {exc}",
                                operation="Verify") from exc
        if not valid:  # verified with the configured key, whatever key the document names
            raise SnapshotError(f"{where} does not carry this function's signature: it was changed, moved or "
                                "forged; the snapshot is abandoned")

