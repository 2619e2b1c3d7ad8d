"""`awswif setup`: make an AWS account trust one Azure DevOps connection, idempotently. Creates the
IAM OIDC provider and the role when missing; changes an existing role only when asked (--update),
so that a re-run never silently rewrites a trust policy someone hardened by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .trust import AUDIENCE, provider_arn, trust_policy
from .trust_formats import TrustSpec


@dataclass
class Plan:
    """What setup did (or, in a dry run, would do), and what it left alone."""

    changes: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # differences that need --update
    role_arn: str = ""


def _canonical(policy: Any) -> str:
    if isinstance(policy, str):
        policy = json.loads(policy)
    return json.dumps(policy, sort_keys=True)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def setup(iam: Any, account_id: str, spec: TrustSpec, *, dry_run: bool, update: bool,
          log: Callable[[str], None]) -> Plan:
    plan = Plan()
    prefix = "would " if dry_run else ""

    def change(text: str, action: Callable[[], Any]) -> None:
        log(f"{prefix}{text}")
        plan.changes.append(text)
        if not dry_run:
            action()

    _ensure_provider(iam, account_id, spec, change, plan, log)
    desired = trust_policy(account_id, spec.issuer, spec.subjects, spec.partition)
    role = _get_role(iam, spec.role_name)
    if role is None:
        change(
            f"create role {spec.role_name} trusting {', '.join(spec.subjects)} "
            f"(max session {spec.max_session_duration}s)",
            lambda: iam.create_role(
                RoleName=spec.role_name,
                AssumeRolePolicyDocument=json.dumps(desired),
                MaxSessionDuration=spec.max_session_duration,
                Description="Assumed by Azure Pipelines through workload identity federation (aws-wif)",
            ),
        )
        attached: set[str] = set()
        plan.role_arn = f"arn:{spec.partition}:iam::{account_id}:role/{spec.role_name}"
    else:
        plan.role_arn = role["Arn"]
        _reconcile_role(iam, role, desired, spec, update, change, plan, log)
        attached = _attached_policies(iam, spec.role_name)
    for arn in spec.managed_policy_arns:
        if arn in attached:
            plan.unchanged.append(f"policy {arn} attached")
        elif role is None or update:
            change(f"attach policy {arn} to {spec.role_name}",
                   lambda arn=arn: iam.attach_role_policy(RoleName=spec.role_name, PolicyArn=arn))  # type: ignore[misc]
        else:
            plan.held_back.append(f"policy {arn} is not attached to {spec.role_name}")
            log(f"left alone (needs --update): policy {arn} is not attached")
    return plan


def _ensure_provider(iam: Any, account_id: str, spec: TrustSpec, change: Callable[[str, Callable[[], Any]], None],
                     plan: Plan, log: Callable[[str], None]) -> None:
    arn = provider_arn(account_id, spec.issuer, spec.partition)
    existing = {p["Arn"] for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])}
    if arn not in existing:
        # No thumbprint: IAM trusts providers whose TLS chain ends at a public root CA by itself.
        change(f"create IAM OIDC provider {spec.issuer} (audience {AUDIENCE})",
               lambda: iam.create_open_id_connect_provider(Url=spec.issuer, ClientIDList=[AUDIENCE]))
        return
    audiences = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn).get("ClientIDList", [])
    if AUDIENCE in audiences:
        plan.unchanged.append(f"IAM OIDC provider {spec.issuer}")
        log(f"unchanged: IAM OIDC provider {spec.issuer}")
    else:
        # Adding an audience admits nothing by itself (the role's trust policy still decides).
        change(f"add audience {AUDIENCE} to IAM OIDC provider {spec.issuer}",
               lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=AUDIENCE))


def _get_role(iam: Any, name: str) -> Any:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except Exception as exc:
        if _error_code(exc) == "NoSuchEntity":
            return None
        raise


def _attached_policies(iam: Any, name: str) -> set[str]:
    found: set[str] = set()
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        found.update(p["PolicyArn"] for p in page.get("AttachedPolicies", []))
    return found


def _reconcile_role(iam: Any, role: Any, desired: dict[str, Any], spec: TrustSpec, update: bool,
                    change: Callable[[str, Callable[[], Any]], None], plan: Plan, log: Callable[[str], None]) -> None:
    name = spec.role_name
    if _canonical(role.get("AssumeRolePolicyDocument", {})) == _canonical(desired):
        plan.unchanged.append(f"role {name} trust policy")
        log(f"unchanged: role {name} trust policy")
    elif update:
        change(f"replace the trust policy of role {name}",
               lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(desired)))
    else:
        plan.held_back.append(f"role {name} has a different trust policy")
        current = role.get("AssumeRolePolicyDocument")
        current = json.loads(current) if isinstance(current, str) else current
        log(f"left alone (needs --update): role {name} has a different trust policy.\n"
            f"  current: {json.dumps(current, sort_keys=True)}\n  wanted:  {json.dumps(desired, sort_keys=True)}")
    current_duration = int(role.get("MaxSessionDuration", 3600))
    if current_duration == spec.max_session_duration:
        plan.unchanged.append(f"role {name} max session duration")
    elif update:
        change(f"set the max session duration of role {name} to {spec.max_session_duration}s",
               lambda: iam.update_role(RoleName=name, MaxSessionDuration=spec.max_session_duration))
    else:
        plan.held_back.append(f"role {name} has max session duration {current_duration}s")
        log(f"left alone (needs --update): max session duration is {current_duration}s, "
            f"not {spec.max_session_duration}s")


def aws_clients(region: str | None) -> tuple[Any, str, str]:
    """IAM client, account id and partition of the caller's credentials (the normal chain)."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ClientError

    session = botocore.session.Session()
    region = region or session.get_config_variable("region") or "us-east-1"
    try:
        sts: Any = session.create_client("sts", region_name=region)
        identity = sts.get_caller_identity()
        iam = session.create_client("iam", region_name=region)
    except (BotoCoreError, ClientError) as exc:
        raise UserError(
            f"Could not use your AWS credentials ({exc}).",
            "Sign in first (aws sso login, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) with "
            "permission to manage IAM OIDC providers and roles.",
        ) from None
    return iam, identity["Account"], identity["Arn"].split(":")[1]
