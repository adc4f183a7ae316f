"""ARNs of other accounts: before its first write, a restore refuses to send an ARN of an account other than the
one it restores into, unless ``--allow-foreign-arns`` is given.

A snapshot could point a trigger, a custom sender's KMS key, an SES identity, a group's role or an app client's
analytics role at any account; restored as it is, the new pool would invoke, trust or hand out that account's
resources (and a forged or edited snapshot is exactly how someone would try). So the restore lists every ARN it
may send (``sent_references``: the pool's settings and triggers, the import role, the identity providers, every
group's role, the app clients, the custom domain's certificate and the other settings, after the overrides) and
compares their accounts with the account restored into, the caller's (``sts:GetCallerIdentity``, which needs no
IAM permission; asked only when some ARN names an account). The list is a superset of what the run sends: every
client counted as restored and the pool as having a domain, so that nothing a later step sends escapes it.

What to do with a refused ARN: point it at this account (``--override PATH=ARN``, docs/restoring.md, Overrides),
leave the triggers out (``--without-triggers``), or, for a cross-account setup that is meant (SES sending
authorization, a central log account), give ``--allow-foreign-arns``: the report then lists what was let through.
The dry run shows the same list and says whether the run would refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backup_lambda.errors import ConfigError
from cognito_backup.restore import decisions, overrides
from cognito_backup.restore.newer_settings import SECTION_OF as NEWER_SECTION_OF
from cognito_backup.restore.newer_settings import newer_settings
from cognito_backup.restore.references import ARN, walk
from cognito_backup.restore.requests import plan_client, plan_group
from cognito_backup.restore.state import RestoreRun

SHOWN = 20  # foreign ARNs listed in the refusal (the dry run lists them all)
SECTION_OF = {"set_ui_customization": "ui_customization", "set_risk_configuration": "risk_configuration",
              "set_log_delivery_configuration": "log_delivery", "tag_resource": "tags",
              "create_managed_login_branding": "managed_login_branding", **NEWER_SECTION_OF}
OTHER_SECTIONS = ("ui_customization", "risk_configuration", "log_delivery", "session_configuration")
OTHER_ITEMS = ("managed_login_branding", "terms", "cimd_policies", "client_ui_customization",
               "client_risk_configuration", "client_session_configuration")


def sent_references(run: RestoreRun, group_roles: dict[str, str], group_names: Iterable[str] = ()
                    ) -> list[tuple[str, str]]:
    """(where, value) of every ARN and URL the restore may send, from the snapshot and the options alone (no
    call). ``group_roles``: the snapshot's groups' RoleArn by name; ``group_names``: its groups (an override may
    give a group a role it did not have)."""
    snapshot, o = run.snapshot, run.options
    config = snapshot.config
    refs = [*walk("pool", snapshot.pool_plan.params), *walk("pool.LambdaConfig", snapshot.pool_plan.triggers or {})]
    if o.import_role_arn and snapshot.users_via == "import":
        refs.append(("--import-role-arn", o.import_role_arn))
    for provider in _items(config, "identity_providers"):
        refs += walk(f"identity_providers.{provider.get('ProviderName')}",
                     {k: provider.get(k) for k in ("ProviderDetails", "IdpIdentifiers")})
    overridden = {v.item for v in o.overrides.values() if v.section == "groups"}
    for name in sorted(set(group_roles) | (overridden & set(group_names))):
        base = {"GroupName": name, "RoleArn": group_roles[name]} if name in group_roles else {"GroupName": name}
        refs += walk(f"groups.{name}", overrides.group_params(o.overrides, name, plan_group(base)))
    clients = _items(config, "clients")
    for client in clients:
        params, _ = plan_client(client, set(), snapshot.provider_names)
        refs += walk(f"clients.{client.get('ClientName')}", params)
    custom = ((_value(config, "domain") or {}).get("CustomDomain") or {})
    if any(v.section == "domain" and v.item == "CustomDomain" for v in o.overrides.values()):
        refs += walk("domain", decisions.custom_domain(custom, None, None).params)
    every_client = {c.get("ClientId"): c.get("ClientId") for c in clients if c.get("ClientId")}
    sections: dict[str, Any] = {name: _value(config, name) for name in OTHER_SECTIONS}
    sections.update({name: _items(config, name) for name in OTHER_ITEMS})
    settings, _ = decisions.other_settings(sections, client_ids=every_client, pool_id=None, created_pool=True,
                                           target_pool={}, has_domain=True)
    more, _ = newer_settings(sections, client_ids=every_client, pool_id=None, has_domain=True)
    for setting in settings + more:
        refs += walk(SECTION_OF.get(setting.method, setting.what),
                     {k: v for k, v in setting.params.items() if k not in ("UserPoolId", "Assets")})
    return refs


def foreign_arns(refs: Iterable[tuple[str, str]], account: str | None) -> list[dict[str, str]]:
    """The references that are ARNs of an account other than ``account`` (None: of any account)."""
    out = []
    for where, value in refs:
        arn = ARN.fullmatch(value)
        if arn and arn["account"] and arn["account"] != account:
            out.append({"where": where, "value": value, "account": arn["account"]})
    return out


def others_than(account: str | None) -> str:
    """Whose ARNs the check found, as the report and the warning say it (``account``: None when it could not be
    told, with --allow-foreign-arns)."""
    return f"other accounts than {account}" if account else "accounts (the account restored into could not be told)"


def names_an_account(refs: Iterable[tuple[str, str]]) -> bool:
    return any((arn := ARN.fullmatch(value)) and arn["account"] for _, value in refs)


def caller_account(sts: Any = None) -> str:
    """The account the restore writes into: the caller's."""
    if sts is None:
        from backup_lambda.aws import make_client

        sts = make_client("sts")
    try:
        account = sts.get_caller_identity()["Account"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        raise ConfigError(f"cannot tell which account the restore writes into (sts:GetCallerIdentity: {exc}), so "
                          "cannot check the snapshot's ARNs against it: fix the credentials, or give "
                          "--allow-foreign-arns to restore without that check") from None
    if not isinstance(account, str) or not account:
        raise ConfigError(f"sts:GetCallerIdentity answered no account ({account!r})")
    return account


def check(refs: list[tuple[str, str]], account: Callable[[], str], *, allowed: bool) -> dict[str, Any] | None:
    """What the report says of the ARNs of other accounts (None when no ARN names an account). Without
    ``allowed``, the result's ``refused`` is the message of the ConfigError the run raises (``refuse``)."""
    if not names_an_account(refs):
        return None
    try:
        own: str | None = account()
    except ConfigError:
        if not allowed:
            raise
        own = None  # --allow-foreign-arns without an account to compare with: every account-bearing ARN listed
    found = foreign_arns(refs, own)
    out: dict[str, Any] = {"account": own, "allowed": allowed, "arns": found}
    if found and not allowed:
        out["refused"] = refusal(found, own)
    return out


def refuse(result: dict[str, Any] | None) -> None:
    if result and result.get("refused"):
        raise ConfigError(result["refused"])


def refusal(found: list[dict[str, str]], own: str) -> str:
    accounts = sorted({f["account"] for f in found})
    lines = [f"  {f['where']}: {f['value']}" for f in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"  ... and {len(found) - SHOWN} more (--dry-run lists them all)")
    return (f"the snapshot would have the new pool use {len(found)} ARN(s) of {', '.join(accounts)}, not of "
            f"account {own} where it is restored; refusing before anything is written:\n" + "\n".join(lines) +
            "\npoint them at this account with --override PATH=ARN (docs/restoring.md, Overrides), leave the "
            "triggers out with --without-triggers, or, if they are meant (SES sending authorization, a central "
            "log account), give --allow-foreign-arns")


def _items(config: dict[str, Any], name: str) -> list[dict[str, Any]]:
    section = config.get(name) or {}
    items = section.get("items") if isinstance(section, dict) and section.get("status") == "present" else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _value(config: dict[str, Any], name: str) -> dict[str, Any] | None:
    section = config.get(name) or {}
    value = section.get("value") if isinstance(section, dict) and section.get("status") == "present" else None
    return value if isinstance(value, dict) else None
