"""What a restore reports: the mapping file (old username/sub -> new, old client id -> new, renamed identity
providers), the final report and its text form (``format_report``), and the command that finishes a restore
that stopped (the same flags and paths as given)."""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timezone
from typing import Any

from cognito_backup import json_limits
from cognito_backup.private_files import open_private
from cognito_backup.restore.foreign import others_than
from cognito_backup.restore.journal import Journal
from cognito_backup.restore.options import DEFAULT_RATE_FRACTION, DEFAULT_WORKERS
from cognito_backup.restore.progress import duration
from cognito_backup.restore.references import text as reference_lines
from cognito_backup.restore.state import RestoreRun

STATE_AFTER = {"admin-create": "FORCE_CHANGE_PASSWORD", "import": "RESET_REQUIRED"}  # the state restored users are in
SAMPLE = 20  # users named in the report, of those federated or skipped
# The exit code of each status (2: an error, before or instead of a report).
EXIT_CODES = {"ok": 0, "dry-run": 0, "incomplete": 1, "check-failed": 3}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _plan_lines(report: dict[str, Any]) -> list[str]:
    plan = report["plan"]
    lines = [f"DRY RUN: nothing was written. Plan for {report['snapshot']}:"]
    for key, value in plan.items():
        if key == "outside_references":
            lines.append("  outside the new pool (review these before restoring):" if value
                         else "  outside the new pool: nothing")
            lines += reference_lines(value)
        elif key == "triggers" and value:
            lines.append("  triggers (attached last, after the users):")
            for entry in value:
                if "function" in entry:
                    lines.append(f"    {entry['function']} ({', '.join(entry['triggers'])}): needs {entry['needs']}; "
                                 f"{entry['grant']}")
                else:
                    lines.append(f"    KMS key {entry['kms_key']}: {entry['needs']}")
        elif key == "status_changes":
            changes = ", ".join(f"{n:,} {k}" for k, n in value.items()) or "none"
            lines.append(f"  users changing status: {sum(value.values()):,} ({changes})")
        elif key == "mfa_loss":
            lines.append(f"  users losing MFA: {value['users_with_mfa_options']:,} with MFA options (SMS) in the "
                         f"snapshot enrol again" + (f"; {value['totp']}" if value.get("totp") else ""))
        else:
            lines.append(f"  {key}: {_json(value)}")
    lines += _override_lines(report)
    return lines


def _override_lines(report: dict[str, Any]) -> list[str]:
    """One line per override: the snapshot's value (where known before the run: not for groups) and the new."""
    return [f"  override {c['path']}: " + (f"{_json(c['from'])} -> " if "from" in c else "set to ") + _json(c["to"])
            for c in report.get("overrides") or ()]


def format_report(report: dict[str, Any]) -> str:
    lines = []
    if report.get("status") == "dry-run":
        lines += _plan_lines(report)
    else:
        lines.append(f"restore of {report['snapshot']} into {report.get('target_user_pool_id')}: "
                     f"{report['status'].upper()}")
        for key, value in report.get("steps", {}).items():
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False, default=str)}")
        lines += phase_lines(report)
        lines.append(f"  users end in {report['users_end_in']}. {report['user_action']}")
        fed = report.get("federated_users") or {}
        if fed.get("not_recreated"):
            sample = ", ".join(fed["sample"][:5])
            lines.append(f"  federated users not recreated: {fed['not_recreated']:,} (e.g. {sample}); "
                         "they reappear at their next sign-in, or use --link-federated")
        skipped = report.get("skipped_users") or {}
        if skipped.get("count"):
            first = skipped["sample"][0]
            lines.append(f"  users skipped: {skipped['count']:,} (e.g. {first['user']}: {first['reason']}); "
                         "the mapping file lists them (state skipped) with the reason")
        lines.append(f"  mapping file: {report.get('mapping_file')}")
        for failure in report.get("failures", []):
            lines.append(f"  FAILED {failure}")
        if report.get("failure_count", 0) > len(report.get("failures", [])):
            lines.append(f"  ... {report['failure_count'] - len(report['failures'])} more failures")
        for item in report.get("not_restored") or ():
            lines.append(f"  not restored: {item['what']}: {item['why']}")
        lines += _override_lines(report)
        lines += foreign_lines(report)
        if report.get("resume_command"):
            lines.append(f"  to finish: {report['resume_command']}")
        if "check" in report:
            lines.append("  check: " + (
                "the restored pool matches the snapshot, beyond what cannot be restored (docs/restoring.md)"
                if report["check"]["identical"] else
                "DIFFERENCES beyond what cannot be restored, see above (status CHECK-FAILED: look at the failures "
                "and notes, fix, and --resume)"))
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    if report.get("imported"):
        lines.append(f"  imported snapshot: {report['imported']}: a restore cannot bring back what it does not hold")
    return "\n".join(lines)


