"""`awswif setup` for a whole organization, against moto's server as AWS (IAM, STS, Organizations,
CloudFormation): three member accounts through the role assumed in each, an idempotent second run,
a partial failure and the re-run that completes it, the guard rails in every output, --update keeping
a statement it does not own, the StackSet deployed with the commands it prints, --from-connection
with the JSON `az devops service-endpoint show` prints, and a Python without the dependencies.

moto gaps, covered by stand-ins wrapping the real clients: its STS AssumeRole never refuses (any
role in any account is assumable), and no call fails after iam:GetPolicy succeeded; its
CloudFormation has no AWS::IAM::OIDCProvider, ignores ManagedPolicyArns and AutoDeployment, and does
not split a CommaDelimitedList parameter's default (so the StackSet test passes the parameters)."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
import requests
import yaml
from botocore.exceptions import ClientError
from test_cli import awswif

from awswif.agent import Agent
from awswif.cli import aws_access
from awswif.identifiers import RoleArn
from awswif.profiles import read_plan

from conftest import ROOT

MANAGEMENT = "123456789012"  # moto's account for credentials it did not issue
ORG_ID = "01234567-89ab-cdef-0123-456789abcdef"
TENANT = "11111111-2222-3333-4444-555555555555"
ADO_HOST = f"vstoken.dev.azure.com/{ORG_ID}"
ADO_FLAGS = ["--organization-id", ORG_ID, "--organization", "contoso", "--project", "infra", "--connection", "wif"]
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
AWS_CLI = Path(sys.executable).parent / "aws"
HUB = f"arn:aws:iam::{MANAGEMENT}:role/deploy"


# -- moto's server as the AWS side ----------------------------------------------------------------
@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every client (the CLI's botocore, boto3 here, the AWS CLI) talks to moto and to nothing else."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


def client(service: str, account: str = MANAGEMENT) -> Any:
    """A boto3 client acting in account (moto keys everything by the credentials' account)."""
    import boto3

    if account == MANAGEMENT:
        return boto3.client(service, region_name="us-east-1")
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="test")["Credentials"]
    return boto3.client(service, region_name="us-east-1", aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


@dataclass(frozen=True)
class Organization:
    workloads: str  # an OU with two accounts and a nested OU
    prod: str  # the nested OU, with one account
    accounts: dict[str, str]  # account name -> id


@pytest.fixture
def org(aws: str) -> Organization:
    organizations = client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    workloads = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    prod = organizations.create_organizational_unit(ParentId=workloads, Name="prod")["OrganizationalUnit"]["Id"]
    accounts = {}
    for name, parent in (("alpha", workloads), ("beta", workloads), ("gamma prod", prod)):
        account = organizations.create_account(Email=f"{name[:5]}@example.com", AccountName=name)
        accounts[name] = account["CreateAccountStatus"]["AccountId"]
        organizations.move_account(AccountId=accounts[name], SourceParentId=root, DestinationParentId=parent)
    return Organization(workloads, prod, accounts)


BOUNDARY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def create_policies(account: str) -> None:
    """The account's own boundary and deploy policy, as a landing zone provides them."""
    iam = client("iam", account)
    iam.create_policy(PolicyName="Boundary", Path="/ci/", PolicyDocument=json.dumps(BOUNDARY))
    iam.create_policy(PolicyName="deploy", PolicyDocument=json.dumps(BOUNDARY))


GUARDRAILS = ["--permissions-boundary", f"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary", "--role-path", "/ci/",
              "--tag", "team=platform", "--tag", "cost-center=42"]
ROLE = ["--role-name", "deploy", "--managed-policy-arn", f"arn:aws:iam::{MANAGEMENT}:policy/deploy"]


def task_inputs(out: str) -> dict[str, str]:
    """The pasted block of inputs, read as the pipeline's YAML."""
    block = out[out.index("Inputs for the AwsWifAssume@1 step"):].split("\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if not line.startswith("    "):
            break
        lines.append(line)
    return dict(yaml.safe_load(textwrap.dedent("\n".join(lines))))


def task_plan(inputs: dict[str, str], tmp_path: Path) -> Any:
    """What the task makes of the pasted inputs: its own parser, with its own checks."""
    env = {f"INPUT_{k.upper()}": v for k, v in inputs.items() if k != "roleArn"}
    env["AGENT_TEMPDIRECTORY"] = str(tmp_path)
    role = RoleArn.parse(inputs["roleArn"])
    assert role, inputs["roleArn"]
    return read_plan(Agent(env, io.StringIO()), role, 3600)


# -- many accounts: web identity --------------------------------------------------------------------
def test_three_accounts_through_the_assumed_role_then_nothing_to_change(org: Organization, tmp_path: Path) -> None:
    ids = list(org.accounts.values())
    for account in ids:
        create_policies(account)
    flags = ["setup", *ADO_FLAGS, *ROLE, *GUARDRAILS, "--accounts", ",".join(ids),
             "--assume-role-name", "OrganizationAccountAccessRole", "--parallel", "2"]
    code, out, err = awswif(*flags)
    assert code == 0, out + err
    assert "Setting up 3 accounts" in out and "2 at a time" in out
    for number in (1, 2, 3):
        assert f"[{number}/3] " in out
    for account in ids:
        assert f"{account} done: provider, role, policy" in out
        assert f"arn:aws:iam::{account}:role/ci/deploy" in out
        iam = client("iam", account)
        role = iam.get_role(RoleName="deploy")["Role"]
        assert role["Path"] == "/ci/"
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == f"arn:aws:iam::{account}:policy/ci/Boundary"
        assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"team": "platform", "cost-center": "42"}
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Sid"] == "AwsWifWebIdentity"
        assert statement["Principal"]["Federated"] == f"arn:aws:iam::{account}:oidc-provider/{ADO_HOST}"
        assert statement["Condition"]["StringEquals"][f"{ADO_HOST}:sub"] == "sc://contoso/infra/wif"
        assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="deploy")["AttachedPolicies"]] == [
            f"arn:aws:iam::{account}:policy/deploy"]
        (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        details = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
        assert details["ClientIDList"] == ["api://AzureADTokenExchange"]
        assert {t["Key"]: t["Value"] for t in details["Tags"]} == {"team": "platform", "cost-center": "42"}
    # The caller's own account is not a target, and moto kept the accounts apart.
    assert client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert "3 of 3 accounts done." in out

    inputs = task_inputs(out)
    assert inputs["roleArn"] == f"arn:aws:iam::{ids[0]}:role/ci/deploy"
    plan = task_plan(inputs, tmp_path)
    assert [(p.name, p.role_arn, p.kind) for p in plan.profiles] == [
        (account, f"arn:aws:iam::{account}:role/ci/deploy", "web-identity") for account in ids[1:]]
    assert plan.allowed_account_ids == tuple(ids)

    code, again, err = awswif(*flags)
    assert code == 0, again + err
    assert again.count(" unchanged") == 6 and "create" not in again and "attach" not in again
    assert "3 of 3 accounts done." in again


def test_organizational_unit_lists_nested_accounts_and_a_dry_run_changes_nothing(org: Organization) -> None:
    for account in org.accounts.values():
        create_policies(account)
    code, out, err = awswif("setup", *ADO_FLAGS, *ROLE, *GUARDRAILS, "--organizational-unit", org.workloads,
                            "--dry-run")
    assert code == 0, out + err
    assert "dry run: nothing is changed" in out and "would create role ci/deploy" in out
    header = next(line for line in out.splitlines() if line.startswith("ACCOUNT"))
    assert header.split() == ["ACCOUNT", "RESULT", "WOULD", "CHANGE", "ROLE", "ARN", "OR", "ERROR"]
    rows = {line.split()[0]: line for line in out.splitlines() if line[:12] in org.accounts.values()}
    assert set(rows) == set(org.accounts.values())  # the nested OU's account too
    assert all("would change" in row for row in rows.values())
    for account in org.accounts.values():
        assert client("iam", account).list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
        assert [r["RoleName"] for r in client("iam", account).list_roles()["Roles"]] == ["OrganizationAccountAccessRole"]
    # Profile names come from the accounts' names (made valid: 'gamma prod' -> 'gamma-prod').
    inputs = task_inputs(out)
    assert "(once set up)" in out
    by_id = sorted((account, name.replace(" ", "-")) for name, account in org.accounts.items())
    assert inputs["roleArn"] == f"arn:aws:iam::{by_id[0][0]}:role/ci/deploy"
    assert inputs["profiles"].splitlines() == [f"{name}=arn:aws:iam::{account}:role/ci/deploy"
                                               for account, name in by_id[1:]]


def test_a_partial_failure_then_the_rerun_completes(org: Organization) -> None:
    alpha, beta, gamma = org.accounts.values()
    create_policies(alpha)
    create_policies(beta)
    flags = ["setup", *ADO_FLAGS, *ROLE, *GUARDRAILS, "--accounts", f"{alpha},{beta},{gamma}"]
    code, out, _ = awswif(*flags)
    assert code == 1
    assert f"{gamma} failed: --managed-policy-arn arn:aws:iam::{gamma}:policy/deploy; --permissions-boundary " \
           f"arn:aws:iam::{gamma}:policy/ci/Boundary: no such policy in account {gamma}. Nothing was changed" in out
    assert "2 of 3 accounts done; 1 failed: fix the cause and re-run the same command" in out
    # Checked before anything was created there.
    assert client("iam", gamma).list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert "deploy" not in [r["RoleName"] for r in client("iam", gamma).list_roles()["Roles"]]
    # The paste lines name only the accounts that are done.
    assert gamma not in task_inputs(out)["allowedAccountIds"] and "1 account not listed" in out

    create_policies(gamma)
    code, out, _ = awswif(*flags)
    assert code == 0, out
    assert f"{gamma} done: provider, role, policy" in out
    assert f"{alpha} unchanged" in out and f"{beta} unchanged" in out


def test_many_accounts_that_differ_need_update_and_show_the_diff(org: Organization) -> None:
    alpha, beta, _ = org.accounts.values()
    accounts = ["--accounts", f"{alpha},{beta}", "--role-name", "deploy"]
    assert awswif("setup", *ADO_FLAGS, *accounts)[0] == 0
    iam = client("iam", beta)
    document = iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]
    iam.update_assume_role_policy(RoleName="deploy", PolicyDocument=json.dumps(
        {**document, "Statement": [*document["Statement"], FOREIGN]}))
    other = ["--organization-id", ORG_ID, "--subject", "sc://contoso/infra/other", *accounts]

    code, out, _ = awswif("setup", *other)
    assert code == 1 and out.count("needs --update") >= 2
    assert "0 of 2 accounts done; 2 need --update (see above): re-run with --update" in out
    assert "Inputs for the AwsWifAssume@1 step" not in out

    code, out, _ = awswif("setup", *other, "--update", "--dry-run")
    assert code == 0 and out.count("would change") == 4  # progress lines and table rows
    assert f'    +          "{ADO_HOST}:sub": "sc://contoso/infra/other"' in out
    assert "(keeping its 1 other statement)" in out  # beta's foreign statement
    assert iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]["Statement"][1] == FOREIGN

    code, out, _ = awswif("setup", *other, "--update")
    assert code == 0, out
    assert [s.get("Sid") for s in iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]["Statement"]
            ] == ["AwsWifWebIdentity", "BreakGlass"]


