"""The Lambda triggers, attached last.

The pool is created without its LambdaConfig: a PreSignUp or CustomMessage trigger would run for every user the
restore creates, and on AWS it would fail for each (the function's resource policy names the old pool) or put
every user through the application's sign-up logic. Once users, memberships and the disabled state are in, the
triggers are attached with UpdateUserPool, which is a full replacement: the request carries the pool's whole
updatable configuration as DescribeUserPool shows it, plus the LambdaConfig, so that nothing else changes.

Each function must allow ``cognito-idp.amazonaws.com`` to invoke it for the NEW pool (``lambda:InvokeFunction``
with the new pool's ARN as ``SourceArn``). The plan and the report list the functions and that permission;
``--grant-triggers`` adds it (lambda GetPolicy, then AddPermission) where the caller may, else the report gives
the command that adds it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore import configuration
from cognito_backup.restore.calls import error_code, error_text
from cognito_backup.restore.requests import lambda_functions, update_pool_params
from cognito_backup.restore.state import RestoreRun

PRINCIPAL = "cognito-idp.amazonaws.com"
NEW_POOL_ARN = "(the new pool's ARN)"


def statement_id(pool_id: str) -> str:
    return f"cognito-idp-{pool_id}"


def grant_command(function_arn: str, pool_arn: str, pool_id: str) -> str:
    return ("aws lambda add-permission --function-name " + shlex.quote(function_arn) + " --statement-id "
            + shlex.quote(statement_id(pool_id)) + f" --action lambda:InvokeFunction --principal {PRINCIPAL}"
            " --source-arn " + shlex.quote(pool_arn))


def functions(lambda_config: dict[str, Any] | None) -> dict[str, list[str]]:
    """Function ARN -> the triggers it serves."""
    out: dict[str, list[str]] = {}
    for trigger, arn in lambda_functions(lambda_config):
        out.setdefault(arn, []).append(trigger)
    return out


def plan_entries(run: RestoreRun) -> list[dict[str, Any]]:
    """What the plan says of each trigger function: the triggers, the permission it needs, how it gets it."""
    triggers = run.snapshot.pool_plan.triggers
    pool_arn = run.state.target_pool.get("Arn") or NEW_POOL_ARN
    pool_id = run.state.pool_id or "NEW_POOL_ID"
    out = []
    for arn, names in functions(triggers).items():
        entry = {"function": arn, "triggers": names, "attached": "last, after the users (UpdateUserPool)",
                 "needs": f"lambda:InvokeFunction for {PRINCIPAL} with SourceArn {pool_arn}"}
        entry["grant"] = ("--grant-triggers adds it (lambda:AddPermission)" if run.options.grant_triggers
                          else f"add it: {grant_command(arn, pool_arn, pool_id)} (or restore with --grant-triggers)")
        out.append(entry)
    kms = (triggers or {}).get("KMSKeyID")
    if kms:
        out.append({"kms_key": kms, "needs": "the custom sender functions decrypt codes with it: its key policy must "
                                            f"let {PRINCIPAL} encrypt with it for the new pool"})
    return out


def _has_permission(policy_text: str, pool_arn: str) -> bool:
    try:
        statements = json.loads(policy_text).get("Statement") or []
    except (ValueError, AttributeError):
        return False
    for s in statements if isinstance(statements, list) else [statements]:
        principal = (s.get("Principal") or {}).get("Service") if isinstance(s.get("Principal"), dict) else None
        actions = s.get("Action") if isinstance(s.get("Action"), list) else [s.get("Action")]
        conditions = json.dumps(s.get("Condition") or {})
        if (s.get("Effect") == "Allow" and PRINCIPAL in (principal if isinstance(principal, list) else [principal])
                and ("lambda:InvokeFunction" in actions or "lambda:*" in actions) and pool_arn in conditions):
            return True
    return False


def grant_permissions(run: RestoreRun) -> list[dict[str, Any]]:
    """``--grant-triggers``: each trigger function's permission for the new pool, added where it is missing."""
    state = run.state
    pool_arn, pool_id = state.target_pool.get("Arn"), state.pool_id
    out = []
    for arn, names in functions(run.snapshot.pool_plan.triggers).items():
        entry: dict[str, Any] = {"function": arn, "triggers": names}
        client = run.aws.lambdas(arn.split(":")[3])
        try:
            policy = client.get_policy(FunctionName=arn)["Policy"]
        except ClientError as exc:
            policy = ""
            if error_code(exc) != "ResourceNotFoundException":  # no policy yet is fine; else try to add anyway
                run.say(f"  could not read the resource policy of {arn} ({error_text(exc)}): adding the permission")
        if _has_permission(policy, pool_arn):
            entry["permission"] = "already there"
        else:
            try:
                client.add_permission(FunctionName=arn, StatementId=statement_id(pool_id),
                                      Action="lambda:InvokeFunction", Principal=PRINCIPAL, SourceArn=pool_arn)
                entry["permission"] = "granted"
            except ClientError as exc:
                if error_code(exc) == "ResourceConflictException":
                    entry["permission"] = "already there"
                else:
                    entry["permission"] = f"not granted ({error_text(exc)})"
                    entry["command"] = grant_command(arn, pool_arn, pool_id)
                    state.fail(f"the permission of trigger function {arn}",
                               f"{error_text(exc)}: add it with {entry['command']}, or run again with --resume")
        out.append(entry)
    return out


