"""How the restore calls Cognito: the quota category of each operation it makes and a limiter per category at
the restore's share of its quota, the creates it retries itself (after looking whether a first attempt whose
answer was lost took effect), and what an error says. (Many calls at once: pipeline.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from backup_lambda.quotas import OPERATION_CATEGORY, QUOTA_RPS
from backup_lambda.ratelimit import THROTTLE_CODES, RateLimiter, RateLimiters, govern

PER_POOL_OPERATION_LIMIT = 5.0  # AWS: the resource categories allow 5 calls/s per pool per operation
CATEGORY = {
    **OPERATION_CATEGORY,
    "ListUserPools": "UserPoolRead",
    "UpdateUserPool": "UserPoolUpdate",
    "SetUICustomization": "UserPoolUpdate",
    "SetRiskConfiguration": "UserPoolUpdate",
    "SetLogDeliveryConfiguration": "UserPoolUpdate",
    "TagResource": "UserPoolUpdate",
    "DeleteUserPool": "UserPoolUpdate",
    "GetCSVHeader": "UserPoolRead",
    "DescribeUserImportJob": "UserPoolRead",
    "ListUserImportJobs": "UserPoolRead",
    "CreateManagedLoginBranding": "UserPoolResourceUpdate",
    "SetUserPoolSessionConfiguration": "UserPoolUpdate",
    "SetUserPoolClientSessionConfiguration": "UserPoolClientUpdate",
    "CreateTerms": "UserPoolResourceUpdate",
    "CreateCIMDPolicy": "UserPoolResourceUpdate",
    "AdminSetUserMFAPreference": "UserUpdate",
    "DeleteUserPoolDomain": "UserPoolResourceUpdate",
}

# The quota category each lane of the pipeline calls in (the import jobs go at AWS's pace, not at a quota's).
LANE_CATEGORY = {"users": "UserCreation", "memberships": "UserResourceUpdate", "disabling": "UserUpdate",
                 "federated links": "UserUpdate", "listing imported users": "UserList"}

# Creates that botocore must not retry on its own: their answer may be lost after AWS carried them out (a
# connection closed, a 5xx), and a blind retry then makes a second pool or app client, or fails with "already
# exists". ``Calls.create`` retries them itself, after looking whether the first attempt took effect.
# (CreateGroup and AdminCreateUser are left to botocore: the restore takes their "already exists" as done.)
LOOK_BEFORE_RETRY = frozenset({"CreateUserPool", "CreateUserPoolClient", "CreateResourceServer",
                               "CreateIdentityProvider", "CreateUserPoolDomain"})
CREATE_ATTEMPTS = 5


def error_text(exc: BaseException) -> str:
    """An error as the restore reports it: the AWS error code and message, else the exception's type and text."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError (None for other errors)."""
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def transient(exc: BaseException) -> bool:
    """A failure after which the call may or may not have been carried out, and may succeed if tried again."""
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or error_code(exc) in THROTTLE_CODES
    return False


