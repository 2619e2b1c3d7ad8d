"""The awswif command: trust policies in three formats (golden files, cfn-lint, an HCL parser, and the
STS stand-in accepting exactly the token the policy was made for), setup against moto's IAM, and
token inspection that never shows the token."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hcl2
import pytest

from awswif.cli import main

from conftest import ACCOUNT, ROLE_ARN, ROOT, agent_environment, run_launcher
from fakes import Issuer, Sts

GOLDEN = ROOT / "tests" / "golden"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
ORG = "01234567-89ab-cdef-0123-456789abcdef"
TENANT = "11111111-2222-3333-4444-555555555555"
ENTRA_SUBJECT = f"/eid1/c/pub/t/EREiIjMzREREVVVVVVVV/a/abc/sc/{ORG}/0d6a3f5e-1111-4222-8333-944445555666"
ADO_FLAGS = ["--organization-id", "VisualStudioOnline-0123456789ABCDEF0123456789ABCDEF", "--organization", "contoso",
             "--project", "infra", "--connection", "wifconnectionname", "--connection", "wif-prod"]
ENTRA_FLAGS = ["--tenant-id", TENANT, "--subject", ENTRA_SUBJECT]
POLICY_FLAGS = ["--role-name", "deploy", "--managed-policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "--max-session-duration", "7200"]


def awswif(*args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    real_err = sys.stderr
    sys.stderr = err
    try:
        code = main(list(args), out=out, stdin=io.StringIO(stdin))
    finally:
        sys.stderr = real_err
    return code, out.getvalue(), err.getvalue()


# -- trust-policy -------------------------------------------------------------------------------------
GOLDEN_CASES = {
    "azure-devops.json": [*ADO_FLAGS, *POLICY_FLAGS, "--account-id", ACCOUNT],
    "azure-devops.cloudformation.json": [*ADO_FLAGS, *POLICY_FLAGS, "--format", "cloudformation"],
    "entra.tf": [*ENTRA_FLAGS, *POLICY_FLAGS, "--format", "terraform"],
    "entra-existing-provider.tf": [*ENTRA_FLAGS, "--format", "terraform", "--existing-provider"],
    "entra-existing-provider.cloudformation.json": [*ENTRA_FLAGS, "--format", "cloudformation", "--existing-provider"],
    "chained.json": ["--trust-role", ROLE_ARN, "--account-id", "333333333333", "--role-name", "spoke"],
    "chained.cloudformation.json": ["--trust-role", ROLE_ARN, *POLICY_FLAGS, "--format", "cloudformation"],
    "chained.tf": ["--trust-role", ROLE_ARN, *POLICY_FLAGS, "--format", "terraform"],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_output(name: str) -> None:
    code, out, err = awswif("trust-policy", *GOLDEN_CASES[name])
    assert code == 0, err
    if os.environ.get("UPDATE_GOLDEN") == "1":
        (GOLDEN / name).write_text(out)
    assert out == (GOLDEN / name).read_text()


def test_json_pins_audience_and_every_subject() -> None:
    _code, out, _ = awswif("trust-policy", *ADO_FLAGS, "--account-id", ACCOUNT)
    document = json.loads(out)
    host = f"vstoken.dev.azure.com/{ORG}"
    assert document["oidcProvider"] == {"url": f"https://{host}", "clientIdList": ["api://AzureADTokenExchange"],
                                        "arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"}
    assert document["trustPolicy"]["Statement"][0]["Condition"] == {"StringEquals": {
        f"{host}:aud": "api://AzureADTokenExchange",
        f"{host}:sub": ["sc://contoso/infra/wifconnectionname", "sc://contoso/infra/wif-prod"]}}


@pytest.mark.parametrize("name", [n for n in sorted(GOLDEN_CASES) if "cloudformation" in n])
def test_cloudformation_passes_cfn_lint(name: str, tmp_path: Path) -> None:
    template = tmp_path / "template.json"
    template.write_text(awswif("trust-policy", *GOLDEN_CASES[name])[1])
    lint = subprocess.run([str(CFN_LINT), str(template)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    broken = json.loads(template.read_text())
    broken["Resources"]["Role"]["Properties"]["MaxSessionDuration"] = "an hour"
    template.write_text(json.dumps(broken))
    assert subprocess.run([str(CFN_LINT), str(template)], capture_output=True).returncode != 0


@pytest.mark.parametrize("name", [n for n in sorted(GOLDEN_CASES) if n.endswith(".tf")])
def test_terraform_parses_as_hcl(name: str) -> None:
    document = hcl2.loads(awswif("trust-policy", *GOLDEN_CASES[name])[1])
    roles = [r for r in document["resource"] if '"aws_iam_role"' in r]
    policy = roles[0]['"aws_iam_role"']['"azure_pipelines"']["assume_role_policy"]
    if name.startswith("chained"):
        assert f'AWS = "{ROLE_ARN}"' in policy and '"sts:AssumeRole"' in policy
        return
    assert f'"login.microsoftonline.com/{TENANT}/v2.0:sub" = "{ENTRA_SUBJECT}"' in policy
    assert f'"login.microsoftonline.com/{TENANT}/v2.0:aud" = "api://AzureADTokenExchange"' in policy


def test_chained_json_has_both_sides_of_the_chain() -> None:
    document = json.loads(awswif("trust-policy", *GOLDEN_CASES["chained.json"])[1])
    # The task tags every chained session and may set a source identity: both sides allow them.
    actions = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    assert document["trustPolicy"]["Statement"] == [
        {"Sid": "AwsWifHubRole", "Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": actions}]
    assert document["role"]["arn"] == "arn:aws:iam::333333333333:role/spoke"
    assert document["hubRolePolicy"]["Statement"] == [
        {"Effect": "Allow", "Action": actions, "Resource": "arn:aws:iam::333333333333:role/spoke"}]


def test_chained_trust_can_leave_tagging_and_source_identity_out() -> None:
    document = json.loads(awswif("trust-policy", *GOLDEN_CASES["chained.json"], "--no-session-tags",
                                 "--no-source-identity")[1])
    assert document["trustPolicy"]["Statement"][0]["Action"] == "sts:AssumeRole"
    assert document["hubRolePolicy"]["Statement"][0]["Action"] == "sts:AssumeRole"
    only_tags = json.loads(awswif("trust-policy", *GOLDEN_CASES["chained.json"], "--no-source-identity")[1])
    assert only_tags["trustPolicy"]["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_terraform_never_interpolates_a_subject() -> None:
    code, out, _ = awswif("trust-policy", "--tenant-id", TENANT, "--subject", "/sc/${file(\"/etc/passwd\")}",
                          "--format", "terraform")
    assert code == 0 and '"/sc/$${file(\\"/etc/passwd\\")}"' in out


BAD_FLAGS = [
    ([*ADO_FLAGS, "--tenant-id", TENANT], "exactly one of --organization-id"),
    (["--subject", "sc://a/b/c"], "exactly one of --organization-id"),
    (["--organization-id", "contoso", "--subject", "sc://a/b/c"], "not a valid organization id"),
    (["--organization-id", ORG], "No subject was given"),
    (["--organization-id", ORG, "--organization", "contoso", "--connection", "x"], "go together"),
    (["--organization-id", ORG, "--subject", "sc://contoso/infra/*"], "has a wildcard"),
    (["--tenant-id", TENANT, "--organization", "o", "--project", "p", "--connection", "c"], "not built from names"),
    (["--organization-id", ORG, "--subject", "sc://a/b/c", "--account-id", "12345"], "not an AWS account id"),
    (["--organization-id", ORG, "--subject", "sc://a/b/c"], "json format needs --account-id"),
    (["--organization-id", ORG, "--subject", "sc://a/b/c", "--format", "terraform", "--role-name", "a b"], "not a valid IAM role name"),
    (["--organization-id", ORG, "--subject", "sc://a/b/c", "--format", "terraform", "--max-session-duration", "60"], "3600 to 43200"),


    (["--trust-role", ROLE_ARN], "json format needs --account-id: the spoke account"),
    (["--trust-role", "arn:aws:iam::123456789012:user/x", "--account-id", ACCOUNT], "is not an IAM role ARN"),
    (["--trust-role", ROLE_ARN, "--organization-id", ORG, "--subject", "sc://a/b/c"],
     "--trust-role does not go with --organization-id, --subject"),
    (["--trust-role", ROLE_ARN, "--account-id", "1234"], "not an AWS account id"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[m for _, m in BAD_FLAGS])
def test_bad_flags(flags: list[str], message: str) -> None:
    code, out, err = awswif("trust-policy", *flags)
    assert code == 1 and out == ""
    assert message in err and err.startswith("awswif: error: ")


def test_python_dash_m_and_help() -> None:
    result = subprocess.run([sys.executable, "-m", "awswif", "--help"], capture_output=True, text=True,
                            cwd=ROOT / "python")
    assert result.returncode == 0
    assert all(c in result.stdout for c in ("trust-policy", "setup", "inspect-token"))


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
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        yield


def iam() -> object:
    import boto3

    return boto3.client("iam", region_name="us-east-1")


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


def test_setup_without_credentials_says_how_to_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _out, err = awswif("setup", "--organization-id", ORG, "--subject", "sc://a/b/c")
    assert code == 1 and "Could not use your AWS credentials" in err and "aws sso login" in err


# -- inspect-token -------------------------------------------------------------------------------------
def test_inspect_token_shows_claims_and_condition_not_the_token(issuer: Issuer, tmp_path: Path) -> None:
    token = issuer.mint()
    (tmp_path / "token").write_text(token + "\n")
    code, out, err = awswif("inspect-token", str(tmp_path / "token"))
    assert code == 0, err
    assert issuer.issuer in out and issuer.subject in out and "api://AzureADTokenExchange" in out
    assert "would accept this token" in out and "lifetime 10 min" in out
    host = issuer.issuer.split("://")[1]
    assert json.loads(out[out.index("{"):])["Condition"]["StringEquals"] == {
        f"{host}:aud": "api://AzureADTokenExchange", f"{host}:sub": issuer.subject}
    _header, payload, signature = token.split(".")
    assert token not in out and signature not in out and payload not in out


def test_inspect_expired_token_from_stdin(issuer: Issuer) -> None:
    token = issuer.mint(iat=int(time.time()) - 900, exp=int(time.time()) - 300)
    code, out, _ = awswif("inspect-token", "-", stdin=token)
    assert code == 0
    assert "expired 5 min" in out and "the task would refuse it" in out and "already past" in out


def test_inspect_token_neutralises_logging_commands(issuer: Issuer) -> None:
    code, out, _ = awswif("inspect-token", stdin=issuer.mint(sub="##vso[task.setvariable variable=X]y"))
    assert code == 0 and "##vso[" not in out


@pytest.mark.parametrize(("text", "message"), [("", "No token was given"), ("not.a.jwt", "not a well-formed JWT")])
def test_inspect_bad_input(text: str, message: str) -> None:
    code, out, err = awswif("inspect-token", stdin=text)
    assert code == 1 and message in err and out == ""


def test_inspect_missing_file(tmp_path: Path) -> None:
    code, _, err = awswif("inspect-token", str(tmp_path / "nope"))
    assert code == 1 and "Cannot read" in err
