"""Each user's MFA settings (``captureUserMfa``: ``CAPTURE_USER_MFA=1``), read with AdminGetUser.

ListUsers does not say which users enrolled SMS, email or TOTP MFA; AdminGetUser does
(``UserMFASettingList``, ``PreferredMfaSetting``: the names of the factors, never a secret). With the option on,
each page of users is completed with one AdminGetUser per user, in parallel (``MFA_WORKERS`` threads, all on
the UserResourceRead limiter: its own quota category and budget share), **before the page is posted**: the page
is written whole or not at all, so a hand-over never splits a user. A hand-over that stops the calls of a page
half-way drops that page (its range's token is not advanced): the next run reads it again.

Each user then carries ``MFA``: ``{"UserMFASettingList": [...], "PreferredMfaSetting": "..."}`` (the fields AWS
returned; ``{}``: no MFA). A user deleted between ListUsers and AdminGetUser is written without ``MFA``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backup_lambda.errors import SnapshotError
from backup_lambda.pool_reader import PoolReader, error_code

logger = logging.getLogger(__name__)

MFA_WORKERS = 8  # AdminGetUser calls in flight: enough for the share (17/s) at ~50 ms a call, and for a raise
MFA_FIELDS = ("UserMFASettingList", "PreferredMfaSetting")
USER_MFA_CALLS = frozenset({"AdminGetUser"})


class UserMfa:
    def __init__(self, reader: PoolReader, workers: int = MFA_WORKERS):
        self.reader = reader
        reader.allow(USER_MFA_CALLS)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mfa")
        self._lock = threading.Lock()
        self.gone = 0  # users deleted between ListUsers and AdminGetUser

    def add_to(self, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page's users, each with its ``MFA``. Raises what a call raised (``Stopped`` at a hand-over)."""
        futures = [self._pool.submit(self._one, user) for user in users]
        return [future.result() for future in futures]

    def _one(self, user: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self.reader.call("AdminGetUser", "admin_get_user", UserPoolId=self.reader.pool_id,
                                    Username=user["Username"])
        except SnapshotError as exc:
            if error_code(exc) != "UserNotFoundException":
                raise
            with self._lock:
                self.gone += 1
            logger.info("a user was deleted while the snapshot read it: written without MFA")  # no username: PII
            return user
        return {**user, "MFA": {name: resp[name] for name in MFA_FIELDS if resp.get(name)}}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
