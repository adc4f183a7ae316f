"""drill: restore the newest snapshot into a scratch pool, snapshot it, diff, and always clean up."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from backup_lambda.snapshot import take_snapshot
from cognito_backup.cli import main
from cognito_backup.drill import DRILL_SCRATCH_TAG, markdown, run_drill
from cognito_backup.restore import decisions as restore_decisions
from cognito_backup.restore_check import LocalObjectStore
from tests.support.rich_pool import (  # noqa: F401 - autouse fixture
    BOTH_TEMPLATE_HALVES,
    TRIGGERS,
    build_rich_pool,
    fast_rate_limits,
)


@pytest.fixture
def snapshotted(cognito, s3, bucket):
    pool_id = build_rich_pool(cognito, "prod-users")
    take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket)
    return pool_id


def pool_names(cognito) -> list[str]:
    return sorted(p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"])


def bucket_keys(s3, bucket) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_good_snapshot_passes_and_the_scratch_pool_is_deleted(cognito, s3, bucket, snapshotted, tmp_path):
    before = bucket_keys(s3, bucket)
    report = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2, work_dir=str(tmp_path))

    assert report["status"] == "pass", report
    assert report["diff_summary"]["identical"] and report["users"] == 5
    assert [s["step"] for s in report["steps"]] == ["found", "restored", "snapshotted", "compared",
                                                   "deleted scratch pool"]
    assert pool_names(cognito) == ["prod-users"]
    assert bucket_keys(s3, bucket) == before  # the drill never writes to the backup bucket
    assert list(tmp_path.iterdir()) == []  # its copy and mapping file went with its scratch directory
    assert "✅" in markdown(report) and "PASS" in markdown(report)


def test_a_pool_with_both_verification_halves_and_triggers_passes_the_drill(cognito, s3, bucket, tmp_path):
    # The console stores both halves of the verification message; the drill leaves the triggers off and deletion
    # protection off through the restore's own override, and expects exactly those differences.
    pool_id = build_rich_pool(cognito, "console-pool", lambda_config=TRIGGERS,
                              verification_template=BOTH_TEMPLATE_HALVES)
    cognito.update_user_pool(UserPoolId=pool_id, **{
        k: v for k, v in cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"].items()
        if k in ("Policies", "LambdaConfig", "AutoVerifiedAttributes", "VerificationMessageTemplate",
                 "AdminCreateUserConfig", "UserPoolTags", "MfaConfiguration")}, DeletionProtection="ACTIVE")
    take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket)

    report = run_drill(cognito, s3, bucket=bucket, pool_name="console-pool", workers=2, work_dir=str(tmp_path),
                       keep_scratch=True)

    assert report["status"] == "pass", report.get("diff_text") or report
    assert "restore check: ignoring" in report["diff_text"]
    assert "pool.DeletionProtection" in report["diff_text"] and "pool.LambdaConfig" in report["diff_text"]
    scratch = cognito.describe_user_pool(UserPoolId=report["scratch_pool_id"])["UserPool"]
    # The scratch tag (which the drill role requires) is added to the snapshot's own tags, not in their place.
    assert scratch["UserPoolTags"] == {"team": "identity", **DRILL_SCRATCH_TAG}
    assert scratch["VerificationMessageTemplate"] == BOTH_TEMPLATE_HALVES
    assert scratch["DeletionProtection"] == "INACTIVE" and "LambdaConfig" not in scratch


def test_a_restore_that_loses_something_fails_the_drill(cognito, s3, bucket, snapshotted, monkeypatch):
    monkeypatch.setattr(restore_decisions, "disabled_user", lambda *_: "skip: lost on the way")

    report = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2)

    assert report["status"] == "fail"
    assert report["diff_summary"]["users_changed"] == 1
    assert "enabled (1)" in report["diff_text"]
    assert pool_names(cognito) == ["prod-users"]
    assert "❌" in markdown(report)


def test_a_failing_step_fails_the_drill_and_still_deletes_the_scratch_pool(cognito, s3, bucket, snapshotted):
    def broken(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no CreateGroup for you"}},
                          "CreateGroup")

    cognito.meta.events.register("before-call.cognito-idp.CreateGroup", broken)
    report = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2)

    assert report["status"] == "fail"
    assert "AccessDeniedException" in report["error"]
    assert report["steps"][-1]["step"] == "deleted scratch pool"
    assert pool_names(cognito) == ["prod-users"]


def test_a_group_role_in_another_account_fails_the_drill_unless_allowed(cognito, s3, bucket, tmp_path):
    foreign = "arn:aws:iam::999988887777:role/partner-admins"
    pool_id = build_rich_pool(cognito, "prod-users")
    cognito.create_group(UserPoolId=pool_id, GroupName="partners", RoleArn=foreign)
    take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket)

    refused = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2, work_dir=str(tmp_path))
    assert refused["status"] == "fail" and refused.get("scratch_pool_id") is None
    assert f"groups.partners.RoleArn: {foreign}" in refused["error"] and "--allow-foreign-arns" in refused["error"]
    assert pool_names(cognito) == ["prod-users"]  # refused before the scratch pool was created

    allowed = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2, work_dir=str(tmp_path),
                        allow_foreign_arns=True)
    assert allowed["status"] == "pass", allowed.get("diff_text") or allowed
    assert pool_names(cognito) == ["prod-users"]


def test_no_snapshot_is_a_failed_drill_with_a_clear_error(cognito, s3, bucket):
    report = run_drill(cognito, s3, bucket=bucket, pool_name="nobody")
    assert report["status"] == "fail"
    assert "no complete snapshot of pool 'nobody'" in report["error"]


def test_drill_command_against_a_moto_server_writes_the_job_summary(aws_env, monkeypatch, tmp_path, capsys):
    """End to end through ``python -m cognito_backup drill`` against a moto server on a free port."""
    from backup_lambda.aws import make_client
    from demo.emulator import LocalAws

    with LocalAws() as local:
        monkeypatch.setenv("AWS_ENDPOINT_URL", local.endpoint_url)
        cognito, s3 = make_client("cognito-idp"), make_client("s3")
        s3.create_bucket(Bucket="drill-snapshots")
        pool_id = build_rich_pool(cognito, "staging-users")
        take_snapshot(cognito, s3, user_pool_id=pool_id, bucket="drill-snapshots")
        summary = tmp_path / "summary.md"

        code = main(["drill", "--bucket", "drill-snapshots", "--pool-name", "staging-users", "--workers", "2",
                     "--summary-file", str(summary), "--json"])

        out = capsys.readouterr()
        assert code == 0, out.err
        assert json.loads(out.out.strip().splitlines()[-1])["status"] == "pass"
        assert "Restore drill: staging-users: PASS" in summary.read_text()
        assert [p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]] == ["staging-users"]


def outputs(pools, bucket="snaps", **extra):
    return json.dumps({"bucketName": bucket, "pools": pools, "snapshotPrefix": "cognito/",
                       "importRoleArn": "arn:aws:iam::1:role/import",
                       "signingKeyArn": "arn:aws:kms:eu-west-1:1:key/sign", **extra})


def test_matrix_lists_every_pool_of_every_stack(tmp_path, capsys):
    prod = tmp_path / "prod.json"
    prod.write_text(outputs([{"id": "eu-west-1_A", "name": "prod-customers"},
                             {"id": "eu-west-1_B", "name": "prod-partners"}], bucket="prod-snaps"))
    github_output = tmp_path / "github_output"
    staging = outputs([{"id": "us-east-1_C", "name": "staging-users"}], bucket="staging-snaps")

    assert main(["drill", "--matrix", f"prod={prod}", f"staging={staging}", "--github-output",
                 str(github_output)]) == 0

    lines = dict(line.split("=", 1) for line in github_output.read_text().splitlines())
    matrix = json.loads(lines["matrix"])
    assert lines["count"] == "3"
    assert matrix["include"][0] == {"stack": "prod", "pool": "prod-customers", "region": "eu-west-1",
                                    "bucket": "prod-snaps",
                                    "prefix": "cognito/", "import_role_arn": "arn:aws:iam::1:role/import",
                                    "signing_key_arn": "arn:aws:kms:eu-west-1:1:key/sign"}
    assert [(e["stack"], e["pool"]) for e in matrix["include"]] == [
        ("prod", "prod-customers"), ("prod", "prod-partners"), ("staging", "staging-users")]
    assert "3 pools to drill" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "message"),
    [("prod", "STACK=OUTPUTS"), ('prod={"pools": []}', "bucketName"),
     ("prod=" + outputs([{"id": "a", "name": "x"}, {"id": "b", "name": "x"}]), "unique")],
)
def test_matrix_refuses_bad_outputs(spec, message, capsys):
    assert main(["drill", "--matrix", spec]) == 2
    assert message in capsys.readouterr().err


def test_drill_needs_a_bucket_and_pool(capsys):
    assert main(["drill", "--bucket", "b"]) == 2
    assert "--pool-name" in capsys.readouterr().err


def test_local_object_store_keeps_keys_inside_its_directory(tmp_path):
    store = LocalObjectStore(str(tmp_path))
    upload = store.create_multipart_upload(Key="a/b.json")["UploadId"]
    store.upload_part(UploadId=upload, PartNumber=2, Body=b"world")
    store.upload_part(UploadId=upload, PartNumber=1, Body=b"hello ")
    store.complete_multipart_upload(Key="a/b.json", UploadId=upload,
                                    MultipartUpload={"Parts": [{"PartNumber": 1}, {"PartNumber": 2}]})
    assert (tmp_path / "a" / "b.json").read_bytes() == b"hello world"
    with pytest.raises(FileExistsError):
        upload = store.create_multipart_upload(Key="a/b.json")["UploadId"]
        store.complete_multipart_upload(Key="a/b.json", UploadId=upload, MultipartUpload={"Parts": []})
    with pytest.raises(ValueError, match="leaves"):
        store.put_object(Key="../escape.json", Body=b"x")


def record_calls(*clients) -> set[tuple[str, str]]:
    calls: set[tuple[str, str]] = set()
    for client in clients:
        service = client.meta.service_model.service_name  # "cognito-idp", "s3"

        def record(model=None, _service=service, **kwargs):
            calls.add((_service, model.name))

        client.meta.events.register("before-parameter-build", record)
    return calls


def test_every_call_a_drill_makes_is_in_the_drill_role_list(cognito, s3, bucket, snapshotted):
    from backup_lambda.permissions import direct_calls
    from cognito_backup.permissions import DRILL_OPERATIONS, RESTORE_OPERATIONS

    calls = record_calls(cognito, s3)
    report = run_drill(cognito, s3, bucket=bucket, pool_name="prod-users", workers=2)

    assert report["status"] == "pass"
    assert calls - direct_calls(DRILL_OPERATIONS) == set()
    restore_only = {c for c in calls if c[1] not in {"DeleteUserPool", "DeleteUserPoolDomain"}}
    # The restore's own calls are granted to a restore (the drill adds the snapshot reads and deletes).
    assert {c for c in restore_only if c[0] == "s3"} <= direct_calls(RESTORE_OPERATIONS)
    assert ("cognito-idp", "CreateUserPool") in calls and ("cognito-idp", "DeleteUserPool") in calls
