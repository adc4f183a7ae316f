"""Compare two snapshots: users, memberships, groups and configuration drift.

``diff A B`` prints a readable summary; ``--json`` adds the full detail (each list capped by
``--max-detail``, default 10,000 entries; the counts are always exact). Both snapshots are verified
first and refused if they fail.

Users and memberships go through a temporary SQLite file, so two snapshots of a million users each
are compared in bounded memory. The configuration sections are small and compared in memory.

``--restored`` compares a snapshot with the snapshot of a pool restored from it, and ignores what a
restore cannot bring back: the one list of it, ``diff_config.NON_RESTORABLE`` (rendered in
docs/restoring.md): subs, ids, dates, client secrets, the pool's name, ARN and domain, federated users
(not recreated), users' MFA options, and the user status a restore leaves (FORCE_CHANGE_PASSWORD or
RESET_REQUIRED). Users are then matched by username, or by email/phone in pools that sign in with them
(a restore gives those users new generated usernames). ``--mapping-file`` (the restore's) applies the
identity providers the restore had to rename.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from cognito_backup import signatures
from cognito_backup.diff_config import NON_RESTORABLE_NOTE, diff_config, is_expected, restored_ignores
from cognito_backup.restore.requests import attributes_of, is_federated, user_identity
from cognito_backup.signatures import Trust
from cognito_backup.snapshot_file import SnapshotSource
from cognito_backup.verify import require_verified

DEFAULT_MAX_DETAIL = 10_000
BATCH = 5_000
RESTORED_STATUSES = frozenset({"FORCE_CHANGE_PASSWORD", "RESET_REQUIRED"})
# --- users and groups ------------------------------------------------------------------------------------

def user_document(user: dict[str, Any], restored: bool) -> dict[str, Any]:
    attrs = attributes_of(user)
    if restored:
        attrs.pop("sub", None)
        attrs.pop("identities", None)
    return {"attributes": attrs, "status": user.get("UserStatus"), "enabled": user.get("Enabled"),
            "mfa_options": user.get("MFAOptions") or []}


def user_changes(a: dict[str, Any], b: dict[str, Any], restored: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    ignored = restored_ignores("users") if restored else frozenset()
    attrs = {name: [a["attributes"].get(name), b["attributes"].get(name)]
             for name in sorted(set(a["attributes"]) | set(b["attributes"]))
             if a["attributes"].get(name) != b["attributes"].get(name)}
    if attrs:
        changes["attributes"] = attrs
    if a["status"] != b["status"] and not ("status" in ignored and b["status"] in RESTORED_STATUSES):
        changes["status"] = [a["status"], b["status"]]
    if a["enabled"] != b["enabled"]:
        changes["enabled"] = [a["enabled"], b["enabled"]]
    if a["mfa_options"] != b["mfa_options"] and "mfa_options" not in ignored:
        changes["mfa_options"] = [a["mfa_options"], b["mfa_options"]]
    return changes


def _group_fields(group: dict[str, Any]) -> dict[str, Any]:
    return {k: group.get(k) for k in ("Description", "RoleArn", "Precedence")}


class _Side:
    """Loads one snapshot's groups, users and memberships into tables suffixed ``a`` or ``b``."""

    def __init__(self, db: sqlite3.Connection, suffix: str):
        self.db, self.s = db, suffix
        self.groups: dict[str, dict[str, Any]] = {}
        self.users = 0
        self.skipped_federated = 0
        self.federated: dict[str, str] = {}  # A in --restored mode: the federated users skipped, username -> identity
        db.executescript(f"""
            CREATE TABLE users_{suffix} (ident TEXT PRIMARY KEY, username TEXT, doc TEXT);
            CREATE TABLE raw_members_{suffix} (grp TEXT, username TEXT);
            CREATE TABLE skipped_{suffix} (username TEXT PRIMARY KEY);
        """)

    def load(self, source: SnapshotSource, if_match: str | None, *, identity_attrs: list[str] | None,
             restored_a: bool, restored: bool, progress: Callable[[str], None] | None,
             skip: tuple[set[str], set[str]] = (set(), set())) -> None:
        """``skip``: (usernames, identities) of users not to compare (B in --restored mode: the native users a
        restore made for A's federated users, --link-federated)."""
        users: list[tuple] = []
        members: list[tuple] = []
        skipped: list[tuple] = []
        last = time.monotonic()
        with source.stream(if_match=if_match) as stream:
            for event in stream.events():
                if event.kind != "item":
                    continue
                if event.key == "groups":
                    group = event.value
                    self.groups[group["GroupName"]] = _group_fields(group)
                    members.extend((group["GroupName"], m) for m in group.get("Members", ()))
                elif event.key == "users":
                    user = event.value
                    if restored_a and is_federated(user):
                        skipped.append((user["Username"],))
                        self.skipped_federated += 1
                        self.federated[user["Username"]] = user_identity(user, identity_attrs)
                        continue
                    if user["Username"] in skip[0] or user_identity(user, identity_attrs) in skip[1]:
                        skipped.append((user["Username"],))
                        self.skipped_federated += 1
                        continue
                    doc = json.dumps(user_document(user, restored), sort_keys=True, ensure_ascii=False)
                    users.append((user_identity(user, identity_attrs), user["Username"], doc))
                    self.users += 1
                if len(users) >= BATCH or len(members) >= BATCH:
                    self._flush(users, members, skipped)
                if progress and time.monotonic() - last > 2:
                    last = time.monotonic()
                    progress(f"  {source}: {self.users:,} users read")
        self._flush(users, members, skipped)
        s = self.s
        script = f"""
            CREATE INDEX users_{s}_username ON users_{s}(username);
            CREATE TABLE members_{s} AS
                SELECT DISTINCT m.grp AS grp, COALESCE(u.ident, 'username:' || m.username) AS ident
                FROM raw_members_{s} m LEFT JOIN users_{s} u ON u.username = m.username
                WHERE m.username NOT IN (SELECT username FROM skipped_{s});
        """  # noqa: S608 - the suffix is 'a' or 'b'
        self.db.executescript(script)

    def _flush(self, users: list, members: list, skipped: list) -> None:
        # A repeated identity (two users sharing an email in a username-matched pool) keeps the last.
        s = self.s  # 'a' or 'b'
        self.db.executemany(f"INSERT OR REPLACE INTO users_{s} VALUES (?, ?, ?)", users)  # noqa: S608
        self.db.executemany(f"INSERT INTO raw_members_{s} VALUES (?, ?)", members)  # noqa: S608
        self.db.executemany(f"INSERT OR IGNORE INTO skipped_{s} VALUES (?)", skipped)  # noqa: S608
        users.clear()
        members.clear()
        skipped.clear()


