"""Open a snapshot (``s3://bucket/key`` or a local path) and read it as a stream.

A snapshot can be as large as its pool (a million users is about 1 GB), so the project's readers
never load it whole. :class:`SnapshotStream` parses the top-level object incrementally: scalar and
configuration keys come out whole, while the ``users`` and ``groups`` arrays come out one element
at a time. It hashes every byte it reads (sha256 and byte count), so verifying a snapshot against its
manifest is one pass. Memory holds one element plus one read chunk, whatever the size of the pool.

Anything that is not the documented format (not UTF-8, not JSON, truncated, data after the end, a
duplicated key, ``users`` not an array, beyond ``json_limits``) raises :class:`SnapshotFileError` with the place
(line, column, character offset, and the element being read); a document that is not a snapshot at
all (an array, a cbr backup, gzip, CSV) raises :class:`NotASnapshotError` saying what it looks like.

A local snapshot's manifest is its sibling file ``<name without .json>.manifest.json``, exactly as in S3.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple

from botocore.exceptions import ClientError

from backup_lambda.errors import SnapshotFileError
from backup_lambda.snapshot_format import MANIFEST_SUFFIX, SNAPSHOT_SUFFIX
from cognito_backup import json_limits
from cognito_backup.file_kind import UNREADABLE, NotASnapshotError, describe_array, describe_binary, describe_start

STREAMED_KEYS = ("users", "groups")
DEFAULT_CHUNK_SIZE = 1 << 16
# One user or group larger than this is not a snapshot this project wrote (a group's member list
# of a million usernames is about 40 MB).
MAX_ELEMENT_CHARS = 512 << 20

MAX_MANIFEST_BYTES = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


@dataclass(frozen=True)
class SnapshotLocation:
    """Where a snapshot lives: ``kind`` is ``s3`` (bucket, key) or ``file`` (path)."""

    kind: str
    path: str = ""
    bucket: str = ""
    key: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.kind == "s3" else self.path

    @property
    def name(self) -> str:
        return (self.key if self.kind == "s3" else self.path).rsplit("/", 1)[-1]

    def manifest(self) -> SnapshotLocation:
        """The manifest's location: the same name with ``.manifest.json`` for ``.json``."""
        target = self.key if self.kind == "s3" else self.path
        if not target.endswith(SNAPSHOT_SUFFIX) or target.endswith(MANIFEST_SUFFIX):
            raise SnapshotFileError(
                f"{self}: a snapshot's name ends in {SNAPSHOT_SUFFIX} (and is not a {MANIFEST_SUFFIX})"
            )
        stem = target[: -len(SNAPSHOT_SUFFIX)] + MANIFEST_SUFFIX
        if self.kind == "s3":
            return SnapshotLocation("s3", bucket=self.bucket, key=stem)
        return SnapshotLocation("file", path=stem)


def parse_location(source: str | SnapshotLocation) -> SnapshotLocation:
    """``s3://bucket/key`` or a local path."""
    if isinstance(source, SnapshotLocation):
        return source
    if not isinstance(source, str) or not source:
        raise SnapshotFileError("no snapshot given: pass s3://bucket/key or a local file path")
    if source.startswith("s3://"):
        bucket, _, key = source[len("s3://"):].partition("/")
        if not bucket or not key:
            raise SnapshotFileError(f"{source!r} is not s3://bucket/key")
        return SnapshotLocation("s3", bucket=bucket, key=key)
    return SnapshotLocation("file", path=source)


