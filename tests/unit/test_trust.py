"""trust.py: organization ids in every form users find them, and the hardened trust policy."""

from __future__ import annotations

import pytest

from awswif.errors import UserError
from awswif.trust import azure_devops_issuer, condition, normalize_guid, trust_policy

GUID = "01234567-89ab-cdef-0123-456789abcdef"


@pytest.mark.parametrize("form", [
    GUID, GUID.upper(), GUID.replace("-", ""), "VisualStudioOnline-0123456789ABCDEF0123456789ABCDEF", "{" + GUID + "}",
])
def test_organization_id_forms(form: str) -> None:
    assert normalize_guid(form) == GUID


@pytest.mark.parametrize("bad", ["", "contoso", GUID[:-1], "0123-4567-89ab-cdef-0123-456789abcdef"])
def test_bad_organization_ids(bad: str) -> None:
    with pytest.raises(UserError, match="not a valid organization id"):
        normalize_guid(bad)


def test_policy_pins_audience_and_subject() -> None:
    issuer = azure_devops_issuer(GUID.upper())
    policy = trust_policy("123456789012", issuer, ["sc://o/p/a", "sc://o/p/b"])
    statement = policy["Statement"][0]
    assert statement["Principal"]["Federated"] == f"arn:aws:iam::123456789012:oidc-provider/vstoken.dev.azure.com/{GUID}"
    assert statement["Condition"]["StringEquals"] == {
        f"vstoken.dev.azure.com/{GUID}:aud": "api://AzureADTokenExchange",
        f"vstoken.dev.azure.com/{GUID}:sub": ["sc://o/p/a", "sc://o/p/b"],
    }
    assert condition(issuer, ["x"])["StringEquals"][f"vstoken.dev.azure.com/{GUID}:sub"] == "x"