def foreign_lines(report: dict[str, Any]) -> list[str]:
    """The ARNs of other accounts a run sent (--allow-foreign-arns): said in the report, not only in the log."""
    gate = report.get("foreign_arns") or {}
    if not gate.get("arns"):
        return []
    return [f"  ARNs of {others_than(gate['account'])}, sent with --allow-foreign-arns:",
            *(f"    {a['where']}: {a['value']}" for a in gate["arns"])]


def phase_lines(report: dict[str, Any]) -> list[str]:
    """The time to recovery and each phase: what it did, how long it took, its rate, and for those that call at a
    quota the rate they reached while work was waiting, against the restore's share of that quota."""
    phases = report.get("phases") or {}
    if not phases:
        return []
    lines = [f"  time to recovery: {duration(report.get('elapsed_s'))}"]
    for name, p in phases.items():
        of = f"/{p['total']:,}" if p.get("total") is not None else ""
        line = f"    {name}: {p.get('done', 0):,}{of} in {duration(p.get('seconds'))}"
        if p.get("rate_per_s") is not None:
            line += f", {p['rate_per_s']:,.1f}/s"
        if p.get("share_used") is not None:
            line += (f"; at its quota ({p['category']}, {duration(p['busy_s'])} with work waiting) "
                     f"{p['rate_when_busy']:,.1f} calls/s, {100 * p['share_used']:.0f}% of the restore's share "
                     f"({p['share_per_s']:g}/s)")
        lines.append(line)
    return lines


def resume_command(run: RestoreRun, pool_id: str | None = None) -> str:
    """The command that finishes this restore (into ``pool_id``, by default the run's target): the flags and
    paths it was given, with ``--target-pool-id ID --resume`` for ``--new-pool-name``."""
    o = run.options
    parts = ["python -m cognito_backup restore", o.snapshot, "--target-pool-id", str(pool_id or run.state.pool_id),
             "--resume", "--users-via", run.snapshot.users_via]
    if o.import_role_arn:
        parts += ["--import-role-arn", o.import_role_arn]
    if o.secrets_file or o.secrets:
        parts += ["--secrets", o.secrets_file or "FILE"]  # FILE: the secrets were given in code, not in a file
    if o.domain_prefix:
        parts += ["--domain-prefix", o.domain_prefix]
    if o.link_federated:
        parts.append("--link-federated")
    if o.without_triggers:
        parts.append("--without-triggers")
    if o.grant_triggers:
        parts.append("--grant-triggers")
    if o.overrides_file:
        parts += ["--overrides", o.overrides_file]
    for text in o.override_args or (() if o.overrides_file else _override_texts(o.overrides)):
        parts += ["--override", text]
    if o.mapping_file:
        parts += ["--mapping-file", o.mapping_file]
    if o.check:
        parts.append("--check")
    if o.rate_fraction != DEFAULT_RATE_FRACTION:
        parts += ["--rate-fraction", str(o.rate_fraction)]
    if o.workers != DEFAULT_WORKERS:
        parts += ["--workers", str(o.workers)]
    if o.work_dir:
        parts += ["--work-dir", o.work_dir]
    return " ".join(parts[:1] + [shlex.quote(p) for p in parts[1:]])


def _override_texts(overrides: dict[str, Any]) -> list[str]:
    """Overrides given in code (the drill) as --override texts."""
    out = []
    for o in overrides.values():
        value = o.shown()
        out.append(f"{o.path}=" + ("" if value is None else value if isinstance(value, str) else _json(value)))
    return out


