"""The user-import logs role's trust (Cognito, for a user pool of this account and region: a restore
imports into a new pool, whose id is not known here) and its policy (the import jobs' log groups)."""

from __future__ import annotations


def import_role_trust_policy(*, partition: str, account_id: str, region: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cognito-idp.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cognito-idp:{region}:{account_id}:userpool/*"},
                },
            }
        ],
    }


def import_role_policy(*, partition: str, account_id: str, region: str) -> dict:
    """What Cognito's import jobs need, as the Cognito developer guide lists it: their log groups only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteImportJobLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                "Resource": f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/cognito/*",
            }
        ],
    }
