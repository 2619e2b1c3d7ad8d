"""Everything a run needs from the pipeline, validated before any network call and held as one
immutable value. Each problem becomes one error naming the setting and what a valid value is."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from .agent import Agent
from .errors import UserError
from .profiles import Plan, read_plan

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\x21-\x7e]+/)*)(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,
)
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]+", re.ASCII)
_PARTITION_REGION_PREFIX = {"aws-cn": "cn-", "aws-us-gov": "us-gov-"}

DURATION_MIN, DURATION_MAX, DURATION_DEFAULT = 900, 43200, 3600
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 10, 3600, 180


@dataclass(frozen=True)
class TaskInputs:
    connection_id: str
    role_arn: str
    account_id: str
    region: str
    session_name: str
    duration_seconds: int
    sts_endpoint: Optional[str]
    timeout_seconds: int
    oidc_request_uri: str
    collection_id: Optional[str]
    access_token: str = field(repr=False)
    # The folder for the credentials file, when the credentialsFile input asks for one.
    credentials_folder: Optional[str] = None
    # Whether the credentials also leave the job as secret output variables.
    output_credentials: bool = False
    # The roles beyond the main one (profiles, chainedProfiles) and the guard rails of all of them.
    plan: Plan = field(default_factory=Plan)


def read_inputs(agent: Agent) -> TaskInputs:
    role_arn, account_id, partition = _role_arn(agent.input("roleArn"))
    region = _region(agent.input("region"), partition)
    duration_seconds = _int_input(agent, "durationSeconds", DURATION_DEFAULT, DURATION_MIN, DURATION_MAX)
    return TaskInputs(
        connection_id=_connection_id(agent),
        role_arn=role_arn,
        account_id=account_id,
        region=region,
        session_name=_session_name(agent),
        duration_seconds=duration_seconds,
        sts_endpoint=_sts_endpoint(agent),
        timeout_seconds=_int_input(agent, "timeoutSeconds", TIMEOUT_DEFAULT, TIMEOUT_MIN, TIMEOUT_MAX),
        oidc_request_uri=_oidc_request_uri(agent),
        collection_id=_collection_id(agent),
        access_token=_access_token(agent),
        credentials_folder=_credentials_folder(agent),
        output_credentials=_boolean_input(agent, "outputCredentials"),
        plan=read_plan(agent, role_arn, partition, duration_seconds, ROLE_ARN),
    )


def _connection_id(agent: Agent) -> str:
    value = agent.input("serviceConnection")
    if not value:
        raise UserError(
            "The serviceConnection input is empty.",
            "Set it to the name of an Azure Resource Manager service connection that uses workload "
            "identity federation (the agent passes its id to the task).",
        )
    if not GUID.match(value):
        raise UserError(
            f"The serviceConnection input is '{value}', not a service connection id.",
            "Name the connection directly in the task (serviceConnection: my-connection) so that Azure "
            "DevOps resolves and authorises it before the job starts; a name built from a runtime "
            "variable is never resolved.",
        )
    return value.lower()


def _role_arn(value: str) -> tuple[str, str, str]:
    if not value:
        raise UserError(
            "The roleArn input is empty.",
            "Set it to the IAM role to assume, e.g. arn:aws:iam::123456789012:role/deploy.",
        )
    match = ROLE_ARN.match(value)
    if match and 20 <= len(value) <= 2048:
        return value, match["account"], match["partition"]
    hint = "It must look like arn:aws:iam::123456789012:role/name (partitions aws, aws-cn, aws-us-gov; " \
        "a 12-digit account id; an optional /path/)."
    if ":assumed-role/" in value or value.startswith("arn:aws:sts:"):
        hint = "That is an assumed-role session ARN; use the role's own ARN, " \
            "arn:aws:iam::<account>:role/<name>, as shown on the role's page in the IAM console."
    elif re.match(r"^arn:[\w-]+:iam::\d{12}:(user|group|policy|oidc-provider)/", value):
        hint = "That ARN names an IAM user, group, policy or provider, not a role: " \
            "use arn:aws:iam::<account>:role/<name>."
    raise UserError(f"The roleArn input '{value}' is not an IAM role ARN.", hint)


def _region(value: str, partition: str) -> str:
    if not value:
        raise UserError("The region input is empty.", "Set it to the AWS region to use, e.g. eu-west-1.")
    if not REGION.match(value):
        raise UserError(
            f"The region input '{value}' is not an AWS region code.",
            "Use a code such as eu-west-1, us-east-2 or ap-southeast-2 (lower case, no spaces).",
        )
    prefix = _PARTITION_REGION_PREFIX.get(partition)
    in_partition = value.startswith(prefix) if prefix else not any(
        value.startswith(p) for p in _PARTITION_REGION_PREFIX.values()
    )
    if not in_partition:
        raise UserError(
            f"The region '{value}' is not in the role's partition '{partition}'.",
            "Use a region of the role's partition (aws-cn: cn-*, aws-us-gov: us-gov-*, aws: the others).",
        )
    return value


def _session_name(agent: Agent) -> str:
    value = agent.input("roleSessionName")
    if value:
        if not SESSION_NAME.match(value):
            raise UserError(
                f"The roleSessionName input '{value}' is not a valid session name.",
                "Use 2 to 64 characters from letters, digits and _ + = , . @ - (no spaces).",
            )
        return value
    return default_session_name(
        agent.variable("System.TeamProject"),
        agent.variable("Build.BuildId") or agent.variable("Release.ReleaseId"),
    )


def default_session_name(project: str, run_id: str) -> str:
    """``azp-<project>-<run id>``: CloudTrail then shows which pipeline run acted. The run id is
    kept whole; the project is shortened to fit the 64-character limit."""
    run = _SESSION_UNSAFE.sub("-", run_id).strip("-")[:20]
    room = 64 - len("azp-") - (len(run) + 1 if run else 0)
    proj = _SESSION_UNSAFE.sub("-", project).strip("-")[:room].strip("-")
    return "-".join(p for p in ("azp", proj, run) if p)


def _int_input(agent: Agent, name: str, default: int, low: int, high: int) -> int:
    raw = agent.input(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise UserError(
            f"The {name} input '{raw}' is not valid.", f"Use a whole number of seconds from {low} to {high}."
        )
    return value


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(value: str, what: str) -> str:
    """An https URL, or http on loopback only: the token and credentials must not cross a network
    in clear text."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UserError(
            f"The {what} '{value}' is not an http(s) URL.", "Use a full URL such as https://host/path."
        )
    if parts.username or parts.password:
        raise UserError(f"The {what} contains a user name or password.", "Remove the credentials from the URL.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UserError(
            f"The {what} '{value}' uses plain http.",
            "Use https: tokens and credentials must not travel unencrypted (http is accepted only for loopback).",
        )
    return value


