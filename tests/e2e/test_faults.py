"""Fault injection against the task as shipped (extracted from the built .vsix), with System.Debug on
so that the most verbose output is the one checked for leaks. Each row: the fault, the outcome
(success after retrying, or one clear failure), the attempts made, and a bound on the time taken."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent_env import agent_environment
from fakes import Issuer, Reply, Sts
from launcher import Run, run_launcher

pytestmark = pytest.mark.parametrize("issuer", ["entra"], indirect=True)

JSON = {"Content-Type": "application/json"}


@dataclass
class Fault:
    name: str
    token_replies: list[Reply] = field(default_factory=list)
    sts_replies: list[tuple[str, str, int]] = field(default_factory=list)  # code, message, status
    succeeds: bool = True
    token_requests: int = 1
    sts_calls: int = 1
    max_seconds: float = 10.0
    message: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    issuer_delay: float = 0.0
    sts_delay: float = 0.0
    sts_raw: list[Reply] = field(default_factory=list)


FAULTS = [
    Fault("token: reset mid-response", [Reply(200, json.dumps({"oidcToken": "x" * 4000}), JSON, cut=True)], token_requests=2),
    Fault("token: connection dropped before answering", [Reply(drop=True)], token_requests=2),
    Fault("token: 429 with Retry-After", [Reply(429, "", {"Retry-After": "1"})], token_requests=2),
    Fault("token: 429 without Retry-After", [Reply(429, "")] * 2, token_requests=3),
    Fault("token: 500, 502, 503", [Reply(500, "{}"), Reply(502, ""), Reply(503, "")], token_requests=4),
    Fault("token: 503 five times", [Reply(503, "")] * 5, succeeds=False, token_requests=5, sts_calls=0,
          message="did not issue an OIDC token after 5 attempts", inputs={"retryMaxAttempts": "5"}),
    Fault("token: 302 to a sign-in page", [Reply(302, "<html>sign in</html>", {"Location": "https://login/"})],
          succeeds=False, sts_calls=0, message="redirected the token request"),
    Fault("token: 200 with HTML", [Reply(200, "<html><body>proxy login</body></html>", {"Content-Type": "text/html"})],
          succeeds=False, sts_calls=0, message="HTTP 200 with an HTML page"),
    Fault('token: 200 with {"oidcToken": ""}', [Reply(200, json.dumps({"oidcToken": ""}), JSON)],
          succeeds=False, sts_calls=0, message="without a token"),
    Fault("token: 10 MB body", [Reply(200, b"{" + b" " * 10_000_000 + b"}", JSON)],
          succeeds=False, sts_calls=0, message="more than 256 KB"),
    Fault("token: slower than timeoutSeconds", inputs={"timeoutSeconds": "10"}, issuer_delay=30,
          succeeds=False, sts_calls=0, max_seconds=14, message="timeoutSeconds (10 s); it was waiting for the OIDC token"),
    Fault("sts: Throttling twice", sts_replies=[("Throttling", "Rate exceeded", 400)] * 2, sts_calls=3),
    Fault("sts: 500 InternalFailure twice", sts_replies=[("InternalFailure", "oops", 500)] * 2, sts_calls=3),
    Fault("sts: IDPCommunicationError three times", sts_replies=[("IDPCommunicationError", "no jwks", 400)] * 3,
          sts_calls=4),
    Fault("sts: IDPCommunicationError four times", sts_replies=[("IDPCommunicationError", "no jwks", 400)] * 4,
          succeeds=False, sts_calls=4, message="after 4 attempts", inputs={"retryMaxAttempts": "4"}),
    # Retries are bounded by time and retryMaxAttempts (12 by default, as configure-aws-credentials),
    # not by a fixed count: six throttled answers are ridden out within the default budget.
    Fault("sts: Throttling six times", sts_replies=[("Throttling", "Rate exceeded", 400)] * 6, sts_calls=7,
          max_seconds=30, inputs={"timeoutSeconds": "600"}),
    Fault("sts: Throttling past retryMaxAttempts", sts_replies=[("Throttling", "Rate exceeded", 400)] * 3,
          succeeds=False, sts_calls=3, inputs={"retryMaxAttempts": "3"},
          message="AWS STS throttled the request 3 times in"),
    Fault("sts: Couldn't retrieve verification key", sts_replies=[
        ("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider", 400)],
          token_requests=2, sts_calls=2),
    Fault("sts: ExpiredTokenException", sts_replies=[("ExpiredTokenException", "Token expired", 400)],
          token_requests=2, sts_calls=2),
    Fault("sts: reset mid-response", sts_raw=[Reply(200, "<AssumeRoleWithWebIdentityResponse>" + " " * 4000,
                                                    {"Content-Type": "text/xml"}, cut=True)], sts_calls=2),
    Fault("sts: connection dropped before answering", sts_raw=[Reply(drop=True)], sts_calls=2),
    # XML that is not STS's error shape (a gateway's own answer): botocore finds no error code, so the
    # status names the problem (it was "Unknown").
    Fault("sts: a gateway's XML 503 four times", sts_raw=[Reply(503, "<?xml version='1.0'?><Gateway>busy</Gateway>",
                                                               {"Content-Type": "text/xml"})] * 4,
          succeeds=False, sts_calls=4, message="after 4 attempts in", inputs={"retryMaxAttempts": "4"}),
    Fault("sts: slower than timeoutSeconds", inputs={"timeoutSeconds": "10"}, sts_delay=30, succeeds=False,
          max_seconds=14, message="timeoutSeconds (10 s); it was waiting for AWS STS"),
]


def check(run: Run, issuer: Issuer, sts: Sts, fault: Fault) -> None:
    assert run.returncode == 0
    assert run.view.result == ("Succeeded" if fault.succeeds else "Failed"), run.stdout
    if fault.succeeds:
        assert run.view.errors == []
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= run.view.secret_variables
    else:
        assert len(run.view.errors) == 1 and fault.message in run.view.errors[0], run.view.errors
        assert run.view.variables == {} and run.view.output_variables == {}
    assert len(issuer.token_requests) == fault.token_requests
    assert len([c for c in sts.calls if c["Action"] == "AssumeRoleWithWebIdentity"]) == fault.sts_calls
    assert run.seconds < fault.max_seconds, f"{run.seconds:.1f}s"
    assert "Traceback" not in run.stdout + run.stderr
    secrets = [issuer.access_token, *issuer.minted,
               *(run.view.variables.get(n, "") for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))]
    assert run.leaks(*secrets) == []


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault(issuer: Issuer, sts: Sts, vsix_task_dir: Path, fault: Fault) -> None:
    issuer.replies = list(fault.token_replies)
    issuer.delay = fault.issuer_delay
    sts.replies = [sts.error(code, message, status, sender=status < 500) for code, message, status in fault.sts_replies]
    sts.replies += fault.sts_raw
    sts.delay = fault.sts_delay
    env = agent_environment(issuer, sts, vsix_task_dir, **fault.inputs)
    env["SYSTEM_DEBUG"] = "true"
    check(run_launcher(vsix_task_dir, env), issuer, sts, fault)


def test_connection_refused(issuer: Issuer, sts: Sts, vsix_task_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = agent_environment(issuer, sts, vsix_task_dir, retryMaxAttempts="5")
    env["SYSTEM_DEBUG"] = "true"
    env["SYSTEM_OIDCREQUESTURI"] = f"http://127.0.0.1:{port}/p/_apis/distributedtask/hubs/build/plans/x/jobs/y/oidctoken"
    run = run_launcher(vsix_task_dir, env)
    check(run, issuer, sts, Fault("refused", succeeds=False, token_requests=0, sts_calls=0,
                                  message="after 5 attempts in"))
    assert "could not connect" in run.view.errors[0] and "reach 127.0.0.1" in run.view.errors[0]
    assert run.stdout.count("Token request attempt") == 4
