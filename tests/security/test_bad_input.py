"""Bad input, generated: Lambda events, CLI arguments, stack configuration, snapshot files.

Each is refused with a message that names what is wrong (the event field, the flag, the config key,
the file's defect), and nothing is written: no AWS client is even used for a bad event or bad
arguments, no pool is created and no file is left for a bad snapshot.

``tests/engine/test_handler.py`` and ``tests/infra/test_infra_config.py`` hold the hand-picked cases; this file
throws generated junk at the same entry points: wrong types, nested structures, huge strings, near
misses of the valid forms.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backup_lambda.contract import SNAPSHOT_EVENT_KEYS as EVENT_KEYS
from backup_lambda.errors import ConfigError
from backup_lambda.snapshot_format import CHECKPOINT_DIR
from tests.support import field_rules as rules
from tests.support.fault_injection import FakeContext

# A bounded message: "clear" includes not echoing a megabyte of junk into a log line.
MAX_MESSAGE = 1000
ALNUM = string.ascii_letters + string.digits
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]

json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
huge_text = st.builds(lambda ch, n: ch * n, st.characters(codec="utf-8"), st.integers(5_000, 200_000))
huge_junk = st.one_of(huge_text, st.lists(huge_text, min_size=1, max_size=3),
                      st.dictionaries(huge_text, huge_text, min_size=1, max_size=2))
good_pool_ids = st.builds(lambda r, s: f"{r}_{s}", st.sampled_from(REGIONS), st.text(ALNUM, min_size=1, max_size=24))


def _not_pool_id(value: Any) -> bool:
    return not rules.is_user_pool_id(value)


near_miss_pool_ids = st.one_of(
    good_pool_ids.map(lambda v: v.replace("_", "-", 1)),
    good_pool_ids.map(lambda v: v.upper()),
    good_pool_ids.map(lambda v: v + "\n"),
    good_pool_ids.map(lambda v: " " + v),
    st.builds(lambda v, c: v + c, good_pool_ids, st.sampled_from("/-_.:* é")),
    st.sampled_from(["", "_", "us-east-1_", "_abc", "us-east_abc", "1_abc", "us-east-1__abc", "us-east-123_abc",
                     "us-east-\u0661_abc", "us-east-1_abc\u00e9", "u-east-1_abc", "us--east-1_abc",
                     "us-east-1_" + "a" * 46]),
)
bad_pool_ids = st.one_of(near_miss_pool_ids, json_junk, huge_junk).filter(_not_pool_id)
bad_pool_names = st.one_of(
    json_junk, huge_junk,
    st.text(min_size=1, max_size=40).map(lambda s: s + "/"),
    st.sampled_from(["", " ", "a b", "a/b", "ü" * 200, "x" * 129, "name\n"]),
).filter(lambda v: v is not None and not rules.is_pool_name(v))


class NoAws:
    """Stands in for every AWS client: any use of it fails the test."""

    def __init__(self, service: str):
        self._service = service

    def __getattr__(self, name: str):
        raise AssertionError(f"the {self._service} client was used ({name}) for input that should be refused")


# --- Lambda events --------------------------------------------------------------------------------

def _unknown_keys(prefix: dict) -> st.SearchStrategy:
    key = st.one_of(st.text(min_size=1, max_size=60), huge_text).filter(
        lambda k: k not in EVENT_KEYS and k != "checkpoint_key")
    return st.builds(lambda k, v: ({**prefix, k: v}, k), key, json_junk)


CHECKPOINTS = f"{CHECKPOINT_DIR}"
good_checkpoint_keys = st.text(ALNUM + "_-.", min_size=1, max_size=40).map(lambda s: f"{CHECKPOINTS}{s}.json")
bad_checkpoint_keys = st.one_of(
    json_junk, huge_junk,
    st.text(max_size=60).filter(lambda k: not (k.startswith(CHECKPOINTS) and k.endswith(".json"))),
    good_checkpoint_keys.map(lambda k: k.replace(CHECKPOINTS, f"{CHECKPOINTS}sub/")),
    good_checkpoint_keys.map(lambda k: "../" + k),
).filter(lambda k: not (isinstance(k, str) and re.fullmatch(re.escape(CHECKPOINTS) + r"[^/]+\.json", k)
                        and len(k) <= 1024))
bad_generations = st.one_of(json_junk, st.integers(max_value=0), st.booleans()).filter(
    lambda g: not (isinstance(g, int) and not isinstance(g, bool) and g >= 1))

# (event, the field the refusal must name)
malformed_events = st.one_of(
    st.one_of(json_junk, huge_junk).filter(lambda e: not isinstance(e, dict)).map(lambda e: (e, "event")),
    good_pool_ids.flatmap(lambda pid: _unknown_keys({"user_pool_id": pid})),
    st.just(({}, "user_pool_id")),
    bad_pool_names.map(lambda n: ({"pool_name": n}, "user_pool_id")),
    st.builds(lambda v: ({"user_pool_id": v}, "user_pool_id"), bad_pool_ids),
    st.builds(lambda v, n: ({"user_pool_id": v, "pool_name": n}, "user_pool_id"), bad_pool_ids,
              st.one_of(st.none(), st.just("prod"))),
    st.builds(lambda pid, n: ({"user_pool_id": pid, "pool_name": n}, "pool_name"), good_pool_ids, bad_pool_names),
    st.builds(lambda k, g: ({"checkpoint_key": k, "generation": g}, "checkpoint_key"), bad_checkpoint_keys,
              st.integers(1, 9)),
    st.builds(lambda k, g: ({"checkpoint_key": k, "generation": g}, "generation"), good_checkpoint_keys,
              bad_generations),
    good_checkpoint_keys.flatmap(lambda k: _unknown_keys({"checkpoint_key": k, "generation": 1})),
    st.builds(lambda k, pid: ({"checkpoint_key": k, "generation": 1, "user_pool_id": pid}, "user_pool_id"),
              good_checkpoint_keys, good_pool_ids),
)


def _names(message: str, field: str) -> bool:
    if field == "event":
        return "event must be a JSON object" in message
    if field in ("user_pool_id", "pool_name", "checkpoint_key", "generation"):
        return field in message
    return repr(field[:40]) in message  # an unknown key, as the refusal lists it


@pytest.fixture
def lambda_env(monkeypatch):
    from backup_lambda import handler

    monkeypatch.setenv("BACKUP_BUCKET", "snapshots-test")
    monkeypatch.setenv("REQUEST_BUDGET", "30")
    monkeypatch.setattr(handler, "make_client", lambda service, *a, **kw: NoAws(service))
    return handler


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(case=malformed_events)
def test_a_malformed_event_is_refused_naming_the_field_with_no_aws_call(lambda_env, case):
    event, field = case

    with pytest.raises(ConfigError) as refused:
        lambda_env.lambda_handler(event, FakeContext())

    message = str(refused.value)
    assert _names(message, field), f"{message[:300]!r} does not name {field[:60]!r}"
    assert len(message) <= MAX_MESSAGE, f"a {len(message):,}-character message"


def test_the_refusal_of_a_huge_non_string_field_is_bounded(lambda_env):
    with pytest.raises(ConfigError) as refused:
        lambda_env.lambda_handler({"user_pool_id": ["x" * 100_000]}, FakeContext())

    assert len(str(refused.value)) <= MAX_MESSAGE


def test_the_first_problem_wins_and_names_the_event_not_the_environment(lambda_env, monkeypatch):
    """A bad environment is named by its variable, before the event is looked at."""
    monkeypatch.setenv("REQUEST_BUDGET", "lots")

    with pytest.raises(ConfigError, match="REQUEST_BUDGET"):
        lambda_env.lambda_handler({"user_pool_id": 42}, FakeContext())


# --- continuation checkpoints read back ------------------------------------------------------------

def a_checkpoint() -> dict[str, Any]:
    """A checkpoint as a run saves it (every kind of field filled in)."""
    from backup_lambda.checkpoint import Checkpoint, GroupsState, ListingState, SpoolRef
    from backup_lambda.contract import Counts
    from backup_lambda.s3_upload import UploadState

    ranges = {p: None for p in "0123456789abcdef"} | {"0": "done", "1": "tok-1", "2": "tok-2"}
    return Checkpoint(
        generation=2, saved_at="2026-11-24T01:14:03Z", snapshot_key="2026/11/24/prod_20261124_010003.json",
        user_pool_id="eu-west-1_AbC123", pool_name="prod", prefix="", kms_key_id=None, excluded=["custom:ssn"],
        request_budget=15.0, taken_at="2026-11-24T01:00:03Z", retention="daily", estimated=5000,
        sections={"mfa_config": "present", "domain": "absent"},
        counts=Counts(users=900, groups=70, memberships=1234, federated_users=3, disabled_users=9),
        elapsed_s=840.5, throttles=2, calls=1200, listing=ListingState("parallel-sub-ranges", ranges),
        groups=GroupsState("tok-groups", 70, 60, {"everyone": "tok-everyone"}), restarts={"range 3": 1},
        seen_subs=900, spool=SpoolRef(123456, "ab" * 32),
        upload=UploadState(bucket="b", key="k", upload_id="u", parts=[{"PartNumber": 1, "ETag": "e"}],
                           part_size=8 << 20, bytes=9 << 20, sha256_kind="openssl", sha256_state="AAAA",
                           tail_bytes=1 << 20),
    ).to_json()


def _paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value and prefix not in ("listing.ranges.", "groups.chains.", "restarts.",
                                                            "sections."):
        return [p for k, v in value.items() for p in [f"{prefix}{k}", *_paths(v, f"{prefix}{k}.")]]
    return []


CHECKPOINT_PATHS = sorted(p for p in _paths(a_checkpoint()) if p != "upload.parts")
# A field may be refused through another it is checked against.
CHECKED_WITH = {"counts.users": "seen_subs", "counts.groups": "groups.listed", "listing.user_listing": "listing.ranges",
                "upload.bytes": "upload.tail_bytes", "upload.part_size": "upload.tail_bytes"}


def _set(data: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        data = data[name]
    data[last] = value


def test_the_checkpoint_the_tests_change_is_a_good_one():
    from backup_lambda.checkpoint import Checkpoint

    assert Checkpoint.from_json(a_checkpoint()).to_json() == a_checkpoint()
    assert len(CHECKPOINT_PATHS) > 40


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(CHECKPOINT_PATHS), junk=st.one_of(json_junk, huge_junk))
def test_a_checkpoint_with_any_field_changed_is_refused_naming_it_or_read_exactly(path, junk):
    from backup_lambda.checkpoint import Checkpoint
    from backup_lambda.errors import SnapshotError

    data = a_checkpoint()
    _set(data, path, junk)
    try:
        parsed = Checkpoint.from_json(data)
    except SnapshotError as exc:
        message = str(exc)
        assert len(message) < MAX_MESSAGE, "the refusal is not bounded"
        named = [path, CHECKED_WITH.get(path, path)]
        if "." in path:
            named.append(path.rsplit(".", 1)[0] + " must have")
        assert any(n in message for n in named) or path.split(".")[0] in message.split(":")[-1], message
        return
    assert parsed.to_json() == json.loads(json.dumps(data)), "a checkpoint was read as something else"


@pytest.mark.parametrize(("change", "says"), [
    (lambda c: c.pop("spool"), "must have exactly the fields"),
    (lambda c: c.update(extra=1), "must have exactly the fields"),
    (lambda c: c["groups"].update(extra=1), "groups must have exactly the fields"),
    (lambda c: c.update(checkpoint_version=1), "checkpoint_version 1 is not 2"),
    (lambda c: c["listing"]["ranges"].pop("f"), "the 16 or 256 sub prefixes"),
    (lambda c: c["listing"].update(user_listing="sequential"), "sequential listing"),
    (lambda c: c["groups"].update(done=71), "done <= listed"),
    (lambda c: c["groups"]["chains"].update({f"g{i}": "t" for i in range(10)}), "more groups than are unfinished"),
    (lambda c: c["groups"]["chains"].update(everyone="done"), "groups.chains is not a map"),
    (lambda c: c.update(restarts={"range 3": 4}), "restarts is not a map of chains to counts <= 3"),
    (lambda c: c.update(sections={"secrets": "present"}), "sections is not a map"),
    (lambda c: c["spool"].update(sha256="0" * 63), "spool.sha256 is not a SHA-256"),
    (lambda c: c["spool"].update(bytes=0), "spool.bytes is not a whole number > 0"),
    (lambda c: c["upload"].update(tail_bytes=8 << 20), "upload.tail_bytes is not less than a part"),
    (lambda c: c.update(seen_subs=899), "seen_subs is fewer than the users written"),
    (lambda c: c["counts"].update(groups=69), "groups.listed is not counts.groups"),
])
def test_each_broken_rule_of_a_checkpoint_is_named(change, says):
    from backup_lambda.checkpoint import Checkpoint
    from backup_lambda.errors import SnapshotError

    data = a_checkpoint()
    change(data)

    with pytest.raises(SnapshotError, match=re.escape(says)):
        Checkpoint.from_json(data, "the checkpoint s3://b/.checkpoints/x.json")


# --- CLI arguments of `python -m cognito_backup snapshot` ------------------------------------------

def run_cli(argv: list[str], monkeypatch) -> int:
    from cognito_backup import snapshot_command as snapshot_cli
    from cognito_backup.cli import main

    monkeypatch.setattr(snapshot_cli, "make_client", lambda service, *a, **kw: NoAws(service))
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return exc.code


GOOD = {"--user-pool-id": "us-east-1_Abc123", "--bucket": "snapshots-test"}
argv_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=80)
argv_huge = st.builds(lambda ch, n: ch * n, st.characters(codec="utf-8", exclude_characters="\x00"),
                      st.integers(1_000, 50_000))


def _bad(is_valid, *extra: st.SearchStrategy) -> st.SearchStrategy:
    """Values the rule (as documented, ``tests/support/field_rules.py``) refuses, near misses included."""
    return st.one_of(argv_text, argv_huge, *extra).filter(lambda v: v != "" and not is_valid(v))


NEAR_MISS_BUCKETS = ["ab", "Upper", "a_b", "-ab", "ab-", "a" * 64, "a..b", "192.168.1.1", "10.0.0.255",
                     "xn--abc", "sthree-abc", "amzn-s3-demo-abc", "abc-s3alias", "abc--ol-s3", "abc.mrap",
                     "abc--x-s3", "abc--table-s3", "ab\u00e9c", "abc\n"]


BAD_FLAG_VALUES = {
    "--user-pool-id": _bad(rules.is_user_pool_id, near_miss_pool_ids.filter(lambda v: "\x00" not in v)),
    "--bucket": _bad(rules.is_bucket_name, st.sampled_from(NEAR_MISS_BUCKETS)),
    "--pool-name": _bad(rules.is_pool_name, st.sampled_from(["a/b", "x" * 129, "a b", "caf\u00e9", "a\tb"])),
    "--prefix": _bad(rules.is_prefix, st.sampled_from(["../x", "a/../b", "a//b", "/abs", "a b/", "a#b", "./x",
                                                       "caf\u00e9/", "x" * 513])),
    "--kms-key-id": _bad(rules.is_kms_key, st.sampled_from(
        ["my key", "alias", "arn:aws:kms:key/1", "alias/", "mrk-123", "1234abcd-12ab-34cd-56ef-1234567890aZ",
         "arn:aws:kms:eu-west-1:12345678901:key/x", "arn:aws:s3:eu-west-1:123456789012:key/x"])),
    "--exclude-attributes": st.lists(st.text(max_size=70), min_size=1, max_size=4).map(",".join).filter(
        lambda v: any(n.strip() and not rules.is_attribute_name(n.strip()) for n in v.split(","))
        or "sub" in {n.strip() for n in v.split(",")}),
    "--request-budget": st.one_of(argv_text, st.floats().map(repr), st.integers().map(str),
                                  st.sampled_from(["0", "-1", "30.0001", "nan", "inf", "1e309"])).filter(
        lambda v: v != "" and not rules.is_budget(v)),
}
# These flags' values are checked inside the snapshot engine, whose messages use the parameter's name
# (user_pool_id, pool_name, prefix, request_budget) instead of the flag's.
ENGINE_NAMED = {"--user-pool-id": "user_pool_id", "--pool-name": "pool_name", "--prefix": "prefix",
                "--request-budget": "request_budget"}


def _argv_with(flag: str, value: str) -> list[str]:
    args = {**GOOD, flag: value}
    return ["snapshot", *[f"{k}={v}" for k, v in args.items()]]


@pytest.mark.parametrize("flag", sorted(BAD_FLAG_VALUES))
def test_a_bad_cli_value_is_refused_with_exit_2_and_no_aws_call(flag, monkeypatch, capsys):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=BAD_FLAG_VALUES[flag])
    def check(value):
        capsys.readouterr()
        code = run_cli(_argv_with(flag, value), monkeypatch)

        err = capsys.readouterr().err
        assert code == 2, f"exit code {code} for {flag}={value[:60]!r}"
        assert flag in err or ENGINE_NAMED.get(flag, flag) in err, err[-300:]

    check()


@pytest.mark.parametrize("flag", sorted(ENGINE_NAMED))
def test_a_bad_cli_value_is_refused_naming_the_flag_itself(flag, monkeypatch, capsys):
    example = {"--user-pool-id": "pool 1", "--pool-name": "a/b", "--prefix": "../x",
               "--request-budget": "99"}[flag]

    assert run_cli(_argv_with(flag, example), monkeypatch) == 2
    assert flag in capsys.readouterr().err


structural_argv = st.one_of(
    st.lists(st.sampled_from(sorted(GOOD)), unique=True, max_size=1).map(
        lambda keep: (["snapshot", *[f"{k}={GOOD[k]}" for k in keep]], sorted(set(GOOD) - set(keep)))),
    st.text(ALNUM + "-", min_size=1, max_size=20).filter(
        lambda f: f"--{f}" not in {"--user-pool-id", "--bucket", "--pool-name", "--prefix", "--kms-key-id",
                                   "--exclude-attributes", "--request-budget", "--quiet", "--json", "--help"}
        and not any(o.startswith(f"--{f}") for o in ("--user-pool-id", "--bucket", "--pool-name", "--prefix",
                                                       "--kms-key-id", "--exclude-attributes",
                                                       "--request-budget", "--quiet", "--json", "--help"))).map(
        lambda f: (["snapshot", *[f"{k}={v}" for k, v in GOOD.items()], f"--{f}"], [f"--{f}"])),
    st.sampled_from(sorted(set(BAD_FLAG_VALUES) - {"--exclude-attributes"})).map(
        lambda f: (["snapshot", *[f"{k}={v}" for k, v in GOOD.items() if k != f], f], [f])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=structural_argv)
def test_missing_unknown_or_empty_flags_are_refused_naming_them(case, monkeypatch, capsys):
    argv, named = case
    capsys.readouterr()

    code = run_cli(argv, monkeypatch)

    err = capsys.readouterr().err
    assert code == 2
    assert all(flag in err for flag in named), err


# --- the stack configuration ----------------------------------------------------------------------

READER = "arn:aws:iam::123456789012:role/cognito-backup-restore"
STACK_REGION = "eu-west-1"


def stack_config(key: str | None = None, value: Any = None) -> dict[str, Any]:
    from infra.config import NAMESPACE

    values = {
        "aws:region": STACK_REGION,
        f"{NAMESPACE}:userPools": json.dumps([{"id": "eu-west-1_AbCd12345", "name": "prod-users"}]),
        f"{NAMESPACE}:snapshotReaders": json.dumps([READER]),
    }
    if key is not None:
        values[f"{NAMESPACE}:{key}"] = value
    return values


def _as_json(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy.map(json.dumps)


def _int_text(low: int, high: int, allowed: tuple[int, ...] = ()) -> st.SearchStrategy:
    out_of_range = st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1))
    if allowed:
        out_of_range = st.one_of(out_of_range, st.integers(low, high).filter(lambda n: n not in allowed))
    return st.one_of(
        out_of_range.map(str),
        st.floats(allow_nan=True).map(repr),
        st.text(min_size=1, max_size=20).filter(lambda s: not re.fullmatch(r"\s*[+-]?\d+\s*", s)),
    )


def _bad_region(value: str) -> bool:
    return not rules.is_region(value) or value.startswith(("cn-", "us-gov-", "us-iso"))


nonempty = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "" or s == " ")
principal = st.sampled_from(["arn:aws:iam::123456789012:role/*", "arn:aws:iam::123456789012:root",
                             "arn:aws:iam::12345:role/x", "role/x", "arn:aws:s3:::bucket", "*"])

BAD_CONFIG: dict[str, st.SearchStrategy] = {
    "userPools": st.one_of(
        _as_json(st.one_of(st.integers(), st.booleans(), st.just([]), st.dictionaries(st.text(max_size=5), json_junk,
                                                                                      max_size=2))),
        _as_json(st.lists(st.one_of(
            st.builds(lambda i, n: {"id": i, "name": n}, bad_pool_ids, st.just("ok")),
            st.builds(lambda n: {"id": "eu-west-1_AbC1", "name": n}, bad_pool_names),
            st.builds(lambda s: {"id": f"us-east-1_{s}", "name": "elsewhere"}, st.text(ALNUM, min_size=1, max_size=9)),
            json_junk.filter(lambda v: not isinstance(v, dict)),
        ), min_size=1, max_size=3)),
        st.text(min_size=1, max_size=30).filter(lambda s: not _parses(s)),
    ),
    "snapshotReaders": st.one_of(
        _as_json(st.lists(principal, min_size=1, max_size=3)),
        _as_json(st.one_of(st.just([]), st.integers(), st.dictionaries(st.text(max_size=4), st.text(max_size=4),
                                                                       min_size=1, max_size=2))),
        principal,
    ),
    "schedule": st.one_of(
        nonempty.filter(lambda s: not s.strip().startswith(("cron(", "rate("))),
        st.sampled_from(["cron(0 1 * * * *)", "cron(0 1 ? * ? *)", "cron(0 1 * *)", "rate(2 days)",
                         "rate(1 days)", "rate(25 hours)", "rate(0 minutes)", "rate(5 minute)", "cron()"]),
        st.integers(2, 400).map(lambda n: f"rate({n} days)"),
    ),
    "requestBudget": st.one_of(
        st.floats(allow_nan=True).filter(lambda x: not 0 < x <= 30).map(repr),
        st.integers().filter(lambda n: not 0 < n <= 30).map(str),
        nonempty.filter(lambda v: not rules.is_budget(v)),
    ),
    "excludeAttributes": st.one_of(
        _as_json(st.lists(st.sampled_from(["sub", "bad name", "a/b", "x" * 65, "é/ok", "a,b ", ""]).filter(
            lambda n: n == "sub" or not rules.is_attribute_name(n)), min_size=1, max_size=3)),
        _as_json(st.one_of(st.integers(), st.dictionaries(st.text(max_size=4), st.booleans(), min_size=1,
                                                          max_size=2))),
        _as_json(st.lists(st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)),
                          min_size=1, max_size=3)),
    ),
    "snapshotPrefix": st.builds(lambda a, bad, b: a + bad + b, st.text(ALNUM, max_size=8),
                                st.sampled_from(["..", "/../", "//", " ", "#", "?", "\\", "%", "*", "|", '"']),
                                st.text(ALNUM, max_size=8)).filter(lambda v: not rules.is_prefix(v)),
    "alarmEmail": nonempty.filter(lambda s: "@" not in s or s.count("@") > 1 or " " in s),
    "retentionDailyDays": _int_text(1, 36500),
    "retentionWeeklyDays": _int_text(1, 36500),
    "retentionMonthlyDays": _int_text(1, 36500),
    "noncurrentVersionDays": _int_text(1, 36500),
    "objectLock": st.one_of(
        nonempty.filter(lambda s: not _parses(s) and s not in ("off", "governance", "compliance")),
        _as_json(st.fixed_dictionaries({"mode": st.text(max_size=12).filter(
            lambda m: m not in ("off", "governance", "compliance")), "days": st.integers(1, 30)})),
        _as_json(st.fixed_dictionaries({"mode": st.sampled_from(["governance", "compliance"]),
                                        "days": st.one_of(st.integers(max_value=0), st.integers(min_value=36501),
                                                          # digit strings are days too ("30" from YAML)
                                                          st.text(max_size=5).filter(lambda t: not t.isdigit()),
                                                          st.none(), st.booleans())})),
        _as_json(st.one_of(st.integers(), st.lists(st.integers(), max_size=2))),
    ),
    "replicaRegion": st.one_of(nonempty.filter(_bad_region), st.just(STACK_REGION)),
    "powertoolsLayerVersion": _int_text(1, 10_000),
    "lambdaTimeout": _int_text(60, 900),
    "lambdaMemory": _int_text(128, 10240),
    "lambdaEphemeralStorage": _int_text(512, 10240),
    "logRetentionDays": _int_text(1, 3653, allowed=(
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)),
    "accessLogRetentionDays": _int_text(1, 36500),
    "protect": nonempty.filter(lambda s: s.strip().lower() not in ("true", "false")),
}


TRAILING_NEWLINE = {
    "userPools[0].id": ("userPools", json.dumps([{"id": "eu-west-1_AbCd12345\n", "name": "prod-users"}])),
    "userPools[0].name": ("userPools", json.dumps([{"id": "eu-west-1_AbCd12345", "name": "prod-users\n"}])),
    "snapshotReaders[0]": ("snapshotReaders", json.dumps([READER + "\n"])),
    "replicaRegion": ("replicaRegion", "eu-central-1\n"),
    "alarmEmail": ("alarmEmail", "oncall@example.com\n"),
}


@pytest.mark.parametrize("where", sorted(TRAILING_NEWLINE))
def test_a_value_with_a_trailing_newline_is_refused(where):
    """A '$' anchor with re.match also matches before a final newline: such a value would pass preview
    and be refused by the function (fullmatch) or by AWS after the deploy."""
    from infra.config import NAMESPACE, StackConfigError, parse_config

    key, value = TRAILING_NEWLINE[where]
    with pytest.raises(StackConfigError) as refused:
        parse_config(stack_config(key, value), stack="prod")
    assert any(p.startswith(f"{NAMESPACE}:{where}") for p in refused.value.problems)


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_every_stack_key_has_bad_values_to_try():
    from infra.config import KEYS

    assert set(BAD_CONFIG) == set(KEYS)


@pytest.mark.parametrize("key", sorted(BAD_CONFIG))
def test_a_bad_stack_value_is_refused_at_preview_naming_its_key(key):
    from infra.config import NAMESPACE, StackConfigError, parse_config

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=BAD_CONFIG[key])
    def check(value):
        assume(value != "")
        with pytest.raises(StackConfigError) as refused:
            parse_config(stack_config(key, value), stack="prod")

        problems = refused.value.problems
        assert any(p.startswith(f"{NAMESPACE}:{key}") for p in problems), (value, problems)

    check()


def test_an_empty_attribute_name_in_exclude_attributes_is_refused():
    from infra.config import StackConfigError, parse_config

    with pytest.raises(StackConfigError, match="excludeAttributes"):
        parse_config(stack_config("excludeAttributes", json.dumps(["email", ""])), stack="prod")


def test_the_program_refuses_a_bad_stack_before_creating_anything(monkeypatch):
    """``pulumi preview`` runs the program: load_config fails first, naming the key."""
    from infra import config as infra_config

    raw = stack_config("schedule", "every night")
    monkeypatch.setattr(infra_config, "load_config",
                        lambda: infra_config.parse_config(raw, stack="prod"))
    import runpy

    import pulumi

    created = []
    monkeypatch.setattr(pulumi.CustomResource, "__init__", lambda self, *a, **kw: created.append(a))
    with pytest.raises(pulumi.RunError, match="cognito-backup:schedule"):
        runpy.run_path(str(Path(__file__).resolve().parents[2] / "__main__.py"), run_name="__main__")
    assert created == []


# --- snapshot files -------------------------------------------------------------------------------

@dataclass(frozen=True)
class BadFile:
    name: str
    data: bytes
    manifest: dict | None  # None: no manifest file
    says: tuple[str, ...]  # one of these must appear in what the tool prints


def _manifest_for(data: bytes, template: dict, **overrides: Any) -> dict:
    return {**template, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **overrides}


def bad_files(good: bytes, manifest: dict) -> list[BadFile]:
    doc = json.loads(good)
    end = good.rstrip().rfind(b"}")
    users_at = good.find(b'"users"')
    files = [
        BadFile(f"truncated-{frac}", good[: int(len(good) * frac)], manifest,
                ("ends early", "empty", "sha256", "byte count", "not a valid snapshot"))
        for frac in (0.0, 0.01, 0.25, 0.5, 0.9)
    ] + [
        BadFile("truncated-in-users", good[: users_at + 40], manifest, ("ends early", "sha256", "byte count")),
        BadFile("truncated-last-brace", good[:end], manifest, ("ends early", "sha256", "byte count")),
        BadFile("truncated-manifest-updated", good[:end], _manifest_for(good[:end], manifest), ("ends early",)),
        BadFile("tampered-one-byte", good.replace(b"example.com", b"examp1e.com", 1), manifest, ("sha256",)),
        BadFile("tampered-manifest-sha256", good, {**manifest, "sha256": "0" * 64}, ("sha256",)),
        BadFile("appended", good + b'{"extra": 1}\n', manifest, ("byte count", "sha256", "after the end")),
        BadFile("format-version-3", *_reencoded(doc, manifest, format_version=3), ("format_version",)),
        BadFile("format-version-string", *_reencoded(doc, manifest, format_version="1"), ("format_version",)),
        BadFile("format-version-missing", *_reencoded(doc, manifest, format_version=None), ("format_version",)),
        BadFile("manifest-format-version-9", good, {**manifest, "format_version": 9}, ("format_version",)),
        BadFile("not-json-text", b"this is not a snapshot\n", _manifest_for(b"this is not a snapshot\n", manifest),
                ("not a valid snapshot", "JSON", "json")),
        BadFile("not-json-binary", bytes(range(256)) * 4, _manifest_for(bytes(range(256)) * 4, manifest),
                ("not a valid snapshot", "UTF-8", "JSON", "json")),
        BadFile("not-json-array", b"[1, 2, 3]\n", _manifest_for(b"[1, 2, 3]\n", manifest),
                ("not a valid snapshot", "object", "JSON")),
        BadFile("utf16", good.decode().encode("utf-16"), _manifest_for(good.decode().encode("utf-16"), manifest),
                ("UTF-8", "not a valid snapshot", "JSON")),
        BadFile("empty", b"", _manifest_for(b"", manifest), ("ends early", "empty", "not a valid snapshot")),
        BadFile("no-manifest", good, None, ("manifest", "not complete")),
        BadFile("manifest-not-json", good, {"__raw__": "{not json"}, ("manifest",)),
    ]
    return files


def _reencoded(doc: dict, manifest: dict, **changes: Any) -> tuple[bytes, dict]:
    from tests.support.snapshot_builder import encode_snapshot

    changed = dict(doc)
    for k, v in changes.items():
        if v is None:
            changed.pop(k, None)
        else:
            changed[k] = v
    data = encode_snapshot(changed)
    return data, _manifest_for(data, manifest, **{k: v for k, v in changes.items() if v is not None})


def write_bad(directory: Path, bad: BadFile, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_bytes(bad.data)
    if bad.manifest is not None:
        body = bad.manifest.get("__raw__") or json.dumps({**bad.manifest, "snapshot_key": path.name})
        (directory / f"{name}.manifest.json").write_text(body)
    return path


@pytest.fixture(scope="module")
def moto_world():
    """One moto account for the file's snapshot-file tests; every client shares one boto3 session."""
    import functools

    import boto3
    from moto import mock_aws

    from backup_lambda import aws
    from demo.emulator import FAKE_ENV

    with pytest.MonkeyPatch.context() as mp:
        for k, v in FAKE_ENV.items():
            mp.setenv(k, v)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            mp.setattr(aws, "make_client", functools.partial(aws.make_client, session=boto3.Session()))
            yield aws.make_client


