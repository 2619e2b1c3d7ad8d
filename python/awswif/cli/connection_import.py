"""`--from-connection FILE|-`: the issuer and subject of a service connection, read from the JSON
that `az devops service-endpoint show --id <id> --organization <url> --project <project>` prints,
so nobody copies a subject by hand. An Azure RM connection with workload identity federation
carries both in authorization.parameters (workloadIdentityFederationIssuer, ...Subject), with either
issuer: https://vstoken.dev.azure.com/<organization id> (subject sc://<org>/<project>/<name>) or
https://login.microsoftonline.com/<tenant id>/v2.0 (subject /eid1/c/pub/t/.../sc/<org id>/<id>).
This extension's AWS connection (type AwsWif) carries neither: Azure DevOps issues its tokens, so
the organization's id and name come from flags and the project and name from the JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, TextIO

from ..connection import ENDPOINT_TYPE as AWS_ENDPOINT_TYPE
from ..errors import UserError
from ..trust import azure_devops_issuer, azure_devops_subject, entra_issuer

_ADO_ISSUER = re.compile(r"^https://vstoken\.dev\.azure\.com/(?P<id>[^/]+)/?$")
_ENTRA_ISSUER = re.compile(r"^https://login\.microsoftonline\.com/(?P<id>[^/]+)/v2\.0/?$")
_ADO_SUBJECT = re.compile(r"^sc://[^/]+/[^/]+/.+$")
_ENTRA_SUBJECT = re.compile(r"^/eid1/.+/sc/[0-9a-fA-F-]{36}/[0-9a-fA-F-]{36}$")
_SHOW = "az devops service-endpoint show --id <connection id> --organization <url> --project <project> --output json"


@dataclass(frozen=True)
class ImportedConnection:
    source: str  # the file, for messages
    name: str
    type: str
    issuer: Optional[str]  # None for an AwsWif connection
    subject: Optional[str]
    projects: tuple[str, ...]  # the projects that share it, for an AwsWif connection's subjects

    @property
    def is_aws(self) -> bool:
        return self.type.lower() == AWS_ENDPOINT_TYPE.lower()


def read_connection(source: str, stdin: TextIO) -> ImportedConnection:
    where = "standard input" if source == "-" else source
    try:
        if source == "-":
            text = stdin.read()
        else:
            with open(source, encoding="utf-8-sig") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Cannot read --from-connection {where} ({exc}).", f"Save the output of: {_SHOW}") from None
    try:
        document: Any = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--from-connection {where} is not JSON ({exc}).", f"Save the output of: {_SHOW}") from None
    if isinstance(document, list) and len(document) == 1:
        document = document[0]  # `az devops service-endpoint list --query "[?name=='x']"` prints a list of one
    if not isinstance(document, dict) or "authorization" not in document or "name" not in document:
        raise UserError(f"--from-connection {where} is not one service connection.",
                        f"Give the output of: {_SHOW} (one connection a file; repeat the flag for several).")
    return _connection(where, document)


def _connection(where: str, document: dict[str, Any]) -> ImportedConnection:
    name, kind = str(document.get("name", "")), str(document.get("type", ""))
    authorization = document.get("authorization") or {}
    parameters = authorization.get("parameters") or {}
    issuer = parameters.get("workloadIdentityFederationIssuer")
    subject = parameters.get("workloadIdentityFederationSubject")
    projects = tuple(str(((ref or {}).get("projectReference") or {}).get("name", ""))
                     for ref in document.get("serviceEndpointProjectReferences") or [])
    if kind.lower() == AWS_ENDPOINT_TYPE.lower():
        if not [p for p in projects if p]:
            raise UserError(f"--from-connection {where}: the connection '{name}' lists no project.",
                            f"Save the full output of: {_SHOW}")
        return ImportedConnection(where, name, kind, None, None, tuple(p for p in projects if p))
    if not issuer or not subject:
        scheme = authorization.get("scheme", "")
        raise UserError(f"--from-connection {where}: the connection '{name}' (type {kind}, scheme {scheme}) has no "
                        "workload identity federation issuer and subject.",
                        "Use a workload identity federation connection (an Azure RM connection that uses a secret: "
                        "Edit > Convert), or one whose creation has finished (isReady true).")
    return ImportedConnection(where, name, kind, _issuer(where, str(issuer)),
                              _subject(where, str(issuer), str(subject)), projects)


def _issuer(where: str, issuer: str) -> str:
    """The issuer in awswif's normal form (the GUID lower-case, with dashes), which the provider's
    URL and the trust policy's condition keys must match exactly."""
    ado, entra = _ADO_ISSUER.match(issuer), _ENTRA_ISSUER.match(issuer)
    if ado:
        return azure_devops_issuer(ado["id"])
    if entra:
        return entra_issuer(entra["id"])
    raise UserError(f"--from-connection {where}: the issuer '{issuer}' is neither Azure DevOps' "
                    "(https://vstoken.dev.azure.com/<organization id>) nor Entra's "
                    "(https://login.microsoftonline.com/<tenant id>/v2.0).",
                    "Check that the file is the connection's JSON, unedited.")


def _subject(where: str, issuer: str, subject: str) -> str:
    pattern, form = ((_ADO_SUBJECT, "sc://<organization>/<project>/<connection>") if _ADO_ISSUER.match(issuer)
                     else (_ENTRA_SUBJECT, "/eid1/c/pub/t/.../sc/<organization id>/<connection id>"))
    if not pattern.match(subject):
        raise UserError(f"--from-connection {where}: the subject '{subject}' does not have this issuer's form {form}.",
                        "Check that the file is the connection's JSON, unedited.")
    return subject


def issuer_and_subjects(connections: Sequence[ImportedConnection], organization_id: Optional[str],
                        organization: Optional[str]) -> tuple[str, list[str]]:
    """One issuer for all the connections (one trust policy pins one provider) and their subjects."""
    issuers: dict[str, str] = {}
    subjects: list[str] = []
    for connection in connections:
        if connection.is_aws:
            if not organization_id or not organization:
                raise UserError(f"--from-connection {connection.source}: '{connection.name}' is an AWS connection, "
                                "whose JSON has no issuer.",
                                "Add --organization-id and --organization (the organization's name, as in "
                                "dev.azure.com/<organization>); the project and connection names come from the file.")
            issuers[azure_devops_issuer(organization_id)] = connection.source
            subjects += [azure_devops_subject(organization, project, connection.name)
                         for project in connection.projects]
        else:
            if organization_id or organization:
                raise UserError(f"--from-connection {connection.source} has the issuer and subject already.",
                                "Drop --organization-id and --organization.")
            issuers[str(connection.issuer)] = connection.source
            subjects.append(str(connection.subject))
    if len(issuers) > 1:
        listed = ", ".join(f"{i} ({s})" for i, s in issuers.items())
        raise UserError(f"The connections have different issuers: {listed}.",
                        "One role trusts one issuer: set up each issuer's connections with their own role "
                        "(--role-name).")
    return next(iter(issuers)), list(dict.fromkeys(subjects))
