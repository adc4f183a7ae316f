"""Write one S3 object as a stream: a multipart upload whose parts are sent as the data arrives.

Memory holds at most one part (``part_size``, 8 MiB by default). The SHA-256 and byte count of the
whole object are computed on the way. ``complete()`` refuses to overwrite an existing object
(``If-None-Match: *``), so two runs can never produce one mixed object; ``abort()`` leaves nothing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from backup_lambda import sha256_state

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024


@dataclass
class UploadState:
    """What another process needs to carry on writing an object (``StreamingUpload.save_state``)."""

    bucket: str
    key: str
    upload_id: str
    parts: list[dict[str, Any]]
    part_size: int
    bytes: int
    sha256_kind: str
    sha256_state: str  # base64
    tail_bytes: int  # how many bytes were written since the last part was sent (they travel apart: ``tail``)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> UploadState:
        """``ValueError`` naming the field that does not fit (a checkpoint is read back from S3)."""
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise ValueError(f"upload must have exactly the fields {sorted(cls.__dataclass_fields__)}")
        for name in ("bucket", "key", "upload_id", "sha256_kind", "sha256_state"):
            if not isinstance(data[name], str):
                raise ValueError(f"upload.{name} is not a string")
        for name in ("part_size", "bytes", "tail_bytes"):
            if not isinstance(data[name], int) or isinstance(data[name], bool) or data[name] < 0:
                raise ValueError(f"upload.{name} is not a whole number >= 0")
        parts = data["parts"]
        if not isinstance(parts, list) or not all(
                isinstance(p, dict) and set(p) == {"PartNumber", "ETag"} and p["PartNumber"] == i
                and isinstance(p["ETag"], str) for i, p in enumerate(parts, 1)):
            raise ValueError("upload.parts is not the list of parts 1..n with their ETags")
        try:
            base64.b64decode(data["sha256_state"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("upload.sha256_state is not base64") from None
        if data["tail_bytes"] > data["bytes"] or data["tail_bytes"] >= max(data["part_size"], 1):
            raise ValueError("upload.tail_bytes is not less than a part and than the bytes written")
        return cls(**data)


def encryption_args(kms_key_id: str | None) -> dict[str, Any]:
    if not kms_key_id:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id, "BucketKeyEnabled": True}


def tagging(tags: dict[str, str] | None) -> dict[str, str]:
    return {"Tagging": urlencode(tags)} if tags else {}


class StreamingUpload:
    def __init__(self, s3, bucket: str, key: str, *, kms_key_id: str | None = None,
                 tags: dict[str, str] | None = None, part_size: int = DEFAULT_PART_SIZE,
                 content_type: str = "application/json"):
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.s3, self.bucket, self.key = s3, bucket, key
        self.part_size = part_size
        self._create_args = {
            "Bucket": bucket, "Key": key, "ContentType": content_type,
            **encryption_args(kms_key_id), **tagging(tags),
        }
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self._buffer = bytearray()
        self._sha = sha256_state.new()
        self.bytes = 0
        self.finished = False

    def start(self) -> StreamingUpload:
        self.upload_id = self.s3.create_multipart_upload(**self._create_args)["UploadId"]
        return self

    def write(self, data: bytes) -> None:
        self._sha.update(data)
        self.bytes += len(data)
        self._buffer += data
        if len(self._buffer) >= self.part_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer and self.parts:
            return
        number = len(self.parts) + 1
        resp = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                   PartNumber=number, Body=bytes(self._buffer))
        self.parts.append({"PartNumber": number, "ETag": resp["ETag"]})
        self._buffer = bytearray()

    def complete(self) -> str:
        """Send the last part and complete the upload; returns the object's SHA-256 (hex)."""
        self._flush()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts}, IfNoneMatch="*",
        )
        self.finished = True
        return self._sha.hexdigest()

    def save_state(self) -> UploadState:
        """What another process needs to carry on writing this object, besides ``tail()`` (see ``resume``)."""
        assert self.upload_id is not None, "the upload has not started"
        return UploadState(
            bucket=self.bucket, key=self.key, upload_id=self.upload_id, parts=list(self.parts),
            part_size=self.part_size, bytes=self.bytes, sha256_kind=self._sha.kind,
            sha256_state=base64.b64encode(self._sha.state()).decode(), tail_bytes=len(self._buffer),
        )

    def tail(self) -> bytes:
        """The bytes written since the last part was sent (up to a part: megabytes, kept apart from the state)."""
        return bytes(self._buffer)

    @classmethod
    def resume(cls, s3, state: UploadState, tail: bytes) -> StreamingUpload:
        if len(tail) != state.tail_bytes:
            raise ValueError(f"the upload's saved tail holds {len(tail)} bytes, not {state.tail_bytes}")
        upload = cls(s3, state.bucket, state.key, part_size=state.part_size)
        upload.upload_id = state.upload_id
        upload.parts = list(state.parts)
        upload.bytes = state.bytes
        upload._sha = sha256_state.new(base64.b64decode(state.sha256_state), kind=state.sha256_kind)
        upload._buffer = bytearray(tail)
        return upload

    @staticmethod
    def abort_saved(s3, state: UploadState) -> None:
        """Abort the upload a saved state describes (its parts are deleted)."""
        s3.abort_multipart_upload(Bucket=state.bucket, Key=state.key, UploadId=state.upload_id)

    def abort(self) -> None:
        """Abort the upload (its parts are deleted). Safe to call at any point, even twice."""
        if self.upload_id and not self.finished:
            self.finished = True
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
