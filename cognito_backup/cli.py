"""``python -m cognito_backup COMMAND``: the operator's command line.

Every command is a module with ``add_arguments(parser)`` and ``run(args) -> int``. Only the module of
the command being run is imported, so a command that cannot load breaks nothing but itself. Human-
readable progress goes to stderr; with ``--json`` the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from types import ModuleType

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import HTML_NOTE, BackupError, shorten_html
from cognito_backup.output import emit, progress

PROG = "python -m cognito_backup"
EPILOG = """\
Every command uses the standard AWS environment (profile, region, AWS_ENDPOINT_URL). To try them with no
AWS account, run a local emulator in another shell: `python3 tasks.py emulator` (a moto server with the
Cognito calls moto lacks filled in) prints the AWS_ENDPOINT_URL and the fake credentials to export. A
stock moto_server lacks some of the calls a snapshot makes and answers them with an error page.
"""

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
    "import-cbr": ("cognito_backup.import_cbr", "turn a cognito-backup-restore (cbr) file into a snapshot"),
}

__all__ = ["COMMANDS", "build_parser", "emit", "error_text", "main", "progress"]


def build_parser(command: str | None = None, module: ModuleType | None = None) -> argparse.ArgumentParser:
    """The parser: every command is listed, only ``command`` (from ``module``) gets its arguments."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0].strip("`: "), epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        description = (module.__doc__ or help_text).strip() if name == command and module else help_text
        p = sub.add_parser(name, help=help_text, description=description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        if name == command and module is not None:
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def error_text(exc: BaseException) -> str:
    """The error line: the error's text, but a server's HTML page in it shortened to its status and first
    line, with a pointer to the emulator when AWS_ENDPOINT_URL is set."""
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    text = shorten_html(str(exc), status)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if HTML_NOTE in text and endpoint:  # shortened here or by the engine
        text += (f"\n  AWS_ENDPOINT_URL is {endpoint}: a stock moto_server answers so for the calls it lacks; "
                 "`python3 tasks.py emulator` runs one with them filled in")
    return text


def _command_of(argv: list[str]) -> str | None:
    """The command named on the line: its first word that is not an option."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(argv)
    module = None
    if command in COMMANDS:
        try:
            module = importlib.import_module(COMMANDS[command][0])
        except Exception as exc:  # one broken command must not take the others down
            print(f"error: the {command} command cannot be loaded ({type(exc).__name__}: {exc})", file=sys.stderr)
            return 2
    args = build_parser(command, module).parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (BackupError, ClientError, BotoCoreError) as exc:
        text = error_text(exc)
        print(f"error: {text}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"status": "error", "error": text}))
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
