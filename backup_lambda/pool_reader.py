"""Read one user pool: the calls (rate-limited, errors naming the pool), its groups with their members,
and its users. The configuration sections are read by ``config_reader`` through the same calls.

Every call goes through ``PoolReader.call``, which applies the quota category's rate limiter (via
botocore's per-attempt hook), and turns an AWS error into a ``SnapshotError`` naming the pool and
the operation. botocore's adaptive retry mode retries throttling and transient errors first.

Users are listed in parallel over disjoint ranges of ``sub`` (``sub ^= "0"`` .. ``sub ^= "f"``, or
256 two-digit ranges for large pools read by more than 16 workers), all sharing the UserList budget.
A user is kept only from the range its sub belongs to and only once (``keep_users`` with a
``SeenSubs``), so the union is exact even if a filter were ignored or a page repeated. If the service
refuses the range filter, one unfiltered scan is used.

With ``usernames_only_in_groups``, ListUsersInGroup pages are cut down to their usernames before
botocore parses them (``before-parse``): a group's members are one chain of calls bound by their
round trips, and botocore spends ~6 ms a page turning 120 dates nobody reads into datetimes.

A run that must hand over sets ``stopping``: from then on no new call starts (a ``Stopped`` is raised
instead), while the calls already made land.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import SnapshotError, aws_error_text
from backup_lambda.permissions import SNAPSHOT_COGNITO_CALLS
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET, DEFAULT_SHARE, OPERATION_CATEGORY
from backup_lambda.ratelimit import RateLimiters, Stopped, govern
from backup_lambda.subs import SeenSubs

logger = logging.getLogger(__name__)

PAGE = 60  # the most ListUsers, ListUsersInGroup and ListGroups return per call
HEX = "0123456789abcdef"
# 16 ranges, one per worker, unless there are more workers than that: then, for pools of at least
# this many users (DescribeUserPool's estimate), 256 ranges, so every worker has one. More ranges
# than workers cost calls: each range ends with a short page (half a call wasted on average), which
# for 256 ranges is ~128 calls, 7% of a 100,000-user pool. Fewer do not leave a tail: the limiter
# serves workers in turn, so ranges of equal size (subs are random) end within a round of each other.
MANY_RANGES_FROM = 100_000
# A call made with a pagination token that fails with this: the token expired (they live about an
# hour) or is otherwise refused. The chain starts again from its beginning (``scheduler``). Not verified
# on AWS: the code is the one Cognito uses for a malformed token ("Paging marker ... is invalid").
TOKEN_REFUSED_CODES = frozenset({"InvalidParameterException"})


def sub_of(user: dict[str, Any]) -> str | None:
    for attr in user.get("Attributes", ()):
        if attr.get("Name") == "sub":
            return attr.get("Value")
    return None


class Absent(Exception):
    """The pool does not use this part of the configuration."""


class Unavailable(Exception):
    """This runtime cannot read this part (its botocore does not know the API)."""


def error_code(exc: BaseException) -> str | None:
    """The AWS error code behind a ``SnapshotError`` from ``PoolReader.call`` (None: not an AWS error)."""
    cause = exc.__cause__
    return cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None


def token_refused(exc: BaseException) -> bool:
    return error_code(exc) in TOKEN_REFUSED_CODES


class PoolReader:
    def __init__(self, cognito, user_pool_id: str, *, request_budget: float = DEFAULT_REQUEST_BUDGET,
                 workers: int = 16, usernames_only_in_groups: bool = False):
        self.cognito = cognito
        self.pool_id = user_pool_id
        self.workers = workers
        rates = dict(DEFAULT_SHARE)
        rates["UserList"] = float(request_budget)
        self.limiters = RateLimiters(rates)
        self.stopping = threading.Event()
        self._release = govern(
            cognito,
            lambda op: self.limiters[OPERATION_CATEGORY[op]] if op in OPERATION_CATEGORY else None,
            abandon=self.stopping,
        )
        self.stats = {"calls": 0, "ignored_out_of_range": 0, "duplicates_skipped": 0}
        service = cognito.meta.service_model.service_id.hyphenize()
        self._hooks = [(f"before-call.{service}", self._refuse_once_stopping)]
        if usernames_only_in_groups:
            self._hooks.append((f"before-parse.{service}.ListUsersInGroup", _usernames_only))
        for event, hook in self._hooks:
            cognito.meta.events.register_first(event, hook)

    def close(self) -> None:
        self._release()
        for event, hook in self._hooks:
            self.cognito.meta.events.unregister(event, hook)

    def _refuse_once_stopping(self, model=None, **kwargs) -> None:
        if self.stopping.is_set():
            raise Stopped(f"the run is handing over: {getattr(model, 'name', 'a call')} not made")

    @property
    def throttles(self) -> int:
        return sum(self.limiters[c].throttles for c in set(OPERATION_CATEGORY.values()))

    # -- calls ---------------------------------------------------------------------------------

    def knows(self, operation: str) -> bool:
        return operation in self.cognito.meta.service_model.operation_names

    def call(self, operation: str, method: str, **kwargs: Any) -> dict[str, Any]:
        if operation not in SNAPSHOT_COGNITO_CALLS:  # the role would be denied: a programming error
            raise SnapshotError(f"{operation} is not a call the snapshot may make (backup_lambda/permissions.py)",
                                pool=self.pool_id, operation=operation)
        if not self.knows(operation):
            raise Unavailable(
                f"this runtime's botocore does not know cognito-idp {operation}; "
                "ship a newer boto3 with the function to capture it"
            )
        try:
            self.stats["calls"] += 1
            return getattr(self.cognito, method)(**kwargs)
        except ClientError as exc:
            raise SnapshotError(
                f"{operation} failed for user pool {self.pool_id}: {aws_error_text(exc)}",
                pool=self.pool_id, operation=operation,
            ) from exc
        except BotoCoreError as exc:
            raise SnapshotError(
                f"{operation} failed for user pool {self.pool_id}: {exc}", pool=self.pool_id,
                operation=operation,
            ) from exc

    def call_or_absent(self, operation: str, method: str, absent_codes: dict[str, str],
                       **kwargs: Any) -> dict[str, Any]:
        """Like ``call``, but the given error codes mean "the pool does not use this" (Absent)."""
        try:
            return self.call(operation, method, **kwargs)
        except SnapshotError as exc:
            code = error_code(exc)
            if code in absent_codes:
                raise Absent(absent_codes[code]) from None
            raise

    def paginate(self, operation: str, method: str, items_key: str, token_in: str, token_out: str,
                 **kwargs: Any) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            args = dict(kwargs)
            if token:
                args[token_in] = token
            resp = self.call(operation, method, **args)
            yield from resp.get(items_key, ())
            token = resp.get(token_out)
            if not token:
                return

    def describe_pool(self) -> dict[str, Any]:
        return self.call("DescribeUserPool", "describe_user_pool", UserPoolId=self.pool_id)["UserPool"]

    # -- pages ---------------------------------------------------------------------------------

    def list_groups_page(self, token: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "Limit": PAGE}
        if token:
            args["NextToken"] = token
        return self.call("ListGroups", "list_groups", **args)

    def list_members_page(self, group_name: str, token: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "GroupName": group_name, "Limit": PAGE}
        if token:
            args["NextToken"] = token
        return self.call("ListUsersInGroup", "list_users_in_group", **args)

    def list_users_page(self, filter_: str | None, token: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "Limit": PAGE}
        if filter_:
            args["Filter"] = filter_
        if token:
            args["PaginationToken"] = token
        return self.call("ListUsers", "list_users", **args)

    # -- users -----------------------------------------------------------------------------------

    def range_prefixes(self, estimated_users: int | None) -> list[str]:
        if self.workers > len(HEX) and estimated_users and estimated_users >= MANY_RANGES_FROM:
            return [a + b for a in HEX for b in HEX]
        return list(HEX)

    def iter_user_pages(self, estimated_users: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every user of the pool exactly once, in pages (lists), as fast as the budget allows (the
        scheduler's user ranges alone: what the restore uses to list a target pool)."""
        from backup_lambda.scheduler import user_pages

        return user_pages(self, estimated_users)


def _usernames_only(response_dict=None, **kwargs) -> None:
    """Cut a ListUsersInGroup answer down to its usernames (and token) before botocore parses it."""
    if not response_dict or response_dict.get("status_code") != 200:
        return
    try:
        data = json.loads(response_dict["body"])
    except (ValueError, TypeError):
        return  # botocore's parser says what is wrong with it
    if isinstance(data, dict) and isinstance(data.get("Users"), list):
        data["Users"] = [{"Username": u.get("Username")} if isinstance(u, dict) else u for u in data["Users"]]
        response_dict["body"] = json.dumps(data).encode()


def keep_users(users, prefix: str | None, seen: SeenSubs, stats: dict[str, int]) -> list[dict[str, Any]]:
    """The users of a page that belong to its range (``prefix``; None: any) and were not kept before."""
    kept = []
    for user in users:
        sub = sub_of(user)
        if prefix is not None and not (sub or "").startswith(prefix):
            stats["ignored_out_of_range"] += 1
            continue
        if not seen.add(sub if sub else "username:" + user["Username"]):
            stats["duplicates_skipped"] += 1
            continue
        kept.append(user)
    return kept
