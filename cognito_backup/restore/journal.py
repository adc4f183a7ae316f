"""The run's journal: what it knows of every user and membership, in SQLite (a pool may hold millions of
users, more than a run should keep in memory), in a file of the run's temporary directory.

- ``users``: each snapshot user, its identity (what finds it again in the target pool, see
  ``requests.user_identity``), its state in this run (``pending``, ``created``, ``existed``, ``importing``,
  ``imported``, ``federated``, ``linked``, ``skipped``, ``failed``), why (``detail``), its new username and sub;
- ``members``: the snapshot's group memberships, by old username;
- ``existing_users`` / ``existing_members``: what the target pool held already (a resumed restore);
- ``queue_members``, ``queue_disable``, ``queue_links``: the work of the memberships, disabling and linking
  lanes (pipeline.py), in the order it became possible: a user's memberships, its disabling (if the snapshot
  has it disabled) and its provider identities are queued once the user is in the target pool (``ready``: there
  already, created, or imported by a job that succeeded: ``chunk_imported``; or found after the jobs).

The work lists (memberships, disabled users, provider identities, the queues) are read in pages of rowids, so
that the caller may write to the journal while it goes through them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

SCHEMA = """
    PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
    CREATE TABLE existing_users (ident TEXT PRIMARY KEY, username TEXT, sub TEXT, enabled INTEGER);
    CREATE TABLE existing_members (grp TEXT, username TEXT, PRIMARY KEY (grp, username));
    CREATE TABLE members (grp TEXT, old_username TEXT);
    CREATE TABLE users (old_username TEXT PRIMARY KEY, old_sub TEXT, ident TEXT, new_username TEXT,
                        new_sub TEXT, state TEXT, enabled INTEGER, identities TEXT, detail TEXT, chunk INTEGER);
    CREATE INDEX users_ident ON users(ident);
    CREATE INDEX users_chunk ON users(chunk) WHERE chunk IS NOT NULL;
    CREATE TABLE queue_members (seq INTEGER PRIMARY KEY, ref INTEGER);
    CREATE TABLE queue_disable (seq INTEGER PRIMARY KEY, ref INTEGER);
    CREATE TABLE queue_links (seq INTEGER PRIMARY KEY, ref INTEGER);
