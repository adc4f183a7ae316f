"""The spool: what a run has read but not written, on local disk; and the refusal of any downloaded file
that is not exactly a spool of its snapshot."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid

import pytest

from backup_lambda.spool import SPOOL_NAME, Spool, SpoolError
from backup_lambda.subs import SeenSubs

KEY = "2026/11/24/prod_20261124_010003.json"


@pytest.fixture
def spool(tmp_path):
    spool = Spool.create(KEY, {"Id": "eu-west-1_A", "Name": "prod"}, directory=str(tmp_path))
    yield spool
    spool.discard()


def copied(spool: Spool, tmp_path, name: str = "copy") -> str:
    """The spool's file in a directory of its own, as a download would leave it."""
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(spool.path, directory / SPOOL_NAME)
    return str(directory)


def test_groups_come_out_in_listing_order_with_their_member_pages(spool):
    new = spool.add_groups([("admins", '{"GroupName":"admins"}'), ("staff", '{"GroupName":"staff"}')])
    again = spool.add_groups([("admins", '{"GroupName":"admins"}'), ("zoë", '{"GroupName":"zoë"}')])
    spool.add_member_page(new[1][0], 0, ["bob", "zoë"])
    spool.add_member_page(new[0][0], 0, ["alice"])
    spool.add_member_page(new[1][0], 1, ["carol"])
    spool.finish_group(new[0][0])

    assert [name for _, name in new] == ["admins", "staff"] and [name for _, name in again] == ["zoë"]
    assert [(body, list(pages)) for body, pages in spool.groups_for_document()] == [
        ('{"GroupName":"admins"}', [(1, '"alice"')]),
        ('{"GroupName":"staff"}', [(2, '"bob","zoë"'), (1, '"carol"')]),
        ('{"GroupName":"zoë"}', []),
    ]
    assert spool.totals() == (3, 1, 4)
    assert spool.unfinished_groups() == [(new[1][0], "staff"), (again[0][0], "zoë")]


def test_a_group_read_again_forgets_what_was_read_of_it(spool):
    (idx, _), = spool.add_groups([("everyone", "{}")])
    spool.add_member_page(idx, 0, ["a", "b"])
    spool.add_member_page(idx, 1, ["c"])

    assert spool.discard_members(idx) == 3
    assert spool.totals() == (1, 0, 0) and spool.pages_of(idx) == 0


def test_a_downloaded_spool_carries_everything_over(spool, tmp_path):
    (idx, _), = spool.add_groups([("admins", "{}")])
    spool.add_member_page(idx, 0, ["alice"])
    spool.put_section("tags", '{"status":"present","value":{}}')
    seen = SeenSubs()
    subs = [str(uuid.uuid4()) for _ in range(3000)]
    for sub in subs:
        seen.add(sub)
    spool.put_blob("seen", seen.save())
    spool.put_blob("tail", [os.urandom(3 << 20)])
    spool.flush()

    other = Spool.adopt(copied(spool, tmp_path), KEY)
    try:
        restored = SeenSubs.restore(other.blob("seen"))
        assert len(restored) == 3000 and all(sub in restored for sub in subs)
        assert b"".join(other.blob("tail")) == b"".join(spool.blob("tail"))
        assert other.sections() == {"tags": '{"status":"present","value":{}}'}
        assert other.pool() == {"Id": "eu-west-1_A", "Name": "prod"} and other.totals() == (1, 0, 1)
    finally:
        other.discard()


def _not_sqlite(path):
    with open(path, "wb") as f:
        f.write(b"this is not a database, but it is long enough to look like a header" * 20)


def _tamper(sql):
    def change(path):
        db = sqlite3.connect(path)
        db.executescript(sql)
        db.close()
    return change


