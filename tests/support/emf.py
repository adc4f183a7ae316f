"""CloudWatch embedded-metric (EMF) records, as the Lambda prints them to stdout (Powertools Metrics)."""

from __future__ import annotations

import json


def emf_records(text: str) -> list[dict]:
    """Every EMF record in ``text`` (one JSON object per line with an ``_aws`` key); other lines are skipped."""
    records = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "_aws" in obj:
            records.append(obj)
    return records


def emf_metric_names(text: str) -> set[str]:
    """The names of every metric the EMF records in ``text`` publish."""
    return {metric["Name"] for record in emf_records(text)
            for directive in record["_aws"]["CloudWatchMetrics"] for metric in directive["Metrics"]}
