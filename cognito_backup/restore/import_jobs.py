"""The import path: user import jobs (the bulk path AWS recommends). The users go into CSV files laid out as
GetCSVHeader says, one import job per file (created, its file uploaded to the job's pre-signed URL, started,
polled to its end). A file is handed to its job as soon as it is written, while the snapshot is still being
read into the next ones; the files grow (IMPORT_FIRST_ROWS rows, then IMPORT_GROWTH times the last, up to
IMPORT_MAX_ROWS rows and about 100 MB), so that the first users are in the pool early and their memberships
and disabling (followups.py) go on while later jobs run. AWS runs one import job at a time per account: the
jobs run one after the other. The users of a job that succeeded without a failed or skipped row are in the
pool: they are queued for what follows at once. Then the pool is listed to learn the new subs (import jobs do
not return them), and the users of a job that had failures are found there, or marked failed for a resume."""

from __future__ import annotations

import csv
import os
import urllib.request
from datetime import datetime, timezone
from typing import IO, Any

from botocore.exceptions import ClientError

from cognito_backup.restore.calls import error_text
from cognito_backup.restore.options import RestoreError
from cognito_backup.restore.pipeline import Lane
from cognito_backup.restore.requests import attributes_of, user_identity
from cognito_backup.restore.state import RestoreRun, RunState
from cognito_backup.restore.target import listed_user_pages

IMPORT_MAX_ROWS = 500_000
IMPORT_MAX_BYTES = 100 * 1000 * 1000 - 1_000_000  # under 100 MB, with room for the last row
IMPORT_FIRST_ROWS = 10_000
IMPORT_GROWTH = 4
IMPORT_DONE = frozenset({"Succeeded", "Failed", "Stopped", "Expired"})
IMPORT_RUNNING = frozenset({"Pending", "InProgress", "Stopping"})


def put_presigned(url: str, path: str) -> None:
    """PUT a CSV file to an import job's pre-signed S3 URL (what AWS's guide does with curl -T)."""
    if not url.startswith("https://"):
        raise RestoreError("the import job's pre-signed URL is not https: refusing to upload user data to it")
    size = os.path.getsize(path)
    with open(path, "rb") as body:
        request = urllib.request.Request(url, data=body, method="PUT", headers={  # noqa: S310 - https checked
            "x-amz-server-side-encryption": "aws:kms", "Content-Type": "text/csv", "Content-Length": str(size)})
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - https checked
            if response.status >= 300:
                raise RestoreError(f"uploading the import CSV failed: HTTP {response.status}")


def csv_header(run: RestoreRun) -> list[str]:
    try:
        return run.aws.importer.get_csv_header(UserPoolId=run.state.pool_id)["CSVHeader"]
    except ClientError as exc:
        raise RestoreError(f"GetCSVHeader failed: {error_text(exc)}") from None


def wait_for_running_jobs(run: RestoreRun) -> None:
    """A resume into a pool where an import job still runs (the run that stopped had started it: AWS carries on
    without it): wait for that job to end before the pool is listed, so that its users are found there, not
    imported again. AWS lists the newest jobs first, and runs one at a time: the first page is enough."""
    importer, pool_id = run.aws.importer, run.state.pool_id
    try:
        jobs = importer.list_user_import_jobs(UserPoolId=pool_id, MaxResults=60).get("UserImportJobs") or []
    except ClientError as exc:
        raise RestoreError(f"ListUserImportJobs failed: {error_text(exc)}") from None
    for job in jobs:
        if job.get("Status") not in IMPORT_RUNNING:
            continue
        run.say(f"import job {job['JobId']} of an earlier run is still {job['Status']}: waiting for it to end")
        while job.get("Status") not in IMPORT_DONE:
            run.aws.sleep(run.options.import_poll_interval)
            job = importer.describe_user_import_job(UserPoolId=pool_id, JobId=job["JobId"])["UserImportJob"]
        run.say(f"  import job {job['JobId']}: {job.get('Status')}, {job.get('ImportedUsers', 0):,} imported")


class CsvChunks:
    """The import CSV files: rows go into ``import-NNN.csv`` files of the run's directory, a new one when the
    current one reaches its row limit (``rows_of``) or IMPORT_MAX_BYTES; their paths go to ``state.csv_chunks``.
    ``written`` lists the files complete (closed) and not yet taken (``take``); ``finished``: no more will come."""

    def __init__(self, state: RunState, header: list[str]):
        self.state = state
        self.header = header
        self.file: IO[str] | None = None
        self.writer: Any = None
        self.rows = 0
        self.written: list[int] = []  # numbers (1-based) of the files complete, not yet taken
        self.finished = False
        self.total_rows = 0

    @staticmethod
    def rows_of(number: int) -> int:
        """The row limit of file ``number``: small first, growing (the first users in early), then the most."""
        return min(IMPORT_MAX_ROWS, max(1, IMPORT_FIRST_ROWS) * IMPORT_GROWTH ** (number - 1))

    def take(self) -> list[int]:
        taken, self.written = self.written, []
        return taken

    def __enter__(self) -> CsvChunks:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def write(self, row: list[str]) -> int:
        """Write ``row``; returns the number of its file."""
        limit = self.rows_of(len(self.state.csv_chunks))
        if self.file is None or self.rows >= limit or self.file.tell() >= IMPORT_MAX_BYTES:
            self.close()
            path = os.path.join(self.state.work_dir, f"import-{len(self.state.csv_chunks) + 1:03d}.csv")
            self.file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.writer = csv.writer(self.file)
            self.writer.writerow(self.header)
            self.rows = 0
            self.state.csv_chunks.append(path)
        self.writer.writerow(row)
        self.rows += 1
        self.total_rows += 1
        return len(self.state.csv_chunks)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = self.writer = None
            self.written.append(len(self.state.csv_chunks))

    def finish(self) -> None:
        self.close()
        self.finished = True


