#!/usr/bin/env python3
"""The project's two commands, on any machine with Python 3.11+:

    python3 tasks.py demo    # the whole story against a local AWS emulator (no account needed)
    python3 tasks.py test    # the test suite (in parallel; the slow scale and memory tests left out)

    python3 tasks.py test --slow       # only the slow tests (one at a time: they measure memory); CI runs both
    python3 tasks.py emulator [--port N]   # the local AWS emulator alone, until Ctrl-C (default port 5000)
    python3 tasks.py lock [--upgrade]  # recompile the locks in requirements/ from their .in files

Each creates (or reuses) the virtual environment in .venv and installs the locked requirements into it
(requirements/dev.txt, every file checked against its hash, nothing resolved) when a lock changed.
Extra arguments go to the demo or to pytest (e.g. -k snapshot -x), or to `uv pip compile` for lock.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".locks.sha256"
REQUIREMENTS = ROOT / "requirements"
# Compiled in this order: each .in's `-c` names only locks compiled before it.
LOCKS = ("lambda", "cli", "program", "dev", "installers")
INSTALLED = ("dev", "installers")  # what .venv holds: everything, and the installers themselves
COMPILE = ["pip", "compile", "--universal", "--python-version", "3.11", "--generate-hashes"]


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def lock_file(name: str) -> Path:
    return REQUIREMENTS / f"{name}.txt"


def locks_digest() -> str:
    """What the venv was installed from: the locks it holds (a change in any means reinstall)."""
    digest = hashlib.sha256()
    for name in INSTALLED:
        digest.update(name.encode() + b"\0" + lock_file(name).read_bytes())
    return digest.hexdigest()


def install_commands(python: Path) -> tuple[list, list]:
    """(how to install the installers, how to sync the venv to the locks): both check every hash and
    resolve nothing. uv's sync also removes what the locks no longer hold."""
    bootstrap = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--require-hashes",
                 "--no-deps", "-r", lock_file("installers")]
    sync = [python, "-m", "uv", "pip", "sync", "--quiet", "--require-hashes", "--python", python,
            *(lock_file(name) for name in INSTALLED)]
    return bootstrap, sync


def ensure_venv() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 the user has
        sys.exit(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    python = venv_python()
    if not python.exists():
        print(f"creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = locks_digest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("installing the locked requirements (requirements/dev.txt; first run, or a lock changed) ...",
              flush=True)
        bootstrap, sync = install_commands(python)
        subprocess.run(bootstrap, check=True)
        subprocess.run(sync, check=True)
        STAMP.write_text(wanted)
    return python


def test_args(extra: list[str]) -> list[str]:
    """pytest's arguments: the fast tests on every core, or with --slow the slow ones one at a time."""
    if "--slow" in extra:
        return ["-q", "-m", "slow", "-p", "no:xdist", *(a for a in extra if a != "--slow")]
    return ["-q", "-m", "not slow", "-n", "auto", *extra]


def lock(python: Path, extra: list[str]) -> int:
    """Recompile every lock from its .in file, in order (uv keeps the current pins unless --upgrade)."""
    for name in LOCKS:
        print(f"locking requirements/{name}.in -> requirements/{name}.txt", flush=True)
        cmd = [python, "-m", "uv", *COMPILE, "--quiet", *extra, "--output-file", f"requirements/{name}.txt",
               f"requirements/{name}.in"]
        code = subprocess.run(cmd, cwd=ROOT).returncode
        if code:
            return code
    print("done: commit requirements/*.txt; the next tasks.py command installs them", flush=True)
    return 0


def run_child(cmd: list) -> int:
    """Run a command in the foreground; SIGTERM (and a SIGINT sent to this process alone) is passed on, and
    its exit code is ours. Ctrl-C reaches it from the terminal directly."""
    child = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def command(name: str, python: Path, extra: list[str]) -> list:
    return {
        "demo": [python, "-m", "demo", *extra],
        "test": [python, "-m", "pytest", *test_args(extra)],
        "emulator": [python, "-m", "demo.emulator", *extra],
    }[name]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "emulator", "lock"):
        print(__doc__)
        return 2
    python = ensure_venv()
    if argv[0] == "lock":
        return lock(python, argv[1:])
    return run_child(command(argv[0], python, argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