@pytest.mark.parametrize(("change", "says"), [
    (_not_sqlite, "not a spool this function wrote"),
    (_tamper("PRAGMA user_version = 7"), "its version is 7"),
    (_tamper("CREATE TABLE extra (x)"), "its tables are not the spool's"),
    (_tamper("DROP TABLE sections"), "its tables are not the spool's"),
    (_tamper("UPDATE meta SET value = 'other.json' WHERE key = 'snapshot_key'"),
     "belongs to the snapshot 'other.json'"),
    (_tamper("UPDATE meta SET value = '[1' WHERE key = 'pool'"), "its pool is not JSON"),
    (_tamper("INSERT INTO meta VALUES ('more', 'x')"), "its meta table is not the spool's"),
], ids=["not-sqlite", "version", "extra-table", "missing-table", "other-snapshot", "pool-not-json", "meta"])
def test_a_file_that_is_not_this_snapshots_spool_is_refused_saying_why(spool, tmp_path, change, says):
    directory = copied(spool, tmp_path)
    change(os.path.join(directory, SPOOL_NAME))

    with pytest.raises(SpoolError, match=says):
        Spool.adopt(directory, KEY)
    assert not os.path.exists(directory), "a refused spool is not left on disk"


def test_a_missing_blob_is_refused(spool):
    with pytest.raises(SpoolError, match="its seen is missing"):
        list(spool.blob("seen"))


def test_a_damaged_set_of_subs_is_refused():
    seen = SeenSubs()
    seen.add(str(uuid.uuid4()))
    chunks = list(seen.save())
    whole = b"".join(chunks)

    with pytest.raises(ValueError, match="no header"):
        SeenSubs.restore([whole[:10]])
    with pytest.raises(ValueError, match="shorter than its header"):
        SeenSubs.restore([whole[:-20]])
    with pytest.raises(ValueError, match="damaged|longer"):
        SeenSubs.restore([whole[:30] + bytes(len(whole) - 30)])
    with pytest.raises(ValueError, match="malformed"):
        SeenSubs.restore([b"SUBS" + bytes(4) + (3).to_bytes(8, "little") + bytes(8) + whole[24:]])


def test_discard_leaves_nothing_on_disk(tmp_path):
    spool = Spool.create(KEY, {}, directory=str(tmp_path))
    spool.add_groups([("g", json.dumps({"GroupName": "g"}))])

    spool.discard()

    assert os.listdir(tmp_path) == []


class BreakingBody:
    """A GetObject body that breaks off after its first chunk, the first ``breaks`` times it is read."""

    def __init__(self, data: bytes, broken: bool):
        self.data, self.broken, self.at = data, broken, 0

    def read(self, n: int) -> bytes:
        from botocore.exceptions import ResponseStreamingError

        if self.broken and self.at:
            raise ResponseStreamingError(error="connection reset by peer")
        chunk = self.data[self.at:self.at + n]
        self.at += len(chunk)
        return chunk

    def close(self) -> None:
        pass


class FlakyS3:
    def __init__(self, data: bytes, breaks: int):
        self.data, self.breaks, self.calls = data, breaks, 0

    def get_object(self, **kwargs):
        self.calls += 1
        return {"Body": BreakingBody(self.data, self.calls <= self.breaks)}


@pytest.mark.parametrize(("breaks", "loaded"), [(0, True), (2, True), (3, False)])
def test_a_spool_download_that_breaks_off_is_tried_again_a_few_times(tmp_path, breaks, loaded):
    import hashlib

    from backup_lambda.checkpoint import SPOOL_DOWNLOADS, SpoolRef, load_spool
    from backup_lambda.errors import SnapshotError

    data = os.urandom(3 << 20)
    s3 = FlakyS3(data, breaks)
    target = tmp_path / "spool.sqlite"
    expected = SpoolRef(len(data), hashlib.sha256(data).hexdigest())

    if loaded:
        load_spool(s3, "b", "k.spool", str(target), expected, pool="eu-west-1_A")
        assert target.read_bytes() == data and s3.calls == breaks + 1
    else:
        with pytest.raises(SnapshotError, match="GetObject of the spool s3://b/k.spool failed for user pool"):
            load_spool(s3, "b", "k.spool", str(target), expected, pool="eu-west-1_A")
        assert s3.calls == SPOOL_DOWNLOADS
