"""Every key of a stack's configuration, declared once: its name, kind, default, bounds and meaning.

``infra/config.py`` validates a stack with this table (unknown keys, bounds and choices, defaults),
``BackupConfig`` takes its defaults from it, and the tables of keys in ``README.md`` ("Deploying with
Pulumi") and ``docs/deploying.md`` are rendered from it. ``python -m infra.stack_keys`` rewrites those
two tables; ``python -m infra.stack_keys --check`` (and ``tests/infra/test_stack_keys.py``) fails
when one differs from the table here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.validation import MAX_PREFIX, MAX_REQUEST_BUDGET
from infra.names import NAMESPACE

REGION_KEY = "aws:region"
REQUIRED = "required"  # the default of a key that has none: the stack must set it
RETIRED = "retired"  # the kind of a key the program no longer reads (a stack that sets it is refused)
MAX_DAYS = 36500
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_VALUES = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
OBJECT_LOCK_MODES = ("off", "governance", "compliance")


@dataclass(frozen=True)
class StackKey:
    """One key of the ``cognito-backup:`` namespace.

    ``kind`` is how the value is read: "integer" and "boolean" keys are read by their kind alone (with
    ``low``/``high`` and ``choices``); the others by their own rule in ``infra/stack_rules.py``.
    ``values`` says what an acceptable value looks like, where the bounds do not say it. A "retired"
    key is one the program no longer reads: a stack that still sets it is refused with ``meaning``
    (why, and what to do), so that a value someone relies on is not silently ignored.
    """

    name: str
    kind: str  # "integer" | "boolean" | "number" | "string" | "list" | "object" | "retired"
    default: Any  # REQUIRED, None (optional, nothing by default) or the value BackupConfig gets
    meaning: str
    values: str = ""
    low: int | None = None
    high: int | None = None
    choices: tuple[Any, ...] = ()
    choices_are: str = ""  # what the choices are, for the message that refuses another value

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}:{self.name}"

    def shown_default(self) -> str:
        if self.kind == RETIRED:
            return "no longer used"
        if self.default == REQUIRED:
            return "required"
        if self.default in (None, ()):
            return "none"
        if isinstance(self.default, bool):
            return f"`{str(self.default).lower()}`"
        if isinstance(self.default, float):
            return f"`{self.default:g}`"
        return f"`{self.default}`" if self.default != "" else '`""`'

    def shown_values(self) -> str:
        if self.choices:
            return ", ".join(str(choice) for choice in self.choices)
        if self.low is not None and self.high is not None:
            return f"{self.low}-{self.high}"
        if self.kind == "boolean":
            return "`true`, `false`"
        return self.values


def _days(name: str, default: int, meaning: str) -> StackKey:
    return StackKey(name, "integer", default, meaning, low=1, high=MAX_DAYS)


_KEYS = (
    StackKey(
        "userPools", "list", REQUIRED,
        "One entry per pool to back up. `id` is in the stack's region; `name` (unique) names the snapshot "
        "files, the metrics' `pool_name` dimension and the alarms.",
        values="list of `{id, name}`: `id` like `eu-west-1_AbCd12345`, `name` 1-128 ASCII letters, digits, "
               "`_.+=,@-`",
    ),
    StackKey(
        "snapshotReaders", "list", REQUIRED,
        "The principals allowed to list and read snapshots, e.g. the restore tooling's role. The bucket "
        "policy denies object reads to everyone else, the key policy lets only them decrypt.",
        values="list of IAM role or user ARNs (no wildcards, no account root)",
    ),
    StackKey(
        "schedule", "string", "cron(0 1 * * ? *)",
        "EventBridge schedule (UTC) of the daily run.",
        values="`cron(...)` or `rate(...)`, at least daily",
    ),
    StackKey(
        "requestBudget", "number", DEFAULT_REQUEST_BUDGET,
        "Cognito UserList calls per second a snapshot may use: the account-wide quota is "
        f"{MAX_REQUEST_BUDGET:g} and shared with your application.",
        values=f"a number > 0 and <= {MAX_REQUEST_BUDGET:g}",
    ),
    StackKey(
        "excludeAttributes", "list", (),
        "User attributes left out of snapshots. `sub` cannot be excluded.",
        values="list of attribute names, or one comma-separated string (e.g. `custom:national_id`)",
    ),
    StackKey(
        "snapshotPrefix", "string", "",
        "Key prefix of every snapshot (a trailing `/` is added). The role's S3 grants are limited to it.",
        values=f"path segments, e.g. `cognito/` (at most {MAX_PREFIX} characters)",
    ),
    StackKey(
        "alarmEmail", "string", None,
        "Email address subscribed to the alarm topic. AWS sends a confirmation mail: the subscription stays "
        "pending until someone clicks it.",
        values="an email address",
    ),
    _days("retentionDailyDays", 30, "Days a `daily` snapshot is kept (every day except the ones below)."),
    _days("retentionWeeklyDays", 183,
          "Days a `weekly` snapshot (Sundays) is kept: about six months. At least `retentionDailyDays`."),
    _days("retentionMonthlyDays", 365,
          "Days a `monthly` snapshot (the 1st of a month) is kept. At least `retentionWeeklyDays`."),
    _days("noncurrentVersionDays", 7,
          "Days an expired or overwritten version is kept before it is deleted for good: the window in which "
          "a deletion can be undone."),
    StackKey(
        "objectLock", "object", "off",
        "Every new object version is locked for N days (N <= `retentionDailyDays`). Governance can be "
        "bypassed by principals with `s3:BypassGovernanceRetention`; compliance by no one, root included. "
        "Object Lock is chosen when the bucket is created: turning it on later replaces the bucket.",
        values=f"`off`, or `{{mode: governance, days: N}}` / `{{mode: compliance, days: N}}` (N 1-{MAX_DAYS})",
    ),
    StackKey(
        "replicaRegion", "string", None,
        "A second region: snapshots are replicated there (S3 replication) into a bucket encrypted with a "
        "key of that region.",
        values="a commercial AWS region other than `aws:region`",
    ),
    StackKey("lambdaTimeout", "integer", 900, "Function timeout in seconds.", low=60, high=900),
    StackKey("lambdaMemory", "integer", 512, "Function memory in MB; more memory also means more CPU.",
             low=128, high=10240),
    StackKey(
        "lambdaEphemeralStorage", "integer", 512,
        "The function's /tmp in MB, where group members wait until the users are written (size it from "
        "docs/deploying.md, \"Disk: /tmp\").",
        low=512, high=10240,
    ),
    StackKey(
        "logRetentionDays", "integer", 90,
        "Days the function's log group keeps its logs (a value CloudWatch Logs accepts).",
        choices=LOG_RETENTION_VALUES, choices_are="a value CloudWatch Logs accepts",
    ),
    _days("accessLogRetentionDays", 365, "Days S3 server access logs of the snapshot bucket are kept."),
    StackKey(
        "protect", "boolean", True,
        "Protect the KMS keys and snapshot buckets: `pulumi destroy` refuses to delete them. Set `false` "
        "for throwaway stacks.",
    ),
    # Keys the program no longer reads: refused, with what to do instead.
    StackKey(
        "powertoolsLayerVersion", RETIRED, None,
        "Was the version of the AWS-managed Powertools layer. The function now ships its own SDK and "
        "Powertools, pinned in `requirements/lambda.txt`, in a layer the program builds and publishes: "
        "remove the key from `Pulumi.<stack>.yaml` (`pulumi config rm powertoolsLayerVersion`).",
        values="none: remove the key",
    ),
)
KEYS: dict[str, StackKey] = {key.name: key for key in _KEYS}


def default(name: str) -> Any:
    """A key's default, as ``BackupConfig`` holds it."""
    value = KEYS[name].default
    if value == REQUIRED:
        raise ValueError(f"{NAMESPACE}:{name} is required: it has no default")
    return value


