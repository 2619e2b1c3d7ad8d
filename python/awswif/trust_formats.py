"""The AWS trust for one issuer and its subjects, written out for the tool a platform team uses:
plain JSON (for the console or the AWS CLI), a CloudFormation template, or Terraform; and the same
for a spoke role that trusts a hub role (role chaining)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from .errors import UserError
from .trust import (
    AUDIENCE,
    assume_permission_statement,
    chained_trust_policy,
    condition,
    provider_arn,
    provider_host,
    trust_policy,
)

FORMATS = ("json", "cloudformation", "terraform")
S = TypeVar("S")


@dataclass(frozen=True)
class TrustSpec:
    issuer: str
    subjects: Sequence[str]
    account_id: Optional[str] = None
    partition: str = "aws"
    role_name: str = "azure-pipelines"
    managed_policy_arns: Sequence[str] = ()
    max_session_duration: int = 3600
    # The account already has the IAM OIDC provider (there is one per issuer and account).
    existing_provider: bool = False


def render(spec: TrustSpec, fmt: str) -> str:
    return _renderer(fmt, {"json": as_json, "cloudformation": as_cloudformation, "terraform": as_terraform})(spec)


def _renderer(fmt: str, renderers: dict[str, Callable[[S], str]]) -> Callable[[S], str]:
    if fmt not in renderers:
        raise UserError(f"Unknown format '{fmt}'.", f"Use one of: {', '.join(FORMATS)}.")
    return renderers[fmt]


def as_json(spec: TrustSpec) -> str:
    if not spec.account_id:
        raise UserError(
            "The json format needs --account-id: the trust policy's Principal is the provider's ARN in that account.",
            "Add --account-id 123456789012, or use --format cloudformation or terraform, which fill it in.",
        )
    document = {
        "oidcProvider": {
            "url": spec.issuer,
            "clientIdList": [AUDIENCE],
            "arn": provider_arn(spec.account_id, spec.issuer, spec.partition),
        },
        "role": {"name": spec.role_name, "maxSessionDuration": spec.max_session_duration,
                 "managedPolicyArns": list(spec.managed_policy_arns)},
        "trustPolicy": trust_policy(spec.account_id, spec.issuer, spec.subjects, spec.partition),
    }
    return json.dumps(document, indent=2) + "\n"


def as_cloudformation(spec: TrustSpec) -> str:
    host = provider_host(spec.issuer)
    resources: dict[str, Any] = {}
    if spec.existing_provider:
        federated: Any = {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{host}"}
    else:
        resources["OidcProvider"] = {
            "Type": "AWS::IAM::OIDCProvider",
            "Properties": {"Url": spec.issuer, "ClientIdList": [AUDIENCE]},
        }
        federated = {"Ref": "OidcProvider"}
    role: dict[str, Any] = {
        "RoleName": spec.role_name,
        "Description": f"Assumed by Azure Pipelines through workload identity federation ({host})",
        "MaxSessionDuration": spec.max_session_duration,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": federated},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition(spec.issuer, spec.subjects),
            }],
        },
    }
    if spec.managed_policy_arns:
        role["ManagedPolicyArns"] = list(spec.managed_policy_arns)
    resources["Role"] = {"Type": "AWS::IAM::Role", "Properties": role}
    outputs: dict[str, Any] = {"RoleArn": {"Description": "The roleArn input of AwsWifAssume@1",
                                           "Value": {"Fn::GetAtt": ["Role", "Arn"]}}}
    if not spec.existing_provider:
        outputs["OidcProviderArn"] = {"Value": {"Ref": "OidcProvider"}}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "AWS trust for Azure Pipelines (aws-wif): IAM OIDC provider and a role pinned to its subjects",
        "Resources": resources,
        "Outputs": outputs,
    }
    return json.dumps(template, indent=2) + "\n"


def _hcl(value: Any, indent: int) -> str:
    """A Terraform expression for a JSON value (strings quoted with JSON escapes, which HCL shares,
    and `${` escaped so that a subject can never become an interpolation)."""
    pad = "  " * indent
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        body = "".join(f"{pad}  {json.dumps(k)} = {_hcl(v, indent + 1)}\n" for k, v in value.items())
        return "{\n" + body + pad + "}"
    return json.dumps(value)


def as_terraform(spec: TrustSpec) -> str:
    host = provider_host(spec.issuer)
    description = f"Assumed by Azure Pipelines through workload identity federation ({host})"
    blocks = []
    if spec.existing_provider:
        blocks.append(
            'data "aws_iam_openid_connect_provider" "azure_pipelines" {\n'
            f"  url = {_hcl(spec.issuer, 1)}\n"
            "}\n"
        )
        provider_ref = "data.aws_iam_openid_connect_provider.azure_pipelines.arn"
    else:
        blocks.append(
            'resource "aws_iam_openid_connect_provider" "azure_pipelines" {\n'
            f"  url            = {_hcl(spec.issuer, 1)}\n"
            f"  client_id_list = [{_hcl(AUDIENCE, 1)}]\n"
            "}\n"
        )
        provider_ref = "aws_iam_openid_connect_provider.azure_pipelines.arn"
    statement = (
        f"      Principal = {{ Federated = {provider_ref} }}\n"
        '      Action    = "sts:AssumeRoleWithWebIdentity"\n'
        f"      Condition = {_hcl(condition(spec.issuer, spec.subjects), 3)}\n"
    )
    blocks += _terraform_role(spec.role_name, description, spec.max_session_duration, statement,
                              spec.managed_policy_arns, "The roleArn input of AwsWifAssume@1")
    return "\n".join(blocks)


def _terraform_role(name: str, description: str, max_session_duration: int, statement: str,
                    managed_policy_arns: Sequence[str], output_description: str) -> list[str]:
    """The role (its trust policy's one statement given as HCL lines), its policy attachments and
    its ARN as an output: the part a web-identity role and a spoke role share."""
    blocks = [
        'resource "aws_iam_role" "azure_pipelines" {\n'
        f"  name                 = {_hcl(name, 1)}\n"
        f"  description          = {_hcl(description, 1)}\n"
        f"  max_session_duration = {max_session_duration}\n"
        "  assume_role_policy = jsonencode({\n"
        '    Version = "2012-10-17"\n'
        "    Statement = [{\n"
        '      Effect    = "Allow"\n'
        f"{statement}"
        "    }]\n"
        "  })\n"
        "}\n"
    ]
    for index, arn in enumerate(managed_policy_arns):
        blocks.append(
            f'resource "aws_iam_role_policy_attachment" "azure_pipelines_{index}" {{\n'
            "  role       = aws_iam_role.azure_pipelines.name\n"
            f"  policy_arn = {_hcl(arn, 1)}\n"
            "}\n"
        )
    blocks.append(
        'output "role_arn" {\n'
        f"  description = {_hcl(output_description, 1)}\n"
        "  value       = aws_iam_role.azure_pipelines.arn\n"
        "}\n"
    )
    return blocks


@dataclass(frozen=True)
class ChainedSpec:
    """A spoke role in hub-and-spoke role chaining: only the hub role may assume it."""

    hub_role_arn: str
    account_id: Optional[str] = None
    partition: str = "aws"
    role_name: str = "azure-pipelines"
    managed_policy_arns: Sequence[str] = ()
    max_session_duration: int = 3600


def render_chained(spec: ChainedSpec, fmt: str) -> str:
    return _renderer(fmt, {"json": chained_as_json, "cloudformation": chained_as_cloudformation,
                           "terraform": chained_as_terraform})(spec)


def chained_as_json(spec: ChainedSpec) -> str:
    if not spec.account_id:
        raise UserError(
            "The json format needs --account-id: the spoke account, for the role ARN to list in chainedProfiles.",
            "Add --account-id 123456789012, or use --format cloudformation or terraform, which fill it in.",
        )
    role_arn = f"arn:{spec.partition}:iam::{spec.account_id}:role/{spec.role_name}"
    document = {
        "role": {"name": spec.role_name, "arn": role_arn, "maxSessionDuration": spec.max_session_duration,
                 "managedPolicyArns": list(spec.managed_policy_arns)},
        "trustPolicy": chained_trust_policy(spec.hub_role_arn),
        # Cross-account AssumeRole needs both sides: the hub role's own permission to assume the spoke.
        "hubRolePolicy": {"Version": "2012-10-17", "Statement": [assume_permission_statement([role_arn])]},
    }
    return json.dumps(document, indent=2) + "\n"


def chained_as_cloudformation(spec: ChainedSpec) -> str:
    role: dict[str, Any] = {
        "RoleName": spec.role_name,
        "Description": f"Assumed by Azure Pipelines through the hub role {spec.hub_role_arn} (role chaining)",
        "MaxSessionDuration": spec.max_session_duration,
        "AssumeRolePolicyDocument": chained_trust_policy(spec.hub_role_arn),
    }
    if spec.managed_policy_arns:
        role["ManagedPolicyArns"] = list(spec.managed_policy_arns)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "AWS trust for Azure Pipelines (aws-wif): a spoke role that only the hub role may assume",
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": role}},
        "Outputs": {"RoleArn": {"Description": "A chainedProfiles line of AwsWifAssume@1: NAME=<this ARN>",
                                "Value": {"Fn::GetAtt": ["Role", "Arn"]}}},
    }
    return json.dumps(template, indent=2) + "\n"


def chained_as_terraform(spec: ChainedSpec) -> str:
    description = f"Assumed by Azure Pipelines through the hub role {spec.hub_role_arn} (role chaining)"
    statement = (
        f"      Principal = {{ AWS = {_hcl(spec.hub_role_arn, 3)} }}\n"
        '      Action    = "sts:AssumeRole"\n'
    )
    blocks = _terraform_role(spec.role_name, description, spec.max_session_duration, statement,
                             spec.managed_policy_arns, "A chainedProfiles line of AwsWifAssume@1: NAME=<this ARN>")
    return "\n".join(blocks)
