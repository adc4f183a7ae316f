"""JSON from files the tooling did not write (snapshots, manifests, mapping files) is parsed within limits:
nothing in a snapshot is nested deeper than ``MAX_DEPTH`` or holds a number longer than ``MAX_NUMBER_CHARS``,
so a document that does is refused with the usual short error (:class:`JsonLimitError`, a ``ValueError``)
instead of a RecursionError, a 5,000-digit integer's ValueError, or minutes spent converting it."""

from __future__ import annotations

import json
from typing import Any

from backup_lambda.errors import ConfigError

MAX_DEPTH = 64  # a snapshot's deepest values (a pool's schema, a client's settings) are under 10 deep
MAX_NUMBER_CHARS = 100  # the longest number AWS writes is a float's repr (24 characters)


class JsonLimitError(ValueError):
    """A JSON document beyond the limits above; the message says which."""


def _number(text: str, kind: type) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonLimitError(f"a number of {len(text):,} characters (at most {MAX_NUMBER_CHARS})")
    return kind(text)


def _constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not a JSON number")


DECODER = json.JSONDecoder(parse_int=lambda t: _number(t, int), parse_float=lambda t: _number(t, float),
                           parse_constant=_constant)


def check_depth(value: Any, outer: int = 0) -> None:
    """``JsonLimitError`` if ``value``, inside ``outer`` levels, nests deeper than ``MAX_DEPTH`` (no recursion)."""
    stack = [(value, outer + 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            if level > MAX_DEPTH:
                raise JsonLimitError(f"values nested deeper than {MAX_DEPTH} levels")
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))


def raw_decode(text: str, pos: int, outer: int = 0) -> tuple[Any, int]:
    """``json.JSONDecoder.raw_decode`` within the limits; ``outer``: the levels around ``text[pos:]``."""
    try:
        value, end = DECODER.raw_decode(text, pos)
    except RecursionError:
        raise JsonLimitError(f"values nested deeper than {MAX_DEPTH} levels") from None
    check_depth(value, outer)
    return value, end


def loads(text: str | bytes) -> Any:
    """``json.loads`` within the limits."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value, end = raw_decode(text, json.decoder.WHITESPACE.match(text, 0).end())
    end = json.decoder.WHITESPACE.match(text, end).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def load_option_file(path: str, option: str) -> Any:
    """The JSON file an option names (``--secrets FILE``, ``--overrides FILE``), within the limits; a
    :class:`ConfigError` naming the option and the file when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            return loads(f.read())
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{option} {path} is not UTF-8 text") from None
    except ValueError as exc:
        where = f"{exc.msg}, line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ConfigError(f"{option} {path} is not valid JSON ({where})") from None
