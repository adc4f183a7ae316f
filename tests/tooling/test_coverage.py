"""The coverage ledger (``cognito_backup/coverage.py``): every read operation of the installed botocore's
cognito-idp model is in it, what it says is captured is a call the snapshot makes, and docs/snapshot-format.md
holds it as generated."""

from __future__ import annotations

import botocore.session
import pytest

from backup_lambda.permissions import SNAPSHOT_COGNITO_CALLS, USER_MFA_COGNITO
from cognito_backup import coverage


@pytest.fixture(scope="module")
def model():
    return botocore.session.get_session().get_service_model("cognito-idp")


def test_every_read_operation_of_the_installed_model_is_in_the_ledger(model):
    missing = set(coverage.read_operations(model)) - set(coverage.LEDGER)

    assert not missing, f"read operations botocore has and the ledger does not list: {sorted(missing)}"


def test_the_ledger_lists_only_operations_the_model_has(model):
    assert set(coverage.LEDGER) - set(model.operation_names) == set()


def test_a_new_read_operation_fails_the_check(model):
    """A botocore with one more read operation (and one more write, which the ledger need not list)."""
    from types import SimpleNamespace

    newer = SimpleNamespace(operation_names=[*model.operation_names, "ListUserPoolWidgets", "CreateUserPoolWidget",
                                             "AdminGetUserWidget"])

    assert set(coverage.read_operations(newer)) - set(coverage.LEDGER) == {"ListUserPoolWidgets",
                                                                           "AdminGetUserWidget"}


def test_every_captured_operation_is_a_call_the_snapshot_makes_and_every_call_is_captured():
    captured = {op for op, entry in coverage.LEDGER.items() if entry.reason == "captured"}
    snapshot_calls = set(SNAPSHOT_COGNITO_CALLS) | {op.api for op in USER_MFA_COGNITO}

    assert captured == snapshot_calls


@pytest.mark.parametrize("op", sorted(coverage.LEDGER))
def test_each_entry_has_a_known_reason_and_says_where_or_why(op):
    entry = coverage.LEDGER[op]
    assert entry.reason in coverage.REASONS and entry.detail.strip()


def test_the_format_doc_holds_the_ledger_as_generated():
    assert coverage.main(["--check"]) == 0
    text = coverage.DOC.read_text(encoding="utf-8")
    assert "| ListTerms | captured |" in text
    assert "| GetUser | token-authorized |" in text


def test_a_doc_without_the_block_is_a_clear_error():
    with pytest.raises(ValueError, match="no coverage-ledger block"):
        coverage.rendered("# no block here\n")
