"""The GitHub workflows: actionlint over all of them, and what matters in each, checked as data.

What matters: the triggers; `permissions` (top level `contents: read`, widened per job only where
needed); AWS credentials only through OIDC (`role-to-assume`, never keys); every action pinned to a
full commit SHA with its version in a comment; secrets only in jobs that run in a GitHub environment
(the Pulumi token is an environment secret: pull-request code never sees a deploy's); previews skipped
for forks and run only after the tests; deploys in the stack's environment with a per-stack
concurrency group that never cancels; the snapshot button's inputs; one matrix entry / choice per
`Pulumi.<stack>.yaml`. zizmor's audit of the workflows is in tests/project/test_zizmor.py.
"""

from __future__ import annotations

import argparse
import modulefinder
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cognito_backup import invoke
from infra.function_package import engine_files

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


# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`: a tag can be moved to other code, a commit cannot.
PINNED_USES_RE = re.compile(r"uses: (?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40})"
                            r" # (?P<version>v(?P<major>\d+)\.\d+\.\d+)")
USES_LINE_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")


def uses_lines(text: str) -> list[tuple[int, str]]:
    """Every `uses:` line of a workflow as written (comments included: YAML drops them)."""
    return [(n, line.strip().removeprefix("- ")) for n, line in enumerate(text.splitlines(), 1)
            if USES_LINE_RE.match(line)]


def unpinned(text: str) -> list[str]:
    """The `uses:` lines that are not a local workflow and not pinned to a commit with its version."""
    bad = []
    for n, line in uses_lines(text):
        ref = USES_LINE_RE.match(line)["ref"]
        if ref.startswith("./"):
            continue
        if not PINNED_USES_RE.fullmatch(line):
            bad.append(f"line {n}: {line}")
    return bad


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(path):
    assert unpinned(path.read_text()) == [], f"{path.name}: pin each action to a commit (`@<sha> # vX.Y.Z`)"


@pytest.mark.parametrize(("line", "pinned"), [
    ("uses: actions/checkout@v6", False),
    ("uses: actions/checkout@main", False),
    ("uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803", False),  # which version is that?
    ("uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af80 # v6.1.0", False),  # 39 hex
    ("uses: actions/checkout@D23441A48E516B6C34AEA4FA41551A30E30AF803 # v6.1.0", False),
    ("uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803 # v6", False),
    ("uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803 # v6.1.0", True),
    ("- uses: aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c # v6.2.3", True),
    ("uses: ./.github/workflows/tests.yml", True),
])
def test_the_pin_check_refuses_tags_branches_and_bare_shas(line, pinned):
    assert (unpinned(f"jobs:\n  a:\n    steps:\n      {line}\n") == []) is pinned


def test_each_action_has_one_pin_across_the_workflows():
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOW_FILES:
        for _, line in uses_lines(path.read_text()):
            if match := PINNED_USES_RE.fullmatch(line):
                pins.setdefault(match["action"], set()).add((match["sha"], match["version"]))
    assert set(pins) == set(MIN_MAJOR)
    assert {action: len(p) for action, p in pins.items()} == dict.fromkeys(MIN_MAJOR, 1), pins


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_on_current_major_versions(path):
    for _, line in uses_lines(path.read_text()):
        match = PINNED_USES_RE.fullmatch(line)
        if not match:
            continue  # local workflows; anything else fails the pin check above
        action = match["action"]
        assert action in MIN_MAJOR, f"{path.name}: {action} is not an action the project has vetted"
        assert int(match["major"]) >= MIN_MAJOR[action], f"{path.name}: {action} {match['version']} is out of date"


def secret_references(node) -> set[str]:
    """The names of the secrets a workflow fragment reads (``secrets.X``)."""
    return set(re.findall(r"secrets\.([A-Za-z0-9_]+)", yaml.safe_dump(node)))


