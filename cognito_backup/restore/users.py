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

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from backup_lambda.errors import ConfigError
from backup_lambda.quotas import QUOTA_RPS
from backup_lambda.ratelimit import RateLimiters
from cognito_backup.recover import native_recovery_advice
from cognito_backup.restore.calls import Calls, Progress, error_code, error_text, run_parallel
from cognito_backup.restore.configuration import (
    add_custom_attributes,
    apply_other_settings,
    create_pool,
    restore_clients,
    restore_domain,
    restore_identity_providers,
    restore_resource_servers,
    set_mfa,
)
from cognito_backup.restore.import_jobs import CsvChunks, csv_header, map_imported_users, put_presigned, run_import_jobs
from cognito_backup.restore.journal import Journal
from cognito_backup.restore.options import RestoreOptions
from cognito_backup.restore.plan import dry_run
from cognito_backup.restore.report import final_report, resume_command, write_mapping
from cognito_backup.restore.requests import (
    admin_create_params,
    attributes_of,
    csv_row,
    federated_identities,
    import_eligible,
    is_federated,
    plan_group,
    plan_pool,
    user_identity,
)
from cognito_backup.restore.state import RestoreRun, RunState, Snapshot
from cognito_backup.restore.target import check_target, load_existing, pool_of_the_same_name
from cognito_backup.snapshot_file import SnapshotSource
from cognito_backup.verify import require_verified

AUTO_IMPORT_FROM = 10_000
RESTORED = ("created", "existed", "imported")  # the states of users that are in the target pool


