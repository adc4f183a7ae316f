"""Local files: a restore's mapping file (usernames, subs) is owner-only whatever the umask, and git ignores
it; untrusted JSON (snapshots, manifests, mapping files) nested absurdly deep or holding huge numbers is
refused with the usual short error, never a traceback."""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from pathlib import Path

import pytest

from cognito_backup import cli
from cognito_backup.json_limits import MAX_DEPTH
from tests.support.snapshot_builder import make_snapshot, write_local

ROOT = Path(__file__).resolve().parents[2]


def test_the_mapping_file_is_owner_only_whatever_the_umask(cognito, tmp_path, monkeypatch):
    snapshot = write_local(tmp_path, make_snapshot())
    mapping = tmp_path / "restore-mapping-x.json"
    mapping.write_text("{}")
    mapping.chmod(0o644)  # a file left by another run, readable by all: tightened
    old = os.umask(0)
    try:
        assert cli.main(["restore", str(snapshot), "--new-pool-name", "copy", "--mapping-file", str(mapping),
                         "--work-dir", str(tmp_path)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(mapping.stat().st_mode) == 0o600
    assert json.loads(mapping.read_text())["users"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([snapshot.name, mapping.name,
                                                                  snapshot.name.replace(".json", ".manifest.json")])


def test_git_ignores_the_mapping_files_a_restore_writes_where_it_runs():
    patterns = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for name in ("restore-mapping-eu-west-1_AbC123.json", "restore-mapping-eu-west-1_AbC123.json.tmp"):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name


def nested(depth: int):
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def raw_snapshot(tmp_path: Path, change) -> Path:
    """A snapshot whose bytes ``change`` rewrote, with a manifest that matches them (sha256, bytes)."""
    doc = make_snapshot()
    text = change(json.dumps(doc))
    return write_local(tmp_path, doc, data=text.encode())


BAD_JSON = {
    "a 5,000-digit integer": (lambda t: t.replace('"summary": {', '"summary": {"huge": ' + "9" * 5000 + ", ", 1),
                              "a number of 5,000 characters (at most 100)"),
    "a 5,000-digit float in a user": (
        lambda t: t.replace('"Username": ', '"Score": 1.' + "5" * 5000 + ', "Username": ', 1),
        "a number of 5,002 characters"),
    "nesting of 1,000 in the pool": (
        lambda t: t.replace('"pool": {', '"pool": {"deep": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + ", ", 1),
        f"nested deeper than {MAX_DEPTH} levels"),
    "nesting of 100,000 in a group": (
        lambda t: t.replace('"GroupName": ', '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "GroupName": ', 1),
        f"nested deeper than {MAX_DEPTH} levels"),
    "NaN": (lambda t: t.replace('"summary": {', '"summary": {"nan": NaN, ', 1), "NaN is not a JSON number"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_absurd_json_in_a_snapshot_is_a_short_error(aws, tmp_path, capsys, case):
    change, says = BAD_JSON[case]
    path = raw_snapshot(tmp_path, change)

    assert cli.main(["verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert says in out and "Traceback" not in out + err, out
    assert cli.main(["restore", str(path), "--new-pool-name", "copy", "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert says in err and "Traceback" not in out + err and len(err) < 2000, err


def test_a_snapshot_just_inside_the_limits_is_read(tmp_path):
    from cognito_backup.verify import verify_snapshot

    deep = raw_snapshot(tmp_path, lambda t: t.replace('"pool": {', '"pool": {"deep": ' + json.dumps(
        nested(MAX_DEPTH - 2)) + ', "n": ' + "9" * 100 + ", ", 1))
    assert verify_snapshot(str(deep))["ok"]


@pytest.mark.parametrize("manifest", ["[" * 100_000 + "]" * 100_000, '{"bytes": ' + "1" * 5000 + "}"])
def test_an_absurd_manifest_is_a_short_error(tmp_path, capsys, manifest):
    path = write_local(tmp_path, make_snapshot())
    path.with_name(path.name.replace(".json", ".manifest.json")).write_text(manifest)

    assert cli.main(["verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "is not valid JSON" in out and "Traceback" not in out + err


def test_an_absurd_mapping_file_is_a_short_error(tmp_path, capsys):
    from backup_lambda.errors import ConfigError
    from cognito_backup.restore.report import read_mapping_head

    mapping = tmp_path / "m.json"
    mapping.write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + ',\n "users": [\n ]\n}\n')
    with pytest.raises(ConfigError, match="is not a restore's mapping file"):
        read_mapping_head(str(mapping))


@pytest.mark.parametrize("option", ["--secrets", "--overrides"])
@pytest.mark.parametrize(("content", "says"), [
    ("[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
    ('{"x": ' + "7" * 5000 + "}", "a number of 5,000 characters"),
    ('{"x": ', "Expecting value, line 1"),
    (b"\xff\xfe{}", "is not UTF-8 text"),
])
def test_an_absurd_option_file_is_a_short_error_naming_the_option(tmp_path, capsys, option, content, says):
    snapshot = write_local(tmp_path, make_snapshot())
    bad = tmp_path / "option.json"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())

    assert cli.main(["restore", str(snapshot), "--new-pool-name", "copy", "--dry-run", option, str(bad)]) == 2
    out, err = capsys.readouterr()
    assert f"{option} {bad}" in err and says in err and "Traceback" not in out + err and len(err) < 2000, err
