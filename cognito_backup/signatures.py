"""Check a manifest's signature: the snapshot was written by the stack's function, as the manifest says.

The function signs each manifest with the stack's signing key (``backup_lambda/signing.py``: ECDSA P-256
over the manifest's canonical bytes, which hold the object's sha256, key, bytes, counts and pool), so a
manifest that verifies vouches for the snapshot whose sha256 matches it. The readers trust only the keys
they are told to (``--signing-key ARN``, or ``COGNITO_BACKUP_SIGNING_KEY``: the stack output
``signingKeyArn``; several separated by commas): a manifest signed by any other key is refused, whoever
signed it. The signature is checked by KMS (``kms:Verify``, which the signing key's policy grants the
snapshot readers); docs/signing.md shows how to check it by hand with the public key.

A snapshot without a signature (taken before signing existed, imported with ``import-cbr``, written by
``snapshot --local``) is refused unless ``--allow-unsigned`` (or ``COGNITO_BACKUP_ALLOW_UNSIGNED=1``)
says to accept it, and then every command says so on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import ConfigError
from backup_lambda.signing import MAX_RAW_MESSAGE, SIGNATURE_FIELD, canonical_bytes, kms_verify, parse_signature

ENV_SIGNING_KEY = "COGNITO_BACKUP_SIGNING_KEY"
ENV_ALLOW_UNSIGNED = "COGNITO_BACKUP_ALLOW_UNSIGNED"
_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,64}")
_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")


@dataclass(frozen=True)
class Trust:
    """Which signing keys a reader trusts, and whether it accepts unsigned snapshots."""

    signing_keys: tuple[str, ...] = ()
    allow_unsigned: bool = False
    warn: bool = True  # say so when an unsigned snapshot is accepted (not for a copy the caller just took)

    @classmethod
    def from_args(cls, args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None) -> Trust:
        environ = os.environ if environ is None else environ
        given = list(getattr(args, "signing_key", None) or [])
        given += [k.strip() for k in environ.get(ENV_SIGNING_KEY, "").split(",") if k.strip()]
        for key in given:
            if not (_KEY_ARN.fullmatch(key) or _KEY_ID.fullmatch(key)):
                raise ConfigError(f"--signing-key / {ENV_SIGNING_KEY}: {key[:100]!r} is not a KMS key ARN or key id "
                                  "(the stack output signingKeyArn)")
        allow = bool(getattr(args, "allow_unsigned", False)) or environ.get(ENV_ALLOW_UNSIGNED, "") in ("1", "true")
        return cls(tuple(dict.fromkeys(given)), allow)

    def trusts(self, key_arn: str) -> bool:
        return any(key_arn == key or key_arn.rsplit("/", 1)[-1] == key for key in self.signing_keys)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--signing-key", action="append", metavar="ARN",
                        help=f"the KMS key whose signature a snapshot's manifest must carry (the stack output "
                             f"signingKeyArn; repeatable; default: ${ENV_SIGNING_KEY})")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="accept a snapshot whose manifest is not signed (older snapshots, import-cbr, local "
                             "files): its content is then only as trustworthy as wherever it came from")


def unsigned_warning(snapshot: str) -> str:
    return (f"WARNING: {snapshot} is NOT SIGNED: accepted only because of --allow-unsigned. Nothing proves that "
            "the stack's function wrote it or that it was not changed since.")


def check_signature(manifest: dict[str, Any], trust: Trust, kms: Any = None) -> tuple[list[str], bool]:
    """(problems, signed). No problem means: signed by a trusted key over exactly this manifest, or not
    signed and ``trust.allow_unsigned``."""
    if SIGNATURE_FIELD not in manifest:
        if trust.allow_unsigned:
            return [], False
        return [("the manifest is not signed (a snapshot from before signing, an import or a local file?): "
                 "refusing it; pass --allow-unsigned to accept it anyway")], False
    try:
        key_id, signature = parse_signature(manifest[SIGNATURE_FIELD], "the manifest")
    except ValueError as exc:
        return [str(exc)], True
    if not trust.signing_keys:
        return [(f"the manifest is signed by KMS key {key_id[:200]}, but no signing key is trusted: pass "
                 f"--signing-key with the stack output signingKeyArn (or set {ENV_SIGNING_KEY})")], True
    if not trust.trusts(key_id):
        return [(f"the manifest is signed by KMS key {key_id[:200]}, which is not a trusted signing key "
                 f"({', '.join(trust.signing_keys)}): refusing it")], True
    message = canonical_bytes(manifest)
    if len(message) > MAX_RAW_MESSAGE:
        return [f"the manifest is larger ({len(message)} canonical bytes) than any manifest the function signs"], True
    if kms is None:
        from backup_lambda.aws import make_client

        kms = make_client("kms", region=key_id.split(":")[3] if key_id.startswith("arn:") else None)
    try:
        valid = kms_verify(kms, key_id, message, signature, digest=False)
    except (ClientError, BotoCoreError) as exc:
        return [f"cannot check the manifest's signature with KMS key {key_id}: {exc}"], True
    if not valid:
        return [("the manifest's signature does not match its content: the manifest was changed after the "
                 "function signed it (or the signature is not that key's)")], True
    return [], True
