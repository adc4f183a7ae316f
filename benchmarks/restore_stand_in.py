"""A stand-in for the Cognito calls a restore makes, fast enough to restore pools of a million users into.

It speaks the cognito-idp JSON 1.1 protocol over HTTP (POST, ``X-Amz-Target:
AWSCognitoIdentityProviderService.<Op>``) and keeps the pools it is asked to create in memory: CreateUserPool
and the configuration calls, CreateGroup, AdminCreateUser, AdminAddUserToGroup (the user and the group must
exist), AdminDisableUser, ListUsers (with ``sub ^= "x"`` filters, as the restore lists the pool for imported
users' new subs), and the user import jobs: GetCSVHeader, CreateUserImportJob (its ``PreSignedUrl`` points at
this server: ``PUT /_upload/<job id>`` takes the CSV), StartUserImportJob (one job at a time per account, as
AWS), DescribeUserImportJob (the job imports ``import_rate`` rows/s from its start, then its users are in the
pool: Succeeded).

Every call belongs to a quota category (QUOTA_RPS, CATEGORY: Cognito's documented per-account quotas, kept
here on their own rather than taken from the project's table, so that a wrong category in the restore shows up
as throttles), each a token bucket (one second's worth of burst) scaled by ``scale`` (a faster clock); an empty
bucket answers HTTP 400 ``TooManyRequestsException`` as AWS does. Every call sleeps ``latency`` (+- ``jitter``)
in its own thread, so concurrent calls overlap as they do against AWS.

``GET /_stats`` returns the calls received per operation, those throttled, per operation the (monotonic) times of
its first and last accepted call, and per pool what it holds (users, disabled users, groups, memberships).

Run it as a process: ``python -m benchmarks.restore_stand_in --latency-ms 100 --scale 10``; it prints
``{"endpoint": "http://127.0.0.1:<port>"}`` and serves until terminated.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

from benchmarks.stand_in_cognito import TARGET_PREFIX, ServiceError, TokenBucket
from benchmarks.stand_in_http import AppServer, StatsHandler

# Cognito's request-rate quotas per account (calls/s), and the category of each call a restore makes.
QUOTA_RPS = {"UserCreation": 50, "UserUpdate": 25, "UserResourceUpdate": 25, "UserList": 30,
             "UserResourceRead": 50, "UserPoolRead": 15, "UserPoolUpdate": 15, "UserPoolResourceRead": 20,
             "UserPoolResourceUpdate": 15, "UserPoolClientRead": 15, "UserPoolClientUpdate": 15}
CATEGORY = {
    "AdminCreateUser": "UserCreation", "AdminDisableUser": "UserUpdate", "AdminAddUserToGroup": "UserResourceUpdate",
    "ListUsers": "UserList", "AdminGetUser": "UserResourceRead",
    "DescribeUserPool": "UserPoolRead", "ListUserPools": "UserPoolRead", "GetCSVHeader": "UserPoolRead",
    "DescribeUserImportJob": "UserPoolRead", "ListUserImportJobs": "UserPoolRead",
    "CreateUserPool": "UserPoolUpdate", "UpdateUserPool": "UserPoolUpdate", "SetUserPoolMfaConfig": "UserPoolUpdate",
    "AddCustomAttributes": "UserPoolUpdate", "CreateUserImportJob": "UserPoolUpdate",
    "StartUserImportJob": "UserPoolUpdate",
    "ListGroups": "UserPoolResourceRead", "ListResourceServers": "UserPoolResourceRead",
    "ListIdentityProviders": "UserPoolResourceRead", "CreateGroup": "UserPoolResourceUpdate",
    "CreateUserPoolClient": "UserPoolClientUpdate", "ListUserPoolClients": "UserPoolClientRead",
}
CSV_HEADER = ["name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
              "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
              "phone_number", "phone_number_verified", "address", "updated_at", "cognito:mfa_enabled",
              "cognito:username"]


class Pool:
    def __init__(self, pool_id: str, request: dict[str, Any]):
        self.id, self.request = pool_id, request
        self.users: dict[str, dict[str, Any]] = {}  # username -> {"sub", "email", "enabled"}
        self.by_prefix: dict[str, list[str]] = {}  # the first hex digit of the sub -> usernames, in order
        self.groups: set[str] = set()
        self.memberships: set[tuple[str, str]] = set()
        self.custom: list[str] = [a["Name"] for a in request.get("Schema") or () if a.get("Name")]

    def add_user(self, username: str, email: str | None) -> dict[str, Any]:
        if username in self.users:
            raise ServiceError("UsernameExistsException", "User account already exists")
        sub = str(uuid.uuid4())
        user = self.users[username] = {"sub": sub, "email": email, "enabled": True}
        self.by_prefix.setdefault(sub[0], []).append(username)
        return user

    def custom_columns(self) -> list[str]:
        """The CSV columns of the pool's custom attributes (as GetCSVHeader lists them)."""
        return [name if name.startswith("custom:") else f"custom:{name}" for name in self.custom
                if name not in CSV_HEADER and name not in ("sub", "identities")]

    def described(self) -> dict[str, Any]:
        return {"Id": self.id, "Name": self.request.get("PoolName"), "EstimatedNumberOfUsers": len(self.users),
                "Arn": f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{self.id}",
                "LambdaConfig": self.request.get("LambdaConfig") or {}, "MfaConfiguration": "OFF"}


