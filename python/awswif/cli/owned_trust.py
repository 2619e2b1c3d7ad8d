"""The statements of a role's trust policy that awswif owns, marked with a Sid, and how they merge
into a policy that others may have added to: --update replaces these and keeps every other
statement, so a hand-added trust (a break-glass principal, another team's connection) survives."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

from ..trust import chained_trust_statement, trust_policy

WEB_IDENTITY_SID = "AwsWifWebIdentity"
HUB_ROLE_SID = "AwsWifHubRole"
_OWNED_SIDS = (WEB_IDENTITY_SID, HUB_ROLE_SID)
VERSION = "2012-10-17"


def web_identity_statement(account_id: str, issuer: str, subjects: Sequence[str], partition: str) -> dict[str, Any]:
    (statement,) = trust_policy(account_id, issuer, subjects, partition)["Statement"]
    return {"Sid": WEB_IDENTITY_SID, **statement}


def hub_statement(hub_role_arn: str, session_tags: bool = False, source_identity: bool = False) -> dict[str, Any]:
    return {"Sid": HUB_ROLE_SID, **chained_trust_statement(hub_role_arn, session_tags, source_identity)}


def policy(statements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    found = (document or {}).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def is_owned(statement: dict[str, Any], owned: Sequence[dict[str, Any]]) -> bool:
    """Ours by its Sid; or, without a Sid, an Allow for the same principal as ours: what earlier
    versions of awswif wrote (no Sid), which --update has always replaced."""
    sid = statement.get("Sid")
    if sid in _OWNED_SIDS:
        return True
    return (not sid and statement.get("Effect") == "Allow"
            and any(statement.get("Principal") == mine.get("Principal") for mine in owned))


def merge(current: Any, owned: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The current policy with our statements replaced in place (appended when it has none)."""
    merged: list[dict[str, Any]] = []
    placed = False
    for statement in statements(current):
        if not is_owned(statement, owned):
            merged.append(statement)
        elif not placed:
            merged.extend(owned)
            placed = True
    if not placed:
        merged.extend(owned)
    return policy(merged)


def foreign(current: Any, owned: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements(current) if not is_owned(s, owned)]


def same(current: Any, desired: Any) -> bool:
    """Equal up to the order of statements (IAM keeps the order, people reorder by hand)."""
    def key(document: Any) -> list[str]:
        return sorted(json.dumps(s, sort_keys=True) for s in statements(document))
    return key(current) == key(desired)


def diff(current: Any, desired: Any, label: str) -> list[str]:
    """A unified diff of two policies, one line per JSON line, for a dry run to show."""
    def lines(document: Any) -> list[str]:
        document = json.loads(document) if isinstance(document, str) else document
        return json.dumps(document, indent=2, sort_keys=True).splitlines()
    return list(difflib.unified_diff(lines(current), lines(desired), f"{label} (now)", f"{label} (after)",
                                     lineterm="", n=2))
