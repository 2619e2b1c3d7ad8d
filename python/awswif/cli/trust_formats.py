"""The AWS trust for one issuer and its subjects, written out for the tool a platform team uses:
plain JSON (for the console or the AWS CLI), a CloudFormation template, or Terraform; and the same
for a spoke role that trusts a hub role (role chaining). Every format carries the guard rails
(permissions boundary, path, tags) and marks the trust statement with awswif's Sid, so a later
`awswif setup --update` recognises it. The StackSet format is stackset.py's."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

from ..errors import UserError
from ..trust import AUDIENCE, chained_actions, condition, provider_arn, provider_host
from .guardrails import Guardrails, role_arn
from .owned_trust import HUB_ROLE_SID, WEB_IDENTITY_SID, hub_statement, policy, web_identity_statement

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
    guardrails: Guardrails = field(default_factory=Guardrails)


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
            **_json_tags(spec.guardrails),
        },
        "role": _json_role(spec.role_name, spec.max_session_duration, spec.managed_policy_arns, spec.guardrails),
        "trustPolicy": policy([web_identity_statement(spec.account_id, spec.issuer, spec.subjects, spec.partition)]),
    }
    return json.dumps(document, indent=2) + "\n"


def _json_tags(guardrails: Guardrails) -> dict[str, Any]:
    return {"tags": dict(guardrails.tags)} if guardrails.tags else {}


def _json_role(name: str, max_session_duration: int, managed_policy_arns: Sequence[str], guardrails: Guardrails,
               arn: Optional[str] = None) -> dict[str, Any]:
    role: dict[str, Any] = {"name": name}
    if guardrails.role_path != "/":
        role["path"] = guardrails.role_path
    if arn:
        role["arn"] = arn
    role["maxSessionDuration"] = max_session_duration
    role["managedPolicyArns"] = list(managed_policy_arns)
    if guardrails.permissions_boundary:
        role["permissionsBoundary"] = guardrails.permissions_boundary
    return {**role, **_json_tags(guardrails)}


def cfn_tags(guardrails: Guardrails) -> dict[str, Any]:
    return {"Tags": [{"Key": k, "Value": v} for k, v in guardrails.tags]} if guardrails.tags else {}


def cfn_role_properties(name: str, description: Any, max_session_duration: int, trust: Any,
                        managed_policy_arns: Sequence[Any], guardrails: Guardrails,
                        boundary: Any = None) -> dict[str, Any]:
    """An AWS::IAM::Role's properties, shared by both patterns and stackset.py (which passes the
    boundary and policy ARNs as expressions)."""
    role: dict[str, Any] = {"RoleName": name}
    if guardrails.role_path != "/":
        role["Path"] = guardrails.role_path
    role.update({"Description": description, "MaxSessionDuration": max_session_duration,
                 "AssumeRolePolicyDocument": trust})
    if managed_policy_arns:
        role["ManagedPolicyArns"] = list(managed_policy_arns)
    boundary = boundary or guardrails.permissions_boundary
    if boundary:
        role["PermissionsBoundary"] = boundary
    return {**role, **cfn_tags(guardrails)}


def as_cloudformation(spec: TrustSpec) -> str:
    host = provider_host(spec.issuer)
    resources: dict[str, Any] = {}
    if spec.existing_provider:
        federated: Any = {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{host}"}
    else:
        resources["OidcProvider"] = {
            "Type": "AWS::IAM::OIDCProvider",
            "Properties": {"Url": spec.issuer, "ClientIdList": [AUDIENCE], **cfn_tags(spec.guardrails)},
        }
        federated = {"Ref": "OidcProvider"}
    trust = policy([{
        "Sid": WEB_IDENTITY_SID,
        "Effect": "Allow",
        "Principal": {"Federated": federated},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition(spec.issuer, spec.subjects),
    }])
    role = cfn_role_properties(spec.role_name, web_identity_description(host), spec.max_session_duration, trust,
                               spec.managed_policy_arns, spec.guardrails)
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


def web_identity_description(host: str) -> str:
    return f"Assumed by Azure Pipelines through workload identity federation ({host})"


def chained_description(hub_role_arn: str) -> str:
    return f"Assumed by Azure Pipelines through the hub role {hub_role_arn} (role chaining)"


def _hcl(value: Any, indent: int) -> str:
    """A Terraform expression for a JSON value (strings quoted with JSON escapes, which HCL shares,
    and `${` escaped so that a subject can never become an interpolation)."""
    pad = "  " * indent
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        body = "".join(f"{pad}  {_hcl(k, indent)} = {_hcl(v, indent + 1)}\n" for k, v in value.items())
        return "{\n" + body + pad + "}"
    return json.dumps(value)


def as_terraform(spec: TrustSpec) -> str:
    description = web_identity_description(provider_host(spec.issuer))
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
            f"{_terraform_tags(spec.guardrails, 14)}"
            "}\n"
        )
        provider_ref = "aws_iam_openid_connect_provider.azure_pipelines.arn"
    statement = (
        f"      Principal = {{ Federated = {provider_ref} }}\n"
        '      Action    = "sts:AssumeRoleWithWebIdentity"\n'
        f"      Condition = {_hcl(condition(spec.issuer, spec.subjects), 3)}\n"
    )
    blocks += _terraform_role(spec.role_name, description, spec.max_session_duration, WEB_IDENTITY_SID, statement,
                              spec.managed_policy_arns, "The roleArn input of AwsWifAssume@1", spec.guardrails)
    return "\n".join(blocks)


def _terraform_tags(guardrails: Guardrails, width: int) -> str:
    """The tags attribute, its '=' aligned with the block's other attributes (as terraform fmt does)."""
    if not guardrails.tags:
        return ""
    return f"  {'tags'.ljust(width)} = {_hcl(dict(guardrails.tags), 1)}\n"


