"""Read one user pool: the calls (rate-limited, errors naming the pool), its groups with their members,
and its users. The configuration sections are read by ``config_reader`` through the same calls.

Every call goes through ``PoolReader.call``, which applies the quota category's rate limiter (via
botocore's per-attempt hook), and turns an AWS error into a ``SnapshotError`` naming the pool and
the operation. botocore's adaptive retry mode retries throttling and transient errors first.

Users are listed in parallel over disjoint ranges of ``sub`` (``sub ^= "0"`` .. ``sub ^= "f"``, or
256 two-digit ranges for large pools read by more than 16 workers), all sharing the UserList budget.
A user is kept only from the range its sub belongs to and only once (``SeenSubs``), so the union is
exact even if a filter were ignored or a page repeated. If the service refuses the range filter, one
unfiltered scan is used.
"""

from __future__ import annotations

import json
import logging
import queue
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import SnapshotError, aws_error_text
from backup_lambda.permissions import SNAPSHOT_COGNITO_CALLS
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET, DEFAULT_SHARE, OPERATION_CATEGORY
from backup_lambda.ratelimit import RateLimiters, govern
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
DONE = "done"  # a range's state once it is drained (otherwise: its next token, or None: not started)
SEQUENTIAL = "*"  # the one "range" of an unfiltered scan
GROUP_LOOKAHEAD = 8  # groups whose members are read at once


def sub_of(user: dict[str, Any]) -> str | None:
    for attr in user.get("Attributes", ()):
        if attr.get("Name") == "sub":
            return attr.get("Value")
    return None


class Absent(Exception):
    """The pool does not use this part of the configuration."""


class Unavailable(Exception):
    """This runtime cannot read this part (its botocore does not know the API)."""


