"""Why STS refused, in the pipeline author's terms: the token's claims and the exact IAM change
that would admit it. This is the message users of other tools never get."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from .errors import UserError
from .identifiers import RoleArn
from .session_tags import ChainedIdentity
from .sts import StsRefused
from .trust import AUDIENCE, assume_permission_statement, chained_trust_statement, condition, provider_arn

if TYPE_CHECKING:
    from .claims import TokenClaims


def explain(refusal: StsRefused, claims: TokenClaims, role_arn: str, account_id: str, region: str) -> UserError:
    role = RoleArn.parse(role_arn)
    partition = role.partition if role else "aws"
    provider = provider_arn(account_id, claims.issuer, partition)
    token_facts = f"The token: iss={claims.issuer}, sub={claims.subject}, aud={claims.audience}."
    code, message = refusal.code, refusal.message
    lowered = message.lower()
    if code == "AccessDenied":
        block = json.dumps({"Condition": condition(claims.issuer, [claims.subject])}, indent=2)
        return UserError(
            f"AWS refused to let this pipeline assume {role_arn}: the role's trust policy does not admit the "
            f"token, or the role does not exist. {token_facts}",
            f"Give the role a trust statement with Principal {{\"Federated\": \"{provider}\"}}, Action "
            f"sts:AssumeRoleWithWebIdentity and this Condition:\n{block}\n"
            f"(awswif trust-policy prints the whole policy.)",
        )
    if code == "InvalidIdentityToken" and "no openidconnect provider" in lowered:
        return UserError(
            f"AWS account {account_id} has no IAM OIDC identity provider for the issuer {claims.issuer}.",
            f"Create one with provider URL {claims.issuer} and audience {AUDIENCE}, e.g. aws iam "
            f"create-open-id-connect-provider --url {claims.issuer} --client-id-list {AUDIENCE}; "
            f"the role's trust policy then names {provider}.",
        )
    if code == "InvalidIdentityToken" and "audience" in lowered:
        return UserError(
            f"The IAM OIDC provider for {claims.issuer} does not list the audience {claims.audience}.",
            f"Add it: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn "
            f"{provider} --client-id {AUDIENCE}.",
        )
    if code == "InvalidIdentityToken":
        return UserError(f"AWS STS rejected the OIDC token: {message} {token_facts}", "Re-run the job; if it persists, "
                         f"check the IAM OIDC provider for {claims.issuer}.")
    if code == "ValidationError" and ("duration" in lowered or "maxsessionduration" in lowered):
        return UserError(
            f"AWS STS rejected the session duration: {message}",
            "Lower the durationSeconds input (or the AWS connection's session duration), or raise the role's "
            "maximum session duration in IAM.",
        )
    if code in ("MalformedPolicyDocument", "PackedPolicyTooLarge"):
        return _policy_problem(code, message)
    if code == "RegionDisabledException":
        return UserError(
            f"STS is not activated in {region} for account {account_id}: {message}",
            "Activate the region in IAM > Account settings > Security Token Service, or use another region.",
        )
    if code == "ExpiredTokenException":
        return UserError(
            f"AWS STS found the OIDC token expired twice in a row: {message}",
            "Check that the agent's clock is synchronised (NTP), then re-run.",
        )
    return UserError(f"AWS STS refused the request: {code}: {message}", "Check the task's inputs against the message.")


def explain_chained(refusal: StsRefused, hub_role_arn: str, role_arn: str, region: str,
                    identity: Optional[ChainedIdentity] = None, external_id: Optional[str] = None) -> UserError:
    """A spoke role refused the hub's session: the statement its trust policy needs, and the hub's side."""
    code, message = refusal.code, refusal.message
    spoke = RoleArn.parse(role_arn)
    account_id = spoke.account if spoke else ""
    identity = identity or ChainedIdentity()
    if code == "AccessDenied":
        return _chained_denied(message, hub_role_arn, role_arn, account_id, identity, external_id)
    if code == "PackedPolicyTooLarge":
        return UserError(f"AWS STS found the session tags too large once packed to assume {role_arn}: {message}",
                         "Send fewer or shorter sessionTags, or set skipSessionTagging: true.")
    if code == "ValidationError" and "duration" in message.lower():
        return UserError(f"AWS STS rejected the session duration of the chained role {role_arn}: {message}",
                         "Chained sessions last at most one hour; lower durationSeconds or the role's maximum.")
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
        return UserError(f"AWS STS did not accept the main role's session to assume {role_arn}: {message}",
                         "Re-run the job; if it persists, check that the agent's clock is synchronised (NTP).")
    if code == "RegionDisabledException":
        return UserError(
            f"STS is not activated in {region} for account {account_id}: {message}",
            "Activate the region in IAM > Account settings > Security Token Service, or use another region.",
        )
    return UserError(f"AWS STS refused to assume {role_arn} with the main role's session: {code}: {message}",
                     "Check the role and its trust policy against the message.")


def _chained_denied(message: str, hub_role_arn: str, role_arn: str, account_id: str, identity: ChainedIdentity,
                    external_id: Optional[str]) -> UserError:
    tagged, sourced = bool(identity.tags), bool(identity.source_identity)
    trust = json.dumps(chained_trust_statement(hub_role_arn, tagged, sourced), indent=2)
    permission = json.dumps(assume_permission_statement([role_arn], tagged, sourced), indent=2)
    what = f"AWS refused to let the main role {hub_role_arn} assume {role_arn} (role chaining): {message.rstrip('.')}."
    # STS names the missing action in its message ("is not authorized to perform: sts:TagSession");
    # when it does not, a tagged call is refused as a whole for the same reason (IAM user guide,
    # "Passing session tags in STS": both the trust policy and the caller's permissions must allow it).
    if tagged and ("sts:TagSession" in message or "sts:AssumeRole " not in message + " "):
        return UserError(
            f"{what} The call carried session tags ({', '.join(k for k, _ in identity.tags)}), which need "
            "sts:TagSession in the spoke role's trust policy and in the main role's permissions.",
            f"Either allow tagging: give {role_arn} this trust statement\n{trust}\n"
            f"(awswif trust-policy --trust-role {hub_role_arn} --account-id {account_id} prints it) and the main "
            f"role this permission\n{permission}\nor set skipSessionTagging: true on the step to send no tags.",
        )
    if sourced and "sts:SetSourceIdentity" in message:
        return UserError(
            f"{what} The call set a source identity, which needs sts:SetSourceIdentity in the spoke role's trust "
            "policy and in the main role's permissions.",
            f"Give {role_arn} this trust statement\n{trust}\nand the main role this permission\n{permission}\n"
            "or remove sourceIdentity from the step.",
        )
    vendor = (" If the role belongs to another organization (a vendor), its trust probably requires an external "
              "id: " + ("check the line's externalId against the one the vendor gave you." if external_id else
                        "add externalId=ID (the one the vendor gave you) to the role's chainedProfiles line."))
    return UserError(
        what,
        f"Give {role_arn} a trust statement for the main role:\n{trust}\n"
        f"(awswif trust-policy --trust-role {hub_role_arn} --account-id {account_id} prints the whole policy), "
        f"and let the main role assume it with this statement in its permissions:\n{permission}\n"
        f"A sessionPolicy or managedSessionPolicies on the main role must allow sts:AssumeRole too.{vendor}",
    )


def _policy_problem(code: str, message: str) -> UserError:
    if code == "PackedPolicyTooLarge":
        return UserError(f"AWS STS found the session policies too large once packed: {message}",
                         "Shorten sessionPolicy or list fewer managedSessionPolicies (AWS packs both together).")
    return UserError(f"AWS STS rejected the sessionPolicy: {message}",
                     "Fix the policy document (Version, Statement with Effect, Action and Resource).")
