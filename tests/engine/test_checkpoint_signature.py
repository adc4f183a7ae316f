"""Checkpoints that cannot be turned: the function signs every checkpoint with its signing key (over the
checkpoint's own S3 key and every field) and refuses, before it reads any field, one it did not sign;
what the snapshot is written with comes from the function's environment, never from the checkpoint;
a saved SHA-256 state, however crafted, cannot crash the process.

(What the function checks beyond the signature, as if someone held the key: test_checkpoint_tampering.py.)
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_lambda.checkpoint import Checkpoint, load_checkpoint, spool_key
from backup_lambda.errors import SnapshotError
from tests.engine.test_checkpoint_tampering import handed_over, read, run_next  # noqa: F401 - handed_over: a fixture
from tests.security.test_bad_input import CHECKPOINT_PATHS
from tests.support.fault_injection import FakeContext
from tests.support.signing import resign_checkpoint, signer_for

NOT_SIGNED = "does not carry this function's signature"


def _get(data: dict, path: str):
    for name in path.split("."):
        data = data[name]
    return data


def _set(data: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for name in parents:
        data = data[name]
    data[last] = value


def _other(value):
    """A different value of the same kind (what someone editing the field would write)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return "x"
    if isinstance(value, list):
        return [*value, value[-1] if value else "x"]
    return {**value, "x": None}


def test_every_field_of_the_checkpoint_is_covered_by_its_signature(s3, bucket, handed_over):  # noqa: F811
    """An edit of any one field, without the key, is refused before the field is read."""
    original = json.loads(read(s3, bucket, handed_over["key"]))
    signer = signer_for(handed_over["signing_key"])
    paths = [p for p in CHECKPOINT_PATHS if p != "signature"] + ["upload.parts"]
    assert {"snapshot_key", "upload.upload_id", "upload.key", "upload.bucket", "settings_sha256",
            "upload.sha256_state"} <= set(paths)
    for path in paths:
        data = json.loads(json.dumps(original))
        _set(data, path, _other(_get(data, path)))
        s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=json.dumps(data).encode())
        with pytest.raises(SnapshotError, match=NOT_SIGNED):
            load_checkpoint(s3, bucket, handed_over["key"], signer=signer)
    s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=json.dumps(original).encode())
    assert load_checkpoint(s3, bucket, handed_over["key"], signer=signer).generation == handed_over["generation"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(CHECKPOINT_PATHS),
       value=st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.lists(st.integers())))
def test_a_checkpoint_edited_in_any_field_to_anything_is_refused(s3, bucket, handed_over, path, value):  # noqa: F811
    original = read(s3, bucket, handed_over["key"])
    data = json.loads(original)
    if _get(data, path) == value:
        return
    _set(data, path, value)
    s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=json.dumps(data).encode())
    try:
        with pytest.raises(SnapshotError, match=NOT_SIGNED):
            load_checkpoint(s3, bucket, handed_over["key"], signer=signer_for(handed_over["signing_key"]))
    finally:
        s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=original)


@pytest.mark.parametrize("how", ["edited", "signature removed", "signed by another key", "moved"])
def test_a_checkpoint_the_function_did_not_sign_fails_the_run_and_nothing_is_written(
        s3, bucket, handed_over, monkeypatch, capsys, how):  # noqa: F811
    """The run fails (SnapshotFailed: the alarm), the checkpoint and its spool are removed, no snapshot or
    manifest appears. The upload the checkpoint names cannot be trusted, so it is left to the bucket's
    lifecycle rule (incomplete uploads: a day), not aborted."""
    from tests.support.signing import make_signing_key

    data = json.loads(read(s3, bucket, handed_over["key"]))
    if how == "edited":
        data["seen_subs"] += 1
        s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=json.dumps(data).encode())
    elif how == "signature removed":
        data.pop("signature")
        s3.put_object(Bucket=bucket, Key=handed_over["key"], Body=json.dumps(data).encode())
    elif how == "signed by another key":
        resign_checkpoint(s3, bucket, handed_over["key"], make_signing_key(), data)
    else:  # a genuine checkpoint, copied to the key of another snapshot's checkpoint
        moved = handed_over["key"].replace(".json", "-2.json")
        for old, new in ((handed_over["key"], moved), (spool_key(handed_over["key"]), spool_key(moved))):
            s3.put_object(Bucket=bucket, Key=new, Body=read(s3, bucket, old))
            s3.delete_object(Bucket=bucket, Key=old)
        handed_over = {**handed_over, "key": moved}

    message = run_next(monkeypatch, bucket, handed_over, capsys)

    assert ("is not signed" if how == "signature removed" else NOT_SIGNED) in message, message
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [], keys
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1


@pytest.mark.parametrize(("variable", "value"), [("EXCLUDE_ATTRIBUTES", "email"), ("SNAPSHOT_PREFIX", "other/"),
                                                  ("KMS_KEY_ID", "alias/another")])
