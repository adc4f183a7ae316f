"""Authentic snapshots: verify, diff, restore and drill accept a snapshot only when its manifest carries the
signature of a trusted signing key over exactly its content; a forged snapshot (content and checksum both
rewritten) is refused while the genuine one passes; an unsigned one only with --allow-unsigned, said loudly.

These run as an operator does by default (``signatures`` marker: unsigned snapshots refused).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from backup_lambda.snapshot import take_snapshot
from cognito_backup import cli
from cognito_backup.drill import run_drill
from cognito_backup.signatures import Trust, unsigned_warning
from cognito_backup.verify import verify_snapshot
from tests.support.rich_pool import build_rich_pool
from tests.support.signing import make_signing_key, signer_for
from tests.support.snapshot_builder import make_snapshot, write_local

pytestmark = pytest.mark.signatures


@pytest.fixture
def signed(cognito, s3, bucket, signing_key):
    """A snapshot the function took and signed: its s3:// address."""
    pool_id = build_rich_pool(cognito, "prod-users")
    result = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket, signer=signer_for(signing_key))
    return f"s3://{bucket}/{result.key}"


def _key(source: str) -> tuple[str, str]:
    bucket, _, key = source[len("s3://"):].partition("/")
    return bucket, key


def forge(s3, source: str, change) -> None:
    """Rewrite the snapshot's content and its manifest's sha256 and bytes to match, keeping the signature."""
    bucket, key = _key(source)
    body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    change(body)
    data = json.dumps(body).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    mkey = key.replace(".json", ".manifest.json")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=mkey)["Body"].read())
    manifest.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    s3.put_object(Bucket=bucket, Key=mkey, Body=json.dumps(manifest).encode())


def add_foreign_provider(doc: dict) -> None:
    doc["pool"]["LambdaConfig"] = {"PreTokenGeneration": "arn:aws:lambda:eu-west-1:999999999999:function:steal"}


def test_the_genuine_snapshot_verifies_with_the_trusted_key(s3, signed, signing_key, capsys):
    assert cli.main(["verify", signed, "--signing-key", signing_key]) == 0
    assert f"signed by {signing_key}" in capsys.readouterr().out


def test_a_forged_snapshot_is_refused_by_verify_while_the_genuine_one_passes(s3, signed, signing_key, capsys):
    trust = Trust((signing_key,))
    assert verify_snapshot(signed, s3=s3, trust=trust)["ok"]

    forge(s3, signed, add_foreign_provider)

    result = verify_snapshot(signed, s3=s3, trust=trust)
    assert not result["ok"]
    assert result["problems"] == ["the manifest's signature does not match its content: the manifest was changed "
                                  "after the function signed it (or the signature is not that key's)"]
    assert cli.main(["verify", signed, "--signing-key", signing_key]) == 1
    assert "signature does not match" in capsys.readouterr().out


def test_a_snapshot_changed_but_its_manifest_not_is_refused_naming_the_checksum(s3, signed, signing_key):
    bucket, key = _key(signed)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body.replace(b'"prod-users"', b'"prod-usersX"', 1))

    problems = verify_snapshot(signed, s3=s3, trust=Trust((signing_key,)))["problems"]
    assert any("sha256 does not match the manifest" in p for p in problems), problems


def test_a_forged_snapshot_is_refused_by_restore_and_diff(s3, signed, signing_key, capsys, tmp_path):
    assert cli.main(["restore", signed, "--new-pool-name", "copy", "--dry-run", "--signing-key", signing_key]) == 0
    forge(s3, signed, add_foreign_provider)
    capsys.readouterr()

    assert cli.main(["restore", signed, "--new-pool-name", "copy", "--signing-key", signing_key,
                     "--mapping-file", str(tmp_path / "m.json")]) == 2
    assert "signature does not match its content" in capsys.readouterr().err
    assert cli.main(["diff", signed, signed, "--signing-key", signing_key]) == 2
    assert "signature does not match its content" in capsys.readouterr().err