class PoolReader:
    def __init__(self, cognito, user_pool_id: str, *, request_budget: float = DEFAULT_REQUEST_BUDGET,
                 workers: int = 16):
        self.cognito = cognito
        self.pool_id = user_pool_id
        self.workers = workers
        rates = dict(DEFAULT_SHARE)
        rates["UserList"] = float(request_budget)
        self.limiters = RateLimiters(rates)
        self._release = govern(
            cognito,
            lambda op: self.limiters[OPERATION_CATEGORY[op]] if op in OPERATION_CATEGORY else None,
        )
        self.stats = {"calls": 0, "ignored_out_of_range": 0, "duplicates_skipped": 0}
        self.user_listing = "parallel-sub-ranges"
        self.ranges = 0
        self.listing_state: dict[str, str | None] = {}

    def close(self) -> None:
        self._release()

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
            cause = exc.__cause__
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
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

    # -- groups ----------------------------------------------------------------------------------

    def iter_groups(self) -> Iterator[dict[str, Any]]:
        for group in self.paginate("ListGroups", "list_groups", "Groups", "NextToken", "NextToken",
                                   UserPoolId=self.pool_id, Limit=PAGE):
            yield {k: v for k, v in group.items() if k != "UserPoolId"}

    def spool_members(self, group_name: str) -> tuple[int, tempfile.SpooledTemporaryFile]:
        """The group's usernames as comma-separated JSON strings in a spooled file (memory-bounded)."""
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - the caller closes it
        count = 0
        try:
            for user in self.paginate("ListUsersInGroup", "list_users_in_group", "Users", "NextToken",
                                      "NextToken", UserPoolId=self.pool_id, GroupName=group_name,
                                      Limit=PAGE):
                if count:
                    spool.write(b",")
                spool.write(json.dumps(user["Username"], ensure_ascii=False).encode())
                count += 1
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return count, spool

    # -- users -----------------------------------------------------------------------------------

    def range_prefixes(self, estimated_users: int | None) -> list[str]:
        if self.workers > len(HEX) and estimated_users and estimated_users >= MANY_RANGES_FROM:
            return [a + b for a in HEX for b in HEX]
        return list(HEX)

    def _list_users(self, filter_: str | None, token: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "Limit": PAGE}
        if filter_:
            args["Filter"] = filter_
        if token:
            args["PaginationToken"] = token
        return self.call("ListUsers", "list_users", **args)

    def iter_user_pages(self, estimated_users: int | None = None,
                        resume: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every user of the pool exactly once, in pages (lists), as fast as the budget allows.

        ``self.listing_state`` always describes what has been handed out so far: each range's next
        token (``None``: not started, ``DONE``: finished). When the consumer stops after any page,
        ``listing_state`` is where another run carries on (``resume=``, within the hour that
        pagination tokens live).
        """
        seen = SeenSubs()
        if resume is not None:
            self.user_listing = resume["user_listing"]
            self.listing_state = dict(resume["ranges"])
            self.ranges = len(self.listing_state) if self.user_listing != "sequential" else 1
            if self.user_listing == "sequential":
                yield from self._sequential_pages(seen, self.listing_state[SEQUENTIAL])
            else:
                yield from self._ranged_pages(seen)
            return
        prefixes = self.range_prefixes(estimated_users)
        first_prefix = prefixes[0]
        try:
            first = self._list_users(f'sub ^= "{first_prefix}"', None)
        except SnapshotError as exc:
            cause = exc.__cause__
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            if code != "InvalidParameterException":
                raise
            logger.warning("the sub range filter was refused (%s): listing users in one scan", code)
            self.user_listing, self.ranges = "sequential", 1
            self.listing_state = {SEQUENTIAL: None}
            yield from self._sequential_pages(seen, None)
            return
        self.ranges = len(prefixes)
        self.listing_state = {p: None for p in prefixes}
        self.listing_state[first_prefix] = first.get("PaginationToken") or DONE
        yield self._keep(first.get("Users", ()), first_prefix, seen)
        yield from self._ranged_pages(seen)

    def _ranged_pages(self, seen: SeenSubs) -> Iterator[list[dict[str, Any]]]:
        starts = [(p, token) for p, token in self.listing_state.items() if token != DONE]
        for prefix, users, next_token in self._parallel_pages(starts):
            kept = self._keep(users, prefix, seen)
            self.listing_state[prefix] = next_token or DONE  # before the yield: the page is handed out
            if kept:
                yield kept

    def _keep(self, users, prefix: str | None, seen: SeenSubs) -> list[dict[str, Any]]:
        kept = []
        for user in users:
            sub = sub_of(user)
            if prefix is not None and not (sub or "").startswith(prefix):
                self.stats["ignored_out_of_range"] += 1
                continue
            if not seen.add(sub if sub else "username:" + user["Username"]):
                self.stats["duplicates_skipped"] += 1
                continue
            kept.append(user)
        return kept

    def _sequential_pages(self, seen: SeenSubs, token: str | None) -> Iterator[list[dict[str, Any]]]:
        while True:
            resp = self._list_users(None, token)
            token = resp.get("PaginationToken")
            self.listing_state[SEQUENTIAL] = token or DONE
            yield self._keep(resp.get("Users", ()), None, seen)
            if not token:
                return

    def _parallel_pages(self, starts: list[tuple[str, str | None]]) -> Iterator[tuple[str, list, str | None]]:
        """Drain each range in a worker thread; pages come back through a bounded queue."""
        if not starts:
            return
        work: queue.Queue = queue.Queue()
        for item in starts:
            work.put(item)
        pages: queue.Queue = queue.Queue(maxsize=self.workers * 4)
        stop = threading.Event()
        done = object()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def worker() -> None:
            try:
                while not stop.is_set():
                    try:
                        prefix, token = work.get_nowait()
                    except queue.Empty:
                        return
                    while not stop.is_set():
                        resp = self._list_users(f'sub ^= "{prefix}"', token)
                        token = resp.get("PaginationToken")
                        if not put((prefix, resp.get("Users", []), token)):
                            return
                        if not token:
                            break
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put(exc)
            finally:
                put(done)

        n = min(self.workers, len(starts))
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="list-users") as pool:
            for _ in range(n):
                pool.submit(worker)
            finished = 0
            try:
                while finished < n:
                    item = pages.get()
                    if item is done:
                        finished += 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                stop.set()


def groups_with_members(reader: PoolReader) -> Iterator[tuple[dict[str, Any], int, Any]]:
    """(group, member count, spooled member list), in listing order, fetched a few groups ahead."""
    with ThreadPoolExecutor(max_workers=GROUP_LOOKAHEAD, thread_name_prefix="group-members") as pool:
        pending: deque = deque()
        try:
            for group in reader.iter_groups():
                pending.append((group, pool.submit(reader.spool_members, group["GroupName"])))
                if len(pending) >= GROUP_LOOKAHEAD:
                    group_, future = pending.popleft()
                    yield (group_, *future.result())
            while pending:
                group_, future = pending.popleft()
                yield (group_, *future.result())
        finally:
            for _, future in pending:
                future.cancel()
                if future.done() and not future.cancelled() and future.exception() is None:
                    future.result()[1].close()
