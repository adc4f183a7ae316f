"""``python -m backup_lambda COMMAND``: the command line of the project.

Every command is a module of this package with ``add_arguments(parser)`` and ``run(args) -> int``.
Human-readable progress goes to stderr; with ``--json`` the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import BackupError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "snapshot": ("cognito_backup.snapshot_command", "take a snapshot of a user pool into S3"),
    "invoke": ("cognito_backup.invoke", "invoke the deployed snapshot Lambda and report"),
    "list": ("cognito_backup.listing", "list the snapshots in a bucket"),
    "verify": ("cognito_backup.verify", "verify a snapshot against its manifest"),
    "diff": ("cognito_backup.diff", "compare two snapshots"),
    "restore": ("cognito_backup.restore", "rebuild a user pool from a snapshot"),
    "recover": ("cognito_backup.recover", "native point-in-time recovery of a pool's user data"),
    "drill": ("cognito_backup.drill", "prove that the newest snapshot of a pool restores"),
}


class CliError(BackupError):
    """A user-facing error of a command: printed as one line, exit code 2."""


def emit(args: argparse.Namespace, result: dict[str, Any], text: str | None = None) -> None:
    """Print a command's result: readable text, and with --json one JSON object as the last line."""
    if text:
        print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout)
    if getattr(args, "json", False):
        print(json.dumps(result, default=str, sort_keys=True))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backup_lambda", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (BackupError, ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"status": "error", "error": str(exc)}))
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
