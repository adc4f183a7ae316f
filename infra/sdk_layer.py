"""The function's SDK as a Lambda layer: boto3, botocore and Powertools with their dependencies,
exactly as ``requirements/lambda.txt`` pins them, so that the function runs on the SDK the tests run
with rather than on whatever boto3 the runtime carries (which lags the service: an API it does not
know leaves its snapshot section ``unavailable``), and no AWS-managed layer version has to be guessed.

``build_sdk_layer`` makes the layer's zip (files under ``python/``, which Lambda puts on ``sys.path``
as ``/opt/python``), reproducibly: the same lock gives the same bytes, on any machine.

- The lock's lines that apply to python3.13 on arm64 (``infra/sdk_lock.py``: markers are decided for
  the runtime, not for the Python that runs the program) are installed by pip with every hash checked,
  wheels only, nothing resolved and no byte-code (``pip install --require-hashes --no-deps
  --only-binary=:all: --no-compile --target ...``, for Python 3.13, cp313, manylinux2014_aarch64).
- Each must be a pure-Python wheel (``py3-none-any``): the layer is built on any machine (a laptop, an
  x86 runner) and must be the same there; a compiled wheel would have to be the runtime's platform's.
- What pip writes that is the build machine's, not the packages', is left out or rewritten
  (``infra/sdk_layer_files.py``): console scripts (their ``#!`` names this Python), ``direct_url.json``,
  and each ``RECORD`` (rebuilt from the files that ship).
- The zip: entries sorted, each with the same timestamp (1980-01-01) and mode (0644), stored, not
  deflated: deflate's output depends on the zlib the Python links (zlib-ng, Apple's), and botocore's
  service models, most of the bytes, are gzip files already.

The zip is cached under ``build/sdk-layer/`` (git-ignored), named by a digest of the lock's bytes, the
target and ``BUILDER_VERSION``: a lock that did not change is not rebuilt, and a build is written to a
temporary file and renamed into place, so that parallel builds (pytest-xdist, two terminals) never see
half a zip. ``python -m infra.sdk_layer`` builds it and says what it holds.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.sdk_layer_files import LayerBuildError, check_pure_wheels, normalise_site, tree_size, zip_tree
from infra.sdk_lock import TARGET_PYTHON, LockError, Pin, runtime_pins

PROJECT_DIR = Path(__file__).resolve().parent.parent
LOCK = Path("requirements/lambda.txt")  # relative to the project
BUILD_DIR = Path("build/sdk-layer")
# Bump when the builder would make other bytes from the same lock (another layout, another zip).
BUILDER_VERSION = 1
LAYER_ROOT = "python"  # Lambda extracts a layer to /opt; /opt/python is on the runtime's sys.path
# What pip is told to install for: the runtime python3.13 on arm64.
PIP_TARGET = ("--python-version", TARGET_PYTHON, "--implementation", "cp",
              "--abi", f"cp{TARGET_PYTHON.replace('.', '')}", "--platform", "manylinux2014_aarch64")
# Lambda's quotas: a zip uploaded directly (PublishLayerVersion's ZipFile), and a function with its
# layers, unzipped.
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

__all__ = ["LayerBuildError", "SdkLayer", "build_sdk_layer"]


@dataclass(frozen=True)
class SdkLayer:
    """A built layer: its zip, the zip's digest and size, and the packages it holds."""

    path: Path
    sha256: str  # hex digest of the zip's bytes
    size: int
    pins: tuple[Pin, ...]

    @property
    def base64_sha256(self) -> str:
        """The digest as Lambda reports it (``CodeSha256``) and as ``source_code_hash`` takes it."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    def version_of(self, package: str) -> str:
        return next(pin.version for pin in self.pins if pin.name == package)

    @property
    def description(self) -> str:
        """What the layer says it is (Lambda allows 256 characters)."""
        shown = ", ".join(f"{p} {self.version_of(p)}" for p in ("boto3", "botocore", "aws-lambda-powertools")
                          if any(pin.name == p for pin in self.pins))
        return f"cognito-backup SDK: {shown} (requirements/lambda.txt; sha256 {self.sha256[:12]})"[:256]


def cache_key(lock_bytes: bytes) -> str:
    digest = hashlib.sha256()
    for part in (f"sdk-layer {BUILDER_VERSION}", " ".join(PIP_TARGET), LAYER_ROOT):
        digest.update(part.encode() + b"\0")
    digest.update(lock_bytes)
    return digest.hexdigest()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_sdk_layer(project_dir: Path = PROJECT_DIR, *, lock: Path | None = None, build_dir: Path | None = None,
                    python: str = sys.executable) -> SdkLayer:
    """The layer of ``lock`` (default: the project's ``requirements/lambda.txt``), from the cache under
    ``build_dir`` or built into it. Raises ``LayerBuildError`` saying what is wrong."""
    lock = lock or project_dir / LOCK
    build_dir = build_dir or project_dir / BUILD_DIR
    try:
        lock_bytes = lock.read_bytes()
    except OSError as error:
        raise LayerBuildError(f"cannot read the function's runtime lock {lock}: {error}") from None
    source = os.path.relpath(lock, project_dir) if lock.is_relative_to(project_dir) else str(lock)
    try:
        pins = tuple(runtime_pins(lock_bytes.decode(), source))
    except (LockError, UnicodeDecodeError) as error:
        raise LayerBuildError(f"the function's runtime lock cannot be installed: {error}") from None
    zip_path = build_dir / f"sdk-{cache_key(lock_bytes)[:24]}.zip"
    if not zip_path.is_file():
        build_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=build_dir, prefix=".building-") as work:
            built = _build(pins, Path(work), source, python)
            os.replace(built, zip_path)  # atomic: a reader sees no zip or the whole of one
    return SdkLayer(zip_path, _sha256_of(zip_path), zip_path.stat().st_size, pins)


def _build(pins: tuple[Pin, ...], work: Path, source: str, python: str) -> Path:
    requirements = work / "requirements.txt"
    requirements.write_text("".join(f"{pin.requirement_line()}\n" for pin in pins))
    site = work / "site"
    _pip_install(python, requirements, site, source)
    check_pure_wheels(site, pins)
    normalise_site(site)
    unzipped = tree_size(site)
    if unzipped > MAX_UNZIPPED_BYTES:
        raise LayerBuildError(f"the SDK is {unzipped / 2**20:.0f} MiB unzipped: more than Lambda allows a "
                              f"function and its layers ({MAX_UNZIPPED_BYTES / 2**20:.0f} MiB)")
    zip_path = work / "layer.zip"
    zip_tree(site, zip_path, root=LAYER_ROOT)
    size = zip_path.stat().st_size
    if size > MAX_ZIP_BYTES:
        raise LayerBuildError(f"the SDK layer's zip is {size / 2**20:.1f} MiB: more than Lambda takes in one "
                              f"upload ({MAX_ZIP_BYTES / 2**20:.0f} MiB); publish it through S3 instead")
    return zip_path


# What pip's output says went wrong, most specific first: (pattern, diagnosis).
_NETWORK = re.compile(r"NewConnectionError|Failed to establish a new connection|Name or service not known|"
                      r"Temporary failure in name resolution|nodename nor servname|ConnectTimeoutError|"
                      r"Read timed out|Network is unreachable|Connection refused|ProxyError|SSLError|"
                      r"Max retries exceeded|No route to host")
_NOT_FOUND = re.compile(r"No matching distribution found for (?P<pin>\S+)")
_DIAGNOSES = (
    (re.compile(r"No module named pip"),
     "pip is not installed in {python}: the layer is built with `python -m pip` of the Python that runs the "
     "program (create the venv with pip: `python -m venv .venv`)"),
    (re.compile(r"THESE PACKAGES DO NOT MATCH THE HASHES"),
     "a downloaded wheel does not match its hash in {source}: a corrupted download, a tampered index or "
     "mirror, or a lock edited by hand (recompile it: python3 tasks.py lock)"),
    (_NETWORK,
     "cannot reach the package index: the layer's wheels are downloaded by pip (PyPI, or the index pip is "
     "configured with); check the network or the proxy, then run again (pip's cache makes a rebuild fast)"),
    (re.compile(r"\(from versions: none\)"),
     "pip found no version at all of {pin}: the package index is unreachable (pip retries disabled?) or "
     "does not hold it"),
    (_NOT_FOUND,
     "no wheel of {pin} for python{target} on arm64: the layer takes wheels only (--only-binary=:all:), "
     "and pure-Python ones; pin a version that has one in requirements/lambda.in"),
)


def diagnosis(pip_output: str, returncode: int, **facts: str) -> str:
    """What went wrong, from what pip said."""
    found = _NOT_FOUND.search(pip_output)
    facts = {**facts, "pin": found["pin"] if found else "a package"}
    template = next((d for pattern, d in _DIAGNOSES if pattern.search(pip_output)),
                    f"pip failed (exit {returncode}) installing {{source}}")
    return template.format(**facts)


def _pip_install(python: str, requirements: Path, site: Path, source: str) -> None:
    command = [python, "-m", "pip", "install", "--require-hashes", "--no-deps", "--only-binary=:all:",
               "--no-compile", "--target", str(site), *PIP_TARGET, "--disable-pip-version-check",
               "--no-input", "--progress-bar", "off", "-r", str(requirements)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        raise LayerBuildError(f"cannot run {python} to build the SDK layer: {error}") from None
    if result.returncode == 0:
        return
    said = (result.stdout + result.stderr).strip()
    tail = "\n".join(f"    {line}" for line in said.splitlines()[-15:])
    raise LayerBuildError("cannot build the function's SDK layer: "
                          + diagnosis(said, result.returncode, python=python, source=source, target=TARGET_PYTHON)
                          + f"\n  pip said:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.sdk_layer", description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, help="another lock than requirements/lambda.txt")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        layer = build_sdk_layer(lock=args.lock.resolve() if args.lock else None)
    except LayerBuildError as error:
        print(error, file=sys.stderr)
        return 1
    with zipfile.ZipFile(layer.path) as z:
        entries, unzipped = len(z.infolist()), sum(i.file_size for i in z.infolist())
    print(f"{os.path.relpath(layer.path)}: {layer.size / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB in "
          f"{entries} files, sha256 {layer.sha256} ({time.monotonic() - started:.1f} s)")
    for pin in layer.pins:
        print(f"  {pin.name}=={pin.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