class Restorer:
    """One restore run. ``import_client`` serves the user import calls and ``link_client``
    AdminLinkProviderForUser (both default to ``cognito``; tests give them a botocore Stubber, moto
    lacks these APIs); ``uploader(url, path)`` puts a CSV file to a pre-signed URL."""

    def __init__(self, cognito: Any, s3: Any, options: RestoreOptions, *,
                 progress: Callable[[str], None] = lambda _m: None, import_client: Any = None,
                 link_client: Any = None, uploader: Callable[[str, str], None] = put_presigned,
                 sleep: Callable[[float], None] = time.sleep):
        options.validate()
        self.options = options
        self.s3 = s3
        self.say = progress
        self.uploader = uploader
        self.aws = Calls(cognito, rate_fraction=options.rate_fraction, import_client=import_client,
                         link_client=link_client, say=progress, sleep=sleep)
        self.state: RunState | None = None  # the run's, once it has begun

    @property
    def limiters(self) -> RateLimiters:
        return self.aws.limiters

    @property
    def pool_id(self) -> str | None:
        """The target pool: given, or found or created by the run (also when the run failed afterwards)."""
        return self.state.pool_id if self.state else self.options.target_pool_id

    def run(self) -> dict[str, Any]:
        with (self.aws.governed(),
              tempfile.TemporaryDirectory(prefix="cognito-restore-", dir=self.options.work_dir) as tmp,
              Journal(os.path.join(tmp, "restore.sqlite")) as journal):
            self.state = RunState(journal=journal, work_dir=tmp, pool_id=self.options.target_pool_id)
            return self._run(self.state)

    def _run(self, state: RunState) -> dict[str, Any]:
        o = self.options
        self.say(f"verifying {o.snapshot}")
        source = SnapshotSource(o.snapshot, s3=self.s3)
        verified = require_verified(source, keep_config=True, progress=self.say)
        config, counts = verified["config"], verified["counts"]
        origin = config.get("source") or {}
        pool = config["pool"]
        self.say(f"snapshot OK: pool {origin.get('pool_name')} ({origin.get('user_pool_id')}) taken "
                 f"{config.get('taken_at')}: {counts['users']:,} users, {counts['groups']:,} groups, "
                 f"{counts['memberships']:,} memberships")
        report: dict[str, Any] = {
            "snapshot": str(source), "taken_at": config.get("taken_at"),
            "source_user_pool_id": origin.get("user_pool_id"), "source_pool_name": origin.get("pool_name"),
            "dry_run": o.dry_run,
            "excluded_attributes": (config.get("summary") or {}).get("excluded_attributes") or [],
        }
        report["native_recovery"] = native_recovery_advice(self.aws.cognito, origin.get("user_pool_id"),
                                                           config.get("taken_at"))
        if report["native_recovery"].get("pool_exists"):
            self.say("NOTE: " + report["native_recovery"]["advice"])
        users_via, note = choose_users_path(o, counts["users"], pool)
        if note:
            state.note(note)
        report["users_via"] = users_via
        pool_plan = plan_pool(pool, config.get("mfa_config"), pool_name=o.new_pool_name or pool.get("Name", "restored"),
                              without_triggers=o.without_triggers, overrides=o.pool_overrides)
        if o.target_pool_id:
            pool_plan = replace(pool_plan, notes=["the target pool keeps its own settings: only missing custom "
                                                  "attributes and the MFA configuration are applied to it"])
        run = RestoreRun(options=o, aws=self.aws, snapshot=Snapshot(source, verified.get("etag"), config, counts,
                                                                      users_via, pool_plan),
                         state=state, say=self.say, uploader=self.uploader)

        target = check_target(run, o.target_pool_id) if o.target_pool_id else pool_of_the_same_name(run)
        if o.dry_run:
            return dry_run(run, report, target)
        if target is None:
            create_pool(run)
        report["target_user_pool_id"] = state.pool_id
        try:
            self._restore(run)
        except BaseException as exc:
            self.say(f"the restore stopped: {error_text(exc)}")
            self.say(f"to finish it: {resume_command(run)}")
            write_mapping(run, partial=True)
            raise
        mapping = write_mapping(run)
        report.update(final_report(run), mapping_file=mapping)
        if o.check:
            report["check"] = self._check(run, report["excluded_attributes"])
            if not report["check"]["identical"]:
                report["status"] = "incomplete"
        return report

    @staticmethod
    def _restore(run: RestoreRun) -> None:
        """Everything after the pool, in the order the API notes give."""
        add_custom_attributes(run)
        set_mfa(run)
        restore_resource_servers(run)
        restore_identity_providers(run)
        restore_clients(run)
        restore_domain(run)
        apply_other_settings(run)
        restore_groups_and_users(run)
        if run.snapshot.users_via == "import":
            run_import_jobs(run)
            map_imported_users(run)
        add_memberships(run)
        disable_users(run)
        if run.options.link_federated:
            link_federated(run)

    def _check(self, run: RestoreRun, excluded: list[str]) -> dict[str, Any]:
        from cognito_backup.diff import format_summary
        from cognito_backup.restore_check import check_restored_pool

        state = run.state
        self.say(f"checking: snapshotting {state.pool_id} and comparing it with the snapshot")
        ignored = ["LambdaConfig"] if self.options.without_triggers else []
        ignored += list(self.options.pool_overrides)
        if not state.created_pool:
            ignored += ["Policies", "LambdaConfig", "AutoVerifiedAttributes", "AliasAttributes", "UserPoolTags",
                        "VerificationMessageTemplate", "EmailConfiguration", "SmsConfiguration",
                        "AdminCreateUserConfig", "DeviceConfiguration", "AccountRecoverySetting",
                        "UserPoolAddOns", "DeletionProtection", "UserAttributeUpdateSettings", "UsernameConfiguration",
                        "SmsAuthenticationMessage", "UserPoolTier"]
        diff = check_restored_pool(self.aws.cognito, self.s3, str(run.snapshot.source), state.pool_id,
                                   excluded=excluded, ignore_pool_fields=ignored, work_dir=self.options.work_dir)
        text = format_summary(diff)
        self.say(text)
        return {"identical": diff["summary"]["identical"], "summary": diff["summary"], "text": text,
                "config_changes": diff["config_changes"][:20], "ignored_pool_fields": ignored}


def restore_snapshot(cognito: Any, s3: Any, options: RestoreOptions, **kwargs: Any) -> dict[str, Any]:
    return Restorer(cognito, s3, options, **kwargs).run()


