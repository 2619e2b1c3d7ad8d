"""oidc.py: the token request's edge cases, with `responses` standing in for Azure DevOps."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
import responses

from awswif import oidc
from awswif.errors import UserError
from awswif.retry import Backoff, Deadline

URI = "https://dev.azure.com/contoso/p/_apis/distributedtask/hubs/build/plans/1/jobs/2/oidctoken"
FAST = Backoff(attempts=3, base=0.01, cap=0.02)


def request(backoff: Backoff = FAST, deadline: float = 30) -> tuple[str, list[str]]:
    log: list[str] = []
    with requests.Session() as http:
        token = oidc.request_token(http, URI, "job-token", "conn-id", Deadline(deadline), log.append, backoff=backoff)
    return token, log


@responses.activate
def test_success_sends_the_documented_request() -> None:
    responses.post(URI, json={"oidcToken": " a.b.c "})
    assert request()[0] == "a.b.c"
    call = responses.calls[0].request
    assert "api-version=7.1" in call.url and "serviceConnectionId=conn-id" in call.url
    assert call.headers["Authorization"] == "Bearer job-token"
    assert call.headers["X-TFS-FedAuthRedirect"] == "Suppress"


@responses.activate
def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    responses.post(URI, status=429, headers={"Retry-After": when})
    responses.post(URI, json={"oidcToken": "a.b.c"})
    start = time.monotonic()
    token, log = request()
    assert token == "a.b.c" and time.monotonic() - start >= 0.9
    assert "HTTP 429" in log[0]


@responses.activate
def test_retry_after_beyond_the_deadline_fails_at_once() -> None:
    responses.post(URI, status=429, headers={"Retry-After": "600"})
    start = time.monotonic()
    with pytest.raises(UserError, match="after 1 attempt in 0 s: HTTP 429"):
        request(deadline=20)
    assert time.monotonic() - start < 2


@responses.activate
def test_timeouts_and_resets_are_retried() -> None:
    responses.post(URI, body=requests.ConnectTimeout("slow"))
    responses.post(URI, body=requests.ConnectionError("reset by peer"))
    responses.post(URI, json={"oidcToken": "a.b.c"})
    token, log = request()
    assert token == "a.b.c" and len(log) == 2 and "timed out" in log[0]


@responses.activate
def test_huge_body_is_refused() -> None:
    responses.post(URI, body=b"x" * (oidc.MAX_BODY_BYTES + 1))
    with pytest.raises(UserError, match="more than 256 KB"):
        request()


@responses.activate
def test_server_message_is_shown_and_bounded() -> None:
    responses.post(URI, status=400, json={"message": "bad\nthing " + "x" * 1000})
    with pytest.raises(UserError) as caught:
        request()
    assert "('bad thing xxx" in caught.value.what and len(caught.value.what) < 450
    assert len(responses.calls) == 1