def no_blind_retries(client: Any, operations: frozenset[str] = LOOK_BEFORE_RETRY) -> Callable[[], None]:
    """Make botocore give up, after the first attempt, on ``operations`` of ``client``: the failure is raised
    as botocore would raise it, and the caller decides. Registered last on ``needs-retry``, so the rate limiter
    (``govern``) still hears of a throttle. Returns a function that removes the hook again."""
    event = f"needs-retry.{client.meta.service_model.service_id.hyphenize()}"

    def needs_retry(operation: Any = None, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        if operation is None or operation.name not in operations:
            return
        if caught_exception is not None:
            raise caught_exception
        if response is not None and response[0].status_code >= 300:
            parsed = response[1]
            raise client.exceptions.from_code(parsed.get("Error", {}).get("Code"))(parsed, operation.name)

    client.meta.events.register_last(event, needs_retry)
    return lambda: client.meta.events.unregister(event, needs_retry)


def _lambda_client(region: str) -> Any:
    from backup_lambda.aws import make_client

    return make_client("lambda", region=region)


def rate_limiters(rate_fraction: float) -> RateLimiters:
    """A limiter per quota category at ``rate_fraction`` of its quota (at most 5 calls/s per pool and
    operation for the resource categories)."""
    rates = {}
    for category, quota in QUOTA_RPS.items():
        rate = quota * rate_fraction
        if category.startswith("UserPoolResource") or category.startswith("UserPoolClient"):
            rate = min(rate, PER_POOL_OPERATION_LIMIT)
        rates[category] = rate
    return RateLimiters(rates, default=5.0 * rate_fraction)


class Calls:
    """The run's way to Cognito. Within ``governed()``, every attempt of a call of ``cognito``, ``importer``
    (the user import calls) and ``linker`` (AdminLinkProviderForUser) waits for its quota category's limiter,
    and botocore leaves the LOOK_BEFORE_RETRY creates to ``create``. (``importer`` and ``linker`` default to
    ``cognito``; tests give them a botocore Stubber, as moto lacks these APIs.) ``lambdas(region)`` gives the
    Lambda client of a trigger function's region (``--grant-triggers``; outside Cognito's quotas)."""

    def __init__(self, cognito: Any, *, rate_fraction: float, import_client: Any = None, link_client: Any = None,
                 lambdas: Callable[[str], Any] | None = None, say: Callable[[str], None],
                 sleep: Callable[[float], None]):
        self.cognito = cognito
        self.lambdas = lambdas or _lambda_client  # region -> a Lambda client (--grant-triggers)
        self.importer = import_client or cognito
        self.linker = link_client or cognito
        self.limiters = rate_limiters(rate_fraction)
        self.categories: set[str] = set()  # those called
        self.say = say
        self.sleep = sleep

    @contextmanager
    def governed(self) -> Iterator[None]:
        releases = [govern(self.cognito, self.limiter_for), no_blind_retries(self.cognito)]
        extra = {id(c): c for c in (self.importer, self.linker) if c is not self.cognito}
        releases += [govern(c, self.limiter_for) for c in extra.values()]
        try:
            yield
        finally:
            for release in releases:
                release()

    def limiter_for(self, operation: str) -> RateLimiter | None:
        category = CATEGORY.get(operation)
        if not category:
            return None
        self.categories.add(category)
        return self.limiters[category]

    def quota_use(self) -> dict[str, dict[str, Any]]:
        """Per quota category called: the restore's rate (its share), the attempts made and those throttled."""
        return {c: {"share_per_s": round(self.limiters[c].max_rate, 3), "attempts": self.limiters[c].calls,
                    "throttled": self.limiters[c].throttles} for c in sorted(self.categories)}

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        return getattr(self.cognito, method)(**kwargs)

    def paginate(self, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The items under ``key`` of every page of ``method`` (pages chained by NextToken)."""
        token = None
        while True:
            args = dict(kwargs)
            if token:
                args["NextToken"] = token
            resp = self.call(method, **args)
            yield from resp.get(key, ())
            token = resp.get("NextToken")
            if not token:
                return

    def create(self, method: str, find: Callable[[], dict[str, Any] | None], **kwargs: Any) -> dict[str, Any]:
        """A create of ``LOOK_BEFORE_RETRY`` (botocore does not retry it). After a failure that may have come
        after AWS carried it out (connection lost, 5xx, throttle), look first: ``find()`` answers in the create's
        shape if the item is there now (else None); only if it is not, call again."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return self.call(method, **kwargs)
            except (ClientError, BotoConnectionError, HTTPClientError) as exc:
                if attempt == CREATE_ATTEMPTS or not transient(exc):
                    raise
                self.say(f"{method} failed ({error_text(exc)}): looking whether it was carried out")
            self.sleep(min(0.5 * 2 ** attempt, 20.0))
            found = find()
            if found is not None:
                return found
        raise AssertionError("unreachable")
