"""Rebuild a user pool from a snapshot (``python -m cognito_backup restore``)."""

from cognito_backup.restore.cli import add_arguments, run
from cognito_backup.restore.decisions import AUTO_IMPORT_FROM
from cognito_backup.restore.followups import link_provider
from cognito_backup.restore.options import RestoreError, RestoreOptions, load_secrets
from cognito_backup.restore.report import format_report
from cognito_backup.restore.runner import Restorer, restore_snapshot

__all__ = ["AUTO_IMPORT_FROM", "RestoreError", "RestoreOptions", "Restorer", "add_arguments", "format_report",
           "link_provider", "load_secrets", "restore_snapshot", "run"]
