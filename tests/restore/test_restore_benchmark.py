"""The restore benchmark's own code (benchmarks/restore_*.py), small and quick: the synthetic snapshot is exact and
verifies, the stand-in keeps its quotas and runs import jobs at their rate, a tiny restore by each path leaves
exactly the snapshot in the stand-in, and the table's arithmetic converts a faster clock back. (The benchmark
itself never runs in the tests: ``python -m benchmarks.restore_run``.)"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from benchmarks import restore_engine, restore_run
from benchmarks.restore_pool import disabled_count, members, write_snapshot
from benchmarks.restore_stand_in import RestoreStandIn, serve
from cognito_backup.restore import RestoreOptions, restore_snapshot
from cognito_backup.verify import require_verified
from demo.emulator import FAKE_ENV


def test_the_synthetic_snapshot_has_every_user_in_distinct_groups_and_verifies(tmp_path):
    path = write_snapshot(tmp_path, 300, 3, groups=30)

    doc = json.loads(path.read_text())
    assert list(doc)[list(doc).index("users") + 1] == "groups"  # format 2: users first
    per_user = Counter()
    for group in doc["groups"]:
        per_user.update(group["Members"])
        assert len(set(group["Members"])) == len(group["Members"])
    assert set(per_user.values()) == {3} and len(per_user) == 300
    assert all(len({g["GroupName"] for g in doc["groups"] if u in g["Members"]}) == 3 for u in ("user0000000",
                                                                                                 "user0000299"))
    assert sum(1 for u in doc["users"] if not u["Enabled"]) == disabled_count(300) == 6
    assert doc["summary"]["memberships"] == 900 and doc["summary"]["groups"] == 30
    require_verified(str(path))  # its manifest's size and SHA-256 match
    assert write_snapshot(tmp_path, 300, 3, groups=30) == path  # made once


def test_group_members_are_computed_from_the_user_numbers():
    assert members(0, 10, 1, 5) == ["user0000000", "user0000005"]
    assert members(1, 6, 2, 4) == ["user0000001", "user0000005", "user0000003"]  # k=1: step 2, (1 - 2) % 4 = 3
    with pytest.raises(ValueError, match="memberships"):
        write_snapshot(Path("/nonexistent"), 10, 0)


def test_the_stand_in_throttles_each_category_at_its_quota_and_says_so_as_aws():
    app = RestoreStandIn()
    _, pool = app.handle("CreateUserPool", b'{"PoolName": "p"}')
    pool_id = json.loads(pool)["UserPool"]["Id"]
    answers = [app.handle("AdminCreateUser", json.dumps({"UserPoolId": pool_id, "Username": f"u{i}"}).encode())
               for i in range(60)]
    refused = [json.loads(body) for status, body in answers if status == 400]
    assert 5 <= len(refused) <= 10  # a second's worth of burst: 50, and a few more while the calls went
    assert refused[0] == {"__type": "TooManyRequestsException", "message": "Rate exceeded"}
    # The other categories have their own buckets
    assert app.handle("AdminDisableUser", json.dumps({"UserPoolId": pool_id, "Username": "u0"}).encode())[0] == 200
    assert app.stats()["pools"][pool_id] == {"users": 60 - len(refused), "groups": 0, "memberships": 0, "disabled": 1}
    status, body = app.handle("AdminAddUserToGroup", json.dumps({"UserPoolId": pool_id, "Username": "u0",
                                                                 "GroupName": "none"}).encode())
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"


def test_an_import_job_imports_at_its_rate_one_at_a_time(tmp_path):
    app = RestoreStandIn(import_rate=2000, endpoint="http://127.0.0.1:1")
    pool_id = json.loads(app.handle("CreateUserPool", b'{"PoolName": "p"}')[1])["UserPool"]["Id"]

    def call(op, **body):
        status, out = app.handle(op, json.dumps({"UserPoolId": pool_id, **body}).encode())
        return status, json.loads(out)

    job = call("CreateUserImportJob", JobName="j", CloudWatchLogsRoleArn="arn:aws:iam::1:role/r")[1]["UserImportJob"]
    assert job["PreSignedUrl"] == f"http://127.0.0.1:1/_upload/{job['JobId']}"
    assert call("StartUserImportJob", JobId=job["JobId"])[1]["__type"] == "InvalidParameterException"  # no CSV yet
    app.upload(job["JobId"], ("email,cognito:username\n" + "".join(f"u{i}@x.org,u{i}\n" for i in range(400))).encode())
    assert call("StartUserImportJob", JobId=job["JobId"])[0] == 200
    other = call("CreateUserImportJob", JobName="k", CloudWatchLogsRoleArn="r")[1]["UserImportJob"]
    app.upload(other["JobId"], b"email,cognito:username\n")
    assert call("StartUserImportJob", JobId=other["JobId"])[1]["__type"] == "LimitExceededException"
    running = call("DescribeUserImportJob", JobId=job["JobId"])[1]["UserImportJob"]
    assert running["Status"] == "InProgress" and running["ImportedUsers"] < 400
    time.sleep(0.25)  # 400 rows at 2,000/s
    done = call("DescribeUserImportJob", JobId=job["JobId"])[1]["UserImportJob"]
    assert done["Status"] == "Succeeded" and done["ImportedUsers"] == 400
    assert app.stats()["pools"][pool_id]["users"] == 400
    listed = []
    for prefix in "0123456789abcdef":  # the ranges of sub the restore lists in parallel, page by page
        token = None
        while True:
            page = call("ListUsers", Filter=f'sub ^= "{prefix}"', Limit=60,
                        **({"PaginationToken": token} if token else {}))[1]
            assert all(a["Value"].startswith(prefix) for u in page["Users"] for a in u["Attributes"]
                       if a["Name"] == "sub")
            listed += [u["Username"] for u in page["Users"]]
            token = page.get("PaginationToken")
            if not token:
                break
    assert sorted(listed) == sorted(f"u{i}" for i in range(400))


@pytest.fixture
def stand_in(monkeypatch):
    """The stand-in on a clock 20 times faster, in a thread; the restore's quotas lifted as much."""
    app = RestoreStandIn(scale=20, latency=0.002)
    server, endpoint = serve(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    from cognito_backup.restore import calls

    monkeypatch.setattr(calls, "QUOTA_RPS", dict(calls.QUOTA_RPS))
    monkeypatch.setattr(calls, "PER_POOL_OPERATION_LIMIT", calls.PER_POOL_OPERATION_LIMIT)
    restore_engine.lift_rate_limits(20)
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", endpoint)
    yield app
    server.shutdown()
    server.server_close()


def test_the_engine_restores_its_unsigned_snapshot_as_an_operator_would_run_it(stand_in, tmp_path, monkeypatch,
                                                                              capsys):
    """restore_engine.py as restore_run.py starts it: no --allow-unsigned in the environment (the snapshot is
    the benchmark's own, which nothing signs), no STS to ask for the account (the stand-in's)."""
    monkeypatch.delenv("COGNITO_BACKUP_ALLOW_UNSIGNED", raising=False)
    snapshot = write_snapshot(tmp_path, 60, 1, groups=3)

    assert restore_engine.main([str(snapshot), "--users-via", "import", "--rate-scale", "20"]) == 0
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert measured["status"] == "ok", measured["failures"]
    (pool,) = stand_in.stats()["pools"].values()
    assert pool["users"] == 60 and pool["memberships"] == 60


@pytest.mark.parametrize("path", ["import", "admin-create"])
def test_a_small_restore_into_the_stand_in_leaves_exactly_the_snapshot(stand_in, tmp_path, path):
    from backup_lambda.aws import make_client

    snapshot = write_snapshot(tmp_path, 120, 3, groups=6)
    options = RestoreOptions(snapshot=str(snapshot), new_pool_name="bench", users_via=path, workers=4,
                             import_role_arn=restore_engine.IMPORT_ROLE if path == "import" else None,
                             import_poll_interval=0.05, work_dir=str(tmp_path), mapping_file=str(tmp_path / "m.json"))

    report = restore_snapshot(make_client("cognito-idp"), None, options, uploader=restore_engine.http_put,
                              account=lambda: restore_engine.ACCOUNT)  # the stand-in answers no STS call

    assert report["status"] == "ok", report["failures"]
    (pool,) = stand_in.stats()["pools"].values()
    assert pool == {"users": 120, "groups": 6, "memberships": 360, "disabled": disabled_count(120)}
    result = {"row": {"users": 120, "memberships": 3, "path": path, "scale": 20.0},
              "measured": {"status": "ok", "elapsed_s": report["elapsed_s"], "phases": report["phases"],
                           "wall_s": 1.0, "rate_fraction": options.rate_fraction},
              "stand_in": stand_in.stats()}
    assert restore_run.check(result) == "yes"
    assert restore_run.derive(result)["phases"]["memberships"]["calls"] >= 360


def test_the_table_converts_a_faster_clock_back_and_lists_rows_not_run():
    result = {"row": {"users": 1000, "memberships": 1, "path": "admin-create", "scale": 4.0},
              "measured": {"status": "ok", "elapsed_s": 30.0, "wall_s": 31.0, "phases": {
                  "users": {"done": 1000, "total": 1000, "seconds": 25.0, "category": "UserCreation", "busy_s": 24.0,
                            "share_per_s": 160.0, "share_used": 0.95}}},
              "stand_in": {"calls": {"AdminCreateUser": 1010}, "throttled": {"AdminCreateUser": 10},
                           "pools": {"p": {"users": 1000, "memberships": 999, "disabled": 20, "groups": 100}}}}

    d = restore_run.derive(result)

    assert d["recovery_s"] == 120.0  # 30 s at x4
    users = d["phases"]["users"]
    assert users["seconds"] == 100.0 and users["share_per_s"] == 40.0 and users["busy_s"] == 96.0
    assert (users["calls"], users["throttled"]) == (1010, 10)
    assert d["exact"] == "NO: memberships 999 of 1,000"
    # A listing (one item, its pages in parallel inside it): its share used is measured at the stand-in
    result["measured"]["rate_fraction"] = 0.8
    result["measured"]["phases"]["listing imported users"] = {"done": 1000, "total": 1000, "seconds": 2.0,
                                                              "category": "UserList", "busy_s": 2.0}
    result["stand_in"]["calls"]["ListUsers"] = 49
    result["stand_in"]["windows_s"] = {"ListUsers": [100.0, 102.0]}
    listing = restore_run.derive(result)["phases"]["listing imported users"]
    assert listing["share_per_s"] == 24.0 and listing["busy_s"] == 8.0  # 2 s at x4
    assert listing["share_used"] == pytest.approx(48 / 8.0 / 24.0)  # 48 intervals between 49 calls
    result["measured"]["phases"]["users' MFA"] = {"done": 0, "total": 0, "seconds": 0.0}  # nothing to do: no row
    wanted = [restore_run.Row(1000, 1, "admin-create", 4.0), restore_run.Row(10**6, 3, "import", 50.0)]
    text = restore_run.table([result], wanted)
    assert "users' MFA" not in text and "| listing imported users |" in text
    assert "| 1,000 | 1 per user | admin-create | x4 | **2.0 min** (ok) | users | 100 s | 1,000/1,000 | 1,010 | 10 |" \
           " 40/s (UserCreation) | 95% (96 s waiting) | NO: memberships 999 of 1,000 |" in text
    assert "| 1,000,000 | 3 per user | import | | **not run** (see below) |" in text


def test_the_rows_go_into_the_block_asked_for_and_every_other_block_stays(tmp_path, monkeypatch):
    """``--from-raw F --block NAME`` renders F into the block NAME of docs/performance.md: the snapshot's blocks and
    the restore's default block stay as they were; the heading gives the load the rows ran under."""
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n<!-- BEGIN GENERATED matrix: python -m benchmarks.run -->\nkept\n"
                   "<!-- END GENERATED matrix -->\n<!-- BEGIN GENERATED restore: python -m benchmarks.restore_run -->"
                   "\nthe default block\n<!-- END GENERATED restore -->\n")
    monkeypatch.setattr(restore_run, "DOC", doc)
    result = {"row": {"users": 1000, "memberships": 1, "path": "import", "scale": 2.0},
              "measured": {"status": "ok", "elapsed_s": 30.0, "wall_s": 31.0, "rate_fraction": 0.8, "phases": {
                  "memberships": {"done": 1000, "total": 1000, "seconds": 25.0, "category": "UserResourceUpdate",
                                  "busy_s": 25.0, "share_per_s": 40.0, "share_used": 1.0}}},
              "stand_in": {"calls": {"AdminAddUserToGroup": 1000}, "throttled": {}, "windows_s": {},
                           "pools": {"p": {"users": 1000, "memberships": 1000, "disabled": 20, "groups": 100}}},
              "load": [0.4, 1.9]}
    raw = tmp_path / "raw.jsonl"
    raw.write_text(json.dumps(result) + "\n")

    for _ in range(2):  # written twice: replaced, not appended
        assert restore_run.main(["--sizes", "1000", "--memberships", "1", "--paths", "import", "--from-raw",
                                 str(raw), "--block", "restore-quiet"]) == 0

    text = doc.read_text()
    begin, end = restore_run.markers("restore-quiet", restore_run.MODULE)
    assert text.count(begin) == 1 and text.count(end) == 1
    quiet = text.split(begin, 1)[1].split(end, 1)[0]
    assert "| 1,000 | 1 per user | import | x2 | **60 s** (ok) | memberships | 50 s | 1,000/1,000 | 1,000 | 0 |" \
        in quiet
    assert "load average 0.4 to 1.9 before and after the rows" in quiet
    assert "kept" in text and "the default block" in text  # the other blocks stay
    for bad in ("--block", "Restore -->", "--from-raw", str(raw)), ("--from-raw", str(tmp_path / "missing.jsonl")):
        with pytest.raises(SystemExit) as exit_:
            restore_run.main([*bad, "--no-doc"])
        assert exit_.value.code == 2
    raw.write_text(json.dumps(result) + "\n" + json.dumps({"row": {"users": 1}}) + "\n")
    with pytest.raises(ValueError, match=r"raw.jsonl line 2 is not a row's measurements"):
        restore_run.load_results(raw)
    assert doc.read_text() == text  # nothing written
    older = {k: v for k, v in result.items() if k != "load"}  # a row measured before the load was recorded
    assert "load average not recorded" in restore_run.load_text([older])
    assert restore_run.load_text([result, older]).endswith("; not recorded for 1 of them")
    assert "load average not recorded" in restore_run.generated([older], [], command="c", started=datetime.now(
        timezone.utc), elapsed=0.0)


