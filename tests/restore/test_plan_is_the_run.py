"""The dry run says what the run does: a dry run, then the real run, of one rich snapshot, and the plan's
actions and counts, item by item and user by user, are what the run's report and mapping file record.

The snapshot is the rich pool of tests/support/rich_pool.py (resource server, OIDC provider, clients with and
without a secret, groups, disabled and unconfirmed users), plus a Google provider whose secret is not given
(a client supports it: the run leaves it out of that client, with a note), and users moto cannot make:
federated users (one whose provider is restored and is linked with --link-federated, one whose provider is
not, disabled too), a native user with an identity of the provider that is not restored, and, in a pool
that signs in with email, users without an email (no usable username, one of them federated). Three runs:
into a new pool, into a new email-username pool, and the resume of a restore that failed in places.
AdminLinkProviderForUser, which moto lacks, is answered by a recorder.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from backup_lambda.snapshot import take_snapshot
from cognito_backup.restore import RestoreOptions, restore_snapshot
from tests.support.fault_injection import RawBody
from tests.support.rich_pool import PROVIDER_SECRETS, build_rich_pool, fast_rate_limits  # noqa: F401 - autouse fixture
from tests.support.snapshot_builder import make_user, summary_for, write_s3

ALREADY = "skip: already in the target pool"
# What the run counts (report steps.users) for each user action the plan counts (plan.users).
RUN_COUNT_OF = {
    "create: AdminCreateUser": "created",
    "federated: linked to a new native user": "created",
    "skip: already in the target pool": "already there",
    "skip: federated, not recreated (listed in the report)": "federated (listed)",
    "skip: federated, its provider is not restored (listed in the report)": "federated (provider not restored)",
    "skip: no usable username (listed in the report)": "skipped (no usable username)",
}
NO_EMAIL = "has no email, which this pool uses as the username"


def identities(provider: str, user_id: str) -> dict[str, str]:
    return {"identities": json.dumps([{"userId": user_id, "providerName": provider, "providerType": provider}])}


class LinkRecorder:
    """Answers AdminLinkProviderForUser (moto lacks it) before the request leaves, and records the links."""

    EVENT = "before-call.cognito-identity-provider.AdminLinkProviderForUser"

    def __init__(self, cognito):
        self.cognito = cognito
        self.links: list[tuple[str, str]] = []

    def __enter__(self) -> LinkRecorder:
        self.cognito.meta.events.register(self.EVENT, self.answer)
        return self

    def __exit__(self, *_) -> None:
        self.cognito.meta.events.unregister(self.EVENT, self.answer)

    def answer(self, params, **_):  # params: the request, its body the API parameters as JSON
        sent = json.loads(params["body"])
        self.links.append((sent["DestinationUser"]["ProviderAttributeValue"],
                           f"{sent['SourceUser']['ProviderName']}:{sent['SourceUser']['ProviderAttributeValue']}"))
        return AWSResponse("https://cognito-idp", 200, {}, RawBody(b"{}")), {}


def rich_snapshot(cognito, s3, bucket, *, email_pool: bool) -> str:
    """The rich pool's snapshot with a provider without its secret (Google), federated users and, in an email
    pool, users without an email. Returns its s3:// url."""
    pool_id = build_rich_pool(cognito, "email-users" if email_pool else "prod-users",
                              username_attributes=["email"] if email_pool else None)
    cognito.create_identity_provider(UserPoolId=pool_id, ProviderName="Google", ProviderType="Google",
                                     ProviderDetails={"client_id": "g-client", "client_secret": "g-secret",
                                                      "authorize_scopes": "openid email"},
                                     AttributeMapping={"email": "email"})
    web = next(c for c in cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
               if c["ClientName"] == "web")
    cognito.update_user_pool_client(  # the settings build_rich_pool gave it, and Google
        UserPoolId=pool_id, ClientId=web["ClientId"], ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        SupportedIdentityProviders=["COGNITO", "Corp", "Google"], CallbackURLs=["https://app.example.com/cb"],
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True)
    key = take_snapshot(cognito, s3, user_pool_id=pool_id, bucket=bucket).key
    doc = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    added = [
        make_user("Corp_c-1", email="fed@example.com", status="EXTERNAL_PROVIDER",
                  attributes=identities("Corp", "c-1")),
        make_user("Google_777", email="g@example.com", status="EXTERNAL_PROVIDER", enabled=False,
                  attributes=identities("Google", "777")),
        make_user("erin", email="erin@example.com", attributes=identities("Google", "778")),
    ]
    if email_pool:
        added += [make_user("0b7e-nomail", attributes={"phone_number": "+15550100"}),
                  make_user("Corp_c-2", status="EXTERNAL_PROVIDER", attributes=identities("Corp", "c-2"))]
    doc["users"] += added
    staff = next(g for g in doc["groups"] if g["GroupName"] == "staff")
    staff["Members"] += [u["Username"] for u in added]
    doc["summary"] = summary_for(doc["users"], doc["groups"], doc["summary"].get("excluded_attributes") or [])
    return f"s3://{bucket}/" + write_s3(s3, bucket, doc, prefix="edited/")