class _Capped(list):
    def __init__(self, cap: int):
        super().__init__()
        self.cap = cap
        self.total = 0

    def add(self, item: Any) -> None:
        self.total += 1
        if self.cap <= 0 or len(self) < self.cap:
            self.append(item)


def diff_snapshots(source_a: str | SnapshotSource, source_b: str | SnapshotSource, s3: Any = None, *,
                   restored: bool = False, ignore_pool_fields: Iterable[str] = (), expected: Iterable[str] = (),
                   renames: dict[str, str] | None = None, max_detail: int = DEFAULT_MAX_DETAIL,
                   work_dir: str | None = None, progress: Callable[[str], None] | None = None,
                   trust: Trust | None = None, trust_b: Trust | None = None) -> dict[str, Any]:
    """Compare snapshot A (before) with B (after). Both are verified first (SnapshotFileError if not), with
    ``trust`` (``trust_b`` for B, if it differs: a copy the caller just took itself, say).

    Returns ``{"summary": {...counts, config_changed, identical}, "users_added": [...], ...}``;
    detail lists hold at most ``max_detail`` entries each (0: no limit), the summary counts all.
    ``expected``: differences a restore reported (``section.path``, e.g. ``groups.admins.RoleArn``), left out;
    ``renames``: identity providers the restore renamed (old -> new).
    """
    snap_a = source_a if isinstance(source_a, SnapshotSource) else SnapshotSource(source_a, s3=s3)
    snap_b = source_b if isinstance(source_b, SnapshotSource) else SnapshotSource(source_b, s3=s3)
    verified_a = require_verified(snap_a, keep_config=True, progress=progress, trust=trust)
    verified_b = require_verified(snap_b, keep_config=True, progress=progress, trust=trust_b or trust)
    config_a, config_b = verified_a["config"], verified_b["config"]
    expected = tuple(expected) + tuple(f"pool.{f}" for f in ignore_pool_fields)

    pool_a = config_a.get("pool") or {}
    identity_attrs = (pool_a.get("UsernameAttributes") or None) if restored else None

    with tempfile.TemporaryDirectory(prefix="cognito-diff-", dir=work_dir) as tmp:
        db = sqlite3.connect(os.path.join(tmp, "diff.sqlite"))
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA temp_store=FILE")
            db.execute("PRAGMA cache_size=-65536")  # 64 MB page cache, whatever the pool size
            side_a, side_b = _Side(db, "a"), _Side(db, "b")
            if progress:
                progress(f"reading {snap_a}")
            side_a.load(snap_a, verified_a.get("etag"), identity_attrs=identity_attrs, restored_a=restored,
                        restored=restored, progress=progress)
            if progress:
                progress(f"reading {snap_b}")
            linked = (set(), set())
            if restored:  # the native users of A's federated users (--link-federated), as the restore names them
                linked = ({_renamed(u, renames or {}) for u in side_a.federated} | set(side_a.federated),
                          set(side_a.federated.values()))
            side_b.load(snap_b, verified_b.get("etag"), identity_attrs=identity_attrs, restored_a=False,
                        restored=restored, progress=progress, skip=linked)
            result = _compare(db, side_a, side_b, restored=restored, max_detail=max_detail, expected=expected)
        finally:
            db.close()

    changes, not_compared = diff_config(config_a, config_b, restored=restored, expected=expected, renames=renames)
    config_changed = sorted({c["section"] for c in changes})
    summary = result["summary"]
    summary.update(config_changed=config_changed, config_changes=len(changes), not_compared=not_compared,
                   users_a=side_a.users + side_a.skipped_federated, users_b=side_b.users + side_b.skipped_federated,
                   groups_a=len(side_a.groups), groups_b=len(side_b.groups))
    if restored:
        summary["federated_users_not_compared"] = side_a.skipped_federated
        summary["linked_native_users_not_compared"] = side_b.skipped_federated
    summary["identical"] = not any(summary[k] for k in (
        "users_added", "users_removed", "users_changed", "memberships_gained", "memberships_lost",
        "groups_added", "groups_removed", "groups_changed")) and not config_changed
    result["config_changes"] = changes[: max_detail] if max_detail > 0 else changes
    result.update(
        a=str(snap_a), b=str(snap_b),
        taken_at_a=config_a.get("taken_at"), taken_at_b=config_b.get("taken_at"),
        mode="restored" if restored else "snapshots",
        ignored=(NON_RESTORABLE_NOTE if restored else "dates, EstimatedNumberOfUsers")
        + (f"; as the restore reported: {', '.join(expected)}" if expected else "")
        + (f"; identity providers renamed: {', '.join(f'{a} -> {b}' for a, b in renames.items())}"
           if renames else ""),
    )
    return result


