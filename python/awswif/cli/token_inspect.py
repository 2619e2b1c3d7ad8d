"""`awswif inspect-token`: what a token says and the AWS trust that would admit it, for a person
debugging a refusal. Shows claims only: never the signature, never the token itself."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..claims import decode, issuer_family, read_claims
from ..errors import UserError
from ..trust import AUDIENCE, condition, provider_host


def _when(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "(missing)"
    return datetime.fromtimestamp(value, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _relative(seconds: float) -> str:
    minutes, secs = divmod(int(abs(seconds)), 60)
    text = f"{minutes} min {secs} s" if minutes else f"{secs} s"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def describe(token: str, now: datetime) -> str:
    token = token.strip()
    if not token:
        raise UserError("No token was given.", "Pass a file holding the token, or pipe it in: awswif inspect-token -")
    header, payload = decode(token)
    issuer = payload.get("iss", "")
    subject = payload.get("sub", "")
    audience = payload.get("aud", "")
    family = issuer_family(issuer) if isinstance(issuer, str) else None
    lines = [
        f"Algorithm:  {header.get('alg', '(none)')}  key id: {header.get('kid', '(none)')}  "
        "(signature not shown; AWS verifies it)",
        f"Issuer:     {issuer or '(missing)'}"
        + (f"  [{family[0]} issuer, {'organization' if 'DevOps' in family[0] else 'tenant'} id {family[1]}]"
           if family else "  [not an Azure DevOps or Microsoft Entra issuer]"),
        f"Subject:    {subject or '(missing)'}",
        f"Audience:   {audience or '(missing)'}",
        f"Issued:     {_when(payload.get('iat'))}",
        f"Not before: {_when(payload.get('nbf'))}",
    ]
    exp = payload.get("exp")
    expires = _when(exp)
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        expires += f" ({'expires' if exp >= now.timestamp() else 'expired'} {_relative(exp - now.timestamp())}"
        iat = payload.get("iat")
        if isinstance(iat, (int, float)) and not isinstance(iat, bool):
            expires += f"; lifetime {int(exp - iat) // 60} min"
        expires += ")"
    lines.append(f"Expires:    {expires}")
    try:
        read_claims(token, now=now)
        lines.append("Checks:     the AwsWifAssume task would accept this token")
    except UserError as problem:
        lines.append(f"Checks:     the task would refuse it: {problem.what}")
    if isinstance(issuer, str) and issuer.startswith("https://") and isinstance(subject, str) and subject:
        lines += [
            "",
            f"IAM OIDC provider: URL {issuer}, audience {AUDIENCE}",
            f"Trust policy Principal: arn:aws:iam::<account id>:oidc-provider/{provider_host(issuer)}",
            "Condition that admits exactly this token:",
            json.dumps({"Condition": condition(issuer, [subject])}, indent=2),
        ]
    return "\n".join(lines) + "\n"
