"""The run's spool: what a snapshot has read but not yet written, on local disk, never in memory.

The document writes users as they are read; groups with their members and the configuration come
after them (format 2), so until then they wait here: one SQLite file in the function's ``/tmp``
(``tempfile.gettempdir()``), written only by the run's main thread. It holds
- ``pool``: DescribeUserPool's answer (the configuration sections are read from it);
- ``groups``: every group listed, in ListGroups order, its GroupType as written in the document, and
  whether all its members are read;
- ``member_pages``: the members of each group, one row per ListUsersInGroup page, as the document's
  JSON text (usernames quoted, comma-separated): writing a group is a concatenation;
- ``sections``: each configuration section read, as the document's JSON text;
- ``blobs``: at a hand-over, the set of subs written (``subs.SeenSubs.save``) and the upload's tail
  (the bytes written since the last part, up to a part).

At a hand-over the file itself goes to S3 next to the checkpoint (``checkpoint.save_spool``); the next
run downloads it and opens it with ``Spool.adopt``, which refuses any file that is not exactly a spool
of this snapshot. The disk it needs is in docs/deploying.md ("Disk: /tmp").
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

SPOOL_VERSION = 1
SPOOL_NAME = "spool.sqlite"
BLOB_CHUNK = 1 << 20
# A page of 60 usernames of 36 characters (UUIDs) is a 2.3 KB row: SQLite's default 4 KB pages would
# hold one each, 70 bytes a membership; 16 KB pages hold six (~42 bytes). docs/deploying.md sizes /tmp.
PAGE_SIZE = 16384

SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE groups (idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL, "
    "done INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE member_pages (grp INTEGER NOT NULL, page INTEGER NOT NULL, n INTEGER NOT NULL, "
    "names TEXT NOT NULL, PRIMARY KEY (grp, page))",
    "CREATE TABLE sections (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE blobs (name TEXT NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (name, part))",
)


class SpoolError(ValueError):
    """A downloaded spool that is not one this snapshot wrote (the message says what is wrong)."""


def members_text(names: Iterable[str]) -> str:
    """A page of usernames as they appear in the document: ``"a","b"`` (UTF-8, not escaped)."""
    return ",".join(json.dumps(name, ensure_ascii=False) for name in names)


class Spool:
    def __init__(self, directory: str, connection: sqlite3.Connection):
        self.directory = directory
        self.path = os.path.join(directory, SPOOL_NAME)
        self.db = connection

    # -- life ----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, snapshot_key: str, pool: dict[str, Any], *, directory: str | None = None) -> Spool:
        spool = cls._connect(tempfile.mkdtemp(prefix="cognito-backup-", dir=directory))
        try:
            spool.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first table: the file's page size
            for statement in SCHEMA:
                spool.db.execute(statement)
            spool.db.execute(f"PRAGMA user_version = {SPOOL_VERSION}")
            spool.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("snapshot_key", snapshot_key), ("pool", json.dumps(pool, default=str))])
        except BaseException:
            spool.discard()
            raise
        return spool

    @classmethod
    def new_directory(cls, directory: str | None = None) -> str:
        """A fresh directory for a spool to be downloaded into (``adopt`` opens it)."""
        return tempfile.mkdtemp(prefix="cognito-backup-", dir=directory)

    @staticmethod
    def remove_directory(directory: str) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    @classmethod
    def adopt(cls, directory: str, snapshot_key: str) -> Spool:
        """Open a downloaded spool; ``SpoolError`` if it is not a spool of ``snapshot_key`` as written here."""
        try:
            spool = cls._connect(directory)
        except sqlite3.DatabaseError as exc:
            cls.remove_directory(directory)
            raise SpoolError(f"it is not a spool this function wrote: {exc}") from None
        try:
            spool._check(snapshot_key)
        except sqlite3.DatabaseError as exc:
            spool.discard()
            raise SpoolError(f"it is not a spool this function wrote: {exc}") from None
        except BaseException:
            spool.discard()
            raise
        return spool

    @classmethod
    def _connect(cls, directory: str) -> Spool:
        db = sqlite3.connect(os.path.join(directory, SPOOL_NAME), isolation_level=None)
        # Scratch data: no journal, no fsync (a run that dies loses its /tmp anyway).
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        return cls(directory, db)

    def _check(self, snapshot_key: str) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version != SPOOL_VERSION:
            raise SpoolError(f"its version is {version}, not {SPOOL_VERSION}")
        tables = sorted(row[0] for row in self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table'"))
        if tables != sorted(SCHEMA):
            raise SpoolError("its tables are not the spool's")
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if set(meta) != {"snapshot_key", "pool"}:
            raise SpoolError("its meta table is not the spool's")
        if meta["snapshot_key"] != snapshot_key:
            raise SpoolError(f"it belongs to the snapshot {meta['snapshot_key'][:200]!r}, not {snapshot_key!r}")
        try:
            pool = json.loads(meta["pool"])
        except ValueError:
            raise SpoolError("its pool is not JSON") from None
        if not isinstance(pool, dict):
            raise SpoolError("its pool is not a JSON object")
        quick = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if quick != "ok":
            raise SpoolError(f"it is damaged: {quick[:200]}")

    def flush(self) -> int:
        """Make the file complete on disk (before it is uploaded); returns its size."""
        self.db.execute("PRAGMA wal_checkpoint")  # a no-op without WAL; keeps the file whole either way
        return os.path.getsize(self.path)

    def discard(self) -> None:
        """Close and delete the local file (always: /tmp outlives a run when Lambda reuses the container)."""
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- the pool and the configuration --------------------------------------------------------------

    def pool(self) -> dict[str, Any]:
        return json.loads(self.db.execute("SELECT value FROM meta WHERE key = 'pool'").fetchone()[0])

    def put_section(self, name: str, text: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO sections VALUES (?, ?)", (name, text))

    def sections(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT name, body FROM sections"))

    # -- groups and members --------------------------------------------------------------------------

    def add_groups(self, groups: Iterable[tuple[str, str]]) -> list[tuple[int, str]]:
        """Append (name, body) groups not listed before; returns the new ones as (idx, name)."""
        added = []
        for name, body in groups:
            cursor = self.db.execute("INSERT OR IGNORE INTO groups (name, body) VALUES (?, ?)", (name, body))
            if cursor.rowcount:
                added.append((cursor.lastrowid, name))
        return added

    def group_index(self, name: str) -> int | None:
        row = self.db.execute("SELECT idx FROM groups WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def group_name(self, group: int) -> str:
        return self.db.execute("SELECT name FROM groups WHERE idx = ?", (group,)).fetchone()[0]

    def unfinished_groups(self) -> list[tuple[int, str]]:
        """Groups whose members are not all read, in listing order."""
        return list(self.db.execute("SELECT idx, name FROM groups WHERE done = 0 ORDER BY idx"))

    def add_member_page(self, group: int, page: int, names: list[str]) -> None:
        self.db.execute("INSERT INTO member_pages VALUES (?, ?, ?, ?)", (group, page, len(names), members_text(names)))

    def pages_of(self, group: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM member_pages WHERE grp = ?", (group,)).fetchone()[0]

    def discard_members(self, group: int) -> int:
        """Forget what was read of a group's members (its chain starts again); returns how many."""
        n = self.db.execute("SELECT COALESCE(SUM(n), 0) FROM member_pages WHERE grp = ?", (group,)).fetchone()[0]
        self.db.execute("DELETE FROM member_pages WHERE grp = ?", (group,))
        self.db.execute("UPDATE groups SET done = 0 WHERE idx = ?", (group,))
        return n

    def finish_group(self, group: int) -> None:
        self.db.execute("UPDATE groups SET done = 1 WHERE idx = ?", (group,))

    def totals(self) -> tuple[int, int, int]:
        """(groups listed, groups whose members are all read, members read)."""
        listed, done = self.db.execute("SELECT COUNT(*), COALESCE(SUM(done), 0) FROM groups").fetchone()
        members = self.db.execute("SELECT COALESCE(SUM(n), 0) FROM member_pages").fetchone()[0]
        return listed, done, members

    def groups_for_document(self) -> Iterator[tuple[str, Iterator[tuple[int, str]]]]:
        """Each group in listing order: its body, and its member pages as (count, text)."""
        for idx, body in self.db.execute("SELECT idx, body FROM groups ORDER BY idx").fetchall():
            yield body, self._pages(idx)

    def _pages(self, group: int) -> Iterator[tuple[int, str]]:
        cursor = self.db.execute("SELECT n, names FROM member_pages WHERE grp = ? ORDER BY page", (group,))
        while rows := cursor.fetchmany(256):
            yield from rows

    # -- what a hand-over carries besides ------------------------------------------------------------

    def put_blob(self, name: str, chunks: Iterable[bytes]) -> None:
        self.db.execute("DELETE FROM blobs WHERE name = ?", (name,))
        buffer, part = bytearray(), 0
        for chunk in chunks:
            buffer += chunk
            while len(buffer) >= BLOB_CHUNK:
                self.db.execute("INSERT INTO blobs VALUES (?, ?, ?)", (name, part, bytes(buffer[:BLOB_CHUNK])))
                del buffer[:BLOB_CHUNK]
                part += 1
        self.db.execute("INSERT INTO blobs VALUES (?, ?, ?)", (name, part, bytes(buffer)))

    def blob(self, name: str) -> Iterator[bytes]:
        parts = [row[0] for row in self.db.execute("SELECT part FROM blobs WHERE name = ? ORDER BY part", (name,))]
        if parts != list(range(len(parts))) or not parts:
            raise SpoolError(f"its {name} is missing or incomplete")
        for part in parts:
            yield self.db.execute("SELECT data FROM blobs WHERE name = ? AND part = ?", (name, part)).fetchone()[0]

    def drop_blobs(self) -> None:
        self.db.execute("DELETE FROM blobs")
