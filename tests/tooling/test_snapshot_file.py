"""The streaming snapshot reader: same result as json.load, whatever the layout and chunking;
clear errors for anything that is not a snapshot; memory that does not grow with the pool."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from backup_lambda.errors import SnapshotFileError
from cognito_backup.snapshot_file import (
    SnapshotSource,
    SnapshotStream,
    parse_location,
)
from tests.support.snapshot_builder import encode_snapshot, make_group, make_snapshot, make_user, write_local, write_s3


def rebuild(data: bytes, chunk_size: int = 1 << 16) -> tuple[dict, SnapshotStream]:
    """Walk a stream and put the document back together from its events."""
    stream = SnapshotStream(io.BytesIO(data), name="test.json", chunk_size=chunk_size)
    doc: dict = {}
    for event in stream.events():
        if event.kind == "value":
            doc[event.key] = event.value
        elif event.kind == "start":
            doc[event.key] = []
        elif event.kind == "item":
            doc[event.key].append(event.value)
        elif event.kind == "end":
            assert event.value == len(doc[event.key])
    return doc, stream


def unicode_snapshot() -> dict:
    return make_snapshot(users=[
        make_user("zoë", email="zoe@example.com", attributes={"name": "Zoë Ångström", "custom:tier": "🥇"}),
        make_user("李雷", email="li@example.com", attributes={"name": "李雷 \"quoted\", comma\\slash"}),
        make_user("n", attributes={"custom:n": "12345678901234567890"}),
    ], groups=[make_group("grüppe", ["zoë", "李雷"], precedence=3, description="ünïcode")])


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 64, 1 << 16])
def test_events_rebuild_the_document_for_any_chunk_size_even_when_utf8_is_split(chunk_size):
    doc = unicode_snapshot()
    data = encode_snapshot(doc)
    rebuilt, stream = rebuild(data, chunk_size)
    assert rebuilt == json.loads(data)
    assert stream.sha256 == hashlib.sha256(data).hexdigest()
    assert stream.bytes == len(data)
    assert stream.finished


@pytest.mark.parametrize("layout", ["one_per_line", "compact", "indented", "pretty_ascii"])
def test_reader_does_not_depend_on_whitespace_layout(layout):
    doc = unicode_snapshot()
    data = {
        "one_per_line": encode_snapshot(doc),
        "compact": json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
        "indented": encode_snapshot(doc, indent=2),
        "pretty_ascii": json.dumps(doc, indent="\t", ensure_ascii=True).encode() + b"\r\n\r\n",
    }[layout]
    assert rebuild(data, chunk_size=3)[0] == doc


def test_a_number_split_across_chunks_is_read_whole():
    data = b'{"format_version": 1234567, "users": [], "groups": [], "n": -0.5e10}'
    assert rebuild(data, chunk_size=1)[0] == {"format_version": 1234567, "users": [], "groups": [], "n": -0.5e10}


attribute_value = st.text(min_size=0, max_size=30)
user_strategy = st.builds(
    lambda name, attrs, enabled: make_user(name, attributes=attrs, enabled=enabled),
    st.text(min_size=1, max_size=20),
    st.dictionaries(st.sampled_from(["name", "custom:a", "custom:b", "locale"]), attribute_value, max_size=4),
    st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=st.lists(user_strategy, max_size=8), chunk_size=st.integers(min_value=1, max_value=40),
       ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_stream_equals_json_load_for_generated_snapshots(users, chunk_size, ascii_only, indent):
    doc = make_snapshot(users=users, groups=[make_group("g", [u["Username"] for u in users[:3]])])
    data = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    rebuilt, stream = rebuild(data, chunk_size)
    assert rebuilt == json.loads(data)
    assert stream.sha256 == hashlib.sha256(data).hexdigest()


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), chunk_size=st.integers(min_value=1, max_value=50))
def test_any_truncation_is_an_error_never_a_shorter_document(cut, chunk_size):
    data = encode_snapshot(unicode_snapshot())
    cut = cut % len(data.rstrip())  # strictly before the closing brace
    with pytest.raises(SnapshotFileError):
        rebuild(data[:cut], chunk_size=chunk_size)


def test_truncation_inside_the_users_says_where():
    data = encode_snapshot(make_snapshot())
    cut = data.index(b'"Username": "bob"') + 15
    with pytest.raises(SnapshotFileError, match=r"ends early \(truncated\?\).*users\[1\]"):
        rebuild(data[:cut])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"   \n ", "is empty"),
        (b"hello", "is not a cognito-backup snapshot: it is not JSON"),
        (b"[1, 2]", r"is not a cognito-backup snapshot: it is a JSON array \(its first element is a number\)"),
        (b'{"users": {"a": 1}}', "'users' must be an array"),
        (b'{"format_version": 1, "format_version": 1}', "appears twice"),
        (b'{"format_version": 1} {"x": 2}', "data after the end"),
        (b'{"format_version": 1 "taken_at": 2}', "expected ',' or '}'"),
        (b'{format_version: 1}', "expected a key in double quotes"),
        (b'{"users": [{"Username": "a"} {"Username": "b"}]}', r"expected ',' or '\]'.*users\[0\]"),
        (b'{"users": [{"Username": "a", "Enabled": tru}, {"Username": "b"}], "groups": []}',
         r"Expecting value.*users\[0\]"),
        (b'{"pool": {"Name": "\xff\xfe"}}', "not valid UTF-8"),
    ],
)
def test_malformed_input_raises_a_clear_error(data, message):
    with pytest.raises(SnapshotFileError, match=message):
        rebuild(data, chunk_size=4)


def test_error_location_names_line_and_element():
    lines = [b'{"format_version": 1,', b'"users": [', b'{"Username": "a"},', b'{"Username": "b",,},',
             b'{"Username": "c"}', b"]}"]
    with pytest.raises(SnapshotFileError) as excinfo:
        rebuild(b"\n".join(lines), chunk_size=5)
    assert "line 4" in str(excinfo.value)
    assert "users[1]" in str(excinfo.value)


class GeneratedSnapshot(io.RawIOBase):
    """A large snapshot produced on the fly, so the test itself holds no more than one user."""

    def __init__(self, users: int):
        self._parts = self._generate(users)
        self._pending = b""

    @staticmethod
    def _generate(users: int):
        yield b'{"format_version": 1, "groups": [], "users": [\n'
        for i in range(users):
            sep = b",\n" if i else b""
            yield sep + json.dumps(make_user(f"user{i:07d}", email=f"user{i}@example.com",
                                             attributes={"name": "x" * 100})).encode()
        yield b'\n], "summary": {}}'

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while len(self._pending) < n:
            try:
                self._pending += next(self._parts)
            except StopIteration:
                break
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


def test_memory_does_not_grow_with_the_number_of_users():
    def peak_for(users: int) -> int:
        tracemalloc.start()
        try:
            stream = SnapshotStream(GeneratedSnapshot(users), chunk_size=1 << 14)
            count = sum(1 for e in stream.events() if e.kind == "item")
            assert count == users
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_for(500), peak_for(10_000)  # about 150 KB against 3 MB of JSON
    assert large < 1_000_000
    assert large < small * 3


@pytest.mark.parametrize(
    ("source", "kind", "manifest"),
    [
        ("s3://b/2026/11/26/p_20261126_010003.json", "s3", "s3://b/2026/11/26/p_20261126_010003.manifest.json"),
        ("/tmp/x/p_20261126_010003.json", "file", "/tmp/x/p_20261126_010003.manifest.json"),
        ("p.json", "file", "p.manifest.json"),
    ],
)
def test_location_and_manifest_names(source, kind, manifest):
    location = parse_location(source)
    assert location.kind == kind
    assert str(location) == source
    assert str(location.manifest()) == manifest


@pytest.mark.parametrize("source", ["s3://bucket-only", "s3:///key", "", "snap.manifest.json", "snap.txt"])
def test_bad_locations_are_refused(source):
    with pytest.raises(SnapshotFileError):
        parse_location(source).manifest()


def test_local_source_reads_snapshot_and_sibling_manifest(tmp_path):
    doc = make_snapshot()
    path = write_local(tmp_path, doc)
    source = SnapshotSource(str(path))
    assert source.read_manifest()["users"] == 3
    with source.stream(chunk_size=10) as stream:
        config = {e.key: e.value for e in stream.events() if e.kind == "value"}
    assert config["source"]["pool_name"] == "prod-users"
    assert stream.sha256 == source.read_manifest()["sha256"]


def test_local_source_without_manifest_says_the_snapshot_is_incomplete(tmp_path):
    path = write_local(tmp_path, make_snapshot(), manifest=False)
    with pytest.raises(SnapshotFileError, match="not complete"):
        SnapshotSource(str(path)).read_manifest()


def test_missing_local_snapshot_is_a_clear_error(tmp_path):
    with pytest.raises(SnapshotFileError, match="does not exist"):
        SnapshotSource(str(tmp_path / "nope.json")).stream()


def test_s3_source_streams_the_object_and_reads_the_manifest(aws_env):
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="snaps", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        doc = unicode_snapshot()
        key = write_s3(s3, "snaps", doc)
        source = SnapshotSource(f"s3://snaps/{key}", s3=s3)
        manifest = source.read_manifest()
        with source.stream(chunk_size=5) as stream:
            users = [e.value["Username"] for e in stream.events() if e.kind == "item" and e.key == "users"]
        assert users == ["zoë", "李雷", "n"]
        assert stream.sha256 == manifest["sha256"]
        assert source.etag
        with pytest.raises(SnapshotFileError, match="does not exist"):
            SnapshotSource(f"s3://snaps/{key}x", s3=s3).stream()
        with pytest.raises(SnapshotFileError, match="changed while it was being read"):
            source.stream(if_match='"0000"')

