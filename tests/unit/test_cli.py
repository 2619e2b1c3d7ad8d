"""The awswif command in this process: trust policies in three formats (golden files, cfn-lint, an HCL
parser), its flag checks, setup without credentials, and token inspection that never shows the token.
tests/e2e/test_cli_e2e.py runs a printed policy through the task and setup against moto's IAM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import hcl2
import pytest

from agent_env import ACCOUNT, ROLE_ARN
from awswif_cli import ADO_FLAGS, ENTRA_FLAGS, ENTRA_SUBJECT, ORG, POLICY_FLAGS, TENANT, awswif
from fakes import Issuer
from paths import GOLDEN, ROOT

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


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
