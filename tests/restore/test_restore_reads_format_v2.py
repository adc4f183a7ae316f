"""The restore reads both formats: a snapshot taken before format 2 (the configuration and the groups
before the users) and one of format 2 (users first, then the groups, then the configuration) restore the
same pool, through the same steps in the documented order: groups, users, memberships, disabled state."""

from __future__ import annotations

import json

import pytest

from cognito_backup.restore import RestoreOptions, restore_snapshot
from tests.support.rich_pool import fast_rate_limits  # noqa: F401 - autouse fixture
from tests.support.snapshot_builder import make_group, make_snapshot, make_user, write_s3

STEPS = ("CreateGroup", "AdminCreateUser", "AdminAddUserToGroup", "AdminDisableUser")


def a_snapshot(version: int, name: str) -> dict:
    users = [make_user("alice", email="alice@example.com"), make_user("bob", email="bob@example.com", enabled=False),
             make_user("carol", email="carol@example.com"), make_user("dave", email="dave@example.com")]
    groups = [make_group("admins", ["alice"], precedence=1, description="Administrators"),
              make_group("staff", ["alice", "bob", "dave"], precedence=5), make_group("empty")]
    doc = make_snapshot(users=users, groups=groups, pool_name=name, format_version=version)
    assert list(doc).index("users") < list(doc).index("groups") if version == 2 else \
        list(doc).index("groups") < list(doc).index("users")
    return doc


def restored(cognito, s3, bucket, tmp_path, version: int, **options):
    source = f"s3://{bucket}/" + write_s3(s3, bucket, a_snapshot(version, f"source-v{version}"))
    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-idp", lambda model, **kw: calls.append(model.name))
    report = restore_snapshot(cognito, s3, RestoreOptions(snapshot=source, mapping_file=str(tmp_path / "map.json"),
                                                          workers=2, **options))
    return report, calls


def members_of(cognito, pool_id: str) -> dict[str, list[str]]:
    groups = cognito.list_groups(UserPoolId=pool_id)["Groups"]
    return {g["GroupName"]: sorted(u["Username"] for u in cognito.list_users_in_group(
        UserPoolId=pool_id, GroupName=g["GroupName"])["Users"]) for g in groups}


@pytest.mark.parametrize("version", [1, 2])
def test_either_format_restores_the_same_pool_in_the_documented_order(cognito, s3, bucket, tmp_path, version):
    report, calls = restored(cognito, s3, bucket, tmp_path, version, new_pool_name=f"restored-v{version}")

    assert report["status"] == "ok", report.get("failures")
    pool_id = report["target_user_pool_id"]
    steps = [op for op in dict.fromkeys(calls) if op in STEPS]
    assert steps == list(STEPS), "the restore's steps are not groups, users, memberships, disabled state"
    assert members_of(cognito, pool_id) == {"admins": ["alice"], "staff": ["alice", "bob", "dave"], "empty": []}
    users = {u["Username"]: u for u in cognito.list_users(UserPoolId=pool_id)["Users"]}
    assert sorted(users) == ["alice", "bob", "carol", "dave"] and users["bob"]["Enabled"] is False
    assert report["steps"]["groups"] == {"created": 3, "already_there": 0}


def test_the_plan_of_either_format_is_the_same(cognito, s3, bucket, tmp_path):
    plans = {}
    for version in (1, 2):
        report, calls = restored(cognito, s3, bucket, tmp_path, version, new_pool_name="planned", dry_run=True)
        assert report["status"] == "dry-run"
        assert not [op for op in calls if op.startswith(("Create", "Admin", "Add", "Set"))], "a dry run wrote"
        plans[version] = report["plan"]

    assert plans[1] == plans[2]
    assert plans[2]["groups"] == {"create": 3} and plans[2]["memberships"] == {"add": 4}


def test_a_second_groups_array_after_the_users_is_refused_before_any_write(cognito, s3, bucket, tmp_path):
    # Given a format-1 snapshot (groups first) with a second "groups" array after its users, its summary and
    # manifest made to match: the memberships of that late group would come after the users were decided
    from backup_lambda.errors import SnapshotFileError
    from tests.support.snapshot_builder import encode_snapshot, summary_for

    doc = a_snapshot(1, "late-groups")
    late = make_group("late", ["carol"])
    doc["summary"] = summary_for(doc["users"], [*doc["groups"], late], [])
    data = encode_snapshot(doc)
    data = data[: data.rindex(b"}")] + b',\n"groups": [\n' + json.dumps(late).encode() + b"\n]}\n"
    source = f"s3://{bucket}/" + write_s3(s3, bucket, doc, data=data)
    before = cognito.list_user_pools(MaxResults=60)["UserPools"]

    # When it is restored, Then verification refuses it (the walk relies on one groups array), and nothing is made
    with pytest.raises(SnapshotFileError, match="the key 'groups' appears twice"):
        restore_snapshot(cognito, s3, RestoreOptions(snapshot=source, new_pool_name="late",
                                                     mapping_file=str(tmp_path / "map.json"), workers=2))
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == before
