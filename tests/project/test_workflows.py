"""The GitHub workflows: actionlint over all of them, and what matters in each, checked as data.

What matters: the triggers; `permissions` (top level `contents: read`, widened per job only where
needed); AWS credentials only through OIDC (`role-to-assume`, never keys); previews skipped for forks
and run only after the tests; deploys in the stack's environment with a per-stack concurrency group
that never cancels; the snapshot button's inputs; one matrix entry / choice per `Pulumi.<stack>.yaml`.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cognito_backup import invoke

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
# The stacks of the Pulumi program: one Pulumi.<stack>.yaml each, at the root.
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))

# Oldest major version of each action that still runs on the runners (Node 24).
MIN_MAJOR = {
    "actions/checkout": 6,
    "actions/setup-python": 6,
    "pulumi/actions": 7,
    "aws-actions/configure-aws-credentials": 6,
}
CONFIGURE_AWS = "aws-actions/configure-aws-credentials"
FORK_CHECK = "github.event.pull_request.head.repo.full_name == github.repository"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    """The `on:` mapping (PyYAML reads the bare key `on` as the boolean True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def uses(job: dict, action: str) -> list[dict]:
    return [s for s in steps(job) if str(s.get("uses", "")).split("@")[0] == action]


def all_jobs() -> list[tuple[str, str, dict]]:
    return [(path.name, name, job) for path in WORKFLOW_FILES
            for name, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items()]


def stacks() -> list[str]:
    """The stacks the workflows must cover: one per Pulumi.<stack>.yaml."""
    found = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACK_FILES)
    assert found, "no Pulumi.<stack>.yaml at the repository root"
    return found


def test_there_are_the_expected_workflows():
    assert {p.name for p in WORKFLOW_FILES} == {"tests.yml", "preview.yml", "deploy.yml", "_deploy-stack.yml",
                                                 "snapshot.yml", "restore-drill.yml"}


# --------------------------------------------------------------------------------------------------
# actionlint


def actionlint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "actionlint"
    return str(beside_python) if beside_python.exists() else shutil.which("actionlint")


