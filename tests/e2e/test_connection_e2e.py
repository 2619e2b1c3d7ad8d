"""An AWS (workload identity federation) connection end to end: the real node runs the real launcher
(from the source tree and from the built .vsix) with the environment the agent builds for a job
that names an `AwsWif` connection (agent_env.aws_connection_environment: the endpoint's url, auth
and data exactly as Handler.cs passes them), against the local issuer and STS.

An AwsWif connection is a type this extension contributes, so Azure DevOps issues its tokens
itself: issuer https://vstoken.dev.azure.com/<organization id>, subject
sc://<organization>/<project>/<connection name> (the azure-devops family of the stand-in issuer)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from awswif.trust import trust_policy

from agent_env import (
    ACCOUNT,
    ROLE_ARN,
    agent_environment,
    aws_connection_environment,
    aws_endpoint,
    endpoint_environment,
)
from awswif_cli import awswif
from fakes import Issuer, Sts
from later_steps import SECRET_NAMES, caller_identity
from launcher import run_launcher
from moto_iam import aws as aws

CONNECTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform/from-connection"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer("azure-devops")
    yield server
    server.close()


@pytest.fixture
def sts(sts: Sts, issuer: Issuer) -> Sts:
    """conftest's STS stand-in (ROLE_ARN trusts the connection) plus the role the connection names."""
    sts.add_role(CONNECTION_ROLE, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]), max_session_duration=7200)
    return sts


def expires_in(run_variables: dict[str, str]) -> float:
    expiration = datetime.strptime(run_variables["AWS_CREDENTIAL_EXPIRATION"], "%Y-%m-%dT%H:%M:%SZ")
    return (expiration.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)).total_seconds()