# --- the tables of keys in the documentation ------------------------------------------------------

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "docs/deploying.md")
START = "<!-- stack-keys:start: rendered from infra/stack_keys.py by `python -m infra.stack_keys` -->"
END = "<!-- stack-keys:end -->"


def markdown_table(keys: dict[str, StackKey] = KEYS) -> str:
    rows = [(f"`{key.full_name}`", key.shown_default(), key.shown_values(), key.meaning) for key in keys.values()]
    for row in rows:
        for cell in row:
            if "|" in cell.replace("\\|", ""):
                raise ValueError(f"a '|' in a cell breaks the Markdown table: {cell!r}")
    lines = ["| key | default | values | meaning |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def rendered_section(text: str, table: str) -> str:
    """``text`` with the table between the markers replaced by ``table``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"expected one {START!r} followed by one {END!r}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stack_keys", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the documents are up to date")
    args = parser.parse_args(argv)
    table = markdown_table()
    stale = []
    for document in DOCUMENTS:
        path = PROJECT_DIR / document
        text = path.read_text()
        rendered = rendered_section(text, table)
        if rendered != text:
            stale.append(document)
            if not args.check:
                path.write_text(rendered)
    if args.check and stale:
        print(f"the table of stack keys is out of date in {', '.join(stale)}: run python -m infra.stack_keys",
              file=sys.stderr)
        return 1
    for document in stale:
        print(f"rewrote the table of stack keys in {document}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
