"""An AWS (workload identity federation) connection as the agent passes it to the task (the endpoint variables
of agent_env.endpoint_environment), with the least else a run's inputs are read from: for the tests that read
the inputs in this process."""

from __future__ import annotations

from agent_env import aws_endpoint, endpoint_environment

CONNECTION_ID = "5a1b2c3d-0000-4000-8000-000000000001"
CONNECTION_ROLE = "arn:aws:iam::210987654321:role/platform/from-connection"
BASE = {
    "SYSTEM_OIDCREQUESTURI": "https://dev.azure.com/contoso/p/_apis/distributedtask/hubs/build/plans/x/jobs/y/oidctoken",
    "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": "job-token",
    "SYSTEM_TEAMPROJECT": "infra",
    "BUILD_BUILDID": "42",
}


class FakeIssuer:
    """Just what aws_endpoint needs: the connection's id and name."""

    connection_id = CONNECTION_ID
    connection_name = "aws-prod"


def aws_env(data: dict[str, str], **inputs: str) -> dict[str, str]:
    env = dict(BASE)
    env.update(endpoint_environment(aws_endpoint(FakeIssuer(), **data)))  # type: ignore[arg-type]
    env.update({"INPUT_CONNECTIONTYPE": "aws", "INPUT_AWSCONNECTION": CONNECTION_ID})
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return env
