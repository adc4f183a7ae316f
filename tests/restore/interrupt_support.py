"""What the interruption sweeps share (test_restore_interrupt.py: users by AdminCreateUser;
test_restore_interrupt_import.py: by import jobs): the source pool and its snapshot in moto, once per module; the
command line run as the operator runs it; ``Interruption``, which stops a restore at the n-th call of an
operation; and the check that a pool is exactly the snapshot's."""

from __future__ import annotations

import _thread
import json
import re
import shlex
import threading
from collections import Counter
from collections.abc import Iterator
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
from tests.support.rich_pool import BOTH_TEMPLATE_HALVES, PROVIDER_SECRETS, TRIGGERS, allow_bursts, build_rich_pool

BUCKET = "snapshots-interrupt"
EXTRA_USERS = 75  # + the rich pool's 5
BIG_GROUP = 65  # more than one ListUsersInGroup page (60)
WORKERS = "2"
ANSWERED_BY_FAKES = ("GetCSVHeader", "CreateUserImportJob", "StartUserImportJob", "DescribeUserImportJob")
READ_PREFIXES = ("Describe", "List", "Get", "AdminGet")
MODES = ("crash", "answer-lost", "error")


def points(calls: dict[str, int]) -> list[Any]:
    """(operation, n), with ids like AdminCreateUser-middle: the first, a middle and the last call of each
    operation of ``calls`` (fewer where it has fewer calls)."""
    out = []
    for operation, count in calls.items():
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


def moto_world(tmp_path_factory) -> Iterator[World]:
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


def fresh_case(world: World, request) -> Iterator[str]:
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


def restore_argv(world: World, name: str, tmp_path, *extra: str) -> list[str]:
    return ["restore", world.source, "--new-pool-name", name, "--secrets", world.secrets,
            "--domain-prefix", f"{name}-auth"[:63], "--mapping-file", str(tmp_path / "mapping.json"),
            "--workers", WORKERS, *extra, "--json"]


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
        """Attach to ``client``: before any fake that answers some calls itself (ANSWERED_BY_FAKES: a handler of
        the operation's own event comes before one of the service's), so that it sees those calls too."""
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-parameter-build.{service}", self._keep_params)
        client.meta.events.register(f"before-call.{service}", self._before_call)
        for operation in ANSWERED_BY_FAKES:
            client.meta.events.register(f"before-call.{service}.{operation}", self._before_call)
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


def assert_pool_is_the_snapshot(world: World, pool_id: str, mapping_file,
                                states: frozenset[str] = frozenset({"created", "existed"})) -> None:
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
    assert {e["state"] for e in entries} <= states
    client_ids = {c["ClientId"] for c in listed(cognito, "list_user_pool_clients", "UserPoolClients",
                                                UserPoolId=pool_id, MaxResults=60)}
    assert sorted(c["client_name"] for c in mapping["clients"]) == ["backend", "web"]
    assert {c["new_client_id"] for c in mapping["clients"]} == client_ids

    # Exactly the snapshot: users, attributes, enabled state, groups, memberships, clients, servers, providers.
    key = take_snapshot(cognito, world.s3, user_pool_id=pool_id, bucket=BUCKET).key
    result = diff_snapshots(world.source, f"s3://{BUCKET}/{key}", s3=world.s3, restored=True)
    assert result["summary"]["identical"], json.dumps(result, indent=1, default=str)[:4000]

