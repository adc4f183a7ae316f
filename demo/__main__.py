"""The demo: the whole story of cognito-backup, on a local AWS emulator, in about a minute.

1. start a moto server on a free localhost port (no AWS account, no credentials);
2. create a KMS key and an encrypted, private bucket, and a realistic user pool;
3. snapshot it with the real code path (`python -m cognito_backup snapshot`);
4. list and verify the snapshot;
5. change a few users, take a second snapshot and show the diff;
6. restore the first snapshot into a new pool, and check it.

Every step runs the project's own command line, as a person would. Exits non-zero if any step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from demo.emulator import LocalAws
from demo.sample_pool import build_pool

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "demo-cognito-snapshots"
OUT = ROOT / "demo-output"
MIN_USERS = 30


class DemoFailed(Exception):
    pass


class Demo:
    def __init__(self, local: LocalAws, users: int):
        # Snapshots taken from the command line are not signed: only the deployed function may use the
        # stack's signing key (docs/signing.md). The demo's are, so its commands accept unsigned ones.
        self.env = {**os.environ, **local.env(), "PYTHONPATH": str(ROOT), "COGNITO_BACKUP_ALLOW_UNSIGNED": "1"}
        self.users = users
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                                aws_session_token="testing", region_name="us-east-1")  # noqa: S106
        self.cognito = session.client("cognito-idp", endpoint_url=local.endpoint_url)
        self.s3 = session.client("s3", endpoint_url=local.endpoint_url)
        self.kms = session.client("kms", endpoint_url=local.endpoint_url)
        self.started = time.monotonic()
        self.steps: list[tuple[str, float]] = []
        self.facts: dict[str, Any] = {}

    def step(self, title: str) -> None:
        self.steps.append((title, time.monotonic()))
        print(f"\n==> [{len(self.steps)}] {title}", flush=True)

    def cli(self, *args: str) -> dict[str, Any]:
        """Run `python -m cognito_backup ARGS --json`, show its output, return its JSON result."""
        print("    $ python -m cognito_backup " + " ".join(args), flush=True)
        proc = subprocess.run([sys.executable, "-m", "cognito_backup", *args, "--json"], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=900)
        for line in proc.stderr.splitlines()[-12:]:
            print("      " + line, flush=True)
        lines = proc.stdout.strip().splitlines()
        for line in lines[:-1][-25:]:
            print("      " + line, flush=True)
        if proc.returncode != 0:
            raise DemoFailed(f"`{' '.join(args[:2])}` exited {proc.returncode}")
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError) as exc:
            raise DemoFailed(f"`{args[0]}` printed no JSON result") from exc

    # -- the story -------------------------------------------------------------------------------

    def setup(self) -> None:
        self.step("create a KMS key and an encrypted, private snapshot bucket")
        key_arn = self.kms.create_key(Description="cognito-backup demo")["KeyMetadata"]["Arn"]
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": True}]})
        self.s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
        self.facts["kms_key"] = key_arn
        print(f"    bucket s3://{BUCKET}, SSE-KMS with {key_arn}")

        self.step(f"create a realistic user pool ({self.users:,} users, groups, clients, an OIDC provider)")

        def show(done: int, total: int) -> None:
            if done % 1000 == 0 or done == total:
                print(f"    {done:,}/{total:,} users created", flush=True)

        self.sample = build_pool(self.cognito, "demo-users", users=self.users, big_group_members=150,
                                 unconfirmed=25, progress=show)
        print(f"    pool {self.sample.pool_id}: {len(self.sample.users):,} users "
              f"({len(self.sample.disabled)} disabled, {len(self.sample.unconfirmed)} unconfirmed), "
              f"{len(self.sample.groups)} groups")

    def snapshot(self, label: str) -> dict[str, Any]:
        result = self.cli("snapshot", "--user-pool-id", self.sample.pool_id, "--bucket", BUCKET,
                          "--kms-key-id", self.facts["kms_key"], "--request-budget", "30")
        print(f"    {label}: s3://{BUCKET}/{result['key']} ({result['users']:,} users, {result['groups']} groups, "
              f"{result['memberships']:,} memberships, {result['bytes']:,} bytes)")
        head = self.s3.head_object(Bucket=BUCKET, Key=result["key"])
        if head.get("ServerSideEncryption") != "aws:kms":
            raise DemoFailed("the snapshot object is not encrypted with KMS")
        return result

    def change_users(self) -> dict[str, int]:
        users = self.sample.users
        pool_id = self.sample.pool_id
        step = max(len(users) // 8, 6)  # disjoint slices of the pool, whatever --users is
        admins = set(self.sample.groups.get("admins", ()))
        for name in users[step:step + 5]:
            self.cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=name, UserAttributes=[
                {"Name": "custom:tier", "Value": "enterprise-plus"}])
        for name in users[2 * step:2 * step + 3]:
            self.cognito.admin_disable_user(UserPoolId=pool_id, Username=name)
        for name in users[3 * step:3 * step + 2]:
            self.cognito.admin_delete_user(UserPoolId=pool_id, Username=name)
        for i in range(4):
            self.cognito.admin_create_user(UserPoolId=pool_id, Username=f"newcomer.{i}", MessageAction="SUPPRESS",
                                           UserAttributes=[{"Name": "email", "Value": f"new{i}@example.com"}])
        for name in [u for u in users[4 * step:] if u not in admins][:6]:
            self.cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName="admins")
        changes = {"attributes_changed": 5, "disabled": 3, "deleted": 2, "added": 4, "joined_admins": 6}
        print("    " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in changes.items()))
        return changes

    def run(self) -> None:
        self.setup()

        self.step("snapshot the pool (the Lambda's code path, from the command line)")
        first = self.snapshot("first snapshot")
        first_uri = f"s3://{BUCKET}/{first['key']}"

        self.step("list the snapshots in the bucket")
        listing = self.cli("list", "--bucket", BUCKET)
        snapshots = listing.get("snapshots", [])
        if not any(s["key"] == first["key"] and s["complete"] for s in snapshots):
            raise DemoFailed("the first snapshot is not listed as complete")

        self.step("verify the snapshot against its manifest (sha256, size, counts)")
        verified = self.cli("verify", first_uri)
        if not verified.get("ok"):
            raise DemoFailed(f"verify failed: {verified.get('problems')}")

        self.step("change a few users, then take a second snapshot")
        changes = self.change_users()
        time.sleep(max(0.0, 1.05 - (time.time() % 1)))  # keys have one-second resolution
        second = self.snapshot("second snapshot")
        second_uri = f"s3://{BUCKET}/{second['key']}"

        self.step("diff the two snapshots")
        diff = self.cli("diff", first_uri, second_uri)
        summary = diff["summary"]
        expected = {"users_added": changes["added"], "users_removed": changes["deleted"],
                    "memberships_gained": changes["joined_admins"]}
        wrong = {k: (summary.get(k), v) for k, v in expected.items() if summary.get(k) != v}
        if wrong:
            raise DemoFailed(f"the diff does not show the changes made (got, expected): {wrong}")

        self.step("restore the first snapshot into a new pool")
        OUT.mkdir(exist_ok=True)
        mapping = OUT / "restore-mapping.json"
        secrets = OUT / "idp-secrets.json"  # provider secrets are never in a snapshot: supplied here
        secrets.touch(mode=0o600)
        secrets.write_text(json.dumps({"CorpOIDC": {"client_secret": self.sample.idp_secret}}))
        print("    (the emulator has no quotas: --rate-fraction 1; on AWS keep the default, 0.8 of each quota)")
        restored = self.cli("restore", first_uri, "--new-pool-name", "demo-users-restored",
                            "--users-via", "admin-create", "--secrets", str(secrets), "--rate-fraction", "1",
                            "--mapping-file", str(mapping))
        if restored.get("status") != "ok":
            raise DemoFailed(f"the restore ended {restored.get('status')}: {restored.get('failures')}")
        new_pool = restored["target_user_pool_id"]

        self.step("snapshot the restored pool and diff it with the original snapshot")
        restored_snap = self.cli("snapshot", "--user-pool-id", new_pool, "--bucket", BUCKET,
                                 "--pool-name", "demo-users-restored", "--request-budget", "30")
        check = self.cli("diff", first_uri, f"s3://{BUCKET}/{restored_snap['key']}", "--restored")
        if restored_snap["users"] != first["users"] or not check["summary"]["identical"]:
            raise DemoFailed(f"the restored pool differs from the snapshot: {check.get('summary')}")

        elapsed = time.monotonic() - self.started
        print("\n" + "=" * 72)
        print("DEMO PASSED: snapshot, list, verify, diff and restore all worked")
        print("=" * 72)
        rows = [
            ("pool", f"{self.sample.pool_id} ({first['users']:,} users, {first['groups']} groups, "
                     f"{first['memberships']:,} memberships)"),
            ("snapshot 1", f"s3://{BUCKET}/{first['key']} ({first['bytes']:,} bytes, {first['duration_s']} s)"),
            ("snapshot 2", f"s3://{BUCKET}/{second['key']}"),
            ("verified", f"sha256 {first['sha256'][:16]}... matches the manifest"),
            ("diff", ", ".join(f"{k}={summary.get(k)}" for k in
                               ("users_added", "users_removed", "users_changed", "memberships_gained",
                                "memberships_lost"))),
            ("restored to", f"{new_pool} ({restored_snap['users']:,} users, each must set a new password)"),
            ("mapping file", str(mapping.relative_to(ROOT))),
            ("time taken", f"{elapsed:.1f} s"),
        ]
        for label, value in rows:
            print(f"  {label:<13} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=3000, help="users in the demo pool (default 3000)")
    args = parser.parse_args(argv)
    if args.users < MIN_USERS:
        parser.error(f"--users must be at least {MIN_USERS} (the demo changes a few users in each part of the pool)")
    print("cognito-backup demo: starting a local AWS emulator (moto) ...", flush=True)
    with LocalAws() as local:
        print(f"    emulator at {local.endpoint_url}")
        try:
            Demo(local, args.users).run()
        except DemoFailed as exc:
            print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:  # an unexpected error is a failure of the demo, with its cause
            print(f"\nDEMO FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
