"""diff: users, memberships, groups and configuration drift between two snapshots; the --restored
mode that ignores exactly the documented non-restorables; bounded memory for large pools."""

from __future__ import annotations

import copy
import json
import os
import time
import tracemalloc
import uuid
from datetime import timedelta

import psutil
import pytest

from backup_lambda.errors import SnapshotFileError
from cognito_backup.cli import main
from cognito_backup.diff import diff_snapshots
from tests.support.snapshot_builder import (
    TAKEN_AT,
    default_pool,
    make_group,
    make_snapshot,
    make_user,
    present,
    write_local,
)

CLIENT = {"ClientId": "old1", "ClientName": "web", "UserPoolId": "eu-west-1_Source1", "HasSecret": True,
          "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"], "RefreshTokenValidity": 30,
          "CreationDate": "2026-01-01T00:00:00+00:00"}


def pair(tmp_path, before: dict, after: dict):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return str(write_local(tmp_path / "a", before)), str(write_local(tmp_path / "b", after))


def later(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["taken_at"] = (TAKEN_AT + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return doc


def rebuild_summary(doc: dict) -> dict:
    from tests.support.snapshot_builder import summary_for

    doc["summary"] = summary_for(doc["users"], doc["groups"], [])
    return doc


def test_identical_snapshots_have_no_differences(tmp_path):
    doc = make_snapshot(sections={"clients": present(items=[CLIENT])})
    result = diff_snapshots(*pair(tmp_path, doc, later(doc)))
    assert result["summary"]["identical"], result
    assert result["summary"]["config_changed"] == []


def test_users_memberships_groups_and_config_changes_are_all_reported(tmp_path):
    before = make_snapshot(sections={"clients": present(items=[CLIENT])})
    after = later(before)
    after["users"] = [u for u in after["users"] if u["Username"] != "carol"]  # removed
    after["users"].append(make_user("dave", email="dave@example.com"))  # added
    alice = after["users"][0]
    alice["Attributes"] = [a for a in alice["Attributes"] if a["Name"] != "custom:tier"]  # attribute removed
    alice["Attributes"].append({"Name": "custom:tier", "Value": "silver"})
    after["users"][1]["Enabled"] = True  # bob re-enabled
    after["users"][1]["UserStatus"] = "RESET_REQUIRED"
    after["groups"] = [make_group("admins", ["alice", "dave"], precedence=2, description="Administrators"),
                       make_group("ops", [])]
    after["pool"]["Policies"]["PasswordPolicy"]["MinimumLength"] = 12
    after["clients"] = present(items=[{**CLIENT, "RefreshTokenValidity": 7,
                                       "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}])
    after["mfa_config"] = present({"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": True}})
    after["resource_servers"] = present(items=[{"Identifier": "api", "Name": "API", "Scopes": []}])
    rebuild_summary(after)

    result = diff_snapshots(*pair(tmp_path, before, after))
    s = result["summary"]
    assert (s["users_added"], s["users_removed"], s["users_changed"]) == (1, 1, 2)
    assert [u["username"] for u in result["users_added"]] == ["dave"]
    assert [u["username"] for u in result["users_removed"]] == ["carol"]
    changes = {c["username_a"]: c["changes"] for c in result["users_changed"]}
    assert changes["alice"] == {"attributes": {"custom:tier": ["gold", "silver"]}}
    assert changes["bob"] == {"enabled": [False, True], "status": ["CONFIRMED", "RESET_REQUIRED"]}
    assert s["changed_fields"]["attribute custom:tier"] == 1
    assert result["memberships_gained"] == [{"group": "admins", "user": "username:dave"}]
    assert {(m["group"], m["user"]) for m in result["memberships_lost"]} == {
        ("staff", "username:alice"), ("staff", "username:bob")}
    assert result["groups_added"] == ["ops"] and result["groups_removed"] == ["staff"]
    assert result["groups_changed"] == [{"group": "admins", "changes": {"Precedence": [1, 2]}}]
    assert s["config_changed"] == ["clients", "mfa_config", "pool", "resource_servers"]
    paths = {(c["section"], c["path"]) for c in result["config_changes"]}
    assert ("pool", "Policies.PasswordPolicy.MinimumLength") in paths
    assert ("clients", "web.RefreshTokenValidity") in paths
    assert ("clients", "web.ExplicitAuthFlows") not in paths  # same flows, other order
    assert not s["identical"]


def test_an_unavailable_section_is_not_compared_and_said_so(tmp_path):
    before = make_snapshot()
    after = later(before)
    after["ui_customization"] = {"status": "unavailable", "reason": "old botocore"}
    result = diff_snapshots(*pair(tmp_path, before, after))
    assert result["summary"]["not_compared"] == ["ui_customization"]
    assert result["summary"]["identical"]


def restored_copy(doc: dict, *, new_usernames: bool = False) -> dict:
    """What the snapshot of a restored pool looks like: new ids, subs, dates, statuses; no federated users."""
    after = later(doc)
    after["pool"].update(Id="eu-west-1_New", Name="prod-users-restored", CreationDate="2026-11-27T00:00:00+00:00",
                         Arn="arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_New",
                         EstimatedNumberOfUsers=99)
    after["pool"]["AdminCreateUserConfig"].pop("UnusedAccountValidityDays")
    renamed = {}
    users = []
    for user in after["users"]:
        if user["UserStatus"] == "EXTERNAL_PROVIDER":
            continue
        user = copy.deepcopy(user)
        for attr in user["Attributes"]:
            if attr["Name"] == "sub":
                attr["Value"] = str(uuid.uuid4())
        user["UserStatus"] = "FORCE_CHANGE_PASSWORD"
        user["UserCreateDate"] = user["UserLastModifiedDate"] = "2026-11-27T00:00:00+00:00"
        if new_usernames:
            renamed[user["Username"]] = str(uuid.uuid4())
            user["Username"] = renamed[user["Username"]]
        users.append(user)
    after["users"] = users
    for group in after["groups"]:
        group["Members"] = [renamed.get(m, m) for m in group["Members"] if not m.startswith("Google_")]
    for client in after["clients"].get("items", []):
        client["ClientId"] = "new-" + client["ClientId"]
        client["UserPoolId"] = "eu-west-1_New"
    return rebuild_summary(after)


def with_federated(doc: dict) -> dict:
    doc["users"].append(make_user("Google_123", email="g@example.com", status="EXTERNAL_PROVIDER",
                                  attributes={"identities": json.dumps([{"userId": "123", "providerName": "Google"}])}))
    doc["groups"][0]["Members"].append("Google_123")
    return rebuild_summary(doc)


def test_restored_mode_ignores_exactly_the_non_restorables(tmp_path):
    before = with_federated(make_snapshot(sections={"clients": present(items=[CLIENT])}))
    after = restored_copy(before)
    plain = diff_snapshots(*pair(tmp_path, before, after))
    assert not plain["summary"]["identical"]
    (tmp_path / "a").rename(tmp_path / "a0")
    (tmp_path / "b").rename(tmp_path / "b0")
    restored = diff_snapshots(*pair(tmp_path, before, after), restored=True)
    assert restored["summary"]["identical"], restored
    assert restored["summary"]["federated_users_not_compared"] == 1


def test_restored_mode_still_reports_real_losses(tmp_path):
    before = make_snapshot()
    after = restored_copy(before)
    after["users"][0]["Attributes"] = [a for a in after["users"][0]["Attributes"] if a["Name"] != "custom:tier"]
    after["users"][1]["Enabled"] = True
    after["groups"][1]["Members"] = ["alice"]
    after["pool"]["Policies"]["PasswordPolicy"]["MinimumLength"] = 8
    rebuild_summary(after)
    result = diff_snapshots(*pair(tmp_path, before, after), restored=True)
    s = result["summary"]
    assert s["users_changed"] == 2 and s["memberships_lost"] == 1 and s["config_changed"] == ["pool"]
    assert {c["username_a"]: c["changes"] for c in result["users_changed"]} == {
        "alice": {"attributes": {"custom:tier": ["gold", None]}},
        "bob": {"enabled": [False, True]},
    }


def test_restored_mode_matches_by_email_in_pools_that_sign_in_with_email(tmp_path):
    pool = default_pool(UsernameAttributes=["email"])
    before = make_snapshot(pool=pool, users=[
        make_user(str(uuid.uuid4()), email=f"{n}@example.com") for n in ("ann", "ben")])
    before["groups"] = [make_group("g", [before["users"][0]["Username"]])]
    rebuild_summary(before)
    after = restored_copy(before, new_usernames=True)
    result = diff_snapshots(*pair(tmp_path, before, after), restored=True)
    assert result["summary"]["identical"], result


def test_pool_fields_can_be_ignored_for_drills(tmp_path):
    before = make_snapshot(pool=default_pool(DeletionProtection="ACTIVE"))
    after = later(before)
    after["pool"]["DeletionProtection"] = "INACTIVE"
    a, b = pair(tmp_path, before, after)
    assert diff_snapshots(a, b)["summary"]["config_changed"] == ["pool"]
    assert diff_snapshots(a, b, ignore_pool_fields=["DeletionProtection"])["summary"]["identical"]


def test_the_restores_expected_differences_and_renames_are_applied(tmp_path, capsys):
    providers = [{"ProviderName": "My IdP", "ProviderType": "SAML", "ProviderDetails": {"MetadataURL": "https://m"}}]
    client = {**CLIENT, "SupportedIdentityProviders": ["COGNITO", "My IdP"], "RefreshTokenValidity": 30}
    before = make_snapshot(sections={"clients": present(items=[client]),
                                     "identity_providers": present(items=providers)})
    before["groups"][0]["RoleArn"] = "arn:aws:iam::111122223333:role/old"
    after = restored_copy(before)
    after["identity_providers"] = present(items=[{**providers[0], "ProviderName": "My-IdP"}])
    after["clients"]["items"][0].update(SupportedIdentityProviders=["COGNITO", "My-IdP"], RefreshTokenValidity=5)
    after["groups"][0]["RoleArn"] = "arn:aws:iam::123456789012:role/new"
    a, b = pair(tmp_path, before, after)

    assert not diff_snapshots(a, b, restored=True)["summary"]["identical"]
    result = diff_snapshots(a, b, restored=True, renames={"My IdP": "My-IdP"},
                            expected=["clients.web.RefreshTokenValidity", "groups.admins.RoleArn"])
    assert result["summary"]["identical"], result
    assert "identity providers renamed: My IdP -> My-IdP" in result["ignored"]

    # By hand: the restore's mapping file says the same.
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"format": "cognito-backup-restore-mapping", "clients": [],
                                   "identity_providers": [{"old_name": "My IdP", "new_name": "My-IdP"}],
                                   "expected_differences": ["clients.web.RefreshTokenValidity",
                                                            "groups.admins.RoleArn"]}, indent=1)[:-2]
                       + ',\n "users": [\n  {"old_username": "alice"}\n ]\n}\n')
    assert main(["diff", a, b, "--restored", "--mapping-file", str(mapping), "--exit-code"]) == 0
    assert "IDENTICAL" in capsys.readouterr().out


def test_restored_mode_does_not_compare_users_mfa_options_or_linked_native_users(tmp_path):
    before = with_federated(make_snapshot())
    before["users"][0]["MFAOptions"] = [{"DeliveryMedium": "SMS", "AttributeName": "phone_number"}]
    after = restored_copy(before)
    after["users"].append(make_user("Google_123", email="g@example.com", status="FORCE_CHANGE_PASSWORD"))
    after["groups"][0]["Members"].append("Google_123")  # --link-federated: a native user in its place
    rebuild_summary(after)
    a, b = pair(tmp_path, before, after)
    assert diff_snapshots(a, b)["summary"]["users_changed"] >= 1
    result = diff_snapshots(a, b, restored=True)
    assert result["summary"]["identical"], result
    assert result["summary"]["linked_native_users_not_compared"] == 1


def test_docs_restoring_renders_the_one_list_of_what_cannot_be_restored():
    from pathlib import Path

    from cognito_backup.diff_config import NON_RESTORABLE, non_restorable_table

    docs = (Path(__file__).parents[2] / "docs" / "restoring.md").read_text(encoding="utf-8")
    table = non_restorable_table()
    assert table in docs, "docs/restoring.md must quote diff_config.non_restorable_table() as it renders"
    assert table.count("\n") == len(NON_RESTORABLE) + 1


def test_corrupt_snapshot_is_refused(tmp_path):
    a, b = pair(tmp_path, make_snapshot(), later(make_snapshot()))
    with open(b, "r+b") as f:
        f.seek(100)
        f.write(b"#")
    with pytest.raises(SnapshotFileError, match="fails verification"):
        diff_snapshots(a, b)


def test_detail_lists_are_capped_but_counts_are_exact(tmp_path):
    before = make_snapshot(users=[], groups=[])
    after = later(make_snapshot(users=[make_user(f"u{i}") for i in range(30)], groups=[]))
    result = diff_snapshots(*pair(tmp_path, before, after), max_detail=10)
    assert result["summary"]["users_added"] == 30
    assert len(result["users_added"]) == 10
    assert result["truncated"] == ["users_added"]


def test_cli_summary_json_and_exit_code(tmp_path, capsys):
    before = make_snapshot()
    after = later(before)
    after["users"][0]["Enabled"] = False
    rebuild_summary(after)
    a, b = pair(tmp_path, before, after)
    assert main(["diff", a, b]) == 0
    out = capsys.readouterr().out
    assert "1 changed" in out and "DIFFERENT" in out
    assert main(["diff", a, b, "--json", "--exit-code"]) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["summary"]["users_changed"] == 1
    assert last["users_changed"][0]["changes"] == {"enabled": [True, False]}


def write_big(directory, n_users: int, *, change_every: int = 0):
    """A snapshot of n users, written user by user (the test never holds the pool either)."""
    from tests.support.snapshot_builder import key_for, make_manifest

    doc = make_snapshot(users=[], groups=[make_group("all", [f"user{i:07d}" for i in range(0, n_users, 10)])])
    doc["summary"]["users"] = n_users
    path = directory / key_for(doc).rsplit("/", 1)[-1]
    import hashlib

    sha = hashlib.sha256()
    size = 0
    with open(path, "wb") as f:
        def write(b: bytes):
            nonlocal size
            f.write(b)
            sha.update(b)
            size += len(b)
        head = {k: v for k, v in doc.items() if k not in ("users", "summary")}
        write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "users": [\n')
        for i in range(n_users):
            tier = "gold" if change_every and i % change_every == 0 else "silver"
            user = make_user(f"user{i:07d}", sub=f"{i:032x}", email=f"user{i}@example.com",
                             attributes={"custom:tier": tier})
            write((b",\n" if i else b"") + json.dumps(user).encode())
        write(b'\n], "summary": ' + json.dumps(doc["summary"]).encode() + b"}")
    manifest = make_manifest(doc, b"", key_for(doc))
    manifest.update(sha256=sha.hexdigest(), bytes=size, users=n_users, groups=1,
                    memberships=len(doc["groups"][0]["Members"]))
    path.with_name(path.name.replace(".json", ".manifest.json")).write_text(json.dumps(manifest))
    return str(path)


def _diff_big(tmp_path, n_users: int):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_big(tmp_path / "a", n_users)
    b = write_big(tmp_path / "b", n_users, change_every=1000)
    return diff_snapshots(a, b, work_dir=str(tmp_path), max_detail=100)


@pytest.mark.slow
def test_python_memory_does_not_grow_with_the_pool(tmp_path):
    tracemalloc.start()
    try:
        result = _diff_big(tmp_path, 8_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["summary"]["users_changed"] == 8
    assert peak < 4_000_000  # 8,000 users are ~3 MB of JSON per side, ~12 MB as Python objects


@pytest.mark.slow
def test_two_snapshots_of_a_million_users_each_in_bounded_memory(tmp_path):
    n = int(os.environ.get("DIFF_BENCH_USERS", "1000000"))
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.monotonic()
    result = _diff_big(tmp_path, n)
    grown = process.memory_info().rss - before
    print(f"diff of 2 x {n:,} users: {time.monotonic() - started:.1f} s, RSS grew {grown / 1e6:.0f} MB")
    assert result["summary"]["users_changed"] == n // 1000
    assert result["summary"]["users_a"] == n
    assert grown < 300_000_000