class SnapshotSource:
    """A snapshot and its manifest, in S3 or on disk. ``s3`` is a boto3 S3 client (for s3:// only)."""

    def __init__(self, source: str | SnapshotLocation, s3: Any = None):
        self.location = parse_location(source)
        self._s3 = s3
        if self.location.kind == "s3" and s3 is None:
            from backup_lambda.aws import make_client

            self._s3 = make_client("s3")
        self.etag: str | None = None

    def __str__(self) -> str:
        return str(self.location)

    # -- raw access --------------------------------------------------------------------------
    def _open(self, where: SnapshotLocation, if_match: str | None = None) -> BinaryIO:
        if where.kind == "file":
            try:
                return open(where.path, "rb")  # noqa: SIM115 - the caller closes it
            except FileNotFoundError:
                raise SnapshotFileError(f"{where} does not exist") from None
            except OSError as exc:
                raise SnapshotFileError(f"cannot read {where}: {exc.strerror}") from None
        kwargs: dict[str, Any] = {"Bucket": where.bucket, "Key": where.key}
        if if_match:
            kwargs["IfMatch"] = if_match
        try:
            response = self._s3.get_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise SnapshotFileError(f"{where} does not exist") from None
            if code in ("PreconditionFailed", "412"):
                raise SnapshotFileError(f"{where} changed while it was being read (its ETag changed)") from None
            if code == "NoSuchBucket":
                raise SnapshotFileError(f"bucket {where.bucket!r} does not exist") from None
            message = exc.response["Error"].get("Message", "")
            raise SnapshotFileError(f"cannot read {where}: {code}: {message}") from None
        if where == self.location:
            self.etag = response.get("ETag")
        return response["Body"]

    def exists(self, where: SnapshotLocation | None = None) -> bool:
        where = where or self.location
        if where.kind == "file":
            return os.path.isfile(where.path)
        try:
            self._s3.head_object(Bucket=where.bucket, Key=where.key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise SnapshotFileError(f"cannot read {where}: {exc}") from None

    def manifest_exists(self) -> bool:
        return self.exists(self.location.manifest())

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict. Missing or unreadable: :class:`SnapshotFileError` saying so."""
        where = self.location.manifest()
        if not self.exists(where):
            raise SnapshotFileError(
                f"no manifest at {where}: the snapshot is not complete (its run did not finish)"
            )
        body = self._open(where)
        data = b""
        try:
            while len(data) <= MAX_MANIFEST_BYTES and (chunk := body.read(1 << 16)):
                data += chunk
        finally:
            body.close()
        if len(data) > MAX_MANIFEST_BYTES:
            raise SnapshotFileError(f"manifest {where} is larger than {MAX_MANIFEST_BYTES} bytes: not a manifest")
        try:
            manifest = json_limits.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SnapshotFileError(f"manifest {where} is not valid JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise SnapshotFileError(f"manifest {where} is not a JSON object")
        return manifest

    def stream(self, *, chunk_size: int = DEFAULT_CHUNK_SIZE, if_match: str | None = None) -> SnapshotStream:
        """A :class:`SnapshotStream` over the snapshot's bytes. Close it (or use ``with``)."""
        return SnapshotStream(self._open(self.location, if_match=if_match), name=str(self.location),
                              chunk_size=chunk_size)


class Event(NamedTuple):
    """One step of a snapshot stream.

    kind ``value``: a top-level key and its whole value; ``start``: a streamed array begins (value
    None); ``item``: one element of it; ``end``: it ended (value = number of elements).
    """

    kind: str
    key: str
    value: Any


class SnapshotStream:
    """Incremental reader of one snapshot document; see the module docstring."""

    WHAT = "snapshot"  # what the document is, in error messages

    def __init__(self, raw: BinaryIO, *, name: str = "snapshot", chunk_size: int = DEFAULT_CHUNK_SIZE,
                 streamed: tuple[str, ...] = STREAMED_KEYS, max_element_chars: int = MAX_ELEMENT_CHARS):
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self._raw = raw
        self.name = name
        self._chunk = chunk_size
        self._streamed = frozenset(streamed)
        self._max = max_element_chars
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._buf = ""
        self._pos = 0
        self._base = 0  # absolute character offset of _buf[0]
        self._lines = 0  # newlines before _buf[0]
        self._line_start = 0  # absolute offset of the character after the last newline before _buf[0]
        self._eof = False
        self._sha = hashlib.sha256()
        self.bytes = 0
        self._context = "the start of the document"
        self._done = False
        self._started = False
        self._head = b""  # the first bytes: what a document that is not a snapshot looks like

    # -- results -----------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        """Hex digest of the bytes read so far: of the whole object once :meth:`events` finished."""
        return self._sha.hexdigest()

    @property
    def finished(self) -> bool:
        return self._done

    def close(self) -> None:
        close = getattr(self._raw, "close", None)
        if close:
            close()

    def __enter__(self) -> SnapshotStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- buffer ------------------------------------------------------------------------------
    def _fill(self, at_least: int = 0) -> bool:
        """Read one more chunk (at least ``at_least`` bytes). False at end of input."""
        if self._eof:
            return False
        if self._pos:
            dropped = self._buf[: self._pos]
            newlines = dropped.count("\n")
            if newlines:
                self._lines += newlines
                self._line_start = self._base + dropped.rindex("\n") + 1
            self._base += self._pos
            self._buf = self._buf[self._pos:]
            self._pos = 0
        try:
            data = self._raw.read(max(self._chunk, at_least))
        except Exception as exc:  # a network or disk error while streaming
            raise SnapshotFileError(f"{self.name}: reading failed after {self.bytes} bytes: {exc}") from exc
        try:
            if not data:
                self._eof = True
                self._buf += self._utf8.decode(b"", final=True)
                return False
            self._sha.update(data)
            if not self.bytes:
                self._head = bytes(data[:64])
            self.bytes += len(data)
            self._buf += self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            if self.bytes == len(data) and not data[:exc.start].decode("utf-8", "ignore").lstrip().startswith("{"):
                raise NotASnapshotError(describe_binary(self.name, self._head)) from None  # not text from the start
            raise SnapshotFileError(
                f"{self.name} is not valid UTF-8 (near byte {self.bytes - len(data) + max(exc.start, 0)},"
                f" while reading {self._context})"
            ) from None
        return True

    def _where(self, pos: int | None = None) -> str:
        pos = self._pos if pos is None else pos
        absolute = self._base + pos
        line = self._lines + self._buf.count("\n", 0, pos) + 1
        last_nl = self._buf.rfind("\n", 0, pos)
        column = (pos - last_nl) if last_nl >= 0 else (absolute - self._line_start + 1)
        return f"line {line}, column {column} (character {absolute}), in {self._context}"

    def _error(self, what: str, pos: int | None = None, truncated: bool = False) -> SnapshotFileError:
        if truncated or (self._eof and (pos if pos is not None else self._pos) >= len(self._buf)):
            return SnapshotFileError(f"{self.name} ends early (truncated?): {what}, at {self._where(pos)}")
        return SnapshotFileError(f"{self.name} is not a valid {self.WHAT}: {what}, at {self._where(pos)}")

    def _peek(self) -> str:
        """The next non-whitespace character ('' at end of input), without consuming it."""
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, chars: str, what: str) -> str:
        char = self._peek()
        if not char or char not in chars:
            found = f"{char!r}" if char else "the end of the input"
            raise self._error(f"expected {what}, found {found}")
        self._pos += 1
        return char

    def _value(self, outer: int = 1) -> Any:  # the next value, ``outer`` levels deep in the document
        self._peek()
        start_abs = self._base + self._pos
        while True:
            try:
                value, end = json_limits.raw_decode(self._buf, self._pos, outer)
            except json_limits.JsonLimitError as exc:
                raise self._error(str(exc)) from None
            except json.JSONDecodeError as exc:
                pending = len(self._buf) - self._pos
                maybe_incomplete = exc.msg.startswith("Unterminated string") or len(self._buf) - exc.pos <= 32
                if not self._eof and maybe_incomplete:
                    if pending > self._max:
                        raise self._error(f"an element larger than {self._max} characters") from None
                    self._fill(at_least=pending)  # grow geometrically: linear time for big elements
                    continue
                raise self._error(exc.msg, exc.pos, truncated=self._eof and maybe_incomplete) from None
            if (not self._eof and isinstance(value, int | float) and not isinstance(value, bool)
                    and _NUMBER_TAIL.fullmatch(self._buf, end)):
                self._fill()  # "-0" may be "-0.5e10" once the next chunk is in
                continue
            self._pos = end
            if self._base + self._pos == start_abs:  # pragma: no cover - raw_decode always advances
                raise self._error("empty value")
            return value

    def _not_a_snapshot(self, first_char: str) -> NotASnapshotError:
        """What the document is instead (file_kind): for an array, judged by its first element."""
        if first_char != "[":
            return NotASnapshotError(describe_start(self.name, first_char, self._buf[self._pos:self._pos + 200]))
        self._pos += 1
        empty = self._peek() == "]"
        try:
            first = None if empty else self._value()
        except SnapshotFileError:
            first = UNREADABLE
        return NotASnapshotError(describe_array(self.name, first, empty))

    # -- the document ------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """Walk the document; see :class:`Event`. Reads to the end of input (so the hash is whole)."""
        if self._started:
            raise RuntimeError("a SnapshotStream can be walked once")
        self._started = True
        first_char = self._peek()
        if not first_char:
            raise SnapshotFileError(f"{self.name} is empty")
        if first_char != "{":
            raise self._not_a_snapshot(first_char)
        self._pos += 1
        seen: set[str] = set()
        first = True
        while True:
            self._context = "the top-level object"
            if first and self._peek() == "}":
                self._pos += 1
                break
            if self._peek() != '"':
                raise self._error("expected a key in double quotes")
            key = self._value()
            if key in seen:
                raise self._error(f"the key {key!r} appears twice")
            seen.add(key)
            self._expect(":", "':'")
            self._context = f"the value of {key!r}"
            if key in self._streamed:
                if self._peek() != "[":
                    raise self._error(f"{key!r} must be an array")
                self._pos += 1
                yield Event("start", key, None)
                count = 0
                if self._peek() == "]":
                    self._pos += 1
                else:
                    while True:
                        self._context = f"{key}[{count}]"
                        element = self._value(2)
                        count += 1
                        yield Event("item", key, element)
                        self._context = f"{key}[{count - 1}]"
                        if self._expect(",]", "',' or ']'") == "]":
                            break
                self._context = "the top-level object"
                yield Event("end", key, count)
            else:
                yield Event("value", key, self._value())
            first = False
            self._context = "the top-level object"
            if self._expect(",}", "',' or '}'") == "}":
                break
        self._context = "the end of the document"
        if self._peek():
            raise self._error("data after the end of the document")
        while self._fill():  # pragma: no cover - _peek already read to the end
            pass
        self._done = True
