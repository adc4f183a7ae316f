"""Prove that the newest snapshot of a pool restores: restore it, snapshot the copy, compare, clean up.

``drill --bucket B --pool-name N`` takes the newest complete snapshot of pool N, verifies it, restores
it into a scratch pool (``drill-<pool>-<time>``: no Lambda triggers, no domain, deletion protection
off through the restore's own override, identity providers with placeholder secrets), snapshots the
scratch pool into a local temporary directory (a drill never writes to the backup bucket), diffs the two
(ignoring what a restore cannot bring back, and the differences the restore reported: its overrides,
--without-triggers, a verification message half AWS refused, renamed providers), and deletes the scratch
pool, also when a step fails. It passes only when the diff finds nothing else. Exit code 0 on pass, 1 on
fail.

``--summary-file`` appends a Markdown report (for ``$GITHUB_STEP_SUMMARY``).
``--matrix STACK=OUTPUTS.json ...`` prints the pools of stacks (from ``pulumi stack output --json``)
as a GitHub Actions matrix, one entry per pool, for the ``restore-drill`` workflow.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from backup_lambda.errors import BackupError, ConfigError
from cognito_backup import signatures
from cognito_backup.diff import format_summary
from cognito_backup.listing import newest_complete
from cognito_backup.restore import RestoreOptions, Restorer
from cognito_backup.restore.overrides import resolve
from cognito_backup.restore_check import check_restored_pool
from cognito_backup.signatures import Trust

# A drill's scratch pool is created with this tag: the drill role creates, changes and deletes only pools
# that carry it (bootstrap/drill_role.py).
DRILL_SCRATCH_TAG = {"cognito-backup:scratch": "restore-drill"}
# A drill's copy differs from its snapshot in these pool fields, on purpose (it is a scratch pool): the restore's
# own overrides (paths of overrides.py under ``pool.``: shown in its plan and report, and expected by its check),
# deletion protection off and the scratch tag added to the snapshot's own tags; and --without-triggers.
DRILL_POOL_OVERRIDES = {"DeletionProtection": "INACTIVE",
                        **{f"UserPoolTags.{key}": value for key, value in DRILL_SCRATCH_TAG.items()}}
# Identity providers are recreated with this in place of their secrets (never in a snapshot): the
# scratch pool proves their configuration restores, and nobody ever signs in through it.
DRILL_PLACEHOLDER_SECRET = "restore-drill-placeholder-not-a-secret"  # noqa: S105 - deliberately not a secret


def scratch_name(pool_name: str, when: datetime) -> str:
    base = re.sub(r"[^\w.+=,@-]", "-", pool_name)[:100]
    return f"drill-{base}-{when:%Y%m%d%H%M%S}"


def _delete_pool(cognito: Any, pool_id: str) -> None:
    try:
        pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return
        raise
    for domain in (pool.get("Domain"), pool.get("CustomDomain")):
        if domain:
            cognito.delete_user_pool_domain(Domain=domain, UserPoolId=pool_id)
    cognito.delete_user_pool(UserPoolId=pool_id)


def run_drill(cognito: Any, s3: Any, *, bucket: str, pool_name: str, prefix: str = "",
              users_via: str = "auto", import_role_arn: str | None = None, workers: int = 8,
              rate_fraction: float = 0.5, keep_scratch: bool = False, work_dir: str | None = None,
              progress: Callable[[str], None] = lambda _m: None,
              snapshotter: Callable[..., dict[str, Any]] | None = None, trust: Trust | None = None,
              allow_foreign_arns: bool = False) -> dict[str, Any]:
    """Run one drill; never raises for a failed step (the report says which step failed and why)."""
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    report: dict[str, Any] = {"pool_name": pool_name, "bucket": bucket, "status": "fail", "steps": []}
    scratch_id: str | None = None

    def step(name: str, **details: Any) -> None:
        report["steps"].append({"step": name, **details})
        progress(f"drill {pool_name}: {name} {details if details else ''}".rstrip())

    scratch_dir = tempfile.TemporaryDirectory(prefix="cognito-drill-", dir=work_dir)
    try:
        entry = newest_complete(s3, bucket, pool_name, prefix=prefix)
        if entry is None:
            raise ConfigError(f"no complete snapshot of pool {pool_name!r} in s3://{bucket}/{prefix}")
        source = f"s3://{bucket}/{entry['key']}"
        report.update(snapshot=source, snapshot_taken_at=entry["taken_at"], users=entry["users"])
        step("found", snapshot=source, taken_at=entry["taken_at"])
        overrides = {o.path: o for o in (resolve(f"pool.{path}", value, from_command_line=False)
                                         for path, value in DRILL_POOL_OVERRIDES.items())}
        options = RestoreOptions(
            snapshot=source, new_pool_name=scratch_name(pool_name, now), users_via=users_via,
            import_role_arn=import_role_arn, without_triggers=True, overrides=overrides,
            rate_fraction=rate_fraction, workers=workers, work_dir=work_dir,
            mapping_file=f"{scratch_dir.name}/mapping.json", placeholder_secret=DRILL_PLACEHOLDER_SECRET,
            trust=trust, allow_foreign_arns=allow_foreign_arns,
        )
        restorer = Restorer(cognito, s3, options, progress=progress)
        try:
            restore = restorer.run()
        finally:
            scratch_id = restorer.pool_id  # created before a failure too: deleted below
        report["scratch_pool_id"] = scratch_id
        step("restored", scratch_pool_id=scratch_id, status=restore["status"], failures=restore["failure_count"])
        report["restore_notes"] = restore.get("notes") or []
        if restore["status"] != "ok":
            report["restore_failures"] = restore["failures"]
            raise BackupError(f"the restore into {scratch_id} was incomplete: {restore['failure_count']} failures, "
                              f"first: {restore['failures'][:1]}")
        diff = check_restored_pool(cognito, s3, source, scratch_id,
                                   excluded=restore.get("excluded_attributes") or (),
                                   expected=restore.get("expected_differences") or (),
                                   renames=restore.get("identity_providers_renamed") or {},
                                   work_dir=scratch_dir.name, snapshotter=snapshotter, trust=trust)
        step("snapshotted", users=diff["summary"]["users_b"])
        report["diff_summary"] = diff["summary"]
        report["diff_text"] = format_summary(diff)
        report["config_changes"] = diff["config_changes"][:20]
        step("compared", identical=diff["summary"]["identical"])
        report["status"] = "pass" if diff["summary"]["identical"] else "fail"
        if not diff["summary"]["identical"]:
            report["error"] = "the restored pool differs from the snapshot beyond what a restore cannot bring back"
    except Exception as exc:  # every failure is a failed drill, reported
        report["error"] = str(exc)
        step("failed", error=str(exc))
    finally:
        if scratch_id and not keep_scratch:
            try:
                _delete_pool(cognito, scratch_id)
                step("deleted scratch pool", scratch_pool_id=scratch_id)
            except Exception as exc:  # reported; the drill fails so someone looks
                report["status"] = "fail"
                report["cleanup_error"] = f"could not delete scratch pool {scratch_id}: {exc}"
                step("cleanup failed", error=str(exc))
        scratch_dir.cleanup()
    report["duration_s"] = round(time.monotonic() - started, 1)
    return report


def drill_matrix(specs: list[str]) -> dict[str, Any]:
    """``["prod=outputs-prod.json", ...]`` -> ``{"include": [{"stack", "pool", "region", "bucket", "prefix",
    "import_role_arn", "signing_key_arn"}, ...]}``, one entry per pool of each stack's ``pulumi stack output
    --json``. The region is the pool's (a pool id starts with it): stacks may live in different regions."""
    from cognito_backup.invoke_target import load_json_arg, parse_pools

    include: list[dict[str, str]] = []
    for spec in specs:
        stack, sep, source = spec.partition("=")
        if not sep or not stack or not source:
            raise ConfigError(f"--matrix takes STACK=OUTPUTS (a file or inline JSON), got {spec!r}")
        origin = f"--matrix {stack}"
        outputs = load_json_arg(source, origin)
        if not isinstance(outputs, dict) or "pools" not in outputs or not outputs.get("bucketName"):
            raise ConfigError(f"{origin}: expected the JSON object of `pulumi stack output --json` with "
                              "`pools` and `bucketName` (has the stack been deployed?)")
        for pool in parse_pools(outputs["pools"], origin):
            include.append({"stack": stack, "pool": pool.name, "region": pool.id.split("_", 1)[0],
                            "bucket": outputs["bucketName"],
                            "prefix": outputs.get("snapshotPrefix") or "",
                            "import_role_arn": outputs.get("importRoleArn") or "",
                            "signing_key_arn": outputs.get("signingKeyArn") or ""})
    return {"include": include}


