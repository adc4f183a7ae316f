"""The function as it ships: its runtime and handler, its code, the SDK it runs on and its environment.

- The code: exactly the handler's import closure, the ``backup_lambda`` package (``code_archive``).
- The SDK: boto3, botocore and Powertools as ``requirements/lambda.txt`` pins them, in a layer of its own
  (``infra/sdk_layer.py`` builds the zip; ``sdk_layer_archive`` hands it to Pulumi), so that the code
  archive stays the engine and nothing else, and a new SDK is a new layer version.

Pure except for wrapping the code and the layer in Pulumi archives: ``BackupFunction``
(``infra/backup_function.py``) declares the function and its layer with these.
"""

from __future__ import annotations

import modulefinder
import os
from pathlib import Path

import pulumi

from backup_lambda import contract
from infra.config import BackupConfig
from infra.sdk_layer import SdkLayer

HANDLER = "backup_lambda.handler.lambda_handler"
HANDLER_MODULE = HANDLER.rpartition(".")[0]  # backup_lambda.handler
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"


def engine_files(project_dir: Path, handler_module: str = HANDLER_MODULE) -> list[Path]:
    """The source files of the handler's import closure: the handler's module and every module of the
    project it imports, directly or not, at import time or inside a function.

    Found by reading the imports (``modulefinder``: nothing is imported or run); the standard library and
    the SDK (boto3, botocore, Powertools: the function's layer) are not the project's and are left out.
    The closure must stay within the handler's package: the engine never imports the operator tooling.
    """
    package = handler_module.split(".")[0]
    root = (project_dir / package).resolve()
    for required in ("__init__.py", f"{handler_module.split('.', 1)[1].replace('.', '/')}.py"):
        if not (root / required).is_file():
            raise FileNotFoundError(f"{root / required} is missing: the function runs {HANDLER}")
    finder = modulefinder.ModuleFinder(path=[str(project_dir)])
    finder.import_hook(handler_module)
    files = []
    for name, module in sorted(finder.modules.items()):
        path = Path(module.__file__).resolve() if module.__file__ else None
        if path is None or not path.is_relative_to(project_dir.resolve()):
            continue  # a built-in module, or one of the runtime's
        if not path.is_relative_to(root):
            raise ValueError(f"{handler_module} imports {name} ({path}), which is outside {package}/: "
                             "the function's archive holds its own package only")
        files.append(path)
    return files


def code_archive(project_dir: Path) -> pulumi.AssetArchive:
    """The function's code: exactly the handler's import closure (``engine_files``), with the package
    at the archive's root so that the handler imports as ``backup_lambda.handler``. Nothing else of
    ``backup_lambda/`` ships (not ``__main__.py``, the shim into the operator's command line), and no
    byte-code cache."""
    project = project_dir.resolve()
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        # Relative to the working directory (the project's, under `pulumi up`) so that the state does
        # not depend on where the repository is checked out.
        path.relative_to(project).as_posix(): pulumi.FileAsset(os.path.relpath(path))
        for path in engine_files(project_dir)
    }
    return pulumi.AssetArchive(assets)


def sdk_layer_archive(layer: SdkLayer) -> pulumi.FileArchive:
    """The layer's zip as Pulumi uploads it: a ``.zip`` path archive is hashed and sent as its bytes,
    unchanged, so the digest Lambda reports (``CodeSha256``) is the zip's own. The path is relative to
    the working directory (the project's, under ``pulumi up``), as the code's are."""
    return pulumi.FileArchive(os.path.relpath(layer.path))


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
