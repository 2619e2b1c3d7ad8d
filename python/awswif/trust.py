"""The AWS side of the trust: the IAM OIDC provider a token needs and the trust-policy condition
that admits exactly that token. Used by the task's diagnostics and by the CLI."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .errors import UserError

# The audience of every Azure DevOps workload identity token, whatever the issuer.
AUDIENCE = "api://AzureADTokenExchange"

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def normalize_guid(value: str, what: str = "organization id") -> str:
    """Accept a GUID in the forms users find it: SYSTEM_COLLECTIONID, the
    VisualStudioOnline-<32 hex> resource group name, with or without dashes or braces."""
    raw = value.strip().strip("{}").lower()
    if raw.startswith("visualstudioonline-"):
        raw = raw[len("visualstudioonline-") :]
    compact = raw.replace("-", "")
    if not _HEX32.match(compact) or (raw != compact and len(raw) != 36):
        raise UserError(
            f"'{value}' is not a valid {what}.",
            "Give the GUID (e.g. 01234567-89ab-cdef-0123-456789abcdef), its 32 hex digits, or the "
            "VisualStudioOnline-<32 hex> resource group name; a pipeline prints it with echo $(System.CollectionId).",
        )
    return f"{compact[:8]}-{compact[8:12]}-{compact[12:16]}-{compact[16:20]}-{compact[20:]}"


def azure_devops_issuer(organization_id: str) -> str:
    return f"https://vstoken.dev.azure.com/{normalize_guid(organization_id)}"


def entra_issuer(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{normalize_guid(tenant_id, 'tenant id')}/v2.0"


def azure_devops_subject(organization: str, project: str, connection: str) -> str:
    return f"sc://{organization}/{project}/{connection}"


def provider_host(issuer: str) -> str:
    return issuer.split("://", 1)[-1].rstrip("/")


def provider_arn(account_id: str, issuer: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{provider_host(issuer)}"


def condition(issuer: str, subjects: Sequence[str]) -> dict[str, Any]:
    """StringEquals on both aud and sub: aud alone is the same for every connection of every
    organization, so a policy without sub would admit them all."""
    host = provider_host(issuer)
    sub: Any = subjects[0] if len(subjects) == 1 else list(subjects)
    return {"StringEquals": {f"{host}:aud": AUDIENCE, f"{host}:sub": sub}}


def trust_policy(account_id: str, issuer: str, subjects: Sequence[str], partition: str = "aws") -> dict[str, Any]:
    if not subjects:
        raise UserError("No subject was given for the trust policy.", "Give at least one --subject.")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn(account_id, issuer, partition)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition(issuer, subjects),
            }
        ],
    }


def chained_trust_policy(hub_role_arn: str) -> dict[str, Any]:
    """A spoke role's trust policy: only the hub role may assume it (role chaining), with the
    hub's assumed-role session. Naming the role, not the account root, keeps every other principal
    of the hub account out whatever their IAM permissions say."""
    return {
        "Version": "2012-10-17",
        "Statement": [chained_trust_statement(hub_role_arn)],
    }


def chained_actions(session_tags: bool = False, source_identity: bool = False) -> list[str]:
    """What the hub role's session does on a spoke: AssumeRole, passing session tags and setting a
    source identity (IAM user guide: each needs its own action in the trust policy and in the
    caller's permissions, or STS refuses the whole call)."""
    return (["sts:AssumeRole"] + (["sts:TagSession"] if session_tags else [])
            + (["sts:SetSourceIdentity"] if source_identity else []))


def chained_trust_statement(hub_role_arn: str, session_tags: bool = False,
                            source_identity: bool = False) -> dict[str, Any]:
    actions = chained_actions(session_tags, source_identity)
    return {"Effect": "Allow", "Principal": {"AWS": hub_role_arn},
            "Action": actions[0] if len(actions) == 1 else actions}


def assume_permission_statement(spoke_role_arns: Sequence[str], session_tags: bool = False,
                                source_identity: bool = False) -> dict[str, Any]:
    """The hub role's own permission to assume its spokes (cross-account AssumeRole needs both sides)."""
    resource: Any = spoke_role_arns[0] if len(spoke_role_arns) == 1 else list(spoke_role_arns)
    actions = chained_actions(session_tags, source_identity)
    return {"Effect": "Allow", "Action": actions[0] if len(actions) == 1 else actions, "Resource": resource}
