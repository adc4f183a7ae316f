"""Issue 8: "the restore survives interruption at any point and finishes on re-run without duplicates".

A rich pool (50 custom attributes, so that one is added after creation; MFA; a resource server; an OIDC
provider whose secret comes from --secrets; a client with and one without a secret; a domain; both halves
of the verification message; Lambda triggers (moto never invokes them); groups, one of them larger than a
ListUsersInGroup page; disabled and unconfirmed users; 80 users) is snapshotted once, in moto, for the
whole module. A clean restore of it makes a known sequence of write
calls (``WRITE_CALLS``, checked by the first test). For each write operation, at its first, a middle and
its last call, the restore is then stopped, in three ways:

- ``crash``: Ctrl-C just before the request leaves: AWS never sees the call, nothing more is sent, and
  the command exits 130 (a crash in a worker thread interrupts the main thread, as SIGINT would);
- ``answer-lost``: AWS carried the call out, then the process died before the answer arrived, so the
  restore never learned of it: the nastiest case for duplicates;
- ``error``: AWS answered InternalErrorException and it was not retried: the run goes on and ends
  INCOMPLETE (exit 1), or fails outright at CreateUserPool (exit 2).

Then the operator runs what the tool printed: the resume command (``--target-pool-id <new pool>
--resume``), or, where it printed none, the same command again. Both runs go through the real entry
point (``cognito_backup.cli.main``). The second run must succeed, and the pool must be exactly the
snapshot's (``diff --restored``), with nothing twice: one pool of that name, one client per name, one
user per snapshot user, one mapping entry per user.

Over the calls AWS carried out in both runs, in order: no app client exists while a user disabled in the
snapshot is enabled (a client is what lets a user sign in or reset a password), and the triggers are attached
(UpdateUserPool, a full replacement: moto, like AWS, resets every setting left out) after the last user write.
"""

from __future__ import annotations

import _thread
import json
import re
import shlex
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from backup_lambda import aws
from backup_lambda.snapshot import take_snapshot
from cognito_backup.cli import main
from cognito_backup.diff import diff_snapshots
from demo.emulator import FAKE_ENV
from demo.sample_pool import FIRST
from tests.restore.call_order import assert_no_window_for_disabled_users, assert_triggers_attached_last
from tests.support.rich_pool import BOTH_TEMPLATE_HALVES, PROVIDER_SECRETS, TRIGGERS, allow_bursts, build_rich_pool

BUCKET = "snapshots-interrupt"
EXTRA_USERS = 75  # + the rich pool's 5
BIG_GROUP = 65  # more than one ListUsersInGroup page (60)
WORKERS = "2"

# The write calls of a clean restore of the pool below, in order of first appearance, with their counts: app
# clients only once users are in and disabled, the triggers last.
WRITE_CALLS = {
    "CreateUserPool": 1,
    "AddCustomAttributes": 1,
    "SetUserPoolMfaConfig": 1,
    "CreateResourceServer": 1,
    "CreateIdentityProvider": 1,
    "CreateGroup": 5,
    "AdminCreateUser": 80,
    "AdminAddUserToGroup": 85,
    "AdminDisableUser": 4,
    "CreateUserPoolClient": 2,
    "CreateUserPoolDomain": 1,
    "UpdateUserPool": 1,
}

READ_PREFIXES = ("Describe", "List", "Get", "AdminGet")
MODES = ("crash", "answer-lost", "error")


