"""Errors the project raises on purpose: each says what is wrong in words a person can act on."""

from __future__ import annotations

import html
import re


class BackupError(Exception):
    """Base of the project's own errors (the CLI prints them as one line and exits 2)."""


class ConfigError(BackupError, ValueError):
    """Bad input: an event field, an environment variable, a CLI argument. The message names it."""


class SnapshotError(BackupError):
    """A snapshot failed. The message names the pool and the operation that failed."""

    def __init__(self, message: str, *, pool: str | None = None, operation: str | None = None):
        super().__init__(message)
        self.pool = pool
        self.operation = operation


class SnapshotFileError(BackupError):
    """A snapshot file or object that cannot be trusted: missing manifest, truncated, tampered..."""


# --- error text from a server that answers an HTML page ---------------------------------------------------
# An endpoint that is not AWS (a moto server lacking an API, a proxy, a load balancer) can answer an error
# with a whole HTML page; botocore then puts that page in the error's message. It is shortened, wherever a
# person sees it, to the status and the page's first line.

_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
HTML_NOTE = "the server answered with an HTML page, not an AWS error"
MAX_LINE = 200


def _first_line(page: str) -> str:
    title = _TITLE.search(page)
    text = title.group(1) if title else _TAG.sub("\n", page)
    line = next((" ".join(part.split()) for part in text.splitlines() if part.strip()), "")
    line = html.unescape(line)
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 3] + "..."


def shorten_html(text: str, status: int | str | None = None) -> str:
    """``text``, unless it holds an HTML page: then what comes before the page, the status and the page's
    first line (its title), e.g. ``HTTP 500: 500 Internal Server Error (the server answered ...)``."""
    match = _HTML_START.search(text)
    if match is None:
        return text
    status_text = f"HTTP {status}: " if status else ""
    return f"{text[:match.start()]}{status_text}{_first_line(text[match.start():]) or 'an empty page'} ({HTML_NOTE})"


def is_html_error(text: str) -> bool:
    return _HTML_START.search(text) is not None


def aws_error_text(exc: BaseException) -> str:
    """One readable line for an AWS error: ``Code: Message`` for a botocore ``ClientError``, the status and
    the first line for an HTML page (see ``shorten_html``), ``str(exc)`` for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return shorten_html(str(exc))
    err = response.get("Error") or {}
    code, message = err.get("Code"), str(err.get("Message") or "")
    if is_html_error(message):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or code
        return shorten_html(message, status)
    return f"{code}: {message}"