def markdown(report: dict[str, Any]) -> str:
    icon = "✅" if report["status"] == "pass" else "❌"
    lines = [f"### {icon} Restore drill: {report['pool_name']}: {report['status'].upper()}", ""]
    lines.append(f"- snapshot: `{report.get('snapshot', '-')}` (taken {report.get('snapshot_taken_at', '-')}, "
                 f"{report.get('users') if report.get('users') is not None else '-'} users)")
    lines.append(f"- scratch pool: `{report.get('scratch_pool_id', '-')}` (deleted unless --keep-scratch)")
    lines.append(f"- duration: {report.get('duration_s')} s")
    if report.get("error"):
        lines.append(f"- error: {report['error']}")
    if report.get("cleanup_error"):
        lines.append(f"- cleanup: {report['cleanup_error']}")
    if report.get("diff_text"):
        lines += ["", "```", report["diff_text"], "```"]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", help="the backup bucket")
    parser.add_argument("--pool-name", help="the pool whose newest complete snapshot is drilled")
    parser.add_argument("--prefix", default="", help="the snapshot prefix in the bucket")
    parser.add_argument("--users-via", choices=("auto", "admin-create", "import"), default="auto")
    parser.add_argument("--import-role-arn", help="CloudWatch Logs role for user import jobs (large pools)")
    parser.add_argument("--rate-fraction", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--allow-foreign-arns", action="store_true",
                        help="restore the snapshot's ARNs of other accounts (a restore refuses them without it)")
    parser.add_argument("--keep-scratch", action="store_true", help="do not delete the scratch pool (debugging)")
    parser.add_argument("--work-dir", help="where temporary files go")
    parser.add_argument("--summary-file", help="append a Markdown report here (e.g. $GITHUB_STEP_SUMMARY)")
    signatures.add_arguments(parser)
    parser.add_argument("--matrix", nargs="+", metavar="STACK=OUTPUTS",
                        help="instead of drilling: list the pools of these stacks' outputs as a workflow matrix")
    parser.add_argument("--github-output", metavar="FILE",
                        help="with --matrix: append matrix=<json> and count=<n> here (e.g. $GITHUB_OUTPUT)")


