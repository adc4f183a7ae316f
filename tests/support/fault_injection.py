"""Fault injection and call recording on boto3 clients, for the hardening tests.

Faults are injected per HTTP *attempt* (botocore's ``before-send`` event, inside the retry loop), so
botocore's retries see them exactly as they would see a real throttle, 5xx or broken connection. A
synthetic error answer also points the request at an address moto does not serve, so moto (which
listens on the same event) never carries out a request that "failed": a throttled PutObject writes
nothing, as on AWS.

Calls are recorded per API call (``before-parameter-build``: once per call, not per retry), with the
API parameters that name the resource (pool, bucket, key) and, for S3 writes, the bytes sent (read from
the file object botocore has wrapped them in by then, or from the file a spool is uploaded from).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

NOWHERE = "https://fault-injected.invalid/"


class RawBody:
    """The raw body of a synthetic botocore response."""

    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **kwargs):
        yield self._data

    def read(self, *args, **kwargs):
        data, self._data = self._data, b""
        return data


@dataclass(frozen=True)
class Fault:
    """One kind of fault. ``transient`` faults must be survived; the others must fail the run."""

    name: str
    transient: bool
    status: int = 0
    codes: tuple[str, str] = ("", "")  # (Cognito, S3) error codes; empty: a connection error
    connection: type[Exception] | None = None
    after_server: bool = False  # the server carried the request out; only its answer was lost

    def __str__(self) -> str:
        return self.name

    def code(self, service: str, operation: str = "") -> str:
        code = self.codes[1] if service == "s3" else self.codes[0]
        if service == "s3" and code == "NoSuch*":
            return "NoSuchUpload" if operation in ("UploadPart", "CompleteMultipartUpload") else (
                "NoSuchKey" if operation == "GetObject" else "NoSuchBucket")
        return code

    def status_for(self, service: str) -> int:
        if self.name == "throttle":
            return 503 if service == "s3" else 400  # S3's SlowDown is a 503; Cognito throttles with 400
        if self.name == "not-found":
            return 404 if service == "s3" else 400
        return self.status


THROTTLE = Fault("throttle", True, codes=("TooManyRequestsException", "SlowDown"))
SERVER_ERROR = Fault("server-error", True, 500, ("InternalErrorException", "InternalError"))
CONNECTION_REFUSED = Fault("connection-refused", True, connection=EndpointConnectionError)
CONNECTION_CLOSED = Fault("connection-closed", True, connection=ConnectionClosedError)
# The request reached the service and was carried out, then the connection broke before the answer.
RESPONSE_LOST = Fault("response-lost", True, connection=ConnectionClosedError, after_server=True)
ACCESS_DENIED = Fault("access-denied", False, 403, ("AccessDeniedException", "AccessDenied"))
NOT_FOUND = Fault("not-found", False, codes=("ResourceNotFoundException", "NoSuch*"))

TRANSIENT = (THROTTLE, SERVER_ERROR, CONNECTION_REFUSED, CONNECTION_CLOSED)
PERMANENT = (ACCESS_DENIED, NOT_FOUND)


def error_response(service: str, url: str, status: int, code: str, message: str) -> AWSResponse:
    """An error answer as the service's protocol writes it (JSON for Cognito, XML for S3)."""
    if service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
                f"</Message><RequestId>FAULT0000</RequestId></Error>").encode()
        headers = {"Content-Type": "application/xml"}
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse(url, status, headers, RawBody(body))


def service_of(client) -> str:
    return client.meta.service_model.service_name


class Injector:
    """Make ``operation`` on ``client`` meet ``fault``: on the attempts after the first ``skip``
    matching ones, ``times`` times (None: every attempt from then on, a permanent fault)."""

    def __init__(self, client, operation: str, fault: Fault, *, skip: int = 0, times: int | None = 1,
                 match: Callable[[Any], bool] | None = None):
        self.service = service_of(client)
        self.operation, self.fault = operation, fault
        self.skip, self.times, self.match = skip, times, match
        self.seen = 0
        self.fired = 0
        self._lock = threading.Lock()
        self._client = client
        self._event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        client.meta.events.register_first(self._event, self)

    def remove(self) -> None:
        self._client.meta.events.unregister(self._event, self)

    def __call__(self, request, **kwargs):
        if self.match is not None and not self.match(request):
            return None
        with self._lock:
            self.seen += 1
            if self.seen <= self.skip or (self.times is not None and self.fired >= self.times):
                return None
            self.fired += 1
        if self.fault.after_server:
            from moto.core.models import botocore_stubber

            botocore_stubber(kwargs.get("event_name", self._event), request)  # moto carries it out
        if self.fault.connection is not None:
            raise self.fault.connection(endpoint_url=request.url)
        url, request.url = request.url, NOWHERE  # moto answers on the same event: keep it from acting
        code = self.fault.code(self.service, self.operation)
        return error_response(self.service, url, self.fault.status_for(self.service), code,
                              f"injected {code} on {self.operation}")