def read_mapping_head(path: str) -> dict[str, Any]:
    """A mapping file's head (everything but its users, which may be millions): read up to the users."""
    lines = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(' "users": ['):
                    break
                lines.append(line)
        return json_limits.loads("".join(lines).rstrip().rstrip(",") + "\n}")
    except OSError as exc:
        from backup_lambda.errors import ConfigError

        raise ConfigError(f"--mapping-file {path}: cannot read it ({exc.strerror})") from None
    except ValueError:
        from backup_lambda.errors import ConfigError

        raise ConfigError(f"--mapping-file {path} is not a restore's mapping file") from None


def write_mapping(run: RestoreRun, partial: bool = False, expected: list[str] | None = None) -> str | None:
    """The mapping file (old username/sub -> new, old client id -> new, identity provider names, the differences
    a check of the new pool must expect); ``partial`` when the run stopped."""
    state = run.state
    if not state.pool_id:
        return None
    path = run.options.mapping_file or f"restore-mapping-{state.pool_id}.json"
    head = {
        "format": "cognito-backup-restore-mapping", "version": 1,
        "snapshot": str(run.snapshot.source), "taken_at": run.snapshot.config.get("taken_at"),
        "source_user_pool_id": run.snapshot.source_pool_id,
        "target_user_pool_id": state.pool_id,
        "written_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "complete": not partial and state.failure_count == 0,
        "clients": state.client_map,
        "identity_providers": [{"old_name": old, "new_name": new} for old, new in run.snapshot.provider_names.items()
                               if old in state.providers.restored],
        "expected_differences": expected or [],
        "not_restored": state.not_restored,
    }
    tmp = f"{path}.tmp"
    with open_private(tmp) as f:  # it names users: owner-only (0600)
        f.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "users": [')
        for i, entry in enumerate(state.journal.mapping_rows()):
            f.write(("\n  " if i == 0 else ",\n  ") + json.dumps(entry, ensure_ascii=False))
        f.write("\n ]\n}\n")
    os.replace(tmp, path)
    run.say(f"mapping file: {path}")
    return path


def user_outcomes(journal: Journal) -> dict[str, Any]:
    """The users by state, and those federated (not recreated) or skipped, by name: what a run reports, and
    what its plan says it will (a dry run journals each user in the state its decision leads to)."""
    states = journal.states()
    return {
        "user_states": states,
        "federated_users": {"not_recreated": states.get("federated", 0),
                            "sample": [u for u, _ in journal.in_state("federated", SAMPLE)],
                            "linked": states.get("linked", 0)},
        "skipped_users": {"count": states.get("skipped", 0),
                          "sample": [{"user": u, "reason": why} for u, why in journal.in_state("skipped", SAMPLE)]},
    }


def final_report(run: RestoreRun) -> dict[str, Any]:
    state, users_via = run.state, run.snapshot.users_via
    outcomes = user_outcomes(state.journal)
    states = outcomes["user_states"]
    if users_via == "import":
        action = ("Imported users are RESET_REQUIRED: at sign-in they get PasswordResetRequiredException and must "
                  "use 'forgot password' (a code goes to their verified email/phone).")
    else:
        action = ("Users are FORCE_CHANGE_PASSWORD with no temporary password (messages were suppressed): they "
                  "cannot sign in or use 'forgot password' yet. Send invitations (AdminCreateUser "
                  "--message-action RESEND) or set a random permanent password (AdminSetUserPassword "
                  "--permanent) so that 'forgot password' works; see docs/restoring.md.")
    if states.get("created") and users_via == "import":
        action += (" Users without a verified email/phone were created with AdminCreateUser and are "
                   "FORCE_CHANGE_PASSWORD.")
    incomplete = state.failure_count > 0
    report: dict[str, Any] = {
        "status": "incomplete" if incomplete else "ok",
        "target_user_pool_id": state.pool_id,
        "created_pool": state.created_pool,
        "steps": state.steps,
        "user_states": states,
        "users_end_in": STATE_AFTER[users_via],
        "user_action": action,
        "federated_users": outcomes["federated_users"],
        "skipped_users": outcomes["skipped_users"],
        "client_ids": {e["old_client_id"]: e["new_client_id"] for e in state.client_map},
        "notes": state.notes + run.snapshot.pool_plan.notes,
        "not_restored": state.not_restored,
        "failures": state.failures,
        "failure_count": state.failure_count,
    }
    if incomplete:
        report["resume_command"] = resume_command(run)
    return report