def options(source: str, tmp_path, **extra) -> RestoreOptions:
    extra.setdefault("new_pool_name", "restored")
    return RestoreOptions(snapshot=source, secrets=PROVIDER_SECRETS, link_federated=True, workers=2,
                          mapping_file=str(tmp_path / "mapping.json"), **extra)


def plan_then_run(cognito, s3, opts: RestoreOptions, tmp_path):
    """(the plan, the run's report, its mapping file, the links it made): the dry run first, then the run."""
    plan_report = restore_snapshot(cognito, s3, RestoreOptions(**{**vars(opts), "dry_run": True}))
    assert plan_report["status"] == "dry-run" and not (tmp_path / "mapping.json").exists()
    with LinkRecorder(cognito) as recorder:
        report = restore_snapshot(cognito, s3, opts)
    return plan_report, report, json.loads((tmp_path / "mapping.json").read_text()), recorder.links


def assert_the_plan_is_the_run(plan_report, report, mapping, links) -> None:
    plan, steps = plan_report["plan"], report["steps"]
    assert report["status"] == "ok" and report["failure_count"] == 0, report["failures"]

    # The configuration, item by item.
    assert steps["resource_servers"]["created"] == [e["action"] for e in plan["resource_servers"]].count("create")
    planned_providers = {e["provider"]: e for e in plan["identity_providers"]}
    assert steps["identity_providers"]["created"] == [n for n, e in planned_providers.items()
                                                      if e["action"] == "create"]
    assert steps["identity_providers"]["already_there"] == [n for n, e in planned_providers.items()
                                                            if e["action"] == ALREADY]
    assert steps["identity_providers"]["skipped"] == [{"provider": n, "reason": e["why"]}
                                                      for n, e in planned_providers.items() if e["action"] == "skip"]
    restored_clients = {c["client_name"]: c for c in mapping["clients"]}
    assert sorted(e["client"] for e in plan["clients"]) == sorted(restored_clients)
    assert all(c["new_client_id"] for c in mapping["clients"])
    assert steps["clients"]["created"] == [e["action"] for e in plan["clients"]].count("create")
    assert steps["clients"]["already_there"] == [e["action"] for e in plan["clients"]].count(ALREADY)
    assert steps["clients"]["with_new_secret"] == (
        sum(1 for e in plan["clients"] if e.get("new_secret"))
        + sum(1 for e in plan["clients"] if e["action"] == ALREADY and restored_clients[e["client"]]["has_secret"]))
    domain = plan["domain"]
    assert steps["domain"].get("domain") == (domain["domain"] if domain["action"] in ("create", ALREADY) else None)
    assert steps["domain"].get("already_there", False) is (domain["action"] == ALREADY)
    assert steps["other_settings"]["applied"] == plan["other_settings"]
    assert steps["groups"] == {"created": plan["groups"].get("create", 0),
                               "already_there": plan["groups"].get(ALREADY, 0)}

    # The users: the states the plan says each will end in are the states the mapping file records.
    assert plan["user_states"] == report["user_states"] == dict(Counter(u["state"] for u in mapping["users"]))
    run_counts: Counter[str] = Counter()
    for label, n in plan["users"].items():
        run_counts[RUN_COUNT_OF[label]] += n
    assert steps["users"] == dict(run_counts)
    assert plan["federated_users"] == report["federated_users"]
    assert set(plan["federated_users"]["sample"]) == {u["old_username"] for u in mapping["users"]
                                                     if u["state"] == "federated"}
    assert plan["skipped_users"] == report["skipped_users"]
    assert [(s["user"], s["reason"]) for s in plan["skipped_users"]["sample"]] == [
        (u["old_username"], u["detail"]) for u in mapping["users"] if u["state"] == "skipped"]
    assert "resume_command" not in report  # nothing for a resume to retry: skips are by design

    # Memberships, disabled users, federated links.
    memberships = dict(plan["memberships"])
    assert steps["memberships"] == {"added": memberships.pop("add", 0),
                                    "skipped (already there or user not restored)": sum(memberships.values())}
    assert steps["disabled"].get("disabled", 0) == plan["disabled_users"].get("disable", 0)
    assert steps["federated_links"] == {"linked": plan["federated_links"].get("link", 0),
                                        "provider not restored": plan["federated_links"]["skip: provider not restored"]}
    assert len(links) == plan["federated_links"].get("link", 0)

    # And what the run noted is what the plan noted.
    assert report["notes"] == plan_report["notes"]