def test_an_account_whose_role_cannot_be_assumed_fails_alone(org: Organization, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """moto's AssumeRole admits anyone into any role: a stand-in refuses it for one account, as AWS
    does when the role is missing or does not trust the caller."""
    alpha, beta, _ = org.accounts.values()
    refused = f"arn:aws:iam::{beta}:role/OrganizationAccountAccessRole"
    real_client = aws_access.Caller.client

    class RefusingSts:
        def __init__(self, real: Any) -> None:
            self.real = real

        def assume_role(self, **kwargs: Any) -> Any:
            if kwargs["RoleArn"] == refused:
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"User: arn:aws:iam::{MANAGEMENT}:"
                                             f"user/moto is not authorized to perform: sts:AssumeRole on resource: "
                                             f"{refused}"}}, "AssumeRole")
            return self.real.assume_role(**kwargs)

    def patched(self: aws_access.Caller, service: str, **credentials: str) -> Any:
        made = real_client(self, service, **credentials)
        return RefusingSts(made) if service == "sts" else made

    monkeypatch.setattr(aws_access.Caller, "client", patched)
    code, out, _ = awswif("setup", *ADO_FLAGS, "--accounts", f"{alpha},{beta}")
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith(beta) and "failed" in line)
    assert f"Could not assume {refused}" in row and "AccessDenied" in row and "--assume-role-name" in row
    assert f"{alpha} done" in out
    assert client("iam", alpha).get_role(RoleName="azure-pipelines")["Role"]["Arn"].endswith(":role/azure-pipelines")