def test_a_manifest_signed_by_another_key_is_refused_even_if_the_signature_is_good(s3, signed, signing_key):
    bucket, key = _key(signed)
    forge(s3, signed, add_foreign_provider)
    mkey = key.replace(".json", ".manifest.json")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=mkey)["Body"].read())
    attacker = make_signing_key()
    resigned = signer_for(attacker).sign_manifest({k: v for k, v in manifest.items() if k != "signature"})
    s3.put_object(Bucket=bucket, Key=mkey, Body=json.dumps(resigned).encode())

    problems = verify_snapshot(signed, s3=s3, trust=Trust((signing_key,)))["problems"]
    assert problems == [f"the manifest is signed by KMS key {attacker}, which is not a trusted signing key "
                        f"({signing_key}): refusing it"]
    assert verify_snapshot(signed, s3=s3, trust=Trust((attacker,)))["ok"]  # it is that key's, had one trusted it


def test_a_signed_snapshot_needs_a_trusted_key_named(s3, signed, signing_key, monkeypatch):
    problems = verify_snapshot(signed, s3=s3)["problems"]
    assert len(problems) == 1 and "no signing key is trusted: pass --signing-key" in problems[0]

    monkeypatch.setenv("COGNITO_BACKUP_SIGNING_KEY", signing_key)
    assert verify_snapshot(signed, s3=s3)["ok"]


@pytest.mark.parametrize(("change", "says"), [
    (lambda s: s.update(algorithm="RSASSA_PSS_SHA_256"), "signature algorithm 'RSASSA_PSS_SHA_256' is not"),
    (lambda s: s.update(value="not base64!"), "signature value is not base64"),
    (lambda s: s.pop("key_id"), "must be an object with exactly"),
])
def test_a_malformed_signature_is_named(s3, signed, signing_key, change, says):
    bucket, key = _key(signed)
    mkey = key.replace(".json", ".manifest.json")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=mkey)["Body"].read())
    change(manifest["signature"])
    s3.put_object(Bucket=bucket, Key=mkey, Body=json.dumps(manifest).encode())

    problems = verify_snapshot(signed, s3=s3, trust=Trust((signing_key,)))["problems"]
    assert any(says in p for p in problems), problems


def test_an_unsigned_snapshot_is_refused_unless_allowed_and_then_said_loudly(tmp_path, capsys):
    path = str(write_local(tmp_path, make_snapshot()))

    assert cli.main(["verify", path]) == 1
    assert "the manifest is not signed" in capsys.readouterr().out
    assert cli.main(["verify", path, "--allow-unsigned"]) == 0
    out, err = capsys.readouterr()
    assert unsigned_warning(path) in err and "NOT SIGNED" in out
    assert cli.main(["diff", path, path]) == 2
    assert "pass --allow-unsigned" in capsys.readouterr().err
    assert cli.main(["diff", path, path, "--allow-unsigned"]) == 0
    assert unsigned_warning(path) in capsys.readouterr().err


def test_a_bad_signing_key_argument_is_named(tmp_path, capsys):
    path = str(write_local(tmp_path, make_snapshot()))
    assert cli.main(["verify", path, "--signing-key", "alias/cognito-backup"]) == 2
    assert "is not a KMS key ARN or key id" in capsys.readouterr().err


def test_the_drill_checks_the_signature(cognito, s3, bucket, signed, signing_key, tmp_path):
    passed = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2, work_dir=str(tmp_path),
                       trust=Trust((signing_key,)))
    assert passed["status"] == "pass", passed
    forge(s3, signed, add_foreign_provider)

    failed = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2, work_dir=str(tmp_path),
                       trust=Trust((signing_key,)))
    assert failed["status"] == "fail" and "signature does not match its content" in failed["error"]
    assert [s["step"] for s in failed["steps"]] == ["found", "failed"]  # nothing restored
