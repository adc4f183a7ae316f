"""What ``invoke`` snapshots: the function and the pools, from the stack's outputs, a JSON list or flags."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backup_lambda.errors import ConfigError


@dataclass(frozen=True)
class Pool:
    id: str
    name: str


@dataclass
class Target:
    """What to invoke: the function, the pools, and (for the diff) the snapshot bucket."""

    function: str
    pools: list[Pool]
    bucket: str | None = None

    @property
    def region(self) -> str | None:
        """The pools' region (a pool id starts with it), where the stack's function and bucket live."""
        regions = {pool.id.split("_", 1)[0] for pool in self.pools}
        return regions.pop() if len(regions) == 1 else None




def load_json_arg(value: str, flag: str) -> Any:
    """The JSON given to ``flag``: the text itself if it looks like JSON, else the file it names."""
    text = value.strip()
    origin = f"{flag} (inline JSON)"
    if not text.startswith(("{", "[")):
        path = Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{flag}: cannot read {value!r}: {exc.strerror or exc}") from exc
        origin = f"{flag} {value}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}") from exc


def parse_pools(value: Any, origin: str) -> list[Pool]:
    """A list of ``{"id", "name"}`` objects, checked: each pool named once, ids and names non-empty."""
    if not isinstance(value, list):
        raise ConfigError(f"{origin}: pools must be a JSON list of {{\"id\", \"name\"}}, "
                          f"got {type(value).__name__}")
    pools: list[Pool] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{origin}: pools[{i}] must be an object with id and name")
        pool_id, name = item.get("id"), item.get("name")
        if not isinstance(pool_id, str) or not pool_id or not isinstance(name, str) or not name:
            raise ConfigError(f"{origin}: pools[{i}] needs a non-empty string id and name, got {item!r}")
        pools.append(Pool(id=pool_id, name=name))
    names = [p.name for p in pools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{origin}: pool names must be unique; repeated: {', '.join(duplicates)}")
    return pools


def select_pools(pools: list[Pool], wanted: str | None, origin: str) -> list[Pool]:
    """``all`` pools, or the one named ``wanted``; an unknown name is an error that lists the known.

    ``all`` always means every pool, even when one of them is named ``all``.
    """
    if not wanted:
        raise ConfigError(f"--pool is required with {origin}: a pool name or `all`")
    if not pools:
        raise ConfigError(f"{origin} lists no pools")
    if wanted == "all":
        return list(pools)
    for pool in pools:
        if pool.name == wanted:
            return [pool]
    known = ", ".join(p.name for p in pools)
    raise ConfigError(f"unknown pool {wanted!r}: {origin} knows {known} (or `all`)")


def resolve_target(args: argparse.Namespace) -> Target:
    function, bucket = args.function, args.bucket
    if args.pool_name and not args.pool_id:
        raise ConfigError("--pool-name goes with --pool-id; to pick a pool from a list, use --pool")
    if args.pool_id:
        if not args.pool_name:
            raise ConfigError("--pool-id needs --pool-name (the name the snapshot is filed under)")
        if args.pool:
            raise ConfigError("--pool selects from --stack-outputs or --pools-json; with --pool-id, "
                              "give --pool-name only")
        pools = [Pool(id=args.pool_id, name=args.pool_name)]
    elif args.pools_json:
        pools = select_pools(parse_pools(load_json_arg(args.pools_json, "--pools-json"), "--pools-json"),
                             args.pool, "--pools-json")
    else:
        outputs = load_json_arg(args.stack_outputs, "--stack-outputs")
        origin = "--stack-outputs"
        if not isinstance(outputs, dict):
            raise ConfigError(f"{origin} must be the JSON object of `pulumi stack output --json`")
        if "pools" not in outputs:
            found = ", ".join(sorted(outputs)) or "none"
            raise ConfigError(f"{origin} has no `pools` output (outputs: {found}); "
                              "has the stack been deployed?")
        pools = select_pools(parse_pools(outputs["pools"], origin), args.pool, origin)
        function = function or _string_output(outputs, "functionName", origin)
        bucket = bucket or _string_output(outputs, "bucketName", origin, required=False)
    if not function:
        raise ConfigError("no function to invoke: pass --function, or --stack-outputs with functionName")
    return Target(function=function, pools=pools, bucket=bucket)


def _string_output(outputs: dict, name: str, origin: str, required: bool = True) -> str | None:
    value = outputs.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or value == "[secret]":
        raise ConfigError(f"{origin}: output {name!r} must be a plain string, got {value!r}")
    return value
