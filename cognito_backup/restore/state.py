"""Everything a restore run knows, declared in one place.

- ``Snapshot``: what the verified snapshot says (its configuration with the overrides applied), and what follows
  from it and the options before anything is read from the target (the users path, the CreateUserPool request,
  the names identity providers are created with). It does not change during the run.
- ``RunState``: what the run finds out and makes as it goes (the target pool, the providers and clients it
  restored, notes, failures, the steps' counts, and the journal of users and memberships).
- ``RestoreRun``: what every step is given: the options, the way to AWS, the snapshot, the state, and the
  progress board its phases report to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.restore.calls import Calls, error_text
from cognito_backup.restore.journal import Journal
from cognito_backup.restore.options import RestoreOptions
from cognito_backup.restore.progress import ProgressBoard
from cognito_backup.restore.requests import PoolPlan
from cognito_backup.snapshot_file import SnapshotSource

FAILURES_SHOWN = 50


@dataclass(frozen=True)
class Snapshot:
    source: SnapshotSource
    etag: str | None  # the verified version: the run reads that one and no other
    config: dict[str, Any]
    counts: dict[str, int]
    users_via: str  # "admin-create" or "import"
    pool_plan: PoolPlan
    # Identity providers by the snapshot's name -> the name they are created with (another where
    # CreateIdentityProvider refuses the snapshot's: requests.provider_names).
    provider_names: dict[str, str] = field(default_factory=dict)

    @property
    def pool(self) -> dict[str, Any]:
        return self.config["pool"]

    @property
    def username_attributes(self) -> list[str] | None:
        return self.pool.get("UsernameAttributes") or None

    @property
    def auto_verified(self) -> list[str]:
        return self.pool.get("AutoVerifiedAttributes") or []

    @property
    def source_pool_id(self) -> str | None:
        return (self.config.get("source") or {}).get("user_pool_id")

    @property
    def renames(self) -> dict[str, str]:
        """The identity providers created under another name (old -> new)."""
        return {old: new for old, new in self.provider_names.items() if old != new}


@dataclass
class Providers:
    """The identity providers, by the snapshot's name."""
    restored: set[str] = field(default_factory=set)  # in the target pool: there already, or created by this run
    failed: set[str] = field(default_factory=set)  # their create failed: their clients wait for a resume
    skipped: set[str] = field(default_factory=set)  # left out by design (no secret): their clients go without them


@dataclass
class RunState:
    journal: Journal
    work_dir: str  # the run's temporary directory (the journal, import CSV files)
    pool_id: str | None  # the target pool, once given, found or created
    created_pool: bool = False  # this run created it
    same_name_pool: str | None = None  # an empty pool of --new-pool-name found there, restored into
    target_was_empty: bool = True  # the target held nothing when the run began
    target_pool: dict[str, Any] = field(default_factory=dict)  # DescribeUserPool of the target
    providers: Providers = field(default_factory=Providers)
    client_map: list[dict[str, Any]] = field(default_factory=list)  # old -> new app client, for the mapping file
    csv_chunks: list[str] = field(default_factory=list)  # the import path's CSV files, one per import job
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first FAILURES_SHOWN
    failure_count: int = 0
    # Users disabled in the snapshot that are not disabled in the target yet (their disable or their creation
    # failed): while there is one, no app client is created (a client is what lets a user sign in).
    disabled_pending: int = 0
    # What the run could not restore beyond NON_RESTORABLE (e.g. a verification message half AWS refused), and
    # the differences a check must expect for it (``section.path``).
    not_restored: list[dict[str, str]] = field(default_factory=list)
    expected_differences: list[str] = field(default_factory=list)
    steps: dict[str, Any] = field(default_factory=dict)  # what each step did, for the report
    # The pipeline's lanes (users, memberships...): how long each had work waiting for its quota, and what it did
    # meanwhile (pipeline.Lane.busy_s, busy_done), for the report's phases.
    lanes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail(self, what: str, exc: BaseException | str) -> None:
        self.failure_count += 1
        if len(self.failures) < FAILURES_SHOWN:
            self.failures.append(f"{what}: {exc if isinstance(exc, str) else error_text(exc)}")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def client_ids(self) -> dict[str, str]:
        """Old client id -> new client id, of the clients restored."""
        return {e["old_client_id"]: e["new_client_id"] for e in self.client_map if e["new_client_id"]}


@dataclass(frozen=True)
class RestoreRun:
    options: RestoreOptions
    aws: Calls
    snapshot: Snapshot
    state: RunState
    say: Callable[[str], None]
    uploader: Callable[[str, str], None]  # puts an import CSV file to a pre-signed URL
    board: ProgressBoard = field(default_factory=lambda: ProgressBoard(lambda _m: None))  # the phases' progress

    def section_items(self, name: str) -> list[dict[str, Any]]:
        """The items of a configuration section of the snapshot; a note when it could not be read."""
        section = self.snapshot.config.get(name) or {}
        if section.get("status") == "unavailable":
            self.state.note(f"{name} could not be read when the snapshot was taken ({section.get('reason')}): "
                            "not restored")
        return list(section.get("items") or []) if section.get("status") == "present" else []

    def section_value(self, name: str) -> dict[str, Any] | None:
        """The value of a single-value configuration section; a note when it could not be read."""
        section = self.snapshot.config.get(name) or {}
        if section.get("status") == "unavailable":
            self.state.note(f"{name} could not be read when the snapshot was taken: not restored")
        return section.get("value") if section.get("status") == "present" else None
