"""The import path: user import jobs (the bulk path AWS recommends). The users go into CSV files laid out as
GetCSVHeader says (at most IMPORT_MAX_ROWS rows and about 100 MB each), one import job per file (created,
its file uploaded to the job's pre-signed URL, started, polled to its end); then the pool is listed to
learn the imported users' new subs (import jobs do not return them)."""

from __future__ import annotations

import csv
import os
import urllib.request
from datetime import datetime, timezone
from typing import IO, Any

from botocore.exceptions import ClientError

from backup_lambda.pool_reader import PoolReader
from backup_lambda.quotas import QUOTA_RPS
from cognito_backup.restore.calls import error_text
from cognito_backup.restore.options import RestoreError
from cognito_backup.restore.requests import attributes_of, user_identity
from cognito_backup.restore.state import RestoreRun, RunState

IMPORT_MAX_ROWS = 500_000
IMPORT_MAX_BYTES = 100 * 1000 * 1000 - 1_000_000  # under 100 MB, with room for the last row
IMPORT_DONE = frozenset({"Succeeded", "Failed", "Stopped", "Expired"})


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


class CsvChunks:
    """The import CSV files: rows go into ``import-NNN.csv`` files of the run's directory, a new one when
    the current one reaches IMPORT_MAX_ROWS rows or IMPORT_MAX_BYTES; their paths go to ``state.csv_chunks``."""

    def __init__(self, state: RunState, header: list[str]):
        self.state = state
        self.header = header
        self.file: IO[str] | None = None
        self.writer: Any = None
        self.rows = 0

    def __enter__(self) -> CsvChunks:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def write(self, row: list[str]) -> None:
        if self.file is None or self.rows >= IMPORT_MAX_ROWS or self.file.tell() >= IMPORT_MAX_BYTES:
            self.close()
            path = os.path.join(self.state.work_dir, f"import-{len(self.state.csv_chunks) + 1:03d}.csv")
            self.file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.writer = csv.writer(self.file)
            self.writer.writerow(self.header)
            self.rows = 0
            self.state.csv_chunks.append(path)
        self.writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = self.writer = None


def run_import_jobs(run: RestoreRun) -> None:
    state, importer = run.state, run.aws.importer
    jobs = []
    for number, path in enumerate(state.csv_chunks, 1):
        name = f"restore-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{number}"
        try:
            job = importer.create_user_import_job(
                JobName=name, UserPoolId=state.pool_id, CloudWatchLogsRoleArn=run.options.import_role_arn,
            )["UserImportJob"]
            run.say(f"import job {job['JobId']} ({number}/{len(state.csv_chunks)}): uploading {path}")
            run.uploader(job["PreSignedUrl"], path)
            importer.start_user_import_job(UserPoolId=state.pool_id, JobId=job["JobId"])
            while job.get("Status") not in IMPORT_DONE:
                run.aws.sleep(run.options.import_poll_interval)
                job = importer.describe_user_import_job(UserPoolId=state.pool_id, JobId=job["JobId"])["UserImportJob"]
                run.say(f"  import job {job['JobId']}: {job.get('Status')}, {job.get('ImportedUsers', 0):,} "
                        f"imported, {job.get('FailedUsers', 0):,} failed")
        except ClientError as exc:
            state.fail(f"import job for {os.path.basename(path)}", exc)
            continue
        jobs.append({k: job.get(k) for k in ("JobId", "Status", "ImportedUsers", "SkippedUsers", "FailedUsers",
                                             "CompletionMessage")})
        if job.get("Status") != "Succeeded" or job.get("FailedUsers"):
            state.fail(f"import job {job.get('JobId')}",
                       f"{job.get('Status')}: {job.get('FailedUsers', 0)} users failed "
                       f"({job.get('CompletionMessage', '')}); details in the job's CloudWatch log "
                       "(/aws/cognito/userpool-import)")
    state.steps["import_jobs"] = jobs


def map_imported_users(run: RestoreRun) -> None:
    """Import jobs do not return subs: list the pool and fill them in by identity."""
    state, journal = run.state, run.state.journal
    pending = journal.count("importing")
    if not pending:
        return
    run.say(f"reading the new subs of {pending:,} imported users")
    reader = PoolReader(run.aws.cognito, state.pool_id,
                        request_budget=QUOTA_RPS["UserList"] * run.options.rate_fraction,
                        workers=min(run.options.workers, 16))
    try:
        for page in reader.iter_user_pages(pending):
            journal.set_imported((u["Username"], attributes_of(u).get("sub"),
                                  user_identity(u, run.snapshot.username_attributes)) for u in page)
    finally:
        reader.close()
    missing = journal.count("importing")
    if missing:
        state.fail(f"{missing} users", "not in the pool after the import jobs (see the jobs' CloudWatch logs); "
                                       "run again with --resume to create them")
        journal.fail_importing("not imported")
    state.steps["users"]["imported"] = pending - missing
