"""Rebuild a user pool from a snapshot: into a new pool, or into an existing empty one.

``restore SNAPSHOT --new-pool-name NAME`` (or ``--target-pool-id ID``) verifies the snapshot, then
recreates, in order: the pool (configuration transformed for CreateUserPool; custom attributes; MFA
applied after creation), resource servers, identity providers (secrets from ``--secrets FILE``; a
provider without its secret is skipped and reported), app clients (new secrets where the originals
had one; old -> new client id map), the domain (with ``--domain-prefix``), hosted UI, threat
protection, log delivery and branding settings, groups, users, memberships, and the disabled state.

Users come by ``--users-via admin-create`` (AdminCreateUser, messages suppressed: users end in
FORCE_CHANGE_PASSWORD), ``import`` (user import jobs: users end in RESET_REQUIRED and recover with
"forgot password"; needs ``--import-role-arn``), or ``auto`` (import from 10,000 users). Federated
users are not recreated as such: they are listed, and ``--link-federated`` creates a native user for
each and links the provider identity to it (where the provider was restored).

Every write goes through a rate limiter per quota category (``--rate-fraction`` of each quota) with
retries on throttling. Running the same restore again with ``--target-pool-id ID --resume`` skips
what exists and finishes the rest. A mapping file (old username/sub -> new sub, old client id -> new
client id) is written at the end. ``--dry-run`` prints the plan and writes nothing.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from backup_lambda.errors import ConfigError
from backup_lambda.pool_reader import PoolReader
from backup_lambda.quotas import QUOTA_RPS
from backup_lambda.ratelimit import RateLimiters, govern
from cognito_backup.recover import native_recovery_advice
from cognito_backup.restore.calls import (
    CATEGORY,
    CREATE_ATTEMPTS,
    PER_POOL_OPERATION_LIMIT,
    Progress,
    error_code,
    error_text,
    no_blind_retries,
    run_parallel,
    transient,
)
from cognito_backup.restore.options import (
    RestoreError,
    RestoreOptions,
)
from cognito_backup.restore.requests import (
    PoolPlan,
    admin_create_params,
    attributes_of,
    csv_row,
    federated_identities,
    import_eligible,
    is_federated,
    plan_client,
    plan_group,
    plan_pool,
    plan_provider,
    plan_resource_server,
    user_identity,
)
from cognito_backup.restore.schema import (
    MAX_CUSTOM_PER_ADD,
    custom_attribute_names,
    custom_attribute_request,
    is_custom,
)
from cognito_backup.restore.shapes import fit_to_input
from cognito_backup.snapshot_file import SnapshotSource
from cognito_backup.verify import require_verified

AUTO_IMPORT_FROM = 10_000
IMPORT_MAX_ROWS = 500_000
IMPORT_MAX_BYTES = 100 * 1000 * 1000 - 1_000_000  # under 100 MB, with room for the last row
IMPORT_DONE = frozenset({"Succeeded", "Failed", "Stopped", "Expired"})
FAILURES_SHOWN = 50
STATE_AFTER = {"admin-create": "FORCE_CHANGE_PASSWORD", "import": "RESET_REQUIRED"}


def put_presigned(url: str, path: str) -> None:
    """PUT a CSV file to an import job's pre-signed S3 URL (what AWS's guide does with curl -T)."""
    if not url.startswith("https://"):
        raise RestoreError("the import job's pre-signed URL is not https: refusing to upload user data to it")
    size = os.path.getsize(path)
    with open(path, "rb") as body:
        request = urllib.request.Request(url, data=body, method="PUT", headers={  # noqa: S310 - https checked
            "x-amz-server-side-encryption": "aws:kms", "Content-Type": "text/csv", "Content-Length": str(size)})
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - https checked
            if response.status >= 300:
                raise RestoreError(f"uploading the import CSV failed: HTTP {response.status}")


class Restorer:
    """One restore run. ``import_client`` serves the user import calls and ``link_client``
    AdminLinkProviderForUser (both default to ``cognito``; tests give them a botocore Stubber, moto
    lacks these APIs); ``uploader(url, path)`` puts a CSV file to a pre-signed URL."""

    def __init__(self, cognito: Any, s3: Any, options: RestoreOptions, *,
                 progress: Callable[[str], None] = lambda _m: None, import_client: Any = None,
                 link_client: Any = None, uploader: Callable[[str, str], None] = put_presigned,
                 sleep: Callable[[float], None] = time.sleep):
        options.validate()
        self.cognito = cognito
        self.s3 = s3
        self.o = options
        self.say = progress
        self.import_client = import_client or cognito
        self.link_client = link_client or cognito
        self.uploader = uploader
        self.sleep = sleep
        self.failures: list[str] = []
        self.failure_count = 0
        self.notes: list[str] = []
        self.steps: dict[str, Any] = {}
        self.pool_id: str | None = options.target_pool_id
        self.created_pool = False
        self.same_name_pool: str | None = None  # an empty pool of --new-pool-name found there, restored into
        rates = {}
        for category, quota in QUOTA_RPS.items():
            rate = quota * options.rate_fraction
            if category.startswith("UserPoolResource") or category.startswith("UserPoolClient"):
                rate = min(rate, PER_POOL_OPERATION_LIMIT)
            rates[category] = rate
        self.limiters = RateLimiters(rates, default=5.0 * options.rate_fraction)

    # -- helpers -----------------------------------------------------------------------------------------
    def fail(self, what: str, exc: BaseException | str) -> None:
        self.failure_count += 1
        if len(self.failures) < FAILURES_SHOWN:
            self.failures.append(f"{what}: {exc if isinstance(exc, str) else error_text(exc)}")

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        return getattr(self.cognito, method)(**kwargs)

    def paginate(self, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
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

    def _pools_named(self, name: str) -> list[str]:
        return [p["Id"] for p in self.paginate("list_user_pools", "UserPools", MaxResults=60) if p["Name"] == name]

    def _limiter_for(self, operation: str):
        category = CATEGORY.get(operation)
        return self.limiters[category] if category else None

    # -- the run -----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        release = govern(self.cognito, self._limiter_for)
        release_retries = no_blind_retries(self.cognito)
        extra = {id(c): c for c in (self.import_client, self.link_client) if c is not self.cognito}
        releases = [govern(c, self._limiter_for) for c in extra.values()]
        try:
            with tempfile.TemporaryDirectory(prefix="cognito-restore-", dir=self.o.work_dir) as tmp:
                self.tmp = tmp
                self.db = sqlite3.connect(os.path.join(tmp, "restore.sqlite"))
                try:
                    return self._run()
                finally:
                    self.db.close()
        finally:
            release()
            release_retries()
            for release_extra in releases:
                release_extra()

    def _run(self) -> dict[str, Any]:
        o = self.o
        self.say(f"verifying {o.snapshot}")
        self.source = SnapshotSource(o.snapshot, s3=self.s3)
        verified = require_verified(self.source, keep_config=True, progress=self.say)
        self.verified = verified
        config = self.config = verified["config"]
        counts = verified["counts"]
        source = config.get("source") or {}
        pool = config["pool"]
        self.username_attributes = pool.get("UsernameAttributes") or None
        self.say(f"snapshot OK: pool {source.get('pool_name')} ({source.get('user_pool_id')}) taken "
                 f"{config.get('taken_at')}: {counts['users']:,} users, {counts['groups']:,} groups, "
                 f"{counts['memberships']:,} memberships")
        report: dict[str, Any] = {
            "snapshot": str(self.source), "taken_at": config.get("taken_at"),
            "source_user_pool_id": source.get("user_pool_id"), "source_pool_name": source.get("pool_name"),
            "dry_run": o.dry_run,
            "excluded_attributes": (config.get("summary") or {}).get("excluded_attributes") or [],
        }
        report["native_recovery"] = native_recovery_advice(self.cognito, source.get("user_pool_id"),
                                                           config.get("taken_at"))
        if report["native_recovery"].get("pool_exists"):
            self.say("NOTE: " + report["native_recovery"]["advice"])
        self.users_via = self._choose_path(counts["users"], pool)
        report["users_via"] = self.users_via
        self.plan = plan_pool(pool, config.get("mfa_config"), pool_name=o.new_pool_name or pool.get("Name", "restored"),
                              without_triggers=o.without_triggers, overrides=o.pool_overrides)
        self._init_db()

        # The target pool.
        target = None
        if o.target_pool_id:
            target = self._check_target()
            self.plan.notes[:] = ["the target pool keeps its own settings: only missing custom attributes and the "
                                  "MFA configuration are applied to it"]
        else:
            target = self._pool_of_the_same_name()
        if o.dry_run:
            return self._dry_run(report, counts, target)
        if target is None:
            self._create_pool()
        report["target_user_pool_id"] = self.pool_id
        try:
            self._restore_all(target)
        except BaseException as exc:
            self.say(f"the restore stopped: {error_text(exc)}")
            self.say(f"to finish it: {self.resume_command()}")
            self._write_mapping(partial=True)
            raise
        mapping = self._write_mapping()
        report.update(self._final_report(counts), mapping_file=mapping)
        if o.check:
            report["check"] = self._check(report["excluded_attributes"])
            if not report["check"]["identical"]:
                report["status"] = "incomplete"
        return report

    def _check(self, excluded: list[str]) -> dict[str, Any]:
        from cognito_backup.diff import format_summary
        from cognito_backup.restore_check import check_restored_pool

        self.say(f"checking: snapshotting {self.pool_id} and comparing it with the snapshot")
        ignored = ["LambdaConfig"] if self.o.without_triggers else []
        ignored += list(self.o.pool_overrides)
        if not self.created_pool:
            ignored += ["Policies", "LambdaConfig", "AutoVerifiedAttributes", "AliasAttributes", "UserPoolTags",
                        "VerificationMessageTemplate", "EmailConfiguration", "SmsConfiguration",
                        "AdminCreateUserConfig", "DeviceConfiguration", "AccountRecoverySetting",
                        "UserPoolAddOns", "DeletionProtection", "UserAttributeUpdateSettings", "UsernameConfiguration",
                        "SmsAuthenticationMessage", "UserPoolTier"]
        diff = check_restored_pool(self.cognito, self.s3, str(self.source), self.pool_id, excluded=excluded,
                                   ignore_pool_fields=ignored, work_dir=self.o.work_dir)
        text = format_summary(diff)
        self.say(text)
        return {"identical": diff["summary"]["identical"], "summary": diff["summary"], "text": text,
                "config_changes": diff["config_changes"][:20], "ignored_pool_fields": ignored}

    def resume_command(self) -> str:
        parts = ["python -m backup_lambda restore", self.o.snapshot, "--target-pool-id", str(self.pool_id),
                 "--resume", "--users-via", self.users_via]
        if self.o.import_role_arn:
            parts += ["--import-role-arn", self.o.import_role_arn]
        if self.o.secrets:
            parts += ["--secrets", "FILE"]
        if self.o.domain_prefix:
            parts += ["--domain-prefix", self.o.domain_prefix]
        if self.o.link_federated:
            parts.append("--link-federated")
        if self.o.without_triggers:
            parts.append("--without-triggers")
        if self.o.mapping_file:
            parts += ["--mapping-file", self.o.mapping_file]
        return " ".join(parts)

    def _choose_path(self, users: int, pool: dict[str, Any]) -> str:
        o = self.o
        auto_verified = pool.get("AutoVerifiedAttributes") or []
        if o.users_via == "import" or (o.users_via == "auto" and users >= AUTO_IMPORT_FROM):
            if not auto_verified:
                if o.users_via == "import":
                    raise ConfigError("--users-via import needs a pool with auto-verified email or phone "
                                      "(AWS refuses import jobs otherwise): use --users-via admin-create")
                self.notes.append("the pool has no auto-verified attribute, so import jobs cannot run: "
                                  "users are created with AdminCreateUser")
                return "admin-create"
            if not o.import_role_arn:
                rate = QUOTA_RPS["UserCreation"] * o.rate_fraction
                raise ConfigError(
                    f"this snapshot has {users:,} users: {'auto chooses' if o.users_via == 'auto' else 'you chose'} "
                    "the user import job, which needs --import-role-arn (the stack output importRoleArn: a role "
                    "Cognito assumes to write the job's CloudWatch logs). Or pass --users-via admin-create "
                    f"(about {users / rate / 3600:.1f} h at {rate:.0f} users/s).")
            return "import"
        return "admin-create"

    def _init_db(self) -> None:
        self.db.executescript("""
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE existing_users (ident TEXT PRIMARY KEY, username TEXT, sub TEXT, enabled INTEGER);
            CREATE TABLE existing_members (grp TEXT, username TEXT, PRIMARY KEY (grp, username));
            CREATE TABLE members (grp TEXT, old_username TEXT);
            CREATE TABLE users (old_username TEXT PRIMARY KEY, old_sub TEXT, ident TEXT, new_username TEXT,
                                new_sub TEXT, state TEXT, enabled INTEGER, identities TEXT, detail TEXT);
            CREATE INDEX users_ident ON users(ident);
        """)

    # -- the target pool ------------------------------------------------------------------------------------
    def _pool_of_the_same_name(self) -> dict[str, Any] | None:
        """Before CreateUserPool: is a pool of that name there already? A run whose CreateUserPool answer was
        lost never learned the pool's id (so printed no resume command), and the operator runs the same command
        again. An empty pool of the name is taken as the target (that run's pool); one with contents, or several
        pools of the name, and the restore refuses, naming them and the resume command."""
        name = self.plan.params["PoolName"]
        ids = self._pools_named(name)
        if not ids:
            return None
        if len(ids) > 1:
            self.pool_id = "ID"
            raise RestoreError(f"{len(ids)} pools named {name} exist already ({', '.join(ids)}): refusing to create "
                               f"another. If one is a restore that stopped, finish it with: {self.resume_command()} "
                               "(ID: that pool's id); else choose another --new-pool-name")
        self.pool_id = ids[0]
        target = self._check_target(by_name=name)
        self.same_name_pool = ids[0]
        if not self.o.dry_run:  # a dry run says so in its plan
            self.say(f"an empty pool named {name} exists already ({ids[0]}; an earlier run that stopped as it created "
                     f"it?): restoring into it. If this run stops, finish it with: {self.resume_command()}")
        return target

    def _check_target(self, by_name: str | None = None) -> dict[str, Any]:
        try:
            target = self.call("describe_user_pool", UserPoolId=self.pool_id)["UserPool"]
        except ClientError as exc:
            raise RestoreError(f"target pool {self.pool_id}: {error_text(exc)}") from None
        contents = []
        for what, method, key, kwargs in (
                ("users", "list_users", "Users", {"Limit": 1}),
                ("groups", "list_groups", "Groups", {"Limit": 1}),
                ("app clients", "list_user_pool_clients", "UserPoolClients", {"MaxResults": 1}),
                ("identity providers", "list_identity_providers", "Providers", {"MaxResults": 1}),
                ("resource servers", "list_resource_servers", "ResourceServers", {"MaxResults": 1})):
            if self.call(method, UserPoolId=self.pool_id, **kwargs).get(key):
                contents.append(what)
        self.target_was_empty = not contents
        if contents and by_name:
            raise RestoreError(f"a pool named {by_name} exists already: {self.pool_id}, with {', '.join(contents)}. "
                               f"Refusing to create another. If it is a restore that stopped, finish it with: "
                               f"{self.resume_command()}; else choose another --new-pool-name")
        if contents and not self.o.resume:
            raise RestoreError(f"target pool {self.pool_id} is not empty (it has {', '.join(contents)}): "
                               "refusing to restore into it. If it is a restore that stopped, add --resume to "
                               "finish it (existing items are skipped); else give an empty pool or --new-pool-name")
        wanted = sorted(self.username_attributes or [])
        if sorted(target.get("UsernameAttributes") or []) != wanted:
            raise RestoreError(f"target pool {self.pool_id} signs users in with "
                               f"{target.get('UsernameAttributes') or 'usernames'}, the snapshot's pool with "
                               f"{wanted or 'usernames'}: users cannot be restored into it. Use --new-pool-name")
        self.target_pool = target
        return target

    def _create_pool(self) -> None:
        params = self.plan.params
        self.say(f"creating pool {params['PoolName']}")
        try:
            self.pool_id = self.create("create_user_pool", lambda: (
                {"UserPool": {"Id": ids[0]}} if (ids := self._pools_named(params["PoolName"])) else None),
                **params)["UserPool"]["Id"]
        except ClientError as exc:
            raise RestoreError(f"CreateUserPool failed: {error_text(exc)}") from None
        self.created_pool = True
        self.target_was_empty = True
        self.target_pool = self.call("describe_user_pool", UserPoolId=self.pool_id)["UserPool"]
        self.say(f"created pool {self.pool_id}. If this run stops, finish it with: {self.resume_command()}")
        self.steps["pool"] = {"created": self.pool_id, "notes": self.plan.notes}

    # -- everything after the pool ----------------------------------------------------------------------
    def _restore_all(self, target: dict[str, Any] | None) -> None:
        self._custom_attributes()
        self._mfa()
        self._resource_servers()
        self._identity_providers()
        self._clients()
        self._domain()
        self._extras()
        self._groups_and_users()
        if self.users_via == "import":
            self._run_imports()
            self._map_imported_users()
        self._memberships()
        self._disabled()
        if self.o.link_federated:
            self._link_federated()

    def _custom_attributes(self) -> None:
        schema = self.config["pool"].get("SchemaAttributes") or ()
        wanted = {a["Name"]: a for a in schema if is_custom(a.get("Name", ""))}
        have = custom_attribute_names(self.target_pool.get("SchemaAttributes") or [])
        missing = [a for name, a in wanted.items()
                   if (name if name.startswith("custom:") else name[len("dev:"):]) not in have]
        notes: list[str] = []
        requests = [custom_attribute_request(a, notes) for a in missing]
        added = 0
        for i in range(0, len(requests), MAX_CUSTOM_PER_ADD):
            batch = requests[i:i + MAX_CUSTOM_PER_ADD]
            try:
                self.call("add_custom_attributes", UserPoolId=self.pool_id, CustomAttributes=batch)
                added += len(batch)
            except ClientError as exc:
                self.fail(f"custom attributes {', '.join(a['Name'] for a in batch)}", exc)
        self.steps["custom_attributes"] = {"added_after_creation": added, "already_there": len(wanted) - len(missing)}
        if added:
            self.say(f"added {added} custom attributes")

    def _mfa(self) -> None:
        mfa = self.plan.mfa
        if mfa is None:
            self.steps["mfa"] = {"applied": False}
            return
        try:
            self.call("set_user_pool_mfa_config", UserPoolId=self.pool_id, **mfa)
            self.steps["mfa"] = {"applied": True, "MfaConfiguration": mfa.get("MfaConfiguration")}
            self.say(f"MFA configuration set ({mfa.get('MfaConfiguration')})")
        except ClientError as exc:
            self.fail("SetUserPoolMfaConfig", exc)
            self.steps["mfa"] = {"applied": False}

    def _section_items(self, name: str) -> list[dict[str, Any]]:
        section = self.config.get(name) or {}
        if section.get("status") == "unavailable":
            self.notes.append(f"{name} could not be read when the snapshot was taken ({section.get('reason')}): "
                              "not restored")
        return list(section.get("items") or []) if section.get("status") == "present" else []

    def _resource_servers(self) -> None:
        existing = {s["Identifier"] for s in self.paginate("list_resource_servers", "ResourceServers",
                                                           UserPoolId=self.pool_id, MaxResults=50)}
        created = 0
        for server in self._section_items("resource_servers"):
            if server.get("Identifier") in existing:
                continue
            try:
                identifier = server.get("Identifier")
                self.create("create_resource_server", lambda: next((
                    {"ResourceServer": s} for s in self.paginate("list_resource_servers", "ResourceServers",
                                                                 UserPoolId=self.pool_id, MaxResults=50)
                    if s["Identifier"] == identifier), None),  # noqa: B023 - called before the loop goes on
                    UserPoolId=self.pool_id, **plan_resource_server(server))
                created += 1
            except ClientError as exc:
                self.fail(f"resource server {server.get('Identifier')}", exc)
        self.steps["resource_servers"] = {"created": created, "already_there": len(existing)}

    def _identity_providers(self) -> None:
        existing = {p["ProviderName"] for p in self.paginate("list_identity_providers", "Providers",
                                                             UserPoolId=self.pool_id, MaxResults=60)}
        created, skipped = [], []
        failed: set[str] = set()
        self.restored_providers = set(existing)
        for provider in self._section_items("identity_providers"):
            name = provider.get("ProviderName")
            if name in existing:
                continue
            params, reason = plan_provider(provider, self.o.secrets, self.o.placeholder_secret)
            if params is None:
                skipped.append({"provider": name, "reason": reason})
                self.say(f"identity provider {name} SKIPPED: {reason}")
                continue
            try:
                self.create("create_identity_provider", lambda: next((
                    {"IdentityProvider": p} for p in self.paginate("list_identity_providers", "Providers",
                                                                   UserPoolId=self.pool_id, MaxResults=60)
                    if p["ProviderName"] == name), None),  # noqa: B023 - called before the loop goes on
                    UserPoolId=self.pool_id, **params)
                created.append(name)
                self.restored_providers.add(name)
            except ClientError as exc:
                self.fail(f"identity provider {name}", exc)
                skipped.append({"provider": name, "reason": error_text(exc)})
                failed.add(name)
        # A provider that failed is retried by a resume, which reuses existing clients as they are: its clients
        # wait for it (_clients) rather than be created without it. Only providers skipped by design (no
        # secret) are left out of the clients.
        self.failed_providers = failed
        self.skipped_providers = {s["provider"] for s in skipped} - failed
        self.steps["identity_providers"] = {"created": created, "skipped": skipped, "already_there": sorted(existing)}

    def _clients(self) -> None:
        existing: dict[str, list[str]] = {}
        for c in self.paginate("list_user_pool_clients", "UserPoolClients", UserPoolId=self.pool_id, MaxResults=60):
            existing.setdefault(c["ClientName"], []).append(c["ClientId"])
        for ids in existing.values():
            ids.sort()
        known = {i for ids in existing.values() for i in ids}  # a client listed now was not made by a create below

        def made_by_lost_create(name: str) -> dict[str, Any] | None:
            for c in self.paginate("list_user_pool_clients", "UserPoolClients", UserPoolId=self.pool_id,
                                   MaxResults=60):
                if c["ClientName"] == name and c["ClientId"] not in known:
                    return {"UserPoolClient": c}
            return None
        self.client_map: list[dict[str, Any]] = []
        created = reused = 0
        clients = sorted(self._section_items("clients"), key=lambda c: (c.get("ClientName", ""), c.get("ClientId", "")))
        for client in clients:
            name = client.get("ClientName")
            entry = {"client_name": name, "old_client_id": client.get("ClientId"), "new_client_id": None,
                     "has_secret": bool(client.get("HasSecret"))}
            waiting_for = sorted(set(client.get("SupportedIdentityProviders") or ()) & self.failed_providers)
            if existing.get(name):
                entry["new_client_id"] = existing[name].pop(0)
                reused += 1
            elif waiting_for:
                self.fail(f"app client {name}", f"not created, as its identity provider {', '.join(waiting_for)} "
                          "failed: run again with --resume (or leave the provider's secret out of --secrets to "
                          "restore the client without it)")
            else:
                params, notes = plan_client(client, self.skipped_providers)
                self.notes.extend(notes)
                try:
                    new = self.create("create_user_pool_client", lambda: made_by_lost_create(name),  # noqa: B023
                                      UserPoolId=self.pool_id, **params)["UserPoolClient"]
                    entry["new_client_id"] = new["ClientId"]
                    known.add(new["ClientId"])
                    created += 1
                except ClientError as exc:
                    self.fail(f"app client {name}", exc)
            self.client_map.append(entry)
        self.client_ids = {e["old_client_id"]: e["new_client_id"] for e in self.client_map if e["new_client_id"]}
        with_secret = sum(1 for e in self.client_map if e["has_secret"] and e["new_client_id"])
        self.steps["clients"] = {"created": created, "already_there": reused, "with_new_secret": with_secret}
        self.say(f"app clients: {created} created, {reused} already there")

    def _domain(self) -> None:
        section = self.config.get("domain") or {}
        value = section.get("value") or {}
        old = (value.get("Domain") or {}).get("Domain")
        custom = (value.get("CustomDomain") or {}).get("Domain")
        step: dict[str, Any] = {"old_domain": old, "old_custom_domain": custom}
        if custom:
            self.notes.append(f"custom domain {custom} is not recreated: it belongs to the old pool until that is "
                              "deleted; then create it for the new pool with its ACM certificate")
        prefix = self.o.domain_prefix
        if not prefix:
            if old:
                self.notes.append(f"the pool's domain prefix {old!r} was not recreated (the old pool may still hold "
                                  "it): give --domain-prefix")
            self.steps["domain"] = step
            return
        try:
            described = self.call("describe_user_pool_domain", Domain=prefix).get("DomainDescription") or {}
        except ClientError:
            described = {}
        if described.get("UserPoolId") == self.pool_id:
            step["domain"] = prefix
            step["already_there"] = True
        elif described.get("UserPoolId"):
            self.fail(f"domain {prefix}", "the prefix is taken by another pool: choose another --domain-prefix")
        else:
            params: dict[str, Any] = {"Domain": prefix, "UserPoolId": self.pool_id}
            version = (value.get("Domain") or {}).get("ManagedLoginVersion")
            if version:
                params["ManagedLoginVersion"] = version
            try:
                self.create("create_user_pool_domain", lambda: (
                    {} if self.call("describe_user_pool_domain", Domain=prefix).get("DomainDescription", {})
                    .get("UserPoolId") == self.pool_id else None), **params)
                step["domain"] = prefix
                self.say(f"domain {prefix} created")
            except ClientError as exc:
                self.fail(f"domain {prefix}", exc)
        self.steps["domain"] = step

    def _extras(self) -> None:
        """Hosted UI CSS, threat protection, log delivery, tags, managed login branding: only what is set."""
        done: list[str] = []

        def apply(what: str, method: str, operation: str, params: dict[str, Any]) -> None:
            fitted, _ = fit_to_input(operation, {**params, "UserPoolId": self.pool_id})
            try:
                self.call(method, **fitted)
                done.append(what)
            except ClientError as exc:
                self.fail(what, exc)

        def section_value(name: str) -> dict[str, Any] | None:
            section = self.config.get(name) or {}
            if section.get("status") == "unavailable":
                self.notes.append(f"{name} could not be read when the snapshot was taken: not restored")
            return section.get("value") if section.get("status") == "present" else None

        ui = section_value("ui_customization") or {}
        if ui.get("CSS"):
            apply("hosted UI CSS", "set_ui_customization", "SetUICustomization", {"CSS": ui["CSS"]})
        if ui.get("ImageUrl"):
            self.notes.append("the hosted UI logo is not in the snapshot (only its URL): upload it again")
        risk = section_value("risk_configuration")
        if risk:
            client = risk.get("ClientId")
            params = {k: v for k, v in risk.items() if k not in ("UserPoolId", "ClientId", "LastModifiedDate")}
            if client and client != "ALL":
                params["ClientId"] = self.client_ids.get(client)
            if not params.get("ClientId", True):
                self.notes.append("threat protection settings of a client that was not restored: skipped")
            else:
                apply("threat protection settings", "set_risk_configuration", "SetRiskConfiguration", params)
        logs = section_value("log_delivery")
        if logs and logs.get("LogConfigurations"):
            apply("log delivery", "set_log_delivery_configuration", "SetLogDeliveryConfiguration",
                  {"LogConfigurations": logs["LogConfigurations"]})
        tags = section_value("tags")
        if tags and not self.created_pool and tags != (self.target_pool.get("UserPoolTags") or {}):
            try:
                self.call("tag_resource", ResourceArn=self.target_pool["Arn"], Tags=tags)
                done.append("tags")
            except ClientError as exc:
                self.fail("tags", exc)
        for item in self._section_items("managed_login_branding"):
            new_client = self.client_ids.get(item.get("ClientId"))
            branding = item.get("ManagedLoginBranding") or {}
            if not new_client:
                continue
            params = {"ClientId": new_client, "UseCognitoProvidedValues": branding.get("UseCognitoProvidedValues"),
                      "Settings": branding.get("Settings")}
            assets = branding.get("Assets") or []
            if assets and any(not isinstance(a.get("Bytes"), str) for a in assets):
                self.notes.append("managed login branding assets are not restorable from the snapshot: upload them")
            elif assets:
                import base64

                try:
                    params["Assets"] = [{**a, "Bytes": base64.b64decode(a["Bytes"], validate=True)} for a in assets]
                except ValueError:
                    self.notes.append("managed login branding assets are not base64 in the snapshot: upload them")
            fitted, _ = fit_to_input("CreateManagedLoginBranding", {**params, "UserPoolId": self.pool_id})
            try:
                self.call("create_managed_login_branding", **fitted)
                done.append(f"branding of client {new_client}")
            except ClientError as exc:
                if error_code(exc) != "ManagedLoginBrandingExistsException":
                    self.fail(f"managed login branding of client {new_client}", exc)
        self.steps["other_settings"] = {"applied": done}

    # -- groups and users ------------------------------------------------------------------------------
    def _load_existing(self) -> set[str]:
        """What the target already holds (a resumed restore): users and group memberships, into SQLite."""
        groups = {g["GroupName"] for g in self.paginate("list_groups", "Groups", UserPoolId=self.pool_id, Limit=60)}
        if self.target_was_empty:
            return groups
        self.say("listing what the target pool already holds (resume)")
        reader = PoolReader(self.cognito, self.pool_id, request_budget=QUOTA_RPS["UserList"] * self.o.rate_fraction,
                            workers=min(self.o.workers, 16))
        try:
            rows = []
            for page in reader.iter_user_pages(self.target_pool.get("EstimatedNumberOfUsers")):
                for user in page:
                    attrs = attributes_of(user)
                    rows.append((user_identity(user, self.username_attributes), user["Username"], attrs.get("sub"),
                                 int(user.get("Enabled", True))))
                if len(rows) >= 5000:
                    self.db.executemany("INSERT OR REPLACE INTO existing_users VALUES (?,?,?,?)", rows)
                    rows.clear()
            self.db.executemany("INSERT OR REPLACE INTO existing_users VALUES (?,?,?,?)", rows)
            for group in sorted(groups):
                members = [(group, u["Username"]) for u in self.paginate(
                    "list_users_in_group", "Users", UserPoolId=self.pool_id, GroupName=group, Limit=60)]
                self.db.executemany("INSERT OR IGNORE INTO existing_members VALUES (?,?)", members)
        finally:
            reader.close()
        n = self.db.execute("SELECT COUNT(*) FROM existing_users").fetchone()[0]
        self.say(f"  the target holds {n:,} users and {len(groups):,} groups")
        return groups

    def _groups_and_users(self) -> None:
        existing_groups = self._load_existing()
        groups = {"created": 0, "already_there": 0}
        users = Progress(self.say, "users", self.verified["counts"]["users"])
        self.csv_chunks: list[str] = []
        csv_state: dict[str, Any] = {"writer": None, "file": None, "rows": 0}
        if self.users_via == "import":
            try:
                self.csv_header = self.import_client.get_csv_header(UserPoolId=self.pool_id)["CSVHeader"]
            except ClientError as exc:
                raise RestoreError(f"GetCSVHeader failed: {error_text(exc)}") from None
        auto_verified = self.config["pool"].get("AutoVerifiedAttributes") or []
        member_rows: list[tuple[str, str]] = []
        self.say(f"groups and users ({self.users_via})")

        def user_items() -> Iterator[dict[str, Any]]:
            nonlocal member_rows
            with self.source.stream(if_match=self.verified.get("etag")) as stream:
                for event in stream.events():
                    if event.kind != "item":
                        continue
                    if event.key == "groups":
                        group = event.value
                        member_rows.extend((group["GroupName"], m) for m in group.get("Members", ()))
                        if len(member_rows) > 5000:
                            self.db.executemany("INSERT INTO members VALUES (?,?)", member_rows)
                            member_rows = []
                        if group["GroupName"] in existing_groups:
                            groups["already_there"] += 1
                            continue
                        try:
                            self.call("create_group", UserPoolId=self.pool_id, **plan_group(group))
                            groups["created"] += 1
                        except ClientError as exc:
                            if error_code(exc) == "GroupExistsException":
                                groups["already_there"] += 1
                            else:
                                self.fail(f"group {group['GroupName']}", exc)
                    elif event.key == "users":
                        user = self._classify(event.value, auto_verified, csv_state, users)
                        if user is not None:
                            yield user
            self.db.executemany("INSERT INTO members VALUES (?,?)", member_rows)

        def create(user: dict[str, Any]) -> tuple[str, str | None, str]:
            params, _ = admin_create_params(user, self.username_attributes)
            try:
                new = self.call("admin_create_user", UserPoolId=self.pool_id, **params)["User"]
                return new["Username"], attributes_of(new).get("sub"), "created"
            except ClientError as exc:
                if error_code(exc) != "UsernameExistsException":
                    raise
                got = self.call("admin_get_user", UserPoolId=self.pool_id, Username=params["Username"])
                subs = {a["Name"]: a["Value"] for a in got.get("UserAttributes", ())}
                return got["Username"], subs.get("sub"), "existed"

        def done(user: dict[str, Any], result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.fail(f"user {user['Username']}", error)
                self._set_user(user["Username"], state="failed", detail=error_text(error))
                users.add("failed")
                return
            new_username, new_sub, state = result
            self._set_user(user["Username"], new_username=new_username, new_sub=new_sub, state=state)
            users.add(state)

        run_parallel(user_items(), create, self.o.workers, done)
        self._close_csv(csv_state)
        users.show(final=True)
        self.steps["groups"] = groups
        self.steps["users"] = dict(users.counts)

    def _classify(self, user: dict[str, Any], auto_verified: list[str], csv_state: dict[str, Any],
                  users: Progress) -> dict[str, Any] | None:
        """Record a snapshot user; return it if it is to be created with AdminCreateUser now."""
        attrs = attributes_of(user)
        ident = user_identity(user, self.username_attributes)
        identities = federated_identities(user)
        self.db.execute("INSERT OR REPLACE INTO users (old_username, old_sub, ident, state, enabled, identities) "
                        "VALUES (?,?,?,?,?,?)", (user["Username"], attrs.get("sub"), ident, "pending",
                                                 int(user.get("Enabled", True) is not False),
                                                 json.dumps(identities) if identities else None))
        existing = self.db.execute("SELECT username, sub FROM existing_users WHERE ident = ?", (ident,)).fetchone()
        if existing:
            self._set_user(user["Username"], new_username=existing[0], new_sub=existing[1], state="existed")
            users.add("already there")
            return None
        if is_federated(user):
            if not self.o.link_federated:
                self._set_user(user["Username"], state="federated", detail="federated user: not recreated")
                users.add("federated (listed)")
                return None
            if not any(i["providerName"] in self.restored_providers for i in identities):
                self._set_user(user["Username"], state="federated",
                               detail="its provider was not restored: not recreated")
                users.add("federated (provider not restored)")
                return None
            return user
        params, reason = admin_create_params(user, self.username_attributes)
        if params is None:
            self._set_user(user["Username"], state="failed", detail=reason)
            self.fail(f"user {user['Username']}", reason)
            users.add("failed")
            return None
        if self.users_via == "import":
            if import_eligible(user, auto_verified):
                self._write_csv_row(user, csv_state)
                self._set_user(user["Username"], state="importing", new_username=params["Username"])
                users.add("queued for import")
                return None
            if not getattr(self, "_noted_fallback", False):
                self.notes.append("users without a verified email/phone cannot be imported: they are created "
                                  "with AdminCreateUser instead")
                self._noted_fallback = True
        return user

    def _set_user(self, old_username: str, **values: Any) -> None:
        columns = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE users SET {columns} WHERE old_username = ?",  # noqa: S608 - fixed column names
                        (*values.values(), old_username))

    # -- the import path ---------------------------------------------------------------------------------
    def _write_csv_row(self, user: dict[str, Any], state: dict[str, Any]) -> None:
        if state["writer"] is None or state["rows"] >= IMPORT_MAX_ROWS or state["file"].tell() >= IMPORT_MAX_BYTES:
            self._close_csv(state)
            path = os.path.join(self.tmp, f"import-{len(self.csv_chunks) + 1:03d}.csv")
            state["file"] = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in _close_csv
            state["writer"] = csv.writer(state["file"])
            state["writer"].writerow(self.csv_header)
            state["rows"] = 0
            self.csv_chunks.append(path)
        state["writer"].writerow(csv_row(user, self.csv_header, self.username_attributes))
        state["rows"] += 1

    @staticmethod
    def _close_csv(state: dict[str, Any]) -> None:
        if state.get("file") is not None:
            state["file"].close()
            state["file"] = state["writer"] = None

    def _run_imports(self) -> None:
        jobs = []
        for number, path in enumerate(self.csv_chunks, 1):
            name = f"restore-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{number}"
            try:
                job = self.import_client.create_user_import_job(
                    JobName=name, UserPoolId=self.pool_id, CloudWatchLogsRoleArn=self.o.import_role_arn,
                )["UserImportJob"]
                self.say(f"import job {job['JobId']} ({number}/{len(self.csv_chunks)}): uploading {path}")
                self.uploader(job["PreSignedUrl"], path)
                self.import_client.start_user_import_job(UserPoolId=self.pool_id, JobId=job["JobId"])
                while job.get("Status") not in IMPORT_DONE or job.get("Status") == "Created":
                    self.sleep(self.o.import_poll_interval)
                    job = self.import_client.describe_user_import_job(
                        UserPoolId=self.pool_id, JobId=job["JobId"])["UserImportJob"]
                    self.say(f"  import job {job['JobId']}: {job.get('Status')}, {job.get('ImportedUsers', 0):,} "
                             f"imported, {job.get('FailedUsers', 0):,} failed")
            except ClientError as exc:
                self.fail(f"import job for {os.path.basename(path)}", exc)
                continue
            summary = {k: job.get(k) for k in ("JobId", "Status", "ImportedUsers", "SkippedUsers", "FailedUsers",
                                               "CompletionMessage")}
            jobs.append(summary)
            if job.get("Status") != "Succeeded" or job.get("FailedUsers"):
                self.fail(f"import job {job.get('JobId')}",
                          f"{job.get('Status')}: {job.get('FailedUsers', 0)} users failed "
                          f"({job.get('CompletionMessage', '')}); details in the job's CloudWatch log "
                          "(/aws/cognito/userpool-import)")
        self.steps["import_jobs"] = jobs

    def _map_imported_users(self) -> None:
        """Import jobs do not return subs: list the pool and fill them in by identity."""
        pending = self.db.execute("SELECT COUNT(*) FROM users WHERE state = 'importing'").fetchone()[0]
        if not pending:
            return
        self.say(f"reading the new subs of {pending:,} imported users")
        reader = PoolReader(self.cognito, self.pool_id, request_budget=QUOTA_RPS["UserList"] * self.o.rate_fraction,
                            workers=min(self.o.workers, 16))
        try:
            for page in reader.iter_user_pages(pending):
                rows = [(u["Username"], attributes_of(u).get("sub"), user_identity(u, self.username_attributes))
                        for u in page]
                self.db.executemany("UPDATE users SET new_username = ?, new_sub = ?, state = 'imported' "
                                    "WHERE ident = ? AND state = 'importing'", rows)
        finally:
            reader.close()
        missing = self.db.execute("SELECT COUNT(*) FROM users WHERE state = 'importing'").fetchone()[0]
        if missing:
            self.fail(f"{missing} users", "not in the pool after the import jobs (see the jobs' CloudWatch logs); "
                                          "run again with --resume to create them")
            self.db.execute("UPDATE users SET state = 'failed', detail = 'not imported' WHERE state = 'importing'")
        self.steps["users"]["imported"] = pending - missing

    # -- memberships, disabled state, federated links ------------------------------------------------------
    def _rows(self, query: str) -> Iterator[tuple]:
        """Rows of a query, fetched in pages (so the caller may write to the database meanwhile)."""
        last = 0
        while True:
            page = self.db.execute(f"{query} AND rid > ? ORDER BY rid LIMIT 1000", (last,)).fetchall()
            if not page:
                return
            yield from page
            last = page[-1][0]

    def _memberships(self) -> None:
        self.db.execute("CREATE TABLE todo_members AS SELECT m.rowid AS rid, m.grp, u.new_username, m.old_username "
                        "FROM members m JOIN users u ON u.old_username = m.old_username "
                        "WHERE u.new_username IS NOT NULL AND u.state IN ('created', 'existed', 'imported') "
                        "AND NOT EXISTS (SELECT 1 FROM existing_members e WHERE e.grp = m.grp "
                        "AND e.username = u.new_username)")
        total = self.db.execute("SELECT COUNT(*) FROM todo_members").fetchone()[0]
        skipped = self.db.execute("SELECT COUNT(*) FROM members").fetchone()[0] - total
        progress = Progress(self.say, "memberships", total)

        def add(row: tuple) -> None:
            self.call("admin_add_user_to_group", UserPoolId=self.pool_id, GroupName=row[1], Username=row[2])

        def done(row: tuple, _result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.fail(f"membership of {row[3]} in {row[1]}", error)
                progress.add("failed")
            else:
                progress.add("added")

        run_parallel(self._rows("SELECT rid, grp, new_username, old_username FROM todo_members WHERE 1"), add,
                     self.o.workers, done)
        progress.show(final=True)
        self.steps["memberships"] = {**progress.counts, "skipped (already there or user not restored)": skipped}

    def _disabled(self) -> None:
        query = ("SELECT u.rowid AS rid, u.new_username, u.old_username FROM users u "
                 "LEFT JOIN existing_users e ON e.ident = u.ident WHERE u.enabled = 0 AND u.new_username IS NOT NULL "
                 "AND u.state IN ('created', 'existed', 'imported') AND (e.enabled IS NULL OR e.enabled = 1)")
        self.db.execute(f"CREATE TABLE todo_disable AS {query}")  # noqa: S608 - a fixed query
        progress = Progress(self.say, "disabling users", None)

        def disable(row: tuple) -> None:
            self.call("admin_disable_user", UserPoolId=self.pool_id, Username=row[1])

        def done(row: tuple, _result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.fail(f"disabling {row[2]}", error)
                progress.add("failed")
            else:
                progress.add("disabled")

        run_parallel(self._rows("SELECT rid, new_username, old_username FROM todo_disable WHERE 1"), disable,
                     self.o.workers, done)
        if progress.counts:
            progress.show(final=True)
        self.steps["disabled"] = dict(progress.counts)

    def _link_federated(self) -> None:
        progress = Progress(self.say, "linking federated identities", None)
        rows = self._rows("SELECT rowid AS rid, new_username, identities, old_username FROM users "
                          "WHERE identities IS NOT NULL AND new_username IS NOT NULL "
                          "AND state IN ('created', 'existed', 'imported')")

        def links() -> Iterator[tuple[str, str, dict[str, Any]]]:
            for _rid, new_username, identities, old_username in rows:
                for identity in json.loads(identities):
                    if identity["providerName"] in self.restored_providers:
                        yield old_username, new_username, identity
                    else:
                        progress.add("provider not restored")

        def link(item: tuple[str, str, dict[str, Any]]) -> None:
            link_provider(self.link_client, self.pool_id, item[1], item[2])

        def done(item: tuple, _result: Any, error: BaseException | None) -> None:
            if error is not None and "already linked" in str(error).lower():
                progress.add("already linked")
            elif error is not None:
                self.fail(f"linking the {item[2]['providerName']} identity of {item[0]}", error)
                progress.add("failed")
            else:
                self.db.execute("UPDATE users SET state = 'linked' WHERE old_username = ?", (item[0],))
                progress.add("linked")

        run_parallel(links(), link, self.o.workers, done)
        progress.show(final=True)
        self.steps["federated_links"] = dict(progress.counts)

    # -- mapping file and report ---------------------------------------------------------------------------
    def _write_mapping(self, partial: bool = False) -> str | None:
        if not self.pool_id:
            return None
        path = self.o.mapping_file or f"restore-mapping-{self.pool_id}.json"
        head = {
            "format": "cognito-backup-restore-mapping", "version": 1,
            "snapshot": str(self.source), "taken_at": self.config.get("taken_at"),
            "source_user_pool_id": (self.config.get("source") or {}).get("user_pool_id"),
            "target_user_pool_id": self.pool_id,
            "written_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "complete": not partial and self.failure_count == 0,
            "clients": getattr(self, "client_map", []),
        }
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "users": [')
            first = True
            for row in self.db.execute("SELECT old_username, old_sub, new_username, new_sub, state, detail "
                                       "FROM users ORDER BY rowid"):
                entry = dict(zip(("old_username", "old_sub", "new_username", "new_sub", "state", "detail"), row,
                                 strict=True))
                if entry["detail"] is None:
                    del entry["detail"]
                f.write(("\n  " if first else ",\n  ") + json.dumps(entry, ensure_ascii=False))
                first = False
            f.write("\n ]\n}\n")
        os.replace(tmp, path)
        self.say(f"mapping file: {path}")
        return path

    def _final_report(self, counts: dict[str, int]) -> dict[str, Any]:
        states = dict(self.db.execute("SELECT state, COUNT(*) FROM users GROUP BY state").fetchall())
        federated = [r[0] for r in self.db.execute(
            "SELECT old_username FROM users WHERE state = 'federated' ORDER BY rowid LIMIT 20")]
        end_state = STATE_AFTER[self.users_via]
        if self.users_via == "import":
            action = ("Imported users are RESET_REQUIRED: at sign-in they get PasswordResetRequiredException and must "
                      "use 'forgot password' (a code goes to their verified email/phone).")
        else:
            action = ("Users are FORCE_CHANGE_PASSWORD with no temporary password (messages were suppressed): they "
                      "cannot sign in or use 'forgot password' yet. Send invitations (AdminCreateUser "
                      "--message-action RESEND) or set a random permanent password (AdminSetUserPassword "
                      "--permanent) so that 'forgot password' works; see docs/restoring.md.")
        if states.get("created") and self.users_via == "import":
            action += (" Users without a verified email/phone were created with AdminCreateUser and are "
                       "FORCE_CHANGE_PASSWORD.")
        incomplete = self.failure_count > 0
        report = {
            "status": "incomplete" if incomplete else "ok",
            "target_user_pool_id": self.pool_id,
            "created_pool": self.created_pool,
            "steps": self.steps,
            "user_states": states,
            "users_end_in": end_state,
            "user_action": action,
            "federated_users": {"not_recreated": states.get("federated", 0), "sample": federated,
                                "linked": states.get("linked", 0)},
            "client_ids": {e["old_client_id"]: e["new_client_id"] for e in getattr(self, "client_map", [])},
            "notes": self.notes + self.plan.notes,
            "failures": self.failures,
            "failure_count": self.failure_count,
        }
        if incomplete:
            report["resume_command"] = self.resume_command()
        return report

    # -- dry run ---------------------------------------------------------------------------------------
    def _dry_run(self, report: dict[str, Any], counts: dict[str, int], target: dict[str, Any] | None) -> dict[str, Any]:
        """The plan: what would be created, what skipped and why. Only reads (the target, on resume)."""
        plan: dict[str, Any] = {}
        p: PoolPlan = self.plan
        existing: dict[str, set[str]] = {"resource_servers": set(), "providers": set(), "clients": set(),
                                         "groups": set()}
        if target is None:
            plan["pool"] = {"create": p.params["PoolName"], "schema_in_create": [a["Name"] for a in p.schema.create],
                            "custom_attributes_added_after": sum(len(b) for b in p.schema.add_later)}
        else:
            plan["pool"] = {"existing": self.pool_id, "empty": self.target_was_empty}
            if self.same_name_pool:
                plan["pool"]["why"] = (f"a pool named {self.plan.params['PoolName']} exists already, empty (left by "
                                       "a run that stopped as it created it?): the restore fills it, creates none")
            if not self.target_was_empty:
                existing["resource_servers"] = {s["Identifier"] for s in self.paginate(
                    "list_resource_servers", "ResourceServers", UserPoolId=self.pool_id, MaxResults=50)}
                existing["providers"] = {pr["ProviderName"] for pr in self.paginate(
                    "list_identity_providers", "Providers", UserPoolId=self.pool_id, MaxResults=60)}
                existing["clients"] = {c["ClientName"] for c in self.paginate(
                    "list_user_pool_clients", "UserPoolClients", UserPoolId=self.pool_id, MaxResults=60)}
                existing["groups"] = self._load_existing()
        already = "skip: already in the target pool"
        plan["mfa"] = p.mfa
        plan["resource_servers"] = [{"resource_server": s.get("Identifier"),
                                     "action": already if s.get("Identifier") in existing["resource_servers"]
                                     else "create"} for s in self._section_items("resource_servers")]
        providers = []
        self.restored_providers = set(existing["providers"])
        for provider in self._section_items("identity_providers"):
            name = provider.get("ProviderName")
            if name in existing["providers"]:
                providers.append({"provider": name, "action": already})
                continue
            params, reason = plan_provider(provider, self.o.secrets, self.o.placeholder_secret)
            providers.append({"provider": name, "action": "create" if params else "skip", "why": reason})
            if params:
                self.restored_providers.add(name)
        plan["identity_providers"] = providers
        skipped = {pr["provider"] for pr in providers if pr["action"] == "skip"}
        clients = []
        for client in self._section_items("clients"):
            if client.get("ClientName") in existing["clients"]:
                clients.append({"client": client.get("ClientName"), "action": already})
                continue
            _, notes = plan_client(client, skipped)
            self.notes.extend(notes)
            clients.append({"client": client.get("ClientName"), "action": "create",
                            "new_secret": bool(client.get("HasSecret"))})
        plan["clients"] = clients
        domain = ((self.config.get("domain") or {}).get("value") or {}).get("Domain") or {}
        plan["domain"] = ({"create": self.o.domain_prefix} if self.o.domain_prefix else
                          {"skip": f"no --domain-prefix (old prefix: {domain.get('Domain')})"})
        users: dict[str, int] = {}
        groups: dict[str, int] = {}
        auto_verified = self.config["pool"].get("AutoVerifiedAttributes") or []
        with self.source.stream(if_match=self.verified.get("etag")) as stream:
            for event in stream.events():
                if event.kind != "item":
                    continue
                if event.key == "groups":
                    key = already if event.value["GroupName"] in existing["groups"] else "create"
                    groups[key] = groups.get(key, 0) + 1
                    continue
                if event.key != "users":
                    continue
                user = event.value
                found = self.db.execute("SELECT 1 FROM existing_users WHERE ident = ?",
                                        (user_identity(user, self.username_attributes),)).fetchone()
                if found:
                    key = already
                elif is_federated(user):
                    key = "federated: linked to a new native user" if self.o.link_federated and any(
                        i["providerName"] in self.restored_providers for i in federated_identities(user)) \
                        else "skip: federated, not recreated (listed in the report)"
                elif admin_create_params(user, self.username_attributes)[0] is None:
                    key = "skip: no email/phone, which this pool uses as the username"
                elif self.users_via == "import" and import_eligible(user, auto_verified):
                    key = "create: import job"
                else:
                    key = "create: AdminCreateUser"
                users[key] = users.get(key, 0) + 1
        plan["groups"] = groups
        plan["users"] = users
        plan["memberships"] = counts["memberships"]
        plan["disabled_users"] = counts["disabled_users"]
        plan["users_end_in"] = STATE_AFTER[self.users_via]
        report.update(status="dry-run", target_user_pool_id=self.pool_id, plan=plan, notes=self.notes + p.notes)
        return report


def link_provider(cognito: Any, pool_id: str, native_username: str, identity: dict[str, Any]) -> None:
    """Link a provider identity (``{"providerName", "userId"}`` from ``identities``) to a native user."""
    cognito.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": native_username},
        SourceUser={"ProviderName": identity["providerName"], "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": identity["userId"]},
    )


def restore_snapshot(cognito: Any, s3: Any, options: RestoreOptions, **kwargs: Any) -> dict[str, Any]:
    return Restorer(cognito, s3, options, **kwargs).run()