@pytest.fixture(scope="module")
def good_snapshot(moto_world):
    """A real snapshot of a small rich pool, written by the engine against moto."""
    from datetime import datetime, timezone

    from backup_lambda.snapshot import take_snapshot
    from tests.support.rich_pool import build_rich_pool

    cognito, s3 = moto_world("cognito-idp"), moto_world("s3")
    s3.create_bucket(Bucket="good")
    pool_id = build_rich_pool(cognito, "prod-users")
    result = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket="good", request_budget=30,
                           now=datetime(2026, 11, 24, 1, 0, 3, tzinfo=timezone.utc))
    data = s3.get_object(Bucket="good", Key=result.key)["Body"].read()
    manifest = json.loads(s3.get_object(Bucket="good", Key=result.manifest_key)["Body"].read())
    cognito.delete_user_pool(UserPoolId=pool_id)
    return data, manifest


def all_bad(good_snapshot) -> list[BadFile]:
    return bad_files(*good_snapshot)


BAD_NAMES = ["truncated-0.0", "truncated-0.01", "truncated-0.25", "truncated-0.5", "truncated-0.9",
             "truncated-in-users", "truncated-last-brace", "truncated-manifest-updated", "tampered-one-byte",
             "tampered-manifest-sha256", "appended", "format-version-3", "format-version-string",
             "format-version-missing", "manifest-format-version-9", "not-json-text", "not-json-binary",
             "not-json-array", "utf16", "empty", "no-manifest", "manifest-not-json"]


