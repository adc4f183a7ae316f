"""Every phase hands over: a run whose time runs out while it reads the configuration, lists the groups,
reads a group's members or lists the users saves a checkpoint there, and the next run carries on from
exactly that point: the configuration sections it has are not read again, ListGroups and each member
chain and user range go on from their tokens. The snapshot is byte for byte the one a single run writes.

A pagination token that expired between the runs makes its chain start again from the beginning without
losing or doubling anything (members read so far are discarded, users already written are skipped);
past ``MAX_RESTARTS`` the snapshot fails, cleanly.

The hand-over point is chosen with ``HandOverGate``: it holds one call until the run stops, so that call
is never made and its chain is unfinished in the checkpoint. One worker of each kind, so that a single
run and a continued one write the same bytes.
"""

from __future__ import annotations

import json

import pytest

from backup_lambda.checkpoint import DONE, MAX_RESTARTS, load_checkpoint
from backup_lambda.errors import SnapshotError
from backup_lambda.snapshot import resume_snapshot, take_snapshot
from backup_lambda.snapshot_format import CONFIG_SECTIONS
from demo.sample_pool import build_pool
from tests.engine.test_snapshot import NOW
from tests.support.fault_injection import (
    CallRecorder,
    Fault,
    HandOverGate,
    Injector,
    body_has,
    capture_readers,
    fast_retries_and_limits,
    params_have,
    small_parts,
)

# What AWS answers for a pagination token it no longer accepts (not verified on AWS for an expired token:
# it is the code Cognito gives a malformed one).
TOKEN_EXPIRED = Fault("token-expired", False, 400, ("InvalidParameterException", ""))
# The section each configuration call reads (sections without a call in this pool: absent without one).
SECTION_CALLS = {"mfa_config": "GetUserPoolMfaConfig", "clients": "ListUserPoolClients",
                 "identity_providers": "ListIdentityProviders", "resource_servers": "ListResourceServers",
                 "ui_customization": "GetUICustomization", "risk_configuration": "DescribeRiskConfiguration",
                 "log_delivery": "GetLogDeliveryConfiguration", "tags": "ListTagsForResource"}


@pytest.fixture
def world(cognito, s3, bucket, monkeypatch):
    """A pool in pages of 5: 3 pages of groups (14 groups), a group of 40 members (8 pages), 130 users
    (16 ranges of 1 to 2 pages)."""
    fast_retries_and_limits(monkeypatch)
    part_size = small_parts(monkeypatch, 4096)
    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 5)
    sample = build_pool(cognito, "phases", users=130, unconfirmed=0, big_group_members=40, extra_groups=8,
                        with_config=False)
    common = {"user_pool_id": sample.pool_id, "bucket": bucket, "now": NOW, "request_budget": 30,
              "part_size": part_size, "workers": 1}
    single = take_snapshot(cognito, s3, prefix="single/", **common)
    return {"sample": sample, "common": common, "single": body(s3, bucket, single.key),
            "readers": capture_readers(monkeypatch)}


def body(s3, bucket, key) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def first_run_hands_over(cognito, s3, world, gate: HandOverGate):
    result = take_snapshot(cognito, s3, prefix="multi/", deadline=gate.deadline, **world["common"])
    assert result.status == "continued", "the run did not hand over at the gate"
    assert gate.released_stopping, "the held call was released before the run stopped"
    return result, load_checkpoint(s3, world["common"]["bucket"], result.checkpoint_key)


def next_run_finishes(cognito, s3, world, continued, recorder: CallRecorder | None = None):
    if recorder is not None:
        recorder.attach(cognito)
    checkpoint = load_checkpoint(s3, world["common"]["bucket"], continued.checkpoint_key)
    result = resume_snapshot(cognito, s3, checkpoint, workers=1)
    assert result.status == "ok" and result.runs == 2
    return result