def points() -> list[Any]:
    """(operation, n), with ids like AdminCreateUser-middle: the first, a middle and the last call of each
    write operation (fewer where it has fewer calls)."""
    out = []
    for operation, count in WRITE_CALLS.items():
        picks = {"first": 1, "middle": (count + 1) // 2, "last": count}
        seen = set()
        for which, n in picks.items():
            if n not in seen:
                seen.add(n)
                out.append(pytest.param(operation, n, id=f"{operation}-{which}"))
    return out


# --- the source pool and its snapshot, once per module --------------------------------------------------

def build_source(cognito: Any) -> str:
    """The rich pool of rich_pool.py, made bigger: 50 custom attributes, a domain, 80 users (some disabled,
    some unconfirmed), a group of 65 members and one of 15."""
    pool_id = build_rich_pool(cognito, "prod-users", lambda_config=TRIGGERS,
                              verification_template=BOTH_TEMPLATE_HALVES)
    cognito.add_custom_attributes(UserPoolId=pool_id, CustomAttributes=[
        {"Name": f"extra_{i:02d}", "AttributeDataType": "String", "Mutable": True} for i in range(47)])
    cognito.create_user_pool_domain(UserPoolId=pool_id, Domain="prod-users-auth")
    web = next(c["ClientId"] for c in cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
               ["UserPoolClients"] if c["ClientName"] == "web")
    names, disabled = [], {"bob"}
    for i in range(EXTRA_USERS):
        name = f"{FIRST[i % len(FIRST)].lower()}.{i:03d}"
        attributes = [{"Name": "email", "Value": f"user{i:03d}@example.com"},
                      {"Name": "given_name", "Value": FIRST[i % len(FIRST)]},
                      {"Name": "custom:tier", "Value": ("free", "pro", "gold")[i % 3]},
                      {"Name": "custom:extra_45", "Value": f"v{i}"}, {"Name": "custom:extra_46", "Value": f"w{i}"}]
        if i % 5 == 4:  # signed up, never confirmed
            cognito.sign_up(ClientId=web, Username=name, Password="Correct-Horse-9", UserAttributes=attributes[:1])
        else:
            cognito.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS",
                                      UserAttributes=[*attributes, {"Name": "email_verified", "Value": "true"}])
        if i % 25 == 3:
            cognito.admin_disable_user(UserPoolId=pool_id, Username=name)
            disabled.add(name)
        names.append(name)
    cognito.create_group(UserPoolId=pool_id, GroupName="everyone", Description="All users, more than a page")
    cognito.create_group(UserPoolId=pool_id, GroupName="team", Precedence=20,
                         RoleArn="arn:aws:iam::123456789012:role/team")
    for name in names[:BIG_GROUP]:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName="everyone")
    for name in names[::5][:15]:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName="team")
    assert disabled == DISABLED_USERS
    return pool_id


DISABLED_USERS = {"bob", *(f"{FIRST[i % len(FIRST)].lower()}.{i:03d}" for i in range(EXTRA_USERS) if i % 25 == 3)}