def test_actionlint_passes_on_every_workflow():
    binary = actionlint_binary()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install -r requirements.txt installs it)")
    result = subprocess.run([binary, "-no-color", *map(str, WORKFLOW_FILES)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    """The check above can fail: the same call flags a workflow with an unknown permission."""
    binary = actionlint_binary()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install -r requirements.txt installs it)")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions:\n"
                      "      id-tokens: write\n    steps:\n      - run: echo hi\n")
    result = subprocess.run([binary, "-no-color", str(broken)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and "id-tokens" in result.stdout


# --------------------------------------------------------------------------------------------------
# Every workflow


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_top_level_permissions_are_contents_read(path):
    assert yaml.safe_load(path.read_text()).get("permissions") == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_long_lived_aws_keys(path):
    text = path.read_text()
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID",
                      "AWS_SECRET_ACCESS_KEY", "aws-session-token"):
        assert forbidden not in text, f"{path.name} mentions {forbidden}: use OIDC (role-to-assume) only"


@pytest.mark.parametrize(("workflow", "job_name", "job"), all_jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_aws_credentials_only_through_oidc_with_id_token_only_where_needed(workflow, job_name, job):
    permissions = job.get("permissions") or {}
    configure = uses(job, CONFIGURE_AWS)
    calls_aws_workflow = job.get("uses") == "./.github/workflows/_deploy-stack.yml"
    if configure or calls_aws_workflow:
        assert permissions.get("id-token") == "write", f"{workflow}:{job_name} needs id-token: write for OIDC"
        assert permissions.get("contents") == "read", f"{workflow}:{job_name} must keep contents: read"
    else:
        assert "id-token" not in permissions, f"{workflow}:{job_name} asks for an OIDC token it does not use"
    for step in configure:
        with_ = step.get("with") or {}
        assert re.fullmatch(r"\$\{\{ vars\.AWS_[A-Z]+_ROLE_ARN \}\}", str(with_.get("role-to-assume"))), \
            f"{workflow}:{job_name}: role-to-assume must come from a repository variable"
        assert set(with_) <= {"role-to-assume", "role-session-name", "role-duration-seconds", "aws-region"}


@pytest.mark.parametrize(("workflow", "job_name", "job"), all_jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_only_the_preview_job_may_write_to_pull_requests(workflow, job_name, job):
    permissions = job.get("permissions") or {}
    writes = {scope for scope, level in permissions.items() if level == "write"}
    allowed = {"id-token"} | ({"pull-requests"} if (workflow, job_name) == ("preview.yml", "preview") else set())
    assert writes <= allowed, f"{workflow}:{job_name} writes {sorted(writes - allowed)}"


def test_each_role_is_used_where_it_belongs():
    roles = {(w, j): uses(job, CONFIGURE_AWS)[0]["with"]["role-to-assume"]
             for w, j, job in all_jobs() if uses(job, CONFIGURE_AWS)}
    expected = {
        ("preview.yml", "preview"): "${{ vars.AWS_PREVIEW_ROLE_ARN }}",
        ("_deploy-stack.yml", "up"): "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        ("snapshot.yml", "snapshot"): "${{ vars.AWS_SNAPSHOT_ROLE_ARN }}",
    }
    assert {k: v for k, v in roles.items() if k in expected} == expected
    # the restore drill's jobs assume the drill role, and nothing else assumes a role
    assert {v for k, v in roles.items() if k not in expected} <= {"${{ vars.AWS_DRILL_ROLE_ARN }}"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_on_current_major_versions(path):
    for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
        for step in steps(job):
            ref = step.get("uses")
            if not ref or ref.startswith("./"):
                continue
            action, _, version = ref.partition("@")
            assert action in MIN_MAJOR, f"{path.name}: {action} is not an action the project has vetted"
            major = re.fullmatch(r"v(\d+)", version)
            assert major and int(major[1]) >= MIN_MAJOR[action], f"{path.name}: {ref} is out of date"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_python_is_313_quoted(path):
    for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
        for step in uses(job, "actions/setup-python"):
            assert step["with"]["python-version"] == "3.13"  # a string, not the float 3.13
            assert step["with"]["cache"] == "pip"


# The lock each job installs (requirements/README.md): the tests everything, the program's jobs the program,
# the snapshot button and the drill the command line.
JOB_LOCKS = {
    ("tests.yml", "tests"): "dev",
    ("preview.yml", "preview"): "program",
    ("_deploy-stack.yml", "up"): "program",
    ("snapshot.yml", "snapshot"): "cli",
    ("restore-drill.yml", "pools"): "cli",
    ("restore-drill.yml", "drill"): "cli",
}


def test_every_job_that_sets_up_python_has_a_lock():
    with_python = {(w, j) for w, j, job in all_jobs() if uses(job, "actions/setup-python")}
    assert with_python == set(JOB_LOCKS)


@pytest.mark.parametrize(("workflow", "job_name"), sorted(JOB_LOCKS), ids=lambda v: v)
def test_each_job_installs_its_lock_with_hashes_and_nothing_resolved(workflow, job_name):
    job = load(workflow)["jobs"][job_name]
    lock = f"requirements/{JOB_LOCKS[(workflow, job_name)]}.txt"
    assert (ROOT / lock).is_file()
    installs = [line for s in steps(job) for line in str(s.get("run", "")).splitlines() if "pip install" in line]
    assert installs, f"{workflow}:{job_name} installs nothing"
    for line in installs:
        argv = shlex.split(line)
        assert "--require-hashes" in argv and "--no-deps" in argv, f"{workflow}:{job_name}: {line}"
        assert argv[argv.index("-r") + 1] == lock, f"{workflow}:{job_name} must install {lock}: {line}"
    [setup] = uses(job, "actions/setup-python")
    assert setup["with"]["cache-dependency-path"] == lock  # the pip cache follows the lock


# --------------------------------------------------------------------------------------------------
# Tests


def test_tests_run_on_every_push_and_pull_request_and_can_be_called():
    wf = load("tests.yml")
    assert set(triggers(wf)) == {"push", "pull_request", "workflow_call"}
    assert triggers(wf)["push"] is None and triggers(wf)["pull_request"] is None  # no branch/path filter
    runs = [s.get("run", "") for s in steps(wf["jobs"]["tests"])]
    assert "python -m ruff check ." in runs
    assert "actionlint" in runs
    assert "python -m pytest -q" in runs


# --------------------------------------------------------------------------------------------------
# Preview


def test_preview_runs_on_pull_requests_touching_the_program_or_the_lambda():
    on = triggers(load("preview.yml"))
    assert set(on) == {"pull_request"}
    paths = on["pull_request"]["paths"]
    for needed in ("__main__.py", "infra/**", "backup_lambda/**", "Pulumi.yaml", "Pulumi.*.yaml",
                   "requirements.txt"):
        assert needed in paths


def test_preview_runs_after_the_tests_and_is_skipped_for_forks():
    jobs = load("preview.yml")["jobs"]
    assert jobs["tests"]["uses"] == "./.github/workflows/tests.yml"
    assert jobs["preview"]["needs"] == "tests"
    assert jobs["preview"]["if"] == FORK_CHECK
    assert jobs["tests"]["if"] == FORK_CHECK


def test_preview_covers_every_stack_and_comments_on_the_pull_request():
    job = load("preview.yml")["jobs"]["preview"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == stacks()
    assert job["strategy"]["fail-fast"] is False
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    [pulumi] = uses(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert "matrix.stack" in pulumi["with"]["stack-name"]
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    # a cancelled preview would leave the S3 backend's lock behind
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "matrix.stack" in job["concurrency"]["group"]


# --------------------------------------------------------------------------------------------------
# Deploy


def test_deploy_runs_on_push_to_main_after_the_tests():
    wf = load("deploy.yml")
    on = triggers(wf)
    assert on["push"]["branches"] == ["main"]
    assert set(on) <= {"push", "workflow_dispatch"}
    jobs = wf["jobs"]
    assert jobs["tests"]["uses"] == "./.github/workflows/tests.yml"
    deploys = {name: job for name, job in jobs.items() if job.get("uses") == "./.github/workflows/_deploy-stack.yml"}
    assert sorted(job["with"]["stack"] for job in deploys.values()) == stacks()
    for name, job in deploys.items():
        assert job["if"] == "github.ref == 'refs/heads/main'", name
        assert set(job["secrets"]) == {"PULUMI_ACCESS_TOKEN"}, f"{name}: pass only the secrets it needs"


def test_deploys_wait_for_the_tests_and_prod_for_staging():
    jobs = load("deploy.yml")["jobs"]

    def upstream(name: str) -> set[str]:
        needs = jobs[name].get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        return set(needs).union(*(upstream(n) for n in needs)) if needs else set()

    assert upstream("staging") == {"tests"}
    assert upstream("prod") == {"tests", "staging"}


def test_each_stack_deploys_in_its_environment_one_at_a_time_never_cancelled():
    wf = load("_deploy-stack.yml")
    call = triggers(wf)["workflow_call"]
    assert set(triggers(wf)) == {"workflow_call"}
    assert call["inputs"]["stack"] == {"description": call["inputs"]["stack"]["description"],
                                       "required": True, "type": "string"}
    job = wf["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"]["group"] == "deploy-${{ inputs.stack }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    [pulumi] = uses(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert "inputs.stack" in pulumi["with"]["stack-name"]


# --------------------------------------------------------------------------------------------------
# Snapshot on demand


def test_snapshot_button_inputs():
    wf = load("snapshot.yml")
    on = triggers(wf)
    assert set(on) == {"workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"stack", "pool"}
    assert inputs["stack"]["type"] == "choice"
    assert sorted(inputs["stack"]["options"]) == stacks()
    assert inputs["stack"]["required"] is True
    assert inputs["pool"]["type"] == "string"
    assert inputs["pool"]["required"] is True
    assert inputs["pool"]["default"] == "all"


def test_snapshot_runs_one_at_a_time_per_stack_from_main():
    wf = load("snapshot.yml")
    assert wf["concurrency"] == {"group": "snapshot-${{ inputs.stack }}", "cancel-in-progress": False}
    job = wf["jobs"]["snapshot"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    guard = steps(job)[0]
    assert guard["if"] == "github.ref != 'refs/heads/main'" and "exit 1" in guard["run"]


def test_snapshot_credentials_last_as_long_as_the_job():
    job = load("snapshot.yml")["jobs"]["snapshot"]
    [configure] = uses(job, CONFIGURE_AWS)
    assert configure["with"]["role-duration-seconds"] >= job["timeout-minutes"] * 60


def test_snapshot_reads_the_outputs_then_invokes_through_the_cli():
    job = load("snapshot.yml")["jobs"]["snapshot"]
    runs = [s.get("run", "") for s in steps(job)]
    outputs_step = next(r for r in runs if "pulumi stack output" in r)
    assert outputs_step == 'pulumi stack output --json --stack "$STACK" > "$RUNNER_TEMP/outputs.json"'
    invoke_step = next(r for r in runs if "python -m cognito_backup invoke" in r)
    argv = shlex.split(invoke_step)
    assert argv[:4] == ["python", "-m", "cognito_backup", "invoke"]
    # the exact arguments the workflow passes are ones the command accepts
    parser = argparse.ArgumentParser()
    invoke.add_arguments(parser)
    args = parser.parse_args(argv[4:])
    assert args.stack_outputs == "$RUNNER_TEMP/outputs.json"
    assert args.pool == "$POOL"
    assert args.summary == "$GITHUB_STEP_SUMMARY"
    assert job["env"]["POOL"] == "${{ inputs.pool }}"
    assert "inputs.stack" in job["env"]["STACK"]
