"""Native point-in-time recovery of a pool's USER data (same pool; passwords, MFA and passkeys survive).

``recover --user-pool-id ID --to TIMESTAMP`` initiates a recovery (Cognito pauses writes to the pool
and computes a preview), shows the preview (how many users, groups... it creates, updates and
deletes), and applies it only after confirmation (type the pool id) or ``--yes``. Declined or
interrupted, the recovery is cancelled, which resumes writes. ``--restore-id`` picks up a recovery
already initiated.

Native recovery does not restore configuration (clients, schema, ...), does not help once the pool is
deleted, and reaches back only a short window; outside that, restore a snapshot into a new pool
(``restore``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from backup_lambda.errors import BackupError, ConfigError

OPERATIONS = ("InitiatePointInTimeRecovery", "DescribePointInTimeRecovery", "StartPointInTimeRecovery",
              "CancelPointInTimeRecovery")
PREVIEW_READY = "PREVIEW_GENERATED"
DONE = "RESTORE_COMPLETED"
FAILED = frozenset({"PREVIEW_CANCELLED", "PREVIEW_GENERATION_FAILED", "PREVIEW_EXPIRED",
                    "TEMPORARY_INTERNAL_ERROR_SEE_SUPPORT_CASE", "AWS_ABORTED"})
CANCELLABLE = frozenset({"PREVIEW_GENERATING", "PREVIEW_GENERATED"})


class RecoveryError(BackupError):
    """Point-in-time recovery could not be done; the message says why and what state the pool is in."""


def require_support(cognito: Any) -> None:
    known = set(cognito.meta.service_model.operation_names)
    missing = [op for op in OPERATIONS if op not in known]
    if missing:
        raise RecoveryError(
            f"this botocore ({_botocore_version()}) does not know point-in-time recovery "
            f"({', '.join(missing)}): upgrade boto3 (pip install -U boto3)")


def _botocore_version() -> str:
    import botocore

    return botocore.__version__


def parse_timestamp(value: str, now: datetime | None = None) -> datetime:
    """ISO 8601; without an offset it is UTC. Must be in the past."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--to must be an ISO 8601 time like 2026-11-26T01:00:00Z, got {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when >= (now or datetime.now(timezone.utc)):
        raise ConfigError(f"--to {value} is not in the past")
    return when.astimezone(timezone.utc)


def format_preview(restoration: dict[str, Any]) -> str:
    rows = restoration.get("RestorePreview") or []
    if not rows:
        return "  (the preview lists no changes)"
    width = max(len(r.get("Entity", "")) for r in rows)
    lines = [f"  {'entity'.ljust(width)}  {'create':>10}  {'update':>10}  {'delete':>10}"]
    for r in rows:
        lines.append(f"  {r.get('Entity', '').ljust(width)}  {r.get('CreateCount', 0):>10,}  "
                     f"{r.get('UpdateCount', 0):>10,}  {r.get('DeleteCount', 0):>10,}")
    return "\n".join(lines)


class Recovery:
    def __init__(self, cognito: Any, user_pool_id: str, *, sleep: Callable[[float], None] = time.sleep,
                 poll_interval: float = 10.0, timeout: float = 3600.0,
                 progress: Callable[[str], None] = lambda _m: None):
        require_support(cognito)
        self.cognito = cognito
        self.pool_id = user_pool_id
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.progress = progress

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.cognito, method)(UserPoolId=self.pool_id, **kwargs)["Restoration"]
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise RecoveryError(f"{method} on {self.pool_id} failed: {err.get('Code')}: {err.get('Message')}") from None

    def initiate(self, when: datetime) -> dict[str, Any]:
        return self._call("initiate_point_in_time_recovery", RestoreTimestamp=when)

    def describe(self, restore_id: str) -> dict[str, Any]:
        return self._call("describe_point_in_time_recovery", RestoreId=restore_id)

    def start(self, restore_id: str) -> dict[str, Any]:
        return self._call("start_point_in_time_recovery", RestoreId=restore_id)

    def cancel(self, restore_id: str) -> dict[str, Any]:
        return self._call("cancel_point_in_time_recovery", RestoreId=restore_id)

    def wait_for(self, restore_id: str, wanted: str, current: dict[str, Any]) -> dict[str, Any]:
        waited = 0.0
        while current.get("RestoreStatus") != wanted:
            status = current.get("RestoreStatus")
            if status in FAILED:
                raise RecoveryError(f"recovery {restore_id} of {self.pool_id} ended in {status}")
            if waited >= self.timeout:
                raise RecoveryError(f"recovery {restore_id} of {self.pool_id} is still {status} after "
                                    f"{waited:.0f} s; check it with --restore-id {restore_id}")
            self.progress(f"  recovery {restore_id}: {status}")
            self.sleep(self.poll_interval)
            waited += self.poll_interval
            current = self.describe(restore_id)
        return current


def _ask(pool_id: str, input_fn: Callable[[str], str]) -> bool:
    try:
        answer = input_fn(f"Apply this recovery to {pool_id}? Writes stay paused until it completes. "
                          f"Type the pool id to confirm: ")
    except EOFError:
        return False
    return answer.strip() == pool_id