def body_has(needle: bytes) -> Callable[[Any], bool]:
    """A ``match`` for requests whose body holds ``needle`` (e.g. a pagination token's name)."""

    def match(request) -> bool:
        body = request.body
        if hasattr(body, "read"):
            return False
        return needle in (body if isinstance(body, bytes) else (body or "").encode())

    return match


# --- recording ------------------------------------------------------------------------------------

RESOURCE_PARAMS = ("UserPoolId", "Domain", "ResourceArn", "ClientId", "Bucket", "Key", "FunctionName",
                   "Tagging", "SSEKMSKeyId", "ServerSideEncryption", "GroupName", "PaginationToken",
                   "NextToken", "Filter")


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    body: bytes = b""


@dataclass
class CallRecorder:
    """Every API call made by the clients it is attached to, in order (thread-safe)."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client):
        client.meta.events.register("before-parameter-build", self._record)
        return client

    def _record(self, params, model, **kwargs):
        body = params.get("Body") or params.get("Payload") or b""
        if isinstance(body, str):
            body = body.encode()
        if hasattr(body, "read") and hasattr(body, "seek"):  # botocore wraps S3 bodies in file objects first
            at = body.tell()
            data = body.read()
            body.seek(at)
            body = data
        if not isinstance(body, bytes | bytearray):
            body = b""
        call = Call(model.service_model.service_name, model.name,
                    {k: params[k] for k in RESOURCE_PARAMS if k in params}, bytes(body))
        with self._lock:
            self.calls.append(call)

    def operations(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(c.service, c.operation) for c in self.calls}

    def count(self, service: str, operation: str) -> int:
        with self._lock:
            return sum(1 for c in self.calls if (c.service, c.operation) == (service, operation))

    def bytes_sent(self) -> bytes:
        with self._lock:
            return b"".join(c.body for c in self.calls)


# --- speed ----------------------------------------------------------------------------------------

def fast_retries_and_limits(monkeypatch, rate: float = 1000.0) -> None:
    """Take the waiting out of a run, not the decisions: the project's rate limiters run at ``rate``
    calls/s per category, botocore's retry backoff is instant and its adaptive client-side limiter
    does not hold requests back. Whether and how often a call is retried is still botocore's call.
    (The limiters and their pacing have their own tests; these suites test what faults do.)"""
    import botocore.retries.adaptive
    import botocore.retries.standard

    from backup_lambda import pool_reader
    from backup_lambda.ratelimit import RateLimiters

    monkeypatch.setattr(pool_reader, "RateLimiters",
                        lambda rates, default=5.0: RateLimiters({k: rate for k in rates}, rate))
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(botocore.retries.adaptive.ClientRateLimiter, "on_sending_request",
                        lambda self, request, **kwargs: None)


def small_parts(monkeypatch, part_size: int = 8192) -> int:
    """Let a small snapshot span several multipart parts (S3's and moto's 5 MiB minimum lowered)."""
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    monkeypatch.setattr("backup_lambda.s3_upload.MIN_PART_SIZE", 1024)
    return part_size


# --- logs -----------------------------------------------------------------------------------------

class CapturedLogs:
    """Every log line, as text: the Lambda's Powertools JSON lines (its handler writes to the stream it
    was created with, so it is pointed here) and plain records of every logger at ``level`` and of
    ``backup_lambda`` at ``project_level``."""

    def __init__(self, level: int, project_level: int):
        import io
        import logging

        self.level, self.project_level = level, project_level
        self.json_stream = io.StringIO()
        self.records: list[logging.LogRecord] = []
        outer = self

        class _Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.records.append(record)

        self._handler = _Keep(level=logging.DEBUG)
        self._logging = logging

    def __enter__(self) -> CapturedLogs:
        logging = self._logging
        from backup_lambda import handler as lambda_module

        self._powertools = lambda_module.logger.registered_handler
        with self._powertools.lock:  # not setStream: it flushes the old stream, which may be closed
            self._old_stream, self._powertools.stream = self._powertools.stream, self.json_stream
        root, project = logging.getLogger(), logging.getLogger("backup_lambda")
        self._old_levels = (root.level, project.level)
        root.setLevel(self.level)
        project.setLevel(self.project_level)
        root.addHandler(self._handler)
        project.addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        logging = self._logging
        root, project = logging.getLogger(), logging.getLogger("backup_lambda")
        root.removeHandler(self._handler)
        project.removeHandler(self._handler)
        root.setLevel(self._old_levels[0])
        project.setLevel(self._old_levels[1])
        with self._powertools.lock:
            self._powertools.stream = self._old_stream

    def messages(self) -> list[str]:
        out = []
        for record in self.records:
            text = record.getMessage()
            if record.exc_info:
                import traceback

                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            out.append(text)
        return out

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.json_stream.getvalue().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def text(self) -> str:
        return self.json_stream.getvalue() + "\n".join(self.messages())


# --- the Lambda, run in process -------------------------------------------------------------------

class FakeContext:
    """The Lambda context object, as far as the handler and Powertools use it. ``remaining``: a
    function giving the seconds left in the run (default: a full 15 minutes)."""

    function_name = "cognito-backup-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cognito-backup-test"
    aws_request_id = "8f9e0a1b-0000-4000-8000-0000000000f1"

    def __init__(self, remaining=None):
        self._remaining = remaining or (lambda: 900.0)

    def get_remaining_time_in_millis(self) -> int:
        return int(self._remaining() * 1000)


class ShortContext(FakeContext):
    """A Lambda context whose remaining time lasts ``pages`` checks (None: a full 15 minutes)."""

    def __init__(self, pages: int | None = None):
        checks = iter(range(1, 1 << 62))
        super().__init__(lambda: 900.0 if pages is None or next(checks) <= pages else 0.0)


class LambdaRuns:
    """``backup_lambda.handler.lambda_handler`` with every client it makes recorded (``recorder``) and
    made from one boto3 session; its asynchronous self-invocations are answered 202 and kept, so
    ``until_done`` can deliver them as the next runs' events, as Lambda would."""

    def __init__(self, monkeypatch, recorder: CallRecorder, *, session=None,
                 prepare: Callable[[str, Any], None] | None = None):
        import boto3

        from backup_lambda import handler
        from backup_lambda.aws import make_client

        self.handler = handler
        self.recorder = recorder
        self.invocations: list[dict[str, Any]] = []
        session = session or boto3.Session()

        def make(service: str, *args, **kwargs):
            client = make_client(service, *args, session=session, **kwargs)
            recorder.attach(client)
            if prepare is not None:  # before the answer below, so that faults injected here come first
                prepare(service, client)
            if service == "lambda":  # per attempt, inside botocore's retries, like any other answer
                client.meta.events.register_first("before-send.lambda.Invoke", self._invoke)
            return client

        monkeypatch.setattr(handler, "make_client", make)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", ShortContext.function_name)

    def _invoke(self, request, **kwargs):
        body = request.body
        self.invocations.append(json.loads(body.read() if hasattr(body, "read") else body))
        request.url = NOWHERE
        return AWSResponse(NOWHERE, 202, {}, RawBody(b""))

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        return self.handler.lambda_handler(event, context or ShortContext())

    def until_done(self, event: dict[str, Any], pages: int | None = None, max_runs: int = 50) -> dict[str, Any]:
        result = self(event, ShortContext(pages))
        runs = 1
        while result.get("status") == "continued":
            assert runs < max_runs, "the snapshot never finished"
            result = self(self.invocations[-1], ShortContext(pages))
            runs += 1
        return result