@dataclass
class World:
    cognito: Any
    s3: Any
    source: str  # s3:// url of the snapshot
    secrets: str  # the --secrets file
    hooks: list  # called with every Cognito client the command line makes


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """moto for the whole module, the source pool, its snapshot and a secrets file. Rate limiters allow
    bursts of 1,000 calls (rich_pool.allow_bursts) so that nothing waits on quotas."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAKE_ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(key, raising=False)
        allow_bursts(mp)
        with mock_aws():
            cognito, s3 = aws.make_client("cognito-idp"), aws.make_client("s3")
            s3.create_bucket(Bucket=BUCKET)
            pool_id = build_source(cognito)
            key = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=BUCKET).key
            secrets = tmp_path_factory.mktemp("secrets") / "idp-secrets.json"
            secrets.write_text(json.dumps(PROVIDER_SECRETS))
            hooks: list = []
            real = aws.make_client
            session = boto3.Session()  # one session: the service models are loaded once, not per client

            def make_client(service, *args, **kwargs):
                kwargs.setdefault("session", session)
                client = real(service, *args, **kwargs)
                if service == "cognito-idp":
                    for hook in hooks:
                        hook(client)
                return client

            mp.setattr(aws, "make_client", make_client)
            yield World(cognito, s3, f"s3://{BUCKET}/{key}", str(secrets), hooks)


@pytest.fixture
def case(world, request):
    """A fresh pool name per test; its pools are deleted afterwards, and no hook outlives the test."""
    name = "r-" + re.sub(r"[^a-z0-9]+", "-", request.node.callspec.id.lower() if hasattr(request.node, "callspec")
                         else request.node.name.lower())[:40]
    yield name
    world.hooks.clear()
    for pool in pools_named(world.cognito, name):
        world.cognito.delete_user_pool(UserPoolId=pool)


# --- helpers --------------------------------------------------------------------------------------------

def pools_named(cognito: Any, name: str) -> list[str]:
    found, token = [], None
    while True:
        page = cognito.list_user_pools(MaxResults=60, **({"NextToken": token} if token else {}))
        found += [p["Id"] for p in page["UserPools"] if p["Name"] == name]
        token = page.get("NextToken")
        if not token:
            return found


def listed(cognito: Any, method: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out = []
    for page in cognito.get_paginator(method).paginate(**kwargs):
        out += page[key]
    return out


def restore_argv(world: World, name: str, tmp_path) -> list[str]:
    return ["restore", world.source, "--new-pool-name", name, "--secrets", world.secrets,
            "--domain-prefix", f"{name}-auth"[:63], "--mapping-file", str(tmp_path / "mapping.json"),
            "--workers", WORKERS, "--json"]


def run_cli(argv: list[str], capsys) -> tuple[int, dict[str, Any] | None, str]:
    code = main(argv)
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return code, report, out.err


PRINTED_RESUME = re.compile(r"(python -m cognito_backup restore \S+ --target-pool-id \S+ --resume[^\n]*)")


def next_command(world: World, first_argv: list[str], printed: str) -> list[str]:
    """What the operator runs next: the last resume command the tool printed, as it printed it (the same flags
    and paths as the first command), else the same command again."""
    commands = PRINTED_RESUME.findall(printed)
    if not commands:
        return first_argv
    argv = shlex.split(commands[-1])[3:]  # without "python -m cognito_backup"
    assert argv[argv.index("--secrets") + 1] == world.secrets, commands[-1]
    assert argv[argv.index("--workers") + 1] == WORKERS, commands[-1]
    return [*argv, "--json"]


class Interruption:
    """Stop a restore at the ``n``-th call of ``operation`` (counted across threads), as ``mode`` says:
    ``crash`` before the request leaves, ``answer-lost`` after AWS carried it out (moto answers at
    before-send; the crash is raised at after-call, before the restore sees the answer), ``error`` an
    InternalErrorException answer that is not retried (raised at before-call, outside botocore's retry
    loop). After a crash nothing else reaches AWS; a crash in a worker thread also interrupts the main
    thread, as Ctrl-C would. Without an operation it only records. ``done`` lists the write calls AWS
    carried out, in order, and ``carried_out`` the same with their parameters."""

    def __init__(self, operation: str | None = None, n: int = 0, mode: str | None = None):
        self.operation, self.n, self.mode = operation, n, mode
        self.seen = 0
        self.crashed = False
        self.fired = False
        self.done: list[str] = []
        self.carried_out: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-parameter-build.{service}", self._keep_params)
        client.meta.events.register(f"before-call.{service}", self._before_call)
        client.meta.events.register(f"after-call.{service}", self._after_call)

    @staticmethod
    def _keep_params(params, context, **kwargs):
        context["api_params"] = dict(params)

    def _before_call(self, model, context, **kwargs):
        with self._lock:
            if self.crashed:
                raise KeyboardInterrupt("the process is gone")
            if model.name != self.operation:
                return
            self.seen += 1
            if self.seen != self.n:
                return
            self.fired = True
        if self.mode == "error":
            raise ClientError({"Error": {"Code": "InternalErrorException", "Message": "injected, not retried"}},
                              model.name)
        if self.mode == "crash":
            self._crash()
        context["answer_lost"] = True

    def _after_call(self, model, http_response, context, **kwargs):
        if http_response.status_code < 300 and not model.name.startswith(READ_PREFIXES):
            with self._lock:
                self.done.append(model.name)
                self.carried_out.append((model.name, context.get("api_params") or {}))
        if context.get("answer_lost"):
            self._crash()

    def _crash(self) -> None:
        with self._lock:
            self.crashed = True
        if threading.current_thread() is not threading.main_thread():
            _thread.interrupt_main()
        raise KeyboardInterrupt(f"interrupted at {self.operation} #{self.n}")


def assert_pool_is_the_snapshot(world: World, pool_id: str, mapping_file) -> None:
    cognito = world.cognito
    # Nothing twice. (moto, like AWS, refuses a second user, group or provider of a name; it accepts a
    # second client of a name, and a second pool.)
    clients = Counter(c["ClientName"] for c in listed(cognito, "list_user_pool_clients", "UserPoolClients",
                                                      UserPoolId=pool_id, MaxResults=60))
    assert clients == {"web": 1, "backend": 1}
    users = listed(cognito, "list_users", "Users", UserPoolId=pool_id)
    assert len(users) == len({u["Username"] for u in users}) == EXTRA_USERS + 5
    groups = Counter(g["GroupName"] for g in listed(cognito, "list_groups", "Groups", UserPoolId=pool_id))
    assert groups == {g: 1 for g in ("admins", "staff", "empty", "everyone", "team")}
    providers = cognito.list_identity_providers(UserPoolId=pool_id, MaxResults=60)["Providers"]
    assert [p["ProviderName"] for p in providers] == ["Corp"]
    servers = cognito.list_resource_servers(UserPoolId=pool_id, MaxResults=50)["ResourceServers"]
    assert [s["Identifier"] for s in servers] == ["https://api.example.com"]

    # The mapping: complete, one entry per user, each pointing at the user that is there.
    mapping = json.loads(mapping_file.read_text())
    assert mapping["complete"] is True and mapping["target_user_pool_id"] == pool_id
    entries = mapping["users"]
    assert len(entries) == len({e["old_username"] for e in entries}) == EXTRA_USERS + 5
    subs = {u["Username"]: next(a["Value"] for a in u["Attributes"] if a["Name"] == "sub") for u in users}
    assert {e["new_username"]: e["new_sub"] for e in entries} == subs
    assert {e["state"] for e in entries} <= {"created", "existed"}
    client_ids = {c["ClientId"] for c in listed(cognito, "list_user_pool_clients", "UserPoolClients",
                                                UserPoolId=pool_id, MaxResults=60)}
    assert sorted(c["client_name"] for c in mapping["clients"]) == ["backend", "web"]
    assert {c["new_client_id"] for c in mapping["clients"]} == client_ids

    # Exactly the snapshot: users, attributes, enabled state, groups, memberships, clients, servers, providers.
    key = take_snapshot(cognito, world.s3, user_pool_id=pool_id, bucket=BUCKET).key
    result = diff_snapshots(world.source, f"s3://{BUCKET}/{key}", s3=world.s3, restored=True)
    assert result["summary"]["identical"], json.dumps(result, indent=1, default=str)[:4000]


# --- the tests ------------------------------------------------------------------------------------------

def test_a_clean_restore_makes_the_write_calls_the_sweep_interrupts(world, case, tmp_path, capsys):
    recorder = Interruption()
    world.hooks.append(recorder.attach)

    code, report, err = run_cli(restore_argv(world, case, tmp_path), capsys)

    assert code == 0, err
    assert report["status"] == "ok"
    in_order = list(dict.fromkeys(recorder.done))
    assert in_order == list(WRITE_CALLS), "a new write call? add it to WRITE_CALLS, and so to the sweep"
    assert Counter(recorder.done) == WRITE_CALLS
    assert_no_window_for_disabled_users(recorder.carried_out, DISABLED_USERS)
    assert_triggers_attached_last(recorder.carried_out)
    assert_pool_is_the_snapshot(world, report["target_user_pool_id"], tmp_path / "mapping.json")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("operation", "n"), points())
def test_an_interrupted_restore_finishes_on_rerun_without_duplicates(world, case, tmp_path, capsys, operation, n,
                                                                     mode):
    interruption = Interruption(operation, n, mode)
    world.hooks.append(interruption.attach)
    argv = restore_argv(world, case, tmp_path)

    # The first run stops at that call.
    code, report, err = run_cli(argv, capsys)
    world.hooks.clear()
    assert interruption.fired, f"{operation} #{n} was never called"
    if mode == "error":
        assert code == (2 if operation == "CreateUserPool" else 1), err
    else:
        assert code == 130, err  # interrupted, in the main thread too
    created = pools_named(world.cognito, case)
    assert len(created) == (0 if operation == "CreateUserPool" and mode != "answer-lost" else 1)
    if operation != "CreateUserPool":  # the partial mapping is there, and says so
        partial = json.loads((tmp_path / "mapping.json").read_text())
        assert partial["complete"] is False and partial["target_user_pool_id"] == created[0]

    # The operator runs what it printed (the resume command), else the same command again.
    again = next_command(world, argv, err)
    if operation == "CreateUserPool":
        assert again == argv, err  # it never learned of a pool: nothing to resume
    else:
        assert "--resume" in again and again[again.index("--target-pool-id") + 1] == created[0], err
    rerun = Interruption()
    world.hooks.append(rerun.attach)
    code, report, err = run_cli(again, capsys)

    assert code == 0, err
    assert report["status"] == "ok", report["failures"]
    pools = pools_named(world.cognito, case)
    assert len(pools) == 1, f"{len(pools)} pools named {case}"
    pool_id = pools[0]
    assert report["target_user_pool_id"] == pool_id
    assert_pool_is_the_snapshot(world, pool_id, tmp_path / "mapping.json")
    # Every write was carried out once over the two runs: what AWS did before the interruption (the lost
    # answer included) was not done again, and nothing was left out. (Except the MFA configuration, which
    # every run sets: idempotent.)
    both = Counter(interruption.done) + Counter(rerun.done)
    assert rerun.done.count("SetUserPoolMfaConfig") == 1
    both["SetUserPoolMfaConfig"] = 1
    assert both == WRITE_CALLS
    # Across the stop and the resume: never a client while a disabled user is enabled; triggers last.
    assert_no_window_for_disabled_users(interruption.carried_out + rerun.carried_out, DISABLED_USERS)
    assert_triggers_attached_last(interruption.carried_out + rerun.carried_out)


# --- beyond this requirement: a lost answer that botocore itself would retry ----------------------------

@pytest.mark.parametrize("operation", ["CreateUserPoolClient", "CreateUserPool"])
def test_a_lost_answer_retried_within_the_run_makes_no_duplicate(world, case, tmp_path, capsys, monkeypatch,
                                                                  operation):
    import botocore.retries.standard

    from tests.support.fault_injection import RESPONSE_LOST, Injector

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    injectors: list = []
    world.hooks.append(lambda client: injectors.append(Injector(client, operation, RESPONSE_LOST)))

    code, report, err = run_cli(restore_argv(world, case, tmp_path), capsys)

    assert injectors[0].fired == 1
    assert code == 0 and report["status"] == "ok", err
    pools = pools_named(world.cognito, case)
    assert len(pools) == 1, f"{len(pools)} pools named {case}"
    assert_pool_is_the_snapshot(world, pools[0], tmp_path / "mapping.json")
