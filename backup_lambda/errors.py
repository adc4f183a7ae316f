"""Errors the project raises on purpose: each says what is wrong in words a person can act on."""


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
