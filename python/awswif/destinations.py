"""Where a token may be sent. The job access token goes only to Azure DevOps (its Services hosts, or
the hosts the pipeline's author names in the tokenEndpointHosts input); the OIDC token only to AWS
STS (the region's endpoint, the author's stsEndpoint input, or an AWS host from the environment).

Why: an earlier step of the same job can set almost any variable (`##vso[task.setvariable]` refuses
only read-only ones, and System.OidcRequestUri and the AWS_* names are not among them), so a URL read
from a variable or the environment is never trusted for where a token goes; the task's inputs, as
written in the pipeline, are the author's."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Optional
from urllib.parse import urlsplit

from .errors import UserError

# Azure DevOps Services: dev.azure.com (System.OidcRequestUri of new organizations) and its subdomains,
# and the older <organization>.visualstudio.com.
AZURE_DEVOPS_SUFFIXES = (".dev.azure.com", ".visualstudio.com")
AZURE_DEVOPS_HOSTS = ("dev.azure.com",)
# AWS's own names for STS: the regional and global endpoints, FIPS, VPC endpoints
# (vpce-....sts.<region>.vpce.amazonaws.com), China, and the dual-stack names.
AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".api.amazonwebservices.com.cn")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
# An input's name, not a secret.
TOKEN_HOSTS_INPUT = "tokenEndpointHosts"  # noqa: S105  # nosec B105


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(value: str, what: str) -> str:
    """An https URL, or http on loopback only: the token and credentials must not cross a network
    in clear text. Messages show at most the scheme and host: the rest of a URL may hold a secret."""
    parts = urlsplit(value)
    if parts.username or parts.password or "@" in parts.netloc:
        raise UserError(f"The {what} contains a user name or password.", "Remove the credentials from the URL.")
    try:
        host = parts.hostname
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http") or not host:
        raise UserError(f"The {what} is not an http(s) URL.", "Use a full URL such as https://host/path.")
    if parts.scheme == "http" and not is_loopback(host):
        raise UserError(
            f"The {what} (host {host}) uses plain http.",
            "Use https: tokens and credentials must not travel unencrypted (http is accepted only for loopback).",
        )
    return value


def host_list(value: str) -> tuple[str, ...]:
    """The tokenEndpointHosts input: host names (or IP addresses), comma- or space-separated."""
    hosts = []
    for entry in re.split(r"[,\s]+", value.strip().lower()):
        if not entry:
            continue
        if not (_HOST_NAME.match(entry) or _is_ip(entry)):
            raise UserError(
                f"The {TOKEN_HOSTS_INPUT} input has an entry that is not a host name.",
                "List host names only, comma-separated, without scheme, port or path "
                "(e.g. tfs.contoso.com, 127.0.0.1).",
            )
        hosts.append(entry)
    return tuple(dict.fromkeys(hosts))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def is_azure_devops_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in AZURE_DEVOPS_HOSTS or host.endswith(AZURE_DEVOPS_SUFFIXES)


def is_aws_host(host: str) -> bool:
    return host.lower().rstrip(".").endswith(AWS_SUFFIXES)


def checked_token_endpoint(url: str, extra_hosts: Iterable[str], source: str = "System.OidcRequestUri") -> str:
    """System.OidcRequestUri, where the job access token is sent: https (or http on loopback) to Azure
    DevOps Services or a host the pipeline's author listed."""
    checked_url(url, source)
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if is_azure_devops_host(host) or host in {h.strip("[]") for h in extra_hosts}:
        return url
    raise UserError(
        f"{source} points at {host}, so the job access token is not sent: it goes only to Azure DevOps Services "
        f"(dev.azure.com, *.visualstudio.com) and the hosts the {TOKEN_HOSTS_INPUT} input lists.",
        f"On Azure DevOps Server, add its host name to {TOKEN_HOSTS_INPUT} (Advanced). Otherwise an earlier step "
        f"of this job changed {source}: remove that.",
    )


def checked_sts_from_environment(url: str, name: str = "AWS_ENDPOINT_URL_STS") -> str:
    """An STS endpoint from the environment: only one of AWS's own hosts (a VPC endpoint's name
    included); any other endpoint must be the pipeline author's stsEndpoint input."""
    checked_url(url, f"{name} variable")
    host = urlsplit(url).hostname or ""
    if not is_aws_host(host) or urlsplit(url).scheme != "https":
        raise UserError(
            f"The {name} variable points at {host}, which is not an AWS host, so the OIDC token is not sent "
            "there: from a variable (which an earlier step can set) only https endpoints under amazonaws.com, "
            "amazonaws.com.cn or api.aws are used.",
            "To use another STS endpoint, give it in the task's stsEndpoint input; otherwise remove the variable.",
        )
    return url


def check_resolved_sts(url: str, chosen: Optional[str]) -> None:
    """A request the AWS client is about to send: to the endpoint the task chose, or to an AWS host over
    https. Checked on every request (botocore resolves the endpoint per request from its rule set)."""
    parts = urlsplit(url)
    if chosen is not None:
        wanted = urlsplit(chosen)
        if (parts.scheme, parts.netloc.lower()) == (wanted.scheme, wanted.netloc.lower()):
            return
    elif parts.scheme == "https" and is_aws_host(parts.hostname or ""):
        return
    raise UserError(
        f"The AWS client was about to send the OIDC token to {parts.hostname}, not to the STS endpoint this task "
        "chose, so it was not sent.",
        "Remove AWS endpoint settings an earlier step made (AWS_ENDPOINT_URL*, AWS config files, ~/.aws/models) "
        "or give the endpoint in the stsEndpoint input; if it persists, report it.",
    )
