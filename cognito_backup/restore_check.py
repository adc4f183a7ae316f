"""Check a restored pool against its snapshot: snapshot the pool into a local directory and diff.

Used by ``restore --check`` and by ``drill``. The copy is written to a temporary directory through
:class:`LocalObjectStore`, so checking needs no write access to the backup bucket.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cognito_backup.diff import diff_snapshots
from cognito_backup.signatures import Trust


class LocalObjectStore:
    """The S3 calls a snapshot is written with (a multipart upload, then ``put_object`` for the manifest),
    into a local directory: ``<root>/<key>``. The drill's copy of its scratch pool goes here, so the drill
    needs no write access to the backup bucket."""

    def __init__(self, root: str):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key {key!r} leaves the drill's directory")
        return path

    def create_multipart_upload(self, *, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - S3's names
        upload_id = uuid.uuid4().hex
        (self.root / ".uploads" / upload_id).mkdir(parents=True)
        return {"UploadId": upload_id}

    def upload_part(self, *, UploadId: str, PartNumber: int, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
        (self.root / ".uploads" / UploadId / f"{PartNumber:05d}").write_bytes(Body)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, Key: str, UploadId: str, MultipartUpload: dict[str, Any],  # noqa: N803
                                  **_: Any) -> dict[str, Any]:
        path = self._path(Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = self.root / ".uploads" / UploadId
        with open(path, "xb") as out:  # never overwrites, like If-None-Match: *
            for part in MultipartUpload["Parts"]:
                out.write((parts / f"{part['PartNumber']:05d}").read_bytes())
        shutil.rmtree(parts)
        return {}

    def abort_multipart_upload(self, *, UploadId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        shutil.rmtree(self.root / ".uploads" / UploadId, ignore_errors=True)
        return {}

    def put_object(self, *, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
        path = self._path(Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Body)
        return {}


def check_restored_pool(cognito: Any, s3: Any, source: str, pool_id: str, *, excluded: Iterable[str] = (),
                        expected: Iterable[str] = (), renames: dict[str, str] | None = None,
                        work_dir: str | None = None, snapshotter: Callable[..., dict[str, Any]] | None = None,
                        max_detail: int = 50, trust: Trust | None = None) -> dict[str, Any]:
    """Snapshot ``pool_id`` locally and diff ``source`` against it in --restored mode (what cannot be restored
    ignored), leaving out the ``expected`` differences the restore reported and applying its provider
    ``renames``. ``source`` is verified with ``trust``; the copy taken here is unsigned (it never leaves ``tmp``)."""
    if snapshotter is None:
        from backup_lambda.snapshot import take_snapshot as snapshotter
    with tempfile.TemporaryDirectory(prefix="cognito-check-", dir=work_dir) as tmp:
        snap = snapshotter(cognito, LocalObjectStore(tmp), user_pool_id=pool_id, bucket="local",
                           exclude_attributes=list(excluded))
        return diff_snapshots(source, str(Path(tmp) / snap.key), s3=s3, restored=True, expected=expected,
                              renames=renames, max_detail=max_detail, work_dir=tmp, trust=trust,
                              trust_b=Trust(allow_unsigned=True, warn=False))
