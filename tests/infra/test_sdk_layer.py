"""The function's SDK layer (infra/sdk_layer.py): what python3.13 on arm64 installs from the lock, the
same bytes from the same lock, another layer from another lock, and a build that fails says why.

Builds run pip against the package index (PyPI): pip's cache makes a repeat take seconds. The project's
own layer is built once (and cached under build/sdk-layer/, as the program caches it); the tests that
must build afresh build into a temporary folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import sdk_layer
from infra.sdk_layer import LayerBuildError, build_sdk_layer, cache_key
from infra.sdk_layer_files import ZIP_FILE_MODE, ZIP_TIMESTAMP, zip_tree
from infra.sdk_lock import LockError, parse_lock, runtime_pins

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lambda.txt"
SHIPPED = {"aws-lambda-powertools", "boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "six",
           "typing-extensions", "urllib3"}
HASH = "sha256:" + "0" * 64


@pytest.fixture(scope="session")
def layer() -> sdk_layer.SdkLayer:
    return build_sdk_layer(ROOT)


@pytest.fixture(scope="session")
def fresh(tmp_path_factory) -> tuple[sdk_layer.SdkLayer, sdk_layer.SdkLayer]:
    """Two builds of the project's lock, each into a new folder: nothing cached."""
    return tuple(build_sdk_layer(ROOT, build_dir=tmp_path_factory.mktemp(f"build-{n}")) for n in "ab")


@pytest.fixture(scope="session")
def entries(layer) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(layer.path) as z:
        return z.infolist()


