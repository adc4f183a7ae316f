"""What a restore is asked to do: ``RestoreOptions`` (checked once, up front, with errors that name the
option), the identity-provider secrets file, and ``RestoreError``, raised when the restore cannot go on."""

from __future__ import annotations

from dataclasses import dataclass, field

from backup_lambda.errors import BackupError, ConfigError
from cognito_backup.json_limits import load_option_file
from cognito_backup.restore.overrides import Override
from cognito_backup.signatures import Trust

# The share of each quota category a restore takes. A restore writes into a new pool, which no application uses
# yet; but Cognito's quotas are per account and region, shared with every other pool's applications (sign-ups
# take UserCreation, profile updates UserUpdate, group changes UserResourceUpdate): 0.8 leaves them a fifth, and
# the limiters halve the restore's rate whenever AWS throttles anyway (docs/restoring.md, "How long it takes").
DEFAULT_RATE_FRACTION = 0.8
# Calls in flight per kind of call (each lane of the pipeline): enough for 50 calls/s (UserCreation's whole
# quota) at up to 300 ms a call. Waiting for a limiter costs no call, only a thread.
DEFAULT_WORKERS = 16


class RestoreError(BackupError):
    """The restore cannot go on; the message says what to do (often: run again with --resume)."""


@dataclass
class RestoreOptions:
    snapshot: str
    new_pool_name: str | None = None
    target_pool_id: str | None = None
    users_via: str = "auto"
    import_role_arn: str | None = None
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets_file: str | None = None  # where ``secrets`` came from (for the resume command; never printed)
    domain_prefix: str | None = None
    link_federated: bool = False
    resume: bool = False
    dry_run: bool = False
    mapping_file: str | None = None
    without_triggers: bool = False
    grant_triggers: bool = False  # add each trigger function's permission for the new pool (lambda:AddPermission)
    # Configuration values changed before they are sent (overrides.py), by path; and how they were given.
    overrides: dict[str, Override] = field(default_factory=dict)
    override_args: tuple[str, ...] = ()  # the --override PATH=VALUE texts
    overrides_file: str | None = None
    rate_fraction: float = DEFAULT_RATE_FRACTION
    workers: int = DEFAULT_WORKERS
    work_dir: str | None = None
    import_poll_interval: float = 10.0
    # Drills only: a provider whose secret is not given is created with this value instead of skipped.
    placeholder_secret: str | None = None
    # Snapshot the restored pool (locally) and diff it with the snapshot when done.
    check: bool = False
    # The signing keys the snapshot's manifest may be signed by, and whether an unsigned one is accepted
    # (None: the environment's, signatures.Trust.from_args).
    trust: Trust | None = None
    # Send ARNs of accounts other than the one restored into (foreign.py); without it the restore refuses them.
    allow_foreign_arns: bool = False

    def validate(self) -> None:
        if bool(self.new_pool_name) == bool(self.target_pool_id):
            raise ConfigError("give exactly one of --new-pool-name NAME and --target-pool-id ID")
        if self.resume and not self.target_pool_id:
            raise ConfigError("--resume continues into an existing pool: give --target-pool-id (the id the first "
                              "run printed when it created the pool)")
        if self.users_via not in ("auto", "admin-create", "import"):
            raise ConfigError("--users-via must be auto, admin-create or import")
        if not 0 < self.rate_fraction <= 1:
            raise ConfigError("--rate-fraction must be > 0 and <= 1")
        if self.workers < 1:
            raise ConfigError("--workers must be >= 1")
        if self.grant_triggers and self.without_triggers:
            raise ConfigError("--grant-triggers and --without-triggers contradict each other: give one")
        prefix = self.overrides.get("domain.Domain.Domain")
        if prefix is not None and self.domain_prefix and prefix.shown() != self.domain_prefix:
            raise ConfigError(f"--domain-prefix {self.domain_prefix} and --override domain.Domain.Domain="
                              f"{prefix.shown()} contradict each other: give one")


def load_secrets(path: str | None) -> dict[str, dict[str, str]]:
    """``{"ProviderName": {"client_secret": "..."}}`` from a JSON file. Values are never printed."""
    if not path:
        return {}
    data = load_option_file(path, "--secrets")
    if not isinstance(data, dict) or not all(
            isinstance(v, dict) and all(isinstance(s, str) for s in v.values()) for v in data.values()):
        raise ConfigError(f'--secrets {path} must look like {{"ProviderName": {{"client_secret": "..."}}}}')
    return data