# -- many accounts: hub and spoke -------------------------------------------------------------------
def test_spoke_roles_trusting_the_hub_in_every_account(org: Organization, tmp_path: Path) -> None:
    ids = list(org.accounts.values())
    code, out, err = awswif("setup", "--trust-role", HUB, "--allow-session-tags", "--allow-source-identity",
                            "--role-name", "spoke", "--tag", "team=platform", "--accounts", ",".join(ids))
    assert code == 0, out + err
    spokes = [f"arn:aws:iam::{account}:role/spoke" for account in ids]
    for account in ids:
        iam = client("iam", account)
        assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
        role = iam.get_role(RoleName="spoke")["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [{
            "Sid": "AwsWifHubRole", "Effect": "Allow", "Principal": {"AWS": HUB},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]
    inputs = task_inputs(out)
    assert inputs["roleArn"] == HUB
    plan = task_plan(inputs, tmp_path)
    assert [(p.role_arn, p.kind) for p in plan.profiles] == [(arn, "chained") for arn in spokes]
    hub_statement = json.loads(out.split("also needs this statement in its permissions:\n", 1)[1].splitlines()[0])
    assert hub_statement == {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                             "Resource": spokes}


# -- one account: a setup that finishes --------------------------------------------------------------
def test_a_refused_change_says_what_a_rerun_does_and_the_rerun_does_it(aws: str, monkeypatch: pytest.MonkeyPatch
                                                                       ) -> None:
    """After iam:GetPolicy found the policy, moto never refuses the attachment: a stand-in around
    the real client refuses it once, as a throttled or SCP-denied call would."""
    client("iam").create_policy(PolicyName="deploy", PolicyDocument=json.dumps(BOUNDARY))
    real_iam = aws_access.Caller.iam
    refusals = [1]

    class RefusingIam:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def attach_role_policy(self, **kwargs: Any) -> Any:
            if refusals:
                refusals.pop()
                raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "AttachRolePolicy")
            return self.real.attach_role_policy(**kwargs)

    monkeypatch.setattr(aws_access.Caller, "iam", lambda self: RefusingIam(real_iam(self)))
    flags = ["setup", *ADO_FLAGS, *ROLE]
    code, out, err = awswif(*flags)
    assert code == 1 and "Traceback" not in err
    policy = f"arn:aws:iam::{MANAGEMENT}:policy/deploy"
    assert err == (f"awswif: error: AWS refused to attach policy {policy} to deploy in account {MANAGEMENT} "
                   "(An error occurred (Throttling) when calling the AttachRolePolicy operation: Rate exceeded). "
                   f"Done before it: create IAM OIDC provider https://{ADO_HOST} (audience api://AzureADTokenExchange); "
                   "create role deploy trusting sc://contoso/infra/wif (max session 3600s). Once the cause is fixed, "
                   f"re-running the same command does what is left: attach policy {policy} to deploy.\n")
    assert client("iam").list_attached_role_policies(RoleName="deploy")["AttachedPolicies"] == []

    code, out, err = awswif(*flags)  # no --update: the role it created trusts exactly this
    assert code == 0, out + err
    assert "unchanged: role deploy trust policy" in out and f"attach policy {policy} to deploy" in out
    assert "create" not in out
    assert [p["PolicyArn"] for p in client("iam").list_attached_role_policies(RoleName="deploy")["AttachedPolicies"]
            ] == [policy]