def test_the_restore_table_in_docs_is_the_one_its_kept_measurements_render():
    """docs/performance.md's restore table is what ``benchmarks/results/restore.jsonl`` renders (nobody edited a
    figure by hand), and in the 100,000-user rows every phase that waited for its quota reached 90% of its share,
    the restore left exactly the snapshot, and its time to recovery is within 2% of the membership floor."""
    results = restore_run.load_results(restore_run.RESULTS)
    wanted = restore_run.matrix([10_000, 100_000, 1_000_000], {}, 100.0, 1000.0)
    begin, end = restore_run.markers(restore_run.BLOCK, restore_run.MODULE)
    block = restore_run.DOC.read_text().split(begin, 1)[1].split(end, 1)[0]
    assert restore_run.table(results, wanted) in block

    large = [r for r in results if r["row"]["users"] == 100_000]
    assert {(r["row"]["memberships"], r["row"]["path"]) for r in large} >= {(1, "import"), (1, "admin-create")}
    for result in large:
        d = restore_run.derive(result)
        assert d["exact"] == "yes" and d["status"] == "ok"
        used = {name: p["share_used"] for name, p in d["phases"].items() if p["share_used"] is not None}
        assert "memberships" in used and min(used.values()) >= 0.9, used
        floor = 100_000 * result["row"]["memberships"] / 20.0
        assert floor <= d["recovery_s"] <= 1.02 * floor