def assert_same_as_a_single_run(s3, world, result) -> None:
    bucket = world["common"]["bucket"]
    assert body(s3, bucket, result.key) == world["single"], "the continued snapshot differs from a single run's"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="multi/.checkpoints/").get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_hand_over_while_the_configuration_is_read(cognito, s3, world):
    gate = HandOverGate(cognito, "ListTagsForResource", world["readers"])

    continued, checkpoint = first_run_hands_over(cognito, s3, world, gate)

    assert "tags" not in checkpoint.sections and set(checkpoint.sections) < set(CONFIG_SECTIONS)
    recorder = CallRecorder()
    result = next_run_finishes(cognito, s3, world, continued, recorder)
    for section, operation in SECTION_CALLS.items():
        again = recorder.count("cognito-idp", operation)
        assert again == (0 if section in checkpoint.sections else 1), f"{section}: {operation} made {again} times"
    assert_same_as_a_single_run(s3, world, result)


def test_a_hand_over_while_the_groups_are_listed(cognito, s3, world):
    gate = HandOverGate(cognito, "ListGroups", world["readers"], nth=2)

    continued, checkpoint = first_run_hands_over(cognito, s3, world, gate)

    assert checkpoint.groups.listing not in (None, DONE) and checkpoint.groups.listed == 5
    recorder = CallRecorder()
    result = next_run_finishes(cognito, s3, world, continued, recorder)
    listed = [c for c in recorder.calls if c.operation == "ListGroups"]
    assert len(listed) == 2 and listed[0].params["NextToken"] == checkpoint.groups.listing
    assert_same_as_a_single_run(s3, world, result)


def test_a_hand_over_while_a_groups_members_are_read(cognito, s3, world):
    in_everyone = params_have('"GroupName": "everyone"')
    gate = HandOverGate(cognito, "ListUsersInGroup", world["readers"], nth=3,
                        match=lambda params: in_everyone(params) and params_have('"NextToken"')(params))

    continued, checkpoint = first_run_hands_over(cognito, s3, world, gate)

    assert list(checkpoint.groups.chains) == ["everyone"]
    assert checkpoint.counts.memberships >= 15, "the pages read of the chain travel in the spool"
    recorder = CallRecorder()
    result = next_run_finishes(cognito, s3, world, continued, recorder)
    chain = [c for c in recorder.calls if c.operation == "ListUsersInGroup" and c.params["GroupName"] == "everyone"]
    assert chain[0].params["NextToken"] == checkpoint.groups.chains["everyone"], "the chain starts again"
    assert len(chain) == 8 - 3
    assert_same_as_a_single_run(s3, world, result)


def test_a_hand_over_while_the_users_are_listed(cognito, s3, world):
    gate = HandOverGate(cognito, "ListUsers", world["readers"], nth=2, match=params_have('"PaginationToken"'))

    continued, checkpoint = first_run_hands_over(cognito, s3, world, gate)

    in_progress = {p: t for p, t in checkpoint.listing.ranges.items() if t not in (None, DONE)}
    assert in_progress, "no range was handed over half-way"
    recorder = CallRecorder()
    result = next_run_finishes(cognito, s3, world, continued, recorder)
    for prefix, token in checkpoint.listing.ranges.items():
        calls = [c for c in recorder.calls if c.operation == "ListUsers" and c.params["Filter"] == f'sub ^= "{prefix}"']
        if token == DONE:
            assert not calls, f"range {prefix} was done, and listed again"
        else:
            assert calls and calls[0].params.get("PaginationToken") == token, f"range {prefix} did not go on"
    assert_same_as_a_single_run(s3, world, result)


# --- tokens that expired between the runs ---------------------------------------------------------

GATES = {
    "ListGroups": ("ListGroups", 2, None, b'"NextToken"'),
    "members": ("ListUsersInGroup", 3, '"GroupName": "everyone"', b'"NextToken"'),
    "users": ("ListUsers", 2, None, b'"PaginationToken"'),
}