def _sts_endpoint(agent: Agent) -> Optional[str]:
    value = agent.input("stsEndpoint")
    if value:
        return checked_url(value, "stsEndpoint input")
    value = agent.env("AWS_ENDPOINT_URL_STS")
    return checked_url(value, "AWS_ENDPOINT_URL_STS variable") if value else None


def _oidc_request_uri(agent: Agent) -> str:
    value = agent.variable("System.OidcRequestUri")
    if not value:
        raise UserError(
            "The agent did not provide System.OidcRequestUri, so no OIDC token can be requested.",
            "Run on Azure DevOps Services, or an Azure DevOps Server version with workload identity "
            "federation, on an up-to-date agent (Microsoft-hosted agents qualify; older agents and "
            "servers do not set the variable).",
        )
    return checked_url(value, "System.OidcRequestUri")


def _boolean_input(agent: Agent, name: str) -> bool:
    value = agent.input(name).lower()
    if value not in ("", "true", "false"):
        raise UserError(f"The {name} input is '{value}'.", "Use true or false.")
    return value == "true"


def _credentials_folder(agent: Agent) -> Optional[str]:
    if not _boolean_input(agent, "credentialsFile"):
        return None
    folder = agent.variable("Agent.TempDirectory")
    if not folder:
        raise UserError(
            "credentialsFile is true, but the agent did not provide Agent.TempDirectory.",
            "Run on an Azure Pipelines agent (it sets the variable for every job), or turn credentialsFile off.",
        )
    return folder


def _collection_id(agent: Agent) -> Optional[str]:
    value = agent.variable("System.CollectionId")
    return value.lower() if GUID.match(value) else None


def _access_token(agent: Agent) -> str:
    token = (
        agent.endpoint_auth_parameter("SystemVssConnection", "AccessToken")
        or agent.secret_variable("System.AccessToken")
        or agent.env("SYSTEM_ACCESSTOKEN")
    )
    if not token:
        raise UserError(
            "The job access token (System.AccessToken) is not available to the task.",
            "Run the task inside an Azure Pipelines job; if your agent withholds it, map it explicitly "
            "(env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)) or, in a classic pipeline, enable "
            "'Allow scripts to access the OAuth token' on the agent job.",
        )
    return token
