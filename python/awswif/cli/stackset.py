"""`awswif trust-policy --format stackset`: one CloudFormation template for a service-managed
StackSet, which AWS Organizations deploys into every account of an OU (and every account that joins
it later). No account id is written in it: the provider and policy ARNs are built from
AWS::AccountId in each account, and the issuer, the subjects (or the hub role) are parameters whose
defaults are the flags' values. Deployed with the two `aws cloudformation` commands deploy_commands
prints."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from ..errors import UserError
from ..identifiers import parse_policy_arn
from ..trust import AUDIENCE
from .owned_trust import HUB_ROLE_SID, WEB_IDENTITY_SID
from .trust_formats import ChainedSpec, TrustSpec, cfn_role_properties, cfn_tags, chained_description

# The parameters' patterns are checked again when a StackSet operation overrides them.
_ISSUER_PATTERN = (r"^https://(vstoken\.dev\.azure\.com/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
                   r"|login\.microsoftonline\.com/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/v2\.0)$")
# A subject goes into the trust policy's JSON text (Fn::Sub), so no quote, backslash or wildcard.
_SUBJECT_PATTERN = r'^[^"\\*?]+$'
_HUB_PATTERN = r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/([\x21-\x7e]+/)*[\w+=,.@-]{1,64}$"
_STACK_SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
TEMPLATE_FILE = "stackset.json"
# The issuer's host (the condition keys' prefix): the Issuer parameter without "https://".
_HOST = {"Fn::Select": [1, {"Fn::Split": ["https://", {"Ref": "Issuer"}]}]}


def _in_each_account(arn: str) -> Any:
    """A customer managed policy exists once per account: name this account's, not the one the
    flag happened to give (a role can use only AWS managed policies and its own account's)."""
    match = parse_policy_arn(arn)
    if not match or match["account"] == "aws":
        return arn
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{match['path']}{match['name']}"}


def _role(spec: TrustSpec | ChainedSpec, description: Any, trust: Any) -> dict[str, Any]:
    boundary = spec.guardrails.permissions_boundary
    return {"Type": "AWS::IAM::Role", "Properties": cfn_role_properties(
        spec.role_name, description, spec.max_session_duration, trust,
        [_in_each_account(arn) for arn in spec.managed_policy_arns], spec.guardrails,
        boundary=_in_each_account(boundary) if boundary else None)}


def _template(description: str, parameters: dict[str, Any], resources: dict[str, Any],
              conditions: dict[str, Any] | None = None) -> str:
    template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Description": description,
                                "Parameters": parameters}
    if conditions:
        template["Conditions"] = conditions
    template["Resources"] = resources
    template["Outputs"] = {"RoleArn": {"Description": "This account's role ARN (roleArn, profiles or chainedProfiles)",
                                       "Value": {"Fn::GetAtt": ["Role", "Arn"]}}}
    return json.dumps(template, indent=2) + "\n"


