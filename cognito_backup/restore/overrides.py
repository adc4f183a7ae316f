"""Overrides: configuration values changed before they are sent (``--override PATH=VALUE``, repeatable, and
``--overrides FILE``, a JSON object of PATH: VALUE). They edit the snapshot's configuration in memory, before
the plan is made, so that the plan, the run and its checks all see the new value.

A PATH names a section, an item by name where the section has several, then the fields of the request that
recreates it, as botocore's model names them:

- ``pool.<field>...`` (or just ``<field>...``): CreateUserPool, e.g. ``pool.SmsConfiguration.ExternalId``,
  ``pool.EmailConfiguration.SourceArn``, ``pool.LambdaConfig.KMSKeyID``, ``pool.DeletionProtection``;
- ``clients.<ClientName>.<field>...``: CreateUserPoolClient, e.g. ``clients.web.CallbackURLs``;
- ``identity_providers.<ProviderName>.<field>...``: CreateIdentityProvider, e.g.
  ``identity_providers.Corp.ProviderDetails.MetadataURL``;
- ``groups.<GroupName>.<field>``: CreateGroup, e.g. ``groups.admins.RoleArn``;
- ``domain.Domain.<field>`` (the prefix domain) and ``domain.CustomDomain.<field>``: CreateUserPoolDomain,
  e.g. ``domain.CustomDomain.CustomDomainConfig.CertificateArn`` (any override of the custom domain has it
  created).

A VALUE on the command line is taken as it is where the field is a string, else as JSON (``true``, ``30``,
``["a","b"]``, ``{...}``); an empty VALUE (and JSON ``null`` in the file) removes the setting. Every override is
checked against the model (the path, the type, enums, lengths, ranges, patterns) before anything is written,
and an error names what is wrong. Secrets are refused: they come from ``--secrets FILE`` and are never printed.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from backup_lambda.errors import ConfigError
from backup_lambda.redact import NOT_SECRET_DETAILS, SECRET_DETAIL_RE
from cognito_backup.json_limits import load_option_file
from cognito_backup.restore.shapes import service_model, violations

REMOVE = object()  # the value of an override that removes a setting
# section -> (the operation whose request the fields belong to, the key that names an item, or None)
SECTIONS: dict[str, tuple[str, str | None]] = {
    "pool": ("CreateUserPool", None),
    "clients": ("CreateUserPoolClient", "ClientName"),
    "identity_providers": ("CreateIdentityProvider", "ProviderName"),
    "groups": ("CreateGroup", "GroupName"),
    "domain": ("CreateUserPoolDomain", None),
}
FIXED = {  # fields a restore decides itself
    "pool": {"PoolName": "--new-pool-name names the pool", "Schema": "the schema cannot be changed by a restore",
             "EmailVerificationMessage": "retired: set VerificationMessageTemplate.EmailMessage",
             "EmailVerificationSubject": "retired: set VerificationMessageTemplate.EmailSubject",
             "SmsVerificationMessage": "retired: set VerificationMessageTemplate.SmsMessage",
             "UsernameAttributes": "users are matched by it: it cannot be changed by a restore"},
    "clients": {"ClientName": "clients are matched by name", "GenerateSecret": "decided by the snapshot"},
    "identity_providers": {"ProviderName": "providers are matched by name", "ProviderType": "decided by the snapshot"},
    "groups": {"GroupName": "groups are matched by name"},
}
DOMAIN_KINDS = ("Domain", "CustomDomain")
DNS_NAME = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass(frozen=True)
class Override:
    path: str  # as shown: section.item.field...
    section: str
    item: str | None  # the client, provider or group name; Domain or CustomDomain
    fields: tuple[str, ...]
    value: Any  # REMOVE to remove the setting

    def shown(self) -> Any:
        return None if self.value is REMOVE else self.value


def _is_secret(section: str, fields: tuple[str, ...]) -> bool:
    """A provider's secret detail (``client_secret``, ``private_key``) or a client's secret."""
    if section == "identity_providers" and fields[0] == "ProviderDetails":
        return len(fields) == 1 or bool(SECRET_DETAIL_RE.search(fields[1])
                                        and fields[1].lower() not in NOT_SECRET_DETAILS)
    return section == "clients" and fields[0] == "ClientSecret"


def _split(path: str) -> tuple[str, str | None, tuple[str, ...]]:
    parts = path.split(".")
    if not path or any(p == "" for p in parts):
        raise ConfigError(f"override {path!r}: a PATH is dot-separated names, e.g. pool.DeletionProtection")
    if parts[0] not in SECTIONS:
        parts = ["pool", *parts]
    section = parts[0]
    named = SECTIONS[section][1] is not None or section == "domain"
    if named and len(parts) < 3:
        raise ConfigError(f"override {path!r}: {section} paths are {section}.<name>.<field>")
    if not named and len(parts) < 2:
        raise ConfigError(f"override {path!r}: name a field of the pool, e.g. pool.DeletionProtection")
    return (section, parts[1], tuple(parts[2:])) if named else (section, None, tuple(parts[1:]))


def _leaf(section: str, fields: tuple[str, ...], path: str) -> Any:
    """The model shape of the field at ``fields`` (map keys included), or a ConfigError that names the path."""
    operation = SECTIONS[section][0]
    shape = service_model().operation_model(operation).input_shape
    for i, field in enumerate(fields):
        if shape.type_name == "structure":
            if field not in shape.members or (i == 0 and field in ("UserPoolId",)):
                known = ", ".join(sorted(m for m in shape.members if m != "UserPoolId"))
                raise ConfigError(f"override {path!r}: {field!r} is not a field of {operation}"
                                  f"{' ' + '.'.join(fields[:i]) if i else ''} (its fields: {known})")
            shape = shape.members[field]
        elif shape.type_name == "map":
            key_problems = violations(shape.key, field, field)
            if key_problems:
                raise ConfigError(f"override {path!r}: {'; '.join(key_problems)}")
            shape = shape.value
        else:
            raise ConfigError(f"override {path!r}: {'.'.join(fields[:i])} is a {shape.type_name}, it has no "
                              f"field {field!r} (give the whole value instead)")
    return shape


def resolve(path: str, value: Any, *, from_command_line: bool) -> Override:
    """An override checked against the model. ``value``: the text after '=' (command line), or a JSON value."""
    section, item, fields = _split(path)
    shown = ".".join([section, *([item] if item else []), *fields])
    if section == "domain" and item not in DOMAIN_KINDS:
        raise ConfigError(f"override {path!r}: domain paths are domain.Domain.<field> (the prefix domain) or "
                          "domain.CustomDomain.<field>")
    if fields[0] in FIXED.get(section, {}):
        raise ConfigError(f"override {path!r}: {fields[0]} cannot be overridden ({FIXED[section][fields[0]]})")
    if _is_secret(section, fields):
        raise ConfigError(f"override {path!r}: secrets are never given on the command line or in an overrides "
                          "file: put them in the --secrets FILE")
    shape = _leaf(section, fields, path)
    if from_command_line:
        if value == "":
            value = REMOVE
        elif shape.type_name != "string":
            try:
                value = json.loads(value)
            except ValueError:
                raise ConfigError(f"override {path!r}: {shape.type_name} values are JSON (e.g. true, 30, "
                                  f'["a"], {{"k": "v"}}), got {value!r}') from None
    elif value is None:
        value = REMOVE
    if value is not REMOVE:
        if section == "domain" and fields == ("Domain",) and item == "CustomDomain":
            problems = [] if isinstance(value, str) and DNS_NAME.fullmatch(value) else [
                f"{shown}: a custom domain is a fully qualified domain name, e.g. auth.example.com"]
        else:
            problems = violations(shape, value, shown)
        if problems:
            raise ConfigError(f"override {path!r} = {json.dumps(value, default=str)}: {'; '.join(problems)}")
    return Override(shown, section, item, fields, value)


def parse_command_line(texts: list[str]) -> list[Override]:
    out = []
    for text in texts:
        path, sep, value = text.partition("=")
        if not sep:
            raise ConfigError(f"--override {text!r}: expected PATH=VALUE, e.g. pool.DeletionProtection=INACTIVE")
        out.append(resolve(path.strip(), value, from_command_line=True))
    return out


def load_file(path: str | None) -> list[Override]:
    """The overrides of ``--overrides FILE``: a JSON object of PATH: VALUE."""
    if not path:
        return []
    data = load_option_file(path, "--overrides")
    if not isinstance(data, dict):
        raise ConfigError(f'--overrides {path} must be a JSON object of PATH: VALUE, e.g. '
                          '{"pool.DeletionProtection": "INACTIVE"}')
    return [resolve(p, v, from_command_line=False) for p, v in data.items()]


def collect(from_file: list[Override], from_command_line: list[Override]) -> dict[str, Override]:
    """Both, by path; the command line wins over the file."""
    return {o.path: o for o in [*from_file, *from_command_line]}


def _set(target: dict[str, Any], fields: tuple[str, ...], value: Any) -> Any:
    """Set (or remove) ``fields`` in ``target``; returns the value it had."""
    for field in fields[:-1]:
        if not isinstance(target.get(field), dict):
            if value is REMOVE:
                return None
            target[field] = {}
        target = target[field]
    before = copy.deepcopy(target.get(fields[-1]))
    if value is REMOVE:
        target.pop(fields[-1], None)
    else:
        target[fields[-1]] = copy.deepcopy(value)
    return before


def apply(config: dict[str, Any], overrides: dict[str, Override]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The snapshot's configuration with the overrides applied (a copy), and what each changed (for the plan).
    Group overrides are applied as the groups are read (``group_params``)."""
    config = copy.deepcopy(config)
    changed = []
    for o in overrides.values():
        if o.section == "groups":
            changed.append({"path": o.path, "to": o.shown()})
            continue
        if o.section == "pool":
            target = config["pool"]
        elif o.section == "domain":
            section = config.get("domain") or {}
            if section.get("status") != "present":
                section = config["domain"] = {"status": "present", "value": {}}
            value = section.setdefault("value", {})
            if not isinstance(value.get(o.item), dict):
                value[o.item] = {}
            target = value[o.item]
        else:
            key = SECTIONS[o.section][1]
            section = config.get(o.section) or {}
            items = [i for i in section.get("items") or () if i.get(key) == o.item]
            if section.get("status") != "present" or not items:
                raise ConfigError(f"override {o.path!r}: the snapshot has no {o.section.replace('_', ' ')[:-1]} "
                                  f"named {o.item!r}")
            target = items[0]
        changed.append({"path": o.path, "from": _set(target, o.fields, o.value), "to": o.shown()})
    return config, changed


def check_groups(overrides: dict[str, Override], group_names: set[str]) -> None:
    for o in overrides.values():
        if o.section == "groups" and o.item not in group_names:
            raise ConfigError(f"override {o.path!r}: the snapshot has no group named {o.item!r}")


def group_params(overrides: dict[str, Override], name: str, params: dict[str, Any]) -> dict[str, Any]:
    """CreateGroup's ``params`` of group ``name`` with its overrides."""
    for o in overrides.values():
        if o.section == "groups" and o.item == name:
            params = dict(params)
            _set(params, o.fields, o.value)
    return params


def expected_differences(overrides: dict[str, Override], renames: dict[str, str]) -> list[str]:
    """The differences a check must expect from the overrides (``section.path``, as the diff names them;
    renamed identity providers under their new name). The domain is never compared."""
    out = []
    for o in overrides.values():
        if o.section == "domain":
            continue
        item = renames.get(o.item, o.item) if o.section == "identity_providers" else o.item
        out.append(".".join([o.section, *([item] if item else []), *o.fields]))
        if o.section == "pool" and o.fields[0] == "UserPoolTags":  # the tags section holds the same tags
            out.append(".".join(["tags", *o.fields[1:]]))
    return out
