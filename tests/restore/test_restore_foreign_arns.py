"""Issue 15: a restore refuses ARNs of another account than the one it restores into, before anything is written,
unless ``--allow-foreign-arns`` is given (cognito_backup/restore/foreign.py).

The hostile snapshot is the issue's: a trigger in another account, a SAML provider whose metadata is on a foreign
host, an ``admins`` group mapped to another account's role (in format 2 the groups come after the users: the
check must see them before the first write all the same). moto's account (123456789012, its STS answer) is the
account restored into.
"""

from __future__ import annotations

import json
import re

import pytest
from botocore.stub import Stubber

from backup_lambda.aws import make_client
from backup_lambda.errors import ConfigError
from cognito_backup import cli
from cognito_backup.restore import RestoreOptions, Restorer, format_report
from cognito_backup.restore.foreign import caller_account
from cognito_backup.restore.overrides import collect, parse_command_line
from cognito_backup.restore.references import ARN
from tests.restore.test_restore_real_account import NEW, OLD_ACCOUNT, OTHER_ACCOUNT, World
from tests.support.snapshot_builder import (
    default_pool,
    make_group,
    make_snapshot,
    make_user,
    present,
    write_local,
    write_s3,
)

HERE = "123456789012"  # moto's account: where the restore writes
EVIL = "999988887777"
TRIGGER = f"arn:aws:lambda:eu-west-1:{EVIL}:function:harvest"
ADMIN_ROLE = f"arn:aws:iam::{EVIL}:role/OrganizationAccountAccessRole"
SAML = {"ProviderName": "Partner", "ProviderType": "SAML", "RedactedDetails": [],
        "ProviderDetails": {"MetadataURL": "https://metadata.evil.example.net/saml.xml"},
        "AttributeMapping": {"email": "email"}, "IdpIdentifiers": []}


def hostile(format_version: int = 2, *, trigger: str | None = TRIGGER, admin_role: str | None = ADMIN_ROLE):
    sections = {"identity_providers": present(items=[SAML])}
    return make_snapshot(
        format_version=format_version, sections=sections,
        pool=default_pool(LambdaConfig={"PreSignUp": trigger} if trigger else {}),
        users=[make_user("alice", email="alice@example.com"), make_user("bob", email="bob@example.com")],
        groups=[make_group("admins", ["alice"], precedence=1, role_arn=admin_role), make_group("staff", ["bob"])])


def restore(cognito, s3, bucket, tmp_path, doc, *overrides: str, account=None, **options):
    source = f"s3://{bucket}/" + write_s3(s3, bucket, doc)
    opts = RestoreOptions(snapshot=source, new_pool_name="restored", mapping_file=str(tmp_path / "map.json"),
                          workers=2, overrides=collect([], parse_command_line(list(overrides))), **options)
    said: list[str] = []
    kwargs = {"account": account} if account else {}
    return Restorer(cognito, s3, opts, progress=said.append, **kwargs).run(), said


@pytest.mark.parametrize("format_version", [1, 2])
def test_a_snapshot_pointing_at_another_account_is_refused_before_anything_is_written(
        cognito, s3, bucket, tmp_path, format_version):
    with pytest.raises(ConfigError) as refused:
        restore(cognito, s3, bucket, tmp_path, hostile(format_version))

    message = str(refused.value)
    assert f"2 ARN(s) of {EVIL}, not of account {HERE}" in message
    assert f"pool.LambdaConfig.PreSignUp: {TRIGGER}" in message
    assert f"groups.admins.RoleArn: {ADMIN_ROLE}" in message
    assert "--allow-foreign-arns" in message and "--override PATH=ARN" in message
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == []
    assert not (tmp_path / "map.json").exists()


def test_with_allow_foreign_arns_the_restore_sends_them_and_says_so(cognito, s3, bucket, tmp_path):
    report, said = restore(cognito, s3, bucket, tmp_path, hostile(), allow_foreign_arns=True)

    assert report["status"] == "ok", report["failures"]
    gate = report["foreign_arns"]
    assert gate["account"] == HERE and gate["allowed"] and "refused" not in gate
    assert {(a["where"], a["value"], a["account"]) for a in gate["arns"]} == {
        ("pool.LambdaConfig.PreSignUp", TRIGGER, EVIL), ("groups.admins.RoleArn", ADMIN_ROLE, EVIL)}
    assert any(line.startswith("WARNING: --allow-foreign-arns") and "2 ARN(s)" in line for line in said)
    assert f"    groups.admins.RoleArn: {ADMIN_ROLE}" in format_report(report).splitlines()
    pool_id = report["target_user_pool_id"]
    assert cognito.get_group(UserPoolId=pool_id, GroupName="admins")["Group"]["RoleArn"] == ADMIN_ROLE


def test_overrides_that_point_them_at_this_account_need_no_flag(cognito, s3, bucket, tmp_path):
    report, _ = restore(cognito, s3, bucket, tmp_path, hostile(),
                        f"pool.LambdaConfig.PreSignUp=arn:aws:lambda:eu-west-1:{HERE}:function:pre-sign-up",
                        f"groups.admins.RoleArn=arn:aws:iam::{HERE}:role/admins")

    assert report["status"] == "ok", report["failures"]
    assert report["foreign_arns"] == {"account": HERE, "allowed": False, "arns": []}
    group = cognito.get_group(UserPoolId=report["target_user_pool_id"], GroupName="admins")["Group"]
    assert group["RoleArn"] == f"arn:aws:iam::{HERE}:role/admins"


