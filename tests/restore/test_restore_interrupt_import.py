"""Issue 17: the interruption sweep of test_restore_interrupt.py, by the import path (``--users-via import``).

The same source pool (interrupt_support.py) is restored with user import jobs (``aws_fakes.AwsRules`` plays them:
moto lacks them; a job creates its file's users when it starts). The import files are made small
(IMPORT_FIRST_ROWS = 10: files of 10, 40 and the rest), so that the first job's users are in the pool while the
next jobs run: their memberships and disabling go on meanwhile, the users without a verified email are created
by AdminCreateUser alongside, and the pool is listed at the end for the new subs. The restore is stopped at the
first, a middle and the last call of each kind of call of these overlapping phases (the jobs' calls, the user
writes, the listing), in the three ways of the sweep (crash, answer lost, error), and the operator runs what it
printed.

What must hold over the two runs: every snapshot user was created exactly once (by a job that started, or by
AdminCreateUser), every other write was carried out once (import jobs themselves may be created again: a job
created but never started is harmless, it expires), the pool is exactly the snapshot's, no app client existed
while a user disabled in the snapshot was enabled (a started job's users are enabled), and the triggers came
after the last user write.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import partial
from typing import Any

import pytest

from cognito_backup.restore import cli as restore_cli
from cognito_backup.restore import import_jobs
from cognito_backup.restore.runner import restore_snapshot
from tests.restore.aws_fakes import AwsRules
from tests.restore.call_order import (
    assert_no_window_for_disabled_users,
    assert_overlapped,
    assert_triggers_attached_last,
)
from tests.restore.interrupt_support import (
    DISABLED_USERS,
    MODES,
    Interruption,
    assert_pool_is_the_snapshot,
    fresh_case,
    moto_world,
    next_command,
    points,
    pools_named,
    restore_argv,
    run_cli,
)

IMPORT_ROLE = "arn:aws:iam::123456789012:role/cognito-import-logs"
IMPORT_ARGS = ("--users-via", "import", "--import-role-arn", IMPORT_ROLE)
FILES = [10, 40, 14]  # users per import file: the 64 with a verified email
USERS = 80
# The writes of a clean restore that a restore and its resume carry out once between them, whatever happened.
WRITES_ONCE = {
    "CreateUserPool": 1,
    "AddCustomAttributes": 1,
    "SetUserPoolMfaConfig": 1,
    "CreateResourceServer": 1,
    "CreateIdentityProvider": 1,
    "CreateGroup": 5,
    "AdminCreateUser": USERS - sum(FILES),  # no verified email: not importable
    "AdminAddUserToGroup": 85,
    "AdminDisableUser": 4,
    "CreateUserPoolClient": 2,
    "CreateUserPoolDomain": 1,
    "UpdateUserPool": 1,
}
JOB_CALLS = {"CreateUserImportJob": len(FILES), "StartUserImportJob": len(FILES)}
# Where the sweep stops the restore: the overlapping phases' calls (jobs, user writes, the listing for the subs).
SWEPT = {**JOB_CALLS, "DescribeUserImportJob": len(FILES), "AdminCreateUser": WRITES_ONCE["AdminCreateUser"],
         "AdminAddUserToGroup": 85, "AdminDisableUser": 4, "ListUsers": 16, "CreateUserPoolClient": 2,
         "UpdateUserPool": 1}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from moto_world(tmp_path_factory)


@pytest.fixture
def case(world, request):
    yield from fresh_case(world, request)


@pytest.fixture
def jobs(world, monkeypatch):
    """AWS's import jobs, for every Cognito client the command line makes; small import files; the CSV uploaded
    to the fake (its pre-signed URL is not a real one), and no waiting between polls."""
    rules = AwsRules(world.cognito)
    monkeypatch.setattr(import_jobs, "IMPORT_FIRST_ROWS", FILES[0])
    monkeypatch.setattr(restore_cli, "restore_snapshot",
                        partial(restore_snapshot, uploader=rules.upload, sleep=lambda _s: None))
    return rules


def note_polls(recorder: Interruption, client: Any) -> None:
    """Record each DescribeUserImportJob among the calls carried out (the recorder keeps writes only)."""
    def polled(**_: Any) -> None:
        with recorder._lock:
            recorder.carried_out.append(("DescribeUserImportJob", {}))
    client.meta.events.register("after-call.cognito-identity-provider.DescribeUserImportJob", polled)


def created_once(rules: AwsRules, *runs: Interruption) -> Counter:
    """How many times each user was created: by a job that started, or by AdminCreateUser."""
    made = Counter(name for names in rules.imported().values() for name in names)
    made.update(p["Username"] for run in runs for op, p in run.carried_out if op == "AdminCreateUser")
    return made


def test_a_clean_import_restore_overlaps_its_phases_and_makes_the_calls_the_sweep_interrupts(world, case, jobs,
                                                                                           tmp_path, capsys,
                                                                                           monkeypatch):
    # Given jobs that run for a while (three polls of 50 ms each), as AWS's do
    recorder = Interruption()
    world.hooks[:] = [recorder.attach, jobs.attach_import_jobs, partial(note_polls, recorder)]
    jobs.job_polls = 3
    monkeypatch.setattr(restore_cli, "restore_snapshot",
                        partial(restore_snapshot, uploader=jobs.upload, sleep=lambda _s: time.sleep(0.05)))

    code, report, err = run_cli(restore_argv(world, case, tmp_path, *IMPORT_ARGS), capsys)

    assert code == 0, err
    assert report["status"] == "ok", report["failures"]
    assert Counter(recorder.done) == {**WRITES_ONCE, **JOB_CALLS}, "a new write call? add it to the sweep"
    assert [len(names) for names in jobs.imported().values()] == FILES
    calls = Counter(op for op, _ in recorder.carried_out)
    assert {op: calls[op] for op in SWEPT if op not in ("DescribeUserImportJob", "ListUsers")} == {
        op: n for op, n in SWEPT.items() if op not in ("DescribeUserImportJob", "ListUsers")}
    # The first jobs' users got their memberships and disabling while the last job ran (it runs for 150 ms).
    assert_overlapped(recorder.carried_out, "AdminAddUserToGroup", "DescribeUserImportJob")
    assert_overlapped(recorder.carried_out, "AdminDisableUser", "DescribeUserImportJob")
    assert set(created_once(jobs, recorder).values()) == {1} and len(created_once(jobs, recorder)) == USERS
    assert_no_window_for_disabled_users(recorder.carried_out, DISABLED_USERS, jobs.imported())
    assert_triggers_attached_last(recorder.carried_out)
    assert_pool_is_the_snapshot(world, report["target_user_pool_id"], tmp_path / "mapping.json",
                                frozenset({"created", "imported"}))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("operation", "n"), points(SWEPT))
def test_an_interrupted_import_restore_finishes_on_rerun_with_every_user_created_once(world, case, jobs, tmp_path,
                                                                                      capsys, operation, n, mode):
    interruption = Interruption(operation, n, mode)
    world.hooks[:] = [interruption.attach, jobs.attach_import_jobs]
    argv = restore_argv(world, case, tmp_path, *IMPORT_ARGS)

    # The first run stops at that call.
    code, _, err = run_cli(argv, capsys)
    assert interruption.fired, f"{operation} #{n} was never called"
    assert code == (1 if mode == "error" else 130), err
    (created,) = pools_named(world.cognito, case)

    # The operator runs what it printed: the resume command.
    again = next_command(world, argv, err)
    assert "--resume" in again and again[again.index("--target-pool-id") + 1] == created, err
    assert again[again.index("--users-via") + 1] == "import"
    rerun = Interruption()
    world.hooks[:] = [rerun.attach, jobs.attach_import_jobs]
    code, report, err = run_cli(again, capsys)

    assert code == 0, err
    assert report["status"] == "ok", report["failures"]
    assert pools_named(world.cognito, case) == [created]
    assert_pool_is_the_snapshot(world, created, tmp_path / "mapping.json",
                                frozenset({"created", "existed", "imported"}))
    # Every user created once over the two runs; every other write once (MFA: every run sets it, idempotent).
    made = created_once(jobs, interruption, rerun)
    assert len(made) == USERS and set(made.values()) == {1}, made.most_common(3)
    both = Counter(interruption.done) + Counter(rerun.done)
    assert rerun.done.count("SetUserPoolMfaConfig") == 1
    both["SetUserPoolMfaConfig"] = 1
    assert {op: n for op, n in both.items() if op not in JOB_CALLS} == WRITES_ONCE
    # Across the stop and the resume: never a client while a disabled user is enabled; triggers last.
    calls = interruption.carried_out + rerun.carried_out
    assert_no_window_for_disabled_users(calls, DISABLED_USERS, jobs.imported())
    assert_triggers_attached_last(calls)


def test_a_resume_waits_for_the_import_job_the_stopped_run_left_running(world, case, tmp_path, capsys, monkeypatch):
    # Given a restore stopped while its first import job runs (AWS carries on with the job without it)
    rules = AwsRules(world.cognito, job_polls=3)
    monkeypatch.setattr(import_jobs, "IMPORT_FIRST_ROWS", FILES[0])
    monkeypatch.setattr(restore_cli, "restore_snapshot",
                        partial(restore_snapshot, uploader=rules.upload, sleep=lambda _s: None))
    stop = Interruption("DescribeUserImportJob", 1, "crash")
    world.hooks[:] = [stop.attach, rules.attach_import_jobs]
    argv = restore_argv(world, case, tmp_path, *IMPORT_ARGS)
    code, _, err = run_cli(argv, capsys)
    assert code == 130 and stop.fired, err
    (job,) = rules.jobs.values()
    assert job["Status"] == "InProgress"  # its users are not in the pool yet

    # When the operator runs the resume command
    rerun = Interruption()
    world.hooks[:] = [rerun.attach, rules.attach_import_jobs]
    code, report, err = run_cli(next_command(world, argv, err), capsys)

    # Then the resume waited for that job, found its users in the pool, and imported only the others
    assert code == 0 and report["status"] == "ok", err
    assert f"import job {job['JobId']} of an earlier run is still InProgress: waiting for it to end" in err
    assert job["Status"] == "Succeeded"
    made = created_once(rules, stop, rerun)
    assert len(made) == USERS and set(made.values()) == {1}, made.most_common(3)
    assert_pool_is_the_snapshot(world, report["target_user_pool_id"], tmp_path / "mapping.json",
                                frozenset({"created", "existed", "imported"}))
    assert_no_window_for_disabled_users(stop.carried_out + rerun.carried_out, DISABLED_USERS, rules.imported())