# --- hand-overs at a chosen point -----------------------------------------------------------------

def capture_readers(monkeypatch) -> list:
    """Every ``PoolReader`` the snapshot creates from now on, in order (to see its ``stopping``, its
    limiters)."""
    from backup_lambda import pool_reader, snapshot

    readers: list = []

    class Recorded(pool_reader.PoolReader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            readers.append(self)

    monkeypatch.setattr(snapshot, "PoolReader", Recorded)
    return readers


class HandOverGate:
    """Make a run hand over while a chosen call is about to be made: the ``nth`` call of ``operation``
    (among those ``match`` accepts) is held; the run's remaining time (``deadline``) turns short; the
    call is released once the run is stopping, so it is refused (never made) and its chain is left
    unfinished in the checkpoint. The held call is before any of the run's own hooks (a more specific
    event comes first in botocore)."""

    def __init__(self, client, operation: str, readers: list, *, nth: int = 1,
                 match: Callable[[Any], bool] | None = None):
        self.operation, self.readers, self.nth, self.match = operation, readers, nth, match
        self.seen = 0
        self.held = threading.Event()
        self.released_stopping: bool | None = None
        self._lock = threading.Lock()
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-call.{service}.{operation}", self._before_call)

    def _before_call(self, params=None, **kwargs):
        if self.match is not None and not self.match(params):
            return None
        with self._lock:
            self.seen += 1
            if self.seen != self.nth:
                return None
        self.held.set()
        self.released_stopping = self.readers[-1].stopping.wait(30)
        return None

    def deadline(self) -> float:
        """Seconds left: plenty, until the call is held."""
        return 0.0 if self.held.is_set() else 900.0


def params_have(text: str) -> Callable[[Any], bool]:
    """A ``match`` for ``HandOverGate``: the serialised request holds ``text`` (e.g. '"NextToken"')."""
    return lambda params: text.encode() in (params or {}).get("body", b"")
