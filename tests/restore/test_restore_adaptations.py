"""What a restore does when AWS refuses what moto accepts, and the operator's ways around it: overrides (checked
against the model before anything is written), the verification message fallback, the trigger permissions, and
what the restore prints (the plan's counts, the native-recovery advice once, "verifying" once, the resume
command with the flags and paths given).

AWS's behaviours that moto lacks are played by ``aws_fakes.AwsRules`` (a recording fake in front of moto: the SMS
role's trust policy, a refused verification message, the trigger invoked on AdminCreateUser) and
``aws_fakes.Lambdas`` (the functions' resource policies)."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from backup_lambda.aws import make_client
from backup_lambda.snapshot import take_snapshot
from cognito_backup.cli import main
from cognito_backup.restore import RestoreError, RestoreOptions, Restorer, format_report
from tests.restore.aws_fakes import AwsRules, RequestLog
from tests.restore.test_restore_real_account import NEW, World
from tests.support.rich_pool import (
    BOTH_TEMPLATE_HALVES,
    PROVIDER_SECRETS,
    REAL_TRIGGERS,
    TRIGGERS,
    build_rich_pool,
    fast_rate_limits,  # noqa: F401 - autouse fixture
)


def pools(cognito) -> list[str]:
    return [p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]]


@pytest.fixture
def moto_pool(cognito, s3, bucket, tmp_path):
    """A rich moto pool with both verification message halves and triggers, its snapshot, a secrets file."""
    pool_id = build_rich_pool(cognito, "prod-users", lambda_config=TRIGGERS, verification_template=BOTH_TEMPLATE_HALVES)
    source = f"s3://{bucket}/" + take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket).key
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(PROVIDER_SECRETS))
    return pool_id, source, str(secrets)


# --- overrides: checked before anything is written -----------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--override", "pool.DeletionProtection=MAYBE"], "'MAYBE' is not one of ACTIVE, INACTIVE"),
        (["--override", "pool.SmsConfiguration.Nope=1"], "'Nope' is not a field of CreateUserPool"),
        (["--override", "pool.LambdaConfig.PreSignUp=lambda-pre"], "does not match the pattern"),
        (["--override", "clients.web.RefreshTokenValidity=ten"], "integer values are JSON"),
        (["--override", "clients.mobile.CallbackURLs=[\"https://m\"]"], "the snapshot has no client named 'mobile'"),
        (["--override", "groups.nobody.RoleArn=arn:aws:iam::123456789012:role/x"], "no group named 'nobody'"),
        (["--override", "identity_providers.Corp.ProviderDetails.client_secret=x"], "--secrets FILE"),
        (["--override", "DeletionProtection"], "expected PATH=VALUE"),
        (["--override", "domain.CustomDomain.Domain=not a domain"], "fully qualified domain name"),
        (["--domain-prefix", "a-1", "--override", "domain.Domain.Domain=b-2"], "contradict each other"),
        (["--override", "pool.EmailVerificationMessage=x {####}"], "retired"),
    ],
)
def test_a_bad_override_is_refused_naming_what_is_wrong_and_nothing_is_written(cognito, moto_pool, tmp_path,
                                                                               monkeypatch, capsys, argv, message):
    _, source, secrets = moto_pool
    monkeypatch.chdir(tmp_path)
    before = pools(cognito)

    code = main(["restore", source, "--new-pool-name", "restored", "--secrets", secrets, *argv])

    assert code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert pools(cognito) == before
    assert not list(tmp_path.glob("restore-mapping-*"))


@pytest.mark.parametrize(("content", "message"), [("DeletionProtection=INACTIVE", "is not valid JSON"),
                                                  ('["pool.DeletionProtection"]', "must be a JSON object"),
                                                  ('{"pool.DeletionProtection": 1}', "expected a string")])
def test_an_overrides_file_that_is_not_a_json_object_of_good_values_is_refused(cognito, moto_pool, tmp_path,
                                                                              monkeypatch, capsys, content, message):
    _, source, _ = moto_pool
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "overrides.json"
    bad.write_text(content)

    assert main(["restore", source, "--new-pool-name", "restored", "--overrides", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and "--overrides" in err or "override" in err, err
    assert pools(cognito) == ["prod-users"]


def test_overrides_are_applied_shown_and_expected_by_the_check(cognito, s3, moto_pool, tmp_path, capsys):
    _, source, secrets = moto_pool
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"pool.DeletionProtection": "ACTIVE", "clients.web.RefreshTokenValidity": 5}))
    argv = ["restore", source, "--secrets", secrets, "--overrides", str(overrides),
            "--override", "groups.admins.Description=Restored admins",
            "--override", f"pool.LambdaConfig.PreSignUp={NEW['pool.LambdaConfig.PreSignUp']}", "--workers", "2"]

    assert main([*argv, "--new-pool-name", "restored", "--dry-run"]) == 0
    plan_text = capsys.readouterr().out
    assert 'override pool.DeletionProtection: "INACTIVE" -> "ACTIVE"' in plan_text
    assert 'override groups.admins.Description: set to "Restored admins"' in plan_text

    assert main([*argv, "--new-pool-name", "restored", "--mapping-file", str(tmp_path / "m.json"), "--check",
                 "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out.strip().splitlines()[-1])
    pool_id = report["target_user_pool_id"]
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["DeletionProtection"] == "ACTIVE"
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["LambdaConfig"]["PreSignUp"] == \
        NEW["pool.LambdaConfig.PreSignUp"]
    web = next(c for c in cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
               if c["ClientName"] == "web")
    assert cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=web["ClientId"])["UserPoolClient"][
        "RefreshTokenValidity"] == 5
    assert cognito.get_group(UserPoolId=pool_id, GroupName="admins")["Group"]["Description"] == "Restored admins"
    # The check expects exactly these differences, and passes.
    assert report["status"] == "ok" and report["check"]["identical"], report["check"]["text"]
    assert set(report["check"]["expected_differences"]) == {
        "pool.DeletionProtection", "clients.web.RefreshTokenValidity", "groups.admins.Description",
        "pool.LambdaConfig.PreSignUp"}
    for pool in [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "restored"]:
        cognito.update_user_pool(UserPoolId=pool["Id"], DeletionProtection="INACTIVE")


# --- settings that point at the old pool or account ------------------------------------------------------

def test_an_sms_role_that_trusts_only_the_old_pool_is_refused_with_the_way_around_it(cognito, s3, bucket, tmp_path):
    world = World(s3, bucket)
    overrides = {k: v for k, v in NEW.items() if not k.startswith("pool.SmsConfiguration")}

    with pytest.raises(RestoreError) as refused:
        world.restore(tmp_path, overrides=overrides)

    message = str(refused.value)
    assert "InvalidSmsRoleTrustRelationshipException" in message
    assert "--override pool.SmsConfiguration.SnsCallerArn=ARN --override pool.SmsConfiguration.ExternalId=ID" in message
    assert pools(cognito) == []  # nothing created

    assert world.restore(tmp_path)["status"] == "ok"  # with the overrides


# --- both halves of the verification message --------------------------------------------------------------

def test_both_template_halves_round_trip_and_the_check_passes(cognito, s3, moto_pool, tmp_path):
    _, source, _ = moto_pool
    report = Restorer(cognito, s3, RestoreOptions(snapshot=source, new_pool_name="restored", secrets=PROVIDER_SECRETS,
                                                  mapping_file=str(tmp_path / "m.json"), workers=2, check=True)).run()

    assert report["status"] == "ok" and report["check"]["identical"], report["check"]["text"]
    template = cognito.describe_user_pool(UserPoolId=report["target_user_pool_id"])["UserPool"][
        "VerificationMessageTemplate"]
    assert template == BOTH_TEMPLATE_HALVES  # after UpdateUserPool (the triggers) too: nothing was reset
    assert report["not_restored"] == []


def test_if_aws_refuses_both_halves_the_active_one_is_kept_and_the_loss_reported(cognito, s3, moto_pool, tmp_path):
    _, source, _ = moto_pool
    rules = AwsRules(make_client("cognito-idp"), refuse_both_halves=True)
    rules.attach(cognito)

    report = Restorer(cognito, s3, RestoreOptions(snapshot=source, new_pool_name="restored", secrets=PROVIDER_SECRETS,
                                                  mapping_file=str(tmp_path / "m.json"), workers=2, check=True)).run()

    assert report["status"] == "ok", report["failures"]
    assert [n["what"] for n in report["not_restored"]] == ["pool.VerificationMessageTemplate.EmailMessageByLink",
                                                            "pool.VerificationMessageTemplate.EmailSubjectByLink"]
    assert "not restored: pool.VerificationMessageTemplate.EmailMessageByLink: AWS refused it" in format_report(report)
    template = cognito.describe_user_pool(UserPoolId=report["target_user_pool_id"])["UserPool"][
        "VerificationMessageTemplate"]
    assert "EmailMessageByLink" not in template and template["EmailMessage"] == BOTH_TEMPLATE_HALVES["EmailMessage"]
    # The check knows of the loss (and of nothing else), as the mapping file does.
    assert report["check"]["identical"] and "pool.VerificationMessageTemplate.EmailMessageByLink" in \
        report["check"]["expected_differences"]
    head = json.loads((tmp_path / "m.json").read_text())
    assert "pool.VerificationMessageTemplate.EmailSubjectByLink" in head["expected_differences"]


# --- trigger permissions ---------------------------------------------------------------------------------

def test_when_the_caller_may_not_grant_the_triggers_wait_with_the_command_that_grants(cognito, s3, bucket, tmp_path):
    world = World(s3, bucket)
    world.lambdas.caller_may_grant = False

    report = world.restore(tmp_path)

    assert report["status"] == "incomplete"
    functions = report["steps"]["triggers"]["functions"]
    assert all(f["permission"].startswith("not granted (AccessDeniedException") for f in functions)
    assert all(f["command"].startswith("aws lambda add-permission --function-name ") and
               "--principal cognito-idp.amazonaws.com --source-arn arn:aws:cognito-idp:" in f["command"]
               for f in functions)
    assert "UpdateUserPool" not in world.log.operations()  # not attached: the functions would refuse the pool
    # With a caller that may, the resume grants and attaches.
    world.lambdas.caller_may_grant = True
    resumed = world.restore(tmp_path, new_pool_name=None, target_pool_id=report["target_user_pool_id"], resume=True)
    assert resumed["status"] == "ok", resumed["failures"]
    assert resumed["steps"]["triggers"]["attached"].startswith("attached")


def test_without_triggers_nothing_is_attached_and_the_check_expects_it(cognito, s3, moto_pool, tmp_path):
    _, source, _ = moto_pool
    log = RequestLog()
    log.attach(cognito)
    report = Restorer(cognito, s3, RestoreOptions(snapshot=source, new_pool_name="restored", secrets=PROVIDER_SECRETS,
                                                  without_triggers=True, mapping_file=str(tmp_path / "m.json"),
                                                  workers=2, check=True)).run()
    assert report["status"] == "ok" and "UpdateUserPool" not in log.operations()
    assert "LambdaConfig" not in cognito.describe_user_pool(UserPoolId=report["target_user_pool_id"])["UserPool"]
    assert report["check"]["identical"] and "pool.LambdaConfig" in report["check"]["expected_differences"]


def test_grant_and_without_triggers_together_are_refused(moto_pool, capsys):
    _, source, _ = moto_pool
    assert main(["restore", source, "--new-pool-name", "x", "--grant-triggers", "--without-triggers"]) == 2
    assert "contradict" in capsys.readouterr().err


# --- what the operator reads ------------------------------------------------------------------------------

def test_the_native_recovery_advice_and_verifying_are_printed_once(cognito, moto_pool, tmp_path, capsys):
    _, source, secrets = moto_pool  # the snapshot's pool still exists: the advice applies
    code = main(["restore", source, "--new-pool-name", "restored", "--secrets", secrets, "--workers", "2",
                 "--mapping-file", str(tmp_path / "m.json"), "--check"])
    out = capsys.readouterr()
    seen = out.out + out.err
    assert code == 0, seen
    assert seen.count("native point-in-time recovery serves better") == 1
    assert len(re.findall(r"^verifying ", seen, re.MULTILINE)) == 1


def test_the_resume_command_repeats_the_flags_and_paths_given(cognito, moto_pool, tmp_path, capsys, monkeypatch):
    _, source, secrets = moto_pool
    overrides = tmp_path / "over rides.json"
    overrides.write_text(json.dumps({"pool.DeletionProtection": "INACTIVE"}))

    def ctrl_c(run):
        raise KeyboardInterrupt("Ctrl-C")

    monkeypatch.setattr("cognito_backup.restore.users.restore_users", ctrl_c)
    argv = ["restore", source, "--new-pool-name", "restored", "--secrets", secrets, "--overrides", str(overrides),
            "--override", "clients.web.RefreshTokenValidity=5", "--override", "groups.admins.Description=A b",
            "--domain-prefix", "restored-x", "--grant-triggers", "--workers", "3", "--rate-fraction", "0.3",
            "--mapping-file", str(tmp_path / "m.json"), "--work-dir", str(tmp_path), "--check"]
    assert main(argv) == 130

    printed = re.findall(r"to finish it: (.*)", capsys.readouterr().err)[-1]
    resume = shlex.split(printed)
    assert resume[:3] == ["python", "-m", "cognito_backup"]
    given = argv[argv.index("--secrets"):]
    for flag, value in zip(given, given[1:] + [None], strict=True):
        if flag.startswith("--"):
            assert flag in resume, flag
            if value is not None and not value.startswith("--"):
                assert value in resume[resume.index(flag) + 1:], (flag, value)
    assert resume.count("--override") == 2 and "FILE" not in resume
    assert "--resume" in resume and "--new-pool-name" not in resume


def test_the_validator_finds_what_aws_would_refuse(cognito, s3, bucket, tmp_path, monkeypatch):
    """The validator bites: with provider names not adapted, the requests break the model (and the fake refuses
    them as AWS does)."""
    monkeypatch.setattr("cognito_backup.restore.runner.provider_names", lambda names: {n: n for n in names})
    world = World(s3, bucket)
    report = world.restore(tmp_path)
    assert report["status"] == "incomplete"
    problems = [str(v) for v in world.violations()]
    assert any("CreateIdentityProvider ProviderName: 'My IdP' does not match" in p for p in problems), problems
    assert any("CreateIdentityProvider ProviderName: 'X' does not match" in p for p in problems), problems
    assert any("identity provider My IdP: InvalidParameterException" in f for f in report["failures"])


def test_every_trigger_function_of_the_snapshot_is_listed_with_its_permission(cognito, s3, bucket, tmp_path):
    report = World(s3, bucket).restore(tmp_path, dry_run=True, overrides={}, grant_triggers=False)
    listed = {t["function"]: t for t in report["plan"]["triggers"] if "function" in t}
    functions = {v["LambdaArn"] if isinstance(v, dict) else v for k, v in REAL_TRIGGERS.items() if k != "KMSKeyID"}
    assert set(listed) == functions
    assert all(t["grant"].startswith("add it: aws lambda add-permission") for t in listed.values())
    assert any(t.get("kms_key") == REAL_TRIGGERS["KMSKeyID"] for t in report["plan"]["triggers"])


def test_moto_models_update_user_pool_as_the_full_replacement_aws_documents(cognito):
    """The restore's UpdateUserPool tests rely on moto resetting what a request leaves out, as AWS does: if moto
    stops doing so, this fails, and those tests would no longer prove that nothing is lost."""
    pool_id = cognito.create_user_pool(PoolName="p", VerificationMessageTemplate=BOTH_TEMPLATE_HALVES,
                                       AutoVerifiedAttributes=["email"], UserPoolTags={"a": "b"})["UserPool"]["Id"]
    cognito.update_user_pool(UserPoolId=pool_id, LambdaConfig=TRIGGERS)
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["VerificationMessageTemplate"] != BOTH_TEMPLATE_HALVES
    assert not pool.get("AutoVerifiedAttributes") and not pool.get("UserPoolTags")
