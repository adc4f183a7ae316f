"""The coverage ledger: every read operation of Cognito's service model, and what a snapshot does with it.

A read operation is one whose name starts with Get, List or Describe, or an Admin one that gets or lists
(``AdminGet*``, ``AdminList*``). Each is either **captured** (the snapshot's key that holds it) or
deliberately not, for one reason:

- ``token-authorized``: authorized by a user's (or a client's) token, not by IAM: a backup has none;
- ``operational``: the state of operations (jobs, recoveries, sessions, events, quotas), not of the pool;
- ``derived``: the same data as a captured call returns (or computed from it);
- ``not restorable``: data that no API lets a restore write back (so a snapshot has no use for it).

``tests/tooling/test_coverage.py`` fails when the installed botocore has a read operation this table does
not list (a new Cognito feature cannot slip past), and when a captured one is not a call the snapshot makes
(``backup_lambda/permissions.py``). ``python -m cognito_backup.coverage`` renders the table into
docs/snapshot-format.md (``--check``: fail if that block is out of date).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

READ_OPERATION = re.compile(r"^(Get|List|Describe|Admin\w*Get|Admin\w*List)")
REASONS = ("captured", "token-authorized", "operational", "derived", "not restorable")


@dataclass(frozen=True)
class Entry:
    reason: str  # one of REASONS
    detail: str  # captured: the snapshot key(s); otherwise why not


def captured(where: str) -> Entry:
    return Entry("captured", where)


LEDGER: dict[str, Entry] = {
    "DescribeUserPool": captured("`pool`"),
    "ListUsers": captured("`users`"),
    "ListGroups": captured("`groups`"),
    "ListUsersInGroup": captured("`groups[].Members`"),
    "GetUserPoolMfaConfig": captured("`mfa_config`"),
    "ListUserPoolClients": captured("`clients` (every client: no ClientType filter)"),
    "DescribeUserPoolClient": captured("`clients`"),
    "ListIdentityProviders": captured("`identity_providers`"),
    "DescribeIdentityProvider": captured("`identity_providers`"),
    "ListResourceServers": captured("`resource_servers`"),
    "DescribeUserPoolDomain": captured("`domain`"),
    "GetUICustomization": captured("`ui_customization` (the pool), `client_ui_customization` (each client)"),
    "DescribeRiskConfiguration": captured("`risk_configuration` (the pool), `client_risk_configuration` (each "
                                          "client)"),
    "GetLogDeliveryConfiguration": captured("`log_delivery`"),
    "ListTagsForResource": captured("`tags`"),
    "DescribeManagedLoginBrandingByClient": captured("`managed_login_branding` (assets as base64)"),
    "GetUserPoolSessionConfiguration": captured("`session_configuration`"),
    "GetUserPoolClientSessionConfiguration": captured("`client_session_configuration`"),
    "ListTerms": captured("`terms`"),
    "DescribeTerms": captured("`terms`"),
    "ListCIMDPolicies": captured("`cimd_policies`"),
    "DescribeCIMDPolicy": captured("`cimd_policies`"),
    "ListUserPoolReplicas": captured("`replicas` (reported by restore, not recreated)"),
    "AdminGetUser": captured("`users[].MFA` (UserMFASettingList, PreferredMfaSetting), with `captureUserMfa` only"),
    "AdminGetUserAuthFactors": Entry("derived", "its MFA settings are AdminGetUser's; its other factors (passkeys) "
                                                "cannot be written back"),
    "AdminListGroupsForUser": Entry("derived", "the memberships, read per group with ListUsersInGroup"),
    "DescribeManagedLoginBranding": Entry("derived", "the same branding as DescribeManagedLoginBrandingByClient, "
                                                     "by branding id"),
    "DescribeResourceServer": Entry("derived", "ListResourceServers returns every resource server in full"),
    "DescribeTermsByClient": Entry("derived", "the same terms as DescribeTerms, by client and name"),
    "GetGroup": Entry("derived", "ListGroups returns every group in full"),
    "GetIdentityProviderByIdentifier": Entry("derived", "the same provider as DescribeIdentityProvider"),
    "GetCSVHeader": Entry("derived", "computed from the schema (restore asks the new pool for it)"),
    "GetSigningCertificate": Entry("not restorable", "Cognito makes a new pool's signing key itself"),
    "ListUserPoolClientSecrets": Entry("not restorable", "client secrets: never in a snapshot, a restore "
                                                         "generates new ones"),
    "AdminGetDevice": Entry("not restorable", "remembered devices: no API creates one for a user"),
    "AdminListDevices": Entry("not restorable", "remembered devices: no API creates one for a user"),
    "AdminListUserAuthEvents": Entry("operational", "the history of sign-in events"),
    "AdminListUserSessions": Entry("operational", "a user's live sessions"),
    "DescribePointInTimeRecovery": Entry("operational", "native recovery jobs (the `recover` command)"),
    "ListPointInTimeRecoveries": Entry("operational", "native recovery jobs (the `recover` command)"),
    "DescribeUserImportJob": Entry("operational", "import jobs (restore runs its own)"),
    "ListUserImportJobs": Entry("operational", "import jobs (restore runs its own)"),
    "ListClientMetadataURLs": Entry("operational", "the metadata URLs Cognito has fetched for a CIMD policy, and "
                                                   "their cache state"),
    "GetProvisionedLimit": Entry("operational", "the account's request-rate quotas"),
    "ListUserPools": Entry("operational", "the account's pools (restore looks for a pool left by a lost answer)"),
    "GetUser": Entry("token-authorized", "a user's access token"),
    "GetUserAuthFactors": Entry("token-authorized", "a user's access token"),
    "GetUserAttributeVerificationCode": Entry("token-authorized", "a user's access token (and it sends a code)"),
    "GetDevice": Entry("token-authorized", "a user's access token"),
    "ListDevices": Entry("token-authorized", "a user's access token"),
    "ListUserSessions": Entry("token-authorized", "a user's access token"),
    "ListWebAuthnCredentials": Entry("token-authorized", "a user's access token; passkeys cannot be written back"),
    "GetClientToken": Entry("token-authorized", "issues a token to a client with its secret"),
    "GetDerivedToken": Entry("token-authorized", "exchanges a token for another"),
    "GetTokensFromRefreshToken": Entry("token-authorized", "a refresh token"),
}


def read_operations(service_model) -> list[str]:
    """The read operations of a cognito-idp service model, sorted."""
    return sorted(op for op in service_model.operation_names if READ_OPERATION.match(op))


def ledger_table() -> str:
    """The ledger as the Markdown table docs/snapshot-format.md holds: captured first, then by reason."""
    rows = ["| Operation | Captured? | Where, or why not |", "|---|---|---|"]
    order = sorted(LEDGER, key=lambda op: (REASONS.index(LEDGER[op].reason), op))
    rows += [f"| {op} | {LEDGER[op].reason} | {LEDGER[op].detail} |" for op in order]
    return "\n".join(rows)


DOC = Path(__file__).resolve().parent.parent / "docs" / "snapshot-format.md"
BEGIN = "<!-- coverage ledger: generated by python -m cognito_backup.coverage -->"
END = "<!-- end of the coverage ledger -->"


def rendered(text: str) -> str:
    """``text`` (the doc) with the block between BEGIN and END replaced by the ledger."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOC.name} has no coverage-ledger block ({BEGIN} ... {END})")
    return text[:start + len(BEGIN)] + "\n" + ledger_table() + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = DOC.read_text(encoding="utf-8")
    new = rendered(text)
    if "--check" in args:
        if new != text:
            print(f"{DOC} is out of date: run python -m cognito_backup.coverage", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
