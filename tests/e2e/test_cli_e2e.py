"""The awswif command end to end: the trust policy it prints, installed in the STS stand-in, admits the
token it was made for in a real run of the task and no other; and `awswif setup` against moto's IAM."""

from __future__ import annotations

import json
from pathlib import Path

from agent_env import ACCOUNT, ROLE_ARN, agent_environment
from awswif_cli import ADO_FLAGS, ENTRA_FLAGS, ORG, POLICY_FLAGS, awswif
from fakes import Issuer, Sts
from launcher import run_launcher
from moto_iam import aws as aws
from moto_iam import iam


def test_policy_admits_its_token_and_no_other(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    """The policy the command prints, installed in the STS stand-in, admits the token it was made for."""
    flags = (["--organization-id", issuer.organization_id, "--organization", "contoso", "--project", "infra",
              "--connection", issuer.connection_name] if issuer.family == "azure-devops"
             else ["--tenant-id", issuer.tenant_id, "--subject", issuer.subject])
    code, out, err = awswif("trust-policy", *flags, "--account-id", ACCOUNT)
    assert code == 0, err
    sts.add_role(ROLE_ARN, json.loads(out)["trustPolicy"])
    run = run_launcher(source_task_dir, agent_environment(issuer, sts, source_task_dir))
    assert run.view.result == "Succeeded", run.stdout

    other = (["--organization-id", issuer.organization_id, "--subject", "sc://contoso/infra/other"]
             if issuer.family == "azure-devops" else ["--tenant-id", issuer.tenant_id, "--subject",
                                                        issuer.subject.replace(issuer.connection_id, "0" * 8 + issuer.connection_id[8:])])
    sts.add_role(ROLE_ARN, json.loads(awswif("trust-policy", *other, "--account-id", ACCOUNT)[1])["trustPolicy"])
    run = run_launcher(source_task_dir, agent_environment(issuer, sts, source_task_dir))
    assert run.view.result == "Failed" and "trust policy does not admit the token" in run.view.errors[0]


# -- setup against moto's IAM --------------------------------------------------------------------------
def test_setup_creates_then_changes_nothing(aws: None) -> None:
    code, out, err = awswif("setup", *ADO_FLAGS, *POLICY_FLAGS)
    assert code == 0, err
    assert "create IAM OIDC provider" in out and "create role deploy" in out and "attach policy" in out
    client = iam()
    (provider,) = client.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert provider["Arn"].endswith(f"oidc-provider/vstoken.dev.azure.com/{ORG}")
    assert client.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])["ClientIDList"] == [
        "api://AzureADTokenExchange"]
    role = client.get_role(RoleName="deploy")["Role"]
    assert role["MaxSessionDuration"] == 7200
    condition = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"vstoken.dev.azure.com/{ORG}:sub"] == ["sc://contoso/infra/wifconnectionname", "sc://contoso/infra/wif-prod"]
    assert [p["PolicyArn"] for p in client.list_attached_role_policies(RoleName="deploy")["AttachedPolicies"]] == [
        "arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert f"roleArn for AwsWifAssume@1: arn:aws:iam::{ACCOUNT}:role/deploy" in out

    code, again, err = awswif("setup", *ADO_FLAGS, *POLICY_FLAGS)
    assert code == 0, err
    assert "Nothing to change." in again and "create" not in again and "attach" not in again
    assert client.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"] == role["AssumeRolePolicyDocument"]


def test_setup_dry_run_changes_nothing(aws: None) -> None:
    code, out, err = awswif("setup", *ENTRA_FLAGS, "--role-name", "deploy", "--dry-run")
    assert code == 0, err
    assert "dry run" in out and "would create IAM OIDC provider" in out and "would create role deploy" in out
    client = iam()
    assert client.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert client.list_roles()["Roles"] == []


def test_setup_leaves_a_different_role_alone_unless_update(aws: None) -> None:
    assert awswif("setup", *ADO_FLAGS, "--role-name", "deploy")[0] == 0
    changed = ["--organization-id", ORG, "--subject", "sc://contoso/infra/another", "--role-name", "deploy",
               "--max-session-duration", "10800", "--managed-policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"]
    before = iam().get_role(RoleName="deploy")["Role"]

    code, out, _ = awswif("setup", *changed)
    assert code == 1
    assert "different trust policy" in out and "re-run with --update" in out
    assert iam().get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"] == before["AssumeRolePolicyDocument"]
    assert iam().list_attached_role_policies(RoleName="deploy")["AttachedPolicies"] == []

    code, out, _ = awswif("setup", *changed, "--dry-run", "--update")
    assert code == 0 and "would replace awswif's statement in the trust policy of role deploy" in out
    assert iam().get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"] == before["AssumeRolePolicyDocument"]

    code, out, _ = awswif("setup", *changed, "--update")
    assert code == 0, out
    role = iam().get_role(RoleName="deploy")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"][
        f"vstoken.dev.azure.com/{ORG}:sub"] == "sc://contoso/infra/another"
    assert role["MaxSessionDuration"] == 10800
    assert len(iam().list_attached_role_policies(RoleName="deploy")["AttachedPolicies"]) == 1
    assert awswif("setup", *changed)[1].endswith("Nothing to change.\n" + f"roleArn for AwsWifAssume@1: {role['Arn']}\n")


def test_setup_finds_a_provider_without_the_audience(aws: None) -> None:
    # moto does not implement AddClientIDToOpenIDConnectProvider: check the plan, in a dry run.
    iam().create_open_id_connect_provider(Url=f"https://vstoken.dev.azure.com/{ORG}", ClientIDList=["sts.amazonaws.com"],
                                          ThumbprintList=["a" * 40])
    code, out, _ = awswif("setup", "--organization-id", ORG, "--subject", "sc://a/b/c", "--dry-run")
    assert code == 0 and "would add audience api://AzureADTokenExchange to IAM OIDC provider" in out
    assert "would create IAM OIDC provider" not in out


def test_setup_checks_the_policies_before_it_changes_anything(aws: None) -> None:
    code, out, err = awswif("setup", "--organization-id", ORG, "--subject", "sc://a/b/c",
                            "--managed-policy-arn", "arn:aws:iam::aws:policy/NoSuchPolicy")
    assert code == 1 and "create" not in out and "Traceback" not in err
    assert "arn:aws:iam::aws:policy/NoSuchPolicy: no such policy in account" in err and "Nothing was changed" in err
    assert iam().list_roles()["Roles"] == [] and iam().list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
