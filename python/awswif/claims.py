"""What an OIDC token says: decode it (the signature is STS's job), name its issuer family and
check the claims a trust policy will test, so that a bad token fails here with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

import jwt

from .errors import UserError
from .identifiers import GUID_TEXT
from .trust import AUDIENCE

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
# A token that expires within this margin would expire on its way to STS.
EXPIRY_MARGIN_SECONDS = 30
CLOCK_SKEW_SECONDS = 120

AZURE_DEVOPS = "Azure DevOps"
ENTRA = "Microsoft Entra"
_ISSUERS = (
    (AZURE_DEVOPS, re.compile(rf"^https://vstoken\.dev\.azure\.com/(?P<id>{GUID_TEXT})$")),
    (ENTRA, re.compile(rf"^https://login\.microsoftonline\.(?:com|us)/(?P<id>{GUID_TEXT})/v2\.0$")),
    (ENTRA, re.compile(rf"^https://login\.partner\.microsoftonline\.cn/(?P<id>{GUID_TEXT})/v2\.0$")),
)


@dataclass(frozen=True)
class TokenClaims:
    issuer: str
    subject: str
    audience: str
    expires: datetime
    issued: Optional[datetime]
    family: str
    # The organization id (Azure DevOps issuer) or the tenant id (Entra issuer).
    issuer_id: str
    algorithm: str

    @property
    def azure_devops_issuer(self) -> bool:
        return self.family == AZURE_DEVOPS

    @property
    def provider_host(self) -> str:
        """The issuer without https://: the IAM provider's name and the condition key prefix."""
        return self.issuer[len("https://") :]

    def describe(self) -> str:
        return (
            f"iss={self.issuer} sub={self.subject} aud={self.audience} "
            f"expires={self.expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload, unverified; raises UserError for anything that is not a JWT."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(
            token, options={"verify_signature": False, "verify_exp": False, "verify_aud": False}
        )
    except jwt.PyJWTError as exc:
        raise UserError(
            f"The OIDC token is not a well-formed JWT ({exc}).",
            "Azure DevOps returned something unexpected: retry the run; if it persists, check the "
            "agent's proxy settings.",
        ) from None
    return header, payload


def issuer_family(issuer: str) -> Optional[tuple[str, str]]:
    for family, pattern in _ISSUERS:
        match = pattern.match(issuer)
        if match:
            return family, match["id"].lower()
    return None


def read_claims(token: str, *, now: datetime, organization_id: Optional[str] = None) -> TokenClaims:
    """Check a token from Azure DevOps against what STS and a hardened trust policy need."""
    header, payload = decode(token)
    algorithm = str(header.get("alg", ""))
    if algorithm not in ALGORITHMS:
        raise UserError(
            f"The OIDC token is signed with '{algorithm or 'none'}', which AWS does not accept.",
            f"AWS accepts {', '.join(ALGORITHMS)}; the token did not come from Azure DevOps as expected.",
        )
    issuer = payload.get("iss")
    subject = payload.get("sub")
    audience = payload.get("aud")
    if isinstance(audience, list) and len(audience) == 1:
        audience = audience[0]
    if not isinstance(issuer, str) or not issuer:
        raise UserError("The OIDC token has no issuer (iss) claim.", "AWS cannot match it to an identity provider.")
    known = issuer_family(issuer)
    if known is None:
        raise UserError(
            f"The OIDC token's issuer '{issuer}' is neither the Azure DevOps issuer "
            "(https://vstoken.dev.azure.com/<organization id>) nor the Microsoft Entra issuer "
            "(https://login.microsoftonline.com/<tenant id>/v2.0).",
            "Use an Azure Resource Manager service connection with workload identity federation, or an "
            "AWS (workload identity federation) connection.",
        )
    family, issuer_id = known
    if family == AZURE_DEVOPS and organization_id and issuer_id != organization_id.lower():
        raise UserError(
            f"The OIDC token was issued for organization {issuer_id}, but this job runs in organization "
            f"{organization_id}.",
            "The token is not for this job; check the agent's proxy settings and retry.",
        )
    if not isinstance(subject, str) or not subject:
        raise UserError("The OIDC token has no subject (sub) claim.", "A trust policy could not pin it; retry the run.")
    if audience != AUDIENCE:
        raise UserError(
            f"The OIDC token's audience is {audience!r}, not '{AUDIENCE}'.",
            "Use a workload identity federation service connection: its tokens carry that audience.",
        )
    expires = _required_timestamp(payload, "exp")
    if expires.timestamp() <= now.timestamp() + EXPIRY_MARGIN_SECONDS:
        raise UserError(
            f"The OIDC token expires at {expires:%Y-%m-%dT%H:%M:%SZ}, which is already past for this agent "
            f"(its clock says {now:%Y-%m-%dT%H:%M:%SZ}).",
            "Check that the agent's clock is synchronised (NTP), then retry.",
        )
    not_before = _timestamp(payload, "nbf", required=False)
    if not_before and not_before.timestamp() > now.timestamp() + CLOCK_SKEW_SECONDS:
        raise UserError(
            f"The OIDC token is not valid before {not_before:%Y-%m-%dT%H:%M:%SZ}, but the agent's clock says "
            f"{now:%Y-%m-%dT%H:%M:%SZ}.",
            "Check that the agent's clock is synchronised (NTP), then retry.",
        )
    return TokenClaims(
        issuer=issuer,
        subject=subject,
        audience=audience,
        expires=expires,
        issued=_timestamp(payload, "iat", required=False),
        family=family,
        issuer_id=issuer_id,
        algorithm=algorithm,
    )


def _timestamp(payload: dict[str, Any], claim: str, *, required: bool) -> Optional[datetime]:
    if payload.get(claim) is None and not required:
        return None
    return _required_timestamp(payload, claim)


def _required_timestamp(payload: dict[str, Any], claim: str) -> datetime:
    value = payload.get(claim)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"The OIDC token's '{claim}' claim is missing or not a number.", "Retry the run.")
    return datetime.fromtimestamp(value, tz=timezone.utc)
