"""restore against moto: dry run, refusals, resume, mapping file, providers without secrets, email
usernames, federated users, throttling; and the CLI. The import path and the federated links use
APIs moto lacks: see test_restore_import.py (botocore Stubber)."""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from backup_lambda.errors import ConfigError, SnapshotFileError
from backup_lambda.snapshot import take_snapshot
from backup_lambda.snapshot_format import manifest_key
from cognito_backup.cli import main
from cognito_backup.diff import diff_snapshots
from cognito_backup.restore import RestoreError, RestoreOptions, Restorer, format_report, restore_snapshot
from tests.support.fault_injection import RawBody
from tests.support.rich_pool import PROVIDER_SECRETS, build_rich_pool, fast_rate_limits  # noqa: F401 - autouse fixture
from tests.support.snapshot_builder import default_pool, make_group, make_snapshot, make_user, write_s3


@pytest.fixture
def rich(cognito, s3, bucket):
    """A rich pool and its snapshot: (pool id, s3:// url of the snapshot)."""
    pool_id = build_rich_pool(cognito)
    key = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket).key
    return pool_id, f"s3://{bucket}/{key}"


def pools(cognito) -> dict[str, str]:
    return {p["Id"]: p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]}


def users_of(cognito, pool_id) -> dict[str, dict]:
    out = {}
    for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for user in page["Users"]:
            out[user["Username"]] = {**user, "attrs": {a["Name"]: a["Value"] for a in user["Attributes"]}}
    return out


def restore(cognito, s3, source, tmp_path, **options):
    options.setdefault("mapping_file", str(tmp_path / "mapping.json"))
    options.setdefault("workers", 2)
    return restore_snapshot(cognito, s3, RestoreOptions(snapshot=source, **options))


def assert_restored_equals(cognito, s3, bucket, source, pool_id):
    key = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket).key
    result = diff_snapshots(source, f"s3://{bucket}/{key}", s3=s3, restored=True)
    assert result["summary"]["identical"], json.dumps(result, indent=1, default=str)


def test_dry_run_prints_the_plan_and_writes_nothing(cognito, s3, rich, tmp_path, monkeypatch, capsys):
    _, source = rich
    monkeypatch.chdir(tmp_path)
    before = pools(cognito)

    assert main(["restore", source, "--new-pool-name", "restored", "--dry-run", "--json"]) == 0

    out = capsys.readouterr()
    report = json.loads(out.out.strip().splitlines()[-1])
    assert report["status"] == "dry-run"
    assert pools(cognito) == before
    assert list(tmp_path.iterdir()) == []  # no mapping file either
    plan = report["plan"]
    assert plan["users"] == {"create: AdminCreateUser": 5}
    assert plan["groups"] == {"create": 3}
    (provider,) = plan["identity_providers"]
    assert provider["provider"] == "Corp" and provider["action"] == "skip"
    assert "client_secret not in the secrets file" in provider["why"]
    assert plan["pool"]["create"] == "restored" and plan["users_end_in"] == "FORCE_CHANGE_PASSWORD"
    assert "DRY RUN: nothing was written" in out.err


@pytest.mark.parametrize("damage", ["tampered", "no_manifest", "truncated"])
def test_a_corrupt_or_incomplete_snapshot_is_refused_before_any_write(cognito, s3, bucket, rich, tmp_path, damage):
    _, source = rich
    key = source.split("/", 3)[3]
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if damage == "tampered":
        s3.put_object(Bucket=bucket, Key=key, Body=data.replace(b"gold", b"GOLD"))
    elif damage == "truncated":
        s3.put_object(Bucket=bucket, Key=key, Body=data[:-50])
    else:
        s3.delete_object(Bucket=bucket, Key=manifest_key(key))
    before = pools(cognito)

    with pytest.raises(SnapshotFileError, match="fails verification, refusing it"):
        restore(cognito, s3, source, tmp_path, new_pool_name="restored")

    assert pools(cognito) == before
    assert not (tmp_path / "mapping.json").exists()


