"""Requests as botocore's model of cognito-idp takes them: explicit nulls dropped, the keys an operation does not
accept left out (and named, so that the restore can say what it did not send), Document values passed through
untouched, and the model's constraints checked (``violations``: types, enums, lengths, ranges, list and map
sizes, required members, and patterns matched against the whole value, as AWS matches them).

botocore itself checks only types, required members and minimums; AWS checks the rest and refuses the call.
The restore checks what it decides on (an identity provider's name, an override) before it sends anything.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import Any

import botocore.session

_model = None


def service_model():
    """cognito-idp's botocore service model, loaded once."""
    global _model
    if _model is None:
        _model = botocore.session.get_session().get_service_model("cognito-idp")
    return _model


def drop_none(value: Any) -> Any:
    """A copy without None values (moto and some AWS responses carry explicit nulls)."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value if v is not None]
    return value


def is_document(shape: Any) -> bool:
    """A Document member (free JSON, e.g. managed login branding Settings): sent as it is."""
    return bool(shape.metadata.get("document"))


def _fit(value: Any, shape: Any, path: str, dropped: list[str]) -> Any:
    if is_document(shape):
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in shape.members:
                out[key] = _fit(item, shape.members[key], f"{path}.{key}" if path else key, dropped)
            else:
                dropped.append(f"{path}.{key}" if path else key)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_fit(item, shape.member, f"{path}[]", dropped) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _fit(v, shape.value, f"{path}.{k}", dropped) for k, v in value.items()}
    return value


def fit_to_input(operation: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``params`` without the keys (at any depth) that ``operation`` does not accept, and those keys."""
    dropped: list[str] = []
    shape = service_model().operation_model(operation).input_shape
    return _fit(drop_none(params), shape, "", dropped), dropped


# --- the model's constraints -------------------------------------------------------------------------------

@functools.cache
def _categories() -> dict[str, list[tuple[int, int]]]:
    """Every Unicode general category (``Lu``) and major class (``L``) as ranges of code points, in one pass."""
    out: dict[str, list[tuple[int, int]]] = {}
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        for name in (category, category[0]):
            ranges = out.setdefault(name, [])
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return out


def _category_class(category: str) -> str:
    """The characters of a Unicode general category (``L``, ``Nd``...) as the body of a regex character class."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in _categories()[category])


@functools.cache
def model_pattern(pattern: str) -> re.Pattern[str]:
    """A model pattern (Java syntax: ``\\p{L}`` classes, ASCII ``\\w``/``\\s``/``\\d``) as a Python regex."""
    out, inside = [], False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and pattern.startswith("\\p{", i):
            end = pattern.index("}", i)
            body = _category_class(pattern[i + 3:end])
            out.append(body if inside else f"[{body}]")
            i = end + 1
            continue
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if char == "[" and not inside:
            inside = True
        elif char == "]" and inside:
            inside = False
        out.append(char)
        i += 1
    return re.compile("".join(out), re.ASCII)


def _size_problems(size: int, metadata: dict[str, Any], what: str) -> list[str]:
    problems = []
    if "min" in metadata and size < metadata["min"]:
        problems.append(f"{what} {size} is below the minimum {metadata['min']}")
    if "max" in metadata and size > metadata["max"]:
        problems.append(f"{what} {size} is above the maximum {metadata['max']}")
    return problems


def violations(shape: Any, value: Any, path: str = "") -> list[str]:
    """What the model says is wrong with ``value`` as ``shape`` (empty: nothing). Each problem names its path."""
    where = path or "(the request)"
    kind, meta = shape.type_name, shape.metadata
    if is_document(shape):
        return []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        problems = [f"{path + '.' if path else ''}{name}: required" for name in shape.required_members
                    if value.get(name) is None]
        for key, item in value.items():
            member = f"{path}.{key}" if path else key
            if key not in shape.members:
                problems.append(f"{member}: not a member of {shape.name}")
            elif item is not None:
                problems += violations(shape.members[key], item, member)
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        problems = [f"{where}: {p}" for p in _size_problems(len(value), meta, "length")]
        for i, item in enumerate(value):
            problems += violations(shape.member, item, f"{path}[{i}]")
        return problems
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        problems = [f"{where}: {p}" for p in _size_problems(len(value), meta, "entries")]
        for key, item in value.items():
            problems += [f"{where} key {key!r}: {p.split(': ', 1)[-1]}" for p in violations(shape.key, key, "k")]
            problems += violations(shape.value, item, f"{path}.{key}")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {type(value).__name__}"]
        problems = [f"{where}: {p}" for p in _size_problems(len(value), meta, "length")]
        if "enum" in meta and value not in meta["enum"]:
            problems.append(f"{where}: {value!r} is not one of {', '.join(meta['enum'])}")
        if "pattern" in meta and not model_pattern(meta["pattern"]).fullmatch(value):
            problems.append(f"{where}: does not match the pattern {meta['pattern']}")
        return problems
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: expected an integer, got {type(value).__name__}"]
        return [f"{where}: {p}" for p in _size_problems(value, meta, "value")]
    if kind in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [f"{where}: expected a number, got {type(value).__name__}"]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected true or false, got {type(value).__name__}"]
    if kind == "blob":
        if not isinstance(value, bytes | bytearray | str):
            return [f"{where}: expected bytes, got {type(value).__name__}"]
        size = len(value.encode() if isinstance(value, str) else value)
        return [f"{where}: {p}" for p in _size_problems(size, meta, "size")]
    return []


def request_violations(operation: str, params: dict[str, Any]) -> list[str]:
    """``violations`` of a whole request of ``operation``."""
    return violations(service_model().operation_model(operation).input_shape, params)
