"""The command line's shell: one broken command breaks nothing but itself; help needs no command module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cognito_backup import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def with_a_broken_command(monkeypatch, tmp_path):
    (tmp_path / "broken_command_for_tests.py").write_text("raise RuntimeError('this command is broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "broken", ("broken_command_for_tests", "a command that cannot load"))


def test_a_command_that_cannot_load_fails_alone_with_a_clear_error(with_a_broken_command, capsys):
    assert cli.main(["broken"]) == 2

    err = capsys.readouterr().err
    assert "the broken command cannot be loaded" in err and "this command is broken" in err


def test_the_other_commands_still_run_when_one_cannot_load(with_a_broken_command, tmp_path, capsys):
    missing = tmp_path / "nothing.json"

    code = cli.main(["verify", str(missing)])

    out = capsys.readouterr()
    assert code == 1 and "does not exist" in out.out + out.err
    assert "broken" not in out.err


def test_help_lists_every_command_without_importing_any(capsys):
    code = subprocess.run(
        [sys.executable, "-c", "import sys; from cognito_backup.cli import main\n"
         "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
         "print(sorted(m for m in sys.modules if m.startswith('cognito_backup.') and m not in "
         "('cognito_backup.cli', 'cognito_backup.output')))"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert code.returncode == 0, code.stderr
    for name in cli.COMMANDS:
        assert name in code.stdout
    assert code.stdout.strip().splitlines()[-1] == "[]", "help imported command modules"


@pytest.mark.parametrize("entry", ["cognito_backup", "backup_lambda"])
def test_both_entry_points_run_the_command_line(entry):
    proc = subprocess.run([sys.executable, "-m", entry, "list", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--bucket" in proc.stdout
