"""The guard rails enterprises put on IAM roles: a permissions boundary, a path and required tags
(service control policies often deny iam:CreateRole without them). Checked from the flags before
any AWS call, so a request AWS would refuse is never half made; the same values go into setup's
API calls and into every trust-policy format."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from ..errors import UserError
from ..identifiers import parse_policy_arn

# CreateRole, Path: "/" alone, or "/" + printable ASCII + "/", at most 512 characters.
_ROLE_PATH = re.compile(r"^/(?:[\x21-\x7e]*/)?$", re.ASCII)
# IAM tags: keys 1-128 and values 0-256 characters of letters, digits, spaces and _.:/=+-@;
# "aws:" is reserved; at most 50 tags on a role.
_TAG_TEXT = re.compile(r"^[\w .:/=+\-@]*$")
TAGS_MAX = 50


@dataclass(frozen=True)
class Guardrails:
    permissions_boundary: Optional[str] = None
    role_path: str = "/"
    tags: tuple[tuple[str, str], ...] = ()

    def in_account(self, account_id: str) -> Guardrails:
        """The same guard rails for a role in another account (see policy_in_account)."""
        boundary = self.permissions_boundary
        return Guardrails(policy_in_account(boundary, account_id) if boundary else None, self.role_path, self.tags)


def read_guardrails(boundary: Optional[str], role_path: Optional[str], tags: Sequence[str],
                    partition: str) -> Guardrails:
    return Guardrails(
        permissions_boundary=check_policy_arn(boundary, "--permissions-boundary", partition) if boundary else None,
        role_path=check_role_path(role_path or "/"),
        tags=read_tags(tags),
    )


def check_policy_arn(arn: str, flag: str, partition: str) -> str:
    match = parse_policy_arn(arn)
    if not match:
        raise UserError(f"{flag} '{arn}' is not an IAM policy ARN.",
                        "Give arn:aws:iam::aws:policy/NAME (AWS managed) or arn:aws:iam::123456789012:policy/NAME.")
    if match["partition"] != partition:
        raise UserError(f"{flag} '{arn}' is in partition '{match['partition']}', the role in '{partition}'.",
                        "Give the policy of the role's partition (--partition).")
    return arn


def policy_in_account(arn: str, account_id: str) -> str:
    """A customer managed policy ARN pointed at another account. A role can only use AWS managed
    policies and its own account's, so for many accounts an ARN means "this path and name in
    each account"; AWS managed ARNs stay as they are."""
    match = parse_policy_arn(arn)
    if not match or match["account"] == "aws":
        return arn
    return f"arn:{match['partition']}:iam::{account_id}:policy/{match['path']}{match['name']}"


def policy_account(arn: str) -> str:
    """The account part of a policy ARN: 'aws' or a 12-digit id."""
    match = parse_policy_arn(arn)
    return match["account"] if match else ""


def check_role_path(path: str) -> str:
    if not _ROLE_PATH.match(path) or len(path) > 512 or "//" in path:
        raise UserError(f"--role-path '{path}' is not an IAM path.",
                        "Start and end it with '/', e.g. /ci/ or /teams/platform/ (printable ASCII, no spaces).")
    return path


def read_tags(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise UserError(f"--tag '{value}' is not KEY=VALUE.", "Write one tag per --tag, e.g. --tag team=platform.")
        if len(key) > 128 or len(text) > 256 or not _TAG_TEXT.match(key) or not _TAG_TEXT.match(text):
            raise UserError(f"--tag '{value}' is not a valid IAM tag.",
                            "Keys have 1-128, values 0-256 letters, digits, spaces or _.:/=+-@.")
        if key.lower().startswith("aws:"):
            raise UserError(f"--tag '{value}': keys starting with 'aws:' are reserved for AWS.", "Choose another key.")
        # IAM refuses two tags whose keys differ only in case.
        if key.lower() in seen:
            raise UserError(f"--tag '{key}' is given twice.",
                            "Give each tag key once (keys are compared ignoring case).")
        seen.add(key.lower())
        tags.append((key, text))
    if len(tags) > TAGS_MAX:
        raise UserError(f"{len(tags)} tags were given; IAM allows {TAGS_MAX} on a role.", "Give fewer --tag flags.")
    return tuple(tags)


def role_arn(partition: str, account_id: str, path: str, name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role{path}{name}"
