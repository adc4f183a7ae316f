"""zizmor over `.github/`: what actionlint does not look for (actions not pinned to a commit, secrets
outside environments, template injection, credentials persisted by checkout, excessive permissions...).

No finding of high severity; no medium one unless it is listed in ``JUSTIFIED`` with the reason it
stays. zizmor runs offline (`--offline`): its online audits (known-vulnerable actions, impostor
commits) need GitHub's API, which the tests do not reach.

Low findings are reported, not failed. Today they are four `self-repository` hints (use `$/...` for a
local reusable workflow instead of `./...`): `./` is the reference GitHub documents and actionlint
checks, so they stay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Medium findings that stay, by (audit, workflow file): none.
JUSTIFIED: dict[tuple[str, str], str] = {}


def zizmor_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "zizmor"
    return str(beside_python) if beside_python.exists() else shutil.which("zizmor")


def zizmor(target: Path) -> list[dict]:
    binary = zizmor_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("zizmor is not installed: requirements.txt lists it")
        pytest.skip("zizmor is not installed (pip install -r requirements.txt installs it)")
    result = subprocess.run([binary, "--offline", "--no-progress", "--format", "json", "--no-exit-codes",
                             str(target)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"zizmor failed to run:\n{result.stderr}"
    return json.loads(result.stdout)


def describe(finding: dict) -> str:
    where = finding["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]
    row = finding["locations"][0]["concrete"]["location"]["start_point"]["row"] + 1
    return f"{finding['determinations']['severity']} {finding['ident']} at {where}:{row}: {finding['desc']}"


def by_severity(findings: list[dict], *severities: str) -> list[dict]:
    return [f for f in findings if f["determinations"]["severity"] in severities and not f.get("ignored")]


def test_zizmor_finds_nothing_high_and_no_unjustified_medium():
    findings = zizmor(ROOT / ".github")

    high = by_severity(findings, "High")
    assert not high, "zizmor:\n" + "\n".join(map(describe, high))
    medium = [f for f in by_severity(findings, "Medium")
              if (f["ident"], Path(f["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]).name)
              not in JUSTIFIED]
    assert not medium, "zizmor (justify in JUSTIFIED or fix):\n" + "\n".join(map(describe, medium))


def test_zizmor_would_catch_an_unpinned_action_and_a_template_injection(tmp_path):
    """The check above can fail: the same call flags a workflow with a tag-pinned action and a pull
    request's title expanded into a shell."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "broken.yml").write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v6\n        with:\n          persist-credentials: false\n"
        "      - run: echo \"${{ github.event.pull_request.title }}\"\n")

    found = {f["ident"] for f in by_severity(zizmor(tmp_path / ".github"), "High")}

    assert {"unpinned-uses", "template-injection"} <= found, found