def test_an_override_cannot_give_a_group_a_foreign_role(cognito, s3, bucket, tmp_path):
    doc = hostile(trigger=None, admin_role=None)
    with pytest.raises(ConfigError, match=re.escape(f"groups.staff.RoleArn: arn:aws:iam::{EVIL}:role/x")):
        restore(cognito, s3, bucket, tmp_path, doc, f"groups.staff.RoleArn=arn:aws:iam::{EVIL}:role/x")
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == []


def test_without_triggers_leaves_the_triggers_out_of_the_check(cognito, s3, bucket, tmp_path):
    report, _ = restore(cognito, s3, bucket, tmp_path, hostile(admin_role=None), without_triggers=True)

    assert report["status"] == "ok", report["failures"]
    assert report["foreign_arns"] is None  # no ARN left that names an account: not even asked


def test_the_account_is_asked_only_when_an_arn_names_one(cognito, s3, bucket, tmp_path):
    def no_call() -> str:
        raise AssertionError("sts:GetCallerIdentity called for a snapshot without ARNs")

    report, _ = restore(cognito, s3, bucket, tmp_path, hostile(trigger=None, admin_role=None), account=no_call)
    assert report["status"] == "ok" and report["foreign_arns"] is None


def test_the_dry_run_lists_them_and_says_the_run_would_refuse(cognito, s3, bucket, tmp_path):
    report, _ = restore(cognito, s3, bucket, tmp_path, hostile(), dry_run=True)

    assert report["status"] == "dry-run"
    assert "refused" in report["foreign_arns"]
    outside = report["plan"]["outside_references"]
    label = f"account {EVIL} (not the snapshot's account: refused without --allow-foreign-arns)"
    assert {r["where"] for r in outside[label]} == {"pool.LambdaConfig.PreSignUp", "groups.admins.RoleArn"}
    assert {r["value"] for r in outside["URLs (outside AWS accounts)"]} == {SAML["ProviderDetails"]["MetadataURL"]}
    text = format_report(report)
    assert "the run would refuse this snapshot" in text and label in text
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == []


def test_the_command_line_refuses_with_exit_2_and_takes_the_flag(cognito, tmp_path, capsys):
    snapshot = str(write_local(tmp_path, hostile()))
    common = ["restore", snapshot, "--new-pool-name", "copy", "--work-dir", str(tmp_path),
              "--mapping-file", str(tmp_path / "map.json")]

    assert cli.main(common) == 2
    err = capsys.readouterr().err
    assert f"groups.admins.RoleArn: {ADMIN_ROLE}" in err and "Traceback" not in err
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == []
    assert cli.main([*common, "--allow-foreign-arns"]) == 0
    assert "WARNING: --allow-foreign-arns" in capsys.readouterr().err


def test_a_failed_account_lookup_is_a_clear_error(aws):
    with pytest.raises(ConfigError, match="sts:GetCallerIdentity.*ExpiredToken.*--allow-foreign-arns"):
        caller_account(stubbed_sts_failure())


def test_with_the_flag_a_failed_account_lookup_lists_every_arn_and_goes_on(cognito, s3, bucket, tmp_path):
    def expired() -> str:
        return caller_account(stubbed_sts_failure())

    with pytest.raises(ConfigError, match="sts:GetCallerIdentity"):  # without the flag: refused, nothing written
        restore(cognito, s3, bucket, tmp_path, hostile(), account=expired)
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == []

    report, said = restore(cognito, s3, bucket, tmp_path, hostile(), account=expired, allow_foreign_arns=True)
    assert report["status"] == "ok", report["failures"]
    assert report["foreign_arns"]["account"] is None
    assert {a["value"] for a in report["foreign_arns"]["arns"]} == {TRIGGER, ADMIN_ROLE}
    assert "ARNs of accounts (the account restored into could not be told)" in format_report(report)


def stubbed_sts_failure():
    """An STS client whose GetCallerIdentity fails as moto never would: expired credentials."""
    sts = make_client("sts")
    stub = Stubber(sts)
    stub.add_client_error("get_caller_identity", "ExpiredToken", "The security token included in the request is "
                          "expired")
    stub.activate()
    return sts


def test_every_foreign_arn_a_rich_restore_sends_was_in_the_check(cognito, s3, bucket, tmp_path):
    """The check's list is complete: restore the real-account snapshot with the flag, overriding only the SMS
    role (which moto's trust rule would refuse), every other ARN as the old pool used it; then find every ARN of
    another account in what was sent."""
    world = World(s3, bucket)
    report = world.restore(tmp_path, overrides={k: v for k, v in NEW.items() if k.startswith("pool.SmsConfiguration")})

    checked = {a["value"] for a in report["foreign_arns"]["arns"]}
    sent = set()
    for service, operation, params in world.log.requests:
        if service == "cognito-idp" and not operation.startswith(("Describe", "List", "Get", "Admin")):
            sent |= {v for v in strings(params) if (m := ARN.fullmatch(v)) and m["account"] not in ("", HERE)}
    assert sent, "the snapshot's foreign ARNs were not sent at all"
    assert sent <= checked, sent - checked
    assert {OLD_ACCOUNT, OTHER_ACCOUNT} <= {a["account"] for a in report["foreign_arns"]["arns"]}
    assert json.dumps(report)  # the report stays serialisable (--json)


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value
