"""The function's runtime lock (``requirements/lambda.txt``), read for the SDK layer: exactly what pip
would install on the Lambda runtime, python3.13 on arm64 Linux.

The lock is compiled ``--universal`` (``python3 tasks.py lock``): one file for Python 3.11 to 3.13 on
every platform, where a line may carry a marker (``; python_version < "3.12"``) that says where it
applies. pip evaluates those markers against the interpreter that runs it, whatever
``--python-version`` says, and the program may run on 3.11. So the markers are evaluated here, against
the runtime's environment (``TARGET_ENVIRONMENT``), and pip is handed only the lines that apply, as
pins with their hashes and without markers. A marker that the runtime's patch release could decide
either way (``python_full_version``) is refused: 3.13.x is all we know of the runtime's Python.

Pure: the lock's text in, pins out (``packaging``, which the program's lock holds, parses them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# The Lambda runtime python3.13 on arm64 (Amazon Linux 2023), as PEP 508 markers see it. The patch
# release is the first of 3.13: TARGET_PATCH_RELEASES checks that no marker depends on it.
TARGET_PYTHON = "3.13"
TARGET_ENVIRONMENT: Mapping[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": f"{TARGET_PYTHON}.0",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": f"{TARGET_PYTHON}.0",
    "python_version": TARGET_PYTHON,
    "sys_platform": "linux",
}
TARGET_PATCH_RELEASES = (f"{TARGET_PYTHON}.0", f"{TARGET_PYTHON}.99")


class LockError(ValueError):
    """The lock cannot be installed as it is: a line that is not a hashed pin, or a marker the runtime
    cannot decide."""


@dataclass(frozen=True)
class Pin:
    """One package of the lock: ``name==version``, the hashes of its files, and where it applies."""

    name: str  # canonical (PEP 503)
    version: str
    hashes: tuple[str, ...]  # "sha256:<hex>"
    marker: str = ""  # "" everywhere

    def requirement_line(self) -> str:
        """The line pip gets: the pin and its hashes, without the marker (already decided)."""
        return " ".join([f"{self.name}=={self.version}", *(f"--hash={h}" for h in self.hashes)])


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, line) with continuations joined and comments dropped."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            lines.append((start, whole))
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def parse_lock(text: str, source: str = "requirements/lambda.txt") -> list[Pin]:
    """Every pin of a lock written by ``uv pip compile --generate-hashes``, markers kept."""
    pins = []
    for number, line in _logical_lines(text):
        words = line.split()
        options = [w for w in words if w.startswith("-")]
        spec = " ".join(w for w in words if not w.startswith("-"))
        hashes = tuple(o.removeprefix("--hash=") for o in options if o.startswith("--hash="))
        if len(hashes) != len(options) or not spec:
            raise LockError(f"{source}:{number}: not a hashed pin: {line!r}")
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as error:
            raise LockError(f"{source}:{number}: {error}") from None
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            raise LockError(f"{source}:{number}: {requirement.name} is not pinned to one version (==)")
        if not hashes or not all(h.startswith("sha256:") and len(h) == len("sha256:") + 64 for h in hashes):
            raise LockError(f"{source}:{number}: {requirement.name} has no sha256 hash: pip could not check it")
        pins.append(Pin(canonicalize_name(requirement.name), specifiers[0].version, hashes,
                        str(requirement.marker) if requirement.marker else ""))
    return pins


def applies(marker: str, environment: Mapping[str, str]) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(dict(environment))
    except InvalidMarker as error:
        raise LockError(f"invalid marker {marker!r}: {error}") from None


def runtime_pins(text: str, source: str = "requirements/lambda.txt",
                 environment: Mapping[str, str] = TARGET_ENVIRONMENT) -> list[Pin]:
    """The pins that apply on the runtime, each package once, sorted by name."""
    chosen: dict[str, Pin] = {}
    for pin in parse_lock(text, source):
        decisions = {applies(pin.marker, {**environment, "python_full_version": patch,
                                          "implementation_version": patch})
                     for patch in TARGET_PATCH_RELEASES}
        if len(decisions) > 1:
            raise LockError(f"{source}: {pin.name}=={pin.version} applies on some {TARGET_PYTHON}.x only "
                            f"({pin.marker}): the runtime's patch release is not known")
        if not decisions.pop():
            continue
        if pin.name in chosen:
            raise LockError(f"{source}: {pin.name} is pinned twice for python{TARGET_PYTHON} on arm64 "
                            f"({chosen[pin.name].version} and {pin.version})")
        chosen[pin.name] = pin
    if not chosen:
        raise LockError(f"{source}: nothing applies to python{TARGET_PYTHON} on arm64")
    return [chosen[name] for name in sorted(chosen)]
