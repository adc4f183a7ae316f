"""The restore paths through APIs moto lacks, tested with botocore's Stubber: user import jobs
(GetCSVHeader, CreateUserImportJob, StartUserImportJob, DescribeUserImportJob) and
AdminLinkProviderForUser. Everything else runs against moto, so each test is a whole restore.

The stubbed client answers only these calls, in order; the injected uploader stands in for the PUT to
the pre-signed URL and, like Cognito would, creates the CSV's users in the (moto) pool."""

from __future__ import annotations

import csv
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

import cognito_backup.restore.import_jobs as restore_import_jobs
from backup_lambda.snapshot import take_snapshot
from cognito_backup.diff import diff_snapshots
from cognito_backup.restore import RestoreOptions, Restorer, link_provider
from tests.support.rich_pool import PROVIDER_SECRETS, build_rich_pool, fast_rate_limits  # noqa: F401 - autouse fixture
from tests.support.snapshot_builder import default_pool, make_group, make_snapshot, make_user, present, write_s3

ROLE = "arn:aws:iam::123456789012:role/cognito-import-logs"
STANDARD_HEADER = ["name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
                   "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
                   "phone_number", "phone_number_verified", "address", "updated_at", "cognito:mfa_enabled",
                   "cognito:username"]
HEADER = STANDARD_HEADER + ["custom:tier", "custom:level", "custom:legacy_id"]


def stubbed_client():
    client = boto3.client("cognito-idp", region_name="us-east-1")
    return client, Stubber(client)


def job(job_id: str, status: str, **extra) -> dict:
    return {"UserImportJob": {"JobName": f"restore-{job_id}", "JobId": job_id, "UserPoolId": "us-east-1_x",
                              "PreSignedUrl": f"https://cognito-import.s3.amazonaws.com/{job_id}?sig=1",
                              "Status": status, "CloudWatchLogsRoleArn": ROLE, **extra}}


def expect_job(stub: Stubber, job_id: str, *, imported: int, final: str = "Succeeded", failed: int = 0) -> None:
    stub.add_response("create_user_import_job", job(job_id, "Created"),
                      {"JobName": ANY, "UserPoolId": ANY, "CloudWatchLogsRoleArn": ROLE})
    stub.add_response("start_user_import_job", job(job_id, "Pending"), {"UserPoolId": ANY, "JobId": job_id})
    stub.add_response("describe_user_import_job", job(job_id, "InProgress"), {"UserPoolId": ANY, "JobId": job_id})
    stub.add_response("describe_user_import_job",
                      job(job_id, final, ImportedUsers=imported, FailedUsers=failed, SkippedUsers=0,
                          CompletionMessage="done" if final == "Succeeded" else "rows failed"),
                      {"UserPoolId": ANY, "JobId": job_id})


class FakeCognitoImport:
    """Receives the CSV uploads; creates the rows' users in the moto pool as Cognito would."""

    def __init__(self, cognito, *, drop: set[str] = frozenset()):
        self.cognito = cognito
        self.uploads: list[tuple[str, list[dict]]] = []
        self.drop = drop

    def __call__(self, url: str, path: str) -> None:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == HEADER
            rows = list(reader)
        self.uploads.append((url, rows))
        (pool_id,) = [p["Id"] for p in self.cognito.list_user_pools(MaxResults=60)["UserPools"]
                      if p["Name"] == "imported"]
        for row in rows:
            if row["cognito:username"] in self.drop:
                continue
            attributes = [{"Name": k, "Value": v} for k, v in row.items()
                          if v and not k.startswith("cognito:")]
            self.cognito.admin_create_user(UserPoolId=pool_id, Username=row["cognito:username"],
                                           UserAttributes=attributes, MessageAction="SUPPRESS")


@pytest.fixture
def rich_snapshot(cognito, s3, bucket):
    pool_id = build_rich_pool(cognito)
    return f"s3://{bucket}/" + take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket).key


def run_import(cognito, s3, source, tmp_path, import_client, uploader, **options):
    restorer = Restorer(cognito, s3, RestoreOptions(
        snapshot=source, new_pool_name="imported", users_via="import", import_role_arn=ROLE,
        secrets=PROVIDER_SECRETS, mapping_file=str(tmp_path / "mapping.json"), workers=2, import_poll_interval=0,
        **options), import_client=import_client, uploader=uploader, sleep=lambda _s: None)
    return restorer.run()


