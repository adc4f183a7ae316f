"""The IAM evaluator of the tests (tests/support/iam.py) can say no: if it allowed everything, every
least-privilege test built on it would pass for nothing."""

from __future__ import annotations

import pytest

from tests.support.iam import allowed, condition_holds, decision, matches_any, wildcard_match

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def test_the_evaluator_itself_can_say_no():
    policy = {"Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/a/*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/a/secret*"},
    ]}

    assert allowed(policy, "s3:getobject", "arn:aws:s3:::b/a/x/y")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::b/a/secret.json")
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::b/a/x")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::b/ab")
    assert condition_holds("StringNotEqualsIfExists", "k", "v", {}) is True
    assert condition_holds("StringEquals", "k", "v", {}) is False
    assert condition_holds("Null", "k", "false", {"k": "x"}) is True


def test_the_evaluator_lets_an_explicit_deny_win():
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                            {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}
    assert allowed(policy, "s3:GetObject", "arn:aws:s3:::b/k")
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::b/k")
    assert allowed(policy, "s3:PutObject", "arn:aws:s3:::c/k")
    assert decision(policy, action="s3:PutObject", resource="arn:aws:s3:::b/k") == "Deny"
    assert decision({"Statement": []}, action="s3:GetObject") == "ImplicitDeny"


def test_not_resource_and_resources_are_case_sensitive_actions_are_not():
    policy = {"Statement": [{"Effect": "Allow", "Action": "S3:GETOBJECT", "NotResource": "arn:aws:s3:::b/private/*"}]}

    assert allowed(policy, "s3:GetObject", "arn:aws:s3:::b/public/x")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::b/private/x")
    assert allowed(policy, "s3:GetObject", "arn:aws:s3:::b/PRIVATE/x")


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("arn:aws:s3:::b-*", "arn:aws:s3:::b-1a2b/c/d", True),  # "*" crosses "/" and ":"
    ("arn:aws:s3:::b-?", "arn:aws:s3:::b-1", True),
    ("arn:aws:s3:::b-?", "arn:aws:s3:::b-12", False),
    ("arn:aws:s3:::b[12]", "arn:aws:s3:::b1", False),  # no character classes in IAM
    ("arn:aws:s3:::b[12]", "arn:aws:s3:::b[12]", True),
    ("arn:aws:s3:::b.c", "arn:aws:s3:::bxc", False),  # "." is a dot
])
def test_wildcards_are_iams_and_nothing_else(pattern, value, expected):
    assert wildcard_match(pattern, value) is expected
    assert matches_any([pattern], value) is expected


def test_principals_must_match_when_the_statement_names_them():
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:x"}}}]}
    sub = {"token.actions.githubusercontent.com:sub": "repo:o/r:x"}

    assert allowed(trust, "sts:AssumeRoleWithWebIdentity", principal=PROVIDER, **sub)
    assert not allowed(trust, "sts:AssumeRoleWithWebIdentity", principal="arn:aws:iam::1:oidc-provider/x", **sub)
    assert not allowed(trust, "sts:AssumeRoleWithWebIdentity", **sub)  # no principal: the statement is not his
    assert not allowed(trust, "sts:AssumeRoleWithWebIdentity", principal=PROVIDER,
                       **{"token.actions.githubusercontent.com:sub": "repo:o/r:y"})


@pytest.mark.parametrize(("operator", "context", "expected"), [
    ("StringLike", {"k": "s3.eu-west-1.amazonaws.com"}, True),
    ("StringLike", {"k": "ec2.eu-west-1.amazonaws.com"}, False),
    ("StringLike", {}, False),
    ("StringNotLike", {}, True),
    ("StringNotLike", {"k": "s3.eu-west-1.amazonaws.com"}, False),
    ("StringLikeIfExists", {}, True),
])
def test_conditions_hold_only_as_iam_says(operator, context, expected):
    assert condition_holds(operator, "k", "s3.*.amazonaws.com", context) is expected


def test_an_operator_the_evaluator_does_not_know_is_refused():
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                             "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}
    with pytest.raises(NotImplementedError, match="IpAddress"):
        allowed(policy, "s3:GetObject", "arn:aws:s3:::b/k", **{"aws:SourceIp": "10.1.2.3"})


# --- a request, decided by every policy that applies ---------------------------------------------

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"
OBJECT = "arn:aws:s3:::b/snapshot.json"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1111"
ALLOW_ALL = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_READS = {"Statement": [{"Effect": "Deny", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}]}
BUCKET_ADMITS_ROLE = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject",
                                     "Resource": "arn:aws:s3:::b/*"}]}


def request(action: str, resource: str, **policies) -> str:
    from tests.support.iam import request_decision

    return request_decision(action, resource, principal=ROLE, account=ACCOUNT, **policies)


def test_a_resource_policy_can_grant_a_role_of_the_account_by_itself():
    assert request("s3:GetObject", OBJECT, resource_policy=BUCKET_ADMITS_ROLE) == "Allow"
    assert request("s3:GetObject", OBJECT, resource_policy={"Statement": []}) == "ImplicitDeny"
    assert request("s3:GetObject", "arn:aws:s3:::other/k", resource_policy=BUCKET_ADMITS_ROLE) == "ImplicitDeny"


def test_an_explicit_deny_in_the_identity_policy_beats_a_resource_policy_that_admits_the_role():
    assert request("s3:GetObject", OBJECT, identity=[DENY_READS], resource_policy=BUCKET_ADMITS_ROLE) == "Deny"
    assert request("s3:GetObject", OBJECT, identity=[ALLOW_ALL, DENY_READS]) == "Deny"


def test_a_permissions_boundary_caps_every_grant_and_grants_nothing_itself():
    boundary = {"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}

    assert request("s3:PutObject", OBJECT, identity=[ALLOW_ALL], boundary=boundary) == "Allow"
    assert request("s3:PutObject", OBJECT, boundary=boundary) == "ImplicitDeny"  # the boundary grants nothing
    assert request("s3:GetObject", OBJECT, identity=[ALLOW_ALL], boundary=boundary) == "ImplicitDeny"
    assert request("s3:GetObject", OBJECT, boundary=boundary, resource_policy=BUCKET_ADMITS_ROLE) == "ImplicitDeny"
    denying = {"Statement": [*boundary["Statement"], {"Effect": "Deny", "Action": "s3:*", "Resource": OBJECT}]}
    assert request("s3:PutObject", OBJECT, identity=[ALLOW_ALL], boundary=denying) == "Deny"


def test_a_kms_key_answers_through_its_key_policy_only():
    admin_only = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                 "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"}]}
    grants_role = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt",
                                  "Resource": "*"}]}

    # the account delegates administration to IAM: the identity policy decides
    assert request("kms:PutKeyPolicy", KEY, identity=[ALLOW_ALL], key_policy=admin_only) == "Allow"
    assert request("kms:PutKeyPolicy", KEY, key_policy=admin_only) == "ImplicitDeny"
    # ... but not decryption: no identity policy can grant what the key policy keeps from the account
    assert request("kms:Decrypt", KEY, identity=[ALLOW_ALL], key_policy=admin_only) == "ImplicitDeny"
    # a key policy that names the role grants it directly, and an identity deny still wins
    assert request("kms:Decrypt", KEY, key_policy=grants_role) == "Allow"
    assert request("kms:Decrypt", KEY, identity=[DENY_READS], key_policy=grants_role) == "Deny"
    with pytest.raises(ValueError, match="not both"):
        request("kms:Decrypt", KEY, key_policy=grants_role, resource_policy=BUCKET_ADMITS_ROLE)
