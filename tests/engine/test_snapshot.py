"""The snapshot engine against moto: completeness, format, manifest, encryption, failures."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone

import pytest
from botocore.awsrequest import AWSResponse

from backup_lambda.errors import ConfigError, SnapshotError
from backup_lambda.snapshot import take_snapshot
from backup_lambda.snapshot_format import CONFIG_SECTIONS, DOCUMENT_KEYS, FORMAT_VERSION, manifest_key
from demo.sample_pool import build_pool, create_pool
from tests.support.fault_injection import RawBody

NOW = datetime(2026, 11, 24, 1, 0, 3, tzinfo=timezone.utc)  # a Tuesday


def read_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def snap(cognito, s3, bucket, pool_id, **kw):
    kw.setdefault("request_budget", 30)
    kw.setdefault("now", NOW)
    return take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket, **kw)


def add_users(cognito, pool_id, n, start=0, name="user"):
    names = []
    for i in range(start, start + n):
        username = f"{name}{i:05d}"
        cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}])
        names.append(username)
    return names


def objects(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def open_uploads(s3, bucket):
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.mark.parametrize("n_users", [0, 1, 60, 61, 2500])
def test_every_user_is_written_exactly_once(cognito, s3, bucket, n_users):
    pool_id = create_pool(cognito, "edge")["Id"]
    expected = add_users(cognito, pool_id, n_users)

    result = snap(cognito, s3, bucket, pool_id)

    doc = read_json(s3, bucket, result.key)
    usernames = [u["Username"] for u in doc["users"]]
    assert sorted(usernames) == sorted(expected)
    assert len(set(usernames)) == len(usernames)
    assert result.users == doc["summary"]["users"] == n_users
    subs = [a["Value"] for u in doc["users"] for a in u["Attributes"] if a["Name"] == "sub"]
    assert len(set(subs)) == n_users


def test_document_follows_the_format(cognito, s3, bucket):
    sample = build_pool(cognito, "shop-users", users=150, big_group_members=70)

    result = snap(cognito, s3, bucket, sample.pool_id)

    doc = read_json(s3, bucket, result.key)
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["taken_at"] == "2026-11-24T01:00:03Z"
    assert doc["source"]["user_pool_id"] == sample.pool_id
    assert doc["source"]["pool_name"] == "shop-users"
    assert doc["source"]["region"] == "us-east-1"
    assert doc["source"]["account"] == "123456789012"
    assert doc["pool"]["Id"] == sample.pool_id
    assert list(doc) == list(DOCUMENT_KEYS[2])
    assert list(doc)[:4] == ["format_version", "taken_at", "source", "pool"]
    assert list(doc)[4:6] == ["users", "groups"], "format 2: users first, then the groups"
    assert list(doc)[6:-1] == list(CONFIG_SECTIONS)
    assert list(doc)[-1] == "summary"
    for name in CONFIG_SECTIONS:
        assert doc[name]["status"] in ("present", "absent", "unavailable"), name
    assert doc["risk_configuration"] == {"status": "absent", "reason": "threat protection is off for this pool"}
    assert doc["domain"]["status"] == "present"
    assert doc["domain"]["value"]["Domain"]["Domain"] == "shop-users-7-auth"
    assert doc["tags"]["value"] == {"team": "identity", "env": "demo"}
    assert [s["Identifier"] for s in doc["resource_servers"]["items"]] == ["https://api.example.com"]
    # ISO datetimes, not repr()
    datetime.fromisoformat(doc["users"][0]["UserCreateDate"])
    datetime.fromisoformat(doc["groups"][0]["CreationDate"])


def test_groups_carry_all_their_members(cognito, s3, bucket):
    sample = build_pool(cognito, "groups", users=130, big_group_members=125, extra_groups=62,
                        with_config=False, unconfirmed=0)

    result = snap(cognito, s3, bucket, sample.pool_id)

    doc = read_json(s3, bucket, result.key)
    groups = {g["GroupName"]: g for g in doc["groups"]}
    assert len(groups) == len(sample.groups) > 60
    for name, members in sample.groups.items():
        assert sorted(groups[name]["Members"]) == sorted(members), name
    assert len(groups["everyone"]["Members"]) == 125
    assert groups["admins"]["Precedence"] == 1
    assert groups["admins"]["RoleArn"].endswith("role/cognito-admins")
    assert "UserPoolId" not in groups["admins"]
    assert result.memberships == sum(len(m) for m in sample.groups.values())
    assert result.groups == len(sample.groups)


def test_pool_without_groups(cognito, s3, bucket):
    pool_id = create_pool(cognito, "nogroups")["Id"]
    add_users(cognito, pool_id, 3)

    result = snap(cognito, s3, bucket, pool_id)

    doc = read_json(s3, bucket, result.key)
    assert doc["groups"] == []
    assert result.groups == result.memberships == 0


def test_unicode_disabled_and_unconfirmed_users(cognito, s3, bucket):
    sample = build_pool(cognito, "intl", users=90, unconfirmed=4, disabled_every=10)
    pool_id = sample.pool_id
    cognito.admin_create_user(UserPoolId=pool_id, Username="zoë.ñandú-李", MessageAction="SUPPRESS")

    result = snap(cognito, s3, bucket, pool_id)

    raw = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    assert "zoë.ñandú-李".encode() in raw  # UTF-8, not \u escapes
    users = {u["Username"]: u for u in json.loads(raw)["users"]}
    assert "zoë.ñandú-李" in users
    assert {n for n, u in users.items() if u["Enabled"] is False} == set(sample.disabled)
    assert {n for n, u in users.items() if u["UserStatus"] == "UNCONFIRMED"} == set(sample.unconfirmed)
    assert result.disabled_users == len(sample.disabled)
    family = {a["Value"] for u in users.values() for a in u["Attributes"] if a["Name"] == "family_name"}
    assert "Müller" in family


def test_manifest_describes_the_object(cognito, s3, bucket):
    pool_id = create_pool(cognito, "manifested")["Id"]
    add_users(cognito, pool_id, 5)

    result = snap(cognito, s3, bucket, pool_id, prefix="backups/prod")

    key = result.key
    assert key == "backups/prod/2026/11/24/manifested_20261124_010003.json"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    manifest = read_json(s3, bucket, manifest_key(key))
    assert manifest["snapshot_key"] == key
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest() == result.sha256
    assert manifest["bytes"] == len(body) == result.bytes
    assert (manifest["users"], manifest["groups"], manifest["memberships"]) == (5, 0, 0)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["taken_at"] == "2026-11-24T01:00:03Z"
    assert set(manifest["sections"]) == set(CONFIG_SECTIONS)
    assert objects(s3, bucket) == sorted([key, manifest_key(key)])


@pytest.mark.parametrize(
    ("when", "retention"),
    [
        (datetime(2026, 11, 24, tzinfo=timezone.utc), "daily"),
        (datetime(2026, 11, 29, tzinfo=timezone.utc), "weekly"),  # a Sunday
        (datetime(2026, 12, 1, tzinfo=timezone.utc), "monthly"),
        (datetime(2026, 2, 1, tzinfo=timezone.utc), "monthly"),  # the 1st, and a Sunday
    ],
)
def test_objects_are_tagged_with_their_retention_class(cognito, s3, bucket, when, retention):
    pool_id = create_pool(cognito, "tagged")["Id"]

    result = snap(cognito, s3, bucket, pool_id, now=when)

    for key in (result.key, result.manifest_key):
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        assert tags["retention"] == retention
    assert result.retention == retention


def test_kms_key_encrypts_snapshot_and_manifest(aws, cognito, s3, bucket):
    from backup_lambda.aws import make_client

    key_id = make_client("kms").create_key()["KeyMetadata"]["Arn"]
    pool_id = create_pool(cognito, "encrypted")["Id"]

    result = snap(cognito, s3, bucket, pool_id, kms_key_id=key_id)

    for key in (result.key, result.manifest_key):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key_id


def test_excluded_attributes_are_left_out(cognito, s3, bucket):
    sample = build_pool(cognito, "private", users=30, unconfirmed=0)

    result = snap(cognito, s3, bucket, sample.pool_id, exclude_attributes="phone_number, custom:org_id")

    raw = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    doc = json.loads(raw)
    names = {a["Name"] for u in doc["users"] for a in u["Attributes"]}
    assert "phone_number" not in names and "custom:org_id" not in names
    assert {"email", "custom:tier", "sub"} <= names
    assert b"+1555" not in raw
    assert doc["summary"]["excluded_attributes"] == ["custom:org_id", "phone_number"]


def test_secrets_never_reach_snapshot_manifest_result_or_logs(cognito, s3, bucket, capsys):
    from tests.support.fault_injection import CapturedLogs

    sample = build_pool(cognito, "secretive", users=20, unconfirmed=0)
    secrets = [sample.idp_secret, *sample.client_secrets]
    assert len(secrets) == 2 and all(secrets)

    # botocore debug-logs response bodies, so it is never on in production: INFO for all, DEBUG for ours
    with CapturedLogs(logging.INFO, logging.DEBUG) as logs:
        result = snap(cognito, s3, bucket, sample.pool_id, progress=print)

    written = b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in objects(s3, bucket))
    out = capsys.readouterr()
    logged = "\n".join(logs.messages())
    assert "complete" in logged and "configuration read" in logged, "the capture saw nothing: it would prove nothing"
    seen = [written.decode(), json.dumps(result.to_json()), logged, out.out, out.err]
    for secret in secrets:
        assert all(secret not in text for text in seen), "a secret leaked"
    doc = read_json(s3, bucket, result.key)
    clients = {c["ClientName"]: c for c in doc["clients"]["items"]}
    assert clients["backend-service"]["HasSecret"] is True
    assert clients["web-app"]["HasSecret"] is False
    assert all("ClientSecret" not in c for c in clients.values())
    provider = doc["identity_providers"]["items"][0]
    assert provider["RedactedDetails"] == ["client_secret"]
    assert provider["ProviderDetails"]["client_id"] == "corp-client"


# -- failures --------------------------------------------------------------------------------------


def fail_operation(client, operation, code, *, after=0, status=400):
    """Make ``operation`` fail with ``code`` from its (after+1)-th call on, before it reaches moto."""
    calls = {"n": 0}

    def handler(**kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            response = AWSResponse("https://example.invalid", status, {}, None)
            return response, {"Error": {"Code": code, "Message": f"injected {code}"},
                              "ResponseMetadata": {"HTTPStatusCode": status}}
        return None

    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"before-call.{service_id}.{operation}", handler)
    return calls


def test_denied_listing_fails_cleanly_with_nothing_written(cognito, s3, bucket):
    pool_id = create_pool(cognito, "denied")["Id"]
    add_users(cognito, pool_id, 200)
    fail_operation(cognito, "ListUsers", "AccessDeniedException", after=3)

    with pytest.raises(SnapshotError) as err:
        snap(cognito, s3, bucket, pool_id)

    assert pool_id in str(err.value) and "ListUsers" in str(err.value)
    assert err.value.operation == "ListUsers"
    assert objects(s3, bucket) == []
    assert open_uploads(s3, bucket) == []


def test_wrong_pool_id_fails_before_any_write(cognito, s3, bucket):
    with pytest.raises(SnapshotError, match="DescribeUserPool.*us-east-1_doesnotexist.*ResourceNotFound"):
        snap(cognito, s3, bucket, "us-east-1_doesnotexist")
    assert objects(s3, bucket) == [] and open_uploads(s3, bucket) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_pool_id": "not-a-pool"}, "user_pool_id must look like"),
        ({"user_pool_id": "us-east-1_abc", "pool_name": "a/b"}, "pool_name must be"),
        ({"user_pool_id": "us-east-1_abc", "request_budget": 0}, "request_budget must be > 0"),
        ({"user_pool_id": "us-east-1_abc", "request_budget": 31}, "request_budget must be > 0 and <= 30"),
        ({"user_pool_id": "us-east-1_abc", "prefix": "../x/"}, "prefix must be path segments"),
        ({"user_pool_id": "us-east-1_abc", "exclude_attributes": "sub"}, "cannot exclude 'sub'"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(cognito, s3, bucket, kwargs, message):
    kwargs = {"bucket": bucket, **kwargs}
    with pytest.raises(ConfigError, match=message):
        take_snapshot(cognito, s3, **kwargs)
    assert objects(s3, bucket) == []


def test_s3_failure_while_writing_aborts_the_upload(cognito, s3, bucket):
    pool_id = create_pool(cognito, "s3fail")["Id"]
    add_users(cognito, pool_id, 10)
    fail_operation(s3, "CompleteMultipartUpload", "InternalError", status=500)

    with pytest.raises(Exception, match="InternalError"):
        snap(cognito, s3, bucket, pool_id)

    assert objects(s3, bucket) == []
    assert open_uploads(s3, bucket) == []


def test_manifest_failure_leaves_a_visibly_incomplete_snapshot(cognito, s3, bucket):
    pool_id = create_pool(cognito, "nomanifest")["Id"]
    fail_operation(s3, "PutObject", "AccessDenied", status=403)

    with pytest.raises(SnapshotError, match="manifest could not be"):
        snap(cognito, s3, bucket, pool_id)

    keys = objects(s3, bucket)
    assert len(keys) == 1 and not keys[0].endswith(".manifest.json")


def test_a_second_run_in_the_same_second_never_overwrites(cognito, s3, bucket):
    pool_id = create_pool(cognito, "twice")["Id"]
    add_users(cognito, pool_id, 3)
    first = snap(cognito, s3, bucket, pool_id)
    before = s3.get_object(Bucket=bucket, Key=first.key)["Body"].read()
    add_users(cognito, pool_id, 2, start=100)

    with pytest.raises(Exception, match="PreconditionFailed"):
        snap(cognito, s3, bucket, pool_id)

    assert s3.get_object(Bucket=bucket, Key=first.key)["Body"].read() == before
    assert open_uploads(s3, bucket) == []


# -- listing robustness ----------------------------------------------------------------------------


def test_refused_range_filter_falls_back_to_one_scan(cognito, s3, bucket):
    pool_id = create_pool(cognito, "nofilter")["Id"]
    expected = add_users(cognito, pool_id, 130)

    def refuse_filter(params, **kwargs):
        if b'"Filter"' in params["body"]:  # params: the serialised request
            response = AWSResponse("https://example.invalid", 400, {}, None)
            return response, {"Error": {"Code": "InvalidParameterException", "Message": "bad filter"}}
        return None

    cognito.meta.events.register_first("before-call.cognito-identity-provider.ListUsers", refuse_filter)

    result = snap(cognito, s3, bucket, pool_id)

    doc = read_json(s3, bucket, result.key)
    assert sorted(u["Username"] for u in doc["users"]) == expected
    assert doc["summary"]["user_listing"] == "sequential"


def test_ignored_range_filter_still_yields_each_user_once(cognito, s3, bucket):
    """If the service ignored the filter, every range would return the whole pool: still exact."""
    pool_id = create_pool(cognito, "ignored")["Id"]
    expected = add_users(cognito, pool_id, 75)

    def drop_filter(params, **kwargs):
        params.pop("Filter", None)

    cognito.meta.events.register("provide-client-params.cognito-identity-provider.ListUsers", drop_filter)

    result = snap(cognito, s3, bucket, pool_id)

    doc = read_json(s3, bucket, result.key)
    assert sorted(u["Username"] for u in doc["users"]) == expected
    assert doc["summary"]["user_listing"] == "parallel-sub-ranges"


def test_repeated_users_across_pages_are_written_once(cognito, s3, bucket):
    pool_id = create_pool(cognito, "repeats")["Id"]
    expected = add_users(cognito, pool_id, 200)

    def repeat_first_user(parsed, **kwargs):
        users = parsed.get("Users")
        if users:
            users.append(dict(users[0]))

    cognito.meta.events.register("after-call.cognito-identity-provider.ListUsers", repeat_first_user)

    result = snap(cognito, s3, bucket, pool_id)

    doc = read_json(s3, bucket, result.key)
    assert sorted(u["Username"] for u in doc["users"]) == expected


def test_throttling_is_retried_and_nothing_is_lost(cognito, s3, bucket):
    pool_id = create_pool(cognito, "throttled")["Id"]
    expected = add_users(cognito, pool_id, 300)
    state = {"n": 0}

    def throttle_every_third_attempt(request, **kwargs):
        state["n"] += 1
        if state["n"] % 3 == 0:
            return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "TooManyRequestsException"},
                               RawBody(b'{"__type":"TooManyRequestsException","message":"Rate exceeded"}'))
        return None

    cognito.meta.events.register_first("before-send.cognito-identity-provider.ListUsers",
                                       throttle_every_third_attempt)

    result = snap(cognito, s3, bucket, pool_id)

    doc = read_json(s3, bucket, result.key)
    assert sorted(u["Username"] for u in doc["users"]) == expected
    assert result.throttles >= 1