def attach_triggers(run: RestoreRun) -> None:
    """The last step: grant the functions' permissions (``--grant-triggers``), then attach the triggers. Only in a
    run where every other step succeeded: a resume retries the failed steps (users, memberships...), and the
    triggers must not run for those."""
    state, wanted = run.state, run.snapshot.pool_plan.triggers
    if not wanted:
        return
    step: dict[str, Any] = {"triggers": sorted(wanted)}
    state.steps["triggers"] = step
    if state.failure_count:
        step["attached"] = "held back"
        state.fail("the Lambda triggers", f"not attached while {state.failure_count} other step(s) failed: a resume "
                                          "retries them, and the triggers must not run for the restore's own writes; "
                                          "run again with --resume, which attaches them last")
        return
    if run.options.grant_triggers:
        step["functions"] = grant_permissions(run)
        if any(f["permission"].startswith("not granted") for f in step["functions"]):
            step["attached"] = "held back: a function would refuse the new pool (see functions)"
            return
    else:
        pool_arn = state.target_pool.get("Arn") or ""
        step["functions"] = [{"function": arn, "triggers": names, "permission": "not checked (no --grant-triggers)",
                              "command": grant_command(arn, pool_arn, state.pool_id)}
                             for arn, names in functions(wanted).items()]
        run.state.note("the trigger functions must allow the new pool to invoke them: the report's triggers step "
                       "gives the command for each (or restore with --grant-triggers)")
    try:
        current = run.aws.call("describe_user_pool", UserPoolId=state.pool_id)["UserPool"]
    except ClientError as exc:
        state.fail("attaching the triggers (DescribeUserPool)", exc)
        return
    have = current.get("LambdaConfig") or {}
    if have and all(have.get(k) == v for k, v in wanted.items()):
        step["attached"] = "already there"
        return
    if have:
        step["attached"] = "no: the target pool has triggers of its own, kept"
        state.note(f"the target pool has Lambda triggers of its own ({', '.join(sorted(have))}): kept; the "
                   f"snapshot's ({', '.join(sorted(wanted))}) were not attached")
        return
    params, _ = update_pool_params(current, wanted, state.pool_id)
    try:
        configuration.with_template_fallback(run, "update_user_pool", params)
        step["attached"] = "attached (UpdateUserPool, the whole configuration sent again)"
        run.say(f"triggers attached: {', '.join(sorted(wanted))}")
    except ClientError as exc:
        state.fail("attaching the triggers (UpdateUserPool)", exc)
