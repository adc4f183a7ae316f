"""What the program deploys runs on its own: the function's archive and its SDK layer, as the program
declares them (under the mocks), hold everything the handler imports.

A clean interpreter (``python -I -S``: no site-packages, no PYTHONPATH, no user site) gets the function's
archive extracted and the layer's ``python/`` as its whole path, as Lambda lays them out (``/var/task``,
``/opt/python``), and imports the handler: botocore, boto3 and Powertools must come from the layer, at
the lock's versions, and nothing but the standard library from anywhere else. (Lambda's python3.13 also
has its own boto3, after ``/opt/python`` on its path: the runtime itself is not here.) The interpreter is
the one running the tests: Python 3.13 in CI, as on Lambda.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pulumi
import pytest

import infra.sdk_layer
from infra import config as infra_config
from infra.function_package import ARCHITECTURE, RUNTIME
from infra.sdk_layer import LayerBuildError, build_sdk_layer
from infra.sdk_lock import parse_lock
from tests.support.pulumi_mocks import ProgramRun, run_main_program, stack_file_config

ROOT = Path(__file__).resolve().parents[2]
LAYER = "aws:lambda/layerVersion:LayerVersion"
FUNCTION = "aws:lambda/function:Function"
PINS = {pin.name: pin.version for pin in parse_lock((ROOT / "requirements" / "lambda.txt").read_text())}

# Run by the clean interpreter: import the handler, then say where every module came from.
IMPORT_THE_HANDLER = """
import json, sys, sysconfig
function, layer = sys.argv[1:3]
sys.path[:0] = [function, layer]
import backup_lambda.handler
import aws_lambda_powertools, boto3, botocore, botocore.session
from aws_lambda_powertools.shared.version import VERSION as powertools_version
model = botocore.session.get_session().get_service_model("cognito-idp")
stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
files = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())}
print(json.dumps({
    "files": {k: v for k, v in files.items() if v},
    "versions": {"botocore": botocore.__version__, "boto3": boto3.__version__,
                 "aws-lambda-powertools": powertools_version},
    "operations": len(model.operation_names),
    "stdlib": sorted(stdlib),
    "path": sys.path,
}))
"""


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run_main_program(ROOT / "Pulumi.prod.yaml")


def extract(program: ProgramRun, into: Path) -> tuple[Path, Path]:
    """The function's archive and its layer as Lambda lays them out: (``/var/task``, ``/opt/python``)."""
    function, opt = into / "task", into / "opt"
    for name, asset in program.one(FUNCTION)["code"].assets.items():
        (function / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / asset.path, function / name)
    with zipfile.ZipFile(ROOT / program.one(LAYER)["code"].path) as z:
        z.extractall(opt)
    return function, opt / "python"


def import_the_handler(function: Path, layer: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-S", "-c", IMPORT_THE_HANDLER, str(function), str(layer)],
                          cwd=function, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def artifact(program, tmp_path_factory) -> tuple[Path, Path]:
    return extract(program, tmp_path_factory.mktemp("artifact"))


@pytest.fixture(scope="module")
def imported(artifact) -> dict:
    result = import_the_handler(*artifact)
    assert result.returncode == 0, f"the handler does not import from the artifact alone:\n{result.stderr}"
    return json.loads(result.stdout)


def test_the_handler_imports_from_the_artifact_alone(imported, artifact):
    function, layer = artifact
    outside = {name: f for name, f in imported["files"].items()
               if not any(Path(f).is_relative_to(root) for root in (function, layer, *map(Path, imported["stdlib"])))}

    assert outside == {}, "modules loaded from outside the artifact and the standard library"
    assert imported["path"][:2] == [str(function), str(layer)]
    assert Path(imported["files"]["backup_lambda.handler"]).is_relative_to(function)


@pytest.mark.parametrize("module", ["botocore", "boto3", "aws_lambda_powertools", "s3transfer", "dateutil"])
def test_the_sdk_comes_from_the_layer(imported, artifact, module):
    _, layer = artifact

    assert Path(imported["files"][module]) == layer / module / "__init__.py"


def test_the_sdk_is_the_locks_and_knows_cognito(imported):
    assert imported["versions"] == {name: PINS[name] for name in ("botocore", "boto3", "aws-lambda-powertools")}
    assert imported["operations"] > 100  # the service model of cognito-idp, read from the layer's data


def test_a_missing_module_of_the_layer_fails_the_import(artifact, tmp_path):
    """What the import proves: drop one small dependency of a dependency (six, for python-dateutil, for
    botocore) and the handler no longer imports."""
    function, layer = artifact
    without_six = tmp_path / "python"
    shutil.copytree(layer, without_six, ignore=lambda folder, _: ["six.py"] if Path(folder) == layer else [])

    result = import_the_handler(function, without_six)

    assert result.returncode != 0 and "No module named 'six'" in result.stderr


# --- the program declares the layer, and the function runs on it and no other -------------------------


def test_the_program_publishes_the_built_layer_for_python_313_on_arm64(program):
    layer = program.declared(LAYER, "backup-sdk")
    built = build_sdk_layer(ROOT)
    inputs = layer.inputs

    assert inputs["layerName"] == "cognito-backup-prod-sdk"
    assert (ROOT / inputs["code"].path).resolve() == built.path.resolve()
    assert not Path(inputs["code"].path).is_absolute(), "the state would depend on where the repository is"
    assert inputs["sourceCodeHash"] == built.base64_sha256  # a new zip replaces the version
    assert inputs["compatibleRuntimes"] == [RUNTIME] == ["python3.13"]
    assert inputs["compatibleArchitectures"] == [ARCHITECTURE] == ["arm64"]
    assert inputs["description"] == built.description and "botocore 1.44.8" in inputs["description"]
    assert layer.urn == ("urn:pulumi:prod::cognito-backup::cognito-backup:infra:BackupFunction"
                         "$aws:lambda/layerVersion:LayerVersion::backup-sdk")


def test_the_function_runs_on_that_layer_and_no_other(program):
    [layer] = program.of_type(LAYER)

    assert program.one(FUNCTION)["layers"] == [layer.state["arn"]]
    assert "017000801446" not in json.dumps(program.one(FUNCTION)["layers"])  # not the managed Powertools layer


def test_a_layer_that_cannot_be_built_stops_the_program_before_anything_is_created(monkeypatch):
    raw = {f"{k}": v if isinstance(v, str) else json.dumps(v)
           for k, v in stack_file_config(ROOT / "Pulumi.staging.yaml").items()}
    monkeypatch.setattr(infra_config, "load_config", lambda: infra_config.parse_config(raw, stack="staging"))

    def no_network(*_args, **_kwargs):
        raise LayerBuildError("cannot build the function's SDK layer: cannot reach the package index")

    monkeypatch.setattr(infra.sdk_layer, "build_sdk_layer", no_network)
    created = []
    monkeypatch.setattr(pulumi.CustomResource, "__init__", lambda self, *a, **kw: created.append(a))
    import runpy

    with pytest.raises(pulumi.RunError, match="cannot reach the package index"):
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    assert created == []
