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

Here: ``Restorer``, which verifies the snapshot, settles the target pool and runs the steps in order. The
steps live in configuration.py, users.py and import_jobs.py; what each does to each item is decided in
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
from cognito_backup.restore import configuration, decisions, import_jobs, users
from cognito_backup.restore.calls import Calls, error_text
from cognito_backup.restore.journal import Journal
from cognito_backup.restore.options import RestoreOptions
from cognito_backup.restore.plan import dry_run
from cognito_backup.restore.report import final_report, resume_command, write_mapping
from cognito_backup.restore.requests import plan_pool
from cognito_backup.restore.state import RestoreRun, RunState, Snapshot
from cognito_backup.restore.target import check_target, pool_of_the_same_name
from cognito_backup.snapshot_file import SnapshotSource
from cognito_backup.verify import imported_note, require_verified


class Restorer:
    """One restore run. ``import_client`` serves the user import calls and ``link_client``
    AdminLinkProviderForUser (both default to ``cognito``; tests give them a botocore Stubber, moto
    lacks these APIs); ``uploader(url, path)`` puts a CSV file to a pre-signed URL."""

    def __init__(self, cognito: Any, s3: Any, options: RestoreOptions, *,
                 progress: Callable[[str], None] = lambda _m: None, import_client: Any = None,
                 link_client: Any = None, uploader: Callable[[str, str], None] = import_jobs.put_presigned,
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
        if imported_note(origin):  # an imported snapshot (import-cbr): say what it lacks
            report["imported"] = imported_note(origin)
        report["native_recovery"] = native_recovery_advice(self.aws.cognito, origin.get("user_pool_id"),
                                                           config.get("taken_at"))
        if report["native_recovery"].get("pool_exists"):
            self.say("NOTE: " + report["native_recovery"]["advice"])
        users_via, note = decisions.users_path(o, counts["users"], pool)
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
            configuration.create_pool(run)
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
        configuration.add_custom_attributes(run)
        configuration.set_mfa(run)
        configuration.restore_resource_servers(run)
        configuration.restore_identity_providers(run)
        configuration.restore_clients(run)
        configuration.restore_domain(run)
        configuration.apply_other_settings(run)
        users.restore_groups_and_users(run)
        if run.snapshot.users_via == "import":
            import_jobs.run_import_jobs(run)
            import_jobs.map_imported_users(run)
        users.add_memberships(run)
        users.disable_users(run)
        if run.options.link_federated:
            users.link_federated(run)

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
