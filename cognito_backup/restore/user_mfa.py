"""Users' MFA settings, from a snapshot taken with ``captureUserMfa`` (each user's ``MFA``).

What an API can set back is set back, with AdminSetUserMFAPreference on the restored user: SMS MFA
(``SMS_MFA``) and email MFA (``EMAIL_OTP``), enabled, and preferred where the user preferred it. What cannot:
an authenticator app (``SOFTWARE_TOKEN_MFA``: its secret is never exposed) and passkeys: the report lists each
restored user who had TOTP (``reenrol``), so that the application can ask them to enrol again. Passkeys are
not in AdminGetUser's answer: a pool that allowed them loses every one, and the report says so.

The snapshot is walked once more for this, only if its first user carries ``MFA`` (a snapshot holds it for
every user or for none); the new usernames are looked up in the journal a batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cognito_backup.restore.calls import error_code
from cognito_backup.restore.decisions import RESTORED
from cognito_backup.restore.pipeline import IterableSource, Lane, Pipeline
from cognito_backup.restore.state import RestoreRun

BATCH = 500
SETTABLE = {"SMS_MFA": "SMSMfaSettings", "EMAIL_OTP": "EmailMfaSettings"}
# A user who has not set a password yet (FORCE_CHANGE_PASSWORD, RESET_REQUIRED) may be refused a preference:
# listed with the others to enrol again, not a failure of the restore.
REFUSED_UNTIL_SIGN_IN = frozenset({"PasswordResetRequiredException", "UserNotConfirmedException"})


def preference_request(mfa: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The AdminSetUserMFAPreference settings for a user's MFA (without pool and username), and the factors
    that cannot be set back (to enrol again)."""
    settings: dict[str, Any] = {}
    lost: list[str] = []
    preferred = mfa.get("PreferredMfaSetting")
    for factor in mfa.get("UserMFASettingList") or ():
        if factor in SETTABLE:
            settings[SETTABLE[factor]] = {"Enabled": True, "PreferredMfa": factor == preferred}
        else:
            lost.append(factor)
    return settings, lost


def _users_with_mfa(run: RestoreRun) -> Iterator[tuple[str, dict[str, Any]]]:
    """(old username, MFA) of the snapshot's users that have a factor; nothing if the snapshot has no MFA."""
    with run.snapshot.source.stream(if_match=run.snapshot.etag) as stream:
        first = True
        for event in stream.events():
            if event.kind != "item" or event.key != "users":
                continue
            mfa = event.value.get("MFA")
            if first and mfa is None:
                return  # taken without captureUserMfa
            first = False
            if isinstance(mfa, dict) and mfa.get("UserMFASettingList"):
                yield event.value["Username"], mfa


def _restored(run: RestoreRun) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(old username, new username, MFA) of the restored users that had MFA."""
    batch: list[tuple[str, dict[str, Any]]] = []

    def flush() -> Iterator[tuple[str, str, dict[str, Any]]]:
        found = run.state.journal.users_named([old for old, _ in batch])
        for old, mfa in batch:
            new, user_state = found.get(old, (None, None))
            if new and user_state in RESTORED:
                yield old, new, mfa
        batch.clear()

    for item in _users_with_mfa(run):
        batch.append(item)
        if len(batch) >= BATCH:
            yield from flush()
    yield from flush()


PHASE = "users' MFA"


def restore_user_mfa(run: RestoreRun) -> None:
    state = run.state
    phase = run.board.phase(PHASE)
    counts: dict[str, int] = {}
    reenrol: list[dict[str, Any]] = []

    def count(outcome: str) -> None:
        counts[outcome] = counts.get(outcome, 0) + 1
        phase.add(outcome)

    def work() -> Iterator[tuple[str, str, dict[str, Any]]]:
        for old, new, mfa in _restored(run):
            settings, lost = preference_request(mfa)
            if lost:
                reenrol.append({"user": new, "old_user": old, "factors": lost})
                count("to enrol again")
            if settings:
                yield old, new, settings

    def set_preference(item: tuple[str, str, dict[str, Any]], _post: Any) -> None:
        _, new, settings = item
        run.aws.call("admin_set_user_mfa_preference", UserPoolId=state.pool_id, Username=new, **settings)

    def done(item: tuple[str, str, dict[str, Any]], _result: Any, error: BaseException | None) -> None:
        if error_code(error) in REFUSED_UNTIL_SIGN_IN:  # not verified on AWS: its model lists these errors
            reenrol.append({"user": item[1], "old_user": item[0], "factors": [f for f, key in SETTABLE.items()
                                                                              if key in item[2]],
                            "why": f"AWS refused the preference until the user signs in ({error_code(error)})"})
            count("refused until sign-in")
        elif error is not None:
            state.fail(f"MFA preference of {item[0]}", error)
            count("failed")
        else:
            count("restored")

    pipeline = Pipeline(run.board)
    pipeline.add(Lane(PHASE, IterableSource(work()), set_preference, done, limit=run.options.workers))
    pipeline.run()
    run.board.finish(phase)
    if not counts:
        return
    state.steps["user_mfa"] = {**counts, "reenrol": reenrol}
    if reenrol:
        state.note(f"{len(reenrol)} restored user(s) had an authenticator app (TOTP), which cannot be restored: "
                   "they are listed in the report (steps.user_mfa.reenrol) to enrol again")
    state.note("passkeys are never in a snapshot (AdminGetUser does not show them): users who had one enrol again")
