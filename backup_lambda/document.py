"""The snapshot document as it is written: one JSON object, key by key, straight into the upload.

Values are encoded compactly (no spaces), UTF-8, dates as ISO 8601 in UTC, bytes (botocore's blobs:
managed login branding assets) as standard base64, losslessly (format 3; formats 1 and 2 held them as
UTF-8 text with the undecodable bytes replaced).
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone
from typing import Any

from backup_lambda.s3_upload import StreamingUpload


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def iso(when: datetime) -> str:
    """``2026-11-26T01:00:03Z``: the document's and the manifest's timestamps."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DocumentWriter:
    """Writes the top-level JSON object key by key into the upload."""

    def __init__(self, upload: StreamingUpload, first: bool = True):
        self.upload = upload
        self.first = first

    def raw(self, text: str) -> None:
        self.upload.write(text.encode("utf-8"))

    def key(self, name: str) -> None:
        self.raw(("{" if self.first else ",\n") + json.dumps(name) + ":")
        self.first = False

    def field(self, name: str, value: Any) -> None:
        self.key(name)
        self.raw(dumps(value))

    def close(self) -> None:
        self.raw("}\n")