def test_every_policy_is_checked_before_anything_is_created(aws: str) -> None:
    code, out, err = awswif("setup", *ADO_FLAGS, "--managed-policy-arn", "arn:aws:iam::aws:policy/NoSuchPolicy",
                            "--permissions-boundary", f"arn:aws:iam::{MANAGEMENT}:policy/Missing")
    assert code == 1 and "create" not in out and "Traceback" not in err
    assert ("--managed-policy-arn arn:aws:iam::aws:policy/NoSuchPolicy; --permissions-boundary "
            f"arn:aws:iam::{MANAGEMENT}:policy/Missing: no such policy in account {MANAGEMENT}") in err
    assert client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert client("iam").list_roles()["Roles"] == []


def test_a_policy_of_another_account_is_refused_before_any_change(aws: str) -> None:
    code, _, err = awswif("setup", *ADO_FLAGS, "--managed-policy-arn", "arn:aws:iam::999999999999:policy/deploy")
    assert code == 1 and "is a policy of account 999999999999, but the role is in 123456789012" in err
    assert client("iam").list_roles()["Roles"] == []


FOREIGN = {"Sid": "BreakGlass", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:role/admin"},
           "Action": "sts:AssumeRole"}


def test_update_replaces_its_own_statement_and_keeps_a_foreign_one(aws: str) -> None:
    assert awswif("setup", *ADO_FLAGS, "--role-name", "deploy")[0] == 0
    iam = client("iam")
    document = iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]
    document["Statement"].append(FOREIGN)
    iam.update_assume_role_policy(RoleName="deploy", PolicyDocument=json.dumps(document))
    other = ["--organization-id", ORG_ID, "--subject", "sc://contoso/infra/other", "--role-name", "deploy"]

    code, out, _ = awswif("setup", *other)
    assert code == 1 and "left alone (needs --update): role deploy has a different trust policy" in out

    code, out, _ = awswif("setup", *other, "--dry-run", "--update")
    assert code == 0
    assert "would replace awswif's statement in the trust policy of role deploy (keeping its 1 other statement)" in out
    assert f'  -          "{ADO_HOST}:sub": "sc://contoso/infra/wif"' in out
    assert f'  +          "{ADO_HOST}:sub": "sc://contoso/infra/other"' in out
    assert iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"] == document

    assert awswif("setup", *other, "--update")[0] == 0
    statements = iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert statements[1] == FOREIGN and len(statements) == 2
    assert statements[0]["Condition"]["StringEquals"][f"{ADO_HOST}:sub"] == "sc://contoso/infra/other"
    assert awswif("setup", *other)[1].count("unchanged: role deploy trust policy") == 1


def test_update_replaces_a_statement_earlier_versions_wrote_without_a_sid(aws: str) -> None:
    from awswif.trust import trust_policy

    iam = client("iam")
    old = trust_policy(MANAGEMENT, f"https://{ADO_HOST}", ["sc://contoso/infra/wif"])
    iam.create_open_id_connect_provider(Url=f"https://{ADO_HOST}", ClientIDList=["api://AzureADTokenExchange"])
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(old))
    code, out, _ = awswif("setup", *ADO_FLAGS, "--role-name", "deploy", "--update")
    assert code == 0, out
    (statement,) = iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {"Sid": "AwsWifWebIdentity", **old["Statement"][0]}


def test_a_role_with_another_path_is_explained_not_moved(aws: str) -> None:
    assert awswif("setup", *ADO_FLAGS, "--role-name", "deploy")[0] == 0
    code, _, err = awswif("setup", *ADO_FLAGS, "--role-name", "deploy", "--role-path", "/ci/", "--update")
    assert code == 1 and "exists in account 123456789012 with path /, not /ci/" in err and "IAM cannot move" in err


