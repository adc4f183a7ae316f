"""The round trip: a rich pool, its snapshot, a restore into a new pool, the new pool's snapshot, and a
diff that finds nothing but the documented non-restorables (docs/restoring.md)."""

from __future__ import annotations

import json
import re

import pytest

from backup_lambda.snapshot import take_snapshot
from cognito_backup.cli import main
from cognito_backup.diff import diff_snapshots
from cognito_backup.diff_config import CLIENT_KEYED
from cognito_backup.restore import RestoreOptions, restore_snapshot
from tests.support.rich_pool import PROVIDER_SECRETS, build_rich_pool, fast_rate_limits  # noqa: F401 - autouse fixture

# What a restore cannot bring back, as the plain diff (without --restored) names it.
NON_RESTORABLE_POOL = {"Id", "Arn", "Name", "CreationDate", "LastModifiedDate"}
NON_RESTORABLE_CLIENT = re.compile(r"^[^.]+\.(ClientId|UserPoolId)$")  # clients are keyed by name
# Items of an app client (terms, CIMD policies, a client's session...) are keyed by its name: new ids of their own.
NEW_ITEM_IDS = re.compile(r"^[^.]+\.(ClientId|UserPoolId|TermsId|CIMDPolicyId)$")
NON_RESTORABLE_SECTION_FIELD = re.compile(r"^(.+\.)?UserPoolId$")  # resource servers by identifier (dots)
RESTORE_STATUSES = {"FORCE_CHANGE_PASSWORD", "RESET_REQUIRED"}


@pytest.mark.parametrize("username_attributes", [None, ["email"]], ids=["usernames", "email-as-username"])
def test_round_trip_differs_only_in_documented_non_restorables(cognito, s3, bucket, tmp_path, username_attributes):
    # Given a rich pool and its snapshot
    pool_id = build_rich_pool(cognito, username_attributes=username_attributes)
    original = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket)
    source = f"s3://{bucket}/{original.key}"
    assert (original.users, original.groups, original.memberships, original.disabled_users) == (5, 3, 5, 1)

    # When it is restored into a new pool and that pool is snapshotted
    report = restore_snapshot(cognito, s3, RestoreOptions(
        snapshot=source, new_pool_name="prod-users-restored", secrets=PROVIDER_SECRETS, workers=4,
        mapping_file=str(tmp_path / "mapping.json")))
    assert report["status"] == "ok", report["failures"]
    copy = take_snapshot(cognito, s3, user_pool_id=report["target_user_pool_id"], bucket=bucket)
    restored = f"s3://{bucket}/{copy.key}"

    # Then the restore check finds nothing
    checked = diff_snapshots(source, restored, s3=s3, restored=True)
    assert checked["summary"]["identical"], json.dumps(checked, indent=1, default=str)

    # And the plain diff finds only subs, ids, names, dates and the status a restore leaves
    plain = diff_snapshots(source, restored, s3=s3)
    s = plain["summary"]
    assert (s["groups_added"], s["groups_removed"], s["groups_changed"]) == (0, 0, 0)
    if username_attributes:
        # New generated usernames: the plain diff, which matches by username, sees other users (the
        # restore check above matches them by email). The mapping file links old and new usernames.
        assert s["users_added"] == s["users_removed"] == 5
        assert s["memberships_gained"] == s["memberships_lost"] == 5
    else:
        assert s["memberships_gained"] == s["memberships_lost"] == 0
        assert s["users_added"] == s["users_removed"] == 0 and s["users_changed"] == 5
        for user in plain["users_changed"]:
            changes = user["changes"]
            assert set(changes) <= {"attributes", "status"}
            assert set(changes["attributes"]) == {"sub"}
            assert changes.get("status", [None, "FORCE_CHANGE_PASSWORD"])[1] in RESTORE_STATUSES
    for change in plain["config_changes"]:
        section, path = change["section"], change["path"]
        if section == "pool":
            assert path in NON_RESTORABLE_POOL, change
        elif section == "clients":
            assert NON_RESTORABLE_CLIENT.match(path), change
        elif section in CLIENT_KEYED:
            assert NEW_ITEM_IDS.match(path), change
        else:
            assert NON_RESTORABLE_SECTION_FIELD.match(path), change


def test_round_trip_through_the_command_line_against_a_moto_server(aws_env, monkeypatch, tmp_path, capsys):
    """End to end: a moto server on a free port, every step through ``python -m cognito_backup``."""
    from backup_lambda.aws import make_client
    from demo.emulator import LocalAws

    with LocalAws() as local:
        monkeypatch.setenv("AWS_ENDPOINT_URL", local.endpoint_url)
        cognito, s3 = make_client("cognito-idp"), make_client("s3")
        s3.create_bucket(Bucket="roundtrip-snapshots")
        pool_id = build_rich_pool(cognito, "server-pool")
        key = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket="roundtrip-snapshots").key
        source = f"s3://roundtrip-snapshots/{key}"
        secrets = tmp_path / "secrets.json"
        secrets.write_text(json.dumps(PROVIDER_SECRETS))

        assert main(["verify", source]) == 0
        assert main(["list", "--bucket", "roundtrip-snapshots", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert listed["snapshots"][0]["complete"] and listed["snapshots"][0]["users"] == 5

        assert main(["restore", source, "--new-pool-name", "server-restored", "--secrets", str(secrets),
                     "--mapping-file", str(tmp_path / "map.json"), "--json"]) == 0
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        new_key = take_snapshot(cognito, s3, user_pool_id=report["target_user_pool_id"],
                                bucket="roundtrip-snapshots").key

        assert main(["diff", source, f"s3://roundtrip-snapshots/{new_key}", "--restored", "--exit-code"]) == 0
        assert "IDENTICAL" in capsys.readouterr().out
