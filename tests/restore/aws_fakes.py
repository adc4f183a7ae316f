"""What AWS does and moto does not, for restore tests: a recording fake in front of moto.

moto accepts requests AWS refuses, never invokes triggers, skips trust policies, and lacks some APIs. ``AwsRules``
answers or refuses, before the request leaves (botocore's ``before-call``), the calls where AWS behaves otherwise,
as AWS documents it:

- CreateUserPool: an SMS role whose trust policy names another ExternalId is refused
  (InvalidSmsRoleTrustRelationshipException); with ``refuse_both_halves`` (as AWS may for a template it judges
  invalid) both verification email halves are refused (InvalidParameterException);
- CreateIdentityProvider: the name must match ProviderNameTypeV2 (moto takes "My IdP");
- CreateUserPoolClient with PublishSecretsInAWSSecretsManager: the answer carries a new ClientSecretArn;
- AdminCreateUser: while the pool has a PreSignUp trigger, the function is "invoked" (recorded); if its resource
  policy does not let this pool invoke it, the call fails as AWS fails it (UnexpectedLambdaException);
- SetUICustomization (needs a domain), SetRiskConfiguration, SetLogDeliveryConfiguration, TagResource,
  CreateManagedLoginBranding (no Settings or Assets with UseCognitoProvidedValues), AdminLinkProviderForUser (the
  provider must exist), and the user import jobs (GetCSVHeader, CreateUserImportJob, the upload to the pre-signed
  URL, StartUserImportJob creating the rows' users, at once or after ``job_polls`` polls, DescribeUserImportJob,
  ListUserImportJobs): moto lacks them.

``Lambdas`` plays AWS Lambda for ``--grant-triggers``: GetPolicy and AddPermission on each function's resource
policy (which the trigger check above reads). ``RequestLog`` records every request as the API takes it.
Everything else goes to moto (UpdateUserPool there is a full replacement, as on AWS).
"""

from __future__ import annotations

import copy
import csv
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from cognito_backup.restore.requests import provider_name_problem
from tests.support.fault_injection import RawBody

STANDARD_HEADER = ["name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
                   "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
                   "phone_number", "phone_number_verified", "address", "updated_at", "cognito:mfa_enabled",
                   "cognito:username"]


