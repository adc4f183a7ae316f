"""The schedule's dead-letter queue policy: EventBridge may send it the events of the function's
schedule rule, and of no other rule (``aws:SourceArn``) or account (``aws:SourceAccount``)."""

from __future__ import annotations


def schedule_dlq_policy(queue_arn: str, rule_arn: str, account_id: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ScheduleRuleDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": rule_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            }
        ],
    }
