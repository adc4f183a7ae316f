"""The table of stack keys (infra/stack_keys.py) is what the program validates with and what the
documentation shows: the README's and docs/deploying.md's tables are the rendered table, every default
is a value the rules accept and the one BackupConfig holds, and the bounds are enforced as declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import stack_keys
from infra.config import BackupConfig, Pool, StackConfigError, parse_config
from infra.stack_keys import END, KEYS, REQUIRED, START, StackKey, markdown_table, rendered_section

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {
    "aws:region": "eu-west-1",
    "cognito-backup:userPools": json.dumps([{"id": "eu-west-1_AbCd12345", "name": "prod-users"}]),
    "cognito-backup:snapshotReaders": json.dumps(["arn:aws:iam::123456789012:role/cognito-backup-restore"]),
}


def between_markers(text: str) -> str:
    assert text.count(START) == 1 and text.count(END) == 1, "the table's markers are missing or doubled"
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


@pytest.mark.parametrize("document", stack_keys.DOCUMENTS)
def test_the_documents_show_the_rendered_table_of_keys(document):
    shown = between_markers((ROOT / document).read_text())

    assert shown == markdown_table(), (
        f"{document}: the table of stack keys differs from infra/stack_keys.py; run python -m infra.stack_keys")


def test_the_readmes_table_is_in_its_deploying_with_pulumi_section():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploying with Pulumi\n", 1)[1].split("\n## ", 1)[0]

    assert START in section and END in section


def test_a_changed_row_is_noticed():
    """What the comparison above rests on: an edited row no longer matches the rendering."""
    text = (ROOT / "docs" / "deploying.md").read_text()
    edited = text.replace("| `cognito-backup:lambdaTimeout` | `900` |", "| `cognito-backup:lambdaTimeout` | `300` |")

    assert edited != text
    assert between_markers(edited) != markdown_table()
    assert rendered_section(edited, markdown_table()) == text


def test_the_table_names_every_key_once_with_a_meaning():
    table = markdown_table()

    for key in KEYS.values():
        assert table.count(f"| `{key.full_name}` |") == 1
        assert key.meaning and key.shown_values(), key.name


def test_a_cell_with_a_pipe_is_refused():
    with pytest.raises(ValueError, match="breaks the Markdown table"):
        markdown_table({"x": StackKey("x", "string", None, "a|b")})


@pytest.mark.parametrize("name", [n for n, k in KEYS.items() if k.default not in (REQUIRED, None)])
def test_each_default_is_accepted_when_set_and_is_what_backup_config_holds(name):
    key = KEYS[name]
    value = key.default
    shown = (json.dumps(list(value)) if isinstance(value, tuple) else json.dumps(value) if not isinstance(value, str)
             else value)

    config = parse_config({**MINIMAL, key.full_name: shown}, stack="prod")

    assert config == parse_config(MINIMAL, stack="prod") == BackupConfig(
        stack="prod", region="eu-west-1", pools=(Pool("eu-west-1_AbCd12345", "prod-users"),),
        snapshot_readers=("arn:aws:iam::123456789012:role/cognito-backup-restore",))


# The shortest retention classes, so that a class's own bounds are tested, not the rule that each
# class is kept at least as long as the one before.
SHORT_RETENTION = {"cognito-backup:retentionDailyDays": "1", "cognito-backup:retentionWeeklyDays": "1"}


def _problems_for(key: StackKey, value: object) -> list[str]:
    try:
        parse_config({**MINIMAL, **SHORT_RETENTION, key.full_name: str(value)}, stack="prod")
    except StackConfigError as error:
        return [p for p in error.problems if p.startswith(f"{key.full_name}: ")]
    return []


@pytest.mark.parametrize("name", [n for n, k in KEYS.items() if k.kind == "integer"])
def test_integer_keys_are_bounded_as_the_table_says(name):
    key = KEYS[name]
    if key.choices:
        accepted, refused = list(key.choices), [min(key.choices) - 1, max(key.choices) + 1, key.choices[1] - 1]
    else:
        accepted, refused = [key.low, key.high], [key.low - 1, key.high + 1]

    for value in accepted:
        assert _problems_for(key, value) == [], value
    for value in refused:
        assert _problems_for(key, value), value


def test_the_regenerator_leaves_up_to_date_documents_alone():
    assert stack_keys.main(["--check"]) == 0
