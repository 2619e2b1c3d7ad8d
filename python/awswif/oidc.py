"""Asking Azure DevOps for the job's OIDC token: the HTTP request, its retries, and what each
refusal means for the pipeline author."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import urlsplit

import requests

from .errors import UserError
from .network import DIRECT, Network, tls_advice
from .redaction import redact, remember
from .retry import Backoff, Deadline, sleep

API_VERSION = "7.1"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
# A token is a few KB; anything far larger is not the API answering.
MAX_BODY_BYTES = 256 * 1024
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
TOKEN_BACKOFF = Backoff()


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: Optional[float] = None, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        # A connection that failed (not an answer): then the network path is worth checking.
        self.unreachable = unreachable


def request_token(
    http: requests.Session,
    request_uri: str,
    access_token: str,
    connection_id: str,
    deadline: Deadline,
    log: Callable[[str], None],
    network: Network = DIRECT,
    *,
    backoff: Backoff = TOKEN_BACKOFF,
    connection_input: str = "serviceConnection",
) -> str:
    """POST to System.OidcRequestUri for a token of this service connection (`connection_input`
    names the task input that chose it, for the messages)."""
    host = urlsplit(request_uri).hostname or request_uri
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            token = _attempt(http, request_uri, access_token, connection_id, deadline, network, connection_input)
            remember(token)
            return token
        except _Transient as problem:
            wait = max(backoff.delay(attempt), problem.retry_after or 0.0)
            if not backoff.may_retry(attempt, wait, deadline):
                raise _gave_up(attempt, time.monotonic() - start, problem, host) from None
            log(f"Token request attempt {attempt} failed ({problem}); retrying in {wait:.1f}s.")
            sleep(wait)


def _gave_up(attempts: int, seconds: float, last: _Transient, host: str) -> UserError:
    what = (f"Azure DevOps did not issue an OIDC token after {attempts} attempt{'s' if attempts > 1 else ''} "
            f"in {seconds:.0f} s: {last}.")
    budget = "raise retryMaxAttempts or timeoutSeconds to let it retry longer"
    if last.unreachable:
        return UserError(what, f"Check that the agent can reach {host} (proxy and firewall settings); if it is a "
                               f"passing fault, {budget}.")
    return UserError(what, f"This is usually temporary at Azure DevOps: re-run the job, or {budget}.")


def _attempt(
    http: requests.Session, request_uri: str, access_token: str, connection_id: str, deadline: Deadline,
    network: Network, connection_input: str = "serviceConnection",
) -> str:
    try:
        response = http.post(
            request_uri,
            params={"api-version": API_VERSION, "serviceConnectionId": connection_id},
            headers={
                "Authorization": f"Bearer {access_token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                # Without it an unauthenticated call is redirected to an HTML sign-in page.
                "X-TFS-FedAuthRedirect": "Suppress",
            },
            data=b"{}",
            timeout=(min(CONNECT_TIMEOUT, max(1.0, deadline.remaining())),
                     max(1.0, min(READ_TIMEOUT, deadline.remaining()))),
            allow_redirects=False,
            stream=True,
            proxies=network.proxies_for(request_uri),
            verify=network.ca_bundle or True,
        )
        with response:
            body = _read_capped(response)
    except requests.exceptions.SSLError:
        raise UserError(tls_advice(urlsplit(request_uri).hostname or request_uri)) from None
    except requests.exceptions.ProxyError as exc:
        if "407" in str(exc):
            raise UserError(
                f"The proxy {network.agent_proxy_host or '(from HTTPS_PROXY)'} refused its credentials (HTTP 407).",
                "Check the agent's proxy user name and password.",
            ) from None
        raise _Transient(f"could not connect through the proxy: {_root_cause(exc)}", unreachable=True) from None
    except requests.Timeout:
        raise _Transient("the request timed out", unreachable=True) from None
    except requests.ConnectionError as exc:
        raise _Transient(f"could not connect: {_root_cause(exc)}", unreachable=True) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise _Transient(f"the connection broke while reading the answer: {_root_cause(exc)}") from None
    status = response.status_code
    if status == 200:
        return _token_from(body, response.headers.get("Content-Type", ""))
    if status in _TRANSIENT_STATUS:
        raise _Transient(f"HTTP {status}{_server_message(body)}", _retry_after(response.headers.get("Retry-After")))
    raise _refusal(status, body, connection_id, connection_input)


def _read_capped(response: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise UserError(
                f"The OIDC token endpoint answered with more than {MAX_BODY_BYTES // 1024} KB.",
                "That is not Azure DevOps answering: check the agent's proxy settings.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _token_from(body: bytes, content_type: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        kind = "an HTML page" if b"<html" in body[:2048].lower() else f"'{content_type or 'no content type'}'"
        raise UserError(
            f"The OIDC token endpoint answered HTTP 200 with {kind} instead of JSON.",
            "A proxy or sign-in page is in the way: check the agent's proxy settings.",
        ) from None
    token = data.get("oidcToken") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise UserError(
            "The OIDC token endpoint answered without a token (oidcToken is missing or empty).",
            "Check that the service connection uses workload identity federation, then re-run the job.",
        )
    return token.strip()


def _refusal(status: int, body: bytes, connection_id: str, connection_input: str = "serviceConnection") -> UserError:
    message = _server_message(body)
    if 300 <= status < 400:
        return UserError(
            f"Azure DevOps redirected the token request (HTTP {status}), i.e. it did not accept the job access token.",
            "Run the task inside a pipeline job; if it does, the job token may have expired (very long jobs): re-run.",
        )
    if status == 407:
        return UserError(
            "The proxy between the agent and Azure DevOps refused its credentials (HTTP 407).",
            "Check the agent's proxy user name and password (or the credentials in HTTPS_PROXY).",
        )
    if status == 400 and "no explicit reference to service connection" in message.lower():
        return UserError(
            f"Azure DevOps refused a token for service connection {connection_id}: "
            f"the job does not reference it{message}.",
            f"Name the connection literally in this task's {connection_input} input (not through a runtime "
            "variable), and allow the pipeline to use it: Project settings > Service connections > the "
            "connection > Security > Pipeline permissions.",
        )
    if status == 400:
        kind = "an AWS (workload identity federation)" if connection_input == "awsConnection" else \
            "a workload identity federation"
        return UserError(
            f"Azure DevOps rejected the token request (HTTP 400){message}.",
            f"Check that the {connection_input} input names {kind} service connection.",
        )
    if status == 401:
        return UserError(
            f"Azure DevOps did not accept the job access token (HTTP 401){message}.",
            "Run the task inside a pipeline job; if you mapped SYSTEM_ACCESSTOKEN yourself, map $(System.AccessToken).",
        )
    if status == 403:
        return UserError(
            f"Azure DevOps denied this job a token for service connection {connection_id} (HTTP 403){message}.",
            "Allow the pipeline to use the connection (Project settings > Service connections > Security), and "
            "check that the build service identity has access to it.",
        )
    if status == 404:
        return UserError(
            f"Azure DevOps has no OIDC token endpoint at System.OidcRequestUri (HTTP 404){message}.",
            "The job may have ended, or this Azure DevOps Server version does not support workload identity "
            "federation tokens.",
        )
    return UserError(f"Azure DevOps answered the token request with HTTP {status}{message}.", "Re-run the job.")


def _server_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    # An odd server may echo what it received (the job access token): never shown.
    message = redact(" ".join(message.split()))
    return f" ('{message[:300]}{'...' if len(message) > 300 else ''}')"


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _root_cause(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc) or type(exc).__name__
    return text.split(": ", 1)[-1][:200] if "object at 0x" in text else text[:200]
