"""Bootstrap, once per AWS account: GitHub's OIDC provider, the CI roles, the permissions boundary of
the main program's roles, the optional state backend.

Reads top to bottom: config -> state backend -> OIDC provider -> boundary -> roles -> exports. The policies are
the pure functions of the package's modules, the roles listed in ``ci_access.py`` (tested in
tests/infra/test_bootstrap.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the main program's project
# The repository's root: the roles are built from infra/names.py and the permissions lists.
sys.path.insert(0, str(PROJECT_DIR))

from bootstrap import account_settings, boundary, ci_access, state_backend, trust  # noqa: E402
from infra import names  # noqa: E402

config = pulumi.Config()
region = aws.config.region
if not region:
    raise account_settings.SettingsError("aws:region: required (pulumi config set aws:region eu-west-1)")
backend_kind = config.get("stateBackend") or "cloud"
if backend_kind not in ("cloud", "s3"):
    raise account_settings.SettingsError(
        f"cognito-backup-bootstrap:stateBackend: must be cloud or s3, not {backend_kind!r}")
identity = aws.get_caller_identity()
partition = aws.get_partition().partition

stacks = tuple(config.require_object("stacks"))
settings = account_settings.check_settings(account_settings.Settings(
    account_id=identity.account_id,
    github_owner=config.require("githubOwner"),
    github_repo=config.require("githubRepo"),
    stacks=stacks,
    stack_pool_ids=account_settings.read_stack_pool_ids(PROJECT_DIR, stacks),
    stack_readers=account_settings.read_stack_readers(PROJECT_DIR, stacks),
    resource_prefix=config.get("resourcePrefix") or "cognito-backup",
    default_branch=config.get("defaultBranch") or "main",
    partition=partition,
))
tags = {"project": "cognito-backup", "purpose": "continuous-delivery", "managed-by": "bootstrap"}
keep = pulumi.ResourceOptions(protect=True)

# The self-managed backend: a versioned, TLS-only bucket encrypted with a key that is also the
# stacks' secrets provider (awskms://).
backend_url = secrets_provider = None
if backend_kind == "s3":
    state_key = aws.kms.Key(
        "state-key",
        description="Pulumi state and stack secrets of cognito-backup",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=json.dumps(state_backend.state_key_policy(partition=partition, account_id=settings.account_id)),
        tags=tags,
        opts=keep,
    )
    alias = state_backend.state_key_alias(settings)
    aws.kms.Alias("state-key-alias", name=alias, target_key_id=state_key.key_id)
    bucket_name = state_backend.state_bucket_name(settings)
    state_bucket = aws.s3.Bucket("state-bucket", bucket=bucket_name, tags=tags, opts=keep)
    aws.s3.BucketOwnershipControls(
        "state-bucket-ownership", bucket=state_bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"))
    aws.s3.BucketPublicAccessBlock(
        "state-bucket-public-access-block", bucket=state_bucket.id, block_public_acls=True,
        block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
    aws.s3.BucketVersioning(
        "state-bucket-versioning", bucket=state_bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"))
    aws.s3.BucketServerSideEncryptionConfiguration(
        "state-bucket-encryption", bucket=state_bucket.id,
        rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(  # noqa: E501
                sse_algorithm="aws:kms", kms_master_key_id=state_key.arn),
            bucket_key_enabled=True)])
    aws.s3.BucketLifecycleConfiguration(
        "state-bucket-lifecycle", bucket=state_bucket.id,
        rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-old-state-versions", status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=90),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(  # noqa: E501
                days_after_initiation=7))])
    aws.s3.BucketPolicy("state-bucket-policy", bucket=state_bucket.id,
                        policy=json.dumps(state_backend.state_bucket_policy(f"arn:{partition}:s3:::{bucket_name}")))
    state = account_settings.StateBackend(bucket=bucket_name, key_arn=state_key.arn)
    settings = dataclasses.replace(settings, state=state)
    backend_url = state_backend.backend_url(bucket_name, region)
    secrets_provider = state_backend.secrets_provider(alias, region)

# GitHub's OIDC provider: an account has one per URL, shared by every repository that uses it.
existing_provider = config.get("existingOidcProviderArn")
if existing_provider:
    provider_arn = pulumi.Output.from_input(existing_provider)
else:
    provider = aws.iam.OpenIdConnectProvider(
        "github-oidc", url=trust.GITHUB_OIDC_URL, client_id_lists=[trust.OIDC_AUDIENCE], tags=tags,
        opts=pulumi.ResourceOptions(retain_on_delete=True))  # other repositories may come to rely on it
    provider_arn = provider.arn

# The permissions boundary every role of the main program must carry (the deploy role may create roles
# only with it, and cannot change it): the most any of them can ever do. Re-run the bootstrap when a
# stack gains a pool or the account a stack.
aws.iam.Policy(
    "program-boundary",
    name=names.PERMISSIONS_BOUNDARY,
    path=names.PROGRAM_ROLE_PATH,
    description="Permissions boundary of the cognito-backup program's roles (bootstrap)",
    policy=json.dumps(boundary.boundary_policy(settings)),
    tags=tags,
)

if problems := ci_access.policy_size_problems(settings):
    raise account_settings.SettingsError("invalid bootstrap configuration:\n" + "\n".join(f"  {p}" for p in problems))

roles = {}
for role, spec in ci_access.ROLES.items():
    roles[role] = aws.iam.Role(
        f"{role}-role",
        name=ci_access.role_name(settings, role),
        path=account_settings.CI_ROLE_PATH,
        description=spec.description,
        assume_role_policy=pulumi.Output.json_dumps(
            trust.trust_policy(provider_arn, ci_access.subjects(settings, role))),
        max_session_duration=spec.max_session_seconds,
        tags=tags,
    )
    aws.iam.RolePolicy(f"{role}-permissions", role=roles[role].id,
                       policy=pulumi.Output.json_dumps(spec.policy(settings)))
    if spec.guardrails:
        guardrails = aws.iam.Policy(
            f"{role}-guardrails",
            name=ci_access.guardrails_name(settings, role),
            path=account_settings.CI_ROLE_PATH,
            description=f"Explicit denies of the {role} role (bootstrap)",
            policy=pulumi.Output.json_dumps(spec.guardrails(settings)),
            tags=tags,
        )
        aws.iam.RolePolicyAttachment(f"{role}-guardrails", role=roles[role].name, policy_arn=guardrails.arn)

role_arns = {role: r.arn for role, r in roles.items()}
pulumi.export("oidcProviderArn", provider_arn)
pulumi.export("roleArns", role_arns)
pulumi.export("stateBucketName", settings.state.bucket if settings.state else None)
pulumi.export("backendUrl", backend_url)
pulumi.export("secretsProvider", secrets_provider)
# Add these roles to `cognito-backup:snapshotReaders` of each stack: they read snapshots.
pulumi.export("snapshotReaderArns", [role_arns["snapshot"], role_arns["drill"]])
pulumi.export("githubEnvironments", sorted({env for role in ci_access.ROLES
                                             for env in ci_access.environments(settings, role)}))
# The repository's OIDC subject template the roles' trust expects (docs/continuous-delivery.md).
pulumi.export("githubOidcSubjectTemplate", trust.oidc_subject_template())
pulumi.export("githubVariables", pulumi.Output.all(**role_arns).apply(
    lambda arns: ci_access.github_variables(region=region, role_arns=arns, backend=backend_url)))
