"""How a command talks to a person and to a script: readable text, progress on stderr, and with
``--json`` one JSON object as the last line of stdout."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def emit(args: argparse.Namespace, result: dict[str, Any], text: str | None = None) -> None:
    """Print a command's result: readable text, and with --json one JSON object as the last line."""
    if text:
        print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout)
    if getattr(args, "json", False):
        print(json.dumps(result, default=str, sort_keys=True))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