def _renamed(username: str, renames: dict[str, str]) -> str:
    """A federated username (``<provider>_<id>``) with its provider's new name."""
    old = next((o for o in renames if username.startswith(f"{o}_")), None)
    return renames[old] + username[len(old):] if old else username


def _compare(db: sqlite3.Connection, a: _Side, b: _Side, *, restored: bool, max_detail: int,
             expected: tuple[str, ...] = ()) -> dict[str, Any]:
    added, removed, changed = _Capped(max_detail), _Capped(max_detail), _Capped(max_detail)
    gained, lost = _Capped(max_detail), _Capped(max_detail)
    changed_fields: Counter[str] = Counter()
    for ident, username in db.execute(
            "SELECT b.ident, b.username FROM users_b b LEFT JOIN users_a a ON a.ident = b.ident "
            "WHERE a.ident IS NULL ORDER BY b.ident"):
        added.add({"user": ident, "username": username})
    for ident, username in db.execute(
            "SELECT a.ident, a.username FROM users_a a LEFT JOIN users_b b ON a.ident = b.ident "
            "WHERE b.ident IS NULL ORDER BY a.ident"):
        removed.add({"user": ident, "username": username})
    for ident, user_a, user_b, doc_a, doc_b in db.execute(
            "SELECT a.ident, a.username, b.username, a.doc, b.doc FROM users_a a JOIN users_b b "
            "ON a.ident = b.ident WHERE a.doc != b.doc ORDER BY a.ident"):
        changes = user_changes(json.loads(doc_a), json.loads(doc_b), restored)
        if not changes:
            continue
        for key, value in changes.items():
            if key == "attributes":
                changed_fields.update(f"attribute {name}" for name in value)
            else:
                changed_fields[key] += 1
        changed.add({"user": ident, "username_a": user_a, "username_b": user_b, "changes": changes})
    for grp, ident in db.execute("SELECT grp, ident FROM members_b EXCEPT SELECT grp, ident FROM members_a "
                                 "ORDER BY 1, 2"):
        gained.add({"group": grp, "user": ident})
    for grp, ident in db.execute("SELECT grp, ident FROM members_a EXCEPT SELECT grp, ident FROM members_b "
                                 "ORDER BY 1, 2"):
        lost.add({"group": grp, "user": ident})
    groups_added = sorted(set(b.groups) - set(a.groups))
    groups_removed = sorted(set(a.groups) - set(b.groups))
    groups_changed = []
    for name in sorted(set(a.groups) & set(b.groups)):
        fields = {k: [a.groups[name][k], b.groups[name][k]] for k in a.groups[name]
                  if a.groups[name][k] != b.groups[name][k] and not is_expected("groups", f"{name}.{k}", expected)}
        if fields:
            groups_changed.append({"group": name, "changes": fields})
    summary = {
        "users_added": added.total, "users_removed": removed.total, "users_changed": changed.total,
        "memberships_gained": gained.total, "memberships_lost": lost.total,
        "groups_added": len(groups_added), "groups_removed": len(groups_removed),
        "groups_changed": len(groups_changed), "changed_fields": dict(changed_fields.most_common()),
    }
    truncated = [name for name, lst in (("users_added", added), ("users_removed", removed),
                                        ("users_changed", changed), ("memberships_gained", gained),
                                        ("memberships_lost", lost)) if lst.total > len(lst)]
    return {"summary": summary, "users_added": list(added), "users_removed": list(removed),
            "users_changed": list(changed), "memberships_gained": list(gained), "memberships_lost": list(lost),
            "groups_added": groups_added, "groups_removed": groups_removed, "groups_changed": groups_changed,
            "truncated": truncated}


