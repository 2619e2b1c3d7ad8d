"""`awswif setup` and `trust-policy` for an organization, where no AWS call is made: every flag checked before
any call, the guard rails in every trust-policy format (JSON, CloudFormation passing cfn-lint, Terraform
parsed as HCL), the StackSet template and the commands it prints, --from-connection with the JSON
`az devops service-endpoint show` prints, and a Python without the dependencies.
tests/e2e/test_org_setup.py runs setup against moto's server as AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from awswif.cli import aws_access

from awswif_cli import awswif
from org_setup_inputs import (
    ADO_FLAGS,
    ADO_HOST,
    CONNECTIONS,
    GUARDRAILS,
    HUB,
    MANAGEMENT,
    ORG_ID,
    ROLE,
    endpoint,
)
from paths import ROOT

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


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
