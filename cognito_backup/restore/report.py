"""What a restore reports: the report as text (``format_report``)."""

from __future__ import annotations

import json
from typing import Any


def format_report(report: dict[str, Any]) -> str:
    lines = []
    if report.get("status") == "dry-run":
        plan = report["plan"]
        lines.append(f"DRY RUN: nothing was written. Plan for {report['snapshot']}:")
        for key, value in plan.items():
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    else:
        lines.append(f"restore of {report['snapshot']} into {report.get('target_user_pool_id')}: "
                     f"{report['status'].upper()}")
        for key, value in report.get("steps", {}).items():
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False, default=str)}")
        lines.append(f"  users end in {report['users_end_in']}. {report['user_action']}")
        fed = report.get("federated_users") or {}
        if fed.get("not_recreated"):
            sample = ", ".join(fed["sample"][:5])
            lines.append(f"  federated users not recreated: {fed['not_recreated']:,} (e.g. {sample}); "
                         "they reappear at their next sign-in, or use --link-federated")
        lines.append(f"  mapping file: {report.get('mapping_file')}")
        for failure in report.get("failures", []):
            lines.append(f"  FAILED {failure}")
        if report.get("failure_count", 0) > len(report.get("failures", [])):
            lines.append(f"  ... {report['failure_count'] - len(report['failures'])} more failures")
        if report.get("resume_command"):
            lines.append(f"  to finish: {report['resume_command']}")
        if "check" in report:
            lines.append("  check: " + ("the restored pool matches the snapshot (beyond the non-restorables)"
                                        if report["check"]["identical"] else "DIFFERENCES, see above"))
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    native = report.get("native_recovery") or {}
    if native.get("pool_exists"):
        lines.append(f"  native recovery: {native['advice']}")
    return "\n".join(lines)
