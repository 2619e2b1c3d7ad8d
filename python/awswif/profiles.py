"""The roles one run assumes beyond the main one: the profiles and chainedProfiles lines parsed
into a plan of sessions, with the guard rails (names, partitions, the allowed accounts, session
policies) checked before any network call. Each problem is one error naming the input and line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .agent import Agent
from .errors import UserError
from .identifiers import ACCOUNT_ID, EXTERNAL_ID, PROFILE_NAME, REGION, RoleArn, region_in_partition
from .policies import SessionPolicies, read_session_policies

if TYPE_CHECKING:
    from .session_tags import ChainedIdentity

MAIN_PROFILE = "default"
WEB_IDENTITY, CHAINED = "web-identity", "chained"
# "Role chaining limits your AWS CLI or AWS API role session to a maximum of one hour"
# (STS API reference, AssumeRole, DurationSeconds).
CHAINED_MAX_SECONDS = 3600
# STS API reference, DurationSeconds: "from 900 seconds (15 minutes) up to the maximum session
# duration setting for the role" (at most 43200).
DURATION_MIN, DURATION_MAX = 900, 43200
# What may follow NAME=ROLE_ARN on a profiles/chainedProfiles line, space-separated.
LINE_OPTIONS = ("region", "durationSeconds", "externalId")


@dataclass(frozen=True)
class Profile:
    name: str
    role_arn: str
    account_id: str
    kind: str  # WEB_IDENTITY: the job's OIDC token; CHAINED: sts:AssumeRole with the main role's session
    duration_seconds: int
    # The line's region= option: this profile's config section and its STS calls (else the task's).
    region: Optional[str] = None
    # The line's externalId= option (chained only): AssumeRole's ExternalId, as vendor accounts require.
    external_id: Optional[str] = None


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
    # The session tags, transitive keys and source identity of every chained AssumeRole (None: no
    # chained profiles, and none of the inputs that apply to them).
    chained_identity: Optional[ChainedIdentity] = None

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
            name, role, options = _profile_line(where, line, partition, kind)
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
            profiles.append(Profile(name, arn, role.account, kind, options.get("durationSeconds", duration),
                                    options.get("region"), options.get("externalId")))
    refreshing = agent.boolean_input("refreshingProfiles")
    plan = Plan(
        profiles=tuple(profiles),
        policies=read_session_policies(agent, partition, main_account),
        allowed_account_ids=_allowed_accounts(agent.input("allowedAccountIds")),
        verify=agent.boolean_input("verifyCredentials"),
        files_folder=_files_folder(agent) if profiles or refreshing else "",
        refreshing=refreshing,
        chained_identity=_chained_identity(agent, any(p.kind == CHAINED for p in profiles)),
    )
    _check_allowed(plan, main_role_arn, main_account)
    return plan


# The inputs that apply to chainedProfiles only (session_tags.py); skipSessionTagging has a default.
_CHAINED_ONLY_INPUTS = ("sessionTags", "transitiveTagKeys", "sourceIdentity")


def _chained_identity(agent: Agent, chained: bool) -> Optional[ChainedIdentity]:
    # Read before the token request leaves: session_tags loads only for steps that chain or name one
    # of its inputs (most steps do neither), and says so when such an input has no chained role.
    agent.boolean_input("skipSessionTagging")
    if not chained and not any(agent.input(name) for name in _CHAINED_ONLY_INPUTS):
        return None
    from .session_tags import read_chained_identity

    return read_chained_identity(agent, chained)


def _lines(value: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines with their 1-based numbers as the user sees them."""
    return [(n, line.strip()) for n, line in enumerate(value.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")]


def _profile_line(where: str, line: str, partition: str, kind: str) -> tuple[str, RoleArn, dict[str, Any]]:
    # "NAME = ARN" (spaces around the first "=") has always been accepted; options follow the ARN.
    name, sep, after = line.partition("=")
    name, (arn, *rest) = name.strip(), (after.split() or [""])
    if not sep or not name or not arn:
        raise UserError(f"{where} is not NAME=ROLE_ARN [region=REGION] [durationSeconds=N]"
                        f"{' [externalId=ID]' if kind == CHAINED else ''}.",
                        "Write one profile a line, e.g. prod=arn:aws:iam::123456789012:role/deploy region=us-east-1.")
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
    return name, role, _line_options(where, rest, partition, kind)


def _line_options(where: str, words: list[str], partition: str, kind: str) -> dict[str, Any]:
    """region=, durationSeconds= and (chained) externalId= after the ARN, each at most once."""
    options: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if key not in LINE_OPTIONS or not sep:
            raise UserError(f"{where}: '{word}' is not an option of a profile line.",
                            "After NAME=ROLE_ARN, a line may have region=REGION, durationSeconds=N"
                            f"{' and externalId=ID' if kind == CHAINED else ''}, separated by spaces.")
        if key in options:
            raise UserError(f"{where} has {key} twice.", f"Give {key} once.")
        options[key] = _option(where, key, value, partition, kind)
    return options


def _option(where: str, key: str, value: str, partition: str, kind: str) -> object:
    if key == "region":
        if not REGION.match(value):
            raise UserError(f"{where}: region '{value}' is not an AWS region code.", "Use a code such as us-east-1.")
        if not region_in_partition(value, partition):
            raise UserError(f"{where}: region '{value}' is not in the role's partition '{partition}'.",
                            "Use a region of the role's partition (aws-cn: cn-*, aws-us-gov: us-gov-*).")
        return value
    if key == "durationSeconds":
        high = CHAINED_MAX_SECONDS if kind == CHAINED else DURATION_MAX
        if not value.isdigit() or not DURATION_MIN <= int(value) <= high:
            why = " (AWS limits chained sessions to one hour)" if kind == CHAINED else ""
            raise UserError(f"{where}: durationSeconds '{value}' is not valid.",
                            f"Use a whole number of seconds from {DURATION_MIN} to {high}{why}.")
        return int(value)
    if kind != CHAINED:
        raise UserError(f"{where}: externalId applies to chainedProfiles only.",
                        "AssumeRoleWithWebIdentity takes no external id: move the role to chainedProfiles (the "
                        "main role assumes it with sts:AssumeRole), or drop the option.")
    if not EXTERNAL_ID.match(value):
        raise UserError(f"{where}: the externalId is not valid.",
                        "Use 2 to 1224 characters from letters, digits and _ + = , . @ : / -.")
    return value


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


def describe_duration(plan: Plan, duration_seconds: int) -> Optional[str]:
    """The log line that says when chained sessions are shorter than asked."""
    if plan.chained and duration_seconds > CHAINED_MAX_SECONDS:
        return (f"Chained profiles last {CHAINED_MAX_SECONDS} s, not durationSeconds ({duration_seconds} s): "
                "AWS limits sessions assumed with another role's session (role chaining) to one hour.")
    return None
