"""The environment the Azure Pipelines agent builds for a Node task (inputs with task.json's
defaults, endpoints, SystemVssConnection, public and secret variables), for tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from agent_model import Job, env_name
from fakes import Issuer, Sts

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deploy"
NODE = shutil.which("node")


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
        "AGENT_TEMPDIRECTORY": "/tmp",
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
        f"ENDPOINT_URL_{issuer.connection_id.upper()}": "https://management.azure.com/",
        f"ENDPOINT_AUTH_{issuer.connection_id.upper()}": json.dumps(
            {"parameters": {"serviceprincipalid": "app", "tenantid": issuer.tenant_id}, "scheme": "WorkloadIdentityFederation"}
        ),
        f"ENDPOINT_AUTH_SCHEME_{issuer.connection_id.upper()}": "WorkloadIdentityFederation",
        f"ENDPOINT_AUTH_PARAMETER_{issuer.connection_id.upper()}_TENANTID": issuer.tenant_id,
        f"ENDPOINT_DATA_{issuer.connection_id.upper()}_SUBSCRIPTIONID": "00000000-0000-0000-0000-000000000000",
    }
    values: dict[str, str | None] = {"serviceConnection": issuer.connection_id, "roleArn": ROLE_ARN,
                                      "region": "eu-west-1"}
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