def test_a_missing_boundary_or_another_tag_value_needs_update(aws: str) -> None:
    client("iam").create_policy(PolicyName="Boundary", Path="/ci/", PolicyDocument=json.dumps(BOUNDARY))
    assert awswif("setup", *ADO_FLAGS, "--role-name", "deploy", "--tag", "team=a")[0] == 0
    flags = [*ADO_FLAGS, "--role-name", "deploy", "--tag", "team=b", "--tag", "owner=ci",
             "--permissions-boundary", f"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary"]
    code, out, _ = awswif("setup", *flags)
    assert code == 1
    assert "left alone (needs --update): role deploy has no permissions boundary" in out
    assert "left alone (needs --update): role deploy has the tag team=a (not team=b)" in out
    assert "tag role deploy with owner=ci" in out  # a missing tag is only added
    code, out, _ = awswif("setup", *flags, "--update")
    assert code == 0, out
    role = client("iam").get_role(RoleName="deploy")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == f"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary"
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"team": "b", "owner": "ci"}


def test_single_spoke_role_prints_its_chained_profile_line(aws: str) -> None:
    code, out, err = awswif("setup", "--trust-role", "arn:aws:iam::111111111111:role/deploy", "--role-name", "spoke")
    assert code == 0, err
    assert f"chainedProfiles line for AwsWifAssume@1: NAME=arn:aws:iam::{MANAGEMENT}:role/spoke" in out
    assert ('"Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"], '
            '"Resource": "arn:aws:iam::123456789012:role/spoke"') in out