def test_import_path_builds_the_csv_runs_the_job_and_maps_the_new_subs(cognito, s3, bucket, rich_snapshot, tmp_path):
    client, stub = stubbed_client()
    stub.add_response("get_csv_header", {"UserPoolId": "us-east-1_x", "CSVHeader": HEADER}, {"UserPoolId": ANY})
    expect_job(stub, "import-1", imported=4)
    fake = FakeCognitoImport(cognito)

    with stub:
        report = run_import(cognito, s3, rich_snapshot, tmp_path, client, fake)
        stub.assert_no_pending_responses()

    assert report["status"] == "ok", report["failures"]
    assert report["users_end_in"] == "RESET_REQUIRED" and "forgot password" in report["user_action"]
    assert report["steps"]["import_jobs"] == [{"JobId": "import-1", "Status": "Succeeded", "ImportedUsers": 4,
                                               "SkippedUsers": 0, "FailedUsers": 0, "CompletionMessage": "done"}]
    ((url, rows),) = fake.uploads
    assert url.startswith("https://")
    by_name = {r["cognito:username"]: r for r in rows}
    # dave never verified his email: he cannot be imported and is created with AdminCreateUser instead.
    assert set(by_name) == {"alice", "bob", "carol", "zoë"}
    assert by_name["zoë"]["name"] == 'Zoë Ångström, "quoted"'
    assert by_name["alice"]["custom:tier"] == "gold" and by_name["alice"]["email_verified"] == "true"
    assert by_name["alice"]["cognito:mfa_enabled"] == "false"
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    states = {u["old_username"]: u["state"] for u in mapping["users"]}
    assert states == {"alice": "imported", "bob": "imported", "carol": "imported", "zoë": "imported",
                      "dave": "created"}
    assert all(u["new_sub"] for u in mapping["users"])
    new_key = take_snapshot(cognito, s3, user_pool_id=report["target_user_pool_id"], bucket=bucket).key
    diff = diff_snapshots(rich_snapshot, f"s3://{bucket}/{new_key}", s3=s3, restored=True)
    assert diff["summary"]["identical"], diff  # memberships and the disabled state came after the import


def test_import_is_split_into_jobs_of_at_most_the_row_limit(cognito, s3, rich_snapshot, tmp_path, monkeypatch):
    monkeypatch.setattr(restore_import_jobs, "IMPORT_MAX_ROWS", 3)
    client, stub = stubbed_client()
    stub.add_response("get_csv_header", {"UserPoolId": "us-east-1_x", "CSVHeader": HEADER}, {"UserPoolId": ANY})
    expect_job(stub, "import-1", imported=3)
    expect_job(stub, "import-2", imported=1)
    fake = FakeCognitoImport(cognito)

    with stub:
        report = run_import(cognito, s3, rich_snapshot, tmp_path, client, fake)
        stub.assert_no_pending_responses()

    assert [len(rows) for _, rows in fake.uploads] == [3, 1]
    assert [j["JobId"] for j in report["steps"]["import_jobs"]] == ["import-1", "import-2"]
    assert report["status"] == "ok"


def test_a_failed_import_job_is_reported_and_its_users_marked_for_resume(cognito, s3, rich_snapshot, tmp_path):
    client, stub = stubbed_client()
    stub.add_response("get_csv_header", {"UserPoolId": "us-east-1_x", "CSVHeader": HEADER}, {"UserPoolId": ANY})
    expect_job(stub, "import-1", imported=3, final="Failed", failed=1)
    fake = FakeCognitoImport(cognito, drop={"bob"})

    with stub:
        report = run_import(cognito, s3, rich_snapshot, tmp_path, client, fake)

    assert report["status"] == "incomplete"
    assert any("import job import-1" in f and "CloudWatch" in f for f in report["failures"])
    assert any("not in the pool after the import jobs" in f for f in report["failures"])
    assert "--resume" in report["resume_command"] and "--import-role-arn" in report["resume_command"]
    states = {u["old_username"]: u["state"] for u in json.loads((tmp_path / "mapping.json").read_text())["users"]}
    assert states["bob"] == "failed" and states["alice"] == "imported"


