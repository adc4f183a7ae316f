"""The function's archive ships exactly its engine: the modules the handler imports, directly or not.

The archive is taken from the Lambda function the real program declares (under the mocks), and the
handler's import closure is computed apart from infra/function_package.py: a fresh interpreter
imports the handler and lists the project's modules it loaded. Both ways: a module shipped that the
handler does not import is dead weight, or the operator tooling riding along
(``backup_lambda/__main__.py`` is a shim into ``cognito_backup``); a module of the closure not shipped
would fail the function at its first import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.function_package import HANDLER_MODULE, code_archive
from tests.support.pulumi_mocks import ProgramRun, run_main_program

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("backup_lambda", "cognito_backup", "infra", "bootstrap", "demo", "tests")


def loaded_by_importing(module: str) -> set[str]:
    """The project's modules a fresh interpreter has loaded once ``module`` is imported."""
    script = (f"import {module}, sys, json; "
              f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {PROJECT_PACKAGES!r})))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def module_name(archive_path: str) -> str:
    """``backup_lambda/handler.py`` -> ``backup_lambda.handler``; a package's ``__init__.py`` is the package."""
    assert archive_path.endswith(".py"), f"the archive ships {archive_path}, which is not a module"
    return archive_path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


@pytest.fixture(scope="module")
def closure() -> set[str]:
    return loaded_by_importing(HANDLER_MODULE)


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run_main_program(ROOT / "Pulumi.prod.yaml")


@pytest.fixture(scope="module")
def archive(program) -> dict:
    return program.one("aws:lambda/function:Function")["code"].assets


def test_the_handler_imports_nothing_of_the_operator_tooling(closure):
    assert HANDLER_MODULE in closure
    assert {m for m in closure if m.split(".")[0] != "backup_lambda"} == set()


def test_every_module_shipped_is_in_the_handlers_import_closure(archive, closure):
    shipped = {module_name(path) for path in archive}

    assert shipped - closure == set(), "shipped but never imported by the handler"
    assert "backup_lambda.__main__" not in shipped


def test_every_module_of_the_closure_is_shipped(archive, closure):
    shipped = {module_name(path) for path in archive}

    assert closure - shipped == set(), "imported by the handler but missing from the archive"


def test_each_entry_is_the_repositorys_file_of_that_name(archive):
    for path, asset in archive.items():
        assert (ROOT / asset.path).resolve() == (ROOT / path).resolve(), path
        assert not Path(asset.path).is_absolute(), "the state would depend on where the repository is checked out"


def test_the_code_is_the_backup_lambda_package_without_caches(archive):
    names = set(archive)

    assert {"backup_lambda/__init__.py", "backup_lambda/handler.py", "backup_lambda/permissions.py"} <= names
    assert all(n.startswith("backup_lambda/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "backup_lambda"
    (package / "__pycache__").mkdir(parents=True)
    for name, text in files.items():
        (package / name).write_text(text)
    return package


def test_the_archive_puts_the_package_at_its_root_and_needs_the_handler(tmp_path, monkeypatch):
    package = _package(tmp_path, {"__init__.py": "", "handler.py": "", "__pycache__/handler.cpython-313.pyc": "",
                                  "stale.pyc": ""})
    monkeypatch.chdir(tmp_path)

    assert set(code_archive(tmp_path).assets) == {"backup_lambda/__init__.py", "backup_lambda/handler.py"}
    (package / "handler.py").unlink()
    with pytest.raises(FileNotFoundError, match="handler.py is missing"):
        code_archive(tmp_path)


def test_the_archive_follows_the_imports_and_leaves_the_rest(tmp_path, monkeypatch):
    _package(tmp_path, {
        "__init__.py": "",
        "handler.py": "import json\nfrom backup_lambda import used\n\ndef lambda_handler(event, context):\n"
                      "    from backup_lambda.lazy import later\n    return later(used.x)\n",
        "used.py": "from . import deeper\nx = deeper.y\n",
        "deeper.py": "y = 1\n",
        "lazy.py": "def later(v):\n    return v\n",
        "unused.py": "",
        "__main__.py": "from cognito_backup.cli import main\n",
    })
    monkeypatch.chdir(tmp_path)

    assert set(code_archive(tmp_path).assets) == {f"backup_lambda/{m}.py" for m in (
        "__init__", "handler", "used", "deeper", "lazy")}


def test_a_handler_that_imports_another_project_package_is_refused(tmp_path, monkeypatch):
    _package(tmp_path, {"__init__.py": "", "handler.py": "from cognito_backup import cli\n"})
    (tmp_path / "cognito_backup").mkdir()
    (tmp_path / "cognito_backup" / "__init__.py").write_text("")
    (tmp_path / "cognito_backup" / "cli.py").write_text("")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ValueError, match="imports cognito_backup.*outside backup_lambda/"):
        code_archive(tmp_path)