"""
# Built once the memberships are in (groups come before users in a snapshot): faster than kept up row by row.
MEMBERS_INDEX = "CREATE INDEX IF NOT EXISTS members_user ON members(old_username)"
USER_COLUMNS = ("new_username", "new_sub", "state", "detail")
MAPPING_COLUMNS = ("old_username", "old_sub", "new_username", "new_sub", "state", "detail")
PAGE = 1000


class Journal:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: Any) -> None:
        self.db.close()

    # -- what the target pool holds ------------------------------------------------------------------------
    def add_existing_users(self, rows: Iterable[tuple[str, str, str | None, int]]) -> None:
        """(identity, username, sub, enabled) of users in the target pool."""
        self.db.executemany("INSERT OR REPLACE INTO existing_users VALUES (?,?,?,?)", rows)

    def add_existing_members(self, rows: Iterable[tuple[str, str]]) -> None:
        """(group, username) of memberships in the target pool."""
        self.db.executemany("INSERT OR IGNORE INTO existing_members VALUES (?,?)", rows)

    def existing_user(self, ident: str) -> tuple[str, str | None] | None:
        """(username, sub) of the target pool's user of that identity, if it has one."""
        return self.db.execute("SELECT username, sub FROM existing_users WHERE ident = ?", (ident,)).fetchone()

    def existing_user_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM existing_users").fetchone()[0]

    # -- the snapshot's users and memberships ---------------------------------------------------------------
    def add_members(self, rows: Iterable[tuple[str, str]]) -> None:
        """(group, old username) of the snapshot's memberships."""
        self.db.executemany("INSERT INTO members VALUES (?,?)", rows)

    def members_complete(self) -> None:
        """Every membership is in (the snapshot's groups are read): index them by user."""
        self.db.execute(MEMBERS_INDEX)

    def member_total(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM members").fetchone()[0]

    def member_count(self, old_username: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM members WHERE old_username = ?", (old_username,)).fetchone()[0]

    def add_user(self, old_username: str, old_sub: str | None, ident: str, *, enabled: bool,
                 identities: list[dict[str, Any]], state: str, chunk: int | None = None, **values: Any) -> None:
        """A snapshot user and its state (``chunk``: the import file it is in); ``values``: new_username, new_sub,
        detail."""
        self.db.execute("INSERT OR REPLACE INTO users (old_username, old_sub, ident, state, enabled, identities, "
                        "chunk) VALUES (?,?,?,?,?,?,?)", (old_username, old_sub, ident, state, int(enabled),
                                                          json.dumps(identities) if identities else None, chunk))
        if values:
            self.set_user(old_username, **values)

    def set_user(self, old_username: str, **values: Any) -> None:
        unknown = set(values) - set(USER_COLUMNS)
        if unknown:
            raise ValueError(f"not columns of the journal's users: {', '.join(sorted(unknown))}")
        columns = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE users SET {columns} WHERE old_username = ?",  # noqa: S608 - columns checked above
                        (*values.values(), old_username))

    def set_imported(self, rows: Iterable[tuple[str, str | None, str]], *, links: bool) -> int:
        """(new username, new sub, identity) of users found in the pool after the import jobs: their new username
        and sub; those still ``importing`` (their job had failures) become ``imported`` and are queued (``ready``).
        Returns how many became ``imported``."""
        newly = 0
        for username, sub, ident in rows:
            changed = self.db.execute("UPDATE users SET new_username = ?, new_sub = ?, state = 'imported' "
                                      "WHERE ident = ? AND state = 'importing'", (username, sub, ident)).rowcount
            if changed:
                newly += changed
                self._queue("users.ident = ?", (ident,), links)
            else:
                self.db.execute("UPDATE users SET new_username = ?, new_sub = ? WHERE ident = ? AND "
                                "state = 'imported' AND new_sub IS NULL", (username, sub, ident))
        return newly

    def chunk_imported(self, chunk: int, *, links: bool) -> int:
        """The users of import file ``chunk`` are in the pool (its job succeeded, none failed or skipped): they
        become ``imported`` (their new sub comes with the listing after the jobs), and are queued."""
        n = self.db.execute("UPDATE users SET state = 'imported' WHERE chunk = ? AND state = 'importing'",
                            (chunk,)).rowcount
        self._queue("users.chunk = ? AND users.state = 'imported'", (chunk,), links)
        return n

    def fail_importing(self, detail: str) -> int:
        """Users still ``importing`` (not found after the jobs), or imported by a job but not found by the listing,
        become ``failed``, for a resume to create. Returns how many."""
        return self.db.execute("UPDATE users SET state = 'failed', detail = ? WHERE state = 'importing' OR "
                               "(state = 'imported' AND new_sub IS NULL)", (detail,)).rowcount

    # -- the lanes' queues --------------------------------------------------------------------------------
    def ready(self, old_username: str, *, links: bool) -> None:
        """A user is in the target pool: queue its memberships, its disabling and (``links``) its identities."""
        self._queue("users.old_username = ?", (old_username,), links)

    def _queue(self, where: str, args: tuple, links: bool) -> None:
        self.db.execute("INSERT INTO queue_members (ref) SELECT m.rowid FROM users JOIN members m ON "  # noqa: S608
                        f"m.old_username = users.old_username WHERE {where}", args)
        self.db.execute(f"INSERT INTO queue_disable (ref) SELECT rowid FROM users WHERE {where} "  # noqa: S608
                        "AND enabled = 0", args)
        if links:
            self.db.execute(f"INSERT INTO queue_links (ref) SELECT rowid FROM users WHERE {where} "  # noqa: S608
                            "AND identities IS NOT NULL", args)

    def queued_memberships(self, after: int, limit: int) -> list[tuple]:
        """(seq, group, old username, new username, the user's state, whether the target has it already)."""
        return self.db.execute(
            "SELECT q.seq, m.grp, m.old_username, u.new_username, u.state, EXISTS (SELECT 1 FROM existing_members e "
            "WHERE e.grp = m.grp AND e.username = u.new_username) FROM queue_members q JOIN members m ON "
            "m.rowid = q.ref JOIN users u ON u.old_username = m.old_username WHERE q.seq > ? ORDER BY q.seq LIMIT ?",
            (after, limit)).fetchall()

    def queued_disables(self, after: int, limit: int) -> list[tuple]:
        """(seq, old username, new username, state, whether the target's user was enabled (None: it had none))."""
        return self.db.execute(
            "SELECT q.seq, u.old_username, u.new_username, u.state, e.enabled FROM queue_disable q JOIN users u ON "
            "u.rowid = q.ref LEFT JOIN existing_users e ON e.ident = u.ident WHERE q.seq > ? ORDER BY q.seq LIMIT ?",
            (after, limit)).fetchall()

    def queued_links(self, after: int, limit: int) -> list[tuple]:
        """(seq, old username, new username, state, identities as JSON)."""
        return self.db.execute(
            "SELECT q.seq, u.old_username, u.new_username, u.state, u.identities FROM queue_links q JOIN users u ON "
            "u.rowid = q.ref WHERE q.seq > ? ORDER BY q.seq LIMIT ?", (after, limit)).fetchall()

    def count(self, state: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM users WHERE state = ?", (state,)).fetchone()[0]

    def count_disabled(self, states: tuple[str, ...]) -> int:
        """Users disabled in the snapshot that are in one of ``states``."""
        marks = ",".join("?" * len(states))
        return self.db.execute(f"SELECT COUNT(*) FROM users WHERE enabled = 0 AND state IN ({marks})",  # noqa: S608
                               states).fetchone()[0]

    def states(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, COUNT(*) FROM users GROUP BY state").fetchall())

    def in_state(self, state: str, limit: int) -> list[tuple[str, str | None]]:
        """(old username, detail) of the first ``limit`` users in ``state``, in snapshot order."""
        return self.db.execute("SELECT old_username, detail FROM users WHERE state = ? ORDER BY rowid LIMIT ?",
                               (state, limit)).fetchall()

    def mapping_rows(self) -> Iterator[dict[str, Any]]:
        """Every user as the mapping file lists it, in snapshot order (``detail`` only where there is one)."""
        for row in self.db.execute(f"SELECT {', '.join(MAPPING_COLUMNS)} FROM users ORDER BY rowid"):  # noqa: S608
            entry = dict(zip(MAPPING_COLUMNS, row, strict=True))
            if entry["detail"] is None:
                del entry["detail"]
            yield entry

    # -- work lists ---------------------------------------------------------------------------------------------
    def memberships(self) -> Iterator[tuple[str, str, str | None, str | None, bool]]:
        """Every snapshot membership: (group, old username, new username, the user's state (None: not in the
        snapshot's users), whether the target pool has that membership already)."""
        for row in self._pages(
                "SELECT m.rowid, m.grp, m.old_username, u.new_username, u.state, EXISTS (SELECT 1 FROM "
                "existing_members e WHERE e.grp = m.grp AND e.username = u.new_username) FROM members m "
                "LEFT JOIN users u ON u.old_username = m.old_username WHERE m.rowid > ? ORDER BY m.rowid LIMIT ?"):
            yield row[0], row[1], row[2], row[3], bool(row[4])

    def disabled_users(self) -> Iterator[tuple[str, str | None, str, bool | None]]:
        """Users disabled in the snapshot: (old username, new username, state, whether the target pool's user of
        that identity is enabled (None: it had none))."""
        for row in self._pages(
                "SELECT u.rowid, u.old_username, u.new_username, u.state, e.enabled FROM users u "
                "LEFT JOIN existing_users e ON e.ident = u.ident WHERE u.enabled = 0 AND u.rowid > ? "
                "ORDER BY u.rowid LIMIT ?"):
            yield row[0], row[1], row[2], None if row[3] is None else bool(row[3])

    def users_with_identities(self) -> Iterator[tuple[str, str | None, str, list[dict[str, Any]]]]:
        """Users with provider identities: (old username, new username, state, identities)."""
        for row in self._pages("SELECT rowid, old_username, new_username, state, identities FROM users "
                               "WHERE identities IS NOT NULL AND rowid > ? ORDER BY rowid LIMIT ?"):
            yield row[0], row[1], row[2], json.loads(row[3])

    def users_named(self, old_usernames: list[str]) -> dict[str, tuple[str | None, str]]:
        """Old username -> (new username, state), of those of ``old_usernames`` that the journal holds."""
        found: dict[str, tuple[str | None, str]] = {}
        for start in range(0, len(old_usernames), 500):
            names = old_usernames[start:start + 500]
            marks = ", ".join("?" * len(names))
            for old, new, state in self.db.execute(
                    f"SELECT old_username, new_username, state FROM users WHERE old_username IN ({marks})",  # noqa: S608
                    names):
                found[old] = (new, state)
        return found

    def _pages(self, query: str) -> Iterator[tuple]:
        """The rows of ``query`` (its first column a rowid, its parameters the last rowid and the page size),
        without their rowid, fetched a page at a time."""
        last = 0
        while True:
            page = self.db.execute(query, (last, PAGE)).fetchall()
            if not page:
                return
            for row in page:
                yield row[1:]
            last = page[-1][0]
