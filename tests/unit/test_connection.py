"""The AWS (workload identity federation) connection as the task reads it: which connection a run uses and
what it supplies (connection.py through inputs.py, with the endpoint variables the agent's Handler.cs
writes, see agent_env.py), each problem naming the place to fix, and `awswif --connection-type aws`.
tests/packaging/test_connection_type.py checks the connection type vss-extension.json contributes."""

from __future__ import annotations

import io
import json

import pytest

from awswif.agent import Agent
from awswif.cli import main as cli_main
from awswif.connection import AWS, AZURE_RM, read_connection
from awswif.errors import UserError
from awswif.inputs import read_inputs

from aws_connection import BASE, CONNECTION_ID, CONNECTION_ROLE, aws_env


def read(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return read_inputs(Agent(env, io.StringIO()))


# -- which connection, what it supplies ------------------------------------------------------------------
def test_the_connection_supplies_role_region_and_duration() -> None:
    inputs = read(aws_env({"roleArn": CONNECTION_ROLE, "region": "eu-central-1", "durationSeconds": "7200"}))
    assert inputs.connection_id == CONNECTION_ID
    assert (inputs.role_arn, inputs.account_id, inputs.region) == (CONNECTION_ROLE, "210987654321", "eu-central-1")
    assert inputs.duration_seconds == 7200
    assert (inputs.connection.type, inputs.connection.input_name) == (AWS, "awsConnection")
    assert "Role ARN, Default region, Session duration" in inputs.connection.describe()


def test_explicit_inputs_override_the_connection() -> None:
    inputs = read(aws_env({"roleArn": CONNECTION_ROLE, "region": "eu-central-1", "durationSeconds": "7200"},
                          roleArn="arn:aws:iam::123456789012:role/deploy", region="us-east-2", durationSeconds="900"))
    assert (inputs.role_arn, inputs.region, inputs.duration_seconds) == (
        "arn:aws:iam::123456789012:role/deploy", "us-east-2", 900)


def test_empty_fields_of_the_connection_fall_back_to_inputs_then_defaults() -> None:
    inputs = read(aws_env({"roleArn": CONNECTION_ROLE, "region": "", "durationSeconds": ""}, region="eu-west-1"))
    assert (inputs.region, inputs.duration_seconds) == ("eu-west-1", 3600)


def test_endpoint_variables_are_read_whatever_the_case_of_the_id() -> None:
    # The agent writes the id in lower case (Handler.cs); Windows upper-cases every variable name.
    env = {k.upper(): v for k, v in aws_env({"roleArn": CONNECTION_ROLE}, region="eu-west-1").items()}
    assert any(k.startswith("ENDPOINT_DATA_5A1B2C3D") for k in env)
    assert read(env).role_arn == CONNECTION_ROLE
    env = aws_env({"roleArn": CONNECTION_ROLE}, region="eu-west-1", awsConnection=CONNECTION_ID.upper())
    assert read(env).role_arn == CONNECTION_ROLE


@pytest.mark.parametrize(("data", "inputs", "message", "hint"), [
    ({"region": "eu-west-1"}, {}, "Neither the roleArn input nor the AWS (workload identity federation) connection "
     "(awsConnection) gives the IAM role to assume.", "Set the connection's Role ARN"),
    ({"roleArn": CONNECTION_ROLE}, {}, "Neither the region input nor the AWS (workload identity federation) connection "
     "(awsConnection) gives the AWS region to use.", "Set the connection's Default region"),
    ({"roleArn": "arn:aws:iam::12345:role/x", "region": "eu-west-1"}, {},
     "The Role ARN of the AWS (workload identity federation) connection 'arn:aws:iam::12345:role/x' is not an "
     "IAM role ARN", "12-digit account id"),
    ({"roleArn": CONNECTION_ROLE, "region": "Frankfurt"}, {},
     "The Default region of the AWS (workload identity federation) connection 'Frankfurt'", "eu-west-1"),
    ({"roleArn": CONNECTION_ROLE, "region": "eu-west-1", "durationSeconds": "99999"}, {},
     "The Session duration (seconds) of the AWS (workload identity federation) connection '99999' is not valid",
     "900 to 43200"),
    ({"roleArn": CONNECTION_ROLE, "region": "eu-west-1"}, {"roleArn": "nope"},
     "The roleArn input 'nope' is not an IAM role ARN", ""),
    ({"roleArn": "arn:aws-cn:iam::123456789012:role/x", "region": "eu-west-1"}, {},
     "(from the Default region of the AWS (workload identity federation) connection) is not in the role's "
     "partition 'aws-cn'", ""),
])
def test_each_problem_names_the_place_to_fix(data: dict[str, str], inputs: dict[str, str], message: str,
                                             hint: str) -> None:
    with pytest.raises(UserError) as caught:
        read(aws_env(data, **inputs))
    assert message in str(caught.value)
    assert hint in caught.value.fix


def test_missing_role_is_one_clear_error() -> None:
    with pytest.raises(UserError) as caught:
        read(aws_env({"region": "eu-west-1"}))
    assert caught.value.what == ("Neither the roleArn input nor the AWS (workload identity federation) connection "
                                 "(awsConnection) gives the IAM role to assume.")
    assert "Project settings > Service connections" in caught.value.fix
    assert "arn:aws:iam::123456789012:role/deploy" in caught.value.fix


@pytest.mark.parametrize(("env", "message"), [
    ({"INPUT_CONNECTIONTYPE": "aws"}, "The awsConnection input is empty (connectionType is aws)."),
    ({"INPUT_CONNECTIONTYPE": "aws", "INPUT_AWSCONNECTION": "aws-prod"}, "The awsConnection input is 'aws-prod'"),
    ({}, "The serviceConnection input is empty."),
    ({"INPUT_CONNECTIONTYPE": "gcp"}, "The connectionType input is 'gcp'."),
])
def test_connection_problems(env: dict[str, str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        read_connection(Agent({**BASE, **env}, io.StringIO()))
    assert str(caught.value).startswith(message)


def test_connection_type_is_read_in_any_case_and_defaults_to_azure_rm() -> None:
    for value, kind in (("AWS", AWS), ("Aws", AWS), ("azurerm", AZURE_RM), ("", AZURE_RM)):
        env = {**BASE, "INPUT_CONNECTIONTYPE": value, "INPUT_AWSCONNECTION": CONNECTION_ID,
               "INPUT_SERVICECONNECTION": CONNECTION_ID}
        assert read_connection(Agent(env, io.StringIO())).type == kind


def test_an_azure_rm_run_ignores_an_aws_connection_it_also_names() -> None:
    # YAML may leave awsConnection set when connectionType is azureRM: the agent then passes that
    # endpoint too, and nothing of it must leak into the run.
    env = aws_env({"roleArn": CONNECTION_ROLE, "region": "eu-central-1"}, connectionType="azureRM",
                  serviceConnection="0d6a3f5e-1111-4222-8333-944445555666", region="eu-west-1")
    with pytest.raises(UserError, match=r"^The roleArn input is empty\. Set it to the IAM role to assume"):
        read(env)


# -- awswif --connection-type aws ------------------------------------------------------------------------
ORG_ID = "01234567-89ab-cdef-0123-456789abcdef"


def awswif(*args: str) -> tuple[int, str, str]:
    import sys

    out, err = io.StringIO(), io.StringIO()
    real = sys.stderr
    sys.stderr = err
    try:
        code = cli_main(list(args), out=out)
    finally:
        sys.stderr = real
    return code, out.getvalue(), err.getvalue()


def test_trust_policy_for_an_aws_connection_builds_the_subject_from_names() -> None:
    code, out, err = awswif("trust-policy", "--connection-type", "aws", "--organization-id", ORG_ID,
                            "--organization", "contoso", "--project", "infra", "--connection", "aws-prod",
                            "--account-id", "123456789012")
    assert code == 0, err
    condition = json.loads(out)["trustPolicy"]["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {f"vstoken.dev.azure.com/{ORG_ID}:aud": "api://AzureADTokenExchange",
                         f"vstoken.dev.azure.com/{ORG_ID}:sub": "sc://contoso/infra/aws-prod"}


@pytest.mark.parametrize(("flags", "message"), [
    (["--tenant-id", ORG_ID, "--subject", "sc://a/b/c"], "needs --organization-id (and no --tenant-id)"),
    (["--organization-id", ORG_ID], "needs --organization, --project and --connection"),
    (["--organization-id", ORG_ID, "--subject", "/eid1/c/pub/t/x/a/y/sc/z/w"], "is not an AWS connection's subject"),
])
def test_trust_policy_for_an_aws_connection_refuses_what_cannot_match(flags: list[str], message: str) -> None:
    code, out, err = awswif("trust-policy", "--connection-type", "aws", *flags, "--format", "terraform")
    assert code == 1 and out == "" and message in err
