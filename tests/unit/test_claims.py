"""claims.py: issuer families and claim checks, on tokens signed by a real key."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from awswif.claims import AZURE_DEVOPS, ENTRA, issuer_family, read_claims
from awswif.errors import UserError

from fakes import Issuer


@pytest.mark.parametrize("family", ["azure-devops", "entra"])
def test_both_families(family: str) -> None:
    issuer = Issuer(family)
    try:
        claims = read_claims(issuer.mint(), now=datetime.now(timezone.utc), organization_id=issuer.organization_id.upper())
        assert claims.family == (AZURE_DEVOPS if family == "azure-devops" else ENTRA)
        assert claims.subject == issuer.subject
        assert claims.provider_host == issuer.issuer[len("https://"):]
        assert claims.issuer_id == (issuer.organization_id if family == "azure-devops" else issuer.tenant_id)
    finally:
        issuer.close()


def test_issuer_families() -> None:
    assert issuer_family("https://login.microsoftonline.us/01234567-89ab-cdef-0123-456789abcdef/v2.0")
    assert issuer_family("https://vstoken.dev.azure.com/01234567-89ab-cdef-0123-456789abcdef/") is None
    assert issuer_family("https://vstoken.dev.azure.com.evil.com/01234567-89ab-cdef-0123-456789abcdef") is None
    assert issuer_family("https://sts.windows.net/01234567-89ab-cdef-0123-456789abcdef/") is None


def test_audience_as_single_item_list() -> None:
    issuer = Issuer()
    try:
        assert read_claims(issuer.mint(aud=["api://AzureADTokenExchange"]), now=datetime.now(timezone.utc)).audience == "api://AzureADTokenExchange"
        with pytest.raises(UserError, match="audience"):
            read_claims(issuer.mint(aud=["a", "b"]), now=datetime.now(timezone.utc))
    finally:
        issuer.close()


def test_expiry_margin() -> None:
    issuer = Issuer()
    # The token's times and "now" from one clock reading, so that the margins are exact.
    now = datetime.now(timezone.utc)
    try:
        with pytest.raises(UserError, match="already past"):
            read_claims(issuer.mint(exp=int(now.timestamp()) + 10), now=now)
        assert read_claims(issuer.mint(exp=int(now.timestamp()) + 120), now=now)
        with pytest.raises(UserError, match="'exp' claim"):
            read_claims(issuer.mint(exp="soon"), now=now)
    finally:
        issuer.close()
