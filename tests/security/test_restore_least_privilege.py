"""The restore's IAM list (``cognito_backup/permissions.py``, ``RESTORE_OPERATIONS``), both ways: every call the
restore role's commands make is listed, and every call listed is made by one of these scenarios.

The scenarios: a restore of a snapshot as a real account holds it (triggers granted with --grant-triggers,
federated users linked, branding, threat protection, log delivery, a custom domain by override) by each user
path, behind the recording fake of what AWS does and moto does not (``tests/restore/aws_fakes.py``: import jobs,
AdminLinkProviderForUser, the Set* calls, TagResource, Lambda's GetPolicy/AddPermission), and the resume of the
import path's (it looks for an import job still running: ListUserImportJobs); a restore of a moto pool
whose pool still exists (the native-recovery check) with --check, one AdminCreateUser answer lost (its retry
finds the user: AdminGetUser), then resumed (what the target holds is listed); a restore into an existing pool
with other tags (TagResource); and `list`, which the same role runs (runbook step 3).
"""

from __future__ import annotations

import pytest

from backup_lambda.aws import make_client
from backup_lambda.permissions import direct_calls
from backup_lambda.snapshot import take_snapshot
from cognito_backup.listing import list_snapshots
from cognito_backup.permissions import DRILL_OPERATIONS, RESTORE_OPERATIONS, RESTORE_TRIGGER_CALLS
from cognito_backup.restore import RestoreOptions, Restorer
from cognito_backup.signatures import Trust
from tests.restore.aws_fakes import AwsRules, RequestLog
from tests.restore.test_restore_real_account import NEW, World
from tests.support.fault_injection import RESPONSE_LOST, Injector
from tests.support.rich_pool import (
    BOTH_TEMPLATE_HALVES,
    PROVIDER_SECRETS,
    TRIGGERS,
    build_rich_pool,
    fast_rate_limits,  # noqa: F401 - autouse fixture
)
from tests.support.signing import signer_for


@pytest.fixture
def made(cognito, s3, bucket, tmp_path, monkeypatch, signing_key):
    """The (service, operation) pairs the scenarios made."""
    import botocore.retries.standard

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    calls: set[tuple[str, str]] = set()

    def record(log: RequestLog) -> None:
        calls.update((service, operation) for service, operation, _ in log.requests)

    for users_via in ("admin-create", "import"):
        (tmp_path / users_via).mkdir()
        world = World(s3, bucket)
        overrides = {**NEW, "domain.CustomDomain.Domain": f"auth-{users_via}.example.com"}
        report = world.restore(tmp_path / users_via, users_via=users_via, new_pool_name=f"restored-{users_via}",
                               domain_prefix=f"restored-{users_via}", overrides=overrides)
        assert report["status"] == "ok", report["failures"]
        if users_via == "import":
            resumed = world.restore(tmp_path / users_via, users_via=users_via, new_pool_name=None, resume=True,
                                    target_pool_id=report["target_user_pool_id"],
                                    domain_prefix=f"restored-{users_via}", overrides=overrides)
            assert resumed["status"] == "ok", resumed["failures"]
        record(world.log)

    log = RequestLog()
    client = log.attach(make_client("cognito-idp"))
    AwsRules(make_client("cognito-idp")).attach(client)
    restore_s3 = log.attach(make_client("s3"))
    from backup_lambda import aws

    real = aws.make_client  # the signature's check (kms:Verify) makes its own client
    monkeypatch.setattr(aws, "make_client",
                        lambda service, *a, **kw: log.attach(real(service, *a, **kw)) if service == "kms"
                        else real(service, *a, **kw))
    pool_id = build_rich_pool(cognito, "prod-users", lambda_config=TRIGGERS,
                              verification_template=BOTH_TEMPLATE_HALVES)
    # The newer pool features (held by demo/cognito_gaps.py): the check's snapshot of the restored pool then
    # describes its terms and CIMD policies too.
    web = next(c["ClientId"] for c in cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)[
        "UserPoolClients"] if c["ClientName"] == "web")
    cognito.create_terms(UserPoolId=pool_id, ClientId=web, TermsName="terms-of-use", TermsSource="LINK",
                         Enforcement="NONE", Links={"cognito:default": "https://app.example.com/terms"})
    cognito.create_cimd_policy(UserPoolId=pool_id, ClientId=web, PolicyName="partners",
                               URLPatterns=["https://*.partner.example.com/client.json"])
    source = f"s3://{bucket}/" + take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket,
                                               signer=signer_for(signing_key)).key
    trust = Trust((signing_key,))
    lost = Injector(client, "AdminCreateUser", RESPONSE_LOST)
    first = Restorer(client, restore_s3, RestoreOptions(
        snapshot=source, new_pool_name="restored", secrets=PROVIDER_SECRETS, mapping_file=str(tmp_path / "a.json"),
        workers=1, check=True, trust=trust)).run()
    assert lost.fired == 1 and first["status"] == "ok", first.get("failures")
    lost.remove()
    resumed = Restorer(client, restore_s3, RestoreOptions(
        snapshot=source, target_pool_id=first["target_user_pool_id"], resume=True, secrets=PROVIDER_SECRETS,
        mapping_file=str(tmp_path / "b.json"), workers=1, trust=trust)).run()
    assert resumed["status"] == "ok", resumed["failures"]
    prepared = cognito.create_user_pool(PoolName="prepared", AutoVerifiedAttributes=["email"],
                                        UserPoolTags={"owner": "iac"})["UserPool"]["Id"]
    into = Restorer(client, restore_s3, RestoreOptions(
        snapshot=source, target_pool_id=prepared, secrets=PROVIDER_SECRETS, mapping_file=str(tmp_path / "c.json"),
        workers=1, trust=trust)).run()
    assert into["status"] == "ok", into["failures"]
    list_snapshots(restore_s3, bucket)
    record(log)
    return calls


def test_every_call_the_restore_makes_is_in_its_list_and_every_listed_call_is_made(made):
    listed = direct_calls(RESTORE_OPERATIONS)

    assert made - listed == set(), "made but not granted"
    assert listed - made == set(), "granted but never made"


def test_the_drill_is_granted_none_of_the_trigger_calls():
    drill = direct_calls(DRILL_OPERATIONS)
    assert RESTORE_TRIGGER_CALLS and not RESTORE_TRIGGER_CALLS & drill
    assert direct_calls(RESTORE_OPERATIONS) >= RESTORE_TRIGGER_CALLS
    assert {op.action for op in RESTORE_OPERATIONS if op.service == "lambda"} == {"lambda:GetPolicy",
                                                                                   "lambda:AddPermission"}