def _answer(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://fake", 200, {}, RawBody(b"{}")), parsed


def _refuse(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class RequestLog:
    """Every request the attached clients send, in order: (service, operation, params as the API takes them)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self._record)
        return client

    def _record(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = copy.deepcopy(params)
        with self._lock:
            self.requests.append((model.service_model.service_name, model.name, copy.deepcopy(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [p for _, op, p in self.requests if op == operation]

    def operations(self) -> list[str]:
        return [op for _, op, _ in self.requests]


class Lambdas:
    """Lambda functions with resource policies: GetPolicy, AddPermission (refused with AccessDenied unless
    ``caller_may_grant``)."""

    def __init__(self, *, caller_may_grant: bool = True, log: RequestLog | None = None):
        self.policies: dict[str, list[dict[str, Any]]] = {}
        self.caller_may_grant = caller_may_grant
        self.log = log

    def allow(self, function_arn: str, pool_arn: str, sid: str = "old-pool") -> None:
        self.policies.setdefault(function_arn, []).append({
            "Sid": sid, "Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": function_arn,
            "Condition": {"ArnLike": {"AWS:SourceArn": pool_arn}}})

    def may_invoke(self, function_arn: str, pool_arn: str) -> bool:
        return any(pool_arn in json.dumps(s.get("Condition")) for s in self.policies.get(function_arn, ()))

    def client(self, _region: str) -> Any:
        import boto3

        client = boto3.client("lambda", region_name=_region)
        if self.log:
            self.log.attach(client)
        client.meta.events.register("before-parameter-build", AwsRules._keep_params)
        client.meta.events.register("before-call.lambda.GetPolicy", self._get_policy)
        client.meta.events.register("before-call.lambda.AddPermission", self._add_permission)
        return client

    def _get_policy(self, context: dict[str, Any], **_: Any):
        name = context["api_params"]["FunctionName"]
        if name not in self.policies:
            raise _refuse("ResourceNotFoundException", "The resource you requested does not exist.", "GetPolicy")
        return _answer({"Policy": json.dumps({"Version": "2012-10-17", "Statement": self.policies[name]}),
                        "RevisionId": "1"})

    def _add_permission(self, context: dict[str, Any], **_: Any):
        p = context["api_params"]
        if not self.caller_may_grant:
            raise _refuse("AccessDeniedException", "not authorized to perform: lambda:AddPermission", "AddPermission")
        if any(s["Sid"] == p["StatementId"] for s in self.policies.get(p["FunctionName"], ())):
            raise _refuse("ResourceConflictException", "The statement id provided already exists.", "AddPermission")
        statement = {"Sid": p["StatementId"], "Effect": "Allow", "Principal": {"Service": p["Principal"]},
                     "Action": p["Action"], "Resource": p["FunctionName"],
                     "Condition": {"ArnLike": {"AWS:SourceArn": p["SourceArn"]}}}
        self.policies.setdefault(p["FunctionName"], []).append(statement)
        return _answer({"Statement": json.dumps(statement)})


class AwsRules:
    """Attached to the (moto) client a restore uses; ``reader`` is another moto client, not attached, through which
    the fake reads the pool's state."""

    def __init__(self, reader: Any, *, lambdas: Lambdas | None = None, sms_trust: dict[str, str] | None = None,
                 refuse_both_halves: bool = False, job_polls: int = 0):
        self.reader = reader
        # A started job imports its rows at once (0), or runs for that many DescribeUserImportJob calls first (as
        # AWS's, it carries on whether or not anyone asks: the polls stand for the time it takes).
        self.job_polls = job_polls
        self.lambdas = lambdas or Lambdas()
        self.sms_trust = sms_trust or {}
        self.refuse_both_halves = refuse_both_halves
        self.invocations: list[tuple[str, str, str]] = []  # (trigger, function, username)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []  # what the fake answered
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build", self._keep_params)
        for operation, handler in (
                ("CreateUserPool", self._create_user_pool), ("CreateIdentityProvider", self._create_provider),
                ("AdminCreateUser", self._admin_create_user), ("SetUICustomization", self._set_ui),
                ("SetRiskConfiguration", self._echo("RiskConfiguration")),
                ("SetLogDeliveryConfiguration", self._echo("LogDeliveryConfiguration")),
                ("CreateManagedLoginBranding", self._branding), ("AdminLinkProviderForUser", self._link),
                ("TagResource", self._echo(None)),
                ("GetCSVHeader", self._csv_header), ("CreateUserImportJob", self._create_job),
                ("StartUserImportJob", self._start_job), ("DescribeUserImportJob", self._describe_job),
                ("ListUserImportJobs", self._list_jobs)):
            events.register(f"before-call.cognito-identity-provider.{operation}", handler)
        events.register("after-call.cognito-identity-provider.CreateUserPoolClient", self._client_secret_arn)
        return client

    def attach_import_jobs(self, client: Any) -> Any:
        """Only the user import jobs (GetCSVHeader, CreateUserImportJob, StartUserImportJob, DescribeUserImportJob);
        everything else goes to moto as it is."""
        events = client.meta.events
        events.register("before-parameter-build", self._keep_params)
        for operation, handler in (("GetCSVHeader", self._csv_header), ("CreateUserImportJob", self._create_job),
                                   ("StartUserImportJob", self._start_job),
                                   ("DescribeUserImportJob", self._describe_job),
                                   ("ListUserImportJobs", self._list_jobs)):
            events.register(f"before-call.cognito-identity-provider.{operation}", handler)
        return client

    def imported(self) -> dict[str, list[str]]:
        """The usernames each started job created, by job id (call_order.assert_no_window_for_disabled_users)."""
        return {job_id: [row["cognito:username"] for row in job["rows"] or ()]
                for job_id, job in self.jobs.items() if job["Status"] != "Created"}

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = copy.deepcopy(params)

    def _record(self, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((operation, params))

    def _pool(self, pool_id: str) -> dict[str, Any]:
        return self.reader.describe_user_pool(UserPoolId=pool_id)["UserPool"]

    # -- what AWS refuses or does, that moto does not -------------------------------------------------------
    def _create_user_pool(self, context: dict[str, Any], **_: Any) -> None:
        p = context["api_params"]
        sms = p.get("SmsConfiguration") or {}
        trusted = self.sms_trust.get(sms.get("SnsCallerArn"))
        if trusted is not None and sms.get("ExternalId") != trusted:
            raise _refuse("InvalidSmsRoleTrustRelationshipException", "Role does not have a trust relationship "
                          "allowing Cognito to assume the role.", "CreateUserPool")
        template = p.get("VerificationMessageTemplate") or {}
        if self.refuse_both_halves and template.get("EmailMessage") and template.get("EmailMessageByLink"):
            raise _refuse("InvalidParameterException", "The message is invalid.", "CreateUserPool")

    def _create_provider(self, context: dict[str, Any], **_: Any) -> None:
        problem = provider_name_problem(context["api_params"]["ProviderName"])
        if problem:
            raise _refuse("InvalidParameterException", f"1 validation error detected: {problem}",
                          "CreateIdentityProvider")

    def _client_secret_arn(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        client = parsed.get("UserPoolClient") or {}
        if (context.get("api_params") or {}).get("PublishSecretsInAWSSecretsManager") and client:
            client["ClientSecretArn"] = (f"arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                                         f"cognito-{client['ClientId']}-{uuid.uuid4().hex[:6]}")
            client.pop("ClientSecret", None)

    def _admin_create_user(self, context: dict[str, Any], **_: Any) -> None:
        p = context["api_params"]
        pool = self._pool(p["UserPoolId"])
        function = (pool.get("LambdaConfig") or {}).get("PreSignUp")
        if function:
            with self._lock:
                self.invocations.append(("PreSignUp", function, p["Username"]))
            if not self.lambdas.may_invoke(function, pool["Arn"]):
                raise _refuse("UnexpectedLambdaException", f"PreSignUp invocation failed: {pool['Arn']} may not "
                              f"invoke {function} (AccessDeniedException)", "AdminCreateUser")

    def _set_ui(self, context: dict[str, Any], **_: Any):
        p = context["api_params"]
        pool = self._pool(p["UserPoolId"])
        if not (pool.get("Domain") or pool.get("CustomDomain")):
            raise _refuse("InvalidParameterException", "There has to be an existing domain associated with this "
                          "user pool", "SetUICustomization")
        self._record("SetUICustomization", p)
        return _answer({"UICustomization": {"UserPoolId": p["UserPoolId"], "ClientId": p.get("ClientId", "ALL"),
                                            "CSS": p.get("CSS")}})

    def _echo(self, key: str | None) -> Callable[..., Any]:
        def answer(context: dict[str, Any], model: Any, **_: Any):
            self._record(model.name, context["api_params"])
            return _answer({key: context["api_params"]} if key else {})
        return answer

    def _branding(self, context: dict[str, Any], **_: Any):
        p = context["api_params"]
        if p.get("UseCognitoProvidedValues") and ("Settings" in p or "Assets" in p):
            raise _refuse("InvalidParameterException", "Settings and Assets must be omitted with "
                          "UseCognitoProvidedValues", "CreateManagedLoginBranding")
        self.reader.describe_user_pool_client(UserPoolId=p["UserPoolId"], ClientId=p["ClientId"])
        self._record("CreateManagedLoginBranding", p)
        return _answer({"ManagedLoginBranding": {"ManagedLoginBrandingId": str(uuid.uuid4()),
                                                 "UserPoolId": p["UserPoolId"]}})

    def _link(self, context: dict[str, Any], **_: Any):
        p = context["api_params"]
        try:
            self.reader.describe_identity_provider(UserPoolId=p["UserPoolId"],
                                                   ProviderName=p["SourceUser"]["ProviderName"])
        except ClientError:
            raise _refuse("InvalidParameterException", "SourceUser's provider does not exist",
                          "AdminLinkProviderForUser") from None
        self._record("AdminLinkProviderForUser", p)
        return _answer({})

    # -- user import jobs ------------------------------------------------------------------------------------
    def _csv_header(self, context: dict[str, Any], **_: Any):
        pool_id = context["api_params"]["UserPoolId"]
        custom = [a["Name"] for a in self._pool(pool_id).get("SchemaAttributes") or ()
                  if a["Name"].startswith("custom:")]
        return _answer({"UserPoolId": pool_id, "CSVHeader": STANDARD_HEADER + custom})

    def _create_job(self, context: dict[str, Any], **_: Any):
        p = context["api_params"]
        job_id = f"import-{uuid.uuid4().hex[:12]}"
        self.jobs[job_id] = {"JobName": p["JobName"], "JobId": job_id, "UserPoolId": p["UserPoolId"],
                             "PreSignedUrl": f"https://cognito-import.s3.amazonaws.com/{job_id}?X-Amz-Signature=1",
                             "CloudWatchLogsRoleArn": p["CloudWatchLogsRoleArn"], "Status": "Created", "rows": None}
        return _answer({"UserImportJob": self._job(job_id)})

    def upload(self, url: str, path: str) -> None:
        """The PUT to the pre-signed URL."""
        job = next(j for j in self.jobs.values() if j["PreSignedUrl"] == url)
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = STANDARD_HEADER + [a["Name"] for a in self._pool(job["UserPoolId"]).get("SchemaAttributes") or ()
                                        if a["Name"].startswith("custom:")]
            assert reader.fieldnames == header, "the CSV's columns are not GetCSVHeader's"
            job["rows"] = list(reader)

    def _start_job(self, context: dict[str, Any], **_: Any):
        job = self.jobs[context["api_params"]["JobId"]]
        if any(j["Status"] == "InProgress" for j in self.jobs.values()):  # AWS: one job at a time per account
            raise _refuse("LimitExceededException", "Only one import job can be active at a time.",
                          "StartUserImportJob")
        job.update(Status="InProgress", polls_left=self.job_polls)
        if not self.job_polls:
            self._run_job(job)
        self._record("StartUserImportJob", context["api_params"])
        return _answer({"UserImportJob": {**self._job(job["JobId"]), "Status": "Pending"}})

    def _run_job(self, job: dict[str, Any]) -> None:
        imported = failed = 0
        for row in job["rows"] or ():
            if "true" not in (row.get("email_verified"), row.get("phone_number_verified")):
                failed += 1  # AWS: each row needs a true email_verified or phone_number_verified
                continue
            attributes = [{"Name": k, "Value": v} for k, v in row.items() if v and not k.startswith("cognito:")]
            self.reader.admin_create_user(UserPoolId=job["UserPoolId"], Username=row["cognito:username"],
                                          UserAttributes=attributes, MessageAction="SUPPRESS")
            imported += 1
        job.update(Status="Succeeded", ImportedUsers=imported, FailedUsers=failed, SkippedUsers=0,
                   CompletionMessage="Import Job Completed Successfully.")

    def _describe_job(self, context: dict[str, Any], **_: Any):
        job = self.jobs[context["api_params"]["JobId"]]
        if job["Status"] == "InProgress":
            job["polls_left"] -= 1
            if job["polls_left"] <= 0:
                self._run_job(job)
        return _answer({"UserImportJob": self._job(job["JobId"])})

    def _list_jobs(self, context: dict[str, Any], **_: Any):
        pool = context["api_params"]["UserPoolId"]
        newest_first = [self._job(j) for j in reversed(self.jobs) if self.jobs[j]["UserPoolId"] == pool]
        return _answer({"UserImportJobs": newest_first[:context["api_params"]["MaxResults"]]})

    def _job(self, job_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.jobs[job_id].items() if k not in ("rows", "polls_left")}