def test_restore_into_a_new_pool_reports_states_and_writes_the_mapping(cognito, s3, bucket, rich, tmp_path):
    old_pool, source = rich
    report = restore(cognito, s3, source, tmp_path, new_pool_name="restored", secrets=PROVIDER_SECRETS)

    assert report["status"] == "ok", report["failures"]
    new_pool = report["target_user_pool_id"]
    assert pools(cognito)[new_pool] == "restored"
    assert report["users_end_in"] == "FORCE_CHANGE_PASSWORD" and "RESEND" in report["user_action"]
    assert report["native_recovery"]["pool_exists"] is True
    assert old_pool in report["native_recovery"]["command"]
    assert report["steps"]["clients"] == {"created": 2, "already_there": 0, "with_new_secret": 1}
    assert report["steps"]["disabled"] == {"disabled": 1}

    mapping = json.loads((tmp_path / "mapping.json").read_text())
    assert mapping["target_user_pool_id"] == new_pool and mapping["complete"] is True
    old_users, new_users = users_of(cognito, old_pool), users_of(cognito, new_pool)
    assert {u["old_username"] for u in mapping["users"]} == set(old_users)
    for entry in mapping["users"]:
        assert entry["state"] == "created"
        assert entry["old_sub"] == old_users[entry["old_username"]]["attrs"]["sub"]
        assert entry["new_sub"] == new_users[entry["new_username"]]["attrs"]["sub"]
        assert entry["new_sub"] != entry["old_sub"]
    new_clients = {c["ClientId"]: c["ClientName"] for c in
                   cognito.list_user_pool_clients(UserPoolId=new_pool, MaxResults=60)["UserPoolClients"]}
    for client in mapping["clients"]:
        assert new_clients[client["new_client_id"]] == client["client_name"]
    backend = next(c for c in mapping["clients"] if c["client_name"] == "backend")
    described = cognito.describe_user_pool_client(UserPoolId=new_pool, ClientId=backend["new_client_id"])
    assert described["UserPoolClient"].get("ClientSecret")
    assert "ClientSecret" not in json.dumps(report)
    assert_restored_equals(cognito, s3, bucket, source, new_pool)


def test_a_provider_without_its_secret_is_skipped_and_reported(cognito, s3, bucket, rich, tmp_path):
    _, source = rich
    report = restore(cognito, s3, source, tmp_path, new_pool_name="restored")

    skipped = report["steps"]["identity_providers"]["skipped"]
    assert [s["provider"] for s in skipped] == ["Corp"]
    new_pool = report["target_user_pool_id"]
    assert cognito.list_identity_providers(UserPoolId=new_pool)["Providers"] == []
    web = next(c for c in report["client_ids"].values()
               if cognito.describe_user_pool_client(UserPoolId=new_pool, ClientId=c)["UserPoolClient"]["ClientName"]
               == "web")
    supported = cognito.describe_user_pool_client(UserPoolId=new_pool, ClientId=web)["UserPoolClient"][
        "SupportedIdentityProviders"]
    assert supported == ["COGNITO"]
    assert any("Corp" in n and "SupportedIdentityProviders" in n for n in report["notes"])


def test_a_non_empty_target_is_refused_without_resume(cognito, s3, rich, tmp_path):
    old_pool, source = rich
    with pytest.raises(RestoreError, match="is not empty .*add --resume"):
        restore(cognito, s3, source, tmp_path, target_pool_id=old_pool)


