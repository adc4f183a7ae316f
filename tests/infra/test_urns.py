"""The programs' URNs do not change by accident.

A URN is a resource's identity in the state: its type token, its logical name and the chain of its
parents' types. Change one and Pulumi deletes the resource and creates another, which for the
snapshot buckets and keys (protected) stops the deploy, and for every other resource changes what the
deploy role's name patterns must match. Each program runs here under the mocks, the main program with
every ``Pulumi.<stack>.yaml`` and the bootstrap with its example configuration, and the full set of
URNs it declares is compared with the list checked in under ``expected_urns/``.

Those lists were written from the programs before the layout change. After a deliberate change (a new
resource, or a rename with ``aliases``), ``python -m tests.infra.test_urns`` rewrites them: read the
diff before committing it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.pulumi_mocks import ProgramRun, run_main_program, run_program, stack_file_config, stack_name

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).resolve().parent / "expected_urns"
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
BOOTSTRAP = "cognito-backup-bootstrap"
BOOTSTRAP_EXAMPLE = ROOT / "bootstrap" / "Pulumi.example.yaml"
# The bootstrap's example, as it is (the S3 backend, a new OIDC provider) and with Pulumi Cloud and
# the account's existing provider: between them, every resource the bootstrap can declare.
BOOTSTRAP_VARIANTS = {
    "example": {},
    "example-cloud": {f"{BOOTSTRAP}:stateBackend": "cloud",
                      f"{BOOTSTRAP}:existingOidcProviderArn":
                          "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
}


def run_bootstrap(variant: str) -> ProgramRun:
    config = {**stack_file_config(BOOTSTRAP_EXAMPLE), **BOOTSTRAP_VARIANTS[variant]}
    return run_program(ROOT / "bootstrap", project=BOOTSTRAP, stack="example", config=config)


def expected(listing: str) -> list[str]:
    return (EXPECTED / listing).read_text().splitlines()


def test_there_are_stacks_to_pin():
    assert STACK_FILES, "no Pulumi.<stack>.yaml at the root"
    assert sorted(p.name for p in EXPECTED.iterdir()) == sorted(
        [f"main-{stack_name(p)}.txt" for p in STACK_FILES] + [f"bootstrap-{v}.txt" for v in BOOTSTRAP_VARIANTS]
    ), "a stack file without its pinned URNs, or a pinned list without its stack file"


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=stack_name)
def test_the_main_program_declares_exactly_the_pinned_urns(stack_file):
    declared = run_main_program(stack_file).urns()

    pinned = expected(f"main-{stack_name(stack_file)}.txt")
    assert declared == pinned, (
        f"new: {sorted(set(declared) - set(pinned))}\ngone: {sorted(set(pinned) - set(declared))}")


@pytest.mark.parametrize("variant", sorted(BOOTSTRAP_VARIANTS))
def test_the_bootstrap_declares_exactly_the_pinned_urns(variant):
    declared = run_bootstrap(variant).urns()

    pinned = expected(f"bootstrap-{variant}.txt")
    assert declared == pinned, (
        f"new: {sorted(set(declared) - set(pinned))}\ngone: {sorted(set(pinned) - set(declared))}")


def test_urns_carry_the_component_type_token_and_the_parent_chain():
    """What makes the pins worth having: a child's URN names its component's type token."""
    run = run_main_program(ROOT / "Pulumi.prod.yaml")
    bucket = run.declared("aws:s3/bucket:Bucket", "snapshots-bucket")

    assert bucket.urn == ("urn:pulumi:prod::cognito-backup::cognito-backup:infra:SnapshotStorage"
                          "$aws:s3/bucket:Bucket::snapshots-bucket")
    assert run.declared("cognito-backup:infra:SnapshotStorage", "snapshots").urn == (
        "urn:pulumi:prod::cognito-backup::cognito-backup:infra:SnapshotStorage::snapshots")


def write_listings() -> None:
    EXPECTED.mkdir(exist_ok=True)
    for stack_file in STACK_FILES:
        urns = run_main_program(stack_file).urns()
        (EXPECTED / f"main-{stack_name(stack_file)}.txt").write_text("\n".join(urns) + "\n")
    for variant in BOOTSTRAP_VARIANTS:
        (EXPECTED / f"bootstrap-{variant}.txt").write_text("\n".join(run_bootstrap(variant).urns()) + "\n")


if __name__ == "__main__":
    write_listings()
    sys.exit(0)
