"""Turn a backup made by the cognito-backup-restore npm tool (cbr) into a cognito-backup snapshot.

``import-cbr FILE --bucket B --pool-name NAME`` reads FILE (a local path or s3://bucket/key: the JSON
array of ListUsers entries cbr writes per pool) as a stream and writes a snapshot of the documented format,
with its manifest, through the engine's own writer (``backup_lambda.s3_upload.StreamingUpload``,
``backup_lambda.document``), at the engine's key ``<prefix>YYYY/MM/DD/<NAME>_YYYYMMDD_HHMMSS.json``, the
time being the file's own (when cbr wrote it; ``--taken-at`` to say otherwise). Its ``source`` says
``imported`` and where from, and what it ``lacks``: cbr saves users only, so there are never groups or
memberships, and no configuration unless one is taken from elsewhere:

- ``--config-from-pool ID``: the pool's live configuration (DescribeUserPool and every section, read as a
  snapshot reads them), e.g. the original pool if it still exists;
- ``--config-from-snapshot S``: the configuration of a previous snapshot (verified first).

Without either, the pool holds only its name and a schema made from the users' custom attributes (as
mutable strings), so that a restore can create them; the sections are ``unavailable``. This takes two
passes over FILE: the first checks every user and collects the attributes before anything is written.

Every user is checked as it streams (a user without a Username, a username given twice, a field ListUsers
never returns, a truncated file): the error names the element, and nothing is written (the upload is
aborted). ``verify``, ``diff`` and ``restore`` then read the snapshot like any other and say what it lacks.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone
from typing import Any

import botocore

from backup_lambda import __version__
from backup_lambda.document import DocumentWriter, dumps, iso
from backup_lambda.errors import ConfigError, SnapshotFileError
from backup_lambda.s3_upload import StreamingUpload, encryption_args, tagging
from backup_lambda.snapshot_format import CONFIG_SECTIONS, FORMAT_VERSION, manifest_key, retention_class, snapshot_key
from backup_lambda.validation import (
    validate_bucket,
    validate_kms_key,
    validate_pool_name,
    validate_prefix,
    validate_user_pool_id,
)
from cognito_backup.cbr_file import CbrFile, UserCheck
from cognito_backup.snapshot_file import SnapshotSource

FORMAT_NAME = "cognito-backup-restore"
PROGRESS_EVERY = 2.0
NO_CONFIG = f"not in the {FORMAT_NAME} backup (it holds users only); import with --config-from-pool or " \
            "--config-from-snapshot to have it"


def inferred_schema(custom_attributes: set[str]) -> list[dict[str, Any]]:
    """A schema entry per custom attribute the users hold: mutable strings (what cbr cannot tell us)."""
    return [{"Name": name, "AttributeDataType": "String", "DeveloperOnlyAttribute": name.startswith("dev:"),
             "Mutable": True, "Required": False, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}}
            for name in sorted(custom_attributes)]


class Configuration:
    """What cbr never saved, from a live pool, a previous snapshot, or nowhere: pool, sections, origin."""

    def __init__(self, pool: dict[str, Any] | None, sections: dict[str, Any] | None, origin: dict[str, Any] | None):
        self.pool, self.sections, self.origin = pool, sections, origin

    @classmethod
    def from_pool(cls, cognito: Any, pool_id: str) -> Configuration:
        from backup_lambda.config_reader import read_configuration
        from backup_lambda.pool_reader import PoolReader

        reader = PoolReader(cognito, pool_id)
        try:
            pool = reader.describe_pool()
            sections = read_configuration(reader, pool, parallel=6)
        finally:
            reader.close()
        return cls(pool, sections, {"kind": "pool", "user_pool_id": pool_id,
                                    "read_at": iso(datetime.now(timezone.utc))})

    @classmethod
    def from_snapshot(cls, source: str, s3: Any) -> Configuration:
        from cognito_backup.verify import require_verified

        config = require_verified(SnapshotSource(source, s3=s3), keep_config=True)["config"]
        sections = {name: config[name] for name in CONFIG_SECTIONS}
        return cls(config["pool"], sections,
                   {"kind": "snapshot", "snapshot": source, "taken_at": config.get("taken_at")})

    @property
    def described(self) -> str:
        origin = self.origin or {}
        return f"{origin.get('kind')} {origin.get('user_pool_id') or origin.get('snapshot')}" if origin else ""

    @property
    def schema_names(self) -> frozenset[str] | None:
        from cognito_backup.restore.schema import custom_attribute_names

        return None if self.pool is None else frozenset(custom_attribute_names(self.pool.get("SchemaAttributes")))

    def document_parts(self, pool_name: str, custom_attributes: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.pool is not None and self.sections is not None:
            return self.pool, self.sections
        pool = {"Name": pool_name, "SchemaAttributes": inferred_schema(custom_attributes)}
        return pool, {name: {"status": "unavailable", "reason": NO_CONFIG} for name in CONFIG_SECTIONS}


def _file_time(source: SnapshotSource) -> datetime:
    where = source.location
    if where.kind == "file":
        try:
            return datetime.fromtimestamp(os.stat(where.path).st_mtime, timezone.utc)
        except OSError:
            raise SnapshotFileError(f"{where} does not exist") from None
    try:
        return source._s3.head_object(Bucket=where.bucket, Key=where.key)["LastModified"]
    except botocore.exceptions.ClientError as exc:
        raise SnapshotFileError(f"cannot read {where}: {exc.response.get('Error', {}).get('Code')}") from None


class Importer:
    """One import: ``run()`` checks, writes the snapshot and its manifest, and returns the result."""

    def __init__(self, source: SnapshotSource, s3: Any, *, bucket: str, pool_name: str, prefix: str = "",
                 kms_key_id: str | None = None, configuration: Configuration | None = None,
                 taken_at: datetime | None = None, progress: Any = None, part_size: int | None = None):
        self.source, self.s3, self.bucket, self.pool_name = source, s3, bucket, pool_name
        self.prefix, self.kms_key_id = prefix, kms_key_id
        self.configuration = configuration or Configuration(None, None, None)
        self.taken = (taken_at or _file_time(source)).astimezone(timezone.utc).replace(microsecond=0)
        self.say = progress or (lambda _message: None)
        self.part_size = part_size

    def _walk(self, check: UserCheck, write: Any = None) -> CbrFile:
        last = time.monotonic()
        with CbrFile(self.source._open(self.source.location), name=str(self.source)) as cbr:
            for element in cbr.users():
                user = check.check(element)
                if write is not None:
                    write(user)
                if time.monotonic() - last > PROGRESS_EVERY:
                    last = time.monotonic()
                    self.say(f"  importing {self.source}: {check.count:,} users ({cbr.bytes:,} bytes read)")
        return cbr

    def run(self) -> dict[str, Any]:
        config = self.configuration
        first_pass = None
        custom: set[str] = set()
        if config.pool is None:  # the schema comes from the users: check them all before writing anything
            self.say(f"checking {self.source} (its users make the schema: no configuration given)")
            scan = UserCheck(str(self.source))
            first_pass = self._walk(scan)
            custom = scan.custom_attributes
        pool, sections = config.document_parts(self.pool_name, custom)
        lacks = ["groups", "memberships"] + ([] if config.origin else ["configuration"])
        key = snapshot_key(self.prefix, self.pool_name, self.taken)
        retention = retention_class(self.taken)
        tags = {"retention": retention, "pool": self.pool_name}
        upload = StreamingUpload(self.s3, self.bucket, key, kms_key_id=self.kms_key_id, tags=tags,
                                 **({"part_size": self.part_size} if self.part_size else {}))
        check = UserCheck(str(self.source), schema=config.schema_names, schema_origin=config.described)
        self.say(f"importing {self.source} into s3://{self.bucket}/{key}")
        upload.start()
        try:
            doc = DocumentWriter(upload)
            doc.field("format_version", FORMAT_VERSION)
            doc.field("taken_at", iso(self.taken))
            doc.field("source", self._source_field(pool, lacks))
            doc.field("pool", pool)
            for name in CONFIG_SECTIONS:
                doc.field(name, sections[name])
            doc.key("groups")
            doc.raw("[]")
            doc.key("users")
            doc.raw("[")

            def write(user: dict[str, Any]) -> None:
                upload.write((("\n" if check.count == 1 else ",\n") + dumps(user)).encode("utf-8"))

            cbr = self._walk(check, write)
            if first_pass is not None and (first_pass.sha256, first_pass.bytes) != (cbr.sha256, cbr.bytes):
                raise SnapshotFileError(f"{self.source} changed while it was being imported: import it again")
            doc = DocumentWriter(upload, first=False)
            doc.raw("\n]" if check.count else "]")
            summary = {"users": check.count, "groups": 0, "memberships": 0, "federated_users": check.federated,
                       "disabled_users": check.disabled, "estimated_users": None, "excluded_attributes": [],
                       "user_listing": "imported", "ranges": 0,
                       "imported_file": {"sha256": cbr.sha256, "bytes": cbr.bytes}}
            doc.field("summary", summary)
            doc.close()
            sha256 = upload.complete()
        except BaseException:
            upload.abort()
            raise
        manifest = {
            "format_version": FORMAT_VERSION, "snapshot_key": key, "sha256": sha256, "bytes": upload.bytes,
            "users": check.count, "groups": 0, "memberships": 0, "taken_at": iso(self.taken),
            "completed_at": iso(datetime.now(timezone.utc)), "user_pool_id": pool.get("Id"),
            "pool_name": self.pool_name, "retention": retention,
            "sections": {name: sections[name]["status"] for name in CONFIG_SECTIONS}, "runs": 1,
            "tool_version": __version__, "imported": {"format": FORMAT_NAME, "lacks": lacks},
        }
        mkey = manifest_key(key)
        self.s3.put_object(Bucket=self.bucket, Key=mkey, Body=json.dumps(manifest, indent=2).encode(),
                           ContentType="application/json",
                           **encryption_args(self.kms_key_id), **tagging(tags))
        return {"status": "ok", "key": key, "manifest_key": mkey, "bucket": self.bucket, "pool_name": self.pool_name,
                "users": check.count, "federated_users": check.federated, "disabled_users": check.disabled,
                "bytes": upload.bytes, "sha256": sha256, "taken_at": iso(self.taken), "lacks": lacks,
                "configuration_from": config.origin, "imported_file": summary["imported_file"]}

    def _source_field(self, pool: dict[str, Any], lacks: list[str]) -> dict[str, Any]:
        arn_parts = (pool.get("Arn") or "").split(":")
        return {
            "account": arn_parts[4] if len(arn_parts) > 5 else None,
            "region": arn_parts[3] if len(arn_parts) > 5 else None,
            "user_pool_id": pool.get("Id"),
            "pool_name": self.pool_name,
            "tool": "cognito-backup",
            "tool_version": __version__,
            "botocore_version": botocore.__version__,
            "imported": True,
            "imported_from": {"format": FORMAT_NAME, "file": str(self.source), "imported_at": iso(datetime.now(
                timezone.utc)), "configuration_from": self.configuration.origin},
            "lacks": lacks,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the cbr backup: a local path or s3://bucket/key")
    parser.add_argument("--bucket", required=True, help="the snapshot bucket to write to")
    parser.add_argument("--pool-name", required=True, help="the name in the snapshot's key, e.g. prod-users")
    parser.add_argument("--prefix", default="", help="key prefix, e.g. backups/ (default: none)")
    parser.add_argument("--kms-key-id", help="write with SSE-KMS under this key")
    config = parser.add_mutually_exclusive_group()
    config.add_argument("--config-from-pool", metavar="ID", help="take the configuration from this live pool")
    config.add_argument("--config-from-snapshot", metavar="SNAPSHOT",
                        help="take the configuration from this snapshot (s3://bucket/key or a local path)")
    parser.add_argument("--taken-at", help="when the backup was made, ISO 8601 UTC (default: the file's time)")


def _taken_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--taken-at must be an ISO 8601 time such as 2026-11-26T01:00:00Z, not {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def run(args: argparse.Namespace) -> int:
    from backup_lambda.aws import make_client
    from cognito_backup.output import emit, progress

    bucket = validate_bucket(args.bucket, "--bucket")
    pool_name = validate_pool_name(args.pool_name, "--pool-name")
    prefix = validate_prefix(args.prefix, "--prefix")
    kms = validate_kms_key(args.kms_key_id, "--kms-key-id")
    taken_at = _taken_at(args.taken_at)
    s3 = make_client("s3")
    if args.config_from_pool:
        validate_user_pool_id(args.config_from_pool, "--config-from-pool")
        progress(f"reading the configuration of pool {args.config_from_pool}")
        configuration = Configuration.from_pool(make_client("cognito-idp"), args.config_from_pool)
    elif args.config_from_snapshot:
        progress(f"reading the configuration of snapshot {args.config_from_snapshot}")
        configuration = Configuration.from_snapshot(args.config_from_snapshot, s3)
    else:
        configuration = None
    source = SnapshotSource(args.file, s3=s3)
    result = Importer(source, s3, bucket=bucket, pool_name=pool_name, prefix=prefix, kms_key_id=kms,
                      configuration=configuration, taken_at=taken_at, progress=progress).run()
    text = (f"imported {args.file} -> s3://{bucket}/{result['key']}\n"
            f"  {result['users']:,} users, {result['bytes']:,} bytes (sha256 {result['sha256'][:16]}...); "
            f"the snapshot holds no {', no '.join(result['lacks'])}: cbr saves users only")
    emit(args, result, text)
    return 0
