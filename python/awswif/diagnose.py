"""Why STS refused, in the pipeline author's terms: the token's claims and the exact IAM change
that would admit it. This is the message users of other tools never get."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .errors import UserError
from .sts import StsRefused
from .trust import AUDIENCE, condition, provider_arn

if TYPE_CHECKING:
    from .claims import TokenClaims


def explain(refusal: StsRefused, claims: TokenClaims, role_arn: str, account_id: str, region: str) -> UserError:
    partition = role_arn.split(":")[1]
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
