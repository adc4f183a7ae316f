"""Who may assume a CI role: GitHub Actions jobs, through GitHub's OIDC provider, whose token has one of
the role's subjects (``ci_access.subjects``).

GitHub's default subject (``repo:<owner>/<repo>:ref:refs/heads/main``, ``...:pull_request``,
``...:environment:<name>``) names neither the workflow nor, for a job in an environment, the branch:
any workflow on main could assume a role trusted so. The repository's subject claim template is
therefore customised, once, to include the workflow (``OIDC_SUBJECT_CLAIM_KEYS``; the command is in
docs/continuous-delivery.md). A subject then reads
``repo:<owner>/<repo>:environment:<env>:job_workflow_ref:<owner>/<repo>/.github/workflows/<file>@<ref>``,
where ``job_workflow_ref`` is the workflow file the job is defined in (the called one, for a reusable
workflow) and the ref it was taken from.
"""

from __future__ import annotations

import re

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
# The audience aws-actions/configure-aws-credentials asks GitHub for.
OIDC_AUDIENCE = "sts.amazonaws.com"
# The repository's OIDC subject claim template (PUT /repos/{owner}/{repo}/actions/oidc/customization/sub).
OIDC_SUBJECT_CLAIM_KEYS = ["repo", "context", "job_workflow_ref"]
# The ref of a pull request's jobs: its merge commit. The number is the one part a role cannot know.
PULL_REQUEST_REF = "refs/pull/*/merge"
_PULL_REQUEST_REF_RE = re.escape("@refs/pull/") + r"\*" + re.escape("/merge") + "$"


def oidc_subject_template() -> dict:
    """The body of the repository's OIDC subject customisation."""
    return {"use_default": False, "include_claim_keys": list(OIDC_SUBJECT_CLAIM_KEYS)}


def trust_policy(provider_arn: str, subject_claims: list[str]) -> dict:
    """Let GitHub Actions jobs whose token has one of these subjects assume the role through OIDC.
    Subjects are exact, but for the pull request's number in ``@refs/pull/*/merge``."""
    wildcards = [s for s in subject_claims if "*" in re.sub(_PULL_REQUEST_REF_RE, "", s) or "?" in s]
    if not subject_claims or wildcards:
        raise ValueError(f"trust needs exact subjects (a pull request's number aside), got {subject_claims!r}")
    condition: dict[str, dict] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": OIDC_AUDIENCE}}
    # StringLike only where a subject has the pull request's "*"; every other subject is matched whole.
    operator = "StringLike" if any("*" in s for s in subject_claims) else "StringEquals"
    condition.setdefault(operator, {})[f"{GITHUB_OIDC_HOST}:sub"] = sorted(subject_claims)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }
