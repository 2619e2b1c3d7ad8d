"""Everything a run needs from the pipeline, validated before any network call and held as one
immutable value. Each problem becomes one error naming the setting and what a valid value is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .agent import Agent
from .connection import AZURE_RM, Connection, Setting, read_connection
from .destinations import (
    TOKEN_HOSTS_INPUT,
    checked_sts_from_environment,
    checked_token_endpoint,
    checked_url,
    host_list,
)
from .errors import UserError
from .identifiers import GUID, REGION, SESSION_NAME, SESSION_UNSAFE, RoleArn, region_in_partition
from .profiles import Plan, read_plan
from .retry import MAX_ATTEMPTS_DEFAULT

DURATION_MIN, DURATION_MAX, DURATION_DEFAULT = 900, 43200, 3600
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 10, 3600, 180
ATTEMPTS_MIN, ATTEMPTS_MAX = 1, 100


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
    # Which connection (type, the input naming it, what it supplied): messages say which one to fix.
    connection: Connection = field(default_factory=lambda: Connection(AZURE_RM, "serviceConnection", ""))
    # The roles beyond the main one (profiles, chainedProfiles) and the guard rails of all of them.
    plan: Plan = field(default_factory=Plan)
    # The most attempts any one call (the token request, each STS call) makes within timeoutSeconds.
    retry_max_attempts: int = MAX_ATTEMPTS_DEFAULT
    # Hosts besides Azure DevOps Services' own that the job access token may be sent to.
    token_endpoint_hosts: tuple[str, ...] = ()
    # Also set AWS.AccessKeyID, AWS.SecretAccessKey, AWS.SessionToken and AWS.Region for AWS Toolkit tasks.
    aws_toolkit_variables: bool = True

    @property
    def partition(self) -> str:
        role = RoleArn.parse(self.role_arn)
        return role.partition if role else "aws"


def read_inputs(agent: Agent) -> TaskInputs:
    # The connection first: an AWS connection supplies roleArn, region and durationSeconds when the
    # task leaves them empty.
    connection = read_connection(agent)
    role = connection.setting(agent, "roleArn")
    role_arn = _role_arn(role.value, role)
    region_setting = connection.setting(agent, "region")
    region = _region(region_setting.value, role_arn.partition, region_setting)
    duration_seconds = _int_input(agent, "durationSeconds", DURATION_DEFAULT, DURATION_MIN, DURATION_MAX,
                                  connection.setting(agent, "durationSeconds"))
    token_hosts = _token_endpoint_hosts(agent)
    return TaskInputs(
        connection_id=connection.id,
        role_arn=role_arn.text,
        account_id=role_arn.account,
        region=region,
        session_name=_session_name(agent),
        duration_seconds=duration_seconds,
        sts_endpoint=_sts_endpoint(agent),
        timeout_seconds=_int_input(agent, "timeoutSeconds", TIMEOUT_DEFAULT, TIMEOUT_MIN, TIMEOUT_MAX),
        oidc_request_uri=_oidc_request_uri(agent, token_hosts),
        collection_id=_collection_id(agent),
        access_token=_access_token(agent),
        credentials_folder=_credentials_folder(agent),
        output_credentials=agent.boolean_input("outputCredentials"),
        connection=connection,
        plan=read_plan(agent, role_arn, duration_seconds),
        retry_max_attempts=_int_input(agent, "retryMaxAttempts", MAX_ATTEMPTS_DEFAULT, ATTEMPTS_MIN, ATTEMPTS_MAX,
                                      unit="attempts"),
        token_endpoint_hosts=token_hosts,
        aws_toolkit_variables=agent.boolean_input("awsToolkitVariables", default=True),
    )


def _role_arn(value: str, setting: Optional[Setting] = None) -> RoleArn:
    setting = setting or Setting("roleArn", value)
    if not value:
        raise setting.empty("the IAM role to assume", "arn:aws:iam::123456789012:role/deploy")
    role = RoleArn.parse(value)
    if role:
        return role
    hint = "It must look like arn:aws:iam::123456789012:role/name (partitions aws, aws-cn, aws-us-gov; " \
        "a 12-digit account id; an optional /path/)."
    if ":assumed-role/" in value or value.startswith("arn:aws:sts:"):
        hint = "That is an assumed-role session ARN; use the role's own ARN, " \
            "arn:aws:iam::<account>:role/<name>, as shown on the role's page in the IAM console."
    elif re.match(r"^arn:[\w-]+:iam::\d{12}:(user|group|policy|oidc-provider)/", value):
        hint = "That ARN names an IAM user, group, policy or provider, not a role: " \
            "use arn:aws:iam::<account>:role/<name>."
    raise UserError(f"The {setting.source} '{value}' is not an IAM role ARN.", hint)


def _region(value: str, partition: str, setting: Optional[Setting] = None) -> str:
    setting = setting or Setting("region", value)
    if not value:
        raise setting.empty("the AWS region to use", "eu-west-1")
    if not REGION.match(value):
        raise UserError(
            f"The {setting.source} '{value}' is not an AWS region code.",
            "Use a code such as eu-west-1, us-east-2 or ap-southeast-2 (lower case, no spaces).",
        )
    if not region_in_partition(value, partition):
        raise UserError(
            f"The region '{value}' (from the {setting.source}) is not in the role's partition '{partition}'.",
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
    run = SESSION_UNSAFE.sub("-", run_id).strip("-")[:20]
    room = 64 - len("azp-") - (len(run) + 1 if run else 0)
    proj = SESSION_UNSAFE.sub("-", project).strip("-")[:room].strip("-")
    return "-".join(p for p in ("azp", proj, run) if p)


def _int_input(agent: Agent, name: str, default: int, low: int, high: int, setting: Optional[Setting] = None,
               unit: str = "seconds") -> int:
    setting = setting or Setting(name, agent.input(name))
    raw = setting.value
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise UserError(
            f"The {setting.source} '{raw}' is not valid.", f"Use a whole number of {unit} from {low} to {high}."
        )
    return value


def _sts_endpoint(agent: Agent) -> Optional[str]:
    # The author's input may name any https endpoint; the environment (an earlier step may have set it)
    # only AWS's own hosts. AWS_ENDPOINT_URL and config-file endpoints never apply (sts.make_client).
    value = agent.input("stsEndpoint")
    if value:
        return checked_url(value, "stsEndpoint input")
    value = agent.env("AWS_ENDPOINT_URL_STS")
    return checked_sts_from_environment(value) if value else None


def _token_endpoint_hosts(agent: Agent) -> tuple[str, ...]:
    return host_list(agent.input(TOKEN_HOSTS_INPUT))


def _oidc_request_uri(agent: Agent, extra_hosts: tuple[str, ...]) -> str:
    value = agent.variable("System.OidcRequestUri")
    if not value:
        raise UserError(
            "The agent did not provide System.OidcRequestUri, so no OIDC token can be requested.",
            "Run on Azure DevOps Services, or an Azure DevOps Server version with workload identity "
            "federation, on an up-to-date agent (Microsoft-hosted agents qualify; older agents and "
            "servers do not set the variable).",
        )
    return checked_token_endpoint(value, extra_hosts)


def _credentials_folder(agent: Agent) -> Optional[str]:
    if not agent.boolean_input("credentialsFile"):
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
