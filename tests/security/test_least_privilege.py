"""Least privilege, from the calls the code really makes.

Scenarios run the Lambda handler against moto with every client recorded: a pool using every
configuration section moto can hold (clients with and without a secret, an identity provider, a
resource server, a domain, tags, groups larger than a page), SSE-KMS with the stack's key, a snapshot
that continues over several runs (checkpoints and their spools, self-invocation), one handed over in the
middle of a group's member chain (its members travel in the spool), and a run that fails mid-upload (the
abort). Then, both ways:
- every recorded call is in ``permissions.direct_calls()``, and every call listed there is made by
  some scenario;
- against the policies the Pulumi program builds (``infra.policies.backup_role``, the key policy and
  the bucket policy of ``infra.policies.storage``), every recorded call's IAM action is allowed on the very
  resource it touched (pool ARN, object ARN, key, function), the bucket policy does not deny it as
  sent (its encryption headers), and the role is granted no action that no call needs.

The IAM resource of each call is derived here from the request, independently of permissions.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from backup_lambda.permissions import SNAPSHOT_COGNITO, SNAPSHOT_S3, direct_calls
from demo.emulator import FAKE_ENV
from tests.support.fault_injection import (
    ACCESS_DENIED,
    Call,
    CallRecorder,
    FakeContext,
    HandOverGate,
    Injector,
    LambdaRuns,
    ShortContext,
    capture_readers,
    fast_retries_and_limits,
    params_have,
    small_parts,
)
from tests.support.signing import make_signing_key

NOW = datetime(2026, 11, 24, 1, 0, 3, tzinfo=timezone.utc)
ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "cognito/prod/"
BUCKET = "cognito-backup-snapshots-a1b2c3d"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ShortContext.function_name}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/backup-role-5d1c9e0"
READER_ARN = f"arn:aws:iam::{ACCOUNT}:role/cognito-backup-restore"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{ShortContext.function_name}"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:backup-failures-7f3e2a1"

# Cognito actions that take no resource in IAM (the Service Authorization Reference lists no resource
# type for them): a policy must grant them on "*". DescribeUserPoolDomain names a domain, not a pool.
COGNITO_WITHOUT_RESOURCE = {"DescribeUserPoolDomain"}


@dataclass
class Need:
    """What one recorded call needs from IAM: actions on a resource, and S3 request context."""

    call: Call
    actions: list[str]
    resource: str
    kms: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)


def needs_of(call: Call, key_arn: str) -> Need:
    p = call.params
    if call.service == "cognito-idp":
        if call.operation in COGNITO_WITHOUT_RESOURCE:
            resource = "*"
        elif "ResourceArn" in p:
            resource = p["ResourceArn"]
        else:
            resource = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{p['UserPoolId']}"
        return Need(call, [f"cognito-idp:{call.operation}"], resource)
    if call.service == "lambda":
        name = p["FunctionName"]
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        return Need(call, ["lambda:InvokeFunction"], arn)
    if call.service == "kms":  # the signing key's: Sign (manifests, checkpoints), Verify (checkpoints)
        return Need(call, [f"kms:{call.operation}"], p["KeyId"])
    assert call.service == "s3", call
    resource = f"arn:aws:s3:::{p['Bucket']}/{p['Key']}"
    writes = {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutObject"}
    if call.operation in writes:
        actions = ["s3:PutObject"] + (["s3:PutObjectTagging"] if "Tagging" in p else [])
    else:
        actions = [{"AbortMultipartUpload": "s3:AbortMultipartUpload", "GetObject": "s3:GetObject",
                    "DeleteObject": "s3:DeleteObject"}[call.operation]]
    kms = []
    if p.get("SSEKMSKeyId"):
        assert p["SSEKMSKeyId"] == key_arn, "an upload names another key"
        kms.append("kms:GenerateDataKey")
    if call.operation == "CompleteMultipartUpload" or call.operation == "GetObject":
        kms.append("kms:Decrypt")  # S3 decrypts the parts to assemble them, and the object to return it
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": ROLE_ARN}
    if "ServerSideEncryption" in p:
        context["s3:x-amz-server-side-encryption"] = p["ServerSideEncryption"]
    if "SSEKMSKeyId" in p:
        context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = p["SSEKMSKeyId"]
    if call.operation in writes:  # what S3 documents for conditional writes
        context["s3:ObjectCreationOperation"] = str(call.operation in ("PutObject", "CompleteMultipartUpload")).lower()
    if "IfNoneMatch" in p:
        context["s3:if-none-match"] = p["IfNoneMatch"]
    return Need(call, actions, resource, kms, context)


@dataclass
class Recording:
    calls: list[Call]
    pool_ids: list[str]
    key_arn: str
    endpoints: set[str]
    signing_arn: str

    def needs(self) -> list[Need]:
        return [needs_of(c, self.key_arn) for c in self.calls]


@pytest.fixture(scope="module")
def recording():
    """Every call of every scenario, against one moto account, with the stack's environment."""
    from moto import mock_aws

    from backup_lambda.aws import make_client
    from demo.sample_pool import build_pool
    from infra.config import parse_config
    from infra.function_package import function_environment

    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for k, v in FAKE_ENV.items():
            mp.setenv(k, v)
        for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "EXCLUDE_ATTRIBUTES"):
            mp.delenv(k, raising=False)
        fast_retries_and_limits(mp)
        part_size = small_parts(mp, 4096)
        s3, cognito = make_client("s3"), make_client("cognito-idp")
        s3.create_bucket(Bucket=BUCKET)
        key_arn = make_client("kms").create_key()["KeyMetadata"]["Arn"]
        signing_arn = make_signing_key()
        rich = build_pool(cognito, "rich-pool", users=70, unconfirmed=2, big_group_members=62)
        plain = build_pool(cognito, "plain-pool", users=130, unconfirmed=0, with_config=False)
        config = parse_config({
            "aws:region": REGION,
            "cognito-backup:userPools": json.dumps([{"id": rich.pool_id, "name": "rich-pool"},
                                                    {"id": plain.pool_id, "name": "plain-pool"}]),
            "cognito-backup:snapshotReaders": json.dumps([READER_ARN]),
            "cognito-backup:snapshotPrefix": PREFIX,
            "cognito-backup:requestBudget": "30",
        }, stack="test")
        for name, value in function_environment(config, BUCKET, key_arn, signing_arn).items():
            mp.setenv(name, value)

        from backup_lambda import handler

        real_take = handler.take_snapshot
        mp.setattr(handler, "take_snapshot", lambda *a, **kw: real_take(*a, **{**kw, "part_size": part_size,
                                                                              "now": NOW}))
        recorder = CallRecorder()
        endpoints: set[str] = set()

        def prepare(service, client):
            endpoints.add(client.meta.endpoint_url)
            if service == "cognito-idp" and prepare.fail:
                Injector(client, "ListUsers", ACCESS_DENIED, skip=5, times=None)

        prepare.fail = False
        prepare.gate = None
        readers = capture_readers(mp)

        def hold_the_chain(service, client):  # a hand-over in the middle of the group "everyone"
            if service == "cognito-idp" and prepare.gate is None:
                prepare.gate = HandOverGate(client, "ListUsersInGroup", readers, match=lambda p: params_have(
                    '"everyone"')(p) and params_have('"NextToken"')(p))

        def prepare_both(service, client):
            prepare(service, client)
            if prepare.hold:
                hold_the_chain(service, client)

        prepare.hold = False
        runs = LambdaRuns(mp, recorder, prepare=prepare_both)

        # 1. a pool using every section moto holds, in one run
        assert runs({"user_pool_id": rich.pool_id, "pool_name": "rich-pool"})["status"] == "ok"
        # 2. a pool too large for one run: checkpoints and self-invocation (pages of 3: each range several
        # pages, while each run lets only the calls in flight land after its time is up)
        mp.setattr("backup_lambda.pool_reader.PAGE", 3)
        result = runs.until_done({"user_pool_id": plain.pool_id, "pool_name": "plain-pool"}, pages=4)
        assert result["status"] == "ok" and result["runs"] >= 3
        mp.setattr("backup_lambda.pool_reader.PAGE", 60)
        # 2b. a hand-over with a member chain half-way: its members in the spool
        prepare.hold = True
        held = runs({"user_pool_id": rich.pool_id, "pool_name": "rich-held"},
                    FakeContext(lambda: prepare.gate.deadline()))
        prepare.hold = False
        assert held["status"] == "continued" and prepare.gate.released_stopping
        assert runs(runs.invocations[-1])["status"] == "ok"
        # 3. a run that fails while the upload is open: the abort
        prepare.fail = True
        with pytest.raises(Exception, match="AccessDenied"):
            runs({"user_pool_id": rich.pool_id, "pool_name": "rich-pool"})
        yield Recording(list(recorder.calls), [rich.pool_id, plain.pool_id], key_arn, endpoints, signing_arn)


