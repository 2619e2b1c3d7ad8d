"""The roles one run assumes beyond the main one: the profiles and chainedProfiles lines parsed
into a plan of sessions, with the guard rails (names, partitions, the allowed accounts, session
policies) checked before any network call. Each problem is one error naming the input and line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .agent import Agent
from .errors import UserError
from .identifiers import ACCOUNT_ID, PROFILE_NAME, RoleArn
from .policies import SessionPolicies, read_session_policies

MAIN_PROFILE = "default"
WEB_IDENTITY, CHAINED = "web-identity", "chained"
# "Role chaining limits your AWS CLI or AWS API role session to a maximum of one hour"
# (STS API reference, AssumeRole, DurationSeconds).
CHAINED_MAX_SECONDS = 3600


@dataclass(frozen=True)
class Profile:
    name: str
    role_arn: str
    account_id: str
    kind: str  # WEB_IDENTITY: the job's OIDC token; CHAINED: sts:AssumeRole with the main role's session
    duration_seconds: int


@dataclass(frozen=True)
class Plan:
    """Every session beyond the main role's, and the checks that apply to all of them."""

    profiles: tuple[Profile, ...] = ()
    policies: SessionPolicies = field(default_factory=SessionPolicies)
    allowed_account_ids: tuple[str, ...] = ()
    verify: bool = False
    # Agent.TempDirectory: where the credentials and config files go when there are profiles.
    files_folder: str = ""
    # refreshingProfiles (#11): credential_process lines instead of keys; implies writing the files.
    refreshing: bool = False

    @property
    def writes_files(self) -> bool:
        return bool(self.profiles) or self.refreshing

    @property
    def web_identity(self) -> tuple[Profile, ...]:
        return tuple(p for p in self.profiles if p.kind == WEB_IDENTITY)

    @property
    def chained(self) -> tuple[Profile, ...]:
        return tuple(p for p in self.profiles if p.kind == CHAINED)


def read_plan(agent: Agent, main_role: RoleArn, duration_seconds: int) -> Plan:
    """The inputs profiles, chainedProfiles, sessionPolicy, managedSessionPolicies,
    allowedAccountIds and verifyCredentials, checked against the main role."""
    main_role_arn, main_account, partition = main_role.text, main_role.account, main_role.partition
    profiles: list[Profile] = []
    seen: dict[str, str] = {MAIN_PROFILE: "the main role (roleArn)"}
    for input_name, kind, duration in (
        ("profiles", WEB_IDENTITY, duration_seconds),
        ("chainedProfiles", CHAINED, min(duration_seconds, CHAINED_MAX_SECONDS)),
    ):
        roles: dict[str, str] = {main_role_arn: "roleArn"} if kind == WEB_IDENTITY else {}
        for number, line in _lines(agent.input(input_name)):
            where = f"The {input_name} input, line {number} ('{line}')"
            name, role = _profile_line(where, line, partition)
            arn = role.text
            key = name.lower()
            if key in seen:
                raise UserError(f"{where}: the profile name '{name}' is already used by {seen[key]}.",
                                "Give every profile its own name (names are compared ignoring case; 'default' "
                                "is the main role's).")
            if arn in roles:
                raise UserError(f"{where}: the role {arn} is already assumed as {roles[arn]}.",
                                "Assume each role once and use that profile.")
            seen[key] = f"{input_name} line {number}"
            roles[arn] = f"{input_name} line {number}"
            profiles.append(Profile(name, arn, role.account, kind, duration))
    refreshing = _boolean(agent, "refreshingProfiles")
    plan = Plan(
        profiles=tuple(profiles),
        policies=read_session_policies(agent, partition, main_account),
        allowed_account_ids=_allowed_accounts(agent.input("allowedAccountIds")),
        verify=_boolean(agent, "verifyCredentials"),
        files_folder=_files_folder(agent) if profiles or refreshing else "",
        refreshing=refreshing,
    )
    _check_allowed(plan, main_role_arn, main_account)
    return plan


def _lines(value: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines with their 1-based numbers as the user sees them."""
    return [(n, line.strip()) for n, line in enumerate(value.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")]


def _profile_line(where: str, line: str, partition: str) -> tuple[str, RoleArn]:
    name, sep, arn = line.partition("=")
    name, arn = name.strip(), arn.strip()
    if not sep or not name or not arn:
        raise UserError(f"{where} is not NAME=ROLE_ARN.",
                        "Write one profile a line, e.g. prod=arn:aws:iam::123456789012:role/deploy.")
    if not PROFILE_NAME.match(name):
        raise UserError(f"{where}: '{name}' is not a valid profile name.",
                        "Use 1 to 64 letters, digits, '_', '.' or '-'.")
    if name.lower() == MAIN_PROFILE:
        raise UserError(f"{where}: 'default' is the main role's profile.",
                        "Give this role another name; roleArn is the default profile.")
    role = RoleArn.parse(arn)
    if not role:
        raise UserError(f"{where}: '{arn}' is not an IAM role ARN.",
                        "It must look like arn:aws:iam::123456789012:role/name.")
    if role.partition != partition:
        raise UserError(f"{where}: the role is in partition '{role.partition}', the main role in '{partition}'.",
                        "One step serves one partition (one STS endpoint): use another step for the other one.")
    return name, role


def _allowed_accounts(value: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in re.split(r"[,\s]+", value) if part.strip())
    for account in ids:
        if not ACCOUNT_ID.match(account):
            raise UserError(f"The allowedAccountIds input has '{account}', which is not an AWS account id.",
                            "List 12-digit account ids separated by commas, e.g. 111111111111,222222222222.")
    return ids


def _check_allowed(plan: Plan, main_role_arn: str, main_account: str) -> None:
    if not plan.allowed_account_ids:
        return
    allowed = ", ".join(plan.allowed_account_ids)
    roles = [("roleArn", main_role_arn, main_account)] + [
        (f"profile '{p.name}'", p.role_arn, p.account_id) for p in plan.profiles
    ]
    for what, arn, account in roles:
        if account not in plan.allowed_account_ids:
            raise UserError(f"The {what} role {arn} is in account {account}, which allowedAccountIds ({allowed}) "
                            "does not list.",
                            "Fix the role ARN, or add the account to allowedAccountIds if it is meant to be used.")


def _files_folder(agent: Agent) -> str:
    folder = agent.variable("Agent.TempDirectory")
    if not folder:
        raise UserError("Profiles need Agent.TempDirectory for their credentials and config files, and the agent "
                        "did not provide it.",
                        "Run on an Azure Pipelines agent (it sets the variable for every job).")
    return folder


def _boolean(agent: Agent, name: str) -> bool:
    value = agent.input(name).lower()
    if value not in ("", "true", "false"):
        raise UserError(f"The {name} input is '{value}'.", "Use true or false.")
    return value == "true"


def describe_duration(plan: Plan, duration_seconds: int) -> Optional[str]:
    """The log line that says when chained sessions are shorter than asked."""
    if plan.chained and duration_seconds > CHAINED_MAX_SECONDS:
        return (f"Chained profiles last {CHAINED_MAX_SECONDS} s, not durationSeconds ({duration_seconds} s): "
                "AWS limits sessions assumed with another role's session (role chaining) to one hour.")
    return None