class ChunkSource:
    """The import files, each as soon as it is written."""

    def __init__(self, chunks: CsvChunks):
        self.chunks = chunks

    def pull(self, n: int) -> tuple[list[int], bool]:
        taken = self.chunks.take()
        return taken, bool(taken)

    def exhausted(self) -> bool:
        return self.chunks.finished and not self.chunks.written


def import_lane(run: RestoreRun, chunks: CsvChunks, after: list[Lane]) -> Lane:
    """One import job at a time (AWS runs one per account), for each file as it is written."""
    state, journal = run.state, run.state.journal
    phase = run.board.phase("import jobs")
    state.steps["import_jobs"] = jobs = []
    imported: dict[int, int] = {}  # file -> users imported so far, as the job reports it

    def polled(number: int, job: dict[str, Any]) -> None:
        done = (job.get("ImportedUsers") or 0) + (job.get("FailedUsers") or 0) + (job.get("SkippedUsers") or 0)
        phase.add("processed", done - imported.get(number, 0))
        imported[number] = max(done, imported.get(number, 0))
        run.say(f"  import job {job['JobId']}: {job.get('Status')}, {job.get('ImportedUsers', 0):,} imported, "
                f"{job.get('FailedUsers', 0):,} failed")

    def run_job(number: int, post: Any) -> dict[str, Any]:
        importer, path = run.aws.importer, state.csv_chunks[number - 1]
        name = f"restore-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{number}"
        job = importer.create_user_import_job(
            JobName=name, UserPoolId=state.pool_id, CloudWatchLogsRoleArn=run.options.import_role_arn,
        )["UserImportJob"]
        post(run.say, f"import job {job['JobId']} (file {number}): uploading {path}")
        run.uploader(job["PreSignedUrl"], path)
        importer.start_user_import_job(UserPoolId=state.pool_id, JobId=job["JobId"])
        while job.get("Status") not in IMPORT_DONE:
            run.aws.sleep(run.options.import_poll_interval)
            job = importer.describe_user_import_job(UserPoolId=state.pool_id, JobId=job["JobId"])["UserImportJob"]
            post(polled, number, job)
        return job

    def job_done(number: int, job: dict[str, Any] | None, error: BaseException | None) -> None:
        path = state.csv_chunks[number - 1]
        if error is not None:
            if not isinstance(error, ClientError):
                raise error  # the upload was refused, or the run was interrupted: the restore stops
            state.fail(f"import job for {os.path.basename(path)}", error)
            return
        jobs.append({k: job.get(k) for k in ("JobId", "Status", "ImportedUsers", "SkippedUsers", "FailedUsers",
                                             "CompletionMessage")})
        if job.get("Status") != "Succeeded" or job.get("FailedUsers"):
            state.fail(f"import job {job.get('JobId')}",
                       f"{job.get('Status')}: {job.get('FailedUsers', 0)} users failed "
                       f"({job.get('CompletionMessage', '')}); details in the job's CloudWatch log "
                       "(/aws/cognito/userpool-import)")
        elif not job.get("SkippedUsers"):  # every row is a user in the pool now
            journal.chunk_imported(number, links=run.options.link_federated)

    return Lane("import jobs", ChunkSource(chunks), run_job, job_done, limit=1, after=after)


class MappingSource:
    """The listing of the pool after the import jobs, when some imported user has no new sub yet."""

    def __init__(self, run: RestoreRun):
        self.run, self.given = run, False

    def pull(self, n: int) -> tuple[list[int], bool]:
        """[how many imported users are waiting for their new sub] once, if any are."""
        if self.given:
            return [], False
        self.given = True
        journal = self.run.state.journal
        waiting = journal.count("importing") + journal.count("imported")
        return ([waiting] if waiting else []), True

    def exhausted(self) -> bool:
        return self.given


def mapping_lane(run: RestoreRun, after: list[Lane]) -> Lane:
    """Import jobs do not return subs: once they are done, list the pool and fill them in by identity."""
    state, journal = run.state, run.state.journal
    phase = run.board.phase("listing imported users", run.snapshot.counts.get("users"))

    def page_read(page: list[dict[str, Any]]) -> None:
        journal.set_imported(((u["Username"], attributes_of(u).get("sub"),
                               user_identity(u, run.snapshot.username_attributes)) for u in page),
                             links=run.options.link_federated)
        phase.add("listed", len(page))

    def list_pool(waiting: int, post: Any) -> None:
        post(run.say, f"reading the new subs of {waiting:,} imported users")
        for page in listed_user_pages(run, run.snapshot.counts.get("users")):
            post(page_read, page)

    def listed(_item: int, _result: Any, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, Exception):
            raise error  # interrupted: the restore stops
        if error is not None:  # the users are in: a resume, which lists the pool first, finishes
            state.fail("listing the pool for the imported users' new subs", error)
            missing = journal.fail_importing("not found: the listing after the import jobs failed")
        else:
            missing = journal.fail_importing("not imported")
        if missing and error is None:
            state.fail(f"{missing} users", "not in the pool after the import jobs (see the jobs' CloudWatch logs); "
                                           "run again with --resume to create them")

    return Lane("listing imported users", MappingSource(run), list_pool, listed, limit=1, after=after,
                waits_for_upstream=True)
