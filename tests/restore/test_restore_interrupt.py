"""Issue 8: "the restore survives interruption at any point and finishes on re-run without duplicates".

A rich pool (50 custom attributes, so that one is added after creation; MFA; a resource server; an OIDC
provider whose secret comes from --secrets; a client with and one without a secret; a domain; both halves
of the verification message; Lambda triggers (moto never invokes them); groups, one of them larger than a
ListUsersInGroup page; disabled and unconfirmed users; 80 users) is snapshotted once, in moto, for the
whole module (interrupt_support.py). A clean restore of it makes a known set of write calls
(``WRITE_CALLS``, checked by the first test), the users' memberships and disabling going on while later users
are still being created (issue 17: the pipeline). For each write operation, at its first, a middle and its last
call, the restore is then stopped (so also while users are created and memberships added at once), in three
ways:

- ``crash``: Ctrl-C just before the request leaves: AWS never sees the call, nothing more is sent, and
  the command exits 130 (a crash in a worker thread interrupts the main thread, as SIGINT would);
- ``answer-lost``: AWS carried the call out, then the process died before the answer arrived, so the
  restore never learned of it: the nastiest case for duplicates;
- ``error``: AWS answered InternalErrorException and it was not retried: the run goes on and ends
  INCOMPLETE (exit 1), or fails outright at CreateUserPool (exit 2).

Then the operator runs what the tool printed: the resume command (``--target-pool-id <new pool>
--resume``), or, where it printed none, the same command again. Both runs go through the real entry
point (``cognito_backup.cli.main``). The second run must succeed, and the pool must be exactly the
snapshot's (``diff --restored``), with nothing twice: one pool of that name, one client per name, one
user per snapshot user, one mapping entry per user.

Over the calls AWS carried out in both runs, in order: no app client exists while a user disabled in the
snapshot is enabled (a client is what lets a user sign in or reset a password), and the triggers are attached
(UpdateUserPool, a full replacement: moto, like AWS, resets every setting left out) after the last user write.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

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

# The write calls of a clean restore of the pool, with their counts: app clients only once users are in and
# disabled, the triggers last.
WRITE_CALLS = {
    "CreateUserPool": 1,
    "AddCustomAttributes": 1,
    "SetUserPoolMfaConfig": 1,
    "CreateResourceServer": 1,
    "CreateIdentityProvider": 1,
    "CreateGroup": 5,
    "AdminCreateUser": 80,
    "AdminAddUserToGroup": 85,
    "AdminDisableUser": 4,
    "CreateUserPoolClient": 2,
    "CreateUserPoolDomain": 1,
    "UpdateUserPool": 1,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from moto_world(tmp_path_factory)


@pytest.fixture
def case(world, request):
    yield from fresh_case(world, request)


def test_a_clean_restore_makes_the_write_calls_the_sweep_interrupts(world, case, tmp_path, capsys):
    recorder = Interruption()
    world.hooks.append(recorder.attach)

    code, report, err = run_cli(restore_argv(world, case, tmp_path), capsys)

    assert code == 0, err
    assert report["status"] == "ok"
    assert Counter(recorder.done) == WRITE_CALLS, "a new write call? add it to WRITE_CALLS, and so to the sweep"
    # Memberships and disabling began while later users were still being created.
    assert_overlapped(recorder.carried_out, "AdminAddUserToGroup", "AdminCreateUser")
    assert_overlapped(recorder.carried_out, "AdminDisableUser", "AdminCreateUser")
    assert_no_window_for_disabled_users(recorder.carried_out, DISABLED_USERS)
    assert_triggers_attached_last(recorder.carried_out)
    assert_pool_is_the_snapshot(world, report["target_user_pool_id"], tmp_path / "mapping.json")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("operation", "n"), points(WRITE_CALLS))
def test_an_interrupted_restore_finishes_on_rerun_without_duplicates(world, case, tmp_path, capsys, operation, n,
                                                                     mode):
    interruption = Interruption(operation, n, mode)
    world.hooks.append(interruption.attach)
    argv = restore_argv(world, case, tmp_path)

    # The first run stops at that call.
    code, report, err = run_cli(argv, capsys)
    world.hooks.clear()
    assert interruption.fired, f"{operation} #{n} was never called"
    if mode == "error":
        assert code == (2 if operation == "CreateUserPool" else 1), err
    else:
        assert code == 130, err  # interrupted, in the main thread too
    created = pools_named(world.cognito, case)
    assert len(created) == (0 if operation == "CreateUserPool" and mode != "answer-lost" else 1)
    if operation != "CreateUserPool":  # the partial mapping is there, and says so
        partial = json.loads((tmp_path / "mapping.json").read_text())
        assert partial["complete"] is False and partial["target_user_pool_id"] == created[0]

    # The operator runs what it printed (the resume command), else the same command again.
    again = next_command(world, argv, err)
    if operation == "CreateUserPool":
        assert again == argv, err  # it never learned of a pool: nothing to resume
    else:
        assert "--resume" in again and again[again.index("--target-pool-id") + 1] == created[0], err
    rerun = Interruption()
    world.hooks.append(rerun.attach)
    code, report, err = run_cli(again, capsys)

    assert code == 0, err
    assert report["status"] == "ok", report["failures"]
    pools = pools_named(world.cognito, case)
    assert len(pools) == 1, f"{len(pools)} pools named {case}"
    pool_id = pools[0]
    assert report["target_user_pool_id"] == pool_id
    assert_pool_is_the_snapshot(world, pool_id, tmp_path / "mapping.json")
    # Every write was carried out once over the two runs: what AWS did before the interruption (the lost
    # answer included) was not done again, and nothing was left out. (Except the MFA configuration, which
    # every run sets: idempotent.)
    both = Counter(interruption.done) + Counter(rerun.done)
    assert rerun.done.count("SetUserPoolMfaConfig") == 1
    both["SetUserPoolMfaConfig"] = 1
    assert both == WRITE_CALLS
    # Across the stop and the resume: never a client while a disabled user is enabled; triggers last.
    assert_no_window_for_disabled_users(interruption.carried_out + rerun.carried_out, DISABLED_USERS)
    assert_triggers_attached_last(interruption.carried_out + rerun.carried_out)


# --- beyond this requirement: a lost answer that botocore itself would retry ----------------------------

@pytest.mark.parametrize("operation", ["CreateUserPoolClient", "CreateUserPool"])
def test_a_lost_answer_retried_within_the_run_makes_no_duplicate(world, case, tmp_path, capsys, monkeypatch,
                                                                  operation):
    import botocore.retries.standard

    from tests.support.fault_injection import RESPONSE_LOST, Injector

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    injectors: list = []
    world.hooks.append(lambda client: injectors.append(Injector(client, operation, RESPONSE_LOST)))

    code, report, err = run_cli(restore_argv(world, case, tmp_path), capsys)

    assert injectors[0].fired == 1
    assert code == 0 and report["status"] == "ok", err
    pools = pools_named(world.cognito, case)
    assert len(pools) == 1, f"{len(pools)} pools named {case}"
    assert_pool_is_the_snapshot(world, pools[0], tmp_path / "mapping.json")
