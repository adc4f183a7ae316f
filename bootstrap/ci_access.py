"""What GitHub Actions may do in the AWS account: its roles (``ROLES``), whom each trusts, and the
modules that build their policies.

Pure functions of plain strings (no Pulumi), so that tests read and evaluate every statement:
``account_settings.py`` (the settings, checked), ``trust.py`` (the OIDC trust), one module per role
(``preview_role.py``, ``deploy_role.py``, ``snapshot_role.py``, ``drill_role.py``) and
``state_backend.py`` (the self-managed backend's bucket and key). The main program's names, which the
roles are scoped to, come from the program (``infra/names.py``).

One role per workflow that touches AWS, each assumed through GitHub's OIDC provider and trusted by
that workflow's jobs in that workflow's GitHub environment, on the default branch, and nothing else
(``subjects``: the repository's OIDC subject carries ``job_workflow_ref``, see ``trust.py``):

- ``preview`` (``preview.yml``, pull requests, environment ``preview``): reads the *metadata* of the
  program's own resources and the program's Pulumi state; never object contents, user data, logs or
  other resources' configuration, and it writes nothing but the stacks' lock files. A pull
  request's code runs with this role, so it must not be able to read what the backups hold: the AWS
  managed ``ReadOnlyAccess`` would (``s3:GetObject`` on every bucket,
  ``cognito-idp:ListUsers``, ``logs:GetLogEvents``), and ``ViewOnlyAccess`` misses what a
  ``pulumi preview --refresh`` reads (bucket policies, key policies, role policies).
- ``deploy`` (``_deploy-stack.yml``, the stacks' GitHub environments): manages the resources the
  program declares, by their exact names, its keys by their tag, its roles under the program's path
  and only with the permissions boundary (``boundary.py``); reads and writes the state. It is not a
  snapshot reader and explicit denies keep it from every snapshot and key, whatever bucket or key
  policy it writes. It cannot change the CI roles, the OIDC provider, the boundary, the state
  bucket's settings or the state key (explicit denies, which hold even if someone attaches a broader
  policy to it).
- ``snapshot`` (``snapshot.yml``, the default branch, environment ``snapshot``): invokes the backup functions, reads the
  snapshot bucket for the "changes since the previous snapshot" report, and reads the state for
  the stack outputs. Kept apart from deploy because it must read snapshots (it is listed in each
  stack's ``cognito-backup:snapshotReaders``), which the deploy role must not; and apart from preview
  because pull-request code must not invoke anything.
- ``drill`` (``restore-drill.yml``, the default branch, environment ``restore-drill``): what
  ``cognito_backup/permissions.py`` lists for the drill (``DRILL_OPERATIONS``: restore into a scratch
  pool, snapshot it, delete it), scope by scope, plus reading the state. It creates pools only with
  the drill's scratch tag and writes only to pools that carry it; it reads the stacks' own pools
  (``userPools`` of each ``Pulumi.<stack>.yaml``) and never writes to them. It is a snapshot reader
  too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

from bootstrap.account_settings import Settings
from bootstrap.deploy_role import deploy_guardrails, deploy_permissions
from bootstrap.drill_role import drill_policy
from bootstrap.preview_role import preview_policy
from bootstrap.snapshot_role import snapshot_policy
from bootstrap.trust import PULL_REQUEST_REF

# Longest a role session may last: a snapshot of every pool runs them one after the other (up to
# 15 minutes each; snapshot.yml's job allows 3 hours).
SNAPSHOT_SESSION_SECONDS = 3 * 3600
DEFAULT_SESSION_SECONDS = 3600
# A drill of a large pool restores through user import jobs: restore-drill.yml allows 6 hours.
DRILL_SESSION_SECONDS = 6 * 3600
STACK_ENVIRONMENT = None  # deploy: one environment per stack, named after it
# What IAM accepts: a role's inline policies together, and one managed policy (whitespace not counted).
INLINE_POLICY_LIMIT = 10_240
MANAGED_POLICY_LIMIT = 6_144
# As long as any key ARN (the state key's is not known before the key exists).
KEY_ARN_OF_ANY_LENGTH = "arn:aws-us-gov:kms:ap-southeast-5:000000000000:key/00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class RoleSpec:
    description: str
    policy: Callable[[Settings], dict]  # the role's inline policy
    workflow: str  # the file under .github/workflows/ whose jobs assume the role
    environment: str | None  # the GitHub environment of those jobs (None: the stack's own)
    max_session_seconds: int = DEFAULT_SESSION_SECONDS
    guardrails: Callable[[Settings], dict] | None = None  # explicit denies, as a managed policy

    def effective_policy(self, settings: Settings) -> dict:
        """Every statement of the role's policies, as one document (what the role may do)."""
        statements = self.policy(settings)["Statement"]
        if self.guardrails:
            statements = statements + self.guardrails(settings)["Statement"]
        return {"Version": "2012-10-17", "Statement": statements}


