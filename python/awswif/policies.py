"""Session policies for the main role: an inline JSON policy and managed policy ARNs that narrow
what the session may do. Checked against the STS API reference's limits before any call, so a
typo fails the step with the line to fix rather than an STS error later."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .agent import Agent
from .errors import UserError
from .identifiers import parse_policy_arn

# STS API reference, AssumeRoleWithWebIdentity/AssumeRole, Policy: "Length Constraints: Minimum
# length of 1. Maximum length of 2048"; characters \u0009, \u000A, \u000D and \u0020-\u00FF.
POLICY_MAX_CHARS = 2048
# PolicyArns: "You can provide up to 10 managed policy ARNs"; each ARN 20-2048 characters.
POLICY_ARNS_MAX = 10
# "The policies must exist in the same account as the role" (or be AWS managed: account "aws").
_EXAMPLE = 'Give an IAM policy document, e.g. {"Version": "2012-10-17", "Statement": [...]}.'


@dataclass(frozen=True)
class SessionPolicies:
    # The inline policy with all insignificant whitespace removed, as it is sent.
    inline: Optional[str] = None
    arns: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.inline or self.arns)


def ascii_form(packed: str) -> str:
    """The policy with every non-ASCII character JSON-escaped, for the AWS config file: an SDK that
    reads the file as ASCII (the SDK for Ruby without LANG, as in many container images) must not fail
    on it. The same document; `sent_form` turns it back into what STS is sent."""
    return json.dumps(json.loads(packed), separators=(",", ":"), ensure_ascii=True)


def sent_form(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def read_session_policies(agent: Agent, partition: str, account_id: str) -> SessionPolicies:
    return SessionPolicies(inline=_inline(agent.input("sessionPolicy")),
                           arns=_arns(agent.input("managedSessionPolicies"), partition, account_id))


def _inline(value: str) -> Optional[str]:
    if not value:
        return None
    try:
        document = json.loads(value)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise UserError(f"The sessionPolicy input is not valid JSON{f' (line {line})' if line else ''}: "
                        f"{getattr(exc, 'msg', exc)}.",
                        _EXAMPLE) from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise UserError("The sessionPolicy input is JSON but not an IAM policy document (an object with a Statement).",
                        _EXAMPLE)
    packed = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if any(not ("\x20" <= c <= "\xff" or c in "\t\n\r") for c in packed):
        raise UserError("The sessionPolicy input has characters outside those STS accepts (\\u0020 to \\u00FF).",
                        "Use plain ASCII in the policy.")
    if len(packed) > POLICY_MAX_CHARS:
        raise UserError(f"The sessionPolicy input is {len(packed)} characters without whitespace; AWS STS accepts at "
                        f"most {POLICY_MAX_CHARS}.",
                        "Shorten it (wildcards in resource ARNs, fewer statements) or move permissions into managed "
                        "policies listed in managedSessionPolicies.")
    return packed


def _arns(value: str, partition: str, account_id: str) -> tuple[str, ...]:
    arns: list[str] = []
    numbered = [(n, line.strip()) for n, line in enumerate(value.splitlines(), 1)
                if line.strip() and not line.strip().startswith("#")]
    for number, arn in numbered:
        where = f"The managedSessionPolicies input, line {number} ('{arn}')"
        match = parse_policy_arn(arn)
        if not match:
            raise UserError(f"{where} is not a managed policy ARN.",
                            "Use one ARN a line, e.g. arn:aws:iam::aws:policy/ReadOnlyAccess.")
        if match["partition"] != partition:
            raise UserError(f"{where} is in partition '{match['partition']}', the role in '{partition}'.",
                            "Use policies of the role's partition.")
        if match["account"] not in ("aws", account_id):
            raise UserError(f"{where} is in account {match['account']}, the main role in {account_id}.",
                            "AWS accepts only policies in the role's own account, or AWS managed policies.")
        if arn in arns:
            raise UserError(f"{where} is listed twice.", "List each policy once.")
        arns.append(arn)
    if len(arns) > POLICY_ARNS_MAX:
        raise UserError(f"The managedSessionPolicies input lists {len(arns)} policies; AWS STS accepts at most "
                        f"{POLICY_ARNS_MAX}.", "Combine policies, or use an inline sessionPolicy.")
    return tuple(arns)
