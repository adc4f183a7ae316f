"""``restore`` on the command line: its arguments, and ``run``, which turns them into RestoreOptions, runs
the restore and prints its report (the work is done elsewhere: by the Restorer). Progress goes to stderr every
few seconds; with ``--json`` each progress record is also a JSON line on stdout (``{"progress": ...}``), and
the report the last line. Exit codes: 0 ok (or a dry run), 1 incomplete (``--resume`` retries the failed
steps), 2 an error (nothing or not everything written: the message says what), 3 check-failed (``--check``
found a difference beyond what cannot be restored)."""

from __future__ import annotations

import argparse

from cognito_backup import signatures
from cognito_backup.restore import overrides
from cognito_backup.restore.decisions import AUTO_IMPORT_FROM
from cognito_backup.restore.options import DEFAULT_RATE_FRACTION, DEFAULT_WORKERS, RestoreOptions, load_secrets
from cognito_backup.restore.report import EXIT_CODES, format_report
from cognito_backup.restore.runner import restore_snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", metavar="SNAPSHOT", help="s3://bucket/key or a local path")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--new-pool-name", help="create a new pool with this name")
    target.add_argument("--target-pool-id", help="fill this existing, empty pool (or finish a restore: --resume)")
    parser.add_argument("--users-via", choices=("auto", "admin-create", "import"), default="auto",
                        help=f"how users are created (auto: import from {AUTO_IMPORT_FROM:,} users)")
    parser.add_argument("--import-role-arn",
                        help="CloudWatch Logs role for user import jobs (stack output importRoleArn)")
    parser.add_argument("--secrets", metavar="FILE",
                        help='identity provider secrets: {"ProviderName": {"client_secret": "..."}}')
    parser.add_argument("--domain-prefix", help="create the pool's domain with this prefix")
    parser.add_argument("--link-federated", action="store_true",
                        help="create a native user for each federated user and link its provider identity")
    parser.add_argument("--resume", action="store_true",
                        help="finish a restore into --target-pool-id: skip what exists")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    parser.add_argument("--mapping-file",
                        help="where to write the old -> new map (default restore-mapping-<pool id>.json)")
    parser.add_argument("--without-triggers", action="store_true", help="restore the pool without its Lambda triggers")
    parser.add_argument("--grant-triggers", action="store_true",
                        help="let each trigger function be invoked by the new pool (lambda:AddPermission)")
    parser.add_argument("--override", action="append", default=[], metavar="PATH=VALUE",
                        help="change a configuration value before it is sent, e.g. "
                             "pool.SmsConfiguration.ExternalId=ID (repeatable; docs/restoring.md, Overrides)")
    parser.add_argument("--overrides", metavar="FILE", help='overrides as a JSON object {"PATH": VALUE, ...}')
    parser.add_argument("--allow-foreign-arns", action="store_true",
                        help="send the snapshot's ARNs of other accounts than the one restored into (refused "
                             "without it: point them here with --override, or leave triggers out)")
    parser.add_argument("--check", action="store_true",
                        help="when done, snapshot the new pool (locally) and diff it with the snapshot")
    parser.add_argument("--rate-fraction", type=float, default=DEFAULT_RATE_FRACTION,
                        help=f"share of each Cognito quota (per account, shared with other pools' applications) "
                             f"the restore may use (default {DEFAULT_RATE_FRACTION})")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"requests in flight per kind of call (default {DEFAULT_WORKERS})")
    parser.add_argument("--work-dir", help="where temporary files go (default: the temp dir)")
    signatures.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from backup_lambda.aws import make_client
    from cognito_backup.output import emit, progress

    options = RestoreOptions(
        snapshot=args.snapshot, new_pool_name=args.new_pool_name, target_pool_id=args.target_pool_id,
        users_via=args.users_via, import_role_arn=args.import_role_arn, secrets=load_secrets(args.secrets),
        secrets_file=args.secrets, domain_prefix=args.domain_prefix, link_federated=args.link_federated,
        resume=args.resume, dry_run=args.dry_run, mapping_file=args.mapping_file,
        without_triggers=args.without_triggers, grant_triggers=args.grant_triggers,
        overrides=overrides.collect(overrides.load_file(args.overrides), overrides.parse_command_line(args.override)),
        override_args=tuple(args.override), overrides_file=args.overrides,
        rate_fraction=args.rate_fraction, workers=args.workers, work_dir=args.work_dir, check=args.check,
        trust=signatures.Trust.from_args(args), allow_foreign_arns=args.allow_foreign_arns,
    )
    s3 = make_client("s3") if args.snapshot.startswith("s3://") else None

    def record(progress_record: dict) -> None:
        print(json.dumps(progress_record, sort_keys=True), flush=True)

    # Every lane's calls in flight at once, on one client: as many connections.
    cognito = make_client("cognito-idp", max_pool_connections=max(32, 6 * options.workers))
    report = restore_snapshot(cognito, s3, options, progress=progress,
                              records=record if getattr(args, "json", False) else None)
    emit(args, report, format_report(report))
    return EXIT_CODES.get(report["status"], 1)
