"""One set of Pulumi mocks for the repository's two programs (``__main__.py`` and ``bootstrap/``), and
the helper that runs a program under them (pulumi/examples ``testing-unit-py`` style).

``AwsMocks`` answers as AWS and the provider would: the id and the ARN a resource of each type gets,
and Pulumi's auto-name (``<logical name>-<7 hex>``) where the program sets no physical name.
``run_program`` runs a program directory's ``__main__.py`` with a stack's config in a fresh root stack,
from that directory (as ``pulumi up`` does), and returns what it declared: each resource's URN, type,
logical name, resolved inputs and mocked state, which ones are protected, and the stack outputs.

URNs are the engine's: ``urn:pulumi:<stack>::<project>::<parent types$...$type>::<name>``, the root
stack left out of the chain (the mock monitor of the SDK keeps only the nearest parent's type).
"""

from __future__ import annotations

import contextlib
import json
import runpy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor

REPOSITORY = Path(__file__).resolve().parents[2]  # the main program's directory
ACCOUNT = "123456789012"
PARTITION = "aws"
AUTONAME_SUFFIX = "7f3e2a1"  # what Pulumi appends to a logical name: 7 random hex digits
STACK_TYPE = "pulumi:pulumi:Stack"


def autoname(logical_name: str) -> str:
    return f"{logical_name}-{AUTONAME_SUFFIX}"


def kms_key_id(logical_name: str, region: str) -> str:
    """The key id the mocks give a key: a UUID, stable for the same logical name and region."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kms:{region}:{logical_name}"))


def kms_key_arn(logical_name: str, region: str, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:kms:{region}:{account}:key/{kms_key_id(logical_name, region)}"


@dataclass
class Declared:
    """One resource the program declared."""

    typ: str
    name: str
    inputs: dict[str, Any]  # as the program declared them, resolved
    state: dict[str, Any]  # what the mocks answered: the inputs plus ids, ARNs and auto-names
    resource_id: str
    custom: bool
    urn: str = ""


class AwsMocks(pulumi.runtime.Mocks):
    """Ids, ARNs and names as AWS and the provider give them; records every resource."""

    def __init__(self, region: str, account: str = ACCOUNT):
        self.region = region
        self.account = account
        self.declared: list[Declared] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        resource_id = self._answer(args.typ, args.name, state) if args.custom else ""  # a component: no id
        self.declared.append(Declared(args.typ, args.name, dict(args.inputs), state, resource_id,
                                      bool(args.custom)))
        return resource_id, state

    def _answer(self, typ: str, name: str, state: dict[str, Any]) -> str:
        """Fill ``state`` with what AWS would answer; return the resource's id (as the provider has it)."""
        region = state.get("region") or self.region
        account = self.account

        def arn(service: str, resource: str, in_region: str | None = region) -> str:
            return f"arn:{PARTITION}:{service}:{in_region or ''}:{account}:{resource}"

        if typ == "aws:s3/bucket:Bucket":
            state["bucket"] = state.get("bucket") or autoname(name)
            state["arn"] = f"arn:{PARTITION}:s3:::{state['bucket']}"
            return state["bucket"]
        if typ == "aws:iam/role:Role":
            state["name"] = state.get("name") or autoname(name)
            state["arn"] = arn("iam", f"role{state.get('path') or '/'}{state['name']}", in_region=None)
            return state["name"]
        if typ == "aws:iam/policy:Policy":
            state["name"] = state.get("name") or autoname(name)
            state["arn"] = arn("iam", f"policy{state.get('path') or '/'}{state['name']}", in_region=None)
            return state["arn"]
        if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(state["url"]).removeprefix("https://")
            state["arn"] = arn("iam", f"oidc-provider/{host}", in_region=None)
            return state["arn"]
        if typ == "aws:kms/key:Key":
            state["keyId"] = kms_key_id(name, region)
            state["arn"] = kms_key_arn(name, region, account)
            return state["keyId"]
        if typ == "aws:sqs/queue:Queue":
            state["name"] = state.get("name") or autoname(name)
            state["arn"] = arn("sqs", state["name"])
            state["url"] = f"https://sqs.{region}.amazonaws.com/{account}/{state['name']}"
            return state["url"]
        if typ == "aws:sns/topic:Topic":
            state["name"] = state.get("name") or autoname(name)
            state["arn"] = arn("sns", state["name"])
            return state["arn"]
        if typ == "aws:cloudwatch/eventRule:EventRule":
            state["name"] = state.get("name") or autoname(name)
            state["arn"] = arn("events", f"rule/{state['name']}")
            return state["name"]
        if typ == "aws:lambda/function:Function":
            state["arn"] = arn("lambda", f"function:{state['name']}")
            return state["name"]
        if typ == "aws:lambda/layerVersion:LayerVersion":
            # Lambda numbers a layer's versions from 1; the ARN is the layer's and the version's.
            state["layerArn"] = arn("lambda", f"layer:{state['layerName']}")
            state["version"] = "1"
            state["arn"] = f"{state['layerArn']}:{state['version']}"
            state["codeSha256"] = state.get("sourceCodeHash")
            return state["arn"]
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = arn("logs", f"log-group:{state['name']}")
            return state["name"]
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            state["arn"] = arn("cloudwatch", f"alarm:{state['name']}")
            return state["name"]
        if typ.startswith("aws:"):
            service, kind = typ.split(":")[1].split("/")
            state.setdefault("arn", arn(service, f"{kind}/{autoname(name)}"))
        return autoname(name)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account, "arn": f"arn:{PARTITION}:iam::{self.account}:user/deployer",
                    "userId": "AIDAEXAMPLE", "id": self.account}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": PARTITION, "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
                    "id": PARTITION}
        raise AssertionError(f"the program made a call these mocks do not know: {args.token}")