# -- flags checked before any call --------------------------------------------------------------------
BAD_SETUP = [
    (["--accounts", "111111111111,12345"], "--accounts has '12345'"),
    (["--accounts", " , "], "--accounts lists no account"),
    (["--assume-role-name", "Admin"], "--assume-role-name go with --accounts"),
    (["--parallel", "0"], "--parallel go with --accounts"),
    (["--organizational-unit", "workloads"], "is not an organizational unit or root id"),
    (["--accounts", "111111111111", "--parallel", "0"], "--parallel must be from 1 to 32"),
    (["--accounts", "111111111111", "--assume-role-name", "arn:aws:iam::1:role/x"], "not a valid IAM role name"),
    (["--accounts-file", "/nonexistent/accounts"], "Cannot read --accounts-file"),
    (["--permissions-boundary", "arn:aws:iam::aws:role/x"], "is not an IAM policy ARN"),
    (["--permissions-boundary", "arn:aws-cn:iam::aws:policy/x"], "is in partition 'aws-cn'"),
    (["--role-path", "ci"], "is not an IAM path"),
    (["--role-path", "/c i/"], "is not an IAM path"),
    (["--tag", "team"], "is not KEY=VALUE"),
    (["--tag", "aws:x=1"], "reserved for AWS"),
    (["--tag", "a=1", "--tag", "A=2"], "is given twice"),
    (["--tag", "a=semi;colon"], "is not a valid IAM tag"),
    (["--managed-policy-arn", "ReadOnlyAccess"], "is not an IAM policy ARN"),
    (["--no-session-tags"], "goes with --trust-role"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_SETUP, ids=[m for _, m in BAD_SETUP])
def test_bad_setup_flags_fail_before_any_call(flags: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # No credentials and no endpoint: a flag error must come before any AWS call would.
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(aws_access.Caller, "sign_in", lambda region: pytest.fail("an AWS call before the checks"))
    code, out, err = awswif("setup", *ADO_FLAGS, *flags)
    assert code == 1 and out == "" and message in err and err.startswith("awswif: error: ") and err.count("\n") == 1


def test_accounts_file_with_profile_names(org: Organization, tmp_path: Path) -> None:
    alpha, beta, _ = org.accounts.values()
    listing = tmp_path / "accounts.txt"
    listing.write_text(f"# workloads\n{alpha} shared\n\n{beta}   prod  # the production account\n")
    code, out, _ = awswif("setup", *ADO_FLAGS, "--accounts-file", str(listing))
    assert code == 0, out
    assert task_inputs(out)["profiles"] == f"prod=arn:aws:iam::{beta}:role/azure-pipelines\n"
    listing.write_text(f"{alpha} not/a/name\n")
    code, _, err = awswif("setup", *ADO_FLAGS, "--accounts-file", str(listing))
    assert code == 1 and "line 1" in err


def test_an_unknown_organizational_unit_is_one_error(org: Organization) -> None:
    code, _, err = awswif("setup", *ADO_FLAGS, "--organizational-unit", "ou-zzzz-zzzzzzzz")
    assert code == 1 and "Could not list the accounts of ou-zzzz-zzzzzzzz" in err and "Traceback" not in err


# -- the guard rails in every trust-policy format ----------------------------------------------------
def test_guardrails_in_json() -> None:
    code, out, err = awswif("trust-policy", *ADO_FLAGS, *GUARDRAILS, "--account-id", MANAGEMENT)
    assert code == 0, err
    document = json.loads(out)
    assert document["role"]["path"] == "/ci/"
    assert document["role"]["permissionsBoundary"] == f"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary"
    assert document["role"]["tags"] == document["oidcProvider"]["tags"] == {"team": "platform", "cost-center": "42"}


@pytest.mark.parametrize("pattern", [ADO_FLAGS, ["--trust-role", HUB]], ids=["web-identity", "spoke"])
def test_guardrails_in_cloudformation(pattern: list[str], tmp_path: Path) -> None:
    code, out, err = awswif("trust-policy", *pattern, *GUARDRAILS, "--format", "cloudformation")
    assert code == 0, err
    role = json.loads(out)["Resources"]["Role"]["Properties"]
    assert role["Path"] == "/ci/" and role["PermissionsBoundary"] == f"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary"
    assert role["Tags"] == [{"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "42"}]
    assert_lints(out, tmp_path)


@pytest.mark.parametrize("pattern", [ADO_FLAGS, ["--trust-role", HUB]], ids=["web-identity", "spoke"])
def test_guardrails_in_terraform(pattern: list[str]) -> None:
    code, out, err = awswif("trust-policy", *pattern, *GUARDRAILS, "--format", "terraform")
    assert code == 0, err
    document = hcl2.loads(out)
    role = next(r for r in document["resource"] if '"aws_iam_role"' in r)['"aws_iam_role"']['"azure_pipelines"']
    assert role["path"] == '"/ci/"'
    assert role["permissions_boundary"] == f'"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary"'
    assert role["tags"] == {'"team"': '"platform"', '"cost-center"': '"42"'}
    assert ('Sid       = "AwsWifHubRole"' if "--trust-role" in pattern else 'Sid       = "AwsWifWebIdentity"') in out
    providers = [r for r in document["resource"] if '"aws_iam_openid_connect_provider"' in r]
    if "--trust-role" not in pattern:
        assert providers[0]['"aws_iam_openid_connect_provider"']['"azure_pipelines"']["tags"] == role["tags"]


def assert_lints(template: str, tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(template)
    lint = subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


# -- StackSet --------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", [[*ADO_FLAGS, "--connection", "wif-prod"], ["--trust-role", HUB]],
                         ids=["web-identity", "spoke"])
def test_stackset_template_has_no_account_id_and_lints(pattern: list[str], tmp_path: Path) -> None:
    code, out, err = awswif("trust-policy", *pattern, *GUARDRAILS, *ROLE, "--format", "stackset",
                            "--organizational-unit", "ou-abcd-12345678")
    assert code == 0, err
    without_parameters = json.loads(out)
    parameters = without_parameters.pop("Parameters")
    assert MANAGEMENT not in json.dumps(without_parameters) and "arn:aws:iam::aws" not in json.dumps(without_parameters)
    if "--trust-role" in pattern:
        assert parameters["HubRoleArn"]["Default"] == HUB
    else:
        assert parameters["Issuer"]["Default"] == f"https://{ADO_HOST}"
        assert parameters["Subjects"] == {**parameters["Subjects"], "Type": "CommaDelimitedList",
                                          "Default": "sc://contoso/infra/wif,sc://contoso/infra/wif-prod"}
    assert_lints(out, tmp_path)
    broken = json.loads(out)
    broken["Resources"]["Role"]["Properties"]["Path"] = 7
    assert subprocess.run([str(CFN_LINT), "-"], input=json.dumps(broken), capture_output=True,
                          text=True).returncode != 0
    create, instances = [line.strip() for line in err.splitlines() if line.strip().startswith("aws cloudformation")]
    assert create.startswith("aws cloudformation create-stack-set --stack-set-name aws-wif-deploy ")
    assert "--permission-model SERVICE_MANAGED" in create and "Enabled=true" in create
    assert "--deployment-targets OrganizationalUnitIds=ou-abcd-12345678 --regions us-east-1" in instances


def test_stackset_deploys_to_every_account_of_the_ou(org: Organization, tmp_path: Path) -> None:
    """The printed commands, run with the AWS CLI against moto: each account of the OU gets its own role."""
    code, template, err = awswif("trust-policy", *ADO_FLAGS, *GUARDRAILS, "--role-name", "deploy",
                                 "--format", "stackset", "--organizational-unit", org.workloads)
    assert code == 0, err
    (tmp_path / "stackset.json").write_text(template)
    commands = [shlex.split(line.strip()) for line in err.splitlines() if line.strip().startswith("aws cloudformation")]
    # moto gaps: no AWS::IAM::OIDCProvider in its CloudFormation, and a CommaDelimitedList default unsplit.
    commands[0] += ["--parameters", "ParameterKey=CreateOidcProvider,ParameterValue=false",
                    "ParameterKey=Subjects,ParameterValue=sc://contoso/infra/wif"]
    for command in commands:
        run = subprocess.run([str(AWS_CLI), *command[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    for account in org.accounts.values():
        role = client("iam", account).get_role(RoleName="deploy")["Role"]
        assert role["Path"] == "/ci/"
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == f"arn:aws:iam::{account}:policy/ci/Boundary"
        assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"team": "platform", "cost-center": "42"}
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement == {"Sid": "AwsWifWebIdentity", "Effect": "Allow",
                             "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ADO_HOST}"},
                             "Action": "sts:AssumeRoleWithWebIdentity",
                             "Condition": {"StringEquals": {f"{ADO_HOST}:aud": "api://AzureADTokenExchange",
                                                            f"{ADO_HOST}:sub": ["sc://contoso/infra/wif"]}}}


@pytest.mark.parametrize(("flags", "message"), [
    (["--subject", "sc://contoso/infra/a,b"], "cannot be a StackSet parameter"),
    (["--subject", "sc://a/b/c", "--account-id", MANAGEMENT], "takes no --account-id"),
    (["--subject", "sc://a/b/c", "--organizational-unit", "prod"], "is not an organizational unit"),
    (["--subject", "sc://a/b/c", "--stack-set-name", "1st"], "is not a StackSet name"),
])
def test_bad_stackset_flags(flags: list[str], message: str) -> None:
    code, out, err = awswif("trust-policy", "--organization-id", ORG_ID, *flags, "--format", "stackset")
    assert code == 1 and out == "" and message in err


# -- --from-connection ------------------------------------------------------------------------------
def endpoint(name: str, issuer: str | None, subject: str | None, kind: str = "azurerm",
             scheme: str = "WorkloadIdentityFederation") -> dict[str, Any]:
    """A connection as `az devops service-endpoint show --id ... --output json` prints it."""
    parameters: dict[str, Any] = {}
    if kind == "azurerm":
        parameters = {"serviceprincipalid": "3c8a1a92-5cf1-4c55-a4a5-7c0e5a3b2f10", "tenantid": TENANT}
        if issuer:
            parameters.update(workloadIdentityFederationIssuer=issuer, workloadIdentityFederationSubject=subject,
                              workloadIdentityFederationIssuerType="EntraID" if "microsoftonline" in issuer
                              else "AzureDevOps")
    return {
        "administratorsGroup": None,
        "authorization": {"parameters": parameters, "scheme": scheme if kind == "azurerm" else "None"},
        "createdBy": {"descriptor": "aad.NjE2NzQ5MDItMDAwMC03", "displayName": "Platform Team",
                      "id": "a8e3c3b4-7d4d-4c5a-9f71-6a1c8a2f9e55", "uniqueName": "platform@contoso.com",
                      "url": "https://spsprodweu5.vssps.visualstudio.com/A3f1d.../_apis/Identities/a8e3c3b4"},
        "data": ({"environment": "AzureCloud", "scopeLevel": "Subscription", "creationMode": "Manual",
                  "subscriptionId": "5b2c8e77-2b1e-4f4b-9e3b-0f5a6d7c8e91", "subscriptionName": "Contoso Prod",
                  "identityType": "AppRegistrationManual"} if kind == "azurerm"
                 else {"roleArn": f"arn:aws:iam::{MANAGEMENT}:role/deploy", "region": "eu-west-1"}),
        "description": "",
        "groupScopeId": None,
        "id": "0d6a3f5e-1111-4222-8333-944445555666",
        "isReady": True,
        "isShared": False,
        "name": name,
        "operationStatus": {"severity": None, "state": "Ready", "statusMessage": ""},
        "owner": "library",
        "readersGroup": None,
        "serviceEndpointProjectReferences": [{"description": "", "name": name, "projectReference": {
            "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c", "name": "infra"}}],
        "serviceManagementReference": None,
        "type": kind,
        "url": "https://management.azure.com/" if kind == "azurerm" else "https://sts.amazonaws.com/",
    }


ENTRA_SUBJECT = f"/eid1/c/pub/t/EREiIjMzREREVVVVVVVV/a/qmtmsk8IBEGcJPO0Cd7Uxw/sc/{ORG_ID}/0d6a3f5e-1111-4222-8333-944445555666"
CONNECTIONS = {
    "entra": (endpoint("wifconnectionname", f"https://login.microsoftonline.com/{TENANT}/v2.0", ENTRA_SUBJECT),
              f"login.microsoftonline.com/{TENANT}/v2.0", ENTRA_SUBJECT),
    # The Azure DevOps issuer as older connections carry it: the id in capitals, which awswif normalises.
    "azure-devops": (endpoint("wifconnectionname", f"https://vstoken.dev.azure.com/{ORG_ID.upper()}",
                              "sc://contoso/infra/wifconnectionname"), ADO_HOST, "sc://contoso/infra/wifconnectionname"),
}


@pytest.mark.parametrize("family", sorted(CONNECTIONS))
def test_from_connection_takes_issuer_and_subject(family: str, tmp_path: Path) -> None:
    document, host, subject = CONNECTIONS[family]
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(document, indent=2))
    for source, stdin in ((str(path), ""), ("-", json.dumps(document))):
        code, out, err = awswif("trust-policy", "--from-connection", source, "--account-id", MANAGEMENT, stdin=stdin)
        assert code == 0, err
        result = json.loads(out)
        assert result["oidcProvider"]["url"] == f"https://{host}"
        assert result["trustPolicy"]["Statement"][0]["Condition"]["StringEquals"] == {
            f"{host}:aud": "api://AzureADTokenExchange", f"{host}:sub": subject}


def test_from_connection_sets_up_the_account(aws: str, tmp_path: Path) -> None:
    document, host, subject = CONNECTIONS["entra"]
    (tmp_path / "c.json").write_text(json.dumps(document))
    code, _, err = awswif("setup", "--from-connection", str(tmp_path / "c.json"), "--role-name", "deploy")
    assert code == 0, err
    condition = client("iam").get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Condition"]["StringEquals"]
    assert condition[f"{host}:sub"] == subject


def test_from_connection_for_an_aws_connection_takes_the_organization_from_flags(aws: str, tmp_path: Path) -> None:
    (tmp_path / "aws.json").write_text(json.dumps(endpoint("aws-prod", None, None, kind="AwsWif")))
    code, out, err = awswif("setup", "--from-connection", str(tmp_path / "aws.json"),
                            "--organization-id", ORG_ID, "--organization", "contoso", "--role-name", "deploy")
    assert code == 0, err
    assert f"Role ARN for the AWS connection (aws-prod): arn:aws:iam::{MANAGEMENT}:role/deploy" in out
    condition = client("iam").get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Condition"]["StringEquals"]
    assert condition[f"{ADO_HOST}:sub"] == "sc://contoso/infra/aws-prod"


BAD_CONNECTIONS = [
    ("not json {", [], "is not JSON"),
    (json.dumps([endpoint("a", None, None), endpoint("b", None, None)]), [], "is not one service connection"),
    (json.dumps(endpoint("secret", None, None, scheme="ServicePrincipal")), [], "scheme ServicePrincipal"),
    (json.dumps(endpoint("x", "https://token.actions.githubusercontent.com", "repo:x")), [], "is neither Azure DevOps'"),
    (json.dumps(endpoint("x", f"https://vstoken.dev.azure.com/{ORG_ID}", "/eid1/x")), [], "does not have this issuer's form"),
    (json.dumps(CONNECTIONS["entra"][0]), ["--subject", "sc://a/b/c"], "does not go with --subject"),
    (json.dumps(CONNECTIONS["entra"][0]), ["--organization-id", ORG_ID], "has the issuer and subject already"),
    (json.dumps(endpoint("aws-prod", None, None, kind="AwsWif")), [], "Add --organization-id and --organization"),
    (json.dumps(CONNECTIONS["entra"][0]), ["--trust-role", HUB], "--trust-role does not go with --from-connection"),
]


@pytest.mark.parametrize(("text", "flags", "message"), BAD_CONNECTIONS, ids=[m for _, _, m in BAD_CONNECTIONS])
def test_bad_connections(text: str, flags: list[str], message: str) -> None:
    code, out, err = awswif("trust-policy", "--from-connection", "-", *flags, "--format", "terraform", stdin=text)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1


def test_connections_of_two_issuers_are_refused(tmp_path: Path) -> None:
    for family, (document, _, _) in CONNECTIONS.items():
        (tmp_path / f"{family}.json").write_text(json.dumps(document))
    code, _, err = awswif("trust-policy", "--from-connection", str(tmp_path / "entra.json"),
                          "--from-connection", str(tmp_path / "azure-devops.json"), "--format", "terraform")
    assert code == 1 and "different issuers" in err


# -- a Python without the dependencies ---------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["setup", "--organization-id", ORG_ID, "--subject", "sc://a/b/c"],
    ["setup", "--organization-id", ORG_ID, "--subject", "sc://a/b/c", "--accounts", "111111111111"],
    ["inspect-token", "-"],
    ["credential-process", "--profile", "x"],
], ids=lambda c: c[0] + ("-many" if "--accounts" in c else ""))
def test_without_dependencies_says_how_to_install_them(command: list[str]) -> None:
    # -S: no site-packages (no botocore, requests, PyJWT); -E: no PYTHONPATH; the source tree only.
    bare = [sys.executable, "-S", "-E"]
    assert subprocess.run([*bare, "-c", "import botocore"], capture_output=True).returncode != 0
    result = subprocess.run([*bare, "-m", "awswif", *command], cwd=ROOT / "python", capture_output=True, text=True,
                            input="", timeout=60, env={"PATH": os.environ.get("PATH", ""),
                                                       "AWS_EC2_METADATA_DISABLED": "true"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"awswif: error: `awswif {command[0]}` needs the ")
    assert "pip install ./python" in result.stderr and result.stderr.count("\n") == 1


def test_without_dependencies_trust_policy_and_help_still_work() -> None:
    bare = [sys.executable, "-S", "-E", "-m", "awswif"]
    help_run = subprocess.run([*bare, "--help"], cwd=ROOT / "python", capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0 and "setup" in help_run.stdout
    policy = subprocess.run([*bare, "trust-policy", "--organization-id", ORG_ID, "--subject", "sc://a/b/c",
                             "--format", "stackset"], cwd=ROOT / "python", capture_output=True, text=True, timeout=60)
    assert policy.returncode == 0 and json.loads(policy.stdout)["Parameters"]["Subjects"]["Default"] == "sc://a/b/c"
