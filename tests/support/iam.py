"""One IAM policy evaluator for every test that asks what a policy allows, rather than how it reads.

It applies the parts of IAM's evaluation logic that the project's policies use (identity policies of
the backup and CI roles, the bucket, key and trust policies):

- ``Action`` / ``NotAction``, case-insensitive, and ``Resource`` / ``NotResource``, case-sensitive, with
  IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character, and
  nothing else special (``[`` is a bracket, not a character class);
- ``Principal``: ``"*"``, and AWS, Service and Federated principals; a statement without one is an
  identity policy's and applies to its own principal; one without ``Resource`` (a trust policy's)
  applies to the role it belongs to;
- ``Condition``: every operator and every key must hold. String/Arn Equals and Like, their ``Not``
  forms, ``Bool``, ``Null`` and the ``...IfExists`` forms; a key missing from the request fails a
  positive operator and passes a negated or ``...IfExists`` one; any other operator is refused, so a
  policy that starts using one cannot pass unevaluated;
- an explicit Deny wins over any Allow; without an applicable Allow the answer is an implicit deny.

``decision`` / ``allowed`` evaluate one policy. ``request_decision`` evaluates one request of a role in
its own account against everything that decides it: the role's identity policies, its permissions
boundary, and the resource's policy (a bucket's) or a KMS key's policy, as IAM combines them:

- an explicit Deny in any of them wins;
- a permissions boundary only caps: what it does not allow is denied, whatever grants it (for a role,
  a resource policy's grant to the role's ARN is capped too);
- a resource policy may grant the role directly (same account), or an identity policy may;
- a KMS key is reachable only through its key policy: the key policy allows the role itself, or it
  allows the account (``arn:<partition>:iam::<account>:root``), which hands the decision to the
  role's identity policies.

``tests/infra/test_iam_evaluator.py`` checks that it can say no.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

PRINCIPAL_KINDS = ("AWS", "Service", "Federated")
STRING_KINDS = ("StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool")


def as_list(value: Any) -> list:
    """A policy element as a list: IAM allows a single value or a list of them."""
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def matches_any(patterns: str | Iterable[str], value: str) -> bool:
    """Whether a resource ARN matches one of the patterns (case-sensitive, as resources are)."""
    listed = [patterns] if isinstance(patterns, str) else list(patterns)
    return any(wildcard_match(p, value) for p in listed)


def condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    if operator == "Null":
        absent = key not in context
        return absent if str(expected).lower() == "true" else not absent
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = "Not" in base
    if key not in context:
        # A missing key: "...IfExists" and negated operators hold, positive ones do not.
        return if_exists or negated
    value = context[key]
    kind = base.replace("Not", "")
    if kind not in STRING_KINDS:
        raise NotImplementedError(f"condition operator {operator} is not supported by this evaluator")
    if kind in ("StringEquals", "ArnEquals"):
        matched = any(value == str(e) for e in as_list(expected))
    elif kind == "Bool":
        matched = any(value == str(e).lower() for e in as_list(expected))
    else:
        matched = any(wildcard_match(str(e), value) for e in as_list(expected))
    return not matched if negated else matched


def principal_matches(statement: dict, principal: str | None) -> bool:
    if "Principal" not in statement:  # an identity policy: it applies to its own principal
        return True
    declared = statement["Principal"]
    if declared == "*" or declared == {"AWS": "*"}:
        return True
    unknown = set(declared) - set(PRINCIPAL_KINDS)
    if unknown:
        raise NotImplementedError(f"principal kind(s) {sorted(unknown)} are not supported by this evaluator")
    return principal in [v for kind in PRINCIPAL_KINDS for v in as_list(declared.get(kind, []))]


def statement_applies(statement: dict, *, action: str, resource: str, principal: str | None = None,
                      context: dict[str, str] | None = None) -> bool:
    if "Action" in statement:
        action_ok = any(wildcard_match(a, action, ignore_case=True) for a in as_list(statement["Action"]))
    else:
        action_ok = not any(wildcard_match(a, action, ignore_case=True) for a in as_list(statement["NotAction"]))
    if "Resource" in statement:
        resource_ok = matches_any(statement["Resource"], resource)
    elif "NotResource" in statement:
        resource_ok = not matches_any(statement["NotResource"], resource)
    else:  # a trust policy's statement: its resource is the role it is attached to
        resource_ok = True
    context = context or {}
    conditions_ok = all(
        condition_holds(operator, key, expected, context)
        for operator, pairs in statement.get("Condition", {}).items()
        for key, expected in pairs.items()
    )
    return action_ok and resource_ok and principal_matches(statement, principal) and conditions_ok


def decision(policy: dict, *, action: str, resource: str = "*", principal: str | None = None,
             context: dict[str, str] | None = None) -> str:
    """"Deny" (an explicit deny applies), "Allow", or "ImplicitDeny"."""
    applicable = [
        s for s in policy["Statement"]
        if statement_applies(s, action=action, resource=resource, principal=principal, context=context)
    ]
    if any(s["Effect"] == "Deny" for s in applicable):
        return "Deny"
    return "Allow" if any(s["Effect"] == "Allow" for s in applicable) else "ImplicitDeny"


def allowed(policy: dict, action: str, resource: str = "*", *, principal: str | None = None,
            **context: str) -> bool:
    """Whether the policy allows the request; request context keys as keyword arguments
    (``**{"kms:ViaService": "s3.eu-west-1.amazonaws.com"}``)."""
    return decision(policy, action=action, resource=resource, principal=principal, context=context) == "Allow"


def _decisions(policies: Iterable[dict], **request: Any) -> list[str]:
    return [decision(p, **request) for p in policies]


def request_decision(action: str, resource: str = "*", *, principal: str, account: str,
                     identity: Iterable[dict] = (), boundary: dict | None = None,
                     resource_policy: dict | None = None, key_policy: dict | None = None,
                     partition: str = "aws", context: dict[str, str] | None = None) -> str:
    """"Deny", "Allow" or "ImplicitDeny" for one request of ``principal`` (a role of ``account``), as
    IAM decides it from all the policies that apply (see the module's docstring)."""
    if resource_policy is not None and key_policy is not None:
        raise ValueError("a request meets either a resource policy or a key policy, not both")
    context = dict(context or {})
    identity = list(identity)
    as_identity = {"action": action, "resource": resource, "context": context}
    as_resource = {**as_identity, "principal": principal}
    own = _decisions(identity, **as_identity)
    capped = decision(boundary, **as_identity) if boundary is not None else "Allow"
    on_resource = [decision(p, **as_resource) for p in (resource_policy, key_policy) if p is not None]
    if "Deny" in (*own, capped, *on_resource):
        return "Deny"
    if capped != "Allow":
        return "ImplicitDeny"
    identity_allows = "Allow" in own
    if key_policy is not None:
        if on_resource == ["Allow"]:
            return "Allow"
        root = f"arn:{partition}:iam::{account}:root"
        delegated = decision(key_policy, **{**as_resource, "principal": root}) == "Allow"
        return "Allow" if delegated and identity_allows else "ImplicitDeny"
    return "Allow" if identity_allows or "Allow" in on_resource else "ImplicitDeny"