def run(args: argparse.Namespace) -> int:
    from backup_lambda.aws import make_client
    from cognito_backup.output import emit, progress

    if args.matrix:
        matrix = drill_matrix(args.matrix)
        count = len(matrix["include"])
        if args.github_output:
            with open(args.github_output, "a", encoding="utf-8") as f:
                f.write(f"matrix={json.dumps(matrix, separators=(',', ':'))}\ncount={count}\n")
        listed = "\n".join(f"  {e['stack']}: {e['pool']} (s3://{e['bucket']}/{e['prefix']})" for e in matrix["include"])
        emit(args, {"status": "ok", "matrix": matrix, "count": count}, f"{count} pools to drill:\n{listed}")
        return 0
    if not args.bucket or not args.pool_name:
        raise ConfigError("drill needs --bucket and --pool-name (or --matrix)")
    report = run_drill(make_client("cognito-idp"), make_client("s3"), bucket=args.bucket, pool_name=args.pool_name,
                       prefix=args.prefix, users_via=args.users_via, import_role_arn=args.import_role_arn,
                       workers=args.workers, rate_fraction=args.rate_fraction, keep_scratch=args.keep_scratch,
                       work_dir=args.work_dir, progress=progress, trust=signatures.Trust.from_args(args),
                       allow_foreign_arns=args.allow_foreign_arns)
    if args.summary_file:
        with open(args.summary_file, "a", encoding="utf-8") as f:
            f.write(markdown(report))
    text = f"drill {report['pool_name']}: {report['status'].upper()}"
    if report.get("diff_text"):
        text += "\n" + report["diff_text"]
    if report.get("error"):
        text += f"\nerror: {report['error']}"
    emit(args, report, text)
    return 0 if report["status"] == "pass" else 1
