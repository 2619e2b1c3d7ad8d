"""The environment the Azure Pipelines agent builds for a Node task (inputs with task.json's
defaults, endpoints, SystemVssConnection, public and secret variables), for tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent_model import Job, env_name
from fakes import Issuer, Sts

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deploy"
NODE = shutil.which("node")
TOKEN_HOSTS = "127.0.0.1"
# The job's temporary folder: a folder of its own, as on an agent (`_work/_temp`), not /tmp itself. The
# launcher runs no Python from inside it (an earlier step can plant files there), and the tests' own
# interpreters and wrappers live in pytest's folders under /tmp.
AGENT_TEMP = tempfile.mkdtemp(prefix="agent-temp-")


def endpoint_environment(endpoint: dict[str, Any]) -> dict[str, str]:
    """The variables the agent gives a Node task for one service endpoint of the job, as
    Handler.AddEndpointsToEnvironment writes them (microsoft/azure-pipelines-agent,
    src/Agent.Worker/Handlers/Handler.cs): the key is the endpoint id as Guid.ToString() gives it
    (lower case, not upper-cased); the auth object and the data as compact JSON (JsonUtility keeps
    dictionary keys as they are); scheme and parameters only when there is a scheme; each parameter
    and data key in env-variable form."""
    key = str(endpoint["id"]).lower()
    env = {f"ENDPOINT_URL_{key}": endpoint.get("url", "")}
    authorization = endpoint.get("authorization")
    env[f"ENDPOINT_AUTH_{key}"] = json.dumps(authorization, separators=(",", ":")) if authorization else "null"
    if authorization and authorization.get("scheme") is not None:
        env[f"ENDPOINT_AUTH_SCHEME_{key}"] = authorization["scheme"]
        for name, value in (authorization.get("parameters") or {}).items():
            env[f"ENDPOINT_AUTH_PARAMETER_{key}_{env_name(name)}"] = value
    data = endpoint.get("data")
    env[f"ENDPOINT_DATA_{key}"] = json.dumps(data, separators=(",", ":")) if data is not None else "null"
    for name, value in (data or {}).items():
        env[f"ENDPOINT_DATA_{key}_{env_name(name)}"] = value
    return env


def azure_rm_endpoint(issuer: Issuer) -> dict[str, Any]:
    """An Azure Resource Manager connection with workload identity federation, as the job message
    carries it."""
    return {"id": issuer.connection_id, "name": issuer.connection_name, "type": "azurerm",
            "url": "https://management.azure.com/",
            "authorization": {"parameters": {"serviceprincipalid": "app", "tenantid": issuer.tenant_id},
                              "scheme": "WorkloadIdentityFederation"},
            "data": {"subscriptionId": "00000000-0000-0000-0000-000000000000", "environment": "AzureCloud"}}


def aws_endpoint(issuer: Issuer, **data: str) -> dict[str, Any]:
    """An AWS (workload identity federation) connection as the job message carries it: the type and
    hidden URL vss-extension.json declares; in `data`, the values of the type's own inputDescriptors
    (inputs "in addition to name, URL and the auth. parameters" are stored as the endpoint's data,
    as Azure Classic's subscriptionId: microsoft/vsts-rm-extensions docs/authoring/endpoints,
    "Customizing service endpoints"); an empty field may be missing or empty; and the no-secret scheme
    ms.vss-endpoint.endpoint-auth-scheme-none, named "None", with no parameters (learn.microsoft.com,
    "Service endpoint authentication schemes")."""
    return {"id": issuer.connection_id, "name": issuer.connection_name, "type": "AwsWif",
            "url": "https://sts.amazonaws.com/", "authorization": {"parameters": {}, "scheme": "None"},
            "data": data, "isReady": True}


def agent_environment(issuer: Issuer, sts: Sts | None, task_dir: Path, python_bin: Path | None = None,
                      **inputs: str | None) -> dict[str, str]:
    """What the agent hands a Node task: inputs with task.json defaults applied, the connection's
    endpoint variables, SystemVssConnection, public and secret variables."""
    python_dir = str(python_bin or Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([python_dir, str(Path(NODE or "/usr/bin/node").parent), "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "AGENT_VERSION": "4.266.2",
        "AGENT_TEMPDIRECTORY": AGENT_TEMP,
        "SYSTEM_COLLECTIONID": issuer.organization_id,
        "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
        "SYSTEM_TEAMPROJECT": "infra",
        "SYSTEM_OIDCREQUESTURI": issuer.request_uri,
        "BUILD_BUILDID": "4711",
        "BUILD_DEFINITIONNAME": "deploy",
        "ENDPOINT_URL_SYSTEMVSSCONNECTION": "https://dev.azure.com/contoso/",
        "ENDPOINT_AUTH_SYSTEMVSSCONNECTION": json.dumps({"parameters": {"AccessToken": issuer.access_token}, "scheme": "OAuth"}),
        "ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION": "OAuth",
        "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": issuer.access_token,
        "SECRET_SYSTEM_ACCESSTOKEN": issuer.access_token,
        "VSTS_SECRET_VARIABLES": json.dumps(["System.AccessToken"]),
        **endpoint_environment(azure_rm_endpoint(issuer)),
    }
    # The stand-in issuer listens on loopback: the pipeline's author allows that host, as for an Azure
    # DevOps Server (the job access token goes only to Azure DevOps Services' hosts and these).
    values: dict[str, str | None] = {"serviceConnection": issuer.connection_id, "roleArn": ROLE_ARN,
                                      "region": "eu-west-1", "tokenEndpointHosts": TOKEN_HOSTS}
    if sts is not None:
        values["stsEndpoint"] = sts.url
    values.update(inputs)
    # The agent model's TaskRunner rules: task.json defaults, trimming, $(macro) expansion (in a job with no
    # user variables, so a macro stays literal). None leaves an input out, which no real agent does.
    given = {name: value for name, value in values.items() if value is not None}
    for name, value in Job().task_inputs(task_dir, given).items():
        if values.get(name, "") is not None:
            env[f"INPUT_{env_name(name)}"] = value
    return env


def aws_connection_environment(issuer: Issuer, sts: Sts | None, task_dir: Path, endpoint: dict[str, Any],
                               python_bin: Path | None = None, **inputs: str | None) -> dict[str, str]:
    """The same job with connectionType: aws: the task names the AWS connection in awsConnection,
    the agent passes that endpoint (and not the Azure one), and roleArn/region are left to the
    connection unless given in `inputs`."""
    values: dict[str, str | None] = {"serviceConnection": None, "roleArn": None, "region": None,
                                     "connectionType": "aws", "awsConnection": str(endpoint["id"])}
    values.update(inputs)
    env = agent_environment(issuer, sts, task_dir, python_bin, **values)
    azure = endpoint_environment(azure_rm_endpoint(issuer))
    env = {k: v for k, v in env.items() if k not in azure}
    env.update(endpoint_environment(endpoint))
    return env
