"""cognito-backup: deploys the snapshot Lambda for every user pool listed in the stack's config.

Reads top to bottom: validated config and the function's SDK layer (built from requirements/lambda.txt)
-> the role -> storage (key, buckets) -> the function, its layer and its schedule -> alerts -> dashboard
-> the user-import logs role -> outputs. `pulumi up` per stack.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import names
from infra.alerts import Alerts, AlertsArgs
from infra.backup_function import BackupFunction, BackupFunctionArgs
from infra.backup_role import BackupRole, BackupRoleArgs
from infra.config import StackConfigError, load_config
from infra.dashboard import BackupDashboard, BackupDashboardArgs
from infra.import_role import UserImportLogsRole, UserImportLogsRoleArgs
from infra.sdk_layer import LayerBuildError, build_sdk_layer
from infra.storage import SnapshotStorage, SnapshotStorageArgs

PROJECT_DIR = Path(__file__).resolve().parent

try:
    config = load_config()
    sdk_layer = build_sdk_layer(PROJECT_DIR)  # cached under build/: rebuilt only when the lock changes
except (StackConfigError, LayerBuildError) as error:
    raise pulumi.RunError(str(error)) from None

account_id = aws.get_caller_identity_output().account_id
partition = aws.get_partition_output().partition
# Every role of the program carries the permissions boundary the bootstrap created in the account.
boundary = pulumi.Output.all(partition, account_id).apply(lambda v: names.permissions_boundary_arn(*v))

backup_role = BackupRole(
    names.BACKUP_ROLE,
    BackupRoleArgs(
        description=f"Runs the {config.names.function} snapshot function",
        account_id=account_id,
        permissions_boundary=boundary,
    ),
)

storage = SnapshotStorage(
    names.SNAPSHOT_STORAGE,
    SnapshotStorageArgs(
        config=config,
        account_id=account_id,
        partition=partition,
        writer_role_arn=backup_role.role.arn,
        permissions_boundary=boundary,
    ),
)

backup = BackupFunction(
    names.BACKUP_FUNCTION,
    BackupFunctionArgs(
        config=config,
        account_id=account_id,
        partition=partition,
        role=backup_role.role,
        bucket_name=storage.bucket.bucket,
        bucket_arn=storage.bucket.arn,
        kms_key_arn=storage.key.arn,
        project_dir=PROJECT_DIR,
        sdk_layer=sdk_layer,
    ),
)

alerts = Alerts(
    names.ALERTS,
    AlertsArgs(
        config=config,
        account_id=account_id,
        partition=partition,
        function_name=backup.function.name,
        failure_queue_name=backup.failure_queue.name,
        schedule_dlq_name=backup.schedule_dlq.name,
    ),
)

dashboard = BackupDashboard(
    names.DASHBOARD,
    BackupDashboardArgs(
        config=config,
        bucket_name=storage.bucket.bucket,
        alarm_arns=alerts.alarm_arns,
        failure_queue_name=backup.failure_queue.name,
        schedule_dlq_name=backup.schedule_dlq.name,
    ),
)

import_role = UserImportLogsRole(
    names.USER_IMPORT_LOGS_ROLE,
    UserImportLogsRoleArgs(config=config, account_id=account_id, partition=partition, permissions_boundary=boundary),
)

pulumi.export("bucketName", storage.bucket.bucket)
pulumi.export("functionName", backup.function.name)
pulumi.export("kmsKeyArn", storage.key.arn)
pulumi.export("alarmTopicArn", alerts.topic.arn)
pulumi.export("importRoleArn", import_role.role.arn)
pulumi.export("pools", [{"id": pool.id, "name": pool.name} for pool in config.pools])
pulumi.export("snapshotPrefix", config.snapshot_prefix)
pulumi.export("dashboardName", dashboard.dashboard.dashboard_name)
pulumi.export("replicaBucketName", storage.replica_bucket.bucket if storage.replica_bucket else None)
