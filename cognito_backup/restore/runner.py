"""Rebuild a user pool from a snapshot: into a new pool, or into an existing empty one.

``restore SNAPSHOT --new-pool-name NAME`` (or ``--target-pool-id ID``) verifies the snapshot, applies the
overrides (``--override PATH=VALUE``, ``--overrides FILE``: overrides.py), then recreates, in order: the pool
(configuration transformed for CreateUserPool, without its triggers; custom attributes; MFA applied after
creation), resource servers, identity providers (secrets from ``--secrets FILE``; a provider without its secret
is skipped and reported; one whose name CreateIdentityProvider refuses is renamed), groups, then users,
memberships, the disabled state and federated links side by side (users.py: a user's memberships and disabling
go as soon as it is in the pool), and only then app clients (new secrets where the originals had one; old ->
new client id map: no client exists while a user disabled in the snapshot is enabled), the domain (with
``--domain-prefix``), hosted UI, threat protection, log delivery and branding settings, and last the Lambda
triggers (triggers.py; ``--grant-triggers`` adds the functions' permissions for the new pool).

Users come by ``--users-via admin-create`` (AdminCreateUser, messages suppressed: users end in
FORCE_CHANGE_PASSWORD), ``import`` (user import jobs: users end in RESET_REQUIRED and recover with
"forgot password"; needs ``--import-role-arn``), or ``auto`` (import from 10,000 users). Federated
users are not recreated as such: they are listed, and ``--link-federated`` creates a native user for
each and links the provider identity to it (where the provider was restored).

Before the first write, the restore refuses to send ARNs of other accounts than the one it restores into
(foreign.py: triggers, roles, identities, keys of another account) unless ``--allow-foreign-arns`` is given.

Every write goes through a rate limiter per quota category (``--rate-fraction`` of each quota) with
retries on throttling; progress (done/total, rate, time left per phase) every few seconds, and per phase in the
report. Running the same restore again with ``--target-pool-id ID --resume`` skips
what exists and finishes the rest. A mapping file (old username/sub -> new sub, old client id -> new
client id, renamed providers) is written at the end. ``--dry-run`` prints the plan and writes nothing.
``--check`` snapshots the new pool and compares it with the snapshot: the status is ``ok`` when everything
restorable came back, ``incomplete`` when steps failed that ``--resume`` retries, ``check-failed`` when the
check finds a difference beyond what cannot be restored (``diff_config.NON_RESTORABLE``).

Here: ``Restorer``, which verifies the snapshot, settles the target pool and runs the steps in order. The
steps live in configuration.py, users.py, import_jobs.py and triggers.py; what each does to each item is decided in
decisions.py, and the dry run (plan.py) shows those same decisions instead of carrying them out.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from backup_lambda.ratelimit import RateLimiters
from cognito_backup.recover import native_recovery_advice
from cognito_backup.restore import configuration, decisions, foreign, import_jobs, overrides, triggers, user_mfa, users
from cognito_backup.restore.calls import LANE_CATEGORY, Calls, error_text
from cognito_backup.restore.journal import Journal
from cognito_backup.restore.options import RestoreOptions
from cognito_backup.restore.plan import dry_run
from cognito_backup.restore.progress import ProgressBoard
from cognito_backup.restore.report import final_report, resume_command, write_mapping
from cognito_backup.restore.requests import plan_pool, provider_names
from cognito_backup.restore.state import RestoreRun, RunState, Snapshot
from cognito_backup.restore.target import check_target, pool_of_the_same_name
from cognito_backup.snapshot_file import SnapshotSource
from cognito_backup.verify import imported_note, require_verified

# The settings of a target pool the restore did not create, which keeps them: a check does not compare them.
TARGET_KEEPS = ("Policies", "LambdaConfig", "AutoVerifiedAttributes", "AliasAttributes", "UserPoolTags",
                "VerificationMessageTemplate", "EmailConfiguration", "SmsConfiguration", "AdminCreateUserConfig",
                "DeviceConfiguration", "AccountRecoverySetting", "UserPoolAddOns", "DeletionProtection",
                "UserAttributeUpdateSettings", "UsernameConfiguration", "SmsAuthenticationMessage", "UserPoolTier",
                "DcrConfiguration", "KeyConfiguration", "IssuerConfiguration", "AcrConfiguration")


class Restorer:
    """One restore run. ``import_client`` serves the user import calls and ``link_client``
    AdminLinkProviderForUser (both default to ``cognito``; tests give them a botocore Stubber, moto
    lacks these APIs); ``lambdas(region)`` gives a Lambda client (--grant-triggers); ``uploader(url, path)``
    puts a CSV file to a pre-signed URL; ``account()`` names the account restored into (default: the caller's,
    sts:GetCallerIdentity). ``progress`` receives the lines a person reads, ``records`` (--json)
    the phases' progress as objects; ``clock`` times the phases."""

    def __init__(self, cognito: Any, s3: Any, options: RestoreOptions, *,
                 progress: Callable[[str], None] = lambda _m: None, import_client: Any = None,
                 link_client: Any = None, lambdas: Callable[[str], Any] | None = None,
                 uploader: Callable[[str, str], None] = import_jobs.put_presigned,
                 sleep: Callable[[float], None] = time.sleep,
                 records: Callable[[dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, account: Callable[[], str] = foreign.caller_account):
        options.validate()
        self.options = options
        self.s3 = s3
        self.say = progress
        self.records = records
        self.clock = clock
        self.uploader = uploader
        self.account = account
        self.aws = Calls(cognito, rate_fraction=options.rate_fraction, import_client=import_client,
                         link_client=link_client, lambdas=lambdas, say=progress, sleep=sleep)
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
        started = self.clock()
        self.say(f"verifying {o.snapshot}")
        source = SnapshotSource(o.snapshot, s3=self.s3)
        groups = GroupsSeen()
        verified = require_verified(source, keep_config=True, progress=self.say, trust=o.trust, on_group=groups.add)
        original, counts = verified["config"], verified["counts"]
        origin = original.get("source") or {}
        self.say(f"snapshot OK: pool {origin.get('pool_name')} ({origin.get('user_pool_id')}) taken "
                 f"{original.get('taken_at')}: {counts['users']:,} users, {counts['groups']:,} groups, "
                 f"{counts['memberships']:,} memberships")
        config, changed = overrides.apply(original, o.overrides)
        if any(v.section == "groups" for v in o.overrides.values()):
            overrides.check_groups(o.overrides, groups.names)
        pool = config["pool"]
        report: dict[str, Any] = {
            "snapshot": str(source), "taken_at": config.get("taken_at"),
            "source_user_pool_id": origin.get("user_pool_id"), "source_pool_name": origin.get("pool_name"),
            "dry_run": o.dry_run,
            "excluded_attributes": (config.get("summary") or {}).get("excluded_attributes") or [],
            "overrides": changed,
        }
        if imported_note(origin):  # an imported snapshot (import-cbr): say what it lacks
            report["imported"] = imported_note(origin)
        report["native_recovery"] = native_recovery_advice(self.aws.cognito, origin.get("user_pool_id"),
                                                           config.get("taken_at"))
        if report["native_recovery"].get("pool_exists"):  # said once, before anything is written
            self.say("NOTE: " + report["native_recovery"]["advice"])
        users_via, note = decisions.users_path(o, counts["users"], pool)
        if note:
            state.note(note)
        report["users_via"] = users_via
        pool_plan = plan_pool(pool, config.get("mfa_config"), pool_name=o.new_pool_name or pool.get("Name", "restored"),
                              without_triggers=o.without_triggers)
        if o.target_pool_id:
            pool_plan = replace(pool_plan, notes=[
                "the target pool keeps its own settings: only missing custom attributes and the MFA configuration "
                "are applied to it, and the snapshot's triggers attached last where it has none"])
        providers = [p.get("ProviderName", "") for p in (config.get("identity_providers") or {}).get("items") or ()]
        snapshot = Snapshot(source, verified.get("etag"), config, counts, users_via, pool_plan,
                            provider_names=provider_names(providers))
        board = ProgressBoard(self.say, self.records, clock=self.clock)
        run = RestoreRun(options=o, aws=self.aws, snapshot=snapshot, state=state, say=self.say, uploader=self.uploader,
                         board=board)

        refs = foreign.sent_references(run, groups.roles, groups.names)
        report["foreign_arns"] = foreign.check(refs, self.account, allowed=o.allow_foreign_arns)
        if not o.dry_run:
            foreign.refuse(report["foreign_arns"])  # before anything is written
        gate = report["foreign_arns"]
        if gate and gate["arns"] and o.allow_foreign_arns:
            self.say(f"WARNING: --allow-foreign-arns: the new pool will use {len(gate['arns'])} ARN(s) of "
                     f"{foreign.others_than(gate['account'])} (listed in the report)")
        target = check_target(run, o.target_pool_id) if o.target_pool_id else pool_of_the_same_name(run)
        if o.dry_run:
            return dry_run(run, report, target, refs)
        if target is None:
            configuration.create_pool(run)
        report["target_user_pool_id"] = state.pool_id
        try:
            self._restore(run)
        except BaseException as exc:
            self.say(f"the restore stopped: {error_text(exc)}")
            self.say(f"to finish it: {resume_command(run)}")
            write_mapping(run, partial=True, expected=self._expected(run))
            raise
        expected = self._expected(run)
        mapping = write_mapping(run, expected=expected)
        report.update(final_report(run), mapping_file=mapping, expected_differences=expected,
                      identity_providers_renamed=run.snapshot.renames, phases=self._phases(run),
                      quota=self.aws.quota_use(), elapsed_s=round(self.clock() - started, 3))
        if o.check:
            report["check"] = self._check(run, report["excluded_attributes"])
            if not report["check"]["identical"] and report["status"] == "ok":
                report["status"] = "check-failed"
        return report

    @staticmethod
    def _restore(run: RestoreRun) -> None:
        """Everything after the pool. Users, memberships and the disabled state come before the app clients (no
        client exists while a user disabled in the snapshot is enabled), and the triggers last of all (none runs
        for the restore's own writes)."""
        configuration.add_custom_attributes(run)
        configuration.set_mfa(run)
        configuration.restore_resource_servers(run)
        configuration.restore_identity_providers(run)
        users.restore_users(run)
        user_mfa.restore_user_mfa(run)
        configuration.restore_clients(run)
        configuration.restore_domain(run)
        configuration.apply_other_settings(run)
        triggers.attach_triggers(run)

    def _phases(self, run: RestoreRun) -> dict[str, Any]:
        """Each phase's progress numbers, and for the lanes that call at a quota: how long they had work waiting
        for it (``busy_s``), the rate they reached meanwhile, and that rate as a share of the restore's share of
        the quota (``share_used``: 1.0 = all of it)."""
        out = run.board.summary()
        for name, lane in run.state.lanes.items():
            phase = out.setdefault(name, {})
            phase.update(busy_s=lane["busy_s"])
            category = LANE_CATEGORY.get(name)
            if category and lane["limit"] > 1 and lane["busy_s"] >= 1:
                rate = lane["busy_done"] / lane["busy_s"]
                share = self.aws.limiters[category].max_rate
                phase.update(category=category, rate_when_busy=round(rate, 3), share_per_s=round(share, 3),
                             share_used=round(rate / share, 4))
            elif category:
                phase["category"] = category
        return out

    def _expected(self, run: RestoreRun) -> list[str]:
        """The differences a check of this restore must expect: what the options chose (--without-triggers,
        overrides), and what the run could not restore beyond NON_RESTORABLE (``state.expected_differences``)."""
        expected = ["pool.LambdaConfig"] if self.options.without_triggers else []
        expected += overrides.expected_differences(self.options.overrides, run.snapshot.renames)
        expected += run.state.expected_differences
        if not run.state.created_pool:
            expected += [f"pool.{f}" for f in TARGET_KEEPS]
        return list(dict.fromkeys(expected))

    def _check(self, run: RestoreRun, excluded: list[str]) -> dict[str, Any]:
        from cognito_backup.diff import format_summary
        from cognito_backup.restore_check import check_restored_pool

        state = run.state
        self.say(f"checking: snapshotting {state.pool_id} and comparing it with the snapshot")
        expected = self._expected(run)
        diff = check_restored_pool(self.aws.cognito, self.s3, str(run.snapshot.source), state.pool_id,
                                   excluded=excluded, expected=expected, renames=run.snapshot.renames,
                                   work_dir=self.options.work_dir, trust=self.options.trust)
        text = format_summary(diff)
        self.say(text)
        return {"identical": diff["summary"]["identical"], "summary": diff["summary"], "text": text,
                "config_changes": diff["config_changes"][:20], "expected_differences": expected}


class GroupsSeen:
    """The snapshot's group names and roles, collected as verification reads the groups (no second pass over a
    snapshot whose groups come after the users): for the group overrides' check and the foreign-ARN check."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.roles: dict[str, str] = {}

    def add(self, group: dict[str, Any]) -> None:
        self.names.add(group["GroupName"])
        if isinstance(group.get("RoleArn"), str):
            self.roles[group["GroupName"]] = group["RoleArn"]


def restore_snapshot(cognito: Any, s3: Any, options: RestoreOptions, **kwargs: Any) -> dict[str, Any]:
    return Restorer(cognito, s3, options, **kwargs).run()