def test_an_empty_existing_pool_is_filled(cognito, s3, bucket, rich, tmp_path):
    _, source = rich
    target = cognito.create_user_pool(
        PoolName="prepared", AutoVerifiedAttributes=["email"], UserPoolTags={"team": "identity"},
        DeletionProtection="INACTIVE",
        Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True, "RequireLowercase": True,
                                     "RequireNumbers": True, "RequireSymbols": False,
                                     "TemporaryPasswordValidityDays": 3}},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        Schema=[{"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True},
                {"Name": "tier", "AttributeDataType": "String", "Mutable": True,
                 "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}}],
    )["UserPool"]["Id"]

    report = restore(cognito, s3, source, tmp_path, target_pool_id=target, secrets=PROVIDER_SECRETS, check=True)

    assert report["status"] == "ok", report["failures"]
    assert report["check"]["identical"], report["check"]["text"]
    assert report["steps"]["custom_attributes"] == {"added_after_creation": 2, "already_there": 1}
    assert_restored_equals(cognito, s3, bucket, source, target)


def test_resume_finishes_a_restore_that_stopped_and_skips_what_exists(cognito, s3, bucket, rich, tmp_path):
    _, source = rich
    calls = {"CreateGroup": 0, "AdminCreateUser": 0}

    def crash_on_second_group(**kwargs):
        calls["CreateGroup"] += 1
        if calls["CreateGroup"] == 2:
            raise KeyboardInterrupt("operator pressed Ctrl-C")

    def count_users(**kwargs):
        calls["AdminCreateUser"] += 1

    cognito.meta.events.register("before-call.cognito-idp.CreateGroup", crash_on_second_group)
    with pytest.raises(KeyboardInterrupt):
        restore(cognito, s3, source, tmp_path, new_pool_name="restored", secrets=PROVIDER_SECRETS)
    cognito.meta.events.unregister("before-call.cognito-idp.CreateGroup", crash_on_second_group)
    (new_pool,) = [pid for pid, name in pools(cognito).items() if name == "restored"]
    partial = json.loads((tmp_path / "mapping.json").read_text())
    assert partial["complete"] is False and partial["target_user_pool_id"] == new_pool

    # A second stop, this time with some users created: one fails and the rest are done.
    def fail_bob(params, **kwargs):  # before-parameter-build: params are the API parameters
        if params.get("Username") == "bob":
            raise ClientError({"Error": {"Code": "InternalErrorException", "Message": "try later"}}, "AdminCreateUser")

    cognito.meta.events.register("before-parameter-build.cognito-idp.AdminCreateUser", fail_bob)
    second = restore(cognito, s3, source, tmp_path, target_pool_id=new_pool, resume=True, secrets=PROVIDER_SECRETS)
    cognito.meta.events.unregister("before-parameter-build.cognito-idp.AdminCreateUser", fail_bob)
    assert second["status"] == "incomplete"
    # bob is disabled in the snapshot: while he is not in the pool (a resume would create him enabled), no app
    # client is created, so that he can never sign in before he is disabled.
    assert second["failure_count"] == 3 and "user bob" in second["failures"][0]
    assert all("disabled in the snapshot" in f for f in second["failures"][1:])
    assert "--target-pool-id" in second["resume_command"] and "--resume" in second["resume_command"]
    assert second["steps"]["clients"]["already_there"] == 0 and second["steps"]["clients"]["created"] == 0
    assert second["steps"]["groups"] == {"created": 2, "already_there": 1}

    cognito.meta.events.register("before-call.cognito-idp.AdminCreateUser", count_users)
    third = restore(cognito, s3, source, tmp_path, target_pool_id=new_pool, resume=True, secrets=PROVIDER_SECRETS)
    assert third["status"] == "ok", third["failures"]
    assert calls["AdminCreateUser"] == 1  # only bob: the others were skipped
    assert third["steps"]["users"] == {"already there": 4, "created": 1}
    assert len(cognito.list_user_pool_clients(UserPoolId=new_pool, MaxResults=60)["UserPoolClients"]) == 2
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    assert mapping["complete"] is True
    assert all(u["new_sub"] for u in mapping["users"])
    assert_restored_equals(cognito, s3, bucket, source, new_pool)


def test_pools_that_sign_in_with_email_get_new_usernames_and_the_mapping_says_so(cognito, s3, bucket, tmp_path):
    pool_id = build_rich_pool(cognito, "email-pool", username_attributes=["email"])
    source = f"s3://{bucket}/" + take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket).key

    report = restore(cognito, s3, source, tmp_path, new_pool_name="email-restored", secrets=PROVIDER_SECRETS)

    assert report["status"] == "ok", report["failures"]
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    assert all(u["new_username"] != u["old_username"] for u in mapping["users"])
    assert_restored_equals(cognito, s3, bucket, source, report["target_user_pool_id"])


def federated_snapshot(cognito, s3, bucket):
    doc = make_snapshot(
        pool=default_pool(), users=[
            make_user("alice", email="alice@example.com"),
            make_user("Google_1234", email="g@example.com", status="EXTERNAL_PROVIDER", attributes={
                "identities": json.dumps([{"userId": "1234", "providerName": "Google", "providerType": "Google"}])}),
        ], groups=[make_group("staff", ["alice", "Google_1234"])],
    )
    return f"s3://{bucket}/" + write_s3(s3, bucket, doc)


def test_federated_users_are_listed_not_recreated(cognito, s3, bucket, tmp_path):
    source = federated_snapshot(cognito, s3, bucket)
    report = restore(cognito, s3, source, tmp_path, new_pool_name="restored")

    assert report["federated_users"] == {"not_recreated": 1, "sample": ["Google_1234"], "linked": 0}
    assert set(users_of(cognito, report["target_user_pool_id"])) == {"alice"}
    entry = next(u for u in json.loads((tmp_path / "mapping.json").read_text())["users"]
                 if u["old_username"] == "Google_1234")
    assert entry["state"] == "federated" and entry["new_sub"] is None
    assert report["steps"]["memberships"]["added"] == 1


def test_a_user_without_a_usable_username_is_skipped_with_its_reason_not_failed(cognito, s3, bucket, tmp_path):
    # A pool that signs in with email, and a user without one: there is no Username to create it with.
    doc = make_snapshot(pool=default_pool(UsernameAttributes=["email"]), users=[
        make_user("3f6c-alice", email="alice@example.com"), make_user("9a1e-nomail")],
        groups=[make_group("staff", ["3f6c-alice", "9a1e-nomail"])])
    source = f"s3://{bucket}/" + write_s3(s3, bucket, doc)

    report = restore(cognito, s3, source, tmp_path, new_pool_name="restored")

    reason = "has no email, which this pool uses as the username"
    assert report["status"] == "ok" and report["failure_count"] == 0 and "resume_command" not in report
    assert report["skipped_users"] == {"count": 1, "sample": [{"user": "9a1e-nomail", "reason": reason}]}
    assert report["steps"]["users"] == {"created": 1, "skipped (no usable username)": 1}
    assert report["steps"]["memberships"] == {"added": 1, "skipped (already there or user not restored)": 1}
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    assert mapping["complete"] is True
    (entry,) = [u for u in mapping["users"] if u["old_username"] == "9a1e-nomail"]
    assert entry["state"] == "skipped" and entry["detail"] == reason and entry["new_sub"] is None
    assert "users skipped: 1 (e.g. 9a1e-nomail: has no email" in format_report(report)


def test_large_pools_need_the_import_role_or_an_explicit_path(cognito, s3, bucket, tmp_path, monkeypatch):
    import cognito_backup.restore.decisions as restore_decisions

    monkeypatch.setattr(restore_decisions, "AUTO_IMPORT_FROM", 2)
    source = federated_snapshot(cognito, s3, bucket)
    with pytest.raises(ConfigError, match="--import-role-arn .* --users-via admin-create"):
        restore(cognito, s3, source, tmp_path, new_pool_name="restored")
    assert "restored" not in pools(cognito).values()



def test_throttled_writes_are_retried_and_slow_the_limiter(cognito, s3, bucket, tmp_path):
    source = federated_snapshot(cognito, s3, bucket)
    state = {"n": 0}

    def throttle_first_two(request, **kwargs):
        state["n"] += 1
        if state["n"] <= 2:
            return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "TooManyRequestsException"},
                               RawBody(b'{"__type":"TooManyRequestsException","message":"Rate exceeded"}'))
        return None

    cognito.meta.events.register_first("before-send.cognito-identity-provider.AdminCreateUser", throttle_first_two)
    restorer = Restorer(cognito, s3, RestoreOptions(snapshot=source, new_pool_name="restored", workers=1,
                                                    mapping_file=str(tmp_path / "m.json")))
    report = restorer.run()

    assert report["status"] == "ok" and state["n"] >= 3, report["failures"]
    (alice,) = [u for u in json.loads((tmp_path / "m.json").read_text())["users"] if u["old_username"] == "alice"]
    assert alice["new_sub"] == users_of(cognito, report["target_user_pool_id"])["alice"]["attrs"]["sub"]
    creation = restorer.limiters["UserCreation"]
    assert creation.throttles == 2 and creation.calls >= 3
    assert creation.max_rate == 40.0  # 0.8 of the 50/s quota by default (options.DEFAULT_RATE_FRACTION)


