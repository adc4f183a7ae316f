"""The real ``__main__.py``, run with Pulumi's mocks (pulumi/examples testing-unit-py style).

Each run gets a fresh mock monitor, a fresh root stack and the test's stack config
(``tests/support/pulumi_mocks.py``); the mocks record every resource's resolved inputs, and the
assertions read those records and the stack outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from backup_lambda.permissions import actions_for
from infra.metrics import MISSING_SNAPSHOT_HOURS
from tests.support.pulumi_mocks import ProgramRun, as_pulumi_config, run_program, stack_file_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
READER = f"arn:aws:iam::{ACCOUNT}:role/cognito-backup-restore"
BACKUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cognito-backup/backup-role-7f3e2a1"  # under the program's path
POOLS = [{"id": "eu-west-1_AbCd12345", "name": "prod-users"}, {"id": "eu-west-1_EfGh67890", "name": "partners"}]


def base_config(**overrides: Any) -> dict[str, str]:
    """A stack's config as Pulumi hands it over; overrides by short key (None removes the key)."""
    config = {
        "aws:region": "eu-west-1",
        "userPools": POOLS,
        "snapshotReaders": [READER],
        "snapshotPrefix": "cognito/",
        "alarmEmail": "oncall@example.com",
        **overrides,
    }
    return as_pulumi_config({k: v for k, v in config.items() if v is not None}, "cognito-backup")


def run(config: dict[str, str], stack: str = "test") -> ProgramRun:
    return run_program(ROOT, project="cognito-backup", stack=stack, config=config)


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run(base_config())


@pytest.fixture(scope="module")
def replicated() -> ProgramRun:
    return run(base_config(replicaRegion="eu-central-1", objectLock={"mode": "compliance", "days": 14},
                           alarmEmail=None))


# --- storage ---------------------------------------------------------------------------------------

def test_the_key_rotates_and_has_an_alias(program):
    key = program.one("aws:kms/key:Key", "snapshots-key")

    assert key["enableKeyRotation"] is True
    alias = program.one("aws:kms/alias:Alias", "snapshots-key-alias")
    assert alias["name"] == "alias/cognito-backup-test"
    assert alias["targetKeyId"] == program.declared("aws:kms/key:Key", "snapshots-key").state["keyId"]


def test_the_key_policy_lets_the_account_administer_and_the_role_and_readers_use_it(program):
    statements = {s["Sid"]: s for s in json.loads(program.one("aws:kms/key:Key", "snapshots-key")["policy"])[
        "Statement"]}
    role_arn = BACKUP_ROLE

    assert statements["AccountAdministersKey"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "kms:Decrypt" not in statements["AccountAdministersKey"]["Action"]
    assert statements["BackupRoleUsesKey"]["Principal"] == {"AWS": [role_arn]}
    assert statements["BackupRoleUsesKey"]["Action"] == actions_for("kms_key")
    assert statements["ReadersDecryptSnapshots"]["Principal"] == {"AWS": [READER]}
    assert statements["ReadersDecryptSnapshots"]["Action"] == ["kms:Decrypt"]
    assert set(statements) == {"AccountAdministersKey", "BackupRoleUsesKey", "ReadersDecryptSnapshots"}


def test_the_bucket_is_encrypted_with_the_key_and_bucket_keys(program):
    rule = program.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "snapshots-encryption",
    )["rules"][0]

    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": program.outputs["kmsKeyArn"]
    }
    assert rule["bucketKeyEnabled"] is True
    assert rule["blockedEncryptionTypes"] == ["SSE-C"]


