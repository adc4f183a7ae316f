"""One AWS account's side of the repository's continuous delivery: the bootstrap's settings, checked
(every problem at once, each naming its key), and the stacks' own pools read from their stack files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from backup_lambda.errors import ConfigError
from backup_lambda.validation import validate_user_pool_id
from infra.names import PROGRAM_ROLE_PATH, stack_name_problem

# Whole-value patterns (fullmatch: a "$" anchor would also match before a final newline).
GITHUB_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9_])?")
PREFIX_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,38}[a-z0-9]")
BRANCH_RE = re.compile(r"[A-Za-z0-9._/-]{1,200}")

# The CI roles live under their own IAM path, apart from the program's (infra/names.py
# PROGRAM_ROLE_PATH): deploy manages the program's roles, never its own or the other CI roles.
CI_ROLE_PATH = "/github-actions/"
# The CI roles that must never read snapshots (the others, snapshot and drill, are readers).
NEVER_READERS = ("preview", "deploy")

@dataclass(frozen=True)
class StateBackend:
    """The self-managed Pulumi backend: the state bucket and the secrets provider's KMS key."""

    bucket: str
    key_arn: str

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"


@dataclass(frozen=True)
class Settings:
    """One AWS account's side of the repository's continuous delivery."""

    account_id: str
    github_owner: str
    github_repo: str
    stacks: tuple[str, ...]
    resource_prefix: str = "cognito-backup"  # of the bootstrap's own names: CI roles, state bucket and key
    default_branch: str = "main"
    partition: str = "aws"
    state: StateBackend | None = None  # None: Pulumi Cloud holds the state
    stack_pool_ids: tuple[str, ...] = ()  # the stacks' own user pools: the drill never writes to them
    # Each stack's cognito-backup:snapshotReaders, as (stack, readers): checked against the CI roles.
    stack_readers: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def repository(self) -> str:
        return f"{self.github_owner}/{self.github_repo}"

    def arn(self, service: str, resource: str, region: str = "*") -> str:
        """An ARN in this account (any region: the program's replica lives in a second region)."""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    def iam_arn(self, resource: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:{resource}"

    def ci_role_arn(self, role: str) -> str:
        """``<prefix>-<role>`` under ``CI_ROLE_PATH``."""
        return self.iam_arn(f"role{CI_ROLE_PATH}{self.resource_prefix}-{role}")


class SettingsError(ValueError):
    """The bootstrap configuration is not valid: one line per problem, each naming its key."""


def _stack_config(project_dir: Path, stack: str) -> dict:
    path = project_dir / f"Pulumi.{stack}.yaml"
    try:
        return (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cognito-backup-bootstrap:stacks: cannot read {path} for stack {stack!r}: "
                            f"{exc}") from exc


def read_stack_pool_ids(project_dir: Path, stacks: tuple[str, ...]) -> tuple[str, ...]:
    """The user pools of the main program's stacks: ``cognito-backup:userPools`` of each
    ``Pulumi.<stack>.yaml``. The permissions boundary lets the program's roles read these pools and no
    other; the drill reads them and never writes to them."""
    ids: list[str] = []
    for stack in stacks:
        pools = _stack_config(project_dir, stack).get("cognito-backup:userPools") or []
        ids += [pool["id"] for pool in pools if isinstance(pool, dict) and isinstance(pool.get("id"), str)]
    return tuple(dict.fromkeys(ids))


def read_stack_readers(project_dir: Path, stacks: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``cognito-backup:snapshotReaders`` of each ``Pulumi.<stack>.yaml``, as (stack, readers)."""
    found = []
    for stack in stacks:
        readers = _stack_config(project_dir, stack).get("cognito-backup:snapshotReaders") or []
        readers = [readers] if isinstance(readers, str) else readers
        found.append((stack, tuple(r for r in readers if isinstance(r, str))))
    return tuple(found)


def check_settings(settings: Settings) -> Settings:
    problems = []
    if not re.fullmatch(r"\d{12}", settings.account_id):
        problems.append(f"account id {settings.account_id!r} is not 12 digits")
    for key, value in (("githubOwner", settings.github_owner), ("githubRepo", settings.github_repo)):
        if not GITHUB_NAME_RE.fullmatch(value or ""):
            problems.append(f"cognito-backup-bootstrap:{key}: {value!r} is not a GitHub owner or repository name")
    if not settings.stacks:
        problems.append("cognito-backup-bootstrap:stacks: list the stacks (one GitHub environment each)")
    for stack in settings.stacks:
        if stack_name_problem(stack):
            problems.append(f"cognito-backup-bootstrap:stacks: {stack!r} is not a stack name")
    if len(set(settings.stacks)) != len(settings.stacks):
        problems.append("cognito-backup-bootstrap:stacks: a stack is listed twice")
    if not PREFIX_RE.fullmatch(settings.resource_prefix):
        problems.append(f"cognito-backup-bootstrap:resourcePrefix: {settings.resource_prefix!r} must be 3-40 "
                        "lower-case letters, digits or '-'")
    for pool_id in settings.stack_pool_ids:
        try:
            validate_user_pool_id(pool_id)
        except ConfigError:
            problems.append(f"a stack's cognito-backup:userPools lists {pool_id!r}, which is not a pool id")
    if not BRANCH_RE.fullmatch(settings.default_branch):
        problems.append(f"cognito-backup-bootstrap:defaultBranch: {settings.default_branch!r} is not a branch")
    problems += _reader_problems(settings)
    if problems:
        raise SettingsError("invalid bootstrap configuration:\n" + "\n".join(f"  {p}" for p in problems))
    return settings


def _reader_problems(settings: Settings) -> list[str]:
    """A snapshot reader must be neither a CI role that may not read (preview: pull-request code;
    deploy: it manages the bucket and key policies) nor a role under the program's own path, which the
    deploy role may re-trust."""
    never = {settings.ci_role_arn(role): role for role in NEVER_READERS}
    program_roles = settings.iam_arn(f"role{PROGRAM_ROLE_PATH}")
    problems = []
    for stack, readers in settings.stack_readers:
        for i, arn in enumerate(readers):
            key = f"Pulumi.{stack}.yaml: cognito-backup:snapshotReaders[{i}]"
            if arn in never:
                problems.append(f"{key}: {arn} is the {never[arn]} CI role, which must never read snapshots")
            elif arn.startswith(program_roles):
                problems.append(f"{key}: {arn} is under {PROGRAM_ROLE_PATH}, the program's own roles, which the "
                                "deploy role may re-trust")
    return problems
