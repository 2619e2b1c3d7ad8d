"""The `[awswif NAME]` record: what the task writes into the AWS config file for each profile, and what
`awswif credential-process` reads back to refresh it. Everything a refresh needs and no secret; written
and parsed here only, so the two sides cannot drift apart (tests/unit/test_profile_record.py round-trips it)."""

from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from .destinations import host_list
from .errors import UserError
from .identifiers import RoleArn
from .policies import ascii_form, sent_form
from .profiles import CHAINED, WEB_IDENTITY
from .retry import MAX_ATTEMPTS_DEFAULT
from .session_tags import ChainedIdentity

RECORD_PREFIX = "awswif "
KINDS = (WEB_IDENTITY, CHAINED)


@dataclass(frozen=True)
class ProfileRecord:
    """What the task recorded for one profile: everything a refresh needs, and no secret."""

    name: str
    role_arn: str
    session_name: str
    duration_seconds: int
    region: str
    connection_id: str
    oidc_request_uri: str
    collection_id: Optional[str]
    sts_endpoint: Optional[str]
    kind: str = WEB_IDENTITY
    token_endpoint_hosts: tuple[str, ...] = field(default=())
    retry_max_attempts: int = MAX_ATTEMPTS_DEFAULT
    source_profile: Optional[str] = None
    session_policy: Optional[str] = None
    policy_arns: tuple[str, ...] = field(default=())
    # Chained profiles: AssumeRole's ExternalId, and the tags and source identity the task sent.
    external_id: Optional[str] = None
    identity: ChainedIdentity = field(default_factory=ChainedIdentity)

    def fields(self) -> dict[str, str]:
        """The record's keys as the config file holds them (ASCII: the session policy JSON-escaped)."""
        values = {
            "role_arn": self.role_arn,
            "duration_seconds": str(self.duration_seconds),
            "session_name": self.session_name,
            "region": self.region,
            "connection_id": self.connection_id,
            "oidc_request_uri": self.oidc_request_uri,
            "collection_id": self.collection_id or "",
            "sts_endpoint": self.sts_endpoint or "",
            # The refresh sends the job access token only where the task did (destinations.py).
            "token_endpoint_hosts": ",".join(self.token_endpoint_hosts),
            "retry_max_attempts": str(self.retry_max_attempts),
            "kind": self.kind,
        }
        if self.source_profile:
            values["source_profile"] = self.source_profile
        if self.session_policy:
            values["session_policy"] = ascii_form(self.session_policy)
        if self.policy_arns:
            values["policy_arns"] = ",".join(self.policy_arns)
        if self.external_id:
            values["external_id"] = self.external_id
        values.update(self.identity.record_fields())
        return values

    @property
    def account_id(self) -> str:
        role = RoleArn.parse(self.role_arn)
        return role.account if role else ""


# -- the record the task wrote ---------------------------------------------------------------------
def read_record(config_file: str, profile: str) -> ProfileRecord:
    # As aws_files writes it: no interpolation (a session policy may hold %), "=" the only delimiter.
    parser = configparser.RawConfigParser(interpolation=None, delimiters=("=",), default_section="awswif-no-defaults")
    try:
        with open(config_file, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise UserError(
            f"The AWS config file {config_file} no longer exists.",
            "It lives only while the job that wrote it runs: use the profile in a later step of the same "
            "job, after the AwsWifAssume@1 step with refreshingProfiles: true.",
        ) from None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise UserError(f"The AWS config file {config_file} cannot be read ({exc}).",
                        "Re-run the AwsWifAssume@1 step that wrote it.") from None
    section = RECORD_PREFIX + profile
    if not parser.has_section(section):
        raise UserError(f"The AWS config file {config_file} has no [{section}] record.",
                        "Use a profile the AwsWifAssume@1 step wrote (default, or one of its profiles).")

    def value(key: str, required: bool = True) -> str:
        found = parser.get(section, key, fallback="").strip()
        if required and not found:
            raise UserError(f"The [{section}] record in {config_file} has no {key}.",
                            "Re-run the AwsWifAssume@1 step that wrote it; do not edit the file.")
        return found

    kind = value("kind", required=False) or WEB_IDENTITY
    if kind not in KINDS:
        raise UserError(f"The [{section}] record in {config_file} has an unknown kind '{kind}'.",
                        "Use the same AwsWifAssume@1 version in the step that wrote it.")
    def number(key: str, default: Optional[int] = None) -> int:
        raw = value(key, required=default is None)
        try:
            return int(raw) if raw else int(default or 0)
        except ValueError:
            raise UserError(f"The [{section}] record in {config_file} has a {key} that is not a number.",
                            "Re-run the AwsWifAssume@1 step that wrote it; do not edit the file.") from None

    duration = number("duration_seconds")
    role_arn = value("role_arn")
    if not RoleArn.parse(role_arn):
        raise UserError(f"The [{section}] record in {config_file} has a role_arn that is not an IAM role ARN.",
                        "Re-run the AwsWifAssume@1 step that wrote it; do not edit the file.")
    return ProfileRecord(
        name=profile,
        role_arn=role_arn,
        session_name=value("session_name"),
        duration_seconds=duration,
        region=value("region"),
        connection_id=value("connection_id", required=kind == WEB_IDENTITY),
        oidc_request_uri=value("oidc_request_uri", required=False),
        collection_id=value("collection_id", required=False) or None,
        sts_endpoint=value("sts_endpoint", required=False) or None,
        kind=kind,
        source_profile=value("source_profile", required=kind == CHAINED) or None,
        session_policy=_policy(value("session_policy", required=False), section, config_file),
        policy_arns=tuple(a.strip() for a in value("policy_arns", required=False).split(",") if a.strip()),
        token_endpoint_hosts=host_list(value("token_endpoint_hosts", required=False)),
        retry_max_attempts=number("retry_max_attempts", MAX_ATTEMPTS_DEFAULT),
        external_id=value("external_id", required=False) or None,
        identity=_identity(value, section, config_file),
    )


def _identity(value: Callable[..., str], section: str, config_file: str) -> ChainedIdentity:
    try:
        return ChainedIdentity.from_record(value("session_tags", required=False),
                                           value("transitive_tag_keys", required=False),
                                           value("source_identity", required=False))
    except ValueError:
        raise UserError(f"The [{section}] record in {config_file} has session_tags that are not a list of pairs.",
                        "Re-run the AwsWifAssume@1 step that wrote it; do not edit the file.") from None


def _policy(text: str, section: str, config_file: str) -> Optional[str]:
    if not text:
        return None
    try:
        return sent_form(text)
    except ValueError:
        raise UserError(f"The [{section}] record in {config_file} has a session_policy that is not JSON.",
                        "Re-run the AwsWifAssume@1 step that wrote it; do not edit the file.") from None