def test_the_bad_file_list_is_complete(good_snapshot, tmp_path, monkeypatch, capsys):
    assert [b.name for b in all_bad(good_snapshot)] == BAD_NAMES
    data, manifest = good_snapshot
    good = write_bad(tmp_path, BadFile("good", data, manifest, ()), "prod-users_20261124_010003")
    assert run_tool(["verify", str(good)], monkeypatch) == 0, capsys.readouterr()


def files_in(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def run_tool(argv: list[str], monkeypatch) -> int:
    from cognito_backup.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def workplace(tmp_path, monkeypatch):
    """An empty working directory (the current one) and a separate work dir for temporary files."""
    cwd, work = tmp_path / "cwd", tmp_path / "work"
    cwd.mkdir()
    work.mkdir()
    monkeypatch.chdir(cwd)
    return cwd, work


def _said(bad: BadFile, text: str) -> bool:
    return any(s in text for s in bad.says)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_verify_refuses_a_bad_file_and_says_why(good_snapshot, workplace, tmp_path, monkeypatch, capsys, name):
    bad = next(b for b in all_bad(good_snapshot) if b.name == name)
    path = write_bad(tmp_path / "in", bad, "prod-users_20261124_010003")
    before = files_in(tmp_path)

    code = run_tool(["verify", str(path)], monkeypatch)

    out = capsys.readouterr()
    assert code != 0
    assert _said(bad, out.out + out.err), out.out + out.err
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("side", ["a", "b"])
def test_diff_refuses_a_bad_file_on_either_side_and_writes_nothing(good_snapshot, workplace, tmp_path, monkeypatch,
                                                                   capsys, name, side):
    _, work = workplace
    bad = next(b for b in all_bad(good_snapshot) if b.name == name)
    data, manifest = good_snapshot
    good_path = write_bad(tmp_path / "good", BadFile("good", data, manifest, ()), "prod-users_20261124_010003")
    bad_path = write_bad(tmp_path / "in", bad, "prod-users_20261125_010003")
    paths = [str(good_path), str(bad_path)] if side == "b" else [str(bad_path), str(good_path)]
    before = files_in(tmp_path)

    code = run_tool(["diff", *paths, "--work-dir", str(work)], monkeypatch)

    out = capsys.readouterr()
    assert code != 0
    assert _said(bad, out.out + out.err) and str(bad_path) in out.out + out.err, out.err
    assert files_in(tmp_path) == before


@pytest.fixture
def moto_cognito(moto_world, good_snapshot):
    """The module's moto account, with no user pool; any pool a test leaves is removed after it."""
    cognito = moto_world("cognito-idp")
    yield cognito
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        cognito.delete_user_pool(UserPoolId=pool["Id"])


@pytest.mark.parametrize("name", BAD_NAMES)
def test_restore_refuses_a_bad_file_before_creating_anything(good_snapshot, workplace, tmp_path, monkeypatch,
                                                             capsys, moto_cognito, name):
    _, work = workplace
    bad = next(b for b in all_bad(good_snapshot) if b.name == name)
    path = write_bad(tmp_path / "in", bad, "prod-users_20261124_010003")
    existing = moto_cognito.create_user_pool(PoolName="existing-empty")["UserPool"]["Id"]
    before = files_in(tmp_path)

    codes = [run_tool(["restore", str(path), "--new-pool-name", "restored", "--users-via", "admin-create",
                       "--work-dir", str(work)], monkeypatch),
             run_tool(["restore", str(path), "--target-pool-id", existing, "--users-via", "admin-create",
                       "--work-dir", str(work)], monkeypatch)]

    out = capsys.readouterr()
    assert codes[0] != 0 and codes[1] != 0
    assert _said(bad, out.out + out.err), out.err
    pools = moto_cognito.list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Id"] for p in pools] == [existing], "a pool was created from a bad snapshot"
    assert moto_cognito.list_groups(UserPoolId=existing)["Groups"] == []
    assert moto_cognito.list_users(UserPoolId=existing)["Users"] == []
    assert files_in(tmp_path) == before


def test_restore_refuses_a_bad_snapshot_in_s3_and_writes_nothing_to_the_bucket(good_snapshot, workplace, monkeypatch,
                                                                                capsys, moto_world, moto_cognito):
    _, work = workplace
    s3 = moto_world("s3")
    s3.create_bucket(Bucket="snapshots")
    data, manifest = good_snapshot
    key = "2026/11/24/prod-users_20261124_010003.json"
    s3.put_object(Bucket="snapshots", Key=key, Body=data[:-100])
    s3.put_object(Bucket="snapshots", Key=key.replace(".json", ".manifest.json"),
                  Body=json.dumps({**manifest, "snapshot_key": key}).encode())
    before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="snapshots")["Contents"])

    code = run_tool(["restore", f"s3://snapshots/{key}", "--new-pool-name", "restored", "--work-dir", str(work)],
                    monkeypatch)

    assert code != 0 and "ends early" in capsys.readouterr().err
    assert moto_cognito.list_user_pools(MaxResults=60)["UserPools"] == []
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="snapshots")["Contents"]) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_verify_refuses_any_truncation_or_any_changed_byte(good_snapshot, tmp_path_factory, data):
    from cognito_backup.verify import verify_snapshot

    good, manifest = good_snapshot
    if data.draw(st.booleans(), label="truncate"):
        cut = data.draw(st.integers(0, len(good) - 1), label="cut")
        damaged = good[:cut]
    else:
        at = data.draw(st.integers(0, len(good) - 1), label="at")
        new = data.draw(st.integers(0, 255).filter(lambda b: b != good[at]), label="byte")
        damaged = good[:at] + bytes([new]) + good[at + 1:]
    directory = tmp_path_factory.mktemp("damaged")
    path = write_bad(directory, BadFile("damaged", damaged, manifest, ()), "prod-users_20261124_010003")

    result = verify_snapshot(str(path))

    assert not result["ok"]
    assert result["problems"]


