"""The stack configuration is validated up front, and every refusal names its key.

``parse_config`` is pure: these tests give it raw values the way Pulumi hands them over (strings,
JSON text for lists and objects) and never start Pulumi.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_lambda.settings import load_settings
from infra.config import (
    KEYS,
    NAMESPACE,
    BackupConfig,
    ObjectLock,
    Pool,
    Retention,
    StackConfigError,
    parse_config,
)
from infra.function_package import function_environment
from infra.stack_keys import RETIRED

ROOT = Path(__file__).resolve().parents[2]
READER = "arn:aws:iam::123456789012:role/cognito-backup-restore"


def raw(**overrides: Any) -> dict[str, Any]:
    """A valid minimal config, with overrides by short key (``aws_region`` for aws:region); None
    removes a key. Lists and objects are passed as JSON text, as Pulumi does."""
    values: dict[str, Any] = {
        "aws:region": "eu-west-1",
        f"{NAMESPACE}:userPools": json.dumps([{"id": "eu-west-1_AbCd12345", "name": "prod-users"}]),
        f"{NAMESPACE}:snapshotReaders": json.dumps([READER]),
    }
    for short, value in overrides.items():
        key = "aws:region" if short == "aws_region" else f"{NAMESPACE}:{short}"
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    return values


def problems(values: dict[str, Any], stack: str = "prod") -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_config(values, stack=stack)
    assert str(caught.value).startswith("invalid stack configuration")
    return caught.value.problems


def test_minimal_config_takes_every_default():
    config = parse_config(raw(), stack="prod")

    assert config == BackupConfig(
        stack="prod",
        region="eu-west-1",
        pools=(Pool("eu-west-1_AbCd12345", "prod-users"),),
        snapshot_readers=(READER,),
    )
    assert config.schedule == KEYS["schedule"].default == "cron(0 1 * * ? *)"
    assert config.request_budget == 15
    assert config.retention == Retention(daily_days=30, weekly_days=183, monthly_days=365, noncurrent_days=7)
    assert config.object_lock == ObjectLock("off") and not config.object_lock.enabled
    assert (config.alarm_email, config.replica_region, config.snapshot_prefix) == (None, None, "")
    assert (config.lambda_timeout, config.lambda_memory, config.protect) == (900, 512, True)
    assert config.names.function == "cognito-backup-prod"
    assert config.names.sdk_layer == "cognito-backup-prod-sdk"


def _as_pulumi_raw(stack_file: Path) -> dict[str, Any]:
    """A stack file's config as the Pulumi runtime hands it to the program (all strings)."""
    config = yaml.safe_load(stack_file.read_text())["config"]
    out = {}
    for key, value in config.items():
        if isinstance(value, list | dict):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_example_stack_files_are_valid(stack):
    config = parse_config(_as_pulumi_raw(ROOT / f"Pulumi.{stack}.yaml"), stack=stack)

    assert config.pools and config.snapshot_readers


def test_prod_example_shows_every_key_the_program_reads():
    shown = {key.split(":", 1)[1] for key in _as_pulumi_raw(ROOT / "Pulumi.prod.yaml") if key.startswith(NAMESPACE)}

    assert shown == {name for name, key in KEYS.items() if key.kind != RETIRED}


@pytest.mark.parametrize("value", ["25", "latest", ""])
def test_a_stack_that_still_sets_a_retired_key_is_told_why_and_what_to_do(value):
    [problem] = problems(raw(powertoolsLayerVersion=value), stack="staging")
    assert problem.startswith("cognito-backup:powertoolsLayerVersion: no longer used.")
    assert "ships its own SDK" in problem and "requirements/lambda.txt" in problem
    assert "remove the key from Pulumi.staging.yaml (pulumi config rm powertoolsLayerVersion)" in problem


def test_a_retired_key_is_never_offered_as_the_key_meant_by_a_typo():
    assert RETIRED in {key.kind for key in KEYS.values()}
    assert problems(raw(powertoolsLayerVersio="25")) == ["cognito-backup:powertoolsLayerVersio: unknown key"]