def user_type(username: str, user: dict[str, Any]) -> dict[str, Any]:
    attributes = [{"Name": "sub", "Value": user["sub"]}]
    if user["email"]:
        attributes += [{"Name": "email", "Value": user["email"]}, {"Name": "email_verified", "Value": "true"}]
    return {"Username": username, "Attributes": attributes, "Enabled": user["enabled"],
            "UserStatus": "FORCE_CHANGE_PASSWORD", "UserCreateDate": 1.7e9, "UserLastModifiedDate": 1.7e9}


class RestoreStandIn:
    """The request handling: pools, quotas per category, import jobs, a latency per call, and counters."""

    def __init__(self, *, latency: float = 0.0, jitter: float = 0.0, scale: float = 1.0, import_rate: float = 1000.0,
                 endpoint: str = "", seed: int = 1):
        self.latency, self.jitter, self.scale = latency, jitter, scale
        self.import_rate = import_rate * scale  # rows/s a started job imports (the run's clock)
        self.endpoint = endpoint
        self.buckets = {c: TokenBucket(q * scale) for c, q in QUOTA_RPS.items()}
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.windows: dict[str, list[float]] = {}  # operation -> [first, last] accepted call (monotonic)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "throttled": dict(self.throttled),
                    "windows_s": {op: [round(a, 4), round(b, 4)] for op, (a, b) in self.windows.items()},
                    "pools": {p.id: {"users": len(p.users), "groups": len(p.groups),
                                     "memberships": len(p.memberships),
                                     "disabled": sum(1 for u in p.users.values() if not u["enabled"])}
                              for p in self.pools.values()}}

    def _sleep(self) -> None:
        if self.latency > 0:
            with self._lock:
                factor = 1 + self.jitter * (2 * self._random.random() - 1) if self.jitter else 1
            time.sleep(self.latency * factor)

    def handle(self, target: str, raw: bytes) -> tuple[int, bytes]:
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else target
        try:
            self._sleep()
            bucket = self.buckets.get(CATEGORY.get(op, ""))
            with self._lock:
                self.calls[op] += 1
                if bucket is not None and not bucket.take():
                    self.throttled[op] += 1
                    raise ServiceError("TooManyRequestsException", "Rate exceeded")
                now = time.monotonic()
                self.windows.setdefault(op, [now, now])[1] = now
                body = json.loads(raw or b"{}")
                handler = getattr(self, f"op_{op}", None)
                if handler is None:
                    raise ServiceError("InvalidAction", f"the restore stand-in does not serve {op}")
                return 200, json.dumps(handler(body)).encode()
        except ServiceError as exc:
            return exc.status, json.dumps({"__type": exc.code, "message": exc.message}).encode()

    def _pool(self, body: dict[str, Any]) -> Pool:
        pool = self.pools.get(body.get("UserPoolId", ""))
        if pool is None:
            raise ServiceError("ResourceNotFoundException", "User pool does not exist.")
        return pool

    def _user(self, pool: Pool, username: str) -> dict[str, Any]:
        user = pool.users.get(username)
        if user is None:
            raise ServiceError("UserNotFoundException", "User does not exist.")
        return user

    # -- the pool and its configuration ----------------------------------------------------------------------
    def op_ListUserPools(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"UserPools": [{"Id": p.id, "Name": p.request.get("PoolName")} for p in self.pools.values()]}

    def op_CreateUserPool(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = Pool(f"eu-west-1_Bench{len(self.pools) + 1:04d}", body)
        self.pools[pool.id] = pool
        return {"UserPool": pool.described()}

    def op_DescribeUserPool(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"UserPool": self._pool(body).described()}

    def op_SetUserPoolMfaConfig(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body)
        return {"MfaConfiguration": body.get("MfaConfiguration", "OFF")}

    def op_AddCustomAttributes(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body).custom += [a["Name"] for a in body.get("CustomAttributes") or ()]
        return {}

    def op_UpdateUserPool(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body).request.update(body)
        return {}

    def op_CreateUserPoolClient(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body)
        return {"UserPoolClient": {"UserPoolId": body["UserPoolId"], "ClientName": body.get("ClientName"),
                                   "ClientId": uuid.uuid4().hex[:26]}}

    def op_ListUserPoolClients(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body)
        return {"UserPoolClients": []}

    def op_ListResourceServers(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body)
        return {"ResourceServers": []}

    def op_ListIdentityProviders(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pool(body)
        return {"Providers": []}

    def op_ListGroups(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"Groups": [{"GroupName": g} for g in sorted(self._pool(body).groups)]}

    def op_CreateGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        if body["GroupName"] in pool.groups:
            raise ServiceError("GroupExistsException", "A group with the name already exists")
        pool.groups.add(body["GroupName"])
        return {"Group": {"GroupName": body["GroupName"], "UserPoolId": pool.id}}

    # -- users -----------------------------------------------------------------------------------------------
    def op_AdminCreateUser(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        attributes = {a["Name"]: a.get("Value") for a in body.get("UserAttributes") or ()}
        if "sub" in attributes:
            raise ServiceError("InvalidParameterException", "sub cannot be set")
        user = pool.add_user(body["Username"], attributes.get("email"))
        return {"User": user_type(body["Username"], user)}

    def op_AdminGetUser(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        user = user_type(body["Username"], self._user(pool, body["Username"]))
        return {**user, "UserAttributes": user.pop("Attributes")}

    def op_AdminAddUserToGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        self._user(pool, body["Username"])
        if body["GroupName"] not in pool.groups:
            raise ServiceError("ResourceNotFoundException", "Group not found.")
        pool.memberships.add((body["GroupName"], body["Username"]))
        return {}

    def op_AdminDisableUser(self, body: dict[str, Any]) -> dict[str, Any]:
        self._user(self._pool(body), body["Username"])["enabled"] = False
        return {}

    def op_ListUsers(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        limit = body.get("Limit", 60)
        if not isinstance(limit, int) or not 0 <= limit <= 60:
            raise ServiceError("InvalidParameterException", "Limit must be at most 60")
        prefix = ""
        if body.get("Filter"):
            name, op, value = (part.strip() for part in body["Filter"].partition("^="))
            if name != "sub" or not op or len(value) < 2 or value[0] != '"' or value[-1] != '"':
                raise ServiceError("InvalidParameterException", f"the stand-in filters on sub ^= only: {value}")
            prefix = value[1:-1]
        names = pool.by_prefix.get(prefix[:1], []) if prefix else [n for p in sorted(pool.by_prefix)
                                                                   for n in pool.by_prefix[p]]
        position = int(body.get("PaginationToken") or 0)
        page: list[dict[str, Any]] = []
        while position < len(names) and len(page) < (limit or 60):
            user = pool.users[names[position]]
            if user["sub"].startswith(prefix):
                page.append(user_type(names[position], user))
            position += 1
        out: dict[str, Any] = {"Users": page}
        if position < len(names):
            out["PaginationToken"] = str(position)
        return out

    # -- user import jobs ------------------------------------------------------------------------------------
    def op_GetCSVHeader(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        return {"UserPoolId": pool.id, "CSVHeader": [*CSV_HEADER[:-2], *pool.custom_columns(),
                                                     *CSV_HEADER[-2:]]}

    def op_CreateUserImportJob(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        if not body.get("CloudWatchLogsRoleArn"):
            raise ServiceError("InvalidParameterException", "CloudWatchLogsRoleArn is required")
        job_id = f"import-{uuid.uuid4().hex[:12]}"
        self.jobs[job_id] = {"JobId": job_id, "JobName": body.get("JobName"), "UserPoolId": pool.id,
                             "PreSignedUrl": f"{self.endpoint}/_upload/{job_id}", "Status": "Created",
                             "rows": None}
        return {"UserImportJob": self._job(job_id)}

    def upload(self, job_id: str, data: bytes) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job["Status"] != "Created":
                raise ServiceError("AccessDenied", "no such upload", 403)
            reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
            job["rows"] = [(row["cognito:username"], row.get("email") or None) for row in reader]

    def op_StartUserImportJob(self, body: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(body.get("JobId", ""))
        if job is None or job["UserPoolId"] != body.get("UserPoolId"):
            raise ServiceError("ResourceNotFoundException", "Import job not found")
        if any(j["Status"] == "InProgress" for j in self.jobs.values()):
            raise ServiceError("LimitExceededException", "Only one import job can be active at a time.")
        if job["rows"] is None:
            raise ServiceError("InvalidParameterException", "The CSV file has not been uploaded")
        job.update(Status="InProgress", started=time.monotonic())
        return {"UserImportJob": self._job(job["JobId"])}

    def op_DescribeUserImportJob(self, body: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(body.get("JobId", ""))
        if job is None:
            raise ServiceError("ResourceNotFoundException", "Import job not found")
        if job["Status"] == "InProgress":
            done = min(len(job["rows"]), int((time.monotonic() - job["started"]) * self.import_rate))
            job["ImportedUsers"] = done
            if done == len(job["rows"]):
                pool = self.pools[job["UserPoolId"]]
                for username, email in job["rows"]:
                    pool.add_user(username, email)
                job.update(Status="Succeeded", FailedUsers=0, SkippedUsers=0,
                           CompletionMessage="Import Job Completed Successfully.")
        return {"UserImportJob": self._job(job["JobId"])}

    def op_ListUserImportJobs(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(body)
        return {"UserImportJobs": [self._job(j) for j in reversed(self.jobs) if self.jobs[j]["UserPoolId"] == pool.id]}

    def _job(self, job_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.jobs[job_id].items() if k not in ("rows", "started")}


class _Handler(StatsHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.app.handle(self.headers.get("X-Amz-Target", ""), raw)
        self._send(status, {"Content-Type": "application/x-amz-json-1.1"}, body)

    def do_PUT(self) -> None:  # noqa: N802
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/_upload/"):
            self._send(404, {"Content-Type": "text/plain"}, b"not found")
            return
        try:
            self.server.app.upload(self.path[len("/_upload/"):].split("?", 1)[0], data)
        except ServiceError as exc:
            self._send(exc.status, {"Content-Type": "text/plain"}, exc.message.encode())
            return
        self._send(200, {"Content-Type": "text/plain"}, b"")


def serve(app: RestoreStandIn, host: str = "127.0.0.1", port: int = 0) -> tuple[AppServer, str]:
    """A server for ``app`` (not yet serving) and its endpoint, which the app's pre-signed URLs point at."""
    server = AppServer((host, port), _Handler, app, queue_size=256)
    host, port = server.server_address[:2]
    app.endpoint = f"http://{host}:{port}"
    return server, app.endpoint


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--latency-ms", type=float, default=0.0, help="per call, on the run's clock")
    p.add_argument("--jitter", type=float, default=0.0, help="latency varies by +- this fraction (uniform)")
    p.add_argument("--scale", type=float, default=1.0, help="quotas and the import rate x this (a faster clock)")
    p.add_argument("--import-rate", type=float, default=1000.0, help="rows/s an import job imports (real clock)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    if args.scale <= 0 or args.import_rate <= 0 or args.latency_ms < 0:
        p.error("--scale and --import-rate must be > 0, --latency-ms >= 0")
    app = RestoreStandIn(latency=args.latency_ms / 1000, jitter=args.jitter, scale=args.scale,
                         import_rate=args.import_rate)
    server, endpoint = serve(app, args.host, args.port)
    print(json.dumps({"endpoint": endpoint}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