def choose_users_path(o: RestoreOptions, users: int, pool: dict[str, Any]) -> tuple[str, str | None]:
    """How the users are created ("admin-create" or "import"), and a note when the choice was forced."""
    auto_verified = pool.get("AutoVerifiedAttributes") or []
    if o.users_via == "import" or (o.users_via == "auto" and users >= AUTO_IMPORT_FROM):
        if not auto_verified:
            if o.users_via == "import":
                raise ConfigError("--users-via import needs a pool with auto-verified email or phone "
                                  "(AWS refuses import jobs otherwise): use --users-via admin-create")
            return "admin-create", ("the pool has no auto-verified attribute, so import jobs cannot run: "
                                    "users are created with AdminCreateUser")
        if not o.import_role_arn:
            rate = QUOTA_RPS["UserCreation"] * o.rate_fraction
            raise ConfigError(
                f"this snapshot has {users:,} users: {'auto chooses' if o.users_via == 'auto' else 'you chose'} "
                "the user import job, which needs --import-role-arn (the stack output importRoleArn: a role "
                "Cognito assumes to write the job's CloudWatch logs). Or pass --users-via admin-create "
                f"(about {users / rate / 3600:.1f} h at {rate:.0f} users/s).")
        return "import", None
    return "admin-create", None


# -- groups and users ---------------------------------------------------------------------------------------

def restore_groups_and_users(run: RestoreRun) -> None:
    state, journal = run.state, run.state.journal
    existing_groups = load_existing(run)
    groups = {"created": 0, "already_there": 0}
    users = Progress(run.say, "users", run.snapshot.counts["users"])
    header = csv_header(run) if run.snapshot.users_via == "import" else []
    run.say(f"groups and users ({run.snapshot.users_via})")

    def user_items(chunks: CsvChunks) -> Iterator[dict[str, Any]]:
        member_rows: list[tuple[str, str]] = []
        with run.snapshot.source.stream(if_match=run.snapshot.etag) as stream:
            for event in stream.events():
                if event.kind != "item":
                    continue
                if event.key == "groups":
                    group = event.value
                    member_rows.extend((group["GroupName"], m) for m in group.get("Members", ()))
                    if len(member_rows) > 5000:
                        journal.add_members(member_rows)
                        member_rows = []
                    if group["GroupName"] in existing_groups:
                        groups["already_there"] += 1
                        continue
                    try:
                        run.aws.call("create_group", UserPoolId=state.pool_id, **plan_group(group))
                        groups["created"] += 1
                    except ClientError as exc:
                        if error_code(exc) == "GroupExistsException":
                            groups["already_there"] += 1
                        else:
                            state.fail(f"group {group['GroupName']}", exc)
                elif event.key == "users":
                    user = classify_user(run, event.value, chunks, users)
                    if user is not None:
                        yield user
        journal.add_members(member_rows)

    def create(user: dict[str, Any]) -> tuple[str, str | None, str]:
        params, _ = admin_create_params(user, run.snapshot.username_attributes)
        try:
            new = run.aws.call("admin_create_user", UserPoolId=state.pool_id, **params)["User"]
            return new["Username"], attributes_of(new).get("sub"), "created"
        except ClientError as exc:
            if error_code(exc) != "UsernameExistsException":
                raise
            got = run.aws.call("admin_get_user", UserPoolId=state.pool_id, Username=params["Username"])
            return got["Username"], attributes_of({"Attributes": got.get("UserAttributes")}).get("sub"), "existed"

    def done(user: dict[str, Any], result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"user {user['Username']}", error)
            journal.set_user(user["Username"], state="failed", detail=error_text(error))
            users.add("failed")
            return
        new_username, new_sub, outcome = result
        journal.set_user(user["Username"], new_username=new_username, new_sub=new_sub, state=outcome)
        users.add(outcome)

    with CsvChunks(state, header) as chunks:
        run_parallel(user_items(chunks), create, run.options.workers, done)
    users.show(final=True)
    state.steps["groups"] = groups
    state.steps["users"] = dict(users.counts)


