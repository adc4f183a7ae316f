"""The function as it ships: its runtime and handler, its code and its environment.

Pure except for wrapping the code in a Pulumi archive: ``BackupFunction`` (``infra/backup_function.py``)
declares the function with these.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from backup_lambda import contract
from infra.config import BackupConfig

HANDLER = "backup_lambda.handler.lambda_handler"
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
CODE_DIR = "backup_lambda"


def code_archive(project_dir: Path, code_dir: str = CODE_DIR) -> pulumi.AssetArchive:
    """The function's code: ``backup_lambda/`` at the archive's root (so that the handler imports as
    ``backup_lambda.handler``), without byte-code caches."""
    root = project_dir / code_dir
    for required in ("__init__.py", "handler.py"):
        if not (root / required).is_file():
            raise FileNotFoundError(f"{root / required} is missing: the function runs {HANDLER}")
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.is_dir() or "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
            continue
        # Relative to the working directory (the project's, under `pulumi up`) so that the state does
        # not depend on where the repository is checked out.
        assets[relative.as_posix()] = pulumi.FileAsset(os.path.relpath(path))
    return pulumi.AssetArchive(assets)


def function_environment(cfg: BackupConfig, bucket_name: str, kms_key_arn: str) -> dict[str, str]:
    """The snapshot Lambda's environment (its contract with the engine: ``backup_lambda.contract``)."""
    return {
        contract.ENV_BUCKET: bucket_name,
        contract.ENV_KMS_KEY: kms_key_arn,
        contract.ENV_PREFIX: cfg.snapshot_prefix,
        contract.ENV_EXCLUDE_ATTRIBUTES: ",".join(cfg.exclude_attributes),
        contract.ENV_REQUEST_BUDGET: f"{cfg.request_budget:g}",
        contract.ENV_SERVICE: contract.SERVICE_NAME,
        contract.ENV_NAMESPACE: contract.METRICS_NAMESPACE,
        "LOG_LEVEL": "INFO",
    }