# --- the production rules against the rules as documented -------------------------------------------

def _accepts(validate, value) -> bool:
    try:
        validate(value, "field")
    except ConfigError:
        return False
    return True


def _rule_table():
    from backup_lambda import validation as v

    return {
        "user pool id": (v.validate_user_pool_id, rules.is_user_pool_id,
                         ["eu-west-1_AbC123", "us-gov-west-1_x", "ap-southeast-2_" + "a" * 40],
                         ["eu-west-1", "eu-west-1_", "EU-west-1_a", "eu-west-123_a", "eu-west-\u0661_a",
                          "eu-west-1_a_b", "eu-west-1_" + "a" * 50, "eu-west-1_ab\u00e9"]),
        "pool name": (v.validate_pool_name, rules.is_pool_name, ["prod-users", "a", "x@y.z+1=2,3", "x" * 128],
                      ["", "a b", "a/b", "x" * 129, "caf\u00e9"]),
        "bucket": (v.validate_bucket, rules.is_bucket_name, ["my-snapshots", "a.b.c", "abc", "x" * 63, "1.2.3"],
                   NEAR_MISS_BUCKETS),
        "prefix": (v.validate_prefix, rules.is_prefix, ["", "backups/", "a/b/c", "x=1/@y/"],
                   ["a//b", "../x", "a/./b", "/abs", "a b/", "caf\u00e9/", "x" * 513]),
        "kms key": (v.validate_kms_key, lambda x: x == "" or rules.is_kms_key(x),
                    ["alias/backups", "mrk-" + "0" * 32, "1234abcd-12ab-34cd-56ef-1234567890ab",
                     "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                     "arn:aws:kms:eu-west-1:123456789012:alias/x"],
                    ["alias/", "mrk-1", "arn:aws:kms:eu-west-1:1234:key/x", "my key", "alias/caf\u00e9"]),
        "budget": (v.validate_budget, rules.is_budget, [15, "0.5", 30, "30"], [0, "-1", "30.01", "nan", True, "x"]),
    }


@pytest.mark.parametrize("rule", ["user pool id", "pool name", "bucket", "prefix", "kms key", "budget"])
def test_each_validator_accepts_the_documented_good_values_and_refuses_the_near_misses(rule):
    validate, documented, good, bad = _rule_table()[rule]
    for value in good:
        assert documented(value) and _accepts(validate, value), f"{rule}: {value!r} should be accepted"
    for value in bad:
        assert not documented(value) and not _accepts(validate, value), f"{rule}: {value!r} should be refused"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("rule", ["user pool id", "pool name", "bucket", "prefix", "kms key"])
def test_each_validator_agrees_with_the_documented_rule_on_any_value(rule, data):
    validate, documented, good, bad = _rule_table()[rule]
    alphabet = st.sampled_from(sorted(set("".join(good + bad)) | set("_-./:")))
    value = data.draw(st.one_of(st.sampled_from(good + bad), st.text(alphabet, max_size=70),
                                st.builds(lambda g, t: g + t, st.sampled_from(good), st.text(alphabet, max_size=3))))
    assert _accepts(validate, value) == documented(value), f"{rule}: {value!r}"
