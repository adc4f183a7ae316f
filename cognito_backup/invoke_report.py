"""How ``invoke`` reports: one line per pool on the terminal, Markdown for the job summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backup_lambda.errors import ConfigError

# What the report shows of the function's result.
COUNTS = ("users", "groups", "memberships", "bytes", "duration_s")

# The diff summary's counters, in the order (and with the labels) the report shows them.
DIFF_COUNTERS = (
    ("users_added", "users added"),
    ("users_removed", "users removed"),
    ("users_changed", "users changed"),
    ("memberships_gained", "memberships gained"),
    ("memberships_lost", "memberships lost"),
    ("groups_added", "groups added"),
    ("groups_removed", "groups removed"),
    ("groups_changed", "groups changed"),
)
CHANGED_FIELDS_SHOWN = 10


@dataclass
class PoolResult:
    pool_name: str
    pool_id: str
    status: str  # "ok" or "failed" ("continued" while the function carries on in the background)
    key: str | None = None
    runs: int | None = 1  # Lambda runs the snapshot took (None: several, count unknown)
    bucket: str | None = None  # where the function said it writes (a continued snapshot's answer)
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    previous_key: str | None = None
    previous_taken_at: str | None = None
    changes: dict[str, Any] | None = None
    changes_note: str | None = None  # why there are no changes to show




def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _code(text: str) -> str:
    """Inline code that survives any text: backticks become quotes, newlines become spaces."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def result_text(r: PoolResult) -> str:
    if r.status != "ok":
        return f"{r.pool_name} ({r.pool_id}): FAILED: {r.error}"
    counts = ", ".join(f"{_count(r.counts[k])} {k}" for k in COUNTS[:3] if k in r.counts)
    line = f"{r.pool_name} ({r.pool_id}): ok, {counts} -> {r.key}"
    if r.changes is not None:
        changed = [f"{_count(r.changes[k])} {label}" for k, label in DIFF_COUNTERS if r.changes.get(k)]
        sections = r.changes.get("config_changed") or []
        if sections:
            changed.append("configuration: " + ", ".join(map(str, sections)))
        line += f"\n  since {r.previous_key}: " + ("; ".join(changed) or "no changes")
    elif r.changes_note:
        line += f"\n  {r.changes_note}"
    return line


def render_header(function: str, pools: int) -> str:
    return f"## Snapshot on demand\n\nFunction {_code(function)}, {pools} pool(s).\n\n"


def render_footer(results: list[PoolResult]) -> str:
    ok = sum(r.status == "ok" for r in results)
    mark = ":white_check_mark:" if ok == len(results) else ":x:"
    return f"{mark} **{ok} of {len(results)} snapshot(s) succeeded.**\n\n"


def render_pool(r: PoolResult) -> str:
    return "\n".join(_render_pool(r)) + "\n"


def _render_pool(r: PoolResult) -> list[str]:
    if r.status != "ok":
        return [f"### :x: {_code(r.pool_name)} ({_code(r.pool_id)}) failed", "",
                f"**{r.error_type or 'Error'}**: {_code(r.error or 'no message')}", ""]
    runs = "" if r.runs == 1 else f", taken over {r.runs or 'several'} Lambda runs"
    lines = [f"### :white_check_mark: {_code(r.pool_name)} ({_code(r.pool_id)})", "",
             f"Snapshot {_code(r.key or '')}{runs}", "",
             "| users | groups | memberships | bytes | duration |", "|---:|---:|---:|---:|---:|",
             "| " + " | ".join(_count(r.counts.get(k, "?")) for k in COUNTS[:4])
             + f" | {_duration(r.counts.get('duration_s'))} |", ""]
    if r.changes is None:
        lines += [f"Changes since the previous snapshot: {r.changes_note}", ""]
        return lines
    when = f" ({r.previous_taken_at})" if r.previous_taken_at else ""
    lines += [f"Changes since {_code(r.previous_key or '')}{when}:", ""]
    c = r.changes
    if c.get("identical") is True:
        return [*lines, "No changes: users, memberships, groups and configuration are the same.", ""]
    columns = [(k, label) for k, label in DIFF_COUNTERS if k in c]
    if columns:
        lines += ["| " + " | ".join(label for _, label in columns) + " |",
                  "|" + "---:|" * len(columns),
                  "| " + " | ".join(_count(c[k]) for k, _ in columns) + " |", ""]
    fields = c.get("changed_fields")
    if isinstance(fields, dict) and fields:
        shown = list(fields.items())[:CHANGED_FIELDS_SHOWN]
        more = f", and {len(fields) - len(shown)} more" if len(fields) > len(shown) else ""
        lines += ["Changed user fields: " + ", ".join(f"{_code(k)} ({_count(v)})" for k, v in shown) + more, ""]
    sections = c.get("config_changed") or []
    lines += [("Configuration changed: " + ", ".join(_code(s) for s in sections)) if sections
              else "Configuration: unchanged", ""]
    if c.get("not_compared"):
        lines += ["Not compared: " + ", ".join(_code(s) for s in c["not_compared"]), ""]
    return lines


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "?"
    minutes, secs = divmod(float(seconds), 60)
    return f"{int(minutes)} min {secs:.0f} s" if minutes else f"{secs:.1f} s"


def write_summary(path: str, markdown: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    except OSError as exc:
        raise ConfigError(f"--summary: cannot append to {path!r}: {exc.strerror or exc}") from exc
