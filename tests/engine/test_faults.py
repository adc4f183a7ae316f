"""Faults injected into a real snapshot run against moto, at every call the snapshot makes, in turn.

The calls are the ones a fault-free run of a rich pool makes (recorded below and checked against
``SITES``, so a new call cannot go untested): its configuration (clients, an identity provider with a
secret, a resource server, a domain, tags), groups (one with more members than a page holds), users
(parallel ranges), and the S3 writes (multipart parts, completion, manifest).

At each site, in turn:
- a transient fault, once (a throttle, a 5xx, a refused connection, a connection closed before the
  answer; for S3 writes also an answer lost after S3 acted): the snapshot must come out identical in
  content to the fault-free one, with nothing left behind;
- a permanent fault (AccessDenied, ResourceNotFound / NoSuch*), through the Lambda handler: a clear
  failure naming the pool and the operation, no snapshot object, no manifest, no multipart upload left
  open, and the Lambda raising with a ``SnapshotFailed`` metric (the alarm's input).

Waiting is taken out (``fast_retries_and_limits``): limiter pacing and retry backoff are not what this
file tests, and 200 runs must stay fast.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from backup_lambda.snapshot_format import manifest_key
from demo.emulator import FAKE_ENV
from tests.support.emf import emf_metric_names
from tests.support.fault_injection import (
    ACCESS_DENIED,
    CONNECTION_CLOSED,
    CONNECTION_REFUSED,
    NOT_FOUND,
    PERMANENT,
    RESPONSE_LOST,
    SERVER_ERROR,
    THROTTLE,
    TRANSIENT,
    CallRecorder,
    CapturedLogs,
    FakeContext,
    Fault,
    Injector,
    LambdaRuns,
    body_has,
    fast_retries_and_limits,
    small_parts,
)

NOW = datetime(2026, 11, 24, 1, 0, 3, tzinfo=timezone.utc)
POOL_NAME = "fault-pool"


@dataclass(frozen=True)
class Site:
    """One call of the snapshot: an operation and which of its calls (``first``, ``middle``,
    ``last`` of the fault-free run's calls, or ``next-page``: a call carrying a pagination token)."""

    service: str
    operation: str
    occurrence: str = "first"

    def __str__(self) -> str:
        return self.operation + ("" if self.occurrence == "first" else f"[{self.occurrence}]")


COGNITO_SITES = [
    Site("cognito-idp", op)
    for op in (
        "DescribeUserPool", "GetUserPoolMfaConfig", "ListUserPoolClients", "DescribeUserPoolClient",
        "ListIdentityProviders", "DescribeIdentityProvider", "ListResourceServers", "DescribeUserPoolDomain",
        "GetUICustomization", "DescribeRiskConfiguration", "GetLogDeliveryConfiguration", "ListTagsForResource",
        "DescribeManagedLoginBrandingByClient", "ListGroups", "ListUsersInGroup", "ListUsers",
    )
] + [
    Site("cognito-idp", "DescribeUserPoolClient", "last"),
    Site("cognito-idp", "ListUsersInGroup", "next-page"),  # page 2 of the group larger than a page
    Site("cognito-idp", "ListUsers", "middle"),  # a range listed by a worker thread
]
S3_SITES = [
    Site("s3", "CreateMultipartUpload"),
    Site("s3", "UploadPart"),
    Site("s3", "UploadPart", "middle"),
    Site("s3", "UploadPart", "last"),  # the last part, sent by the completion
    Site("s3", "CompleteMultipartUpload"),
    Site("s3", "PutObject"),  # the manifest
]
SITES = COGNITO_SITES + S3_SITES
S3_WRITES = [s for s in S3_SITES if s.operation != "CreateMultipartUpload"]

# ResourceNotFound from these means "the pool does not use this": the section is written as absent.
ABSENT_WHEN_NOT_FOUND = {"GetUICustomization": "ui_customization", "GetLogDeliveryConfiguration": "log_delivery",
                         "DescribeManagedLoginBrandingByClient": "managed_login_branding"}
# The S3 calls made while the object is being written (their errors are wrapped by the run, which names
# the pool and the object): checked through the Lambda above and directly below.
WHILE_WRITING = {("s3", "UploadPart"), ("s3", "CompleteMultipartUpload")}


def normalised(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with what legitimately varies between two runs put in a fixed order: users
    (listed by parallel workers) by username, group members sorted."""
    out = dict(doc)
    out["users"] = sorted(doc["users"], key=lambda u: u["Username"])
    out["groups"] = [{**g, "Members": sorted(g["Members"])} for g in doc["groups"]]
    for kind, description in ((doc.get("domain") or {}).get("value") or {}).items():
        if description and "AWSAccountId" in description:  # moto makes up a new one on every call
            out["domain"] = {**out["domain"], "value": {**out["domain"]["value"],
                                                        kind: {**description, "AWSAccountId": "<moto>"}}}
    return out


def comparable_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in ("completed_at", "sha256", "runs")}


class World:
    """One moto account for the whole module: the pool, and the fault-free run to compare with."""

    def __init__(self, part_size: int):
        import boto3

        from backup_lambda.aws import make_client
        from demo.sample_pool import build_pool

        self.session = boto3.Session()  # one session: its loaded service models are shared by all clients
        self.make_client = functools.partial(make_client, session=self.session)
        self.part_size = part_size
        cognito = make_client("cognito-idp")
        self.sample = build_pool(cognito, POOL_NAME, users=72, unconfirmed=3, big_group_members=65)
        self.pool_id = self.sample.pool_id
        self._names = itertools.count()
        self.fault_free_calls = CallRecorder()
        cognito, s3, bucket = self.fresh(self.fault_free_calls)
        self.result = self.snapshot(cognito, s3, bucket)
        reader = self.make_client("s3")  # not recorded: reading the result back is not the snapshot's call
        self.doc = normalised(self.read_json(reader, bucket, self.result["key"]))
        self.manifest = self.read_json(reader, bucket, self.result["manifest_key"])

    def fresh(self, recorder: CallRecorder | None = None):
        """New clients (as a new Lambda run has) and an empty bucket."""
        cognito, s3 = self.make_client("cognito-idp"), self.make_client("s3")
        bucket = f"snapshots-{next(self._names):04d}"
        s3.create_bucket(Bucket=bucket)
        if recorder is not None:
            recorder.attach(cognito)
            recorder.attach(s3)
        return cognito, s3, bucket

    def snapshot(self, cognito, s3, bucket, **kwargs):
        from backup_lambda.snapshot import take_snapshot

        return take_snapshot(cognito, s3, **self.snapshot_args(bucket), **kwargs).to_json()

    def snapshot_args(self, bucket: str) -> dict[str, Any]:
        return {"user_pool_id": self.pool_id, "bucket": bucket, "now": NOW, "request_budget": 30,
                "part_size": self.part_size}

    def names_the_pool(self, message: str) -> bool:
        """By its id, or by its name (snapshot keys carry the name)."""
        return self.pool_id in message or POOL_NAME in message

    @staticmethod
    def read_json(s3, bucket, key):
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def inject(self, site: Site, fault: Fault, cognito, s3, *, permanent: bool = False) -> Injector:
        client = s3 if site.service == "s3" else cognito
        made = self.fault_free_calls.count(site.service, site.operation)
        assert made, f"the fault-free run never calls {site}"
        skip = {"first": 0, "middle": made // 2, "last": made - 1, "next-page": 0}[site.occurrence]
        match = body_has(b'"NextToken"') if site.occurrence == "next-page" else None
        return Injector(client, site.operation, fault, skip=skip, times=None if permanent else 1, match=match)

    def assert_complete_and_identical(self, s3, bucket: str, result: dict[str, Any]) -> None:
        key = result["key"]
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        manifest = self.read_json(s3, bucket, manifest_key(key))
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest() == result["sha256"]
        assert manifest["bytes"] == len(body)
        assert comparable_manifest(manifest) == comparable_manifest(self.manifest)
        assert normalised(json.loads(body)) == self.doc, "the snapshot differs from the fault-free one"
        assert objects(s3, bucket) == sorted([key, manifest_key(key)])
        assert open_uploads(s3, bucket) == []


def objects(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def open_uploads(s3, bucket: str) -> list[dict]:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.fixture(scope="module")
def world():
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAKE_ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "BACKUP_BUCKET", "KMS_KEY_ID", "SNAPSHOT_PREFIX",
                    "EXCLUDE_ATTRIBUTES", "REQUEST_BUDGET"):
            mp.delenv(key, raising=False)
        fast_retries_and_limits(mp)
        part_size = small_parts(mp)
        with mock_aws():
            yield World(part_size)


# --- the fault-free run ---------------------------------------------------------------------------

def test_the_sites_cover_every_call_a_snapshot_makes(world):
    made = world.fault_free_calls.operations() - {("s3", "CreateBucket")}

    assert made == {(s.service, s.operation) for s in SITES}


def test_the_fault_free_run_exercises_what_the_faults_are_aimed_at(world):
    calls = world.fault_free_calls

    assert calls.count("s3", "UploadPart") >= 4, "too few parts for first/middle/last to differ"
    assert calls.count("cognito-idp", "ListUsers") >= 16
    assert any(c.operation == "ListUsersInGroup" and "NextToken" in c.params for c in calls.calls)
    assert calls.count("cognito-idp", "DescribeUserPoolClient") == 2
    assert world.result["users"] == 75 and world.result["memberships"] > 65
    assert {s: world.doc[s]["status"] for s in ("clients", "identity_providers", "domain", "tags")} == {
        "clients": "present", "identity_providers": "present", "domain": "present", "tags": "present"}


# --- transient faults: retried, nothing lost ------------------------------------------------------

TRANSIENT_CASES = [(site, fault) for site in SITES for fault in TRANSIENT] + [
    (site, RESPONSE_LOST) for site in S3_WRITES if site.operation != "PutObject"
] + [
    (Site("s3", "PutObject"), RESPONSE_LOST),
]


@pytest.mark.parametrize(("site", "fault"), TRANSIENT_CASES, ids=str)
def test_a_transient_fault_is_retried_and_the_snapshot_is_unchanged(world, site, fault):
    cognito, s3, bucket = world.fresh()
    injector = world.inject(site, fault, cognito, s3)

    result = world.snapshot(cognito, s3, bucket)

    assert injector.fired == 1, f"the fault was not injected: {site} was not called as expected"
    world.assert_complete_and_identical(s3, bucket, result)


def test_paginated_user_listing_survives_faults_on_token_pages(world, monkeypatch):
    """Pages of 5 users, so every range is paginated: a fault on a call that carries a
    PaginationToken is retried with the same token, and no user is lost or doubled."""
    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 5)
    cognito, s3, bucket = world.fresh()
    injectors = [
        Injector(cognito, "ListUsers", fault, skip=i, match=body_has(b'"PaginationToken"'))
        for i, fault in enumerate((THROTTLE, SERVER_ERROR, CONNECTION_REFUSED, CONNECTION_CLOSED))
    ]

    result = world.snapshot(cognito, s3, bucket)

    assert [i.fired for i in injectors] == [1, 1, 1, 1]
    world.assert_complete_and_identical(s3, bucket, result)


def test_many_transient_faults_at_once_still_lose_nothing(world):
    """Every third ListUsers / ListUsersInGroup attempt throttled, every third UploadPart a 500."""
    cognito, s3, bucket = world.fresh()
    every = []
    for client, operation, fault, n in ((cognito, "ListUsers", THROTTLE, 3), (cognito, "ListUsersInGroup", THROTTLE, 3),
                                        (s3, "UploadPart", SERVER_ERROR, 3)):
        every.append(_EveryNth(client, operation, fault, n))

    result = world.snapshot(cognito, s3, bucket)

    assert all(e.fired >= 2 for e in every), [e.fired for e in every]
    world.assert_complete_and_identical(s3, bucket, result)


class _EveryNth:
    def __init__(self, client, operation: str, fault: Fault, n: int):
        self.n, self.count, self.fired = n, 0, 0
        self._lock = threading.Lock()
        self._inner = Injector(client, operation, fault, times=None)
        self._inner.remove()
        client.meta.events.register_first(
            f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}", self)

    def __call__(self, request, **kwargs):
        with self._lock:
            self.count += 1
            if self.count % self.n:
                return None
            self.fired += 1
        return self._inner(request, **kwargs)


# --- permanent faults: a clear failure, nothing written, the alarm fires ---------------------------


def run_lambda(world: World, monkeypatch, cognito, s3, bucket: str):
    """The Lambda handler with these clients; returns the exception it raised (or its result)."""
    from backup_lambda import handler

    clients = {"cognito-idp": cognito, "s3": s3}
    monkeypatch.setattr(handler, "make_client", lambda service, *a, **kw: clients[service])
    monkeypatch.setattr(handler, "take_snapshot", functools.partial(handler.take_snapshot, now=NOW,
                                                                    part_size=world.part_size))
    monkeypatch.setenv("BACKUP_BUCKET", bucket)
    monkeypatch.setenv("REQUEST_BUDGET", "30")
    with CapturedLogs(logging.INFO, logging.INFO) as logs:
        try:
            outcome = handler.lambda_handler({"user_pool_id": world.pool_id, "pool_name": POOL_NAME}, FakeContext())
        except Exception as exc:  # the test inspects it
            outcome = exc
    return outcome, logs


PERMANENT_CASES = [
    (site, fault) for site in SITES for fault in PERMANENT
    if site.operation != "PutObject" and not (fault is NOT_FOUND and site.operation in ABSENT_WHEN_NOT_FOUND)
]


@pytest.mark.parametrize(("site", "fault"), PERMANENT_CASES, ids=str)
def test_a_permanent_fault_fails_cleanly_and_the_alarm_fires(world, monkeypatch, capsys, site, fault):
    recorder = CallRecorder()
    cognito, s3, bucket = world.fresh(recorder)
    injector = world.inject(site, fault, cognito, s3, permanent=True)
    capsys.readouterr()

    raised, logs = run_lambda(world, monkeypatch, cognito, s3, bucket)

    assert injector.fired >= 1
    assert isinstance(raised, Exception), f"the Lambda returned {raised!r} despite a permanent {fault.name}"
    message = str(raised)
    assert site.operation in message and fault.code(site.service, site.operation) in message, message
    assert world.names_the_pool(message), message
    assert objects(s3, bucket) == [], "a failed run left an object"
    assert open_uploads(s3, bucket) == [], "a failed run left a multipart upload open"
    if recorder.count("s3", "CreateMultipartUpload") and site.operation != "CreateMultipartUpload":
        assert recorder.count("s3", "AbortMultipartUpload") == 1
    metrics = emf_metric_names(capsys.readouterr().out)
    assert "SnapshotFailed" in metrics and "SnapshotSucceeded" not in metrics
    errors = [r for r in logs.json_lines() if r.get("level") == "ERROR"]
    assert any(r.get("user_pool_id") == world.pool_id and site.operation in json.dumps(r) for r in errors), errors


@pytest.mark.parametrize("operation", sorted(op for _, op in WHILE_WRITING))
def test_an_s3_failure_while_writing_names_the_pool(world, operation):
    cognito, s3, bucket = world.fresh()
    world.inject(Site("s3", operation), ACCESS_DENIED, cognito, s3, permanent=True)

    with pytest.raises(Exception) as raised:
        world.snapshot(cognito, s3, bucket)

    assert world.names_the_pool(str(raised.value))


@pytest.mark.parametrize("operation", sorted(ABSENT_WHEN_NOT_FOUND))
def test_not_found_on_an_optional_section_records_it_as_absent(world, operation):
    cognito, s3, bucket = world.fresh()
    world.inject(Site("cognito-idp", operation), NOT_FOUND, cognito, s3, permanent=True)

    result = world.snapshot(cognito, s3, bucket)

    doc = world.read_json(s3, bucket, result["key"])
    section = ABSENT_WHEN_NOT_FOUND[operation]
    assert doc[section]["status"] == "absent"
    assert {k: v for k, v in normalised(doc).items() if k != section} == {
        k: v for k, v in world.doc.items() if k != section}


@pytest.mark.parametrize("fault", PERMANENT, ids=str)
def test_a_manifest_that_cannot_be_written_leaves_no_complete_snapshot(world, monkeypatch, capsys, fault):
    """The snapshot object is complete before its manifest is written, and the backup role may not
    delete objects (Object Lock, least privilege): it stays, visibly incomplete. What must hold is
    that nothing treats it as a snapshot: no manifest, ``list`` shows it incomplete, ``verify``
    refuses it, and the Lambda fails."""
    from cognito_backup.listing import list_snapshots
    from cognito_backup.verify import verify_snapshot

    cognito, s3, bucket = world.fresh()
    world.inject(Site("s3", "PutObject"), fault, cognito, s3, permanent=True)
    capsys.readouterr()

    raised, _ = run_lambda(world, monkeypatch, cognito, s3, bucket)

    assert isinstance(raised, Exception)
    assert world.names_the_pool(str(raised)) and "PutObject" in str(raised) and "manifest" in str(raised)
    assert "SnapshotFailed" in emf_metric_names(capsys.readouterr().out)
    keys = objects(s3, bucket)
    assert len(keys) == 1 and not keys[0].endswith(".manifest.json")
    assert open_uploads(s3, bucket) == []
    (listed,) = list_snapshots(s3, bucket)
    assert listed["complete"] is False
    verdict = verify_snapshot(f"s3://{bucket}/{keys[0]}", s3=s3)
    assert not verdict["ok"] and any("manifest" in p for p in verdict["problems"])


def test_a_failed_abort_still_reports_the_original_failure(world):
    """If the abort itself fails (the role lost access meanwhile), the run still fails with the first
    error, and the abort's failure is logged (the bucket's lifecycle rule removes the parts)."""
    cognito, s3, bucket = world.fresh()
    world.inject(Site("cognito-idp", "ListUsers", "middle"), ACCESS_DENIED, cognito, s3, permanent=True)
    Injector(s3, "AbortMultipartUpload", ACCESS_DENIED, times=None)

    with CapturedLogs(logging.INFO, logging.INFO) as logs, pytest.raises(Exception, match="ListUsers") as raised:
        world.snapshot(cognito, s3, bucket)

    assert world.names_the_pool(str(raised.value))
    assert objects(s3, bucket) == []
    assert any("could not abort" in m for m in logs.messages())


# --- a snapshot continued over several Lambda runs ----------------------------------------------

def url_has(text: str):
    return lambda request: text in request.url


def is_checkpoint(request) -> bool:
    return "/.checkpoints/" in request.url and request.url.split("?")[0].endswith(".json")


def is_spool(request) -> bool:
    return "/.checkpoints/" in request.url and request.url.split("?")[0].endswith(".spool")


# The calls only a continued snapshot makes: the checkpoint's and the spool's write, read and removal (the
# spool: what was read but not yet written, members, sections, the subs written, the upload's tail), the
# self-invoke.
CONTINUATION_SITES = {
    "checkpoint PutObject": ("s3", "PutObject", is_checkpoint),
    "checkpoint GetObject": ("s3", "GetObject", is_checkpoint),
    "checkpoint DeleteObject": ("s3", "DeleteObject", is_checkpoint),
    "spool PutObject": ("s3", "PutObject", is_spool),
    "spool GetObject": ("s3", "GetObject", is_spool),
    "spool DeleteObject": ("s3", "DeleteObject", is_spool),
    "self Invoke": ("lambda", "Invoke", None),
}


def continued_snapshot(world: World, monkeypatch, bucket: str, prepare=None, recorder=None):
    """The pool snapshotted by the Lambda in pages of 10 users, 3 pages per run: several runs."""
    from backup_lambda import handler

    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 10)
    monkeypatch.setattr(handler, "take_snapshot", functools.partial(handler.take_snapshot, now=NOW,
                                                                    part_size=world.part_size))
    monkeypatch.setenv("BACKUP_BUCKET", bucket)
    monkeypatch.setenv("REQUEST_BUDGET", "30")
    runs = LambdaRuns(monkeypatch, recorder or CallRecorder(), session=world.session, prepare=prepare)
    return runs, runs.until_done({"user_pool_id": world.pool_id, "pool_name": POOL_NAME}, pages=3)


def test_a_continued_snapshot_is_the_same_snapshot(world, monkeypatch):
    recorder = CallRecorder()
    _, s3, bucket = world.fresh()
    seen = []

    def see(service, client):  # which continuation sites the runs' S3 requests hit
        if service == "s3":
            client.meta.events.register_first("before-send.s3", lambda request, **kw: seen.append(request))

    runs, result = continued_snapshot(world, monkeypatch, bucket, see, recorder=recorder)

    assert result["runs"] >= 3 and len(runs.invocations) == result["runs"] - 1
    for site, (service, operation, match) in CONTINUATION_SITES.items():
        if service == "s3":
            assert any(match(r) and S3_METHOD[operation] == r.method for r in seen), f"no run made the {site} call"
    world.assert_complete_and_identical(s3, bucket, result)


S3_METHOD = {"PutObject": "PUT", "GetObject": "GET", "DeleteObject": "DELETE"}


@pytest.mark.parametrize("fault", [*TRANSIENT, RESPONSE_LOST], ids=str)
@pytest.mark.parametrize("site", sorted(CONTINUATION_SITES))
def test_a_transient_fault_on_a_continuation_call_changes_nothing(world, monkeypatch, site, fault):
    service, operation, match = CONTINUATION_SITES[site]
    injected: list[Injector] = []
    _, s3, bucket = world.fresh()

    def prepare(client_service, client):  # every run has new clients: one fault across all of them
        if client_service != service:
            return
        if not injected:
            injected.append(Injector(client, operation, fault, match=match))
        else:
            client.meta.events.register_first(f"before-send.{client.meta.service_model.service_id.hyphenize()}."
                                              f"{operation}", injected[0])

    _, result = continued_snapshot(world, monkeypatch, bucket, prepare)

    assert injected and injected[0].fired == 1
    world.assert_complete_and_identical(s3, bucket, result)


def _fail_continuation(world, monkeypatch, capsys, site: str, fault: Fault):
    service, operation, match = CONTINUATION_SITES[site]
    _, s3, bucket = world.fresh()

    def prepare(client_service, client):
        if client_service == service:
            Injector(client, operation, fault, match=match, times=None)

    capsys.readouterr()
    with pytest.raises(Exception) as raised:
        continued_snapshot(world, monkeypatch, bucket, prepare)
    return raised.value, s3, bucket


@pytest.mark.parametrize("fault", PERMANENT, ids=str)
@pytest.mark.parametrize("site", ["checkpoint PutObject", "spool PutObject"])
def test_a_checkpoint_that_cannot_be_saved_fails_the_run_and_leaves_nothing(world, monkeypatch, capsys, site, fault):
    raised, s3, bucket = _fail_continuation(world, monkeypatch, capsys, site, fault)

    assert "PutObject" in str(raised), str(raised)
    assert "SnapshotFailed" in emf_metric_names(capsys.readouterr().out)
    assert objects(s3, bucket) == [] and open_uploads(s3, bucket) == []


@pytest.mark.parametrize("site", ["checkpoint PutObject", "spool PutObject"])
def test_a_checkpoint_that_cannot_be_saved_names_the_pool(world, monkeypatch, capsys, site):
    raised, _, _ = _fail_continuation(world, monkeypatch, capsys, site, ACCESS_DENIED)

    assert world.names_the_pool(str(raised))


@pytest.mark.parametrize("fault", PERMANENT, ids=str)
def test_a_self_invoke_that_fails_aborts_the_upload_and_removes_the_checkpoint(world, monkeypatch, capsys, fault):
    raised, s3, bucket = _fail_continuation(world, monkeypatch, capsys, "self Invoke", fault)

    assert "SnapshotFailed" in emf_metric_names(capsys.readouterr().out)
    assert "Invoke" in str(raised), str(raised)
    assert objects(s3, bucket) == [] and open_uploads(s3, bucket) == []


@pytest.mark.parametrize("fault", PERMANENT, ids=str)
def test_a_checkpoint_that_cannot_be_read_fails_the_next_run_clearly(world, monkeypatch, capsys, fault):
    """The next run cannot know the upload without its checkpoint: the upload is left to the bucket's
    lifecycle rule (incomplete uploads are aborted after a day); no snapshot object is ever written."""
    raised, s3, bucket = _fail_continuation(world, monkeypatch, capsys, "checkpoint GetObject", fault)

    assert "GetObject" in str(raised) and POOL_NAME in str(raised), str(raised)
    assert "SnapshotFailed" in emf_metric_names(capsys.readouterr().out)
    assert [k for k in objects(s3, bucket) if "/.checkpoints/" not in k and not k.startswith(".checkpoints/")] == []
    assert len(open_uploads(s3, bucket)) <= 1


@pytest.mark.parametrize("fault", PERMANENT, ids=str)
def test_a_spool_that_cannot_be_read_fails_the_next_run_and_leaves_nothing(world, monkeypatch, capsys, fault):
    """The checkpoint was read, so the run knows its upload: it aborts it and removes the checkpoint."""
    raised, s3, bucket = _fail_continuation(world, monkeypatch, capsys, "spool GetObject", fault)

    assert "GetObject" in str(raised) and world.names_the_pool(str(raised)) and "spool" in str(raised), str(raised)
    assert "SnapshotFailed" in emf_metric_names(capsys.readouterr().out)
    assert objects(s3, bucket) == [] and open_uploads(s3, bucket) == []


@pytest.mark.parametrize("fault", PERMANENT, ids=str)
@pytest.mark.parametrize("site", ["checkpoint DeleteObject", "spool DeleteObject"])
def test_a_checkpoint_that_cannot_be_removed_does_not_fail_a_complete_snapshot(world, monkeypatch, site, fault):
    service, operation, match = CONTINUATION_SITES[site]
    _, s3, bucket = world.fresh()

    def prepare(client_service, client):
        if client_service == service:
            Injector(client, operation, fault, match=match, times=None)

    with CapturedLogs(logging.INFO, logging.INFO) as logs:
        _, result = continued_snapshot(world, monkeypatch, bucket, prepare)

    key = result["key"]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert normalised(json.loads(body)) == world.doc
    assert world.read_json(s3, bucket, manifest_key(key))["sha256"] == hashlib.sha256(body).hexdigest()
    assert any("could not delete the checkpoint" in m for m in logs.messages())
    assert open_uploads(s3, bucket) == []


# --- two runs for the same pool at once --------------------------------------------------------

@pytest.fixture
def atomic_conditional_writes(monkeypatch):
    """S3 checks If-None-Match and writes atomically; moto checks, then writes. Serialise moto's
    object-writing requests so that it behaves like S3 when two runs race."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    for name in ("put_object", "_key_response_post"):
        original = getattr(S3Response, name)

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(S3Response, name, locked)


def race(world: World, bucket: str, nows: list[datetime], *, meet_at_completion: bool):
    """Run one snapshot per ``now`` in parallel threads, each with its own clients (two Lambda
    runs). With ``meet_at_completion`` every run waits for the others before completing its upload,
    so all of them are in flight at once. Returns each run's result or exception."""
    from backup_lambda.snapshot import take_snapshot

    barrier = threading.Barrier(len(nows), timeout=20)
    results: list[Any] = [None] * len(nows)

    def run(i: int) -> None:
        cognito, s3 = world.make_client("cognito-idp"), world.make_client("s3")
        if meet_at_completion:
            def meet(**kwargs):
                barrier.wait()

            s3.meta.events.register("before-call.s3.CompleteMultipartUpload", meet)
        try:
            results[i] = take_snapshot(cognito, s3, **{**world.snapshot_args(bucket), "now": nows[i]}).to_json()
        except Exception as exc:  # inspected below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(nows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def assert_nothing_corrupted(world: World, s3, bucket: str) -> list[str]:
    """Every snapshot object present has a manifest whose sha256 and size match it, and its content
    is the pool's; no upload is left open. Returns the snapshot keys."""
    keys = objects(s3, bucket)
    snapshots = [k for k in keys if not k.endswith(".manifest.json")]
    for key in snapshots:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        manifest = world.read_json(s3, bucket, manifest_key(key))
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest() and manifest["bytes"] == len(body)
        doc = normalised(json.loads(body))
        assert (doc["users"], doc["groups"]) == (world.doc["users"], world.doc["groups"])
    assert sorted(keys) == sorted(snapshots + [manifest_key(k) for k in snapshots])
    assert open_uploads(s3, bucket) == []
    return snapshots


@pytest.mark.parametrize("runs", [2, 3])
def test_runs_for_the_same_pool_in_the_same_second_yield_one_snapshot_and_clean_refusals(
        world, atomic_conditional_writes, runs):
    _, s3, bucket = world.fresh()

    results = race(world, bucket, [NOW] * runs, meet_at_completion=True)

    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 1 and len(refused) == runs - 1, results
    assert all("PreconditionFailed" in str(r) for r in refused), refused
    assert assert_nothing_corrupted(world, s3, bucket) == [ok[0]["key"]]


def test_runs_for_the_same_pool_at_different_seconds_write_distinct_complete_snapshots(
        world, atomic_conditional_writes):
    _, s3, bucket = world.fresh()
    nows = [NOW, NOW.replace(second=4), NOW.replace(minute=1)]

    results = race(world, bucket, nows, meet_at_completion=True)

    assert all(isinstance(r, dict) for r in results), results
    assert sorted(assert_nothing_corrupted(world, s3, bucket)) == sorted(r["key"] for r in results)
    assert len({r["key"] for r in results}) == 3


def test_racing_runs_with_faults_never_leave_a_corrupted_object(world, atomic_conditional_writes):
    """Two same-second runs, each throttled and cut off once while writing: still one complete,
    intact snapshot (or none), never a mix."""
    from backup_lambda.snapshot import take_snapshot

    _, s3_check, bucket = world.fresh()
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        cognito, s3 = world.make_client("cognito-idp"), world.make_client("s3")
        Injector(s3, "UploadPart", THROTTLE, skip=i + 1)
        Injector(s3, "CompleteMultipartUpload", RESPONSE_LOST if i else CONNECTION_CLOSED)
        Injector(cognito, "ListUsers", SERVER_ERROR, skip=3 + i)
        try:
            results[i] = take_snapshot(cognito, s3, **world.snapshot_args(bucket)).to_json()
        except Exception as exc:  # inspected below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    snapshots = assert_nothing_corrupted(world, s3_check, bucket)
    assert len(snapshots) == 1
    assert sum(isinstance(r, dict) for r in results) == 1, results