def test_the_connection_gives_role_region_and_duration(issuer: Issuer, sts: Sts, task_dir: Path) -> None:
    endpoint = aws_endpoint(issuer, roleArn=CONNECTION_ROLE, region="eu-central-1", durationSeconds="7200")
    run = run_launcher(task_dir, aws_connection_environment(issuer, sts, task_dir, endpoint))

    assert run.returncode == 0 and run.view.errors == [], run.stdout
    assert run.view.result == "Succeeded"
    assert issuer.token_requests[0]["query"]["serviceConnectionId"] == issuer.connection_id
    assert sts.calls[0]["RoleArn"] == CONNECTION_ROLE
    assert run.view.variables["AWS_ASSUMED_ROLE_ARN"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/from-connection/azp-infra-4711"
    assert run.view.variables["AWS_REGION"] == run.view.variables["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert 7200 - 120 < expires_in(run.view.variables) <= 7200
    assert set(SECRET_NAMES) <= run.view.secret_variables
    assert run.view.output_variables["awsRegion"] == "eu-central-1"
    assert "AWS (workload identity federation) connection" in run.stdout
    assert "Role ARN, Default region, Session duration" in run.stdout
    # The Entra migration concerns Azure Resource Manager connections only.
    assert "issuer retires" not in run.stdout
    assert caller_identity(run.job, sts.url).endswith(":assumed-role/from-connection/azp-infra-4711")
    assert run.leaks(issuer.access_token, *issuer.minted, *(run.view.variables[n] for n in SECRET_NAMES)) == []


def test_explicit_inputs_override_the_connection(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    endpoint = aws_endpoint(issuer, roleArn=CONNECTION_ROLE, region="eu-central-1", durationSeconds="7200")
    env = aws_connection_environment(issuer, sts, source_task_dir, endpoint, roleArn=ROLE_ARN, region="eu-west-1",
                                     durationSeconds="900")
    run = run_launcher(source_task_dir, env)

    assert run.view.result == "Succeeded", run.stdout
    assert [c["RoleArn"] for c in sts.calls] == [ROLE_ARN]
    assert run.view.variables["AWS_ASSUMED_ROLE_ARN"].endswith(":assumed-role/deploy/azp-infra-4711")
    assert run.view.variables["AWS_REGION"] == "eu-west-1"
    assert 900 - 120 < expires_in(run.view.variables) <= 900


def test_a_connection_without_a_role_and_no_input_fails_clearly(issuer: Issuer, sts: Sts,
                                                                source_task_dir: Path) -> None:
    endpoint = aws_endpoint(issuer, region="eu-central-1")
    run = run_launcher(source_task_dir, aws_connection_environment(issuer, sts, source_task_dir, endpoint))

    assert run.returncode == 0 and run.view.result == "Failed"
    assert run.view.errors == [
        "Neither the roleArn input nor the AWS (workload identity federation) connection (awsConnection) gives the "
        "IAM role to assume. Set the connection's Role ARN (Project settings > Service connections > the connection "
        "> Edit), or the task's roleArn input, e.g. arn:aws:iam::123456789012:role/deploy."]
    assert run.view.variables == {} and run.view.output_variables == {}
    assert issuer.token_requests == [] and sts.calls == [], "checked before any network call"
    assert "Traceback" not in run.stdout + run.stderr


def test_a_bad_role_in_the_connection_names_the_connection(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    endpoint = aws_endpoint(issuer, roleArn="arn:aws:iam::123456789012:user/deployer", region="eu-central-1")
    run = run_launcher(source_task_dir, aws_connection_environment(issuer, sts, source_task_dir, endpoint))
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert run.view.errors[0].startswith("The Role ARN of the AWS (workload identity federation) connection "
                                         "'arn:aws:iam::123456789012:user/deployer' is not an IAM role ARN.")
    assert issuer.token_requests == []


def test_an_unreferenced_connection_names_the_aws_input(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    """Azure DevOps refuses a token for a connection the job does not reference; the fix is in
    awsConnection, and the message says so."""
    endpoint = aws_endpoint(issuer, roleArn=CONNECTION_ROLE, region="eu-central-1")
    endpoint["id"] = str(uuid.uuid4())
    run = run_launcher(source_task_dir, aws_connection_environment(issuer, sts, source_task_dir, endpoint))
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "the job does not reference it" in run.view.errors[0]
    assert "this task's awsConnection input" in run.view.errors[0]
    assert issuer.token_requests[0]["query"]["serviceConnectionId"] == endpoint["id"]


def test_credentials_file_with_an_aws_connection(issuer: Issuer, sts: Sts, source_task_dir: Path,
                                                 tmp_path: Path) -> None:
    endpoint = aws_endpoint(issuer, roleArn=CONNECTION_ROLE, region="eu-central-1")
    env = aws_connection_environment(issuer, sts, source_task_dir, endpoint, credentialsFile="true")
    env["AGENT_TEMPDIRECTORY"] = str(tmp_path)
    run = run_launcher(source_task_dir, env)
    assert run.view.result == "Succeeded", run.stdout
    path = Path(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"])
    assert path.name == "credentials" and path.parent.parent == tmp_path / "aws-wif"
    assert run.view.variables["AWS_SECRET_ACCESS_KEY"] in path.read_text()


def test_an_azure_rm_run_is_unchanged(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    """connectionType left at its default: the Azure connection, the task's role and region, and
    an AWS connection's fields are not looked at even when the job also names one."""
    env = agent_environment(issuer, sts, source_task_dir)
    assert env["INPUT_CONNECTIONTYPE"] == "azureRM" and env["INPUT_AWSCONNECTION"] == ""
    other = aws_endpoint(issuer, roleArn=CONNECTION_ROLE, region="eu-central-1")
    other["id"] = str(uuid.uuid4())
    env.update(endpoint_environment(other))
    env["INPUT_AWSCONNECTION"] = other["id"]
    run = run_launcher(source_task_dir, env)

    assert run.view.result == "Succeeded", run.stdout
    assert issuer.token_requests[0]["query"]["serviceConnectionId"] == issuer.connection_id
    assert [c["RoleArn"] for c in sts.calls] == [ROLE_ARN]
    assert run.view.variables["AWS_REGION"] == "eu-west-1"
    assert 3600 - 120 < expires_in(run.view.variables) <= 3600
    assert "Azure Resource Manager connection" in run.stdout and "issuer retires" in run.stdout


def test_an_azure_rm_run_without_role_still_says_the_input_is_empty(issuer: Issuer, sts: Sts,
                                                                    source_task_dir: Path) -> None:
    run = run_launcher(source_task_dir, agent_environment(issuer, sts, source_task_dir, roleArn=""))
    assert run.view.errors == ["The roleArn input is empty. Set it to the IAM role to assume, e.g. "
                               "arn:aws:iam::123456789012:role/deploy."]


@pytest.mark.usefixtures("aws")
def test_setup_for_an_aws_connection_then_a_run_with_it(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    """The README's path: `awswif setup --connection-type aws` creates the provider and role (in
    moto's IAM), its Role ARN goes into the connection, and a run with that connection assumes
    it (the STS stand-in enforcing the trust policy setup wrote)."""
    code, out, err = awswif("setup", "--connection-type", "aws", "--organization-id", issuer.organization_id,
                            "--organization", "contoso", "--project", "infra", "--connection", issuer.connection_name,
                            "--role-name", "aws-connection")
    assert code == 0, err
    prefix = f"Role ARN for the AWS connection ({issuer.connection_name}): "
    (line,) = [line for line in out.splitlines() if line.startswith(prefix)]
    role_arn = line[len(prefix):]
    assert role_arn == f"arn:aws:iam::{ACCOUNT}:role/aws-connection"
    import boto3

    written = boto3.client("iam", region_name="us-east-1").get_role(RoleName="aws-connection")["Role"]
    sts.add_role(role_arn, written["AssumeRolePolicyDocument"])

    endpoint = aws_endpoint(issuer, roleArn=role_arn, region="eu-west-1")
    run = run_launcher(source_task_dir, aws_connection_environment(issuer, sts, source_task_dir, endpoint))
    assert run.view.result == "Succeeded", run.stdout
    assert run.view.variables["AWS_ASSUMED_ROLE_ARN"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/aws-connection/azp-infra-4711"

    # A connection of another name presents another subject: the same role refuses it.
    issuer.connection_name = "aws-other"
    run = run_launcher(source_task_dir, aws_connection_environment(issuer, sts, source_task_dir, endpoint))
    assert run.view.result == "Failed" and "trust policy does not admit the token" in run.view.errors[0]
    assert "sub=sc://contoso/infra/aws-other" in run.view.errors[0]