def as_stackset(spec: TrustSpec) -> str:
    for subject in spec.subjects:
        if "," in subject or not re.match(_SUBJECT_PATTERN, subject):
            raise UserError(f"The subject '{subject}' cannot be a StackSet parameter (it has a comma, quote, "
                            "backslash or wildcard).", "Use --format cloudformation for this subject.")
    parameters = {
        "Issuer": {"Type": "String", "Default": spec.issuer, "AllowedPattern": _ISSUER_PATTERN,
                   "Description": "The tokens' issuer: https://vstoken.dev.azure.com/<organization id> or "
                                  "https://login.microsoftonline.com/<tenant id>/v2.0"},
        "Subjects": {"Type": "CommaDelimitedList", "Default": ",".join(spec.subjects),
                     "AllowedPattern": _SUBJECT_PATTERN,
                     "Description": "The service connections' subjects, exactly, separated by commas"},
        "CreateOidcProvider": {"Type": "String", "AllowedValues": ["true", "false"],
                               "Default": "false" if spec.existing_provider else "true",
                               "Description": "false where the account already has the IAM OIDC provider "
                                              "for this issuer (there is one per issuer and account)"},
    }
    conditions = {"CreateProvider": {"Fn::Equals": [{"Ref": "CreateOidcProvider"}, "true"]}}
    # The condition keys start with the issuer's host, and CloudFormation computes no key of a
    # JSON object: the trust policy is therefore JSON text with the values substituted in.
    statement = json.dumps({
        "Sid": WEB_IDENTITY_SID, "Effect": "Allow", "Principal": {"Federated": "${ProviderArn}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"${IssuerHost}:aud": AUDIENCE, "${IssuerHost}:sub": ["${SubjectList}"]}},
    })
    existing_arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"},
                                      ":oidc-provider/", _HOST]]}
    trust = {"Fn::Sub": [f'{{"Version": "2012-10-17", "Statement": [{statement}]}}', {
        "IssuerHost": _HOST,
        "SubjectList": {"Fn::Join": ['", "', {"Ref": "Subjects"}]},
        # Ref makes the role wait for the provider this stack creates.
        "ProviderArn": {"Fn::If": ["CreateProvider", {"Ref": "OidcProvider"}, existing_arn]},
    }]}
    resources = {
        "OidcProvider": {"Type": "AWS::IAM::OIDCProvider", "Condition": "CreateProvider", "Properties": {
            "Url": {"Ref": "Issuer"}, "ClientIdList": [AUDIENCE], **cfn_tags(spec.guardrails)}},
        "Role": _role(spec, {"Fn::Sub": "Assumed by Azure Pipelines through workload identity federation (${Issuer})"},
                      trust),
    }
    return _template("AWS trust for Azure Pipelines (aws-wif), for a service-managed StackSet: in each account "
                     "the IAM OIDC provider and a role pinned to the connections' subjects",
                     parameters, resources, conditions)


def chained_as_stackset(spec: ChainedSpec) -> str:
    parameters = {"HubRoleArn": {"Type": "String", "Default": spec.hub_role_arn, "AllowedPattern": _HUB_PATTERN,
                                 "Description": "The hub role (the task's roleArn) that alone may assume this role"}}
    statement = {**spec.trust_statement, "Sid": HUB_ROLE_SID, "Principal": {"AWS": {"Ref": "HubRoleArn"}}}
    trust = {"Version": "2012-10-17", "Statement": [statement]}
    resources = {"Role": _role(spec, {"Fn::Sub": chained_description("${HubRoleArn}")}, trust)}
    return _template("AWS trust for Azure Pipelines (aws-wif), for a service-managed StackSet: in each account "
                     "a spoke role that only the hub role may assume", parameters, resources)


def stack_set_name(role_name: str, given: str | None) -> str:
    name = given or "aws-wif-" + re.sub(r"[^A-Za-z0-9-]+", "-", role_name).strip("-")
    if not _STACK_SET_NAME.match(name):
        raise UserError(f"--stack-set-name '{name}' is not a StackSet name.",
                        "Start with a letter; use letters, digits and '-', at most 128.")
    return name


def deploy_commands(name: str, organizational_units: Sequence[str], region: str) -> list[str]:
    """The two AWS CLI commands that create the StackSet and deploy it to the OUs, with automatic
    deployment to accounts that join them later. One region: IAM is global, and a second stack
    instance in the same account would collide on the role's name."""
    units = ",".join(organizational_units) or "OU_ID"
    return [
        f"aws cloudformation create-stack-set --stack-set-name {shlex.quote(name)} "
        f"--template-body file://{TEMPLATE_FILE} --permission-model SERVICE_MANAGED "
        "--auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false --capabilities CAPABILITY_NAMED_IAM",
        f"aws cloudformation create-stack-instances --stack-set-name {shlex.quote(name)} "
        f"--deployment-targets OrganizationalUnitIds={units} --regions {shlex.quote(region)}",
    ]