def test_prod_example_uses_replica_object_lock_and_email():
    config = parse_config(_as_pulumi_raw(ROOT / "Pulumi.prod.yaml"), stack="prod")

    assert config.replica_region and config.replica_region != config.region
    assert config.object_lock.enabled and config.alarm_email
    assert len(config.pools) >= 2


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"aws_region": None}, "aws:region", "required"),
        ({"aws_region": "Europe"}, "aws:region", "not an AWS region"),
        ({"aws_region": "cn-north-1"}, "aws:region", "commercial"),
        ({"userPools": None}, "cognito-backup:userPools", "required"),
        ({"userPools": "[not json"}, "cognito-backup:userPools", "not valid JSON"),
        ({"userPools": []}, "cognito-backup:userPools", "non-empty list"),
        ({"userPools": {"id": "eu-west-1_A1", "name": "a"}}, "cognito-backup:userPools", "non-empty list"),
        ({"userPools": ["eu-west-1_A1"]}, "cognito-backup:userPools[0]", "must be an object"),
        ({"userPools": [{"name": "a"}]}, "cognito-backup:userPools[0].id", "required"),
        ({"userPools": [{"id": "eu-west-1_A1"}]}, "cognito-backup:userPools[0].name", "required"),
        ({"userPools": [{"id": "eu-west-1-A1", "name": "a"}]}, "cognito-backup:userPools[0].id", "<region>_<alnum>"),
        ({"userPools": [{"id": "eu-west-1_A-1", "name": "a"}]}, "cognito-backup:userPools[0].id", "<region>_<alnum>"),
        ({"userPools": [{"id": "us-east-1_A1", "name": "a"}]}, "cognito-backup:userPools[0].id", "stack deploys to"),
        ({"userPools": [{"id": "eu-west-1_A1", "name": "a/b"}]}, "cognito-backup:userPools[0].name", "ASCII"),
        ({"userPools": [{"id": "eu-west-1_A1", "name": "usérs"}]}, "cognito-backup:userPools[0].name", "ASCII"),
        ({"userPools": [{"id": "eu-west-1_A1", "name": "a", "arn": "x"}]}, "cognito-backup:userPools[0]", "unknown"),
        (
            {"userPools": [{"id": "eu-west-1_A1", "name": "a"}, {"id": "eu-west-1_A1", "name": "b"}]},
            "cognito-backup:userPools[1].id",
            "already listed at userPools[0]",
        ),
        (
            {"userPools": [{"id": "eu-west-1_A1", "name": "a"}, {"id": "eu-west-1_B2", "name": "a"}]},
            "cognito-backup:userPools[1].name",
            "already used by userPools[0]",
        ),
        ({"snapshotReaders": None}, "cognito-backup:snapshotReaders", "required"),
        ({"snapshotReaders": []}, "cognito-backup:snapshotReaders", "non-empty list"),
        ({"snapshotReaders": ["arn:aws:iam::123456789012:role/*"]}, "cognito-backup:snapshotReaders[0]", "wildcard"),
        ({"snapshotReaders": ["arn:aws:iam::123456789012:root"]}, "cognito-backup:snapshotReaders[0]", "root"),
        ({"snapshotReaders": ["restore-role"]}, "cognito-backup:snapshotReaders[0]", "not an IAM role or user"),
        ({"snapshotReaders": [READER, READER]}, "cognito-backup:snapshotReaders[1]", "twice"),
        ({"snapshotReaders": ["arn:aws:iam::123456789012:role/cognito-backup/backup-role-1a2b3c4"]},
         "cognito-backup:snapshotReaders[0]", "the path /cognito-backup/ is the program's own"),
        ({"schedule": "every day"}, "cognito-backup:schedule", "not an EventBridge schedule"),
        ({"schedule": "cron(0 1 * * * *)"}, "cognito-backup:schedule", "exactly one of"),
        ({"schedule": "cron(0 1 ? * ? *)"}, "cognito-backup:schedule", "exactly one of"),
        ({"schedule": "rate(2 days)"}, "cognito-backup:schedule", "less than daily"),
        ({"schedule": "rate(1 days)"}, "cognito-backup:schedule", "rate(1 day)"),
        ({"requestBudget": "0"}, "cognito-backup:requestBudget", "> 0 and <= 30"),
        ({"requestBudget": "31"}, "cognito-backup:requestBudget", "> 0 and <= 30"),
        ({"requestBudget": "fast"}, "cognito-backup:requestBudget", "number of calls per second"),
        ({"requestBudget": True}, "cognito-backup:requestBudget", "number of calls per second"),
        ({"excludeAttributes": ["sub"]}, "cognito-backup:excludeAttributes[0]", "cannot exclude 'sub'"),
        ({"excludeAttributes": ["email", "bad name"]}, "cognito-backup:excludeAttributes[1]", "invalid attribute"),
        ({"excludeAttributes": ["email", "email"]}, "cognito-backup:excludeAttributes[1]", "twice"),
        ({"excludeAttributes": ["email", ""]}, "cognito-backup:excludeAttributes[1]", "not a user attribute"),
        ({"excludeAttributes": [" email"]}, "cognito-backup:excludeAttributes[0]", "not a user attribute"),
        # A "$" anchor also matches before a final newline: every pattern must match the whole value.
        ({"aws_region": "eu-west-1\n"}, "aws:region", "not an AWS region"),
        ({"userPools": [{"id": "eu-west-1_A1\n", "name": "a"}]}, "cognito-backup:userPools[0].id", "<region>_"),
        ({"userPools": [{"id": "eu-west-1_A1", "name": "a\n"}]}, "cognito-backup:userPools[0].name", "ASCII"),
        ({"snapshotReaders": [READER + "\n"]}, "cognito-backup:snapshotReaders[0]", "not an IAM role"),
        ({"replicaRegion": "eu-central-1\n"}, "cognito-backup:replicaRegion", "not an AWS region"),
        ({"alarmEmail": "oncall@example.com\n"}, "cognito-backup:alarmEmail", "not an email address"),
        ({"excludeAttributes": {"email": True}}, "cognito-backup:excludeAttributes", "list of attribute names"),
        ({"snapshotPrefix": "../up/"}, "cognito-backup:snapshotPrefix", "path segments"),
        ({"snapshotPrefix": "a//b/"}, "cognito-backup:snapshotPrefix", "path segments"),
        ({"alarmEmail": "oncall"}, "cognito-backup:alarmEmail", "not an email address"),
        ({"retentionDailyDays": "0"}, "cognito-backup:retentionDailyDays", "between 1 and"),
        ({"retentionDailyDays": "thirty"}, "cognito-backup:retentionDailyDays", "whole number"),
        ({"retentionWeeklyDays": "20"}, "cognito-backup:retentionWeeklyDays", "shorter than retentionDailyDays"),
        ({"retentionMonthlyDays": "100"}, "cognito-backup:retentionMonthlyDays", "shorter than retentionWeekly"),
        ({"noncurrentVersionDays": "-1"}, "cognito-backup:noncurrentVersionDays", "between 1 and"),
        ({"objectLock": "sometimes"}, "cognito-backup:objectLock.mode", "off, governance, compliance"),
        ({"objectLock": {"mode": "GOVERNANCE", "days": 5}}, "cognito-backup:objectLock.mode", "one of"),
        ({"objectLock": {"mode": "compliance"}}, "cognito-backup:objectLock.days", "required with mode"),
        ({"objectLock": {"mode": "compliance", "days": 0}}, "cognito-backup:objectLock.days", "required with mode"),
        ({"objectLock": {"mode": "off", "days": 5}}, "cognito-backup:objectLock.days", "only applies"),
        ({"objectLock": {"mode": "governance", "days": 31}}, "cognito-backup:objectLock.days", "locked past"),
        ({"objectLock": {"mode": "governance", "days": 5, "x": 1}}, "cognito-backup:objectLock", "unknown"),
        ({"objectLock": [1]}, "cognito-backup:objectLock", 'must be "off" or'),
        ({"replicaRegion": "eu-west-1"}, "cognito-backup:replicaRegion", "stack's own region"),
        ({"replicaRegion": "mars-1"}, "cognito-backup:replicaRegion", "not an AWS region"),
        ({"powertoolsLayerVersion": "25"}, "cognito-backup:powertoolsLayerVersion", "no longer used"),
        ({"lambdaTimeout": "901"}, "cognito-backup:lambdaTimeout", "between 60 and 900"),
        ({"lambdaMemory": "64"}, "cognito-backup:lambdaMemory", "between 128 and 10240"),
        ({"lambdaEphemeralStorage": "256"}, "cognito-backup:lambdaEphemeralStorage", "between 512 and 10240"),
        ({"lambdaEphemeralStorage": "10241"}, "cognito-backup:lambdaEphemeralStorage", "between 512 and 10240"),
        ({"logRetentionDays": "10"}, "cognito-backup:logRetentionDays", "CloudWatch Logs accepts"),
        ({"accessLogRetentionDays": "0"}, "cognito-backup:accessLogRetentionDays", "between 1 and"),
        ({"protect": "yes"}, "cognito-backup:protect", "true or false"),
        ({"shedule": "cron(0 2 * * ? *)"}, "cognito-backup:shedule", "did you mean cognito-backup:schedule"),
    ],
)
def test_bad_value_is_refused_with_a_message_naming_its_key(overrides, key, fragment):
    found = problems(raw(**overrides))

    matching = [p for p in found if p.startswith(f"{key}: ")]
    assert matching, f"no problem for {key} in {found}"
    assert any(fragment in p for p in matching), f"{fragment!r} not in {matching}"


