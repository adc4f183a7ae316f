"""What goes into the SDK layer's zip, and how: the checks and the normalisation of what pip installed
(``infra/sdk_layer.py`` runs pip), and the deterministic zip.

Pure file work on a ``--target`` directory: no network, no pip.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name

from infra.sdk_lock import Pin

# One timestamp and one mode for every entry: the zip says nothing of when or where it was built.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
ZIP_FILE_MODE = 0o100644  # a regular file, rw-r--r--
ZIP_UNIX = 3  # "made by" Unix, whatever the build machine: the mode above is a Unix mode
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


class LayerBuildError(RuntimeError):
    """The layer cannot be built: the message says why (no network, a hash mismatch, a compiled
    wheel, a lock pip cannot install) and what pip said."""


def _dist_infos(site: Path) -> list[Path]:
    return sorted(site.glob("*.dist-info"))


def check_pure_wheels(site: Path, pins: tuple[Pin, ...]) -> None:
    """Every package pip installed is one the lock pins, at its version, from a pure-Python wheel
    (``Root-Is-Purelib: true``, every tag ``*-none-any``), and no compiled module rides along."""
    installed: dict[str, str] = {}
    problems = []
    for info in _dist_infos(site):
        metadata = HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        name, version = canonicalize_name(metadata["Name"]), metadata["Version"]
        installed[name] = version
        wheel = HeaderParser().parsestr((info / "WHEEL").read_text(encoding="utf-8"))
        tags = wheel.get_all("Tag") or []
        pure = wheel.get("Root-Is-Purelib", "").strip().lower() == "true"
        if not pure or not tags or not all(tag.endswith("-none-any") for tag in tags):
            problems.append(f"{name} {version} is not a pure-Python wheel (Tag: {', '.join(tags) or 'none'}; "
                            f"Root-Is-Purelib: {wheel.get('Root-Is-Purelib')})")
    compiled = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.suffix in COMPILED_SUFFIXES)
    if compiled:
        problems.append(f"compiled modules: {', '.join(compiled[:5])}")
    if problems:
        raise LayerBuildError(
            "the SDK layer holds pure-Python packages only, so that it is the same whatever machine builds "
            "it and runs on arm64: " + "; ".join(problems)
            + ". Pin a version with a py3-none-any wheel in requirements/lambda.in, or build the layer on "
              "the runtime's platform (this builder does not)")
    wanted = {pin.name: pin.version for pin in pins}
    if installed != wanted:
        raise LayerBuildError(f"pip installed {sorted(installed.items())}, the lock pins {sorted(wanted.items())}")


def _record_row(site: Path, relative: str) -> list[str]:
    data = (site / relative).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [relative, f"sha256={digest}", str(len(data))]


def normalise_site(site: Path) -> None:
    """Leave out what names the build machine or is not the packages' own, and rebuild each RECORD:

    - ``bin/``: console scripts (``jp.py``), whose ``#!`` line names the Python that ran pip; nothing
      imports them;
    - byte-code (``--no-compile`` should leave none);
    - ``direct_url.json``: where a wheel came from, when it is a local file or a URL;
    - ``RECORD``: pip's lists the scripts, with paths relative to a temporary directory; rebuilt with
      the files that ship, sorted.
    """
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for path in [*site.rglob("*.pyc"), *site.glob("*.dist-info/direct_url.json")]:
        path.unlink()
    for info in _dist_infos(site):
        record = info / "RECORD"
        listed = [row[0] for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))) if row]
        own = f"{info.name}/RECORD"
        kept = sorted({p for p in listed if p != own and not p.startswith(("/", "../"))
                       and (site / p).is_file()})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([_record_row(site, p) for p in kept] + [[own, "", ""]])
        record.write_text(out.getvalue(), encoding="utf-8")


def tree_size(site: Path) -> int:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file())


def zip_tree(site: Path, zip_path: Path, root: str) -> None:
    """Every file under ``site`` as ``<root>/<path>``, sorted, with one timestamp and one mode, stored."""
    files = sorted((f"{root}/{p.relative_to(site).as_posix()}", p) for p in site.rglob("*") if p.is_file())
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = ZIP_UNIX
            info.external_attr = ZIP_FILE_MODE << 16
            info.compress_type = zipfile.ZIP_STORED
            z.writestr(info, path.read_bytes())