def test_cli_restores_and_prints_json_last(cognito, s3, rich, tmp_path, monkeypatch, capsys):
    _, source = rich
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(PROVIDER_SECRETS))
    mapping = tmp_path / "m.json"

    code = main(["restore", source, "--new-pool-name", "cli-restored", "--secrets", str(secrets),
                 "--mapping-file", str(mapping), "--workers", "2", "--check", "--json"])

    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out.strip().splitlines()[-1])
    assert report["status"] == "ok" and report["mapping_file"] == str(mapping)
    assert report["check"]["identical"] is True and "IDENTICAL" in out.err
    assert PROVIDER_SECRETS["Corp"]["client_secret"] not in out.out + out.err
    assert "users end in FORCE_CHANGE_PASSWORD" in out.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resume"], "--resume continues into an existing pool"),
        (["--rate-fraction", "2"], "--rate-fraction"),
    ],
)
def test_bad_options_are_refused(cognito, s3, rich, argv, message, capsys):
    _, source = rich
    assert main(["restore", source, "--new-pool-name", "x", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_secrets_file_that_is_not_json_is_refused(tmp_path, capsys):
    bad = tmp_path / "s.json"
    bad.write_text("client_secret=abc")
    assert main(["restore", "x.json", "--new-pool-name", "x", "--secrets", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not valid JSON" in err and "abc" not in err


def test_check_reports_a_restore_that_lost_something_as_check_failed(cognito, s3, rich, tmp_path, monkeypatch,
                                                                      capsys):
    _, source = rich
    import cognito_backup.restore.decisions as restore_decisions

    # Every step "succeeds", but the memberships never reach the pool: only the check can tell.
    monkeypatch.setattr(restore_decisions, "membership", lambda *_: "skip: lost on the way")
    report = restore(cognito, s3, source, tmp_path, new_pool_name="restored", secrets=PROVIDER_SECRETS, check=True)
    assert report["status"] == "check-failed" and report["failure_count"] == 0
    assert "resume_command" not in report  # nothing failed that a resume would retry
    assert report["check"]["summary"]["memberships_lost"] == 5
    assert "DIFFERENCES beyond what cannot be restored" in format_report(report)
    assert "CHECK-FAILED" in format_report(report)


def test_the_exit_code_says_ok_incomplete_or_check_failed(cognito, s3, rich, tmp_path, monkeypatch, capsys):
    _, source = rich
    import cognito_backup.restore.decisions as restore_decisions
    import cognito_backup.restore.followups as restore_followups

    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(PROVIDER_SECRETS))
    argv = ["restore", source, "--secrets", str(secrets), "--workers", "2", "--check"]
    assert main([*argv, "--new-pool-name", "exit-ok", "--mapping-file", str(tmp_path / "a.json")]) == 0
    membership = restore_decisions.membership
    monkeypatch.setattr(restore_decisions, "membership", lambda *_: "skip: lost on the way")
    assert main([*argv, "--new-pool-name", "exit-check", "--mapping-file", str(tmp_path / "b.json")]) == 3
    monkeypatch.setattr(restore_decisions, "membership", membership)
    record_steps = restore_followups.record_steps
    monkeypatch.setattr(restore_followups, "record_steps", lambda run: (
        record_steps(run), run.state.fail("membership of alice in admins", "injected")))
    assert main([*argv, "--new-pool-name", "exit-incomplete", "--mapping-file", str(tmp_path / "c.json")]) == 1
    out = capsys.readouterr()
    assert "INCOMPLETE" in out.out and "CHECK-FAILED" in out.out


def test_dry_run_of_a_resume_says_what_is_already_there(cognito, s3, rich, tmp_path):
    _, source = rich

    def fail_memberships(**kwargs):
        raise ClientError({"Error": {"Code": "InternalErrorException", "Message": "later"}}, "AdminAddUserToGroup")

    cognito.meta.events.register("before-call.cognito-idp.AdminAddUserToGroup", fail_memberships)
    first = restore(cognito, s3, source, tmp_path, new_pool_name="restored", secrets=PROVIDER_SECRETS, workers=1)
    cognito.meta.events.unregister("before-call.cognito-idp.AdminAddUserToGroup", fail_memberships)
    assert first["status"] == "incomplete" and first["failure_count"] == 5
    (new_pool,) = [pid for pid, name in pools(cognito).items() if name == "restored"]
    users_before = users_of(cognito, new_pool)

    report = restore(cognito, s3, source, tmp_path, target_pool_id=new_pool, resume=True, dry_run=True)

    plan = report["plan"]
    assert plan["users"] == {"skip: already in the target pool": 5}
    assert plan["groups"] == {"skip: already in the target pool": 3}
    assert {c["action"] for c in plan["clients"]} == {"skip: already in the target pool"}
    assert plan["identity_providers"] == [{"provider": "Corp", "action": "skip: already in the target pool"}]
    assert users_of(cognito, new_pool).keys() == users_before.keys()
