"""Read a backup made by the cognito-backup-restore npm tool ("cbr") as a stream, checking each user.

cbr's ``backup`` writes, per pool, ``<pool id>.json``: one JSON array of ListUsers ``UserType`` entries
(``Username``, ``Attributes`` [{Name, Value}], ``UserCreateDate``, ``UserLastModifiedDate``, ``Enabled``,
``UserStatus``, ``MFAOptions``), dates as JavaScript writes them (``2026-11-26T01:00:03.123Z``). Users only:
no groups, memberships or pool configuration. Those entries have exactly the shape of a snapshot's
``users``.

:class:`CbrFile` walks the array element by element with the snapshot reader's incremental parser, so
memory holds one user and one read chunk whatever the size of the file (plus ``SeenSubs``' 32 bytes a
user, to refuse a username given twice). :class:`UserCheck` refuses, naming the element, what is not a
user; a truncated or malformed file is refused by the parser with its line, column and element.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from backup_lambda.errors import SnapshotFileError
from backup_lambda.subs import SeenSubs
from cognito_backup.snapshot_file import SnapshotStream

USER_FIELDS = frozenset({"Username", "Attributes", "UserCreateDate", "UserLastModifiedDate", "Enabled", "UserStatus",
                         "MFAOptions"})
DATE_FIELDS = ("UserCreateDate", "UserLastModifiedDate")
USER_STATUSES = frozenset({"UNCONFIRMED", "CONFIRMED", "ARCHIVED", "COMPROMISED", "UNKNOWN", "RESET_REQUIRED",
                           "FORCE_CHANGE_PASSWORD", "EXTERNAL_PROVIDER"})
MAX_USERNAME = 128  # AdminCreateUser's limit


class CbrFile(SnapshotStream):
    """One cbr backup file: ``users()`` yields its entries one at a time."""

    WHAT = "cognito-backup-restore file"

    def users(self) -> Iterator[Any]:
        """Each element of the top-level array, as parsed (``UserCheck`` says whether it is a user)."""
        if self._started:
            raise RuntimeError("a CbrFile can be walked once")
        self._started = True
        first = self._peek()
        if not first:
            raise SnapshotFileError(f"{self.name} is empty: a cbr backup is a JSON array of users")
        if first == "{":
            raise SnapshotFileError(
                f"{self.name} is a JSON object, not a cbr backup (a JSON array of users): if it is a cognito-backup "
                f"snapshot already, check it with `python -m cognito_backup verify {self.name}`")
        if first != "[":
            raise self._not_a_snapshot(first)
        self._pos += 1
        count = 0
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                self._context = f"users[{count}]"
                yield self._value()
                count += 1
                self._context = f"users[{count - 1}]"
                if self._expect(",]", "',' or ']' after a user") == "]":
                    break
        self._context = "the end of the document"
        if self._peek():
            raise self._error("data after the end of the array")
        self._done = True


def _iso_date(value: Any, where: str, name: str) -> str:
    """A ListUsers date as the snapshot writes it (ISO 8601 with offset); refused if it is not one."""
    if not isinstance(value, str):
        raise SnapshotFileError(f"{where}: {name} is not a date string ({type(value).__name__})")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotFileError(f"{where}: {name} {value[:40]!r} is not an ISO 8601 date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


@dataclass
class UserCheck:
    """Checks the users of one file in order; ``custom_attributes`` collects the names seen.

    ``schema`` (custom attribute names of the pool the configuration comes from, or None): a user whose
    custom attribute the pool lacks is refused, since a restore could not create it.
    """

    name: str
    schema: frozenset[str] | None = None
    schema_origin: str = ""
    count: int = 0
    federated: int = 0
    disabled: int = 0
    custom_attributes: set[str] = field(default_factory=set)
    _seen: SeenSubs = field(default_factory=SeenSubs)

    def check(self, element: Any) -> dict[str, Any]:
        """The user as the snapshot stores it (dates normalised), or SnapshotFileError naming the element."""
        where = f"{self.name}: users[{self.count}]"
        if not isinstance(element, dict):
            raise SnapshotFileError(f"{where} is not a user: a JSON object was expected, not {type(element).__name__}")
        username = element.get("Username")
        if not isinstance(username, str) or not username.strip():
            raise SnapshotFileError(f"{where} has no Username")
        where = f"{where} ({username[:MAX_USERNAME]!r})"
        if len(username) > MAX_USERNAME:
            raise SnapshotFileError(f"{where}: the Username is longer than {MAX_USERNAME} characters")
        unknown = sorted(set(element) - USER_FIELDS)
        if unknown:
            raise SnapshotFileError(f"{where} has fields ListUsers never returns: {', '.join(unknown[:5])}")
        user = dict(element)
        self._check_attributes(where, user.setdefault("Attributes", []))
        for name in DATE_FIELDS:
            if name in user:
                user[name] = _iso_date(user[name], where, name)
        if "Enabled" in user and not isinstance(user["Enabled"], bool):
            raise SnapshotFileError(f"{where}: Enabled is not true or false")
        if "UserStatus" in user and user["UserStatus"] not in USER_STATUSES:
            raise SnapshotFileError(f"{where}: UserStatus {str(user['UserStatus'])[:40]!r} is not one Cognito has")
        if "MFAOptions" in user and not isinstance(user["MFAOptions"], list):
            raise SnapshotFileError(f"{where}: MFAOptions is not a list")
        if not self._seen.add("u:" + username):
            raise SnapshotFileError(f"{where}: the Username appears earlier in the file too (a user is listed once)")
        self.count += 1
        self.federated += user.get("UserStatus") == "EXTERNAL_PROVIDER"
        self.disabled += user.get("Enabled") is False
        return user

    def _check_attributes(self, where: str, attributes: Any) -> None:
        if not isinstance(attributes, list):
            raise SnapshotFileError(f"{where}: Attributes is not a list")
        for i, attr in enumerate(attributes):
            if not (isinstance(attr, dict) and isinstance(attr.get("Name"), str) and isinstance(attr.get("Value"), str)
                    and set(attr) == {"Name", "Value"}):
                raise SnapshotFileError(f"{where}: Attributes[{i}] is not {{\"Name\": string, \"Value\": string}}")
            name = attr["Name"]
            if name.startswith(("custom:", "dev:custom:")):
                if self.schema is not None and name.removeprefix("dev:") not in self.schema:
                    raise SnapshotFileError(
                        f"{where} has the attribute {name}, which the pool's schema ({self.schema_origin}) lacks: a "
                        "restore could not create it. Take the configuration from a pool or snapshot that has it, "
                        "or from none (the schema is then made from the users' attributes)")
                self.custom_attributes.add(name)

