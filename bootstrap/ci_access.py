"""What GitHub Actions may do in the AWS account: its roles (``ROLES``), whom each trusts, and the
modules that build their policies.

Pure functions of plain strings (no Pulumi), so that tests read and evaluate every statement:
``account_settings.py`` (the settings, checked), ``trust.py`` (the OIDC trust), one module per role
(``preview_role.py``, ``deploy_role.py``, ``snapshot_role.py``, ``drill_role.py``) and
``state_backend.py`` (the self-managed backend's bucket and key). The main program's names, which the
roles are scoped to, come from the program (``infra/names.py``).

One role per workflow that touches AWS, each assumed through GitHub's OIDC provider and trusted by
that workflow and nothing else:

- ``preview`` (``preview.yml``, pull requests): reads the *metadata* of the program's resources and
  the Pulumi state; never object contents, user data or logs, and it writes nothing but the state
  backend's lock files. A pull request's code runs with this role, so it must not be able to read
  what the backups hold: the AWS managed ``ReadOnlyAccess`` would (``s3:GetObject`` on every bucket,
  ``cognito-idp:ListUsers``, ``logs:GetLogEvents``), and ``ViewOnlyAccess`` misses what a
  ``pulumi preview --refresh`` reads (bucket policies, key policies, role policies).
- ``deploy`` (``_deploy-stack.yml``, the stacks' GitHub environments): manages the resources the
  program declares (buckets, keys, roles, function, queues, schedule, alarms), scoped to the
  program's names where AWS allows scoping by name; reads and writes the state. It is not a
  snapshot reader: the bucket policy denies it the snapshots. It cannot change the CI roles, the
  OIDC provider, the state bucket's settings or the state key (explicit denies, which hold even if
  someone attaches a broader policy to it).
- ``snapshot`` (``snapshot.yml``, the default branch): invokes the backup functions, reads the
  snapshot bucket for the "changes since the previous snapshot" report, and reads the state for
  the stack outputs. Kept apart from deploy because it must read snapshots (it is listed in each
  stack's ``cognito-backup:snapshotReaders``), which the deploy role must not; and apart from preview
  because pull-request code must not invoke anything.
- ``drill`` (``restore-drill.yml``, the default branch): what ``cognito_backup/permissions.py`` lists
  for the drill (``DRILL_OPERATIONS``: restore into a scratch pool, snapshot it, delete it), scope by
  scope, plus reading the state. Scratch pools get new ids, so its Cognito grants cover the account's
  pools; an explicit deny keeps every write off the stacks' own pools (``userPools`` of each
  ``Pulumi.<stack>.yaml``). It is a snapshot reader too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bootstrap.account_settings import CI_ROLE_PATH, Settings
from bootstrap.deploy_role import deploy_policy
from bootstrap.drill_role import drill_policy
from bootstrap.preview_role import preview_policy
from bootstrap.snapshot_role import snapshot_policy

# Longest a role session may last: a snapshot of every pool runs them one after the other (up to
# 15 minutes each; snapshot.yml's job allows 3 hours).
SNAPSHOT_SESSION_SECONDS = 3 * 3600
DEFAULT_SESSION_SECONDS = 3600
# A drill of a large pool restores through user import jobs: restore-drill.yml allows 6 hours.
DRILL_SESSION_SECONDS = 6 * 3600


def subjects(settings: Settings, role: str) -> list[str]:
    """The GitHub OIDC ``sub`` claims a role trusts: exact values, no wildcards."""
    repo = f"repo:{settings.repository}"
    if role == "preview":
        return [f"{repo}:pull_request"]
    if role == "deploy":
        # A job with `environment:` gets `...:environment:NAME` (and no branch in its subject): the
        # environment's deployment-branch rule limits it to the default branch.
        return [f"{repo}:environment:{stack}" for stack in settings.stacks]
    if role in ("snapshot", "drill"):  # dispatched from, or scheduled on, the default branch
        return [f"{repo}:ref:refs/heads/{settings.default_branch}"]
    raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


@dataclass(frozen=True)
class RoleSpec:
    description: str
    policy: Callable[[Settings], dict]
    max_session_seconds: int = DEFAULT_SESSION_SECONDS


ROLES: dict[str, RoleSpec] = {
    "preview": RoleSpec("GitHub Actions: pulumi preview on pull requests (read-only)", preview_policy),
    "deploy": RoleSpec("GitHub Actions: pulumi up in the stacks' environments", deploy_policy),
    "snapshot": RoleSpec("GitHub Actions: snapshot on demand (invoke, read snapshots)", snapshot_policy,
                         SNAPSHOT_SESSION_SECONDS),
    "drill": RoleSpec("GitHub Actions: weekly restore drill (scratch pools, read snapshots)", drill_policy,
                      DRILL_SESSION_SECONDS),
}


def role_name(settings: Settings, role: str) -> str:
    """``<prefix>-<role>``, under the path ``/github-actions/``."""
    return f"{settings.resource_prefix}-{role}"


def role_arn(settings: Settings, role: str) -> str:
    return f"arn:{settings.partition}:iam::{settings.account_id}:role{CI_ROLE_PATH}{role_name(settings, role)}"


def github_variables(*, region: str, role_arns: dict[str, str], backend: str | None) -> dict[str, str]:
    """The repository variables the workflows read (set them with `gh variable set`)."""
    variables = {"AWS_REGION": region}
    variables.update({f"AWS_{role.upper()}_ROLE_ARN": role_arns[role] for role in ROLES})
    if backend:
        variables["PULUMI_BACKEND_URL"] = backend
    return variables