def _terraform_role(name: str, description: str, max_session_duration: int, sid: str, statement: str,
                    managed_policy_arns: Sequence[str], output_description: str, guardrails: Guardrails) -> list[str]:
    """The role (its trust policy's one statement given as HCL lines), its policy attachments and
    its ARN as an output: the part a web-identity role and a spoke role share."""
    path = f"  path                 = {_hcl(guardrails.role_path, 1)}\n" if guardrails.role_path != "/" else ""
    boundary = (f"  permissions_boundary = {_hcl(guardrails.permissions_boundary, 1)}\n"
                if guardrails.permissions_boundary else "")
    blocks = [
        'resource "aws_iam_role" "azure_pipelines" {\n'
        f"  name                 = {_hcl(name, 1)}\n"
        f"{path}"
        f"  description          = {_hcl(description, 1)}\n"
        f"  max_session_duration = {max_session_duration}\n"
        f"{boundary}"
        f"{_terraform_tags(guardrails, 20)}"
        "  assume_role_policy = jsonencode({\n"
        '    Version = "2012-10-17"\n'
        "    Statement = [{\n"
        f"      Sid       = {_hcl(sid, 3)}\n"
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
    guardrails: Guardrails = field(default_factory=Guardrails)
    # The pipeline's tools pass session tags or a source identity when assuming the spoke.
    session_tags: bool = False
    source_identity: bool = False

    @property
    def trust_statement(self) -> dict[str, Any]:
        return hub_statement(self.hub_role_arn, self.session_tags, self.source_identity)


def hub_role_policy(spec: ChainedSpec, spoke_role_arns: Sequence[str]) -> dict[str, Any]:
    """The statement the hub role needs in its own permissions (cross-account AssumeRole needs both
    sides), with the same session-tag and source-identity actions as the spokes' trust."""
    resource: Any = spoke_role_arns[0] if len(spoke_role_arns) == 1 else list(spoke_role_arns)
    actions: Any = chained_actions(spec.session_tags, spec.source_identity)
    return policy([{"Effect": "Allow", "Action": actions[0] if len(actions) == 1 else actions, "Resource": resource}])


def render_chained(spec: ChainedSpec, fmt: str) -> str:
    return _renderer(fmt, {"json": chained_as_json, "cloudformation": chained_as_cloudformation,
                           "terraform": chained_as_terraform})(spec)


def chained_as_json(spec: ChainedSpec) -> str:
    if not spec.account_id:
        raise UserError(
            "The json format needs --account-id: the spoke account, for the role ARN to list in chainedProfiles.",
            "Add --account-id 123456789012, or use --format cloudformation or terraform, which fill it in.",
        )
    arn = role_arn(spec.partition, spec.account_id, spec.guardrails.role_path, spec.role_name)
    document = {
        "role": _json_role(spec.role_name, spec.max_session_duration, spec.managed_policy_arns, spec.guardrails, arn),
        "trustPolicy": policy([spec.trust_statement]),
        # Cross-account AssumeRole needs both sides: the hub role's own permission to assume the spoke.
        "hubRolePolicy": hub_role_policy(spec, [arn]),
    }
    return json.dumps(document, indent=2) + "\n"


def chained_as_cloudformation(spec: ChainedSpec) -> str:
    role = cfn_role_properties(spec.role_name, chained_description(spec.hub_role_arn), spec.max_session_duration,
                               policy([spec.trust_statement]), spec.managed_policy_arns, spec.guardrails)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "AWS trust for Azure Pipelines (aws-wif): a spoke role that only the hub role may assume",
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": role}},
        "Outputs": {"RoleArn": {"Description": "A chainedProfiles line of AwsWifAssume@1: NAME=<this ARN>",
                                "Value": {"Fn::GetAtt": ["Role", "Arn"]}}},
    }
    return json.dumps(template, indent=2) + "\n"


def chained_as_terraform(spec: ChainedSpec) -> str:
    action = spec.trust_statement["Action"]
    statement = (
        f"      Principal = {{ AWS = {_hcl(spec.hub_role_arn, 3)} }}\n"
        f"      Action    = {_hcl(action, 3)}\n"
    )
    blocks = _terraform_role(spec.role_name, chained_description(spec.hub_role_arn), spec.max_session_duration,
                             HUB_ROLE_SID, statement, spec.managed_policy_arns,
                             "A chainedProfiles line of AwsWifAssume@1: NAME=<this ARN>", spec.guardrails)
    return "\n".join(blocks)