@pytest.mark.parametrize(("workflow", "job_name", "job"), all_jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_secrets_are_read_only_in_jobs_that_run_in_an_environment(workflow, job_name, job):
    """Environment secrets reach only the jobs of their environment (and its branch rule): the
    Pulumi token is one, per environment, so no repository secret exists for a pull request's code to
    read, and no job passes one on (`secrets:` of a reusable workflow call)."""
    assert "secrets" not in job, f"{workflow}:{job_name} passes secrets on; use the called job's environment"
    if secret_references(job) - {"GITHUB_TOKEN"}:
        assert job.get("environment"), f"{workflow}:{job_name} reads a secret outside a GitHub environment"


def test_no_workflow_reads_secrets_at_its_top_level():
    for path in WORKFLOW_FILES:
        workflow = yaml.safe_load(path.read_text())
        assert not secret_references({k: v for k, v in workflow.items() if k != "jobs"}), path.name


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


PROGRAM_JOBS = [(w, j) for (w, j), lock in JOB_LOCKS.items() if lock == "program"]


@pytest.mark.parametrize(("workflow", "job_name"), PROGRAM_JOBS, ids=lambda v: v)
def test_the_jobs_that_run_the_program_give_its_venv_the_pip_that_builds_the_sdk_layer(workflow, job_name):
    """The program builds the function's SDK layer (infra/sdk_layer.py) with `python -m pip` of the Python
    that runs it, Pulumi.yaml's .venv: the job must make that venv with pip, and run Pulumi in it."""
    job = load(workflow)["jobs"][job_name]
    lines = [line.strip() for s in steps(job) for line in str(s.get("run", "")).splitlines()]
    [make] = [shlex.split(line) for line in lines if " -m venv " in f" {line} "]
    assert make[-1] == ".venv" and "--without-pip" not in make, f"{workflow}:{job_name}: {make}"
    assert any(".venv/bin/python -m pip install" in line for line in lines)
    assert 'echo "$PWD/.venv/bin" >> "$GITHUB_PATH"' in lines  # the pulumi action runs the program with it
    assert "virtualenv: .venv" in (ROOT / "Pulumi.yaml").read_text()
    assert set(PROGRAM_JOBS) == {("preview.yml", "preview"), ("_deploy-stack.yml", "up")}


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
    assert job["environment"] == "preview"  # the preview role's trust, and its read-only token
    [pulumi] = uses(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert "matrix.stack" in pulumi["with"]["stack-name"]
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    # a cancelled preview would leave the S3 backend's lock behind
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "matrix.stack" in job["concurrency"]["group"]


# --------------------------------------------------------------------------------------------------
# Which changes preview and deploy (the same path filter for both)


GLOB_PARTS = {"**": ".*", "*": "[^/]*", "?": "[^/]"}


def path_filter_matches(patterns: list[str], path: str) -> bool:
    """GitHub's `paths` filter: `*` within a path segment, `**` across segments, `!` excludes; the last
    pattern that matches the path decides."""
    decision = False
    for pattern in patterns:
        glob = pattern.removeprefix("!")
        regex = "".join(GLOB_PARTS.get(part, re.escape(part)) for part in re.split(r"(\*\*|\*|\?)", glob))
        if re.fullmatch(regex, path):
            decision = not pattern.startswith("!")
    return decision


def deployed_files() -> set[str]:
    """What `pulumi up` deploys from: the program, its stack files and requirements, every module of the
    repository it imports (infra/ and what it takes from backup_lambda/), and the function's archive.
    The imports are read, not run (modulefinder)."""
    root = ROOT.resolve()
    finder = modulefinder.ModuleFinder(path=[str(root)])
    finder.run_script(str(root / "__main__.py"))
    files = {Path(m.__file__).resolve() for m in finder.modules.values() if m.__file__} | set(engine_files(root))
    modules = {f.relative_to(root).as_posix() for f in files if f.is_relative_to(root)}
    assert {"__main__.py", "infra/config.py", "backup_lambda/handler.py", "backup_lambda/permissions.py"} <= modules
    locks = {"requirements.txt", "requirements/program.txt", "requirements/lambda.txt"}
    return modules | {"Pulumi.yaml"} | locks | {p.name for p in STACK_FILES}


NOT_DEPLOYED = ["requirements/dev.txt", "cognito_backup/cli.py", "cognito_backup/restore/runner.py",
                "backup_lambda/__main__.py", "bootstrap/ci_access.py", "bootstrap/__main__.py",
                "tests/infra/test_urns.py", "docs/deploying.md", "README.md", "demo/__main__.py"]


@pytest.mark.parametrize("workflow", ["preview.yml", "deploy.yml"])
def test_preview_and_deploy_run_for_every_change_to_what_is_deployed_and_only_for_that(workflow):
    on = triggers(load(workflow))
    paths = on["pull_request" if workflow == "preview.yml" else "push"]["paths"]

    missed = sorted(f for f in deployed_files() if not path_filter_matches(paths, f))
    assert not missed, f"{workflow} would not run for a change to {missed}"
    assert [f for f in NOT_DEPLOYED if path_filter_matches(paths, f)] == []
    assert path_filter_matches(paths, f".github/workflows/{workflow}")


def test_the_path_filter_reads_globs_as_github_does():
    patterns = ["infra/**", "Pulumi.*.yaml", "backup_lambda/**", "!backup_lambda/__main__.py"]

    assert path_filter_matches(patterns, "infra/policies/storage.py")
    assert path_filter_matches(patterns, "Pulumi.prod.yaml")
    assert not path_filter_matches(patterns, "stacks/Pulumi.prod.yaml")  # "*" stays within a segment
    assert path_filter_matches(patterns, "backup_lambda/handler.py")
    assert not path_filter_matches(patterns, "backup_lambda/__main__.py")
    assert not path_filter_matches(patterns, "cognito_backup/cli.py")
    assert path_filter_matches([*patterns, "backup_lambda/__main__.py"], "backup_lambda/__main__.py")


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
        assert "secrets" not in job, f"{name}: the token is the stack's environment secret, not passed on"
    assert "secrets" not in triggers(load("_deploy-stack.yml"))["workflow_call"]


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
    assert job["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"  # the environment's
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
    assert job["environment"] == "snapshot"  # the snapshot role's trust, and its read-only token
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
