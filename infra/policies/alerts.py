"""The alarm topic's key policy: the account administers the key, CloudWatch alarms use it to publish
to the encrypted topic (the AWS-managed ``alias/aws/sns`` key cannot let them)."""

from __future__ import annotations

from infra.policies.storage import account_administers_key


def alerts_key_policy(*, partition: str, account_id: str, region: str, alarm_prefix: str) -> dict:
    """CloudWatch may use the key for the stack's alarms only: alarms of this account
    (``aws:SourceAccount``) whose names start with the stack's prefix (``aws:SourceArn``)."""
    alarms = f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{alarm_prefix}*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            account_administers_key(partition, account_id),
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            },
        ],
    }
