"""infra/names.py says what the program names: the bootstrap scopes the CI roles with it, so it must
hold every auto-named resource the program declares, and every name the program sets must be a
StackNames name (so that ANY_STACK's patterns match it)."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest

from infra import names
from infra.names import AUTONAMED, STACK_NAME_MAX, StackNames, stack_name_problem
from tests.support.iam import wildcard_match
from tests.support.pulumi_mocks import ProgramRun, run_main_program

ROOT = Path(__file__).resolve().parents[2]
# What Lambda takes as PublishLayerVersion's LayerName (a name or a layer ARN), as botocore's model says.
LAYER_NAME_PATTERN = botocore.session.get_session().get_service_model("lambda").operation_model(
    "PublishLayerVersion").input_shape.members["LayerName"].metadata["pattern"]
KIND_OF_TYPE = {  # the types whose physical name Pulumi makes when the program sets none, and that input
    "aws:s3/bucket:Bucket": ("buckets", "bucket"),
    "aws:iam/role:Role": ("roles", "name"),
    "aws:sqs/queue:Queue": ("queues", "name"),
    "aws:cloudwatch/eventRule:EventRule": ("rules", "name"),
    "aws:sns/topic:Topic": ("topics", "name"),
}


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    """The prod example: replica, Object Lock and email on, so every resource the program can declare."""
    return run_main_program(ROOT / "Pulumi.prod.yaml")


def test_autonamed_lists_exactly_the_resources_pulumi_names(prod):
    declared: dict[str, set[str]] = {kind: set() for kind in AUTONAMED}
    for resource in prod.resources:
        if resource.typ in KIND_OF_TYPE:
            kind, name_input = KIND_OF_TYPE[resource.typ]
            if not resource.inputs.get(name_input):
                declared[kind].add(resource.name)

    assert declared == {kind: set(logical) for kind, logical in AUTONAMED.items()}


def test_every_name_the_program_sets_is_one_of_the_stacks_names(prod):
    stack = StackNames.of("prod")
    set_names = {
        "function": [r.inputs["name"] for r in prod.of_type("aws:lambda/function:Function")],
        "log_group": [r.inputs["name"] for r in prod.of_type("aws:cloudwatch/logGroup:LogGroup")],
        "dashboard": [r.inputs["dashboardName"] for r in prod.of_type("aws:cloudwatch/dashboard:Dashboard")],
        "sdk_layer": [r.inputs["layerName"] for r in prod.of_type("aws:lambda/layerVersion:LayerVersion")],
    }

    assert set_names == {"function": [stack.function], "log_group": [stack.log_group], "dashboard": [stack.dashboard],
                         "sdk_layer": [stack.sdk_layer]}
    assert sorted(r.inputs["name"] for r in prod.of_type("aws:kms/alias:Alias")) == sorted(
        [stack.key_alias, stack.replica_key_alias])
    alarms = [r.inputs["name"] for r in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert alarms and all(a.startswith(stack.alarm("")) for a in alarms)
    for name in [*set_names["function"], *set_names["sdk_layer"], *alarms, stack.dashboard]:
        assert wildcard_match(names.ANY_STACK.prefix, name), name


@pytest.mark.parametrize(("stack", "ok"), [
    ("prod", True), ("eu_prod-2", True), ("x" * STACK_NAME_MAX, True),
    ("x" * (STACK_NAME_MAX + 1), False), ("", False), ("prod.eu", False), ("prod\n", False), ("préprod", False),
])
def test_a_stack_name_must_leave_the_function_a_valid_lambda_name(stack, ok):
    assert (stack_name_problem(stack) is None) is ok
    if ok:
        assert len(StackNames.of(stack).function) <= names.LAMBDA_NAME_MAX
        assert re.fullmatch(LAYER_NAME_PATTERN, StackNames.of(stack).sdk_layer)