def role_policy(recording: Recording) -> dict:
    from infra.policies.backup_role import BackupRoleResources, backup_role_policy

    return backup_role_policy(BackupRoleResources(
        pool_arns=tuple(f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{p}" for p in recording.pool_ids),
        bucket_arn=f"arn:aws:s3:::{BUCKET}",
        snapshot_prefix=PREFIX,
        kms_key_arn=recording.key_arn,
        signing_key_arn=recording.signing_arn,
        function_arn=FUNCTION_ARN,
        log_group_arn=LOG_GROUP_ARN,
        failure_queue_arn=QUEUE_ARN,
    ))


def key_policy_of(recording: Recording) -> dict:
    from backup_lambda.permissions import actions_for
    from infra.policies.storage import KeyGrant, key_policy

    return key_policy(partition="aws", account_id=ACCOUNT, grants=[
        KeyGrant("BackupRoleUsesKey", [ROLE_ARN], actions_for("kms_key"), REGION),
        KeyGrant("ReadersDecryptSnapshots", [READER_ARN], ["kms:Decrypt"], REGION),
    ])


def bucket_policy(recording: Recording) -> dict:
    from infra.policies.storage import snapshot_bucket_policy

    return snapshot_bucket_policy(bucket_arn=f"arn:aws:s3:::{BUCKET}", kms_key_arn=recording.key_arn,
                                  readers=[READER_ARN], writer_role_arn=ROLE_ARN, snapshot_prefix=PREFIX)


def decision(policy: dict, action: str, resource: str, principal: str | None = None,
             context: dict[str, str] | None = None) -> str:
    from tests.support.iam import decision as evaluate

    return evaluate(policy, action=action, resource=resource, principal=principal, context=context)


# --- the list, both ways --------------------------------------------------------------------------

def test_every_call_made_is_in_the_list(recording):
    made = {(c.service, c.operation) for c in recording.calls}

    assert made - direct_calls() == set()


@pytest.mark.parametrize("operation", sorted(direct_calls()), ids="{0[0]}:{0[1]}".format)
def test_every_call_in_the_list_is_made_by_some_scenario(recording, operation):
    assert operation in {(c.service, c.operation) for c in recording.calls}


def test_the_snapshot_lists_are_fully_exercised(recording):
    made = {(c.service, c.operation) for c in recording.calls}

    assert {(op.service, op.api) for op in SNAPSHOT_COGNITO + SNAPSHOT_S3} <= made


def test_a_continued_snapshot_with_spooled_members_is_among_the_scenarios(recording):
    spool_calls = {c.operation for c in recording.calls if c.service == "s3" and c.params["Key"].endswith(".spool")}
    checkpoints = [json.loads(c.body) for c in recording.calls if c.operation == "PutObject"
                   and c.params["Key"].startswith(f"{PREFIX}.checkpoints/") and c.params["Key"].endswith(".json")]

    assert spool_calls == {"PutObject", "GetObject", "DeleteObject"}
    assert any(cp["groups"]["chains"] and cp["counts"]["memberships"] for cp in checkpoints), \
        "no checkpoint handed over members half-way through a group"


def test_every_request_goes_over_tls(recording):
    assert recording.endpoints and all(url.startswith("https://") for url in recording.endpoints)


# --- the role policy ------------------------------------------------------------------------------

def _calls_for(recording: Recording, service: str, operation: str) -> list[Need]:
    return [n for n in recording.needs() if (n.call.service, n.call.operation) == (service, operation)]


@pytest.mark.parametrize("operation", sorted(direct_calls()), ids="{0[0]}:{0[1]}".format)
def test_each_recorded_call_is_allowed_on_the_resource_it_touched(recording, operation):
    policy = role_policy(recording)
    needs = _calls_for(recording, *operation)
    assert needs, f"no scenario made {operation}"

    for need in needs:
        for action in need.actions:
            assert decision(policy, action, need.resource) == "Allow", f"{action} on {need.resource}"
        for action in need.kms:
            assert decision(policy, action, recording.key_arn) == "Allow", f"{action} for {need.call.operation}"


def test_objects_touched_are_all_under_the_prefix(recording):
    keys = [n.resource for n in recording.needs() if n.call.service == "s3"]

    assert keys and all(k.startswith(f"arn:aws:s3:::{BUCKET}/{PREFIX}") for k in keys)
    reads = [n for n in recording.needs() if n.call.operation in ("GetObject", "DeleteObject")]
    assert reads and all(f"/{PREFIX}.checkpoints/" in n.resource for n in reads)


def test_the_role_is_granted_nothing_that_no_call_needs(recording):
    from infra.policies.backup_role import RUNTIME_GRANTS, SIDS

    runtime_sids = {SIDS[scope] for scope in RUNTIME_GRANTS}
    granted = {a for s in role_policy(recording)["Statement"] if s["Sid"] not in runtime_sids for a in s["Action"]}
    needed = {a for n in recording.needs() for a in [*n.actions, *n.kms]}

    assert granted - needed == set(), "granted but never needed"
    assert needed - granted == set(), "needed but not granted"


def test_the_role_may_touch_only_its_own_pools_bucket_prefix_key_and_function(recording):
    policy = role_policy(recording)
    other_pool = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_NotListed1"
    for need in recording.needs():
        for action in need.actions:
            if need.call.service == "cognito-idp" and need.resource != "*":
                assert decision(policy, action, other_pool) != "Allow"
            if need.call.service == "s3":
                elsewhere = need.resource.replace(f"/{PREFIX}", "/elsewhere/", 1)
                assert decision(policy, action, elsewhere) != "Allow", elsewhere
                assert decision(policy, action, need.resource.replace(BUCKET, "another-bucket")) != "Allow"
            if need.call.service == "lambda":
                assert decision(policy, action, FUNCTION_ARN.replace("cognito-backup-test", "other")) != "Allow"


# --- the key policy and the bucket policy ---------------------------------------------------------

def test_the_key_policy_lets_the_role_do_exactly_what_its_calls_need_through_s3(recording):
    from backup_lambda.permissions import actions_for

    policy = key_policy_of(recording)
    needed = {a for n in recording.needs() for a in n.kms}
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}

    assert needed == set(actions_for("kms_key"))
    for action in needed:
        assert decision(policy, action, recording.key_arn, ROLE_ARN, via_s3) == "Allow"
        assert decision(policy, action, recording.key_arn, ROLE_ARN, {}) != "Allow"
    for action in ("kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:ScheduleKeyDeletion"):
        assert decision(policy, action, recording.key_arn, ROLE_ARN, via_s3) != "Allow"