def test_stack_name_that_cannot_name_a_function_is_refused():
    assert any(p.startswith("stack name: ") for p in problems(raw(), stack="prod.eu"))
    assert any(p.startswith("stack name: ") for p in problems(raw(), stack="x" * 50))


def test_every_problem_is_reported_at_once():
    found = problems(raw(aws_region=None, snapshotReaders=None, lambdaMemory="1", protect="maybe"))

    assert [p.split(": ", 1)[0] for p in found] == [
        "aws:region",
        "cognito-backup:snapshotReaders",
        "cognito-backup:lambdaMemory",
        "cognito-backup:protect",
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"schedule": "rate(1 day)"}, {"schedule": "rate(1 day)"}),
        ({"schedule": "rate(6 hours)"}, {"schedule": "rate(6 hours)"}),
        ({"schedule": "cron(30 2 ? * MON-FRI *)"}, {"schedule": "cron(30 2 ? * MON-FRI *)"}),
        ({"requestBudget": "7.5"}, {"request_budget": 7.5}),
        ({"excludeAttributes": "custom:ssn, phone_number"}, {"exclude_attributes": ("custom:ssn", "phone_number")}),
        ({"excludeAttributes": ["custom:ssn"]}, {"exclude_attributes": ("custom:ssn",)}),
        ({"snapshotPrefix": "cognito/prod"}, {"snapshot_prefix": "cognito/prod/"}),
        ({"alarmEmail": "oncall@example.com"}, {"alarm_email": "oncall@example.com"}),
        ({"alarmEmail": ""}, {"alarm_email": None}),
        ({"objectLock": "off"}, {"object_lock": ObjectLock("off")}),
        ({"objectLock": {"mode": "compliance", "days": "30"}}, {"object_lock": ObjectLock("compliance", 30)}),
        ({"replicaRegion": "eu-central-1"}, {"replica_region": "eu-central-1"}),
        ({"snapshotReaders": READER}, {"snapshot_readers": (READER,)}),
        ({"protect": "false"}, {"protect": False}),
    ],
)
def test_accepted_values(overrides, expected):
    config = parse_config(raw(**overrides), stack="prod")

    for attribute, value in expected.items():
        assert getattr(config, attribute) == value