def test_import_needs_an_auto_verified_attribute(cognito, s3, bucket, tmp_path):
    doc = make_snapshot(pool=default_pool(AutoVerifiedAttributes=[]))
    source = f"s3://{bucket}/" + write_s3(s3, bucket, doc)
    with pytest.raises(Exception, match="auto-verified"):
        run_import(cognito, s3, source, tmp_path, None, None)


def test_link_provider_sends_the_identity_as_the_source_user():
    client, stub = stubbed_client()
    stub.add_response("admin_link_provider_for_user", {}, {
        "UserPoolId": "us-east-1_new",
        "DestinationUser": {"ProviderName": "Cognito", "ProviderAttributeValue": "Google_1234"},
        "SourceUser": {"ProviderName": "Google", "ProviderAttributeName": "Cognito_Subject",
                       "ProviderAttributeValue": "1234"},
    })
    with stub:
        link_provider(client, "us-east-1_new", "Google_1234", {"providerName": "Google", "userId": "1234"})
        stub.assert_no_pending_responses()


def test_link_federated_creates_native_users_and_links_restored_providers(cognito, s3, bucket, tmp_path):
    google = {"ProviderName": "Google", "ProviderType": "Google", "RedactedDetails": ["client_secret"],
              "ProviderDetails": {"client_id": "g-client", "authorize_scopes": "openid email"},
              "AttributeMapping": {"email": "email"}}
    doc = make_snapshot(
        sections={"identity_providers": present(items=[google])},
        users=[
            make_user("alice", email="alice@example.com", attributes={"identities": json.dumps(
                [{"userId": "77", "providerName": "Corp"}])}),  # Corp is not in the snapshot: not linked
            make_user("Google_1234", email="g@example.com", status="EXTERNAL_PROVIDER", attributes={
                "identities": json.dumps([{"userId": "1234", "providerName": "Google"}])}),
        ],
        groups=[make_group("staff", ["Google_1234"])],
    )
    source = f"s3://{bucket}/" + write_s3(s3, bucket, doc)
    client, stub = stubbed_client()
    stub.add_response("admin_link_provider_for_user", {}, {
        "UserPoolId": ANY,
        "DestinationUser": {"ProviderName": "Cognito", "ProviderAttributeValue": "Google_1234"},
        "SourceUser": {"ProviderName": "Google", "ProviderAttributeName": "Cognito_Subject",
                       "ProviderAttributeValue": "1234"},
    })

    with stub:
        report = Restorer(cognito, s3, RestoreOptions(
            snapshot=source, new_pool_name="linked", link_federated=True, workers=1,
            secrets={"Google": {"client_secret": "g-secret"}}, mapping_file=str(tmp_path / "m.json")),
            link_client=client).run()
        stub.assert_no_pending_responses()

    assert report["status"] == "ok", report["failures"]
    assert report["steps"]["federated_links"] == {"provider not restored": 1, "linked": 1}
    assert report["federated_users"]["linked"] == 1
    new_pool = report["target_user_pool_id"]
    groups = cognito.admin_list_groups_for_user(UserPoolId=new_pool, Username="Google_1234")["Groups"]
    assert [g["GroupName"] for g in groups] == ["staff"]
    assert "g-secret" not in json.dumps(report)


def test_every_call_of_the_import_and_link_paths_is_in_the_restore_list(cognito, s3, rich_snapshot, tmp_path):
    from backup_lambda.permissions import direct_calls
    from cognito_backup.permissions import RESTORE_OPERATIONS

    client, stub = stubbed_client()
    stub.add_response("get_csv_header", {"UserPoolId": "us-east-1_x", "CSVHeader": HEADER}, {"UserPoolId": ANY})
    expect_job(stub, "import-1", imported=4)
    calls: set[tuple[str, str]] = set()
    for c in (cognito, s3, client):
        c.meta.events.register("before-parameter-build", lambda model=None, _s=c.meta.service_model.service_name, **kw:
                               calls.add((_s, model.name)))
    fake = FakeCognitoImport(boto3.client("cognito-idp", region_name="us-east-1"))  # its calls are Cognito's
    with stub:
        report = run_import(cognito, s3, rich_snapshot, tmp_path, client, fake)
    assert report["status"] == "ok"
    assert calls - direct_calls(RESTORE_OPERATIONS) == set()
    assert ("cognito-idp", "CreateUserImportJob") in calls and ("s3", "GetObject") in calls
