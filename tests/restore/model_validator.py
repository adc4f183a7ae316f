"""A validator of requests against botocore's service model, with the constraints AWS applies and botocore does
not (botocore checks types, required members and minimums only): string lengths, ``pattern`` matched against the
whole value, enums, integer ranges, list and map sizes, map keys, blob sizes, unknown members. Document members
(free JSON) are accepted as they are: what matters for them is that they reach AWS untouched, which the tests
check by comparing them with the snapshot.

Written for the tests, apart from the restore's own checks (``cognito_backup.restore.shapes``), so that a mistake
in one is not repeated in the other. The model's patterns are Java regular expressions: ``\\p{L}``-style Unicode
classes (expanded here from ``unicodedata``) and ASCII ``\\w``, ``\\s``, ``\\d``.

One documented exception: the model gives ``DomainType`` (CreateUserPoolDomain's and DescribeUserPoolDomain's
``Domain``) the pattern of a prefix, while AWS documents the same field as the fully qualified name of a custom
domain (``auth.example.com``), which the snapshot engine reads and the restore creates; a value with a dot is
checked as a DNS name instead.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

DNS_NAME = re.compile(r"(?=.{4,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")


@cache
def _unicode_class(category: str) -> str:
    """A regex class body for a Unicode general category or major class, by scanning every code point."""
    parts, start, previous = [], None, None
    for code in range(sys.maxunicode + 2):
        inside = code <= sys.maxunicode and unicodedata.category(chr(code)).startswith(category)
        if inside and start is None:
            start = code
        if not inside and start is not None:
            parts.append(f"\\U{start:08x}-\\U{previous:08x}" if previous != start else f"\\U{start:08x}")
            start = None
        previous = code
    return "".join(parts)


@cache
def java_regex(pattern: str) -> re.Pattern[str]:
    translated = re.sub(r"\\p\{(\w+)\}", lambda m: _unicode_class(m.group(1)), pattern)
    # Outside a character class a \p{..} became a bare run of ranges: the model's patterns never do that.
    return re.compile(translated, re.ASCII)


@dataclass(frozen=True)
class Violation:
    service: str
    operation: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.service} {self.operation} {self.path}: {self.problem}"


class ModelValidator:
    def __init__(self, service_model: Any):
        self.model = service_model
        self.service = service_model.service_name

    def check(self, operation: str, params: dict[str, Any]) -> list[Violation]:
        out: list[Violation] = []
        shape = self.model.operation_model(operation).input_shape
        self._walk(operation, shape, params, "", out)
        return out

    def _add(self, out: list[Violation], operation: str, path: str, problem: str) -> None:
        out.append(Violation(self.service, operation, path or "(request)", problem))

    def _bounds(self, out, operation, path, size, metadata, what) -> None:
        low, high = metadata.get("min"), metadata.get("max")
        if low is not None and size < low:
            self._add(out, operation, path, f"{what} {size} < min {low}")
        if high is not None and size > high:
            self._add(out, operation, path, f"{what} {size} > max {high}")

    def _walk(self, operation: str, shape: Any, value: Any, path: str, out: list[Violation]) -> None:
        meta = shape.metadata
        if meta.get("document"):
            return
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                return self._add(out, operation, path, f"not an object: {value!r}")
            for required in shape.required_members:
                if required not in value:
                    self._add(out, operation, f"{path}.{required}".lstrip("."), "missing (required)")
            for key, item in value.items():
                if key not in shape.members:
                    self._add(out, operation, f"{path}.{key}".lstrip("."), "unknown member")
                else:
                    self._walk(operation, shape.members[key], item, f"{path}.{key}".lstrip("."), out)
        elif kind == "list":
            if not isinstance(value, list | tuple):
                return self._add(out, operation, path, f"not a list: {value!r}")
            self._bounds(out, operation, path, len(value), meta, "items")
            for i, item in enumerate(value):
                self._walk(operation, shape.member, item, f"{path}[{i}]", out)
        elif kind == "map":
            if not isinstance(value, dict):
                return self._add(out, operation, path, f"not a map: {value!r}")
            self._bounds(out, operation, path, len(value), meta, "entries")
            for key, item in value.items():
                self._walk(operation, shape.key, key, f"{path}<key {key!r}>", out)
                self._walk(operation, shape.value, item, f"{path}.{key}", out)
        elif kind == "string":
            if not isinstance(value, str):
                return self._add(out, operation, path, f"not a string: {value!r}")
            self._bounds(out, operation, path, len(value), meta, "length")
            if "enum" in meta and value not in meta["enum"]:
                self._add(out, operation, path, f"{value!r} not in enum {meta['enum']}")
            if "pattern" in meta:
                if shape.name == "DomainType" and "." in value:
                    ok = bool(DNS_NAME.match(value))  # a custom domain: see the module's docstring
                else:
                    ok = java_regex(meta["pattern"]).fullmatch(value) is not None
                if not ok:
                    self._add(out, operation, path, f"{value!r} does not match {meta['pattern']!r} (whole value)")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return self._add(out, operation, path, f"not an integer: {value!r}")
            self._bounds(out, operation, path, value, meta, "value")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self._add(out, operation, path, f"not a boolean: {value!r}")
        elif kind == "blob":
            if not isinstance(value, bytes | bytearray):
                return self._add(out, operation, path, f"not bytes: {type(value).__name__}")
            self._bounds(out, operation, path, len(value), meta, "bytes")
        elif kind == "timestamp":
            pass  # botocore serialises datetimes and ISO strings; the restore sends none
        return None