def recover(cognito: Any, user_pool_id: str, *, to: datetime | None = None, restore_id: str | None = None,
            yes: bool = False, wait: bool = True, input_fn: Callable[[str], str] | None = None,
            interactive: bool | None = None, sleep: Callable[[float], None] = time.sleep,
            poll_interval: float = 10.0, progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Initiate (or pick up ``restore_id``), preview, confirm, start, and wait. Returns a report."""
    recovery = Recovery(cognito, user_pool_id, sleep=sleep, poll_interval=poll_interval, progress=progress)
    if restore_id:
        current = recovery.describe(restore_id)
    else:
        if to is None:
            raise ConfigError("give --to TIMESTAMP (or --restore-id of a recovery already initiated)")
        progress(f"initiating point-in-time recovery of {user_pool_id} to {to.isoformat()} "
                 "(writes to the pool are paused until it is applied or cancelled)")
        current = recovery.initiate(to)
        restore_id = current["RestoreId"]
    report: dict[str, Any] = {"user_pool_id": user_pool_id, "restore_id": restore_id}
    try:
        if current.get("RestoreStatus") in CANCELLABLE:
            current = recovery.wait_for(restore_id, PREVIEW_READY, current)
            report["preview"] = current.get("RestorePreview") or []
            progress(f"preview of recovery {restore_id} to {current.get('RestoreTimestamp')}:\n"
                     f"{format_preview(current)}")
            if not yes:
                interactive = sys.stdin.isatty() if interactive is None else interactive
                if not interactive:
                    recovery.cancel(restore_id)
                    raise RecoveryError("the recovery needs confirmation: run it in a terminal or pass --yes. "
                                        "It was cancelled, and writes to the pool resumed")
                if not _ask(user_pool_id, input_fn or input):
                    recovery.cancel(restore_id)
                    report.update(status="cancelled", restore_status="PREVIEW_CANCELLED")
                    progress("not confirmed: the recovery was cancelled and writes resumed")
                    return report
            current = recovery.start(restore_id)
            progress(f"recovery {restore_id} started: it cannot be cancelled now")
    except (KeyboardInterrupt, RecoveryError) as exc:
        if current.get("RestoreStatus") in CANCELLABLE and not isinstance(exc, RecoveryError):
            recovery.cancel(restore_id)
            progress("interrupted: the recovery was cancelled and writes resumed")
        raise
    if wait and current.get("RestoreStatus") != DONE:
        current = recovery.wait_for(restore_id, DONE, current)
    report.update(status="completed" if current.get("RestoreStatus") == DONE else "started",
                  restore_status=current.get("RestoreStatus"), restore_timestamp=current.get("RestoreTimestamp"))
    report.setdefault("preview", current.get("RestorePreview") or [])
    return report


def native_recovery_advice(cognito: Any, source_pool_id: str | None, taken_at: str | None) -> dict[str, Any]:
    """Whether native recovery could serve instead of a restore (the snapshot's pool still exists)."""
    if not source_pool_id:
        return {"pool_exists": None, "advice": "the snapshot does not name its pool"}
    try:
        cognito.describe_user_pool(UserPoolId=source_pool_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            return {"pool_exists": False,
                    "advice": f"the snapshot's pool {source_pool_id} no longer exists: native point-in-time "
                              "recovery cannot help, a restore into a new pool is the way"}
        return {"pool_exists": None, "advice": f"could not check whether {source_pool_id} still exists ({code})"}
    known = all(op in cognito.meta.service_model.operation_names for op in OPERATIONS)
    command = (f"python -m cognito_backup recover --user-pool-id {source_pool_id} "
               f"--to <a time just before the incident>")
    return {
        "pool_exists": True,
        "native_recovery_available_in_this_botocore": known,
        "command": command,
        "advice": (f"the snapshot's pool {source_pool_id} still exists. If what was lost is USER data "
                   "(users deleted or changed) within the pool's recovery window, native point-in-time "
                   "recovery serves better: same pool, same subs, passwords, MFA and passkeys kept. "
                   f"Run: {command}. It does not restore configuration (clients, schema...); outside its "
                   f"window use this restore (snapshot taken {taken_at})."),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-pool-id", required=True, help="the pool to recover (it must still exist)")
    parser.add_argument("--to", help="the point in time to recover to (ISO 8601, UTC if no offset)")
    parser.add_argument("--restore-id", help="pick up a recovery already initiated")
    parser.add_argument("--yes", action="store_true", help="apply without asking (after showing the preview)")
    parser.add_argument("--no-wait", action="store_true", help="return once the recovery has started")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="seconds between status checks")


def run(args: argparse.Namespace) -> int:
    from backup_lambda.aws import make_client
    from cognito_backup.output import emit, progress

    to = parse_timestamp(args.to) if args.to else None
    report = recover(make_client("cognito-idp"), args.user_pool_id, to=to, restore_id=args.restore_id,
                     yes=args.yes, wait=not args.no_wait, poll_interval=args.poll_interval, progress=progress)
    text = f"recovery {report['restore_id']} of {report['user_pool_id']}: {report['status']}"
    emit(args, {"status": report["status"], **report}, text)
    return 0 if report["status"] in ("completed", "started") else 1
