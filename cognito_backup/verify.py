"""Verify a snapshot against its manifest: complete, intact, readable, counts that add up.

``verify SNAPSHOT`` (``s3://bucket/key`` or a local path) checks, in one pass over the snapshot:
the manifest exists and names this snapshot; it carries the signature of a trusted signing key over
exactly its content (``signatures.py``: unsigned only with ``--allow-unsigned``); the sha256 and byte
count match; ``format_version``
is one this tool reads (1 or 2: the same keys, written in another order; the order carries no meaning
and no reader relies on it; 3 adds the newer sections, ``snapshot_format.NEW_IN_V3``); the document is
well-formed (every key its version documents, sections with a valid status); and its users, groups and
memberships match both the manifest and the document's summary.
Exit code 0 only when all of that holds; 1 when the snapshot fails; 2 on a usage error.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from backup_lambda.errors import SnapshotFileError
from backup_lambda.snapshot_format import CONFIG_SECTIONS, DOCUMENT_KEYS, SUPPORTED_FORMAT_VERSIONS
from cognito_backup import signatures
from cognito_backup.file_kind import NotASnapshotError
from cognito_backup.signatures import Trust
from cognito_backup.snapshot_file import SnapshotSource, SnapshotStream

# The keys a document of each version must hold (1 and 2: the same keys in another order; 3: more sections).
# A document of an unknown version is held to the newest's (its version is a problem of its own).
REQUIRED_KEYS = DOCUMENT_KEYS[max(SUPPORTED_FORMAT_VERSIONS)]
SECTION_STATUSES = frozenset({"present", "absent", "unavailable"})
PROGRESS_EVERY = 2.0  # seconds


def _check_section(name: str, section: Any, problems: list[str]) -> None:
    if not isinstance(section, dict) or section.get("status") not in SECTION_STATUSES:
        problems.append(f"section {name!r} has no valid status (present, absent or unavailable)")
        return
    if section["status"] == "present" and "value" not in section and "items" not in section:
        problems.append(f"section {name!r} is present but has neither 'value' nor 'items'")
    if "items" in section and not isinstance(section["items"], list):
        problems.append(f"section {name!r}: 'items' is not a list")


def _check_user(index: int, user: Any, problems: list[str]) -> bool:
    if not isinstance(user, dict) or not isinstance(user.get("Username"), str):
        problems.append(f"users[{index}] has no Username")
        return False
    if not isinstance(user.get("Attributes", []), list):
        problems.append(f"users[{index}] ({user['Username']!r}): Attributes is not a list")
        return False
    return True


def _check_group(index: int, group: Any, problems: list[str]) -> int:
    if not isinstance(group, dict) or not isinstance(group.get("GroupName"), str):
        problems.append(f"groups[{index}] has no GroupName")
        return 0
    members = group.get("Members")
    if not isinstance(members, list):
        problems.append(f"groups[{index}] ({group['GroupName']!r}) has no Members list")
        return 0
    return len(members)


def check_document(stream: SnapshotStream, *, keep_config: bool = False,
                   progress: Callable[[str], None] | None = None,
                   on_group: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], list[str], dict]:
    """Walk a snapshot: (counts, problems, config). Parse errors become a problem, not an exception.
    ``on_group`` sees each well-formed group as it is read (the restore collects the groups' names and roles)."""
    problems: list[str] = []
    counts = {"users": 0, "groups": 0, "memberships": 0, "federated_users": 0, "disabled_users": 0}
    config: dict[str, Any] = {}
    seen: set[str] = set()
    last = time.monotonic()
    try:
        for event in stream.events():
            seen.add(event.key)
            if event.kind == "value":
                if event.key in CONFIG_SECTIONS:
                    _check_section(event.key, event.value, problems)
                if keep_config or event.key in ("format_version", "summary", "source", "taken_at"):
                    config[event.key] = event.value
            elif event.kind == "item" and event.key == "users":
                if _check_user(counts["users"], event.value, problems):
                    counts["federated_users"] += event.value.get("UserStatus") == "EXTERNAL_PROVIDER"
                    counts["disabled_users"] += event.value.get("Enabled") is False
                counts["users"] += 1
            elif event.kind == "item" and event.key == "groups":
                before = len(problems)
                counts["memberships"] += _check_group(counts["groups"], event.value, problems)
                counts["groups"] += 1
                if on_group and len(problems) == before:
                    on_group(event.value)
            if progress and time.monotonic() - last > PROGRESS_EVERY:
                last = time.monotonic()
                progress(f"  read {stream.bytes:,} bytes: {counts['groups']:,} groups, {counts['users']:,} users")
            if len(problems) > 100:
                problems.append("more than 100 problems: stopped reading")
                break
    except NotASnapshotError:
        raise  # not a damaged snapshot: the caller says what it is instead
    except SnapshotFileError as exc:
        problems.append(str(exc))
        return counts, problems, config
    version = config.get("format_version")
    required = DOCUMENT_KEYS.get(version, REQUIRED_KEYS) if isinstance(version, int) else REQUIRED_KEYS
    missing = [key for key in required if key not in seen]
    if missing:
        problems.append(f"the document lacks {', '.join(missing)}")
    if "format_version" in config and version not in SUPPORTED_FORMAT_VERSIONS:
        problems.append(f"format_version {version!r} is not one this tool reads "
                        f"({', '.join(map(str, sorted(SUPPORTED_FORMAT_VERSIONS)))}): upgrade cognito-backup")
    summary = config.get("summary")
    if isinstance(summary, dict):
        for name in ("users", "groups", "memberships", "federated_users", "disabled_users"):
            if name in summary and summary[name] != counts[name]:
                problems.append(f"the document's summary says {summary[name]} {name}, "
                                f"the document holds {counts[name]}")
    elif "summary" in seen:
        problems.append("summary is not an object")
    return counts, problems, config


def verify_snapshot(source: str | SnapshotSource, s3: Any = None, *, keep_config: bool = False,
                    progress: Callable[[str], None] | None = None, trust: Trust | None = None,
                    kms: Any = None, on_group: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Verify a snapshot; never raises for a bad snapshot (the problems say what is wrong).

    Returns ``{"ok", "snapshot", "problems": [...], "manifest": {...} | None, "signed", "counts": {...},
    "sha256", "bytes", "etag"}`` (plus ``config``, the non-array keys, with ``keep_config``). ``trust``:
    the signing keys trusted and whether unsigned snapshots are accepted (default: the environment's,
    ``Trust.from_args``); ``kms``: the client that checks signatures; ``on_group``: see ``check_document``.
    """
    trust = Trust.from_args() if trust is None else trust
    snapshot = source if isinstance(source, SnapshotSource) else SnapshotSource(source, s3=s3)
    problems: list[str] = []
    manifest: dict[str, Any] | None = None
    try:
        manifest = snapshot.read_manifest()
    except SnapshotFileError as exc:
        problems.append(str(exc))
    result: dict[str, Any] = {"ok": False, "snapshot": str(snapshot), "problems": problems, "manifest": manifest,
                              "signed": False, "counts": {}, "sha256": None, "bytes": None, "etag": None}
    if manifest is not None:
        signature_problems, result["signed"] = signatures.check_signature(manifest, trust, kms)
        problems.extend(signature_problems)
        version = manifest.get("format_version")
        if version not in SUPPORTED_FORMAT_VERSIONS:
            problems.append(f"manifest format_version {version!r} is not one this tool reads")
        named = manifest.get("snapshot_key")
        location = snapshot.location
        expected = location.key if location.kind == "s3" else location.name
        if not isinstance(named, str) or not (named == expected or named.rsplit("/", 1)[-1] == expected):
            problems.append(f"the manifest is for {named!r}, not for {expected!r}")
    try:
        stream = snapshot.stream()
    except SnapshotFileError as exc:
        problems.append(str(exc))
        return result
    try:
        with stream:
            counts, doc_problems, config = check_document(stream, keep_config=keep_config, progress=progress,
                                                             on_group=on_group)
    except NotASnapshotError as exc:  # its missing manifest is not the point: say what it is
        problems[:] = [str(exc)]
        result["not_a_snapshot"] = True
        return result
    problems.extend(doc_problems)
    result.update(counts=counts, etag=snapshot.etag)
    if stream.finished:
        result.update(sha256=stream.sha256, bytes=stream.bytes)
    if manifest is not None and stream.finished:
        if manifest.get("bytes") != stream.bytes:
            problems.append(f"byte count {stream.bytes} does not match the manifest's {manifest.get('bytes')}")
        if manifest.get("sha256") != stream.sha256:
            problems.append("sha256 does not match the manifest: the snapshot was changed or damaged")
        for name in ("users", "groups", "memberships"):
            if manifest.get(name) != counts.get(name):
                problems.append(f"the manifest says {manifest.get(name)} {name}, the snapshot holds {counts.get(name)}")
        if "format_version" in config and manifest.get("format_version") != config.get("format_version"):
            problems.append("format_version differs between the manifest and the document")
    if keep_config:
        result["config"] = config
    else:
        result["taken_at"] = config.get("taken_at")
        result["source"] = config.get("source")
    lacks = imported_lacks(config.get("source"))
    if lacks is not None:
        result["lacks"] = lacks
    result["ok"] = not problems
    return result


def imported_lacks(source: Any) -> list[str] | None:
    """What an imported snapshot does not hold (its ``source.lacks``); None for a snapshot taken of a pool."""
    if not isinstance(source, dict) or not source.get("imported"):
        return None
    lacks = source.get("lacks")
    return [str(item) for item in lacks] if isinstance(lacks, list) else []


def imported_note(source: Any) -> str | None:
    """One line saying where an imported snapshot comes from and what it lacks (None if not imported)."""
    lacks = imported_lacks(source)
    if lacks is None:
        return None
    origin = source.get("imported_from") or {}
    what = f"imported from {origin.get('format', 'another tool')} file {origin.get('file', '?')}"
    return f"{what}: it holds no {', no '.join(lacks)}" if lacks else what


def require_verified(source: str | SnapshotSource, s3: Any = None, *, keep_config: bool = False,
                     progress: Callable[[str], None] | None = None, trust: Trust | None = None,
                     on_group: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """verify_snapshot, raising :class:`SnapshotFileError` listing the problems when it fails; an unsigned
    snapshot accepted (``--allow-unsigned``) is said on ``progress``."""
    trust = Trust.from_args() if trust is None else trust
    result = verify_snapshot(source, s3=s3, keep_config=keep_config, progress=progress, trust=trust,
                             on_group=on_group)
    config = result.get("config") or result
    note = imported_note(config.get("source"))
    if note and progress:
        progress(f"note: {result['snapshot']} is {note}")
    if not result["ok"]:
        listed = "\n  - ".join(result["problems"])
        raise SnapshotFileError(f"snapshot {result['snapshot']} fails verification, refusing it:\n  - {listed}")
    if not result["signed"] and progress and trust.warn:
        progress(signatures.unsigned_warning(result["snapshot"]))
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", metavar="SNAPSHOT", help="s3://bucket/key or a local path")
    signatures.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cognito_backup.output import emit, progress

    progress(f"verifying {args.snapshot}")
    result = verify_snapshot(args.snapshot, progress=progress, trust=Trust.from_args(args))
    counts = result["counts"]
    if result["ok"] and not result["signed"]:
        progress(signatures.unsigned_warning(result["snapshot"]))
    if result["ok"]:
        text = (f"OK {result['snapshot']}: {counts['users']:,} users, {counts['groups']:,} groups, "
                f"{counts['memberships']:,} memberships, {result['bytes']:,} bytes, sha256 {result['sha256']}, "
                + (f"signed by {result['manifest']['signature']['key_id']}" if result["signed"] else "NOT SIGNED"))
        note = imported_note(result.get("source"))
        if note:
            text += f"\n  note: {note}"
    else:
        text = f"FAILED {result['snapshot']}:\n" + "\n".join(f"  - {p}" for p in result["problems"])
    emit(args, {"status": "ok" if result["ok"] else "failed", **result}, text)
    return 0 if result["ok"] else 1
