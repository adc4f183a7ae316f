"""Files the tooling writes that name users (restore mapping files, work state): owner-only, always.

``open_private`` creates (or truncates) a file readable and writable by its owner only (0600), whatever the
umask, and also tightens a file that already existed with wider permissions. The work state (the journal,
import files) lives in a directory from ``tempfile`` under ``--work-dir``: 0700 already.
"""

from __future__ import annotations

import os
from typing import IO

FILE_MODE = 0o600


def open_private(path: str) -> IO[str]:
    """``open(path, "w", encoding="utf-8")``, owner-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "w", encoding="utf-8")

