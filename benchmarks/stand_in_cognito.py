"""A stand-in for Cognito's user-pool API, fast enough to benchmark pools of a million users.

It speaks the cognito-idp JSON 1.1 protocol over HTTP (POST, ``X-Amz-Target:
AWSCognitoIdentityProviderService.<Op>``) for the read calls a snapshot makes, and serves one
synthetic pool of N users generated on the fly (``synthetic_pool.py``): each call costs O(page),
never O(pool).

- Pagination tokens encode the listing, the next position and when they were issued; a token older
  than ``token_ttl`` seconds (AWS: about an hour) is refused as AWS refuses an expired or otherwise
  invalid one: HTTP 400 ``InvalidParameterException`` (the message is made up: AWS's was not
  observed for an expired token).
- UserList quota: ListUsers and ListUsersInGroup share one token bucket (``quota`` calls/s,
  ``burst`` tokens), shared by all connections. An empty bucket answers HTTP 400
  ``{"__type": "TooManyRequestsException", "message": "Rate exceeded"}`` as AWS does.
- Every call sleeps ``latency`` (optionally +- ``jitter``), in its own thread, so concurrent calls
  overlap as they do against AWS.

``GET /_stats`` returns the calls received per operation, the throttled ones, the peak number of
calls in flight, and per operation the (monotonic) times of its first and last call.

Run it as a process: ``python -m benchmarks.stand_in_cognito --users 100000 --latency-ms 150
--quota 30``; it prints ``{"endpoint": "http://127.0.0.1:<port>"}`` and serves until terminated.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

from benchmarks.stand_in_http import AppServer, StatsHandler
from benchmarks.synthetic_pool import SyntheticPool, group_shape

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
USER_LIST_OPS = frozenset({"ListUsers", "ListUsersInGroup"})

class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class TokenBucket:
    """The account's UserList quota: ``rate`` calls/s, at most ``burst`` at once; thread-safe."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = float(rate)
        self.burst = float(burst) if burst else max(1.0, self.rate)
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


def _token(kind: str, key: str, position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, key, position, time.monotonic()]).encode()).decode()


def _untoken(token: str, kind: str, key: str, ttl: float | None = None) -> int:
    try:
        got_kind, got_key, position, issued = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise ServiceError("InvalidParameterException", "Invalid pagination token") from None
    if got_kind != kind or got_key != key or not isinstance(position, int) or position < 0:
        raise ServiceError("InvalidParameterException", "Pagination token does not match the request")
    if ttl is not None and time.monotonic() - issued > ttl:
        raise ServiceError("InvalidParameterException", f"Paging marker {token[:12]}... has expired")
    return position


def _limit(body: dict[str, Any], field: str = "Limit", most: int = 60) -> int:
    value = body.get(field, most)
    if not isinstance(value, int) or not 0 <= value <= most:
        raise ServiceError("InvalidParameterException",
                           f"1 validation error detected: Value '{value}' at '{field[0].lower() + field[1:]}' "
                           f"failed to satisfy constraint: Member must have value less than or equal to {most}")
    return value or most


