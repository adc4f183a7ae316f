"""Issue 17: progress that helps on the worst day. Per phase done/total, rate and time left, every few seconds as a
line and (--json) as a JSON record, on a fake clock; the restore's time left is its slowest phase's; the same
numbers in the final report and on the command line."""

from __future__ import annotations

import json

import pytest

from cognito_backup.cli import main
from cognito_backup.restore import RestoreOptions, restore_snapshot
from cognito_backup.restore.progress import PROGRESS_EVERY_S, RATE_WINDOW_S, Phase, ProgressBoard, duration
from cognito_backup.restore.report import phase_lines
from tests.support.rich_pool import fast_rate_limits  # noqa: F401 - autouse fixture
from tests.support.snapshot_builder import make_group, make_snapshot, make_user, write_s3


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("seconds", "text"), [(None, "?"), (3.4, "3 s"), (245, "4m05s"), (7980, "2h13m"),
                                               (86400 + 4 * 3600, "1d04h")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration(seconds) == text


def test_a_phase_measures_its_rate_and_time_left_on_what_it_does_now():
    # Given a phase of 1,000 items that did 10/s for a minute and a half, then 40/s
    clock = Clock()
    phase = Phase("memberships", clock, total=10_000)
    phase.start()
    assert phase.rate() is None and phase.left_s() is None  # nothing to measure yet
    for _ in range(90):
        clock.advance(1)
        phase.add("added", 10)
    assert phase.rate() == pytest.approx(10)
    assert phase.left_s() == pytest.approx((10_000 - 900) / 10)
    for _ in range(int(RATE_WINDOW_S)):
        clock.advance(1)
        phase.add("added", 40)

    # Then its rate is that of the last minute, and its time left what remains at that rate
    assert phase.rate() == pytest.approx(40)
    assert phase.left_s() == pytest.approx((10_000 - 900 - 40 * RATE_WINDOW_S) / 40)
    summary = phase.summary()
    assert summary["done"] == 900 + 2400 and summary["total"] == 10_000 and summary["counts"] == {"added": 3300}
    assert summary["rate_per_s"] == pytest.approx(40) and summary["left_s"] == pytest.approx(167.5)
    assert phase.text() == "memberships 3,300/10,000 (33%), 40.0/s, 2m48s left"

    # When it ends: its average rate, nothing left
    clock.advance(10)
    phase.finish()
    assert phase.left_s() == 0 and phase.rate() == pytest.approx(3300 / 160)
    assert "left_s" not in phase.summary() and phase.summary()["seconds"] == 160
    assert phase.text().endswith("done in 2m40s")


def test_a_phase_without_a_total_says_what_it_did_and_cannot_estimate():
    clock = Clock()
    phase = Phase("federated links", clock)
    phase.add("linked", 3)
    clock.advance(2)
    phase.add("linked", 3)
    assert phase.rate() == pytest.approx(3) and phase.left_s() is None
    assert phase.text() == "federated links 6, 3.0/s, time left: measuring"


def test_the_board_shows_every_active_phase_every_few_seconds_as_a_line_and_a_record():
    # Given two phases going side by side, the memberships slower than the users
    clock, said, records = Clock(), [], []
    board = ProgressBoard(said.append, records.append, clock=clock)
    users, members = board.phase("users", 1000), board.phase("memberships", 3000)
    board.phase("disabling", 20)  # never begins: never shown

    users.start()
    members.start()
    for second in range(1, 13):
        clock.advance(1)
        users.add("created", 40)
        members.add("added", 20)
        board.tick()
        if second == 1:
            assert len(said) == 1  # the first line at once
    # Then a line every PROGRESS_EVERY_S seconds, no more
    assert len(said) == 1 + int(11 // PROGRESS_EVERY_S) == len(records) == 3  # at 1, 6 and 11 s
    last = records[-1]["progress"]
    assert set(last["phases"]) == {"users", "memberships"}
    assert last["phases"]["users"]["done"] == 440 and last["phases"]["memberships"]["done"] == 220
    assert last["phases"]["memberships"]["rate_per_s"] == pytest.approx(20)
    # The restore's time left: its slowest phase's (the memberships: 2,780 at 20/s, a second later 2,760)
    assert last["left_s"] == pytest.approx(139.0) and board.left_s() == pytest.approx(138.0)
    assert said[-1].startswith("  [11 s] users 440/1,000 (44%), 40.0/s, 14 s left | memberships 220/3,000")
    assert said[-1].endswith("| restore: 2m19s left")
    json.dumps(records)  # every record is JSON

    # When the users are done: one line says so, and the next ones show the memberships only
    board.finish(users)
    assert said[-1] == "  users 480/1,000 (48%), 40.0/s, done in 12 s"
    assert records[-1]["progress"]["phases"]["users"]["seconds"] == 12
    clock.advance(PROGRESS_EVERY_S)
    board.tick()
    assert " users " not in said[-1] and "memberships" in said[-1]
    assert set(board.summary()) == {"users", "memberships"}  # the report's numbers: phases that began


def test_a_phase_that_never_began_finishes_quietly_and_reports_nothing_done():
    said: list[str] = []
    board = ProgressBoard(said.append, clock=Clock())
    board.finish(board.phase("disabling", 0))
    board.tick(force=True)
    assert said == []
    assert board.summary() == {"disabling": {"done": 0, "total": 0, "counts": {}, "seconds": 0.0,
                                             "rate_per_s": None}}


def test_the_report_gives_each_phase_and_the_time_to_recovery():
    report = {"elapsed_s": 3725, "phases": {
        "users": {"done": 100_000, "total": 100_000, "seconds": 2500, "rate_per_s": 40.0, "category": "UserCreation",
                  "busy_s": 2490, "rate_when_busy": 39.2, "share_per_s": 40, "share_used": 0.98},
        "disabling": {"done": 2000, "total": 2000, "seconds": 2480, "rate_per_s": 0.8, "category": "UserUpdate"}}}
    assert phase_lines(report) == [
        "  time to recovery: 1h02m",
        "    users: 100,000/100,000 in 41m40s, 40.0/s; at its quota (UserCreation, 41m30s with work waiting) "
        "39.2 calls/s, 98% of the restore's share (40/s)",
        "    disabling: 2,000/2,000 in 41m20s, 0.8/s"]
    assert phase_lines({}) == []


@pytest.fixture
def small_snapshot(s3, bucket):
    users = [make_user(f"u{i:03d}", email=f"u{i:03d}@example.com", enabled=i % 10 != 3) for i in range(40)]
    groups = [make_group("all", [u["Username"] for u in users]), make_group("some", ["u001", "u002"])]
    return f"s3://{bucket}/{write_s3(s3, bucket, make_snapshot(users=users, groups=groups))}"


def test_a_restore_reports_its_phases_with_the_numbers_its_progress_showed(cognito, s3, small_snapshot, tmp_path):
    # Given a restore timed by a fake clock that moves a second per call read
    clock, records, said = Clock(), [], []
    options = RestoreOptions(snapshot=small_snapshot, new_pool_name="restored", workers=2,
                             mapping_file=str(tmp_path / "mapping.json"))

    report = restore_snapshot(cognito, s3, options, progress=said.append, records=records.append, clock=clock)

    # Then the report's phases say what was done, of how many, and match the last record of each phase
    assert report["status"] == "ok", report["failures"]
    phases = report["phases"]
    assert phases["users"]["done"] == phases["users"]["total"] == 40
    assert phases["memberships"]["done"] == phases["memberships"]["total"] == 42
    assert phases["disabling"]["done"] == phases["disabling"]["total"] == 4
    last = {}
    for record in records:
        last.update(record["progress"]["phases"])
    for name in ("users", "memberships", "disabling"):
        assert last[name]["done"] == phases[name]["done"] and last[name]["total"] == phases[name]["total"]
    assert phases["memberships"]["category"] == "UserResourceUpdate"
    assert report["quota"]["UserResourceUpdate"]["attempts"] >= 42
    assert any(line.startswith("  memberships 42/42 (100%)") for line in said)


def test_the_command_line_prints_progress_records_as_json_lines_and_the_report_last(cognito, s3, small_snapshot,
                                                                                    tmp_path, capsys):
    code = main(["restore", small_snapshot, "--new-pool-name", "restored-cli", "--json", "--workers", "2",
                 "--mapping-file", str(tmp_path / "mapping.json")])

    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    lines = [json.loads(line) for line in out]
    progress = [line["progress"] for line in lines[:-1]]
    assert progress and all(set(p) >= {"elapsed_s", "phases"} for p in progress)
    report = lines[-1]
    assert report["status"] == "ok" and report["phases"]["users"]["done"] == 40
    assert "time to recovery" not in "\n".join(out)  # the text report goes to stderr with --json


def test_an_iterable_source_gives_its_items_a_pull_at_a_time_and_then_says_it_is_exhausted():
    from cognito_backup.restore.pipeline import IterableSource

    source = IterableSource(iter(range(5)))

    assert source.pull(2) == ([0, 1], True) and not source.exhausted()
    assert source.pull(2) == ([2, 3], True) and not source.exhausted()
    assert source.pull(2) == ([4], True) and source.exhausted()
    assert source.pull(2) == ([], True)


def test_every_call_that_ends_while_its_lane_was_full_counts_however_many_end_at_once():
    """The pipeline's thread may take several completions in one go (on a busy machine, or at a high rate): each
    counts towards the rate at the quota, not only the first (which made the disabling lane look at 30-44% of its
    share in the restore benchmark while it ran at about 70%)."""
    from concurrent.futures import Future

    from cognito_backup.restore.pipeline import IterableSource, Lane, Pipeline
    from cognito_backup.restore.progress import ProgressBoard

    pipeline = Pipeline(ProgressBoard(lambda _line: None, None))
    ended: list[int] = []
    lane = pipeline.add(Lane("disabling", IterableSource([]), lambda item, post: item,
                             lambda item, result, error: ended.append(item), limit=4))
    lane.in_flight, lane.full = 4, True  # the last look found all four slots taken
    for item in range(4):  # ... and all four calls ended before the next
        future: Future = Future()
        future.set_result(item)
        pipeline._complete(lane, item, future)

    assert ended == [0, 1, 2, 3] and lane.in_flight == 0
    assert lane.busy_done == 4
    lane.full = False  # a look that found free slots: what ends next was not bound by the quota
    lane.in_flight = 1
    done: Future = Future()
    done.set_result(9)
    pipeline._complete(lane, 9, done)
    assert lane.busy_done == 4
