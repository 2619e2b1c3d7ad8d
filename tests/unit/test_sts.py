"""How sts.py classifies what STS answers, with the real botocore client against the STS stand-in's
scripted replies (fakes.Sts): what is retried (throttling, AWS's faults, unreadable answers, an
unreachable endpoint), what asks for a fresh token (web identity only), and what is refused at once."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from awswif import sts
from awswif.errors import UserError
from awswif.retry import Backoff, Deadline

from fakes import Reply, Sts

ROLE = "arn:aws:iam::123456789012:role/deploy"
QUICK = Backoff(base=0.01, cap=0.02)


@pytest.fixture
def server() -> Iterator[Sts]:
    stand_in = Sts()
    yield stand_in
    stand_in.close()


def web_identity(server: Sts, attempts: int = 12, tokens: list[str] | None = None) -> sts.AwsCredentials:
    client = sts.make_client("eu-west-1", server.url, "test", read_timeout=5)
    fresh = tokens if tokens is not None else []

    def new_token() -> str:
        fresh.append(f"token-{len(fresh) + 2}")
        return fresh[-1]

    return sts.assume_role(client, ROLE, "s1", 900, "token-1", new_token, Deadline(30, attempts), lambda _: None,
                           QUICK)


def error(server: Sts, code: str, status: int = 400) -> Reply:
    return server.error(code, f"scripted {code}", status)


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "RequestLimitExceeded"])
def test_throttling_is_retried_and_named_when_it_never_stops(server: Sts, code: str) -> None:
    server.replies = [error(server, code)] * 3
    with pytest.raises(UserError, match=rf"throttled the request 3 times .*{code}"):
        web_identity(server, attempts=3)
    assert len(server.calls) == 3


@pytest.mark.parametrize(("reply", "shown"), [
    (Reply(503, "<html>busy</html>"), "HTTP 503"),
    (Reply(200, "<AssumeRoleWithWebIdentityResponse><AssumeRole"), "could not be read"),
])
def test_faults_and_unreadable_answers_are_retried(server: Sts, reply: Reply, shown: str) -> None:
    server.replies = [reply, reply]
    with pytest.raises(UserError, match="did not answer successfully after 2 attempts") as failure:
        web_identity(server, attempts=2)
    assert shown in str(failure.value) or "answer" in str(failure.value)


def test_after_a_fault_the_next_answer_counts(server: Sts) -> None:
    server.replies = [error(server, "InternalFailure", 500)]
    # The retry reaches the stand-in's own checks, which refuse the made-up token: refused, not retried again.
    with pytest.raises(sts.StsRefused):
        web_identity(server)
    assert len(server.calls) == 2


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidIdentityToken", "MalformedPolicyDocument"])
def test_refusals_are_not_retried(server: Sts, code: str) -> None:
    server.replies = [error(server, code, 403)]
    with pytest.raises(sts.StsRefused) as refused:
        web_identity(server)
    assert refused.value.code == code and len(server.calls) == 1


def test_an_expired_token_is_replaced_once_for_web_identity(server: Sts) -> None:
    server.replies = [error(server, "ExpiredTokenException"), error(server, "ExpiredTokenException")]
    tokens: list[str] = []
    with pytest.raises(sts.StsRefused) as refused:
        web_identity(server, tokens=tokens)
    assert refused.value.code == "ExpiredTokenException" and tokens == ["token-2"] and len(server.calls) == 2


def test_an_expired_session_is_refused_for_a_chained_call(server: Sts) -> None:
    session = server._issue("123456789012", ROLE, "s1", 900)
    key = next(k for k, v in server.sessions.items() if v is session)
    hub = sts.AwsCredentials(key, session.secret_access_key, session.session_token, session.expiration,
                             session.assumed_role_arn)
    client = sts.make_client("eu-west-1", server.url, "test", credentials=hub, read_timeout=5)
    server.replies = [error(server, "ExpiredTokenException")]
    with pytest.raises(sts.StsRefused):
        sts.assume_role_chained(client, "arn:aws:iam::333333333333:role/spoke", "s1", 900, Deadline(30),
                                lambda _: None, QUICK)
    assert len(server.calls) == 1


def test_an_unreachable_endpoint_says_so() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = sts.make_client("eu-west-1", f"http://127.0.0.1:{port}", "test", read_timeout=2)
    with pytest.raises(UserError, match="could not be reached after 2 attempts") as failure:
        sts.assume_role(client, ROLE, "s1", 900, "token", lambda: "token", Deadline(30, 2), lambda _: None, QUICK)
    assert "127.0.0.1" in failure.value.fix


def test_the_chained_parameters_are_sent_as_given(server: Sts) -> None:
    session = server._issue("123456789012", ROLE, "s1", 900)
    key = next(k for k, v in server.sessions.items() if v is session)
    hub = sts.AwsCredentials(key, session.secret_access_key, session.session_token, session.expiration,
                             session.assumed_role_arn)
    spoke = "arn:aws:iam::333333333333:role/spoke"
    server.add_role(spoke, {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE},
                                           "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                                           "Condition": {"StringEquals": {"sts:ExternalId": "x-1"}}}]})
    client = sts.make_client("us-east-1", server.url, "test", credentials=hub, read_timeout=5)
    sts.assume_role_chained(client, spoke, "s1", 900, Deadline(30), lambda _: None, QUICK, extra={
        "Tags": [{"Key": "Team", "Value": "a b"}], "TransitiveTagKeys": ["Team"], "SourceIdentity": "me",
        "ExternalId": "x-1"})
    (call,) = server.calls
    assert call["Tags"] == [("Team", "a b")] and call["TransitiveTagKeys"] == ["Team"]
    assert call["SourceIdentity"] == "me" and call["ExternalId"] == "x-1" and call["SigningRegion"] == "us-east-1"
