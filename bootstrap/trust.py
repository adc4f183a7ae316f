"""Who may assume a CI role: GitHub Actions jobs, through GitHub's OIDC provider, whose token has one of
the role's exact subjects (``ci_access.subjects``)."""

from __future__ import annotations

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
# The audience aws-actions/configure-aws-credentials asks GitHub for.
OIDC_AUDIENCE = "sts.amazonaws.com"


def trust_policy(provider_arn: str, subject_claims: list[str]) -> dict:
    """Let GitHub Actions jobs whose token has one of these subjects assume the role through OIDC."""
    if not subject_claims or any("*" in s or "?" in s for s in subject_claims):
        raise ValueError(f"trust needs exact subjects, got {subject_claims!r}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": sorted(subject_claims),
                    }
                },
            }
        ],
    }
