"""`awswif setup` in one account: make it trust Azure DevOps (the IAM OIDC provider and a role
pinned to the connections' subjects) or a hub role (a spoke role for role chaining), idempotently.

It reads everything first and changes after: the policy ARNs are checked (iam:GetPolicy) and the
whole plan made before the first change, so a typo creates nothing. A role that already trusts
exactly what the flags say is completed (policies a failed run did not attach); anything that
differs from the flags (the trust, the session duration, the boundary, a tag's value) changes only
with --update, which replaces only awswif's own trust statements (marked with its Sid) and keeps
every other statement, so a re-run never silently rewrites a trust someone extended by hand."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..errors import UserError
from ..trust import AUDIENCE, provider_arn
from . import owned_trust
from .guardrails import Guardrails, policy_account, role_arn
from .trust_formats import ChainedSpec, TrustSpec, chained_description

Spec = Union[TrustSpec, ChainedSpec]
_DESCRIPTION = "Assumed by Azure Pipelines through workload identity federation (aws-wif)"


@dataclass
class Step:
    summary: str  # a few words for the many-accounts table
    text: str  # the log line
    action: Callable[[], Any]
    details: str = ""  # lines shown under it: what the change does to a policy


@dataclass
class Plan:
    """What setup did (or, in a dry run, would do), and what it left alone."""

    changes: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # differences that need --update
    role_arn: str = ""
    steps: list[Step] = field(default_factory=list)

    def step(self, summary: str, text: str, action: Callable[[], Any], details: str = "") -> None:
        self.steps.append(Step(summary, text, action, details))


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


def setup(iam: Any, account_id: str, spec: Spec, *, dry_run: bool, update: bool,
          log: Callable[[str], None]) -> Plan:
    """Plan against what the account has, then (unless a dry run) make the changes in order. A
    refused change raises UserError saying what was done and what a re-run does."""
    plan = Plan()
    try:
        _plan(iam, account_id, spec, update, plan, log)
    except aws_errors() as exc:
        raise UserError(f"Could not read the IAM configuration of account {account_id} ({exc}).",
                        "Nothing was changed. The credentials need iam:Get*/List* on OIDC providers, roles and "
                        "policies there.") from None
    prefix = "would " if dry_run else ""
    for number, step in enumerate(plan.steps):
        log(f"{prefix}{step.text}")
        if step.details:
            log(step.details)
        if not dry_run:
            try:
                step.action()
            except aws_errors() as exc:
                done = [s.text for s in plan.steps[:number]]
                remaining = [s.text for s in plan.steps[number:]]
                raise UserError(
                    f"AWS refused to {step.text} in account {account_id} ({exc}).",
                    f"Done before it: {'; '.join(done) or 'nothing'}. Once the cause is fixed, re-running the "
                    f"same command does what is left: {'; '.join(remaining)}.") from None
        plan.changes.append(step.text)
        plan.summaries.append(step.summary)
    return plan


def _plan(iam: Any, account_id: str, spec: Spec, update: bool, plan: Plan, log: Callable[[str], None]) -> None:
    _check_policies(iam, account_id, spec)
    if isinstance(spec, TrustSpec):
        _plan_provider(iam, account_id, spec, plan, update, log)
        owned = [owned_trust.web_identity_statement(account_id, spec.issuer, spec.subjects, spec.partition)]
        trusting = ", ".join(spec.subjects)
        description = _DESCRIPTION
    else:
        owned = [spec.trust_statement]
        trusting = f"the hub role {spec.hub_role_arn}"
        description = chained_description(spec.hub_role_arn)
    guardrails = spec.guardrails
    name = spec.role_name
    role = _get_role(iam, name)
    if role is None:
        plan.role_arn = role_arn(spec.partition, account_id, guardrails.role_path, name)
        plan.step("role", f"create role {guardrails.role_path.lstrip('/')}{name} trusting {trusting} "
                          f"(max session {spec.max_session_duration}s{_guardrail_words(guardrails)})",
                  lambda: iam.create_role(**_create_role_arguments(spec, description, owned)))
        for arn in spec.managed_policy_arns:
            plan.step("policy", f"attach policy {arn} to {name}",
                      lambda arn=arn: iam.attach_role_policy(RoleName=name, PolicyArn=arn))  # type: ignore[misc]
        return
    plan.role_arn = role["Arn"]
    if role.get("Path", "/") != guardrails.role_path:
        raise UserError(f"Role {name} exists in account {account_id} with path {role.get('Path', '/')}, "
                        f"not {guardrails.role_path}.",
                        f"IAM cannot move a role: give --role-path {role.get('Path', '/')}, or delete the role "
                        "and re-run. Nothing was changed.")
    trusts_already = _plan_trust(iam, role, owned, update, plan, log)
    _plan_role_settings(iam, role, spec, update, plan, log)
    _plan_tags(role.get("Tags", []), guardrails, f"role {name}", update, plan, log,
               lambda tags: iam.tag_role(RoleName=name, Tags=tags), shared=False)
    _plan_attachments(iam, name, spec.managed_policy_arns, trusts_already or update, plan, log)


def _guardrail_words(guardrails: Guardrails) -> str:
    words = ""
    if guardrails.permissions_boundary:
        words += f", boundary {guardrails.permissions_boundary}"
    if guardrails.tags:
        words += ", tags " + ", ".join(f"{k}={v}" for k, v in guardrails.tags)
    return words


def _create_role_arguments(spec: Spec, description: str, owned: Sequence[dict[str, Any]]) -> dict[str, Any]:
    # Boundary and tags go into CreateRole itself: SCPs that demand them deny a CreateRole without.
    arguments: dict[str, Any] = {
        "RoleName": spec.role_name,
        "Path": spec.guardrails.role_path,
        "AssumeRolePolicyDocument": json.dumps(owned_trust.policy(owned)),
        "MaxSessionDuration": spec.max_session_duration,
        "Description": description,
    }
    if spec.guardrails.permissions_boundary:
        arguments["PermissionsBoundary"] = spec.guardrails.permissions_boundary
    if spec.guardrails.tags:
        arguments["Tags"] = _tag_list(spec.guardrails.tags)
    return arguments


def _tag_list(tags: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _check_policies(iam: Any, account_id: str, spec: Spec) -> None:
    """Every policy the role is to use exists, before anything is created: a typo in the last ARN
    must not leave a role behind without its permissions."""
    wanted = [("--managed-policy-arn", arn) for arn in spec.managed_policy_arns]
    if spec.guardrails.permissions_boundary:
        wanted.append(("--permissions-boundary", spec.guardrails.permissions_boundary))
    for flag, arn in wanted:
        owner = policy_account(arn)
        if owner not in ("aws", account_id):
            raise UserError(f"{flag} {arn} is a policy of account {owner}, but the role is in {account_id}.",
                            "A role can use only AWS managed policies and its own account's: give this account's "
                            "policy ARN. Nothing was changed.")
    missing = []
    for flag, arn in wanted:
        try:
            iam.get_policy(PolicyArn=arn)
        except aws_errors() as exc:
            if _error_code(exc) != "NoSuchEntity":
                raise UserError(f"Could not check {flag} {arn} in account {account_id} ({exc}).",
                                "Nothing was changed. The credentials need iam:GetPolicy.") from None
            missing.append(f"{flag} {arn}")
    if missing:
        raise UserError(f"{'; '.join(missing)}: no such policy in account {account_id}.",
                        "Nothing was changed: create the policy there first, or correct the ARN.")


def _plan_provider(iam: Any, account_id: str, spec: TrustSpec, plan: Plan, update: bool,
                   log: Callable[[str], None]) -> None:
    arn = provider_arn(account_id, spec.issuer, spec.partition)
    existing = {p["Arn"] for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])}
    if arn not in existing:
        arguments: dict[str, Any] = {"Url": spec.issuer, "ClientIDList": [AUDIENCE]}
        if spec.guardrails.tags:
            arguments["Tags"] = _tag_list(spec.guardrails.tags)
        # No thumbprint: IAM trusts providers whose TLS chain ends at a public root CA by itself.
        plan.step("provider", f"create IAM OIDC provider {spec.issuer} (audience {AUDIENCE})",
                  lambda: iam.create_open_id_connect_provider(**arguments))
        return
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    if AUDIENCE in provider.get("ClientIDList", []):
        plan.unchanged.append(f"IAM OIDC provider {spec.issuer}")
        log(f"unchanged: IAM OIDC provider {spec.issuer}")
    else:
        # Adding an audience admits nothing by itself (the role's trust policy still decides).
        plan.step("audience", f"add audience {AUDIENCE} to IAM OIDC provider {spec.issuer}",
                  lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                                        ClientID=AUDIENCE))
    _plan_tags(provider.get("Tags", []), spec.guardrails, f"IAM OIDC provider {spec.issuer}", update, plan, log,
               lambda tags: iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=tags), shared=True)


def _get_role(iam: Any, name: str) -> Any:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except aws_errors() as exc:
        if _error_code(exc) == "NoSuchEntity":
            return None
        raise


def _attached_policies(iam: Any, name: str) -> list[str]:
    found: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        found.extend(p["PolicyArn"] for p in page.get("AttachedPolicies", []))
    return found


def _plan_trust(iam: Any, role: Any, owned: Sequence[dict[str, Any]], update: bool, plan: Plan,
                log: Callable[[str], None]) -> bool:
    """Whether the role already trusts exactly what it should; plans the change otherwise."""
    name = role["RoleName"]
    current = role.get("AssumeRolePolicyDocument", {})
    desired = owned_trust.merge(current, owned)
    if owned_trust.same(current, desired):
        plan.unchanged.append(f"role {name} trust policy")
        log(f"unchanged: role {name} trust policy")
        return True
    kept = len(owned_trust.foreign(current, owned))
    diff = "\n".join("  " + line for line in owned_trust.diff(current, desired, "trust policy"))
    if update:
        keeping = f" (keeping its {kept} other statement{'s' if kept != 1 else ''})" if kept else ""
        plan.step("trust policy", f"replace awswif's statement in the trust policy of role {name}{keeping}",
                  lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(desired)), diff)
    else:
        plan.held_back.append(f"role {name} has a different trust policy")
        log(f"left alone (needs --update): role {name} has a different trust policy; --update would change it so:\n"
            f"{diff}")
    return False


def _plan_role_settings(iam: Any, role: Any, spec: Spec, update: bool, plan: Plan,
                        log: Callable[[str], None]) -> None:
    name = role["RoleName"]
    current_duration = int(role.get("MaxSessionDuration", 3600))
    if current_duration == spec.max_session_duration:
        plan.unchanged.append(f"role {name} max session duration")
    elif update:
        plan.step("session duration", f"set the max session duration of role {name} to {spec.max_session_duration}s",
                  lambda: iam.update_role(RoleName=name, MaxSessionDuration=spec.max_session_duration))
    else:
        plan.held_back.append(f"role {name} has max session duration {current_duration}s")
        log(f"left alone (needs --update): max session duration is {current_duration}s, "
            f"not {spec.max_session_duration}s")
    wanted = spec.guardrails.permissions_boundary
    current = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    # Without --permissions-boundary a boundary someone set stays: setup never widens a role.
    if not wanted or current == wanted:
        if wanted:
            plan.unchanged.append(f"role {name} permissions boundary")
        return
    if update:
        plan.step("boundary", f"set the permissions boundary of role {name} to {wanted}",
                  lambda: iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=wanted))
    else:
        now = f"permissions boundary {current}" if current else "no permissions boundary"
        plan.held_back.append(f"role {name} has {now}")
        log(f"left alone (needs --update): role {name} has {now}, not {wanted}")


def _plan_tags(current: Sequence[dict[str, str]], guardrails: Guardrails, what: str, update: bool, plan: Plan,
               log: Callable[[str], None], tag: Callable[[list[dict[str, str]]], Any], shared: bool) -> None:
    """Missing tags are added (they were asked for and replace nothing); a tag with another value
    changes only with --update. Tags not given stay. A provider is shared by every role trusting
    its issuer (perhaps another team's), so its other values are only noted, not held against the run."""
    have = {t["Key"]: t.get("Value", "") for t in current}
    missing = [(k, v) for k, v in guardrails.tags if k not in have]
    different = [(k, v) for k, v in guardrails.tags if k in have and have[k] != v]
    if missing:
        plan.step("tags", f"tag {what} with {', '.join(f'{k}={v}' for k, v in missing)}",
                  lambda: tag(_tag_list(missing)))
    if different and update:
        plan.step("tags", f"set tags {', '.join(f'{k}={v}' for k, v in different)} on {what}",
                  lambda: tag(_tag_list(different)))
    elif different:
        values = ", ".join(f"{k}={have[k]} (not {k}={v})" for k, v in different)
        if shared:
            log(f"note: {what} has the tag {values}; left as it is (with --update it is changed)")
        else:
            plan.held_back.append(f"{what} has other tag values")
            log(f"left alone (needs --update): {what} has the tag {values}")
    if guardrails.tags and not missing and not different:
        plan.unchanged.append(f"{what} tags")


def _plan_attachments(iam: Any, name: str, wanted: Sequence[str], allowed: bool, plan: Plan,
                      log: Callable[[str], None]) -> None:
    """Attach what is missing when the role already trusts exactly this (a re-run completing an
    earlier one) or with --update; policies attached by others stay."""
    attached = _attached_policies(iam, name)
    missing = [arn for arn in wanted if arn not in attached]
    for arn in wanted:
        if arn in attached:
            plan.unchanged.append(f"policy {arn} attached")
    if not missing:
        return
    lines = [f"  attached policies of role {name}:"]
    lines += [f"  {'=' if arn in wanted else ' '} {arn}{'' if arn in wanted else ' (kept: not a --managed-policy-arn)'}"
              for arn in attached]
    lines += [f"  + {arn}" for arn in missing]
    if allowed:
        for number, arn in enumerate(missing):
            plan.step("policy", f"attach policy {arn} to {name}",
                      lambda arn=arn: iam.attach_role_policy(RoleName=name, PolicyArn=arn),  # type: ignore[misc]
                      "\n".join(lines) if number == len(missing) - 1 else "")
        return
    for arn in missing:
        plan.held_back.append(f"policy {arn} is not attached to {name}")
    log("left alone (needs --update): policies not attached while the trust policy differs:\n" + "\n".join(lines))


def aws_clients(region: Optional[str]) -> tuple[Any, str, str]:
    """IAM client, account id and partition of the caller's credentials (the normal chain)."""
    from .aws_access import Caller

    caller = Caller.sign_in(region)
    return caller.iam(), caller.account_id, caller.partition
