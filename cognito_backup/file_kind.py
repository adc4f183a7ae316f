"""What a file that is not a cognito-backup snapshot looks like, said in the error that refuses it.

A snapshot is one JSON object. When a reader meets anything else at the start of a document, it says
what it found instead of the first parse error, and for a backup made by the cognito-backup-restore npm
tool ("cbr": a JSON array of ListUsers entries) it gives the command that turns it into a snapshot.
"""

from __future__ import annotations

from typing import Any

from backup_lambda.errors import SnapshotFileError, is_html_error, shorten_html

CBR_NAME = "the cognito-backup-restore npm tool (cbr)"


UNREADABLE = object()  # an array's first element, when it cannot be read either


class NotASnapshotError(SnapshotFileError):
    """The document is not a snapshot at all (not a damaged one): the message says what it looks like."""


def import_command(name: str) -> str:
    return f"python -m cognito_backup import-cbr {name} --bucket BUCKET --pool-name NAME"


def looks_like_cbr_user(element: Any) -> bool:
    """A ListUsers UserType, as cbr writes them: an object with a Username and ListUsers' other fields."""
    return (isinstance(element, dict) and "Username" in element
            and bool({"Attributes", "UserStatus", "Enabled", "UserCreateDate"} & set(element)))


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object" + (f" with keys {', '.join(sorted(map(str, value))[:5])}" if value else " (empty)")
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json_literal(value)
    return "a number"


def json_literal(value: Any) -> str:
    return {True: "true", False: "false", None: "null"}[value]


def describe_array(name: str, first: Any, empty: bool) -> str:
    """An array where a snapshot's object should be: a cbr backup, or some other array."""
    if looks_like_cbr_user(first):
        return (f"{name} is not a cognito-backup snapshot: it is a JSON array of users (ListUsers entries), the "
                f"backup format of {CBR_NAME}. Turn it into a snapshot first: {import_command(name)}")
    if empty:
        return (f"{name} is not a cognito-backup snapshot: it is an empty JSON array (a snapshot is one JSON "
                f"object; a cbr backup of an empty pool looks so: {import_command(name)})")
    what = "unreadable" if first is UNREADABLE else _json_type(first)
    return (f"{name} is not a cognito-backup snapshot: it is a JSON array (its first element is {what}), "
            "and a snapshot is one JSON object")


def describe_start(name: str, first_char: str, head: str) -> str:
    """A document whose first character is neither '{' nor '['."""
    line = head.lstrip().splitlines()[0] if head.strip() else ""
    if first_char in '"-0123456789' or head.lstrip().startswith(("true", "false", "null")):
        return f"{name} is not a cognito-backup snapshot: it is a single JSON value, and a snapshot is one JSON object"
    if is_html_error(head):
        return f"{name} is not a cognito-backup snapshot: it is an HTML page ({shorten_html(head).split(' (')[0]})"
    if "," in line and "Username" in line:
        return (f"{name} is not a cognito-backup snapshot: it looks like CSV (a header line {line[:80]!r}); cbr's "
                "--fileFormat csv keeps only a few attributes: back the pool up again as JSON (cbr's default) "
                f"and import that: {import_command(name)}")
    shown = line[:40] + ("..." if len(line) > 40 else "")
    return f"{name} is not a cognito-backup snapshot: it is not JSON (it starts with {shown!r})"


def describe_binary(name: str, head: bytes) -> str:
    """A document that is not UTF-8 text from its first bytes."""
    if head.startswith(b"\x1f\x8b"):
        return f"{name} is not a cognito-backup snapshot: it is gzip-compressed; decompress it (gunzip) first"
    if head.startswith(b"PK\x03\x04"):
        return f"{name} is not a cognito-backup snapshot: it is a zip archive; extract the JSON file from it first"
    return f"{name} is not a cognito-backup snapshot: it is binary data, not UTF-8 text"
