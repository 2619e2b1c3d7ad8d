"""How a task of the AWS Toolkit for Azure DevOps finds credentials and a region when it names no AWS
connection: aws/aws-toolkit-azure-devops at commit 6607d56 (v1.23.0), src/lib/awsConnectionParameters.ts,
read with task-lib's getVariable (agent_model.task_lib_get_variable). A Toolkit task
(SystemsManagerGetParameter) built from that source and run against a loopback endpoint confirmed each
rule once (the session notes of issue 23 say how)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent_model import task_lib_get_variable

# awsConnectionParameters.ts lines 19-28.
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, REGION = "AWS.AccessKeyID", "AWS.SecretAccessKey", "AWS.SessionToken", "AWS.Region"


@dataclass(frozen=True)
class ToolkitCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    source: str  # "task variables", or "SDK default chain" when the variables give none


def credentials(environment: Mapping[str, str]) -> ToolkitCredentials | None:
    """attemptCredentialConfigurationFromVariables (lines 238-260): nothing unless AWS.AccessKeyID is set;
    then AWS.SecretAccessKey is required ("secret key value is missing") and AWS.SessionToken optional.
    Without them the task falls back to the SDK's chain (lines 327-354), modelled as the plain
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN environment variables."""
    access_key = task_lib_get_variable(environment, ACCESS_KEY)
    if access_key:
        secret = task_lib_get_variable(environment, SECRET_KEY)
        if not secret:
            raise ValueError("AWS access key ID present in task variables but secret key value is missing")
        return ToolkitCredentials(access_key, secret, task_lib_get_variable(environment, SESSION_TOKEN) or None,
                                  "task variables")
    if environment.get("AWS_ACCESS_KEY_ID") and environment.get("AWS_SECRET_ACCESS_KEY"):
        return ToolkitCredentials(environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"],
                                  environment.get("AWS_SESSION_TOKEN"), "SDK default chain")
    return None


def region(environment: Mapping[str, str], region_input: str = "") -> str | None:
    """getRegion (lines 430-470): the task's regionName input (lower-cased), else AWS.Region, else env
    AWS_REGION, else none (EC2 metadata is not reachable off EC2)."""
    if region_input:
        return region_input.lower()
    return task_lib_get_variable(environment, REGION) or environment.get("AWS_REGION") or None