def test_every_bucket_blocks_public_access_and_acls(program):
    buckets = program.of_type("aws:s3/bucket:Bucket")
    blocks = program.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    ownership = program.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")

    assert len(buckets) == len(blocks) == len(ownership) == 2  # snapshots and their access logs
    for block in blocks:
        assert all(block.inputs[k] is True for k in (
            "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert {o.inputs["rule"]["objectOwnership"] for o in ownership} == {"BucketOwnerEnforced"}
    assert {b.inputs["bucket"] for b in blocks} == {b.state["bucket"] for b in buckets}


def test_the_bucket_is_versioned_and_logs_access_to_the_log_bucket(program):
    versioning = program.one("aws:s3/bucketVersioning:BucketVersioning", "snapshots-versioning")
    logging = program.one("aws:s3/bucketLogging:BucketLogging", "snapshots-access-logging")

    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    assert logging["bucket"] == "snapshots-bucket-7f3e2a1"
    assert logging["targetBucket"] == "snapshots-access-logs-7f3e2a1"
    log_encryption = program.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "snapshots-access-logs-encryption",
    )
    assert log_encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_the_bucket_policy_is_tls_only_and_denies_foreign_keys_and_reads(program):
    statements = {s["Sid"]: s for s in program.policy("aws:s3/bucketPolicy:BucketPolicy", "snapshots-policy")[
        "Statement"]}
    bucket_arn = f"arn:aws:s3:::{program.outputs['bucketName']}"

    tls = statements["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Action"] == "s3:*"
    assert tls["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyUploadsWithAnotherKey"]["Condition"]["StringNotEquals"] == {
        "s3:x-amz-server-side-encryption-aws-kms-key-id": program.outputs["kmsKeyArn"]
    }
    reads = statements["DenyObjectReadsExceptReaders"]
    assert reads["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        READER, BACKUP_ROLE]
    assert statements["DenyWriterReadsOutsideCheckpoints"]["NotResource"] == f"{bucket_arn}/cognito/.checkpoints/*"
    assert [sid for sid, s in statements.items() if s["Effect"] == "Allow"] == ["ReadersListAndReadSnapshots"]
    assert statements["ReadersListAndReadSnapshots"]["Principal"] == {"AWS": [READER]}


def test_the_log_bucket_accepts_access_logs_of_the_snapshot_bucket_only(program):
    statements = program.policy("aws:s3/bucketPolicy:BucketPolicy", "snapshots-access-logs-policy")["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]

    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow[0]["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{program.outputs['bucketName']}"}
    assert allow[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


def test_lifecycle_expires_each_retention_class_old_versions_and_uploads(program):
    rules = {r["id"]: r for r in program.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "snapshots-lifecycle")["rules"]}

    for cls, days in (("daily", 30), ("weekly", 183), ("monthly", 365)):
        rule = rules[f"expire-{cls}-snapshots"]
        assert rule["status"] == "Enabled"
        assert rule["filter"] == {"tag": {"key": "retention", "value": cls}}
        assert rule["expiration"] == {"days": days}
    versions = rules["expire-old-versions-and-uploads"]
    assert versions["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
    assert versions["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert versions["expiration"] == {"expiredObjectDeleteMarker": True}
    assert rules["expire-stale-checkpoints"]["filter"] == {"prefix": "cognito/.checkpoints/"}


def test_retention_days_come_from_config():
    program = run(base_config(retentionDailyDays="14", retentionWeeklyDays="60",
                              retentionMonthlyDays="400", noncurrentVersionDays="3"))
    rules = {r["id"]: r for r in program.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "snapshots-lifecycle")["rules"]}

    assert [rules[f"expire-{c}-snapshots"]["expiration"]["days"] for c in ("daily", "weekly", "monthly")] == [
        14, 60, 400]
    assert rules["expire-old-versions-and-uploads"]["noncurrentVersionExpiration"] == {"noncurrentDays": 3}


def test_without_object_lock_or_replica_neither_is_declared(program):
    assert program.one("aws:s3/bucket:Bucket", "snapshots-bucket").get("objectLockEnabled") is None
    assert program.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
    assert program.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert program.outputs["replicaBucketName"] is None


def test_object_lock_is_enabled_at_creation_with_the_configured_retention(replicated):
    assert replicated.one("aws:s3/bucket:Bucket", "snapshots-bucket")["objectLockEnabled"] is True
    lock = replicated.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                          "snapshots-object-lock")

    assert lock["objectLockEnabled"] == "Enabled"
    assert lock["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 14}


def test_the_replica_lives_in_its_region_with_its_own_key(replicated):
    replica_bucket = replicated.one("aws:s3/bucket:Bucket", "snapshots-replica-bucket")
    replica_key = replicated.one("aws:kms/key:Key", "snapshots-replica-key")
    encryption = replicated.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "snapshots-replica-encryption",
    )

    assert replica_bucket["region"] == replica_key["region"] == encryption["region"] == "eu-central-1"
    assert replica_key["enableKeyRotation"] is True
    replica_key_arn = encryption["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    assert replica_key_arn.startswith("arn:aws:kms:eu-central-1:") and replica_key_arn != replicated.outputs[
        "kmsKeyArn"]
    assert replicated.outputs["replicaBucketName"] == "snapshots-replica-bucket-7f3e2a1"
    for typ in ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketPolicy:BucketPolicy",
                "aws:s3/bucketVersioning:BucketVersioning",
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        assert any(r.inputs.get("region") == "eu-central-1" for r in replicated.of_type(typ)), typ


def test_replication_sends_kms_objects_to_the_replica_key(replicated):
    rule = replicated.one("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "snapshots-replication")[
        "rules"][0]
    role_policy = replicated.policy("aws:iam/rolePolicy:RolePolicy", "snapshots-replication-policy")
    by_sid = {s["Sid"]: s for s in role_policy["Statement"]}

    assert rule["status"] == "Enabled"
    assert rule["sourceSelectionCriteria"]["sseKmsEncryptedObjects"]["status"] == "Enabled"
    assert rule["destination"]["bucket"] == "arn:aws:s3:::snapshots-replica-bucket-7f3e2a1"
    assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"].startswith("arn:aws:kms:eu-central-1:")
    assert by_sid["DecryptSource"]["Resource"] == replicated.outputs["kmsKeyArn"]
    assert by_sid["DecryptSource"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    assert by_sid["EncryptReplica"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}}
    assert all(s["Resource"] != "*" for s in role_policy["Statement"])
    source_key = json.loads(replicated.one("aws:kms/key:Key", "snapshots-key")["policy"])
    assert "ReplicationDecrypts" in {s["Sid"] for s in source_key["Statement"]}


# --- the function and its schedule --------------------------------------------------------------

def test_the_function_runs_python_313_on_arm64_on_its_own_sdk_layer_and_one_run_at_a_time(program):
    fn = program.one("aws:lambda/function:Function")
    layer = program.declared("aws:lambda/layerVersion:LayerVersion", "backup-sdk")

    assert fn["name"] == program.outputs["functionName"] == "cognito-backup-test"
    assert fn["runtime"] == "python3.13" and fn["architectures"] == ["arm64"]
    assert fn["handler"] == "backup_lambda.handler.lambda_handler"
    assert (fn["timeout"], fn["memorySize"], fn["reservedConcurrentExecutions"]) == (900, 512, 1)
    assert fn["ephemeralStorage"] == {"size": 512}  # Lambda's own default, said explicitly
    assert fn["layers"] == [layer.state["arn"]]
    assert layer.state["arn"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:cognito-backup-test-sdk:1"


def test_the_functions_memory_timeout_and_tmp_come_from_config():
    fn = run(base_config(lambdaTimeout="600", lambdaMemory="1024", lambdaEphemeralStorage="2048")).one(
        "aws:lambda/function:Function")

    assert (fn["timeout"], fn["memorySize"], fn["ephemeralStorage"]) == (600, 1024, {"size": 2048})


def test_the_function_environment_follows_the_contract(program):
    variables = program.one("aws:lambda/function:Function")["environment"]["variables"]

    assert variables == {
        "BACKUP_BUCKET": program.outputs["bucketName"],
        "KMS_KEY_ID": program.outputs["kmsKeyArn"],
        "SNAPSHOT_PREFIX": "cognito/",
        "EXCLUDE_ATTRIBUTES": "",
        "REQUEST_BUDGET": "15",
        "POWERTOOLS_SERVICE_NAME": "cognito-backup",
        "POWERTOOLS_METRICS_NAMESPACE": "CognitoBackup",
        "LOG_LEVEL": "INFO",
    }


def test_the_log_group_has_retention_and_failed_async_runs_go_to_a_queue(program):
    logs = program.one("aws:cloudwatch/logGroup:LogGroup")
    invoke = program.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")

    assert logs["name"] == "/aws/lambda/cognito-backup-test" and logs["retentionInDays"] == 90
    assert invoke["functionName"] == "cognito-backup-test"
    assert invoke["destinationConfig"]["onFailure"]["destination"].startswith(f"arn:aws:sqs:eu-west-1:{ACCOUNT}:")
    assert invoke["maximumEventAgeInSeconds"] == 6 * 3600


def test_the_schedule_has_one_target_per_pool_whose_input_is_its_snapshot_event(program):
    rule = program.one("aws:cloudwatch/eventRule:EventRule")
    targets = program.of_type("aws:cloudwatch/eventTarget:EventTarget")

    assert rule["scheduleExpression"] == "cron(0 1 * * ? *)"
    assert [json.loads(t.inputs["input"]) for t in targets] == [
        {"user_pool_id": p["id"], "pool_name": p["name"]} for p in POOLS]
    for target in targets:
        assert target.inputs["arn"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-test"
        assert target.inputs["retryPolicy"]["maximumRetryAttempts"] > 0
        assert target.inputs["deadLetterConfig"]["arn"].startswith(f"arn:aws:sqs:eu-west-1:{ACCOUNT}:")
    assert len({t.inputs["targetId"] for t in targets}) == len(POOLS)


def test_eventbridge_may_invoke_the_function_and_write_its_dead_letters(program):
    permission = program.one("aws:lambda/permission:Permission")
    dlq_policy = program.policy("aws:sqs/queuePolicy:QueuePolicy", "backup-schedule-dlq-policy")["Statement"][0]
    rule_arn = f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/backup-schedule-7f3e2a1"

    assert permission["principal"] == "events.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["sourceArn"] == rule_arn
    assert permission["sourceAccount"] == ACCOUNT
    assert dlq_policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert dlq_policy["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn},
                                       "StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_role_policy_has_no_wildcard_resource_for_cognito_s3_or_kms(program):
    statements = program.policy("aws:iam/rolePolicy:RolePolicy", "backup-permissions")["Statement"]
    by_sid = {s["Sid"]: s for s in statements}

    for statement in statements:
        if statement["Sid"] == "CallsWithoutResourceType":  # what IAM cannot scope: reads listed as such
            assert statement["Resource"] == ["*"] and statement["Action"] == actions_for("account")
            continue
        assert "*" not in statement["Resource"]
        assert not any(r.endswith(":*") and "log-group" not in r for r in statement["Resource"])
    assert by_sid["ReadListedUserPools"]["Resource"] == [
        f"arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{p['id']}" for p in POOLS]
    bucket_arn = f"arn:aws:s3:::{program.outputs['bucketName']}"
    assert by_sid["WriteSnapshots"]["Resource"] == [f"{bucket_arn}/cognito/*"]
    assert by_sid["ContinuationCheckpoints"]["Resource"] == [f"{bucket_arn}/cognito/.checkpoints/*"]
    assert by_sid["UseSnapshotKey"]["Resource"] == [program.outputs["kmsKeyArn"]]
    assert by_sid["ContinueOwnSnapshot"]["Resource"] == [
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cognito-backup-test"]
    assert by_sid["WriteOwnLogs"]["Resource"] == [
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-test",
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/cognito-backup-test:*"]


def test_the_backup_role_is_assumed_by_lambda_only(program):
    roles = {r.name: r.inputs for r in program.of_type("aws:iam/role:Role")}
    trust = json.loads(roles["backup-role"]["assumeRolePolicy"])["Statement"]

    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]
    assert "managedPolicyArns" not in roles["backup-role"]


# --- alerts and dashboard -------------------------------------------------------------------------

def test_the_alarm_topic_is_encrypted_and_mails_the_configured_address(program):
    topic = program.one("aws:sns/topic:Topic")
    subscription = program.one("aws:sns/topicSubscription:TopicSubscription")
    alerts_key = json.loads(program.one("aws:kms/key:Key", "alerts-key")["policy"])

    assert topic["kmsMasterKeyId"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@example.com")
    assert subscription["topic"] == program.outputs["alarmTopicArn"]
    assert {"Service": "cloudwatch.amazonaws.com"} in [s["Principal"] for s in alerts_key["Statement"]]


def test_no_email_means_no_subscription(replicated):
    assert replicated.of_type("aws:sns/topicSubscription:TopicSubscription") == []


def _alarms(program: ProgramRun) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in program.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_function_errors_alarm(program):
    alarm = _alarms(program)["cognito-backup-test-function-errors"]

    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["dimensions"] == {"FunctionName": "cognito-backup-test"}
    assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["threshold"] == 1
    assert alarm["alarmActions"] == [program.outputs["alarmTopicArn"]]


@pytest.mark.parametrize("pool", POOLS, ids=[p["name"] for p in POOLS])
def test_a_missing_snapshot_alarms_after_26_hours_and_missing_data_breaches(program, pool):
    alarm = _alarms(program)[f"cognito-backup-test-missing-snapshot-{pool['name']}"]

    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
        "CognitoBackup", "SnapshotSucceeded", "Sum")
    assert alarm["dimensions"] == {"service": "cognito-backup", "pool_name": pool["name"]}
    assert alarm["period"] * alarm["evaluationPeriods"] == MISSING_SNAPSHOT_HOURS * 3600 == 26 * 3600
    assert alarm["datapointsToAlarm"] == alarm["evaluationPeriods"]
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["treatMissingData"] == "breaching"
    assert alarm["alarmActions"] == alarm["okActions"] == [program.outputs["alarmTopicArn"]]


def test_waiting_failures_alarm(program):
    alarms = _alarms(program)

    for name in ("cognito-backup-test-failed-invocations", "cognito-backup-test-undelivered-schedules"):
        assert alarms[name]["metricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarms[name]["dimensions"]["QueueName"].startswith("backup-")
    assert len(alarms) == 3 + len(POOLS)


def test_the_dashboard_shows_each_pool_and_every_alarm(program):
    dashboard = program.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard["dashboardBody"])
    widgets = body["widgets"]
    metric_names = {
        (m[1], m[m.index("pool_name") + 1]) for w in widgets if w["type"] == "metric"
        for m in w["properties"]["metrics"] if isinstance(m[0], str) and "pool_name" in m
    }

    assert dashboard["dashboardName"] == program.outputs["dashboardName"] == "cognito-backup-test"
    for pool in POOLS:
        for metric in ("SnapshotSucceeded", "UsersExported", "GroupsExported", "MembershipsExported",
                       "SnapshotDurationSeconds", "SnapshotBytes", "Throttles"):
            assert (metric, pool["name"]) in metric_names, (metric, pool["name"])
        assert any(w["type"] == "log" and f'pool_name = "{pool["name"]}"' in w["properties"]["query"]
                   for w in widgets), f"no last-success widget for {pool['name']}"
    for w in widgets:
        for m in w["properties"].get("metrics", []):
            if isinstance(m[0], str) and m[0] == "CognitoBackup":
                assert m[2:6] == ["service", "cognito-backup", "pool_name", m[5]]
    alarm_widget = next(w for w in widgets if w["type"] == "alarm")
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:{name}" for name in _alarms(program))
    for w in widgets:
        assert w["x"] >= 0 and w["x"] + w["width"] <= 24


def test_the_import_role_is_for_cognito_and_its_logs_only(program):
    roles = {r.name: r.inputs for r in program.of_type("aws:iam/role:Role")}
    trust = json.loads(roles["user-import-logs-role"]["assumeRolePolicy"])["Statement"][0]
    policy = program.policy("aws:iam/rolePolicy:RolePolicy", "user-import-logs-policy")["Statement"][0]

    assert trust["Principal"] == {"Service": "cognito-idp.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert policy["Resource"] == f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/cognito/*"
    assert program.outputs["importRoleArn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/cognito-backup/user-import-logs-role-7f3e2a1")


def test_outputs(program):
    assert program.outputs["pools"] == POOLS
    assert program.outputs["bucketName"] == "snapshots-bucket-7f3e2a1"
    assert program.outputs["kmsKeyArn"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    assert program.outputs["alarmTopicArn"].startswith(f"arn:aws:sns:eu-west-1:{ACCOUNT}:")
    assert {"bucketName", "functionName", "kmsKeyArn", "alarmTopicArn", "importRoleArn", "pools"} <= set(
        program.outputs)


def test_keys_and_snapshot_buckets_are_protected_from_pulumi_destroy_unless_turned_off(replicated):
    loose = run(base_config(protect="false"))

    assert replicated.protected == {
        ("aws:kms/key:Key", "snapshots-key"),
        ("aws:s3/bucket:Bucket", "snapshots-bucket"),
        ("aws:kms/key:Key", "snapshots-replica-key"),
        ("aws:s3/bucket:Bucket", "snapshots-replica-bucket"),
    }
    assert loose.protected == set()


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_the_example_stacks_deploy(stack):
    config = stack_file_config(ROOT / f"Pulumi.{stack}.yaml")
    program = run(config, stack=stack)

    assert program.outputs["functionName"] == f"cognito-backup-{stack}"
    assert program.outputs["pools"] == config["cognito-backup:userPools"]
    assert len(program.of_type("aws:cloudwatch/eventTarget:EventTarget")) == len(config["cognito-backup:userPools"])
    assert (program.outputs["replicaBucketName"] is not None) == ("cognito-backup:replicaRegion" in config)


# --- bad config -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"userPools": [{"id": "eu-west-1_Ok1", "name": "a"}, {"id": "not-a-pool", "name": "b"}]},
         "cognito-backup:userPools[1].id"),
        ({"snapshotReaders": None}, "cognito-backup:snapshotReaders"),
        ({"aws:region": None}, "aws:region"),
        ({"objectLock": {"mode": "legal-hold"}}, "cognito-backup:objectLock.mode"),
        ({"retention": "30"}, "cognito-backup:retention"),
    ],
)
def test_bad_config_is_refused_before_any_resource_with_a_message_naming_the_key(overrides, key):
    with pytest.raises(pulumi.RunError) as refused:
        run(base_config(**overrides))

    assert f"\n  {key}: " in str(refused.value)
    assert "Traceback" not in str(refused.value)


# --- what marks the program's roles and keys as its own (the CI roles' conditions) ------------------

BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/cognito-backup/cognito-backup-program-boundary"


@pytest.mark.parametrize("variant", ["program", "replicated"])
def test_every_role_lives_under_the_programs_path_and_carries_the_boundary(variant, request):
    roles = request.getfixturevalue(variant).of_type("aws:iam/role:Role")

    assert len(roles) == (3 if variant == "replicated" else 2)
    for role in roles:
        assert role.inputs["path"] == "/cognito-backup/", role.name
        assert role.inputs["permissionsBoundary"] == BOUNDARY, role.name
        assert role.state["arn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/cognito-backup/"), role.name


@pytest.mark.parametrize("variant", ["program", "replicated"])
def test_every_key_is_tagged_with_its_stack(variant, request):
    keys = request.getfixturevalue(variant).of_type("aws:kms/key:Key")

    assert len(keys) == (3 if variant == "replicated" else 2)  # snapshots, alerts (and the replica's)
    for key in keys:
        assert key.inputs["tags"] == {"cognito-backup:stack": "test"}, key.name


def _policy_documents(program: ProgramRun) -> list[tuple[str, dict]]:
    """Every policy document the program declares: key, bucket, queue and role policies, trusts."""
    documents = []
    for resource in program.resources:
        for field in ("policy", "assumeRolePolicy"):
            if isinstance(resource.inputs.get(field), str):
                documents.append((f"{resource.name}.{field}", json.loads(resource.inputs[field])))
    return documents


# A service acting on its own (no resource of the stack to name) would get no aws:SourceArn; every
# service the program trusts acts for one of the stack's resources, so each statement names it, except
# Lambda assuming the execution role (see infra/policies/backup_role.py).
WITHOUT_SOURCE_ARN = {"lambda.amazonaws.com"}


@pytest.mark.parametrize("variant", ["program", "replicated"])
def test_every_service_principal_is_held_to_this_account_and_its_source(variant, request):
    program = request.getfixturevalue(variant)
    services = set()
    for name, document in _policy_documents(program):
        for statement in document["Statement"]:
            principal = statement.get("Principal")
            if not isinstance(principal, dict) or "Service" not in principal:
                continue
            service = principal["Service"]
            services.add(service)
            condition = statement.get("Condition", {})
            assert condition.get("StringEquals", {}).get("aws:SourceAccount") == ACCOUNT, (name, service)
            if service not in WITHOUT_SOURCE_ARN:
                source = {**condition.get("ArnLike", {}), **condition.get("ArnEquals", {})}.get("aws:SourceArn")
                assert source, (name, service)
                # a bucket's ARN holds no account: aws:SourceAccount above pins it
                assert ACCOUNT in source or source.startswith("arn:aws:s3:::"), (name, service, source)
    expected = {"cloudwatch.amazonaws.com", "events.amazonaws.com", "logging.s3.amazonaws.com",
                "lambda.amazonaws.com", "cognito-idp.amazonaws.com"}
    assert services == expected | ({"s3.amazonaws.com"} if variant == "replicated" else set())
    assert program.one("aws:lambda/permission:Permission")["sourceAccount"] == ACCOUNT


def test_cloudwatch_may_use_the_alarm_key_for_the_stacks_alarms_only(program):
    from tests.support.iam import decision

    policy = json.loads(program.one("aws:kms/key:Key", "alerts-key")["policy"])
    alarm = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cognito-backup-test-function-errors"

    def verdict(**context: str) -> str:
        return decision(policy, action="kms:GenerateDataKey", resource="*", principal="cloudwatch.amazonaws.com",
                        context=context)

    assert verdict(**{"aws:SourceAccount": ACCOUNT, "aws:SourceArn": alarm}) == "Allow"
    assert verdict(**{"aws:SourceAccount": "999999999999", "aws:SourceArn": alarm}) == "ImplicitDeny"
    assert verdict(**{"aws:SourceAccount": ACCOUNT,
                      "aws:SourceArn": alarm.replace("cognito-backup-test", "payments")}) == "ImplicitDeny"
    assert verdict() == "ImplicitDeny"


def test_the_replication_role_is_for_s3_replicating_the_snapshot_bucket_only(replicated):
    from tests.support.iam import decision

    trust = json.loads(replicated.one("aws:iam/role:Role", "snapshots-replication-role")["assumeRolePolicy"])
    bucket = f"arn:aws:s3:::{replicated.outputs['bucketName']}"

    def verdict(source: str, account: str = ACCOUNT) -> str:
        return decision(trust, action="sts:AssumeRole", principal="s3.amazonaws.com",
                        context={"aws:SourceAccount": account, "aws:SourceArn": source})

    assert verdict(bucket) == "Allow"
    assert verdict("arn:aws:s3:::someone-elses-bucket") == "ImplicitDeny"
    assert verdict(bucket, account="999999999999") == "ImplicitDeny"