def classify_user(run: RestoreRun, user: dict[str, Any], chunks: CsvChunks, users: Progress) -> dict[str, Any] | None:
    """Record a snapshot user in the journal; return it if it is to be created with AdminCreateUser now."""
    journal, username_attributes = run.state.journal, run.snapshot.username_attributes
    ident = user_identity(user, username_attributes)
    identities = federated_identities(user)

    def record(state: str, **values: Any) -> None:
        journal.add_user(user["Username"], attributes_of(user).get("sub"), ident,
                         enabled=user.get("Enabled", True) is not False, identities=identities, state=state, **values)

    existing = journal.existing_user(ident)
    if existing:
        record("existed", new_username=existing[0], new_sub=existing[1])
        users.add("already there")
        return None
    if is_federated(user):
        if not run.options.link_federated:
            record("federated", detail="federated user: not recreated")
            users.add("federated (listed)")
            return None
        if not any(i["providerName"] in run.state.providers.restored for i in identities):
            record("federated", detail="its provider was not restored: not recreated")
            users.add("federated (provider not restored)")
            return None
        record("pending")
        return user
    params, reason = admin_create_params(user, username_attributes)
    if params is None:
        record("failed", detail=reason)
        run.state.fail(f"user {user['Username']}", reason)
        users.add("failed")
        return None
    if run.snapshot.users_via == "import":
        if import_eligible(user, run.snapshot.auto_verified):
            chunks.write(csv_row(user, chunks.header, username_attributes))
            record("importing", new_username=params["Username"])
            users.add("queued for import")
            return None
        run.state.note("users without a verified email/phone cannot be imported: they are created "
                       "with AdminCreateUser instead")
    record("pending")
    return user


# -- memberships, disabled state, federated links -----------------------------------------------------------

def add_memberships(run: RestoreRun) -> None:
    state = run.state

    def todo() -> Iterator[tuple[str, str, str]]:
        for group, old_username, new_username, user_state, already in state.journal.memberships():
            if user_state in RESTORED and not already:
                yield group, old_username, new_username

    total = sum(1 for _ in todo())
    skipped = sum(1 for _ in state.journal.memberships()) - total
    progress = Progress(run.say, "memberships", total)

    def add(row: tuple[str, str, str]) -> None:
        run.aws.call("admin_add_user_to_group", UserPoolId=state.pool_id, GroupName=row[0], Username=row[2])

    def done(row: tuple[str, str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"membership of {row[1]} in {row[0]}", error)
            progress.add("failed")
        else:
            progress.add("added")

    run_parallel(todo(), add, run.options.workers, done)
    progress.show(final=True)
    state.steps["memberships"] = {**progress.counts, "skipped (already there or user not restored)": skipped}


def disable_users(run: RestoreRun) -> None:
    state = run.state
    progress = Progress(run.say, "disabling users", None)

    def todo() -> Iterator[tuple[str, str]]:
        for old_username, new_username, user_state, enabled_in_target in state.journal.disabled_users():
            if user_state in RESTORED and enabled_in_target is not False:
                yield old_username, new_username

    def disable(row: tuple[str, str]) -> None:
        run.aws.call("admin_disable_user", UserPoolId=state.pool_id, Username=row[1])

    def done(row: tuple[str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"disabling {row[0]}", error)
            progress.add("failed")
        else:
            progress.add("disabled")

    run_parallel(todo(), disable, run.options.workers, done)
    if progress.counts:
        progress.show(final=True)
    state.steps["disabled"] = dict(progress.counts)


def link_federated(run: RestoreRun) -> None:
    state = run.state
    progress = Progress(run.say, "linking federated identities", None)

    def links() -> Iterator[tuple[str, str, dict[str, Any]]]:
        for old_username, new_username, user_state, identities in state.journal.users_with_identities():
            if user_state not in RESTORED:
                continue
            for identity in identities:
                if identity["providerName"] in state.providers.restored:
                    yield old_username, new_username, identity
                else:
                    progress.add("provider not restored")

    def link(item: tuple[str, str, dict[str, Any]]) -> None:
        link_provider(run.aws.linker, state.pool_id, item[1], item[2])

    def done(item: tuple[str, str, dict[str, Any]], _result: Any, error: BaseException | None) -> None:
        if error is not None and "already linked" in str(error).lower():
            progress.add("already linked")
        elif error is not None:
            state.fail(f"linking the {item[2]['providerName']} identity of {item[0]}", error)
            progress.add("failed")
        else:
            state.journal.set_user(item[0], state="linked")
            progress.add("linked")

    run_parallel(links(), link, run.options.workers, done)
    progress.show(final=True)
    state.steps["federated_links"] = dict(progress.counts)


def link_provider(cognito: Any, pool_id: str, native_username: str, identity: dict[str, Any]) -> None:
    """Link a provider identity (``{"providerName", "userId"}`` from ``identities``) to a native user."""
    cognito.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": native_username},
        SourceUser={"ProviderName": identity["providerName"], "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": identity["userId"]},
    )