def test_the_bucket_policy_lets_every_recorded_call_through_as_sent(recording):
    policy = bucket_policy(recording)

    for need in recording.needs():
        if need.call.service != "s3":
            continue
        for action in need.actions:
            verdict = decision(policy, action, need.resource, ROLE_ARN, need.context)
            assert verdict != "Deny", f"{need.call.operation} {need.call.params} is denied by the bucket policy"


def test_the_same_calls_without_tls_or_with_another_key_are_denied(recording):
    policy = bucket_policy(recording)
    uploads = [n for n in recording.needs() if n.call.operation in ("PutObject", "CreateMultipartUpload")]
    assert uploads and all(n.context.get("s3:x-amz-server-side-encryption") == "aws:kms" for n in uploads)

    for need in recording.needs():
        if need.call.service != "s3":
            continue
        plain = {**need.context, "aws:SecureTransport": "false"}
        assert decision(policy, need.actions[0], need.resource, ROLE_ARN, plain) == "Deny"
    for need in uploads:
        other_key = re.sub(r"key/.*$", "key/00000000-0000-0000-0000-000000000000", need.context[
            "s3:x-amz-server-side-encryption-aws-kms-key-id"])
        for headers in ({"s3:x-amz-server-side-encryption": "AES256"},
                        {"s3:x-amz-server-side-encryption": "aws:kms"},
                        {"s3:x-amz-server-side-encryption": "aws:kms",
                         "s3:x-amz-server-side-encryption-aws-kms-key-id": other_key}):
            context: dict[str, Any] = {"aws:SecureTransport": "true", "aws:PrincipalArn": ROLE_ARN, **headers}
            assert decision(policy, "s3:PutObject", need.resource, ROLE_ARN, context) == "Deny", headers