def lock_without(package: str, text: str) -> str:
    """A lock with one package's entry (its pin, hashes and comments) left out."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line and not line[0].isspace():
            skipping = line.startswith(f"{package}==")
        if not skipping:
            kept.append(line)
    return "".join(kept)


# --- what the lock says the runtime installs ---------------------------------------------------------


def test_the_layer_holds_exactly_what_the_lock_pins_for_the_runtime(layer):
    pins = {pin.name: pin.version for pin in parse_lock(LOCK.read_text())}

    assert {pin.name: pin.version for pin in layer.pins} == pins
    assert set(pins) == SHIPPED
    assert layer.version_of("botocore") == layer.version_of("boto3")


def test_markers_are_decided_for_python_313_on_arm64_whatever_python_builds():
    lock = (f'six==1.16.0 ; python_version < "3.12" --hash={HASH}\n'
            f'six==1.17.0 ; python_version >= "3.12" --hash={HASH}\n'
            f'pywin32==311 ; sys_platform == "win32" --hash={HASH}\n'
            f'greenlet==3.2 ; platform_machine == "x86_64" --hash={HASH}\n'
            f'urllib3==2.8.0 ; platform_machine == "aarch64" and sys_platform == "linux" --hash={HASH}\n')

    assert [(p.name, p.version) for p in runtime_pins(lock)] == [("six", "1.17.0"), ("urllib3", "2.8.0")]
    assert runtime_pins(lock)[0].requirement_line() == f"six==1.17.0 --hash={HASH}"  # no marker for pip


@pytest.mark.parametrize(("lock", "problem"), [
    (f'six==1.17.0 ; python_full_version < "3.13.4" --hash={HASH}\n', "patch release"),
    (f"six==1.17.0 --hash={HASH}\nsix==1.16.0 --hash={HASH}\n", "pinned twice"),
    (f"six>=1.16 --hash={HASH}\n", "not pinned to one version"),
    ("six==1.17.0\n", "no sha256 hash"),
    (f"six==1.17.0 --index-url=https://example.org --hash={HASH}\n", "not a hashed pin"),
    (f'six==1.17.0 ; python_version < "3.12" --hash={HASH}\n', "nothing applies"),
])
def test_a_lock_the_runtime_cannot_install_as_it_is_is_refused(lock, problem):
    with pytest.raises(LockError, match=problem):
        runtime_pins(lock)


def test_a_refused_lock_fails_the_build_naming_the_lock(tmp_path):
    (tmp_path / "lambda.txt").write_text("boto3>=1.44\n")

    with pytest.raises(LayerBuildError, match=r"cannot be installed: .*lambda.txt:1: boto3 is not pinned to one"):
        build_sdk_layer(lock=tmp_path / "lambda.txt", build_dir=tmp_path / "build")


# --- same lock, same bytes -------------------------------------------------------------------------


def test_two_builds_from_the_same_lock_give_the_same_bytes_as_the_cache_holds(fresh, layer):
    first, second = fresh

    assert first.path != second.path and first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 == layer.sha256, (
        "a fresh build differs from build/sdk-layer/'s: the builder changed, bump BUILDER_VERSION")
    assert first.path.name == layer.path.name == f"sdk-{cache_key(LOCK.read_bytes())[:24]}.zip"


def test_a_changed_lock_gives_another_layer(tmp_path):
    """Two small locks (of the function's own pins, so that the builds are quick): one package more is
    another cache entry and other bytes; the same lock again is the same bytes."""
    small = "".join(line + "\n" for line in (pin.requirement_line() for pin in parse_lock(LOCK.read_text())
                                             if pin.name in ("six", "jmespath")))
    (tmp_path / "two.txt").write_text(small)
    (tmp_path / "one.txt").write_text(lock_without("jmespath", small))

    two = build_sdk_layer(ROOT, lock=tmp_path / "two.txt", build_dir=tmp_path / "build")
    one = build_sdk_layer(ROOT, lock=tmp_path / "one.txt", build_dir=tmp_path / "build")
    again = build_sdk_layer(ROOT, lock=tmp_path / "two.txt", build_dir=tmp_path / "again")

    assert one.sha256 != two.sha256 == again.sha256 and one.path.name != two.path.name
    with zipfile.ZipFile(one.path) as z:
        assert "python/six.py" in z.namelist() and not [n for n in z.namelist() if "jmespath" in n]


def test_a_cached_layer_is_not_rebuilt(tmp_path, layer, monkeypatch):
    build_dir = tmp_path / "build"
    build_dir.mkdir()
    (build_dir / layer.path.name).write_bytes(layer.path.read_bytes())
    monkeypatch.setattr(sdk_layer, "_build", lambda *a: pytest.fail("rebuilt a layer the cache holds"))

    assert build_sdk_layer(ROOT, build_dir=build_dir).sha256 == layer.sha256
    assert [p.name for p in build_dir.iterdir()] == [layer.path.name]  # no temporary folder left behind


def test_the_zip_has_sorted_entries_one_timestamp_one_mode_and_no_compression(entries):
    names = [e.filename for e in entries]

    assert names == sorted(names) and len(names) == len(set(names))
    assert {e.date_time for e in entries} == {ZIP_TIMESTAMP}
    assert {e.external_attr >> 16 for e in entries} == {ZIP_FILE_MODE}
    assert {e.create_system for e in entries} == {3}
    assert {e.compress_type for e in entries} == {zipfile.ZIP_STORED}
    assert not [e for e in entries if e.is_dir()]


def test_zipping_a_tree_ignores_when_and_where_its_files_were_made(tmp_path):
    """What makes the bytes the same on another machine: not the files' times, modes or order on disk."""
    tree = tmp_path / "site"
    (tree / "pkg").mkdir(parents=True)
    for name in ("b.py", "a.py", "pkg/__init__.py"):
        (tree / name).write_text(f"# {name}\n")
    zip_tree(tree, tmp_path / "one.zip", root="python")
    for i, path in enumerate(sorted(tree.rglob("*.py"))):
        path.chmod(0o755 if i % 2 else 0o600)
        os.utime(path, (1_700_000_000 + i * 86_400,) * 2)  # other days than they were made
    zip_tree(tree, tmp_path / "two.zip", root="python")

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert zipfile.ZipFile(tmp_path / "one.zip").namelist() == ["python/a.py", "python/b.py", "python/pkg/__init__.py"]


def test_nothing_in_the_layer_is_the_build_machines(fresh):
    built = fresh[0]
    data = built.path.read_bytes()
    with zipfile.ZipFile(built.path) as z:
        names = z.namelist()

    assert all(n.startswith("python/") for n in names)
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n or n.startswith("python/bin/")]
    assert not [n for n in names if n.endswith("/direct_url.json")]
    for trace in (str(built.path.parent), sys.prefix, sys.executable):
        assert trace.encode() not in data, trace