def test_a_continued_run_uses_its_environment_and_refuses_a_checkpoint_of_other_settings(
        s3, bucket, handed_over, monkeypatch, capsys, variable, value):  # noqa: F811
    """The checkpoint holds no bucket, prefix, KMS key, excluded attributes or budget to be edited: only
    the SHA-256 of the first four, which the continued run's own environment must match."""
    data = json.loads(read(s3, bucket, handed_over["key"]))
    assert not {"prefix", "kms_key_id", "excluded", "request_budget"} & set(data)
    monkeypatch.setenv(variable, value)
    if variable == "SNAPSHOT_PREFIX":
        monkeypatch.setenv("BACKUP_BUCKET", bucket)
        monkeypatch.setenv("SIGNING_KEY_ID", handed_over["signing_key"])
        from backup_lambda import handler
        from backup_lambda.errors import ConfigError

        with pytest.raises(ConfigError, match="must be a .json key directly under 'other/.checkpoints/'"):
            handler.lambda_handler({"checkpoint_key": handed_over["key"], "generation": 1}, FakeContext())
        return

    message = run_next(monkeypatch, bucket, handed_over, capsys)

    assert "saved with other settings than this run's environment" in message, message
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_checkpoint_cannot_name_an_upload_of_another_snapshot(s3, bucket, handed_over, monkeypatch, capsys):  # noqa: F811
    """Even signed (by someone holding the key), a checkpoint is bound to its snapshot key and upload."""
    data = json.loads(read(s3, bucket, handed_over["key"]))
    data["upload"]["key"] = "2026/11/24/other_20261124_010003.json"
    resign_checkpoint(s3, bucket, handed_over["key"], handed_over["signing_key"], data)

    message = run_next(monkeypatch, bucket, handed_over, capsys)

    assert "its upload is of s3://" in message and "not of its snapshot" in message, message
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# --- the SHA-256 state ------------------------------------------------------------------------------

CRAFTED = textwrap.dedent("""
    import base64, struct, sys
    from backup_lambda import sha256_state
    from backup_lambda.s3_upload import UploadState
    assert sha256_state._LIB is not None, "libcrypto is needed for this test"
    # The context an old checkpoint carried, with num (the bytes of the unfinished block) far past its 64:
    # copied into libcrypto as it was, SHA256_Update wrote past the buffer and the process died (SIGSEGV).
    ctx = struct.pack("=8III64sII", *range(8), 0, 0, bytes(64), 0x7FFFFFF0, 32)
    states = [ctx, ctx[:40], bytes(39), bytes(32) + (5).to_bytes(8, "big") + b"abc",
              bytes(32) + (2**64 - 1).to_bytes(8, "big") + bytes(63), bytes(200)]
    refused = 0
    for state in states:
        for kind in ("openssl", "python"):
            try:
                h = sha256_state.new(state, kind=kind)
            except ValueError:
                refused += 1
                continue
            h.update(b"x" * 100000)
            h.hexdigest()
    fields = dict(bucket="b", key="k", upload_id="u", parts=[], part_size=8 << 20, bytes=0, tail_bytes=0)
    for state in states:
        try:
            UploadState.from_json({**fields, "sha256_state": base64.b64encode(state).decode()})
        except ValueError:
            refused += 1
    print("refused", refused)
""")


def test_a_crafted_hash_state_is_refused_and_cannot_crash_the_process():
    """In a process of its own: a crash (the old behaviour) would kill it with SIGSEGV, not fail a test."""
    done = subprocess.run([sys.executable, "-c", CRAFTED], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    # refused: the context, 39 bytes, a count its unfinished bytes do not match, a count past SHA-256's, 200
    # bytes (by both implementations and by the checkpoint's parser); 40 bytes of zero count are a state.
    assert done.stdout.split() == ["refused", "15"], done.stdout


@settings(max_examples=200, deadline=None)
@given(state=st.binary(max_size=130), more=st.binary(max_size=200))
def test_any_state_either_is_refused_or_hashes_like_hashlib_would_from_it(state, more):
    """A state that is accepted is one a SHA-256 could have reached: both implementations agree on it."""
    from backup_lambda import sha256_state

    try:
        python = sha256_state.new(state, kind="python")
    except sha256_state.StateError:
        return
    python.update(more)
    if sha256_state._LIB is not None:
        native = sha256_state.new(state, kind="openssl")
        native.update(more)
        assert native.hexdigest() == python.hexdigest()
        assert native.state() == python.state()


def test_the_saved_state_must_have_hashed_exactly_the_bytes_written():
    from backup_lambda.s3_upload import UploadState

    state = base64.b64encode(bytes(32) + (64).to_bytes(8, "big")).decode()
    fields = dict(bucket="b", key="k", upload_id="u", parts=[], part_size=8 << 20, tail_bytes=0, sha256_state=state)
    assert UploadState.from_json({**fields, "bytes": 64}).bytes == 64
    with pytest.raises(ValueError, match="has hashed 64 bytes, not the 128 written"):
        UploadState.from_json({**fields, "bytes": 128})


def test_the_checkpoint_parser_sees_no_signature_field():
    """The signature is checked and removed before parsing: the dataclass never holds it."""
    assert "signature" not in Checkpoint.__dataclass_fields__