class EngineUrnMonitor(MockMonitor):
    """The SDK's mock monitor, with URNs as the engine makes them (the whole chain of parent types)
    and a record of every URN registered, by (type, logical name)."""

    def __init__(self, mocks: AwsMocks):
        super().__init__(mocks)
        self.urns: dict[tuple[str, str], list[str]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), qualified, name])

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method's name
        response = super().RegisterResource(request)
        if request.type != STACK_TYPE:
            self.urns.setdefault((request.type, request.name), []).append(response.urn)
        return response


@dataclass
class ProgramRun:
    """What one run of a program declared."""

    region: str
    resources: list[Declared]
    outputs: dict[str, Any] = field(default_factory=dict)
    protected: set[tuple[str, str]] = field(default_factory=set)  # (type, name) declared with protect=True

    def urns(self) -> list[str]:
        return sorted(r.urn for r in self.resources)

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.typ == typ]

    def by_name(self, typ: str) -> dict[str, Declared]:
        return {r.name: r for r in self.of_type(typ)}

    def declared(self, typ: str, name: str | None = None) -> Declared:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"{len(found)} resources of type {typ} named {name}: {[r.name for r in found]}"
        return found[0]

    def one(self, typ: str, name: str | None = None) -> dict[str, Any]:
        """The inputs of the one resource of this type (and name)."""
        return self.declared(typ, name).inputs

    def policy(self, typ: str, name: str) -> dict:
        return json.loads(self.one(typ, name)["policy"])


def as_pulumi_config(values: Mapping[str, Any], namespace: str) -> dict[str, str]:
    """Config as the runtime hands it to a program: full keys (``namespace:key`` unless the key has a
    namespace), strings as they are, everything else (lists, objects, numbers, booleans) as JSON."""
    return {key if ":" in key else f"{namespace}:{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in values.items()}


def stack_file_config(path: Path) -> dict[str, Any]:
    """The ``config:`` of a ``Pulumi.<stack>.yaml``, as written."""
    return yaml.safe_load(path.read_text())["config"]


def stack_name(stack_file: Path) -> str:
    """``Pulumi.prod.yaml`` -> ``prod``."""
    return stack_file.name[len("Pulumi."):-len(".yaml")]


def run_program(program_dir: Path, *, project: str, stack: str, config: Mapping[str, Any]) -> ProgramRun:
    """Run ``program_dir/__main__.py`` under the mocks with this config (full keys, values as Pulumi
    hands them over or as a stack file writes them)."""
    raw = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    region = raw.get("aws:region") or "us-east-1"
    mocks = AwsMocks(region)
    monitor = EngineUrnMonitor(mocks)
    pulumi_settings.set_root_resource(None)  # a fresh root stack, so no output leaks between runs
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(raw)
    run = ProgramRun(region, mocks.declared)

    def record_protect(args: pulumi.ResourceTransformationArgs) -> None:
        if args.opts and args.opts.protect:
            run.protected.add((args.type_, args.name))

    pulumi.runtime.register_stack_transformation(record_protect)  # runs in the SDK: mocks see options too

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        # The directory, as Pulumi runs it: on sys.path, so that its __main__.py imports its modules.
        runpy.run_path(str(program_dir), run_name="__main__")
        outputs = pulumi_settings.get_root_resource().outputs
        names = list(outputs)
        return pulumi.Output.all(*outputs.values()).apply(
            lambda values: run.outputs.update(zip(names, values, strict=True))
        )

    with contextlib.chdir(program_dir):
        program()
    for resource in run.resources:
        urns = monitor.urns.get((resource.typ, resource.name), [])
        assert len(urns) == 1, f"{resource.typ} {resource.name}: registered as {urns}"
        resource.urn = urns[0]
    return run


def run_main_program(stack_file: Path) -> ProgramRun:
    """The main program (``__main__.py`` at the repository's root) with a ``Pulumi.<stack>.yaml``."""
    return run_program(REPOSITORY, project="cognito-backup", stack=stack_name(stack_file),
                       config=stack_file_config(stack_file))