class StandInCognito:
    """The request handling: one pool, a UserList quota, a latency per call, and counters."""

    def __init__(self, pool: SyntheticPool, *, latency: float = 0.0, jitter: float = 0.0,
                 quota: float | None = None, burst: float | None = None, seed: int = 1,
                 token_ttl: float | None = None):
        self.pool = pool
        self.token_ttl = token_ttl
        self.latency = latency
        self.jitter = jitter
        self.bucket = TokenBucket(quota, burst) if quota else None
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.expired: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.windows: dict[str, list[float]] = {}  # operation -> [first, last] arrival (monotonic)
        self._describe = json.dumps({"UserPool": pool.describe()}, ensure_ascii=False).encode()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            user_list = sum(self.calls[op] for op in USER_LIST_OPS)
            return {"calls": dict(self.calls), "throttled": dict(self.throttled),
                    "throttles": sum(self.throttled.values()), "user_list_calls": user_list,
                    "expired_tokens": dict(self.expired),
                    "peak_in_flight": self.peak_in_flight,
                    "windows_s": {op: [round(a, 4), round(b, 4)] for op, (a, b) in self.windows.items()}}

    def _sleep(self) -> None:
        if self.latency > 0:
            with self._lock:
                factor = 1 + self.jitter * (2 * self._random.random() - 1) if self.jitter else 1
            time.sleep(self.latency * factor)

    def handle(self, target: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else target
        now = time.monotonic()
        with self._lock:
            self.calls[op] += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            window = self.windows.setdefault(op, [now, now])
            window[1] = now
        try:
            if op in USER_LIST_OPS and self.bucket is not None and not self.bucket.take():
                with self._lock:
                    self.throttled[op] += 1
                raise ServiceError("TooManyRequestsException", "Rate exceeded")
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise ServiceError("SerializationException", "Malformed request body") from None
            method = getattr(self, "op_" + op, None)
            if method is None:
                raise ServiceError("UnknownOperationException", f"Unknown operation {op}")
            if body.get("UserPoolId", self.pool.pool_id) != self.pool.pool_id:
                raise ServiceError("ResourceNotFoundException", f"User pool {body['UserPoolId']} does not exist.")
            out = method(body)
            status = 200
        except ServiceError as exc:
            if "expired" in exc.message:
                with self._lock:
                    self.expired[op] += 1
            status = exc.status
            out = json.dumps({"__type": exc.code, "message": exc.message}).encode()
            headers = {"x-amzn-ErrorType": f"{exc.code}:"}
        else:
            headers = {}
        finally:
            self._sleep()
            with self._lock:
                self.in_flight -= 1
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return status, headers, out

    # -- operations (each returns the JSON body as bytes) ----------------------------------------

    def op_DescribeUserPool(self, body):  # noqa: N802 - named after the API operation
        return self._describe

    def op_ListUsers(self, body):  # noqa: N802
        limit = _limit(body)
        filter_ = body.get("Filter") or ""
        if not filter_:
            indices: range | list[int] = range(self.pool.users)
        else:
            name, op, value = _parse_filter(filter_)
            if name != "sub":
                raise ServiceError("InvalidParameterException", f"this stand-in filters on sub only: {filter_}")
            indices = self.pool.sub_prefix(value) if op == "^=" else [
                i for i in self.pool.sub_prefix(value) if self.pool.sub(i) == value]
        token = body.get("PaginationToken")
        start = _untoken(token, "users", filter_, self.token_ttl) if token else 0
        page = indices[start:start + limit]
        text = '{"Users":[' + ",".join(self.pool.user_json(i) for i in page) + "]"
        if start + limit < len(indices):
            text += f',"PaginationToken":"{_token("users", filter_, start + limit)}"'
        return (text + "}").encode()

    def op_ListUsersInGroup(self, body):  # noqa: N802
        limit = _limit(body)
        group = body.get("GroupName")
        if group not in self.pool.groups:
            raise ServiceError("ResourceNotFoundException", "Group not found.")
        members = self.pool.members(group)
        token = body.get("NextToken")
        start = _untoken(token, "members", group, self.token_ttl) if token else 0
        page = members[start:start + limit]
        text = '{"Users":[' + ",".join(self.pool.user_json(i) for i in page) + "]"
        if start + limit < len(members):
            text += f',"NextToken":"{_token("members", group, start + limit)}"'
        return (text + "}").encode()

    def op_ListGroups(self, body):  # noqa: N802
        limit = _limit(body)
        token = body.get("NextToken")
        start = _untoken(token, "groups", "", self.token_ttl) if token else 0
        names = self.pool.group_order[start:start + limit]
        out: dict[str, Any] = {"Groups": [self.pool.group_type(n) for n in names]}
        if start + limit < len(self.pool.group_order):
            out["NextToken"] = _token("groups", "", start + limit)
        return json.dumps(out).encode()

    def op_GetUserPoolMfaConfig(self, body):  # noqa: N802
        return json.dumps({"MfaConfiguration": "OFF",
                           "WebAuthnConfiguration": {"UserVerification": "preferred"}}).encode()

    def op_ListUserPoolClients(self, body):  # noqa: N802
        _limit(body, "MaxResults")
        return json.dumps({"UserPoolClients": [
            {"ClientId": cid, "UserPoolId": self.pool.pool_id, "ClientName": c["ClientName"]}
            for cid, c in self.pool.clients.items()]}).encode()

    def op_DescribeUserPoolClient(self, body):  # noqa: N802
        if body.get("ClientId") not in self.pool.clients:
            raise ServiceError("ResourceNotFoundException", "User pool client does not exist.")
        return json.dumps({"UserPoolClient": self.pool.client(body["ClientId"])}).encode()

    def op_ListIdentityProviders(self, body):  # noqa: N802
        _limit(body, "MaxResults")
        return b'{"Providers":[]}'

    def op_DescribeIdentityProvider(self, body):  # noqa: N802
        raise ServiceError("ResourceNotFoundException", "Identity provider does not exist.")

    def op_ListResourceServers(self, body):  # noqa: N802
        _limit(body, "MaxResults", 50)
        return json.dumps({"ResourceServers": [{
            "UserPoolId": self.pool.pool_id, "Identifier": "https://api.example.com", "Name": "api",
            "Scopes": [{"ScopeName": "read", "ScopeDescription": "read"},
                       {"ScopeName": "write", "ScopeDescription": "write"}]}]}).encode()

    def op_DescribeUserPoolDomain(self, body):  # noqa: N802
        return b'{"DomainDescription":{}}'

    def op_GetUICustomization(self, body):  # noqa: N802
        return json.dumps({"UICustomization": {"UserPoolId": self.pool.pool_id, "ClientId": "ALL"}}).encode()

    def op_DescribeRiskConfiguration(self, body):  # noqa: N802
        raise ServiceError("UserPoolAddOnNotEnabledException", "Threat protection is not enabled for this user pool.")

    def op_GetLogDeliveryConfiguration(self, body):  # noqa: N802
        return json.dumps({"LogDeliveryConfiguration": {"UserPoolId": self.pool.pool_id,
                                                        "LogConfigurations": []}}).encode()

    def op_ListTagsForResource(self, body):  # noqa: N802
        if body.get("ResourceArn") != self.pool.arn:
            raise ServiceError("ResourceNotFoundException", f"Resource {body.get('ResourceArn')} not found")
        return json.dumps({"Tags": self.pool.describe()["UserPoolTags"]}).encode()

    def op_DescribeManagedLoginBrandingByClient(self, body):  # noqa: N802
        raise ServiceError("ResourceNotFoundException", "No managed login branding for this client")

    def op_GetUserPoolSessionConfiguration(self, body):  # noqa: N802
        raise ServiceError("ResourceNotFoundException", "No session configuration for this user pool")

    def op_GetUserPoolClientSessionConfiguration(self, body):  # noqa: N802
        raise ServiceError("ResourceNotFoundException", "No session configuration for this app client")

    def op_ListTerms(self, body):  # noqa: N802
        return b'{"Terms":[]}'

    def op_ListCIMDPolicies(self, body):  # noqa: N802
        return b'{"CIMDPolicies":[]}'

    def op_ListUserPoolReplicas(self, body):  # noqa: N802
        return b'{"UserPoolReplicas":[]}'

    def op_AdminGetUser(self, body):  # noqa: N802 - captureUserMfa: every user without MFA
        return json.dumps({"Username": body.get("Username"), "UserAttributes": [], "Enabled": True,
                           "UserStatus": "CONFIRMED", "UserMFASettingList": []}).encode()


def _parse_filter(text: str) -> tuple[str, str, str]:
    """``name = "value"`` or ``name ^= "value"`` (Cognito's filter grammar, one attribute)."""
    for op in ("^=", "="):
        name, sep, rest = text.partition(op)
        rest = rest.strip()
        if sep and len(rest) >= 2 and rest[0] == rest[-1] == '"':
            return name.strip(), op, rest[1:-1]
    raise ServiceError("InvalidParameterException", f"Invalid filter: {text}")


class _Handler(StatsHandler):
    disable_nagle_algorithm = True  # else headers and body go out as two segments: +40 ms (delayed ACK)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.server.app.handle(self.headers.get("X-Amz-Target", ""), raw)
        self._send(status, headers, body)


class StandInServer:
    """The stand-in served from a background thread of this process (tests, small runs)."""

    def __init__(self, app: StandInCognito, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self._server = AppServer((host, port), _Handler, app, queue_size=128)
        self._thread = threading.Thread(target=self._server.serve_forever, name="stand-in-cognito", daemon=True)
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--jitter", type=float, default=0.0, help="latency varies by +- this fraction (uniform)")
    p.add_argument("--quota", type=float, default=0.0, help="UserList calls/s (0: no quota)")
    p.add_argument("--burst", type=float, default=0.0, help="token bucket size (default: one second's worth)")
    p.add_argument("--groups", default="default", help="the pool's groups: default, five, tenants:N, everyone:K")
    p.add_argument("--token-ttl", type=float, default=0.0, help="pagination tokens expire after this (s; 0: never)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    app = StandInCognito(SyntheticPool(args.users, groups=group_shape(args.groups)), latency=args.latency_ms / 1000,
                         jitter=args.jitter, quota=args.quota or None, burst=args.burst or None,
                         token_ttl=args.token_ttl or None)
    server = AppServer((args.host, args.port), _Handler, app, queue_size=128)
    host, port = server.server_address[:2]
    print(json.dumps({"endpoint": f"http://{host}:{port}"}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