# --- text -------------------------------------------------------------------------------------------------

def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_summary(result: dict[str, Any], detail_lines: int = 20) -> str:
    s = result["summary"]
    lines = [f"diff {result['a']} ({result.get('taken_at_a')})", f"  -> {result['b']} ({result.get('taken_at_b')})"]
    if result.get("mode") == "restored":
        lines.append(f"  (restore check: ignoring {result['ignored']})")
    lines.append(f"users: {s['users_a']:,} -> {s['users_b']:,}: {s['users_added']:,} added, "
                 f"{s['users_removed']:,} removed, {s['users_changed']:,} changed")
    if s["changed_fields"]:
        lines.append("  changed: " + ", ".join(f"{k} ({v:,})" for k, v in list(s["changed_fields"].items())[:12]))
    for label, key in (("added", "users_added"), ("removed", "users_removed")):
        shown = result[key][:5]
        if shown:
            more = s[key] - len(shown)
            names = ", ".join(u["username"] for u in shown)
            lines.append(f"  {label}: {names}" + (f" and {more:,} more" if more else ""))
    lines.append(f"memberships: {s['memberships_gained']:,} gained, {s['memberships_lost']:,} lost")
    def named(names: list[str]) -> str:
        return f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""

    lines.append(f"groups: {s['groups_a']} -> {s['groups_b']}: "
                 f"{s['groups_added']} added{named(result['groups_added'])}, "
                 f"{s['groups_removed']} removed{named(result['groups_removed'])}, {s['groups_changed']} changed"
                 f"{named([g['group'] for g in result['groups_changed']])}")
    if s["config_changed"]:
        lines.append(f"configuration drift in: {', '.join(s['config_changed'])}")
        for change in result["config_changes"][:detail_lines]:
            lines.append(f"  {change['section']}: {change['path'] or '(whole section)'}: "
                         f"{_short(change['a'])} -> {_short(change['b'])}")
        if s["config_changes"] > detail_lines:
            lines.append(f"  ... and {s['config_changes'] - detail_lines} more (--json for all)")
    else:
        lines.append("configuration: no drift")
    if s["not_compared"]:
        lines.append("not compared (unavailable in, or not held by the format of, one snapshot): "
                     + ", ".join(s["not_compared"]))
    if result.get("truncated"):
        lines.append(f"detail lists capped at --max-detail for: {', '.join(result['truncated'])}")
    lines.append("IDENTICAL" if s["identical"] else "DIFFERENT")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="the older snapshot: s3://bucket/key or a local path")
    parser.add_argument("b", metavar="B", help="the newer snapshot")
    parser.add_argument("--restored", action="store_true",
                        help="B is a restore of A: ignore what a restore cannot bring back")
    parser.add_argument("--max-detail", type=int, default=DEFAULT_MAX_DETAIL,
                        help="at most N entries per detail list with --json (0: all; counts are always exact)")
    parser.add_argument("--work-dir", help="where the temporary SQLite file goes (default: the temp dir)")
    signatures.add_arguments(parser)
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when the snapshots differ")
    parser.add_argument("--mapping-file", help="with --restored: the restore's mapping file (the identity "
                                               "providers it renamed, the differences it reported)")


def run(args: argparse.Namespace) -> int:
    from cognito_backup.output import emit, progress
    from cognito_backup.restore.report import read_mapping_head

    head = read_mapping_head(args.mapping_file) if args.mapping_file else {}
    renames = {p["old_name"]: p["new_name"] for p in head.get("identity_providers") or ()
               if p.get("old_name") != p.get("new_name")}
    result = diff_snapshots(args.a, args.b, restored=args.restored, max_detail=args.max_detail,
                            expected=head.get("expected_differences") or (), renames=renames,
                            work_dir=args.work_dir, progress=progress, trust=signatures.Trust.from_args(args))
    emit(args, {"status": "ok", **result}, format_summary(result))
    return 1 if args.exit_code and not result["summary"]["identical"] else 0