def _gate(cognito, world, chain: str) -> HandOverGate:
    operation, nth, also, token = GATES[chain]
    has_token = params_have(token.decode())
    match = has_token if also is None else (lambda params: params_have(also)(params) and has_token(params))
    return HandOverGate(cognito, operation, world["readers"], nth=nth, match=match)


@pytest.mark.parametrize("chain", sorted(GATES))
def test_a_token_expired_between_runs_starts_its_chain_again_and_loses_or_doubles_nothing(cognito, s3, world,
                                                                                       chain):
    continued, _ = first_run_hands_over(cognito, s3, world, _gate(cognito, world, chain))
    operation, _, _, token = GATES[chain]
    refused = Injector(cognito, operation, TOKEN_EXPIRED, match=body_has(token))  # the first token sent, once
    recorder = CallRecorder()

    result = next_run_finishes(cognito, s3, world, continued, recorder)

    assert refused.fired == 1
    tokenless = [c for c in recorder.calls if c.operation == operation and not (
        "NextToken" in c.params or "PaginationToken" in c.params)]
    assert tokenless, "the chain did not start again from its first page"
    assert_same_as_a_single_run(s3, world, result)


def test_a_token_refused_again_and_again_fails_the_snapshot_cleanly(cognito, s3, world):
    continued, _ = first_run_hands_over(cognito, s3, world, _gate(cognito, world, "members"))
    Injector(cognito, "ListUsersInGroup", TOKEN_EXPIRED, match=body_has(b'"NextToken"'), times=None)
    bucket = world["common"]["bucket"]

    with pytest.raises(SnapshotError) as raised:
        next_run_finishes(cognito, s3, world, continued)

    message = str(raised.value)
    assert "group everyone" in message and f"{MAX_RESTARTS + 1} times" in message and "ListUsersInGroup" in message
    assert world["sample"].pool_id in message
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="multi/").get("Contents", [])] == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_restarts_are_counted_across_runs(cognito, s3, world):
    """A chain restarted in one run keeps its count in the checkpoint: the bound holds for the snapshot."""
    continued, _ = first_run_hands_over(cognito, s3, world, _gate(cognito, world, "members"))
    refused = Injector(cognito, "ListUsersInGroup", TOKEN_EXPIRED, match=body_has(b'"NextToken"'))
    gate = HandOverGate(cognito, "ListUsersInGroup", world["readers"], nth=2,
                        match=params_have('"GroupName": "everyone"'))
    checkpoint = load_checkpoint(s3, world["common"]["bucket"], continued.checkpoint_key)

    second = resume_snapshot(cognito, s3, checkpoint, workers=1, deadline=gate.deadline)

    assert refused.fired == 1 and second.status == "continued"
    saved = load_checkpoint(s3, world["common"]["bucket"], second.checkpoint_key)
    assert saved.restarts == {"group everyone": 1}
    assert json.loads(json.dumps(saved.to_json()))["restarts"] == {"group everyone": 1}


def test_a_hand_over_before_the_first_user_call_still_probes_the_range_filter(cognito, s3, world):
    """If the service refuses the ``sub ^=`` filter, the next run must still find out with its first call."""
    from botocore.awsrequest import AWSResponse

    gate = HandOverGate(cognito, "ListUsers", world["readers"])
    continued, checkpoint = first_run_hands_over(cognito, s3, world, gate)
    assert set(checkpoint.listing.ranges.values()) == {None}, "a user range began before the hand-over"

    def refuse_filter(params, **kwargs):
        if b'"Filter"' in params["body"]:
            return AWSResponse("https://example.invalid", 400, {}, None), {
                "Error": {"Code": "InvalidParameterException", "Message": "bad filter"}}
        return None

    cognito.meta.events.register_first("before-call.cognito-identity-provider.ListUsers", refuse_filter)
    result = next_run_finishes(cognito, s3, world, continued)

    doc = json.loads(body(s3, world["common"]["bucket"], result.key))
    assert doc["summary"]["user_listing"] == "sequential"
    assert sorted(u["Username"] for u in doc["users"]) == sorted(world["sample"].users)
