#!/usr/bin/env python3
"""The project's two commands, on any machine with Python 3.11+:

    python3 tasks.py demo    # the whole story against a local AWS emulator (no account needed)
    python3 tasks.py test    # the test suite (in parallel; the slow scale and memory tests left out)

    python3 tasks.py test --slow    # only the slow tests (one at a time: they measure memory); CI runs both

Each creates (or reuses) the virtual environment in .venv and installs requirements.txt into it
when that file changed. Extra arguments go to the demo or to pytest (e.g. -k snapshot -x).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".requirements.sha256"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 the user has
        sys.exit(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    python = venv_python()
    if not python.exists():
        print(f"creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("installing requirements.txt (first run only) ...", flush=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", ROOT / "requirements.txt"], check=True)
        STAMP.write_text(wanted)
    return python


def test_args(extra: list[str]) -> list[str]:
    """pytest's arguments: the fast tests on every core, or with --slow the slow ones one at a time."""
    if "--slow" in extra:
        return ["-q", "-m", "slow", "-p", "no:xdist", *(a for a in extra if a != "--slow")]
    return ["-q", "-m", "not slow", "-n", "auto", *extra]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    python = ensure_venv()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    commands = {"demo": [python, "-m", "demo", *argv[1:]], "test": [python, "-m", "pytest", *test_args(argv[1:])]}
    cmd = commands[argv[0]]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
