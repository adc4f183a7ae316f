"""The operator's tooling for cognito-backup: snapshot, list, verify, diff, restore, recover, drill, invoke.

Run from a laptop or CI (``python -m cognito_backup COMMAND``), never shipped with the function. It
imports the engine (``backup_lambda``); the engine never imports it.
"""