region_names = st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2", "ca-central-1", "eu-north-1"])
suffixes = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
pool_names = st.from_regex(r"\A[A-Za-z0-9_.+=,@-]{1,40}\Z")


@given(region=region_names, entries=st.lists(st.tuples(suffixes, pool_names), min_size=1, max_size=6,
                                             unique_by=(lambda e: e[0], lambda e: e[1])))
def test_valid_pools_are_kept_in_order(region, entries):
    pools = [{"id": f"{region}_{suffix}", "name": name} for suffix, name in entries]

    config = parse_config(raw(aws_region=region, userPools=pools), stack="prod")

    assert [(p.id, p.name) for p in config.pools] == [(p["id"], p["name"]) for p in pools]
    assert [p.event() for p in config.pools] == [{"user_pool_id": p["id"], "pool_name": p["name"]} for p in pools]


@given(region=region_names, other=region_names, suffix=suffixes, index=st.integers(0, 3))
def test_pool_from_another_region_is_refused_at_its_index(region, other, suffix, index):
    pools = [{"id": f"{region}_P{i}", "name": f"pool-{i}"} for i in range(4)]
    pools[index] = {"id": f"{other}_{suffix}", "name": "elsewhere"}
    values = raw(aws_region=region, userPools=pools)

    if other == region:
        assert parse_config(values, stack="prod").pools[index].id == f"{region}_{suffix}"
    else:
        assert any(p.startswith(f"cognito-backup:userPools[{index}].id: ") for p in problems(values))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(KEYS)), value=json_values, as_text=st.booleans())
def test_any_value_gives_a_config_or_a_config_error_naming_the_key(key, value, as_text):
    values = raw(**{key: json.dumps(value) if as_text else value}) if value is not None else raw(**{key: None})

    try:
        parse_config(values, stack="prod")
    except StackConfigError as error:
        assert error.problems
        assert all(p.split(": ", 1)[0].startswith(("cognito-backup:", "aws:region")) for p in error.problems)
        assert any(p.startswith(f"cognito-backup:{key}") for p in error.problems)


@given(
    prefix=st.sampled_from(["", "cognito/", "backups/prod/", "a.b/c=d/"]),
    budget=st.sampled_from(["1", "2.5", "15", "30"]),
    attributes=st.lists(st.sampled_from(["email", "phone_number", "custom:ssn", "custom:tax.id"]), unique=True),
)
def test_the_function_accepts_the_environment_the_program_gives_it(prefix, budget, attributes):
    config = parse_config(
        raw(snapshotPrefix=prefix, requestBudget=budget, excludeAttributes=attributes), stack="prod"
    )
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    environment = function_environment(config, "cognito-backup-snapshots-a1b2c3d", key_arn)

    settings_ = load_settings(environment)

    assert settings_.bucket == "cognito-backup-snapshots-a1b2c3d"
    assert settings_.kms_key_id == key_arn
    assert settings_.prefix == config.snapshot_prefix
    assert settings_.request_budget == float(budget)
    assert settings_.exclude_attributes == frozenset(attributes)
    assert environment["POWERTOOLS_SERVICE_NAME"] == "cognito-backup"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "CognitoBackup"
