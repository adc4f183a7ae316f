"""The original design's Lambda (the article in /work/shared/seeds/000_...), ported faithfully.

The baseline of the benchmark: one sequential ListUsers loop (Limit 60), one ListGroups loop, the
whole snapshot built in memory and written with one PutObject. Only the module-level clients and
constants became parameters, so the benchmark can point them at the stand-in; the code is otherwise
the article's, line for line (including its gaps: no group memberships, no throttling budget).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone


def list_all_users(cognito, pool_id):
    users, token = [], None
    while True:
        kwargs = {'UserPoolId': pool_id, 'Limit': 60}
        if token:
            kwargs['PaginationToken'] = token
        resp = cognito.list_users(**kwargs)
        users.extend(resp.get('Users', []))
        token = resp.get('PaginationToken')
        if not token:
            return users


def list_all_groups(cognito, pool_id):
    groups, token = [], None
    while True:
        kwargs = {'UserPoolId': pool_id, 'Limit': 60}
        if token:
            kwargs['NextToken'] = token
        resp = cognito.list_groups(**kwargs)
        groups.extend(resp.get('Groups', []))
        token = resp.get('NextToken')
        if not token:
            return groups


def lambda_handler(event, context, *, cognito, s3, user_pool_id, bucket):
    now = datetime.now(timezone.utc)
    snapshot = {
        'taken_at': now.isoformat(),
        'pool': cognito.describe_user_pool(UserPoolId=user_pool_id)['UserPool'],
        'users': list_all_users(cognito, user_pool_id),
        'groups': list_all_groups(cognito, user_pool_id),
    }
    key = f"{now.strftime('%Y/%m/%d')}/prod-user-pool_{now.strftime('%Y%m%d_%H%M%S')}.json"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(snapshot, default=str),
        ContentType='application/json',
    )
    return {'status': 'ok', 'key': key}