def test_the_role_reads_back_only_checkpoints(recording):
    policy = bucket_policy(recording)
    snapshots = [n for n in recording.needs() if n.call.operation == "CompleteMultipartUpload"]

    for need in snapshots:
        context = {"aws:SecureTransport": "true", "aws:PrincipalArn": ROLE_ARN}
        assert decision(policy, "s3:GetObject", need.resource, ROLE_ARN, context) == "Deny"


# --- restore --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def restore_calls(recording, tmp_path_factory):
    """A restore (CLI) of the rich pool's snapshot into a new pool with its domain, then the same
    restore resumed into that pool, then resumed with ``--check``: the calls of each, recorded."""
    from backup_lambda import aws
    from backup_lambda.ratelimit import RateLimiters
    from cognito_backup.cli import main
    from cognito_backup.restore import calls as restore_calls

    runs = {name: CallRecorder() for name in ("restore", "resume", "check")}
    real = aws.make_client
    work = tmp_path_factory.mktemp("restore")
    with pytest.MonkeyPatch.context() as mp:
        current = {"recorder": runs["restore"]}
        mp.setattr(aws, "make_client", lambda service, *a, **kw: current["recorder"].attach(real(service, *a, **kw)))
        mp.setattr(restore_calls, "RateLimiters",
                   lambda rates, default=5.0: RateLimiters({k: 1000.0 for k in rates}, 1000.0))
        mp.chdir(work)
        s3 = real("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]]
        snapshot = next(k for k in sorted(keys) if "/rich-pool_" in k and not k.endswith(".manifest.json"))
        secrets = work / "secrets.json"
        secrets.write_text(json.dumps({"CorpOIDC": {"client_secret": "a-secret-for-the-restore"}}))
        common = [f"s3://{BUCKET}/{snapshot}", "--users-via", "admin-create", "--secrets", str(secrets), "--json",
                  "--signing-key", recording.signing_arn]
        assert main(["restore", *common, "--new-pool-name", "restored", "--domain-prefix", "restored-x1"]) == 0
        cognito = real("cognito-idp")
        restored = next(p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "restored")
        current["recorder"] = runs["resume"]
        assert main(["restore", *common, "--target-pool-id", restored, "--resume"]) == 0
        current["recorder"] = runs["check"]
        main(["restore", *common, "--target-pool-id", restored, "--resume", "--check"])
    return runs


def test_every_call_a_restore_and_its_resume_make_is_in_the_restore_list(restore_calls):
    from cognito_backup.permissions import NO_PERMISSION_NEEDED, RESTORE_OPERATIONS

    made = restore_calls["restore"].operations() | restore_calls["resume"].operations()

    assert {("cognito-idp", "CreateUserPool"), ("cognito-idp", "AdminCreateUser"), ("s3", "GetObject"),
            ("cognito-idp", "CreateUserPoolDomain"), ("sts", "GetCallerIdentity")} <= made
    assert made - direct_calls(RESTORE_OPERATIONS) - NO_PERMISSION_NEEDED == set()
    assert not NO_PERMISSION_NEEDED & direct_calls(RESTORE_OPERATIONS)  # and no role is granted it for nothing


def test_every_call_of_restore_check_is_in_the_restore_list(restore_calls):
    from cognito_backup.permissions import NO_PERMISSION_NEEDED, RESTORE_OPERATIONS

    assert restore_calls["check"].operations() - direct_calls(RESTORE_OPERATIONS) - NO_PERMISSION_NEEDED == set()


def test_a_restore_writes_nothing_to_the_snapshot_bucket(restore_calls):
    for recorder in restore_calls.values():
        assert not [c for c in recorder.calls if c.service == "s3"
                    and c.operation not in ("GetObject", "HeadObject", "ListObjectsV2")]


def test_capture_user_mfa_makes_exactly_one_more_call_and_its_role_is_granted_exactly_it(cognito, s3, bucket):
    """captureUserMfa: the calls a snapshot makes grow by AdminGetUser, which the role gets only with the key."""
    from backup_lambda.permissions import USER_MFA_COGNITO, role_operations
    from backup_lambda.snapshot import take_snapshot
    from demo.sample_pool import build_pool
    from infra.policies.backup_role import BackupRoleResources, backup_role_policy

    sample = build_pool(cognito, "mfa-iam", users=5, unconfirmed=0, with_config=False)
    made: dict[bool, set[str]] = {}
    for on in (False, True):
        calls: set[str] = set()
        handler = lambda model, calls=calls, **_: calls.add(model.name)  # noqa: E731
        cognito.meta.events.register("before-call.cognito-identity-provider", handler)
        take_snapshot(cognito, s3, user_pool_id=sample.pool_id, bucket=bucket, request_budget=30,
                      capture_user_mfa=on, prefix=f"mfa-{on}/")
        cognito.meta.events.unregister("before-call.cognito-identity-provider", handler)
        made[on] = calls
    pool_arn = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{sample.pool_id}"

    def policy(on: bool) -> dict:
        return backup_role_policy(BackupRoleResources(
            pool_arns=(pool_arn,), bucket_arn=f"arn:aws:s3:::{BUCKET}", snapshot_prefix=PREFIX,
            kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k",
            signing_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/s", function_arn=FUNCTION_ARN,
            log_group_arn=LOG_GROUP_ARN, failure_queue_arn=QUEUE_ARN), role_operations(on))

    assert made[True] - made[False] == {op.api for op in USER_MFA_COGNITO} == {"AdminGetUser"}
    assert {("cognito-idp", c) for c in made[True]} <= direct_calls(role_operations(True))
    assert decision(policy(True), "cognito-idp:AdminGetUser", pool_arn) == "Allow"
    assert decision(policy(False), "cognito-idp:AdminGetUser", pool_arn) != "Allow"
    other_pool = pool_arn.replace(sample.pool_id, "us-east-1_Other1234")
    assert decision(policy(True), "cognito-idp:AdminGetUser", other_pool) != "Allow"