ROLES: dict[str, RoleSpec] = {
    "preview": RoleSpec("GitHub Actions: pulumi preview on pull requests (read-only)", preview_policy,
                        "preview.yml", "preview"),
    "deploy": RoleSpec("GitHub Actions: pulumi up in the stacks' environments", deploy_permissions,
                       "_deploy-stack.yml", STACK_ENVIRONMENT, guardrails=deploy_guardrails),
    "snapshot": RoleSpec("GitHub Actions: snapshot on demand (invoke, read snapshots)", snapshot_policy,
                         "snapshot.yml", "snapshot", SNAPSHOT_SESSION_SECONDS),
    "drill": RoleSpec("GitHub Actions: weekly restore drill (scratch pools, read snapshots)", drill_policy,
                      "restore-drill.yml", "restore-drill", DRILL_SESSION_SECONDS),
}


def size(policy: dict) -> int:
    return len(json.dumps(policy, separators=(",", ":")))


def policy_size_problems(settings: Settings) -> list[str]:
    """Each role whose policies IAM would refuse as too long (the program's names of every stack are in
    them: with many stacks, an account needs a second bootstrap prefix or account)."""
    if settings.state and not isinstance(settings.state.key_arn, str):
        settings = dataclasses.replace(settings, state=dataclasses.replace(settings.state,
                                                                           key_arn=KEY_ARN_OF_ANY_LENGTH))
    problems = []
    for role, spec in ROLES.items():
        if size(spec.policy(settings)) >= INLINE_POLICY_LIMIT:
            problems.append(f"cognito-backup-bootstrap:stacks: with {len(settings.stacks)} stacks the {role} role's "
                            f"policy is {size(spec.policy(settings))} characters, over IAM's {INLINE_POLICY_LIMIT}")
        if spec.guardrails and size(spec.guardrails(settings)) >= MANAGED_POLICY_LIMIT:
            problems.append(f"cognito-backup-bootstrap:stacks: the {role} role's guardrails are over IAM's "
                            f"{MANAGED_POLICY_LIMIT} characters")
    return problems


def environments(settings: Settings, role: str) -> list[str]:
    """The GitHub environments whose jobs may assume the role."""
    spec = ROLES[role]
    return list(settings.stacks) if spec.environment is STACK_ENVIRONMENT else [spec.environment]


def subjects(settings: Settings, role: str) -> list[str]:
    """The GitHub OIDC ``sub`` claims a role trusts, in the repository's customised subject format
    (``trust.OIDC_SUBJECT_CLAIM_KEYS``): the repository, the job's environment, and the workflow file
    with the ref it runs from. Exact values, but for the pull request's number in a preview's ref."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    repo = settings.repository
    # A pull request's jobs run its merge ref; the others run from the default branch only (a job
    # that names an environment also meets the environment's deployment-branch rule).
    ref = PULL_REQUEST_REF if role == "preview" else f"refs/heads/{settings.default_branch}"
    workflow = f"{repo}/.github/workflows/{ROLES[role].workflow}@{ref}"
    return [f"repo:{repo}:environment:{env}:job_workflow_ref:{workflow}" for env in environments(settings, role)]


def role_name(settings: Settings, role: str) -> str:
    """``<prefix>-<role>``, under the path ``/github-actions/``."""
    return f"{settings.resource_prefix}-{role}"


def role_arn(settings: Settings, role: str) -> str:
    return settings.ci_role_arn(role)


def guardrails_name(settings: Settings, role: str) -> str:
    """The managed policy of a role's guardrails: ``<prefix>-<role>-guardrails``, under the CI path."""
    return f"{role_name(settings, role)}-guardrails"


def github_variables(*, region: str, role_arns: dict[str, str], backend: str | None) -> dict[str, str]:
    """The repository variables the workflows read (set them with `gh variable set`)."""
    variables = {"AWS_REGION": region}
    variables.update({f"AWS_{role.upper()}_ROLE_ARN": role_arns[role] for role in ROLES})
    if backend:
        variables["PULUMI_BACKEND_URL"] = backend
    return variables
