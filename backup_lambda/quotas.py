"""Cognito's request-rate quotas by category (per account and region, shared with the application).

From the Cognito developer guide; see ../docs or the project's notes. ``OPERATION_CATEGORY`` maps an
operation to its category; ``DEFAULT_SHARE`` is the rate this tool allows itself per category: about a
third of the quota (the per-pool-per-operation limit of 5 for the resource categories), so the
application keeps the rest. The UserList rate (ListUsers + ListUsersInGroup) is the snapshot's
``REQUEST_BUDGET`` (default 15 calls/s: half the quota of 30).
"""

from __future__ import annotations

QUOTA_RPS = {
    "UserList": 30,
    "UserCreation": 50,
    "UserUpdate": 25,
    "UserResourceUpdate": 25,
    "UserResourceRead": 50,
    "UserPoolRead": 15,
    "UserPoolUpdate": 15,
    "UserPoolResourceRead": 20,
    "UserPoolResourceUpdate": 15,
    "UserPoolClientRead": 15,
    "UserPoolClientUpdate": 15,
}

OPERATION_CATEGORY = {
    "ListUsers": "UserList",
    "ListUsersInGroup": "UserList",
    "DescribeUserPool": "UserPoolRead",
    "GetUserPoolMfaConfig": "UserPoolRead",
    "ListTagsForResource": "UserPoolRead",
    "GetLogDeliveryConfiguration": "UserPoolRead",
    "DescribeRiskConfiguration": "UserPoolRead",
    "GetUICustomization": "UserPoolRead",
    "ListGroups": "UserPoolResourceRead",
    "ListIdentityProviders": "UserPoolResourceRead",
    "DescribeIdentityProvider": "UserPoolResourceRead",
    "ListResourceServers": "UserPoolResourceRead",
    "DescribeUserPoolDomain": "UserPoolResourceRead",
    "DescribeManagedLoginBrandingByClient": "UserPoolResourceRead",
    "GetUserPoolSessionConfiguration": "UserPoolRead",
    "ListUserPoolReplicas": "UserPoolRead",
    "ListTerms": "UserPoolResourceRead",
    "DescribeTerms": "UserPoolResourceRead",
    "ListCIMDPolicies": "UserPoolResourceRead",
    "DescribeCIMDPolicy": "UserPoolResourceRead",
    "GetUserPoolClientSessionConfiguration": "UserPoolClientRead",
    "ListUserPoolClients": "UserPoolClientRead",
    "DescribeUserPoolClient": "UserPoolClientRead",
    "AdminCreateUser": "UserCreation",
    "AdminDisableUser": "UserUpdate",
    "AdminLinkProviderForUser": "UserUpdate",
    "AdminAddUserToGroup": "UserResourceUpdate",
    "AdminListGroupsForUser": "UserResourceRead",
    "AdminGetUser": "UserResourceRead",
    "CreateUserPool": "UserPoolUpdate",
    "SetUserPoolMfaConfig": "UserPoolUpdate",
    "AddCustomAttributes": "UserPoolUpdate",
    "CreateUserImportJob": "UserPoolUpdate",
    "StartUserImportJob": "UserPoolUpdate",
    "CreateGroup": "UserPoolResourceUpdate",
    "CreateIdentityProvider": "UserPoolResourceUpdate",
    "CreateResourceServer": "UserPoolResourceUpdate",
    "CreateUserPoolDomain": "UserPoolResourceUpdate",
    "CreateUserPoolClient": "UserPoolClientUpdate",
}

# Our share of each category: 5 calls/s (AWS's per-pool-per-operation limit for the resource
# categories), and a third of the larger quotas.
DEFAULT_SHARE = {category: max(5.0, rps / 3) for category, rps in QUOTA_RPS.items()}
DEFAULT_REQUEST_BUDGET = 15.0
