"""A local stand-in for AWS: a moto server on localhost, with the Cognito read calls moto lacks filled in
(``demo/cognito_gaps.py``). No AWS account and no credentials are needed.

``LocalAws`` runs the server in this process (a background thread) and gives the environment that points
boto3 at it; the demo and the tests use it. ``python3 tasks.py emulator [--port N]`` (which runs
``python -m demo.emulator``) serves it until Ctrl-C or SIGTERM, so that the command line can be tried
by hand::

    python3 tasks.py emulator --port 5000
    # in another shell, the lines it prints:
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing ...
    python -m cognito_backup snapshot --user-pool-id ... --bucket ...
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import socket
import sys
import threading
from contextlib import contextmanager
from typing import Any, TextIO

from demo.cognito_gaps import install_cognito_gaps

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's fake credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
DEFAULT_PORT = 5000  # moto_server's own default
HOST = "127.0.0.1"

__all__ = ["DEFAULT_PORT", "FAKE_ENV", "EmulatorError", "LocalAws", "environment", "install_cognito_gaps", "main",
           "serve"]


class EmulatorError(Exception):
    """The emulator cannot start (its port is taken); the message says what to do."""


def _check_port_free(port: int) -> None:
    """ThreadedMotoServer waits forever when its port is taken (the error stays in its thread): check first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise EmulatorError(f"port {port} on {HOST} is in use ({exc.strerror}): pass --port N "
                                "(--port 0 takes any free port)") from None


class LocalAws:
    """A moto server on localhost (``port`` 0: a free port), in this process (a background thread)."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        if not 0 <= port <= 65535:
            raise EmulatorError(f"--port must be between 0 and 65535, not {port}")
        install_cognito_gaps()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.port = port
        self._server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        self.endpoint_url: str | None = None

    def start(self) -> LocalAws:
        if self.port:
            _check_port_free(self.port)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        return {**FAKE_ENV, "AWS_ENDPOINT_URL": self.endpoint_url or ""}

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextmanager
def environment(values: dict[str, str]):
    """Set environment variables for the duration of a block (restoring the old ones after)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def banner(local: LocalAws) -> str:
    """What the emulator prints once it listens: the endpoint line, and what to export."""
    from moto import __version__ as moto_version

    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in local.env().items())
    return "\n".join([
        f"cognito-backup emulator: moto {moto_version} on {local.endpoint_url}, with the Cognito read calls "
        "moto lacks answered as AWS answers for a pool that does not use them",
        f"AWS_ENDPOINT_URL={local.endpoint_url}",
        "",
        "In another shell, point boto3 (and so the command line) at it:",
        f"  export {exports}",
        "  python -m cognito_backup snapshot --user-pool-id POOL_ID --bucket BUCKET",
        "Everything is kept in memory and is gone when the emulator stops. Stop it with Ctrl-C (or SIGTERM).",
    ])


def serve(port: int, *, out: TextIO = sys.stdout, stop: threading.Event | None = None) -> int:
    """Serve until SIGINT or SIGTERM (or ``stop`` is set); 0 once stopped cleanly, 2 if it cannot start."""
    stop = stop or threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, lambda _signum, _frame: stop.set()) for s in handled}
    try:
        try:
            local = LocalAws(port).start()
        except EmulatorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            print(banner(local), file=out, flush=True)
            while not stop.wait(0.5):
                pass
            print("stopping the emulator ...", file=out, flush=True)
        finally:
            local.stop()
        print("emulator stopped", file=out, flush=True)
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tasks.py emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on {HOST} (default {DEFAULT_PORT}; 0: any free port)")
    args = parser.parse_args(argv)
    return serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
