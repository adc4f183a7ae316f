"""The progress a person reads: each snapshot line says what is being done and what has been read so far
(whatever order the engine reports its phases in), and verify and diff announce each snapshot once."""

from __future__ import annotations

import pytest

from backup_lambda.snapshot import take_snapshot
from cognito_backup import cli
from cognito_backup.snapshot_command import progress_line
from tests.support.snapshot_builder import make_snapshot, write_local


def test_a_snapshots_progress_says_what_it_does_and_what_it_has_read(cognito, s3, bucket):
    # Given a pool with a group of two members and three users
    pool_id = cognito.create_user_pool(PoolName="progress")["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool_id, GroupName="staff")
    for name in ("ana", "bo", "cy"):
        cognito.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
    for name in ("ana", "bo"):
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName="staff")
    events: list[dict] = []
    # When it is snapshotted
    result = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket, progress=events.append)
    lines = [line for line in map(progress_line, events) if line]
    # Then the lines read as what is being done, and the counts as what was read so far
    assert lines == [
        "reading the configuration of progress",
        "reading users, groups and their members (read so far: 0 users, 0 groups, 0 memberships)",
        "writing the groups and the configuration (read so far: 3 users, 1 groups, 2 memberships)",
        "completing the upload (read so far: 3 users, 1 groups, 2 memberships)",
        f"done: s3://{bucket}/{result.key}",
    ]


@pytest.mark.parametrize(("event", "line"), [
    # groups read alongside users: the counts still say what was read, the label what is going on
    ({"phase": "users", "users": 1200, "groups": 3, "memberships": 40, "elapsed_s": 2.1, "throttles": 0},
     "reading users, groups and their members (read so far: 1,200 users, 3 groups, 40 memberships), 2.1 s, "
     "0 throttles"),
    ({"phase": "writing", "groups": 5, "memberships": 70}, "writing the groups and the configuration (read so "
                                                           "far: 5 groups, 70 memberships)"),
    ({"phase": "continued", "users": 10, "groups": 0, "memberships": 0, "key": "k"},
     "handing over to the next run (checkpoint saved) (read so far: 10 users, 0 groups, 0 memberships)"),
    ({"phase": "members", "memberships": 9}, "members (read so far: 9 memberships)"),
    ({"phase": "heartbeat"}, None),
])
def test_a_progress_line_keys_off_the_events_fields(event, line):
    assert progress_line(event) == line


def test_verify_announces_the_snapshot_once(tmp_path, capsys):
    path = write_local(tmp_path, make_snapshot())
    assert cli.main(["verify", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"verifying {path}"]
    assert out.startswith(f"OK {path}: 3 users")


def test_diff_announces_each_snapshot_once(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_local(tmp_path / "a", make_snapshot())
    b = write_local(tmp_path / "b", make_snapshot())
    assert cli.main(["diff", str(a), str(b)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"reading {a}", f"reading {b}"]
