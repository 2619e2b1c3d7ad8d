"""The organization the org-setup tests set up (tests/e2e/test_org_setup.py against moto's server, and
tests/unit/test_org_setup_offline.py without AWS): its ids and the flags `awswif setup` and `trust-policy`
are given, the guard rails, and its service connections as `az devops service-endpoint show` prints them."""

from __future__ import annotations

from typing import Any

MANAGEMENT = "123456789012"  # moto's account for credentials it did not issue
ORG_ID = "01234567-89ab-cdef-0123-456789abcdef"
TENANT = "11111111-2222-3333-4444-555555555555"
ADO_HOST = f"vstoken.dev.azure.com/{ORG_ID}"
ADO_FLAGS = ["--organization-id", ORG_ID, "--organization", "contoso", "--project", "infra", "--connection", "wif"]
HUB = f"arn:aws:iam::{MANAGEMENT}:role/deploy"

GUARDRAILS = ["--permissions-boundary", f"arn:aws:iam::{MANAGEMENT}:policy/ci/Boundary", "--role-path", "/ci/",
              "--tag", "team=platform", "--tag", "cost-center=42"]
ROLE = ["--role-name", "deploy", "--managed-policy-arn", f"arn:aws:iam::{MANAGEMENT}:policy/deploy"]


def endpoint(name: str, issuer: str | None, subject: str | None, kind: str = "azurerm",
             scheme: str = "WorkloadIdentityFederation") -> dict[str, Any]:
    """A connection as `az devops service-endpoint show --id ... --output json` prints it."""
    parameters: dict[str, Any] = {}
    if kind == "azurerm":
        parameters = {"serviceprincipalid": "3c8a1a92-5cf1-4c55-a4a5-7c0e5a3b2f10", "tenantid": TENANT}
        if issuer:
            parameters.update(workloadIdentityFederationIssuer=issuer, workloadIdentityFederationSubject=subject,
                              workloadIdentityFederationIssuerType="EntraID" if "microsoftonline" in issuer
                              else "AzureDevOps")
    return {
        "administratorsGroup": None,
        "authorization": {"parameters": parameters, "scheme": scheme if kind == "azurerm" else "None"},
        "createdBy": {"descriptor": "aad.NjE2NzQ5MDItMDAwMC03", "displayName": "Platform Team",
                      "id": "a8e3c3b4-7d4d-4c5a-9f71-6a1c8a2f9e55", "uniqueName": "platform@contoso.com",
                      "url": "https://spsprodweu5.vssps.visualstudio.com/A3f1d.../_apis/Identities/a8e3c3b4"},
        "data": ({"environment": "AzureCloud", "scopeLevel": "Subscription", "creationMode": "Manual",
                  "subscriptionId": "5b2c8e77-2b1e-4f4b-9e3b-0f5a6d7c8e91", "subscriptionName": "Contoso Prod",
                  "identityType": "AppRegistrationManual"} if kind == "azurerm"
                 else {"roleArn": f"arn:aws:iam::{MANAGEMENT}:role/deploy", "region": "eu-west-1"}),
        "description": "",
        "groupScopeId": None,
        "id": "0d6a3f5e-1111-4222-8333-944445555666",
        "isReady": True,
        "isShared": False,
        "name": name,
        "operationStatus": {"severity": None, "state": "Ready", "statusMessage": ""},
        "owner": "library",
        "readersGroup": None,
        "serviceEndpointProjectReferences": [{"description": "", "name": name, "projectReference": {
            "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c", "name": "infra"}}],
        "serviceManagementReference": None,
        "type": kind,
        "url": "https://management.azure.com/" if kind == "azurerm" else "https://sts.amazonaws.com/",
    }


ENTRA_SUBJECT = f"/eid1/c/pub/t/EREiIjMzREREVVVVVVVV/a/qmtmsk8IBEGcJPO0Cd7Uxw/sc/{ORG_ID}/0d6a3f5e-1111-4222-8333-944445555666"
CONNECTIONS = {
    "entra": (endpoint("wifconnectionname", f"https://login.microsoftonline.com/{TENANT}/v2.0", ENTRA_SUBJECT),
              f"login.microsoftonline.com/{TENANT}/v2.0", ENTRA_SUBJECT),
    # The Azure DevOps issuer as older connections carry it: the id in capitals, which awswif normalises.
    "azure-devops": (endpoint("wifconnectionname", f"https://vstoken.dev.azure.com/{ORG_ID.upper()}",
                              "sc://contoso/infra/wifconnectionname"), ADO_HOST, "sc://contoso/infra/wifconnectionname"),
}
