"""Configuration sections that moto cannot produce (it does not implement these APIs), tested with
botocore's Stubber: each answer below is shaped as AWS documents it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.stub import Stubber

from backup_lambda.aws import make_client
from backup_lambda.config_reader import read_configuration
from backup_lambda.errors import SnapshotError
from backup_lambda.pool_reader import PoolReader

POOL_ID = "eu-west-1_AbCdEf123"
ARN = f"arn:aws:cognito-idp:eu-west-1:111122223333:userpool/{POOL_ID}"
POOL = {"Id": POOL_ID, "Name": "prod", "Arn": ARN, "Domain": "prod-auth", "CustomDomain": "login.example.com"}
SECRET = "client-secret-value-0123456789abcdef"  # noqa: S105


@pytest.fixture
def stubbed(aws_env):
    client = make_client("cognito-idp", region="eu-west-1")
    with Stubber(client) as stub:
        yield client, stub


def expect_full_configuration(stub, skip=()):
    p = {"UserPoolId": POOL_ID}
    stub.add_response("get_user_pool_mfa_config", {"MfaConfiguration": "OPTIONAL",
                                                   "SoftwareTokenMfaConfiguration": {"Enabled": True}}, p)
    stub.add_response("list_user_pool_clients", {"UserPoolClients": [
        {"ClientId": "c1", "UserPoolId": POOL_ID, "ClientName": "web"}], "NextToken": "t2"},
        {**p, "MaxResults": 60})
    stub.add_response("describe_user_pool_client", {"UserPoolClient": {
        "ClientId": "c1", "UserPoolId": POOL_ID, "ClientName": "web", "ClientSecret": SECRET}},
        {**p, "ClientId": "c1"})
    stub.add_response("list_user_pool_clients", {"UserPoolClients": [
        {"ClientId": "c2", "UserPoolId": POOL_ID, "ClientName": "spa"}]}, {**p, "MaxResults": 60, "NextToken": "t2"})
    stub.add_response("describe_user_pool_client", {"UserPoolClient": {
        "ClientId": "c2", "UserPoolId": POOL_ID, "ClientName": "spa"}}, {**p, "ClientId": "c2"})
    stub.add_response("list_identity_providers", {"Providers": [
        {"ProviderName": "SignInWithApple", "ProviderType": "SignInWithApple"}]}, {**p, "MaxResults": 60})
    stub.add_response("describe_identity_provider", {"IdentityProvider": {
        "UserPoolId": POOL_ID, "ProviderName": "SignInWithApple", "ProviderType": "SignInWithApple",
        "ProviderDetails": {"client_id": "com.example", "team_id": "T1", "key_id": "K1",
                            "private_key": "-----BEGIN PRIVATE KEY-----abc", "authorize_scopes": "email"}}},
        {**p, "ProviderName": "SignInWithApple"})
    stub.add_response("list_resource_servers", {"ResourceServers": []}, {**p, "MaxResults": 50})
    stub.add_response("describe_user_pool_domain", {"DomainDescription": {"Domain": "prod-auth",
                                                                          "Status": "ACTIVE"}},
                      {"Domain": "prod-auth"})
    stub.add_response("describe_user_pool_domain", {"DomainDescription": {
        "Domain": "login.example.com", "CustomDomainConfig": {"CertificateArn": "arn:aws:acm:us-east-1:1:c/x"}}},
        {"Domain": "login.example.com"})
    stub.add_response("get_ui_customization", {"UICustomization": {
        "UserPoolId": POOL_ID, "ClientId": "ALL", "CSS": ".banner{color:red}",
        "LastModifiedDate": datetime(2026, 1, 2, tzinfo=timezone.utc)}}, p)
    stub.add_response("describe_risk_configuration", {"RiskConfiguration": {
        "UserPoolId": POOL_ID, "CompromisedCredentialsRiskConfiguration": {"Actions": {"EventAction": "BLOCK"}}}}, p)
    if "GetLogDeliveryConfiguration" not in skip:
        stub.add_response("get_log_delivery_configuration", {"LogDeliveryConfiguration": {
            "UserPoolId": POOL_ID, "LogConfigurations": [{"LogLevel": "ERROR", "EventSource": "userNotification"}]}},
            p)
    stub.add_response("list_tags_for_resource", {"Tags": {"team": "identity"}}, {"ResourceArn": ARN})
    expect_newer_pool_features(stub)
    stub.add_client_error("describe_managed_login_branding_by_client", "ResourceNotFoundException",
                          expected_params={**p, "ClientId": "c1"})
    stub.add_response("describe_managed_login_branding_by_client", {"ManagedLoginBranding": {
        "ManagedLoginBrandingId": "b-1", "UserPoolId": POOL_ID, "UseCognitoProvidedValues": False,
        "Settings": {"components": {}}, "Assets": [
            {"Category": "PAGE_HEADER_LOGO", "ColorMode": "LIGHT", "Extension": "PNG", "Bytes": PNG}]}},
        {**p, "ClientId": "c2"})
    expect_per_client_settings(stub)


PNG = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x80"  # not UTF-8: the old text encoding lost these bytes
DATE = datetime(2026, 3, 4, tzinfo=timezone.utc)


def expect_newer_pool_features(stub):
    """GetUserPoolSessionConfiguration, terms (ListTerms + DescribeTerms), CIMD policies, replicas."""
    p = {"UserPoolId": POOL_ID}
    stub.add_response("get_user_pool_session_configuration", {
        "UserPoolId": POOL_ID, "UserSessionTracking": "ENABLED", "TokenSession": {"MaxPerUser": 5}}, p)
    stub.add_response("list_terms", {"Terms": [{"TermsId": "t-1", "TermsName": "terms-of-use", "Enforcement": "NONE",
                                                "CreationDate": DATE, "LastModifiedDate": DATE}]},
                      {**p, "MaxResults": 60})
    stub.add_response("describe_terms", {"Terms": {
        "TermsId": "t-1", "UserPoolId": POOL_ID, "ClientId": "c1", "TermsName": "terms-of-use", "TermsSource": "LINK",
        "Enforcement": "NONE", "Links": {"cognito:default": "https://example.com/terms"},
        "CreationDate": DATE, "LastModifiedDate": DATE}}, {**p, "TermsId": "t-1"})
    stub.add_response("list_cimd_policies", {"CIMDPolicies": [{"CIMDPolicyId": "cp-1", "PolicyName": "partners",
                                                               "ClientId": "c2"}]}, {**p, "MaxResults": 60})
    stub.add_response("describe_cimd_policy", {"CIMDPolicy": {
        "UserPoolId": POOL_ID, "CIMDPolicyId": "cp-1", "ClientId": "c2", "PolicyName": "partners",
        "CacheDuration": 86400, "URLPatterns": ["https://*.partner.example.com/client.json"]}},
        {**p, "CIMDPolicyId": "cp-1"})
    stub.add_response("list_user_pool_replicas", {"UserPoolReplicas": [
        {"RegionName": "eu-central-1", "Status": "ACTIVE", "Role": "SECONDARY",
         "UserPoolArn": ARN.replace("eu-west-1", "eu-central-1")}]}, p)


def expect_per_client_settings(stub):
    """Every client is asked; c1 has its own CSS and session, c2 its own threat protection: the pool's answers
    (ClientId ALL) for the others are not recorded again."""
    p = {"UserPoolId": POOL_ID}
    stub.add_response("get_ui_customization", {"UICustomization": {
        "UserPoolId": POOL_ID, "ClientId": "c1", "CSS": ".c1{color:blue}"}}, {**p, "ClientId": "c1"})
    stub.add_response("get_ui_customization", {"UICustomization": {
        "UserPoolId": POOL_ID, "ClientId": "ALL", "CSS": ".banner{color:red}"}}, {**p, "ClientId": "c2"})
    stub.add_response("describe_risk_configuration", {"RiskConfiguration": {"UserPoolId": POOL_ID, "ClientId": "ALL"}},
                      {**p, "ClientId": "c1"})
    stub.add_response("describe_risk_configuration", {"RiskConfiguration": {
        "UserPoolId": POOL_ID, "ClientId": "c2",
        "CompromisedCredentialsRiskConfiguration": {"Actions": {"EventAction": "NO_ACTION"}}}}, {**p, "ClientId": "c2"})
    stub.add_response("get_user_pool_client_session_configuration", {
        "UserPoolId": POOL_ID, "ClientId": "c1", "SSOSession": {"MaxValidityMinutes": 480}}, {**p, "ClientId": "c1"})
    stub.add_client_error("get_user_pool_client_session_configuration", "ResourceNotFoundException",
                          expected_params={**p, "ClientId": "c2"})


def test_every_section_in_use_is_captured(stubbed):
    client, stub = stubbed
    expect_full_configuration(stub)

    sections = read_configuration(PoolReader(client, POOL_ID), POOL)

    stub.assert_no_pending_responses()
    assert all(s["status"] == "present" for s in sections.values()), sections
    assert sections["mfa_config"]["value"]["MfaConfiguration"] == "OPTIONAL"
    assert [c["ClientId"] for c in sections["clients"]["items"]] == ["c1", "c2"]
    assert [c["HasSecret"] for c in sections["clients"]["items"]] == [True, False]
    apple = sections["identity_providers"]["items"][0]
    assert "private_key" not in apple["ProviderDetails"] and apple["RedactedDetails"] == ["private_key"]
    assert apple["ProviderDetails"]["authorize_scopes"] == "email"
    assert sections["domain"]["value"]["CustomDomain"]["Domain"] == "login.example.com"
    assert sections["ui_customization"]["value"]["CSS"] == ".banner{color:red}"
    assert "CompromisedCredentialsRiskConfiguration" in sections["risk_configuration"]["value"]
    assert sections["log_delivery"]["value"]["LogConfigurations"][0]["LogLevel"] == "ERROR"
    assert sections["tags"]["value"] == {"team": "identity"}
    [branding] = sections["managed_login_branding"]["items"]
    assert branding["ClientId"] == "c2" and branding["ManagedLoginBranding"]["Assets"][0]["Bytes"] == PNG
    assert sections["session_configuration"]["value"] == {"UserSessionTracking": "ENABLED",
                                                         "TokenSession": {"MaxPerUser": 5}}
    assert [(t["TermsId"], t["ClientId"], t["Links"]) for t in sections["terms"]["items"]] == [
        ("t-1", "c1", {"cognito:default": "https://example.com/terms"})]
    assert sections["cimd_policies"]["items"][0]["URLPatterns"] == ["https://*.partner.example.com/client.json"]
    assert sections["replicas"]["items"][0]["RegionName"] == "eu-central-1"
    assert sections["client_ui_customization"]["items"] == [
        {"ClientId": "c1", "UICustomization": {"UserPoolId": POOL_ID, "ClientId": "c1", "CSS": ".c1{color:blue}"}}]
    assert [i["ClientId"] for i in sections["client_risk_configuration"]["items"]] == ["c2"]
    assert sections["client_session_configuration"]["items"] == [
        {"ClientId": "c1", "SSOSession": {"MaxValidityMinutes": 480}}]
    assert SECRET not in repr(sections)


def test_branding_assets_that_are_not_utf8_are_written_as_base64_losslessly():
    import base64
    import json

    from backup_lambda.document import dumps

    written = json.loads(dumps({"Assets": [{"Bytes": PNG}]}))

    assert base64.b64decode(written["Assets"][0]["Bytes"], validate=True) == PNG


def test_an_api_this_botocore_does_not_know_marks_the_section_unavailable(stubbed, monkeypatch):
    client, stub = stubbed
    expect_full_configuration(stub, skip={"GetLogDeliveryConfiguration"})
    real = PoolReader.knows
    monkeypatch.setattr(PoolReader, "knows",
                        lambda self, op: op != "GetLogDeliveryConfiguration" and real(self, op))

    sections = read_configuration(PoolReader(client, POOL_ID), POOL)

    stub.assert_no_pending_responses()
    assert sections["log_delivery"]["status"] == "unavailable"
    assert "GetLogDeliveryConfiguration" in sections["log_delivery"]["reason"]
    assert sections["tags"]["status"] == "present"


def test_knows_reads_the_installed_service_model(aws_env):
    reader = PoolReader(make_client("cognito-idp"), POOL_ID)
    assert reader.knows("ListUsers")
    assert not reader.knows("ListEverythingForFree")


def test_a_denied_section_fails_the_snapshot_naming_pool_and_operation(stubbed):
    client, stub = stubbed
    stub.add_response("get_user_pool_mfa_config", {"MfaConfiguration": "OFF"}, {"UserPoolId": POOL_ID})
    stub.add_client_error("list_user_pool_clients", "AccessDeniedException", "not authorized")

    with pytest.raises(SnapshotError) as err:
        read_configuration(PoolReader(client, POOL_ID), POOL)

    assert err.value.operation == "ListUserPoolClients" and err.value.pool == POOL_ID
    assert "ListUserPoolClients failed for user pool eu-west-1_AbCdEf123: AccessDeniedException" in str(err.value)


def test_pool_without_domain_or_branding_records_them_absent(stubbed):
    client, stub = stubbed
    p = {"UserPoolId": POOL_ID}
    stub.add_response("get_user_pool_mfa_config", {"MfaConfiguration": "OFF"}, p)
    stub.add_response("list_user_pool_clients", {"UserPoolClients": []}, {**p, "MaxResults": 60})
    stub.add_response("list_identity_providers", {"Providers": []}, {**p, "MaxResults": 60})
    stub.add_response("list_resource_servers", {"ResourceServers": []}, {**p, "MaxResults": 50})
    stub.add_client_error("get_ui_customization", "ResourceNotFoundException")
    stub.add_client_error("describe_risk_configuration", "UserPoolAddOnNotEnabledException")
    stub.add_client_error("get_log_delivery_configuration", "ResourceNotFoundException")
    stub.add_response("list_tags_for_resource", {"Tags": {}}, {"ResourceArn": ARN})
    stub.add_client_error("get_user_pool_session_configuration", "ResourceNotFoundException")
    stub.add_client_error("list_terms", "OperationNotEnabledException")
    stub.add_response("list_cimd_policies", {"CIMDPolicies": []}, {**p, "MaxResults": 60})
    stub.add_response("list_user_pool_replicas", {"UserPoolReplicas": []}, p)

    sections = read_configuration(PoolReader(client, POOL_ID), {**POOL, "Domain": None, "CustomDomain": None})

    stub.assert_no_pending_responses()
    assert {k for k, v in sections.items() if v["status"] == "absent"} == {
        "domain", "ui_customization", "risk_configuration", "log_delivery", "managed_login_branding",
        "session_configuration", "terms", "client_ui_customization", "client_risk_configuration",
        "client_session_configuration"}
    assert sections["clients"] == {"status": "present", "items": []}
    assert sections["cimd_policies"] == sections["replicas"] == {"status": "present", "items": []}


def test_a_pool_without_threat_protection_asks_each_client_only_until_told_so(stubbed):
    from backup_lambda.client_settings import client_risk_configuration

    client, stub = stubbed
    stub.add_client_error("describe_risk_configuration", "UserPoolAddOnNotEnabledException",
                          expected_params={"UserPoolId": POOL_ID, "ClientId": "c1"})

    with pytest.raises(Exception, match="threat protection is off"):
        client_risk_configuration(PoolReader(client, POOL_ID), POOL, ["c1", "c2", "c3"])
    stub.assert_no_pending_responses()


def test_sections_read_in_parallel_are_the_same_and_in_order(cognito):
    """Against moto: the parallel read (what a snapshot uses) equals the sequential one."""
    from demo.sample_pool import build_pool

    sample = build_pool(cognito, "parallel-config", users=3, unconfirmed=0)
    reader = PoolReader(cognito, sample.pool_id)
    pool = reader.describe_pool()

    sequential = read_configuration(reader, pool)
    parallel = read_configuration(reader, pool, parallel=6)

    def without_moto_noise(sections):  # moto invents a new AWSAccountId on every DescribeUserPoolDomain
        value = sections["domain"]["value"]
        domain = {**sections["domain"], "value": {**value, "Domain": {**value["Domain"], "AWSAccountId": None}}}
        return {**sections, "domain": domain}

    assert list(parallel) == list(sequential)
    assert without_moto_noise(parallel) == without_moto_noise(sequential)
    assert sequential["clients"]["status"] == "present" and len(sequential["clients"]["items"]) == 2