def test_the_plan_of_a_restore_into_a_new_pool_is_what_the_run_does(cognito, s3, bucket, tmp_path):
    source = rich_snapshot(cognito, s3, bucket, email_pool=False)

    plan_report, report, mapping, links = plan_then_run(cognito, s3, options(source, tmp_path,
                                                                            domain_prefix="restored-auth"), tmp_path)

    assert_the_plan_is_the_run(plan_report, report, mapping, links)
    plan = plan_report["plan"]
    # The cases this snapshot was built for are all there.
    assert {e["provider"]: e["action"] for e in plan["identity_providers"]} == {"Corp": "create", "Google": "skip"}
    assert plan["users"] == {"create: AdminCreateUser": 6, "federated: linked to a new native user": 1,
                             "skip: federated, its provider is not restored (listed in the report)": 1}
    assert plan["user_states"] == {"created": 6, "linked": 1, "federated": 1}
    assert plan["disabled_users"] == {"disable": 1, "skip: its user is not restored": 1}
    assert plan["memberships"] == {"add": 7, "skip: its user is not restored": 1}
    assert plan["federated_links"] == {"link": 1, "skip: provider not restored": 1}
    assert links == [("Corp_c-1", "Corp:c-1")]
    assert plan["domain"] == {"domain": "restored-auth", "action": "create"}
    assert any("Google" in n and "SupportedIdentityProviders" in n for n in report["notes"])


def test_the_plan_of_a_restore_into_an_email_username_pool_is_what_the_run_does(cognito, s3, bucket, tmp_path):
    source = rich_snapshot(cognito, s3, bucket, email_pool=True)

    plan_report, report, mapping, links = plan_then_run(cognito, s3, options(source, tmp_path), tmp_path)

    assert_the_plan_is_the_run(plan_report, report, mapping, links)
    plan = plan_report["plan"]
    assert plan["skipped_users"] == {"count": 2, "sample": [{"user": "0b7e-nomail", "reason": NO_EMAIL},
                                                            {"user": "Corp_c-2", "reason": NO_EMAIL}]}
    assert plan["users"]["skip: no usable username (listed in the report)"] == 2
    assert plan["memberships"]["skip: its user is not restored"] == 3
    (linked,) = [u for u in mapping["users"] if u["state"] == "linked"]
    assert linked["old_username"] == "Corp_c-1" and links == [(linked["new_username"], "Corp:c-1")]


def test_the_plan_of_a_resume_is_what_the_resumed_run_does(cognito, s3, bucket, tmp_path):
    source = rich_snapshot(cognito, s3, bucket, email_pool=False)
    first = options(source, tmp_path, domain_prefix="restored-auth")

    def fail_for(username: str, operation: str):
        def fail(params, **_):
            if params.get("Username") == username:
                raise ClientError({"Error": {"Code": "InternalErrorException", "Message": "injected"}}, operation)
        return fail

    # A first run that fails in places: carol is not created, zoë not added to her group.
    hooks = {"before-parameter-build.cognito-idp.AdminCreateUser": fail_for("carol", "AdminCreateUser"),
             "before-parameter-build.cognito-idp.AdminAddUserToGroup": fail_for("zoë", "AdminAddUserToGroup")}
    for event, hook in hooks.items():
        cognito.meta.events.register(event, hook)
    with LinkRecorder(cognito):
        stopped = restore_snapshot(cognito, s3, first)
    for event, hook in hooks.items():
        cognito.meta.events.unregister(event, hook)
    assert stopped["status"] == "incomplete" and stopped["failure_count"] == 2
    (tmp_path / "mapping.json").unlink()

    resume = options(source, tmp_path, new_pool_name=None, target_pool_id=stopped["target_user_pool_id"],
                     resume=True, domain_prefix="restored-auth")
    plan_report, report, mapping, links = plan_then_run(cognito, s3, resume, tmp_path)

    assert_the_plan_is_the_run(plan_report, report, mapping, links)
    plan = plan_report["plan"]
    assert plan["users"] == {ALREADY: 6, "create: AdminCreateUser": 1,
                             "skip: federated, its provider is not restored (listed in the report)": 1}
    assert plan["memberships"] == {ALREADY: 6, "add": 1, "skip: its user is not restored": 1}
    assert plan["disabled_users"] == {"skip: already disabled in the target pool": 1,
                                      "skip: its user is not restored": 1}
    assert {e["action"] for e in plan["clients"]} == {ALREADY}
    assert plan["domain"] == {"domain": "restored-auth", "action": ALREADY}


@pytest.mark.parametrize("email_pool", [False, True])
def test_a_dry_run_writes_nothing(cognito, s3, bucket, tmp_path, email_pool):
    source = rich_snapshot(cognito, s3, bucket, email_pool=email_pool)
    pools_before = cognito.list_user_pools(MaxResults=60)["UserPools"]

    report = restore_snapshot(cognito, s3, RestoreOptions(**{**vars(options(source, tmp_path)), "dry_run": True}))

    assert report["status"] == "dry-run"
    assert cognito.list_user_pools(MaxResults=60)["UserPools"] == pools_before
    assert list(tmp_path.iterdir()) == []
