"""`awswif setup` for a whole organization, against moto's server as AWS (IAM, STS, Organizations,
CloudFormation): three member accounts through the role assumed in each, an idempotent second run,
a partial failure and the re-run that completes it, the guard rails on what it creates, --update keeping
a statement it does not own, the StackSet deployed with the commands it prints, and --from-connection
with the JSON `az devops service-endpoint show` prints. tests/unit/test_org_setup_offline.py has what
needs no AWS: the flag checks, the guard rails in every trust-policy format, the StackSet template,
reading connections, and a Python without the dependencies.

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

import pytest
import requests
import yaml
from botocore.exceptions import ClientError

from awswif.agent import Agent
from awswif.cli import aws_access
from awswif.identifiers import RoleArn
from awswif.profiles import read_plan

from awswif_cli import awswif
from org_setup_inputs import ADO_FLAGS, ADO_HOST, CONNECTIONS, GUARDRAILS, HUB, MANAGEMENT, ORG_ID, ROLE, endpoint

AWS_CLI = Path(sys.executable).parent / "aws"


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


# -- the accounts, from a file or an organizational unit ---------------------------------------------
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


# -- StackSet --------------------------------------------------------------------------------------
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


# -- --from-connection ------------------------------------------------------------------------------
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