def test_each_record_lists_the_files_its_package_ships_with_their_hashes(layer):
    with zipfile.ZipFile(layer.path) as z:
        names = set(z.namelist())
        record = z.read("python/botocore-1.44.8.dist-info/RECORD").decode().splitlines()
    listed = {row.split(",")[0] for row in record}

    assert {f"python/{p}" for p in listed} <= names
    assert "botocore/__init__.py" in listed and "botocore-1.44.8.dist-info/RECORD" in listed
    assert record == sorted(record[:-1]) + [record[-1]] and record[-1] == "botocore-1.44.8.dist-info/RECORD,,"
    with zipfile.ZipFile(layer.path) as z:
        jmespath_record = z.read("python/jmespath-1.1.0.dist-info/RECORD").decode()
    assert "bin/" not in jmespath_record  # the console script is left out, and out of its RECORD


def test_the_layer_fits_what_lambda_takes_in_one_upload(layer, entries):
    assert layer.size < sdk_layer.MAX_ZIP_BYTES
    assert sum(e.file_size for e in entries) < sdk_layer.MAX_UNZIPPED_BYTES
    assert layer.description.startswith("cognito-backup SDK: boto3 1.44.8, botocore 1.44.8, aws-lambda-powertools")
    assert len(layer.description) <= 256


# --- a build that fails says why -----------------------------------------------------------------


def test_a_wheel_that_does_not_match_its_hash_fails_the_build(tmp_path):
    (tmp_path / "lambda.txt").write_text(f"six==1.17.0 --hash={HASH}\n")

    with pytest.raises(LayerBuildError, match="does not match its hash in .*lambda.txt") as failed:
        build_sdk_layer(lock=tmp_path / "lambda.txt", build_dir=tmp_path / "build")
    assert "pip said:" in str(failed.value)


def test_a_compiled_wheel_fails_the_build(tmp_path):
    """PyYAML's lock entry (the program's) has wheels for cp313 on aarch64: not the pure kind."""
    [pyyaml] = [p for p in parse_lock((ROOT / "requirements" / "program.txt").read_text()) if p.name == "pyyaml"]
    (tmp_path / "lambda.txt").write_text(pyyaml.requirement_line() + "\n")

    with pytest.raises(LayerBuildError, match=r"pure-Python packages only.*pyyaml .* is not a pure-Python wheel "
                                              r"\(Tag: cp313-cp313-manylinux"):
        build_sdk_layer(lock=tmp_path / "lambda.txt", build_dir=tmp_path / "build")
    assert list((tmp_path / "build").iterdir()) == []  # nothing cached, no temporary folder left


def test_no_network_fails_the_build_saying_so(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no configured mirror or local wheels
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")
    monkeypatch.setenv("PIP_TIMEOUT", "2")

    with pytest.raises(LayerBuildError, match="cannot reach the package index"):
        build_sdk_layer(ROOT, build_dir=tmp_path / "build")


@pytest.mark.parametrize(("pip_said", "diagnosis"), [
    ("/x/python: No module named pip", "pip is not installed in /x/python"),
    ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n    six==1.17.0 from ...",
     "does not match its hash in requirements/lambda.txt"),
    ("WARNING: Retrying ... after connection broken by 'NewConnectionError(...)': /simple/six/\n"
     "ERROR: No matching distribution found for six==1.17.0", "cannot reach the package index"),
    ("ERROR: Could not find a version that satisfies the requirement six==1.17.0 (from versions: none)\n"
     "ERROR: No matching distribution found for six==1.17.0", "no version at all of six==1.17.0"),
    ("ERROR: Could not find a version that satisfies the requirement pyyaml==6.0.4 (from versions: 6.0.3)\n"
     "ERROR: No matching distribution found for pyyaml==6.0.4", "no wheel of pyyaml==6.0.4 for python3.13"),
    ("ERROR: something else", "pip failed (exit 2) installing requirements/lambda.txt"),
])
def test_what_pip_said_is_read_into_a_diagnosis(pip_said, diagnosis):
    told = sdk_layer.diagnosis(pip_said, 2, python="/x/python", source="requirements/lambda.txt", target="3.13")

    assert diagnosis in told


def test_a_python_without_pip_fails_the_build_saying_so(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)

    with pytest.raises(LayerBuildError, match=r"pip is not installed in .*venv.*python -m venv \.venv"):
        build_sdk_layer(ROOT, build_dir=tmp_path / "build", python=str(tmp_path / "venv" / "bin" / "python"))


def test_the_builders_one_dependency_is_in_the_programs_lock():
    """The program builds the layer, with packaging (the lock's markers and pins): pip's install of
    requirements/program.txt into .venv must hold it."""
    program = {pin.name for pin in parse_lock((ROOT / "requirements" / "program.txt").read_text())}

    assert "packaging" in program
