"""The failure contract, one row at a time, through the real launcher with System.Debug on: one clear
error, a Failed result, exit code 0, no traceback, no secret in the output, nothing exported."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import jwt
import pytest

from awswif.trust import trust_policy

from agent_env import ACCOUNT, ROLE_ARN, agent_environment
from fakes import Issuer, Reply, Sts
from launcher import Run, run_launcher


def assert_failed(run: Run, issuer: Issuer, *fragments: str) -> str:
    assert run.returncode == 0
    assert run.view.result == "Failed", run.stdout
    assert len(run.view.errors) == 1, run.stdout
    error = run.view.errors[0]
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} not in {error!r}"
    assert run.view.variables == {} and run.view.output_variables == {}
    assert "Traceback" not in run.stdout + run.stderr
    assert run.leaks(issuer.access_token, *issuer.minted) == []
    return error


def launch(issuer: Issuer, sts: Sts | None, task: Path, env_changes: dict[str, str | None] | None = None,
           **inputs: str | None) -> Run:
    env = agent_environment(issuer, sts, task, **inputs)
    # The most verbose output is the one to check: no secret and no traceback even in debug mode.
    env["SYSTEM_DEBUG"] = "true"
    for key, value in (env_changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return run_launcher(task, env)


# -- inputs: each refused before any network call --------------------------------------------------
BAD_INPUTS = [
    ({"serviceConnection": ""}, "serviceConnection input is empty"),
    ({"serviceConnection": "my-connection"}, "not a service connection id"),
    ({"roleArn": ""}, "roleArn input is empty"),
    ({"roleArn": "$(awsRoleArn)"}, "no variable named awsRoleArn exists in this job"),
    ({"roleArn": "arn:aws:iam::12345:role/deploy"}, "is not an IAM role ARN"),
    ({"roleArn": "arn:aws:sts::123456789012:assumed-role/deploy/x"}, "assumed-role session ARN"),
    ({"roleArn": "arn:aws:iam::123456789012:user/deployer"}, "not a role"),
    ({"roleArn": "arn:aws:iam::123456789012:role/has space"}, "is not an IAM role ARN"),
    ({"region": ""}, "region input is empty"),
    ({"region": "Europe"}, "not an AWS region code"),
    ({"roleArn": "arn:aws-cn:iam::123456789012:role/deploy"}, "not in the role's partition 'aws-cn'"),
    ({"roleSessionName": "my session"}, "roleSessionName input 'my session' is not a valid session name"),
    ({"roleSessionName": "x"}, "2 to 64 characters"),
    ({"roleSessionName": "a" * 65}, "2 to 64 characters"),
    ({"durationSeconds": "an hour"}, "durationSeconds input 'an hour' is not valid"),
    ({"durationSeconds": "899"}, "from 900 to 43200"),
    ({"durationSeconds": "43201"}, "from 900 to 43200"),
    ({"stsEndpoint": "http://sts.example.com"}, "uses plain http"),
    ({"stsEndpoint": "ftp://sts.example.com"}, "is not an http(s) URL"),
    ({"stsEndpoint": "https://user:pw@sts.example.com"}, "contains a user name or password"),
    ({"timeoutSeconds": "5"}, "from 10 to 3600"),
]


# Inputs are checked before any token exists: one issuer family is enough.
ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


@ONE_FAMILY
@pytest.mark.parametrize(("inputs", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input(issuer: Issuer, sts: Sts, source_task_dir: Path, inputs: dict[str, str], message: str) -> None:
    run = launch(issuer, sts, source_task_dir, **inputs)
    assert_failed(run, issuer, message)
    assert issuer.token_requests == [] and sts.calls == []


MISSING_ENV = [
    ({"ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": None, "SECRET_SYSTEM_ACCESSTOKEN": None},
     "job access token (System.AccessToken) is not available"),
    ({"SYSTEM_OIDCREQUESTURI": None}, "did not provide System.OidcRequestUri"),
    ({"SYSTEM_OIDCREQUESTURI": "http://dev.azure.com/contoso/x/oidctoken"}, "uses plain http"),
]


@ONE_FAMILY
@pytest.mark.parametrize(("changes", "message"), MISSING_ENV, ids=[m for _, m in MISSING_ENV])
def test_missing_agent_environment(issuer: Issuer, sts: Sts, source_task_dir: Path, changes: dict, message: str) -> None:
    run = launch(issuer, sts, source_task_dir, changes)
    assert_failed(run, issuer, message)
    assert issuer.token_requests == []


@pytest.mark.parametrize("variable", ["SECRET_SYSTEM_ACCESSTOKEN", "SYSTEM_ACCESSTOKEN"])
def test_access_token_fallbacks(issuer: Issuer, sts: Sts, source_task_dir: Path, variable: str) -> None:
    changes = {"ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": None, "SECRET_SYSTEM_ACCESSTOKEN": None,
               variable: issuer.access_token}
    run = launch(issuer, sts, source_task_dir, changes)
    assert run.view.result == "Succeeded", run.stdout


# -- the token endpoint ---------------------------------------------------------------------------
def test_connection_not_referenced_by_the_job(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    other = "0d6a3f5e-1111-4222-8333-944445555666"
    run = launch(issuer, sts, source_task_dir, serviceConnection=other)
    assert_failed(run, issuer, f"service connection {other}", "does not reference it", "Pipeline permissions")
    assert len(issuer.token_requests) == 1


def test_request_is_what_azure_devops_expects(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    run = launch(issuer, sts, source_task_dir)
    assert run.view.result == "Succeeded"
    request = issuer.token_requests[0]
    assert request["query"] == {"api-version": "7.1", "serviceConnectionId": issuer.connection_id}
    assert request["headers"]["X-TFS-FedAuthRedirect"] == "Suppress"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {}


REFUSALS = [
    (Reply(401, json.dumps({"message": "TF400813: not authorized"})), "did not accept the job access token (HTTP 401)"),
    (Reply(403, json.dumps({"message": "Access denied"})), "denied this job a token"),
    (Reply(404, "{}"), "no OIDC token endpoint"),
    (Reply(302, "<html/>", {"Location": "https://login"}), "redirected the token request"),
    (Reply(400, json.dumps({"message": "No api-version was supplied"})), "rejected the token request (HTTP 400)"),
    (Reply(200, "<html><body>Sign in</body></html>", {"Content-Type": "text/html"}), "HTTP 200 with an HTML page"),
    (Reply(200, json.dumps({"oidcToken": ""})), "without a token"),
    (Reply(200, json.dumps({"oidcToken": "not-a-jwt"})), "not a well-formed JWT"),
]


@pytest.mark.parametrize(("reply", "message"), REFUSALS, ids=[m for _, m in REFUSALS])
def test_token_endpoint_refusal_is_not_retried(issuer: Issuer, sts: Sts, source_task_dir: Path, reply: Reply,
                                               message: str) -> None:
    issuer.replies = [reply]
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, message)
    assert len(issuer.token_requests) == 1 and sts.calls == []


def test_transient_token_failures_are_retried(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    issuer.replies = [Reply(503, "busy"), Reply(500, "oops"), Reply(502, "")]
    run = launch(issuer, sts, source_task_dir)
    assert run.view.result == "Succeeded", run.stdout
    assert len(issuer.token_requests) == 4
    assert run.stdout.count("Token request attempt") == 3


def test_retry_after_is_honoured(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    issuer.replies = [Reply(429, "slow down", {"Retry-After": "2"})]
    run = launch(issuer, sts, source_task_dir)
    assert run.view.result == "Succeeded", run.stdout
    first, second = issuer.token_requests
    assert second["at"] - first["at"] >= 2.0


def test_persistent_5xx_gives_up_after_five_attempts(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    issuer.replies = [Reply(500, json.dumps({"message": "internal"}))] * 6
    run = launch(issuer, sts, source_task_dir, retryMaxAttempts="5")
    assert_failed(run, issuer, "did not issue an OIDC token after 5 attempts", "HTTP 500", "re-run the job")
    assert len(issuer.token_requests) == 5
    assert run.seconds < 15


def test_unreachable_token_endpoint(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = launch(issuer, sts, source_task_dir, {"SYSTEM_OIDCREQUESTURI": f"http://127.0.0.1:{port}/x/oidctoken"},
                 retryMaxAttempts="5")
    assert_failed(run, issuer, "after 5 attempts", "could not connect", "reach 127.0.0.1")


# -- the token's claims ---------------------------------------------------------------------------
def token_reply(token: str) -> Reply:
    return Reply(200, json.dumps({"oidcToken": token}), {"Content-Type": "application/json"})


CLAIM_PROBLEMS = [
    ({"aud": "api://something-else"}, "audience is 'api://something-else'"),
    ({"exp": int(time.time()) - 60}, "already past for this agent"),
    ({"nbf": int(time.time()) + 3600}, "not valid before"),
    ({"iss": "https://token.actions.githubusercontent.com"}, "neither the Azure DevOps issuer"),
    ({"sub": None}, "no subject (sub) claim"),
]


@pytest.mark.parametrize(("claims", "message"), CLAIM_PROBLEMS, ids=[m for _, m in CLAIM_PROBLEMS])
def test_bad_claims(issuer: Issuer, sts: Sts, source_task_dir: Path, claims: dict, message: str) -> None:
    issuer.replies = [token_reply(issuer.mint(**claims))]
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, message)
    assert sts.calls == []


def test_token_for_another_organization(sts: Sts, source_task_dir: Path) -> None:
    issuer = Issuer("azure-devops")
    try:
        run = launch(issuer, sts, source_task_dir, {"SYSTEM_COLLECTIONID": "11111111-2222-3333-4444-555555555555"})
        assert_failed(run, issuer, f"issued for organization {issuer.organization_id}", "11111111-2222")
    finally:
        issuer.close()


def test_unsupported_algorithm(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    forged = jwt.encode({"iss": issuer.issuer, "sub": issuer.subject, "aud": "api://AzureADTokenExchange",
                         "exp": int(time.time()) + 600}, "k" * 32, algorithm="HS256")
    issuer.minted.append(forged)
    issuer.replies = [token_reply(forged)]
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, "signed with 'HS256'")


# -- STS ------------------------------------------------------------------------------------------
def test_no_identity_provider(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    sts.providers.clear()
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, f"account {ACCOUNT} has no IAM OIDC identity provider for the issuer {issuer.issuer}",
                  f"--url {issuer.issuer} --client-id-list api://AzureADTokenExchange")
    assert len(sts.calls) == 1


def test_provider_without_the_audience(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url, audiences=("sts.amazonaws.com",))
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, "does not list the audience", "add-client-id-to-open-id-connect-provider")


def test_role_does_not_exist(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    run = launch(issuer, sts, source_task_dir, roleArn=f"arn:aws:iam::{ACCOUNT}:role/missing")
    assert_failed(run, issuer, "or the role does not exist", f"{issuer.subject}")
    assert len(sts.calls) == 1


def test_duration_over_the_roles_maximum(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    run = launch(issuer, sts, source_task_dir, durationSeconds="43200")
    assert_failed(run, issuer, "rejected the session duration", "raise the role's maximum session duration")


def test_region_disabled(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    sts.replies = [sts.error("RegionDisabledException", "STS is not activated in this region for account", 403)]
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, "STS is not activated in eu-west-1", "Account settings")


@pytest.mark.parametrize("code", ["Throttling", "IDPCommunicationError", "ServiceUnavailable"])
def test_transient_sts_errors_are_retried(issuer: Issuer, sts: Sts, source_task_dir: Path, code: str) -> None:
    status = 503 if code == "ServiceUnavailable" else 400
    sts.replies = [sts.error(code, "try again", status), sts.error(code, "try again", status)]
    run = launch(issuer, sts, source_task_dir)
    assert run.view.result == "Succeeded", run.stdout
    assert len(sts.calls) == 3 and len(issuer.token_requests) == 1


def test_persistent_idp_communication_error_gives_up(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    sts.replies = [sts.error("IDPCommunicationError", "could not reach the issuer")] * 5
    run = launch(issuer, sts, source_task_dir, retryMaxAttempts="4")
    assert_failed(run, issuer, "did not answer successfully after 4 attempts", "IDPCommunicationError")
    assert len(sts.calls) == 4


@pytest.mark.parametrize("refusal", [
    ("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider"),
    ("ExpiredTokenException", "Token expired: current date/time must be before the expiration date/time."),
])
def test_fresh_token_once(issuer: Issuer, sts: Sts, source_task_dir: Path, refusal: tuple[str, str]) -> None:
    sts.replies = [sts.error(*refusal)]
    run = launch(issuer, sts, source_task_dir)
    assert run.view.result == "Succeeded", run.stdout
    assert len(issuer.token_requests) == 2 and len(sts.calls) == 2
    assert all(token in run.view.masked for token in issuer.minted)


def test_expired_twice_fails(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    sts.replies = [sts.error("ExpiredTokenException", "Token expired")] * 2
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, "expired twice", "clock")
    assert len(issuer.token_requests) == 2 and len(sts.calls) == 2


def test_wrong_subject_in_trust_policy(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, ["sc://contoso/infra/other"]))
    run = launch(issuer, sts, source_task_dir)
    assert_failed(run, issuer, "trust policy does not admit the token", f"sub={issuer.subject}")


# -- the launcher ---------------------------------------------------------------------------------
PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"


def python_dir(tmp_path: Path, name: str, version_glob: str) -> Path | None:
    found = sorted(PYENV.glob(f"{version_glob}/bin/python{version_glob.split('.')[0]}"))
    if not found:
        return None
    folder = tmp_path / version_glob
    folder.mkdir()
    (folder / name).symlink_to(found[-1])
    return folder


@ONE_FAMILY
def test_no_python_at_all(issuer: Issuer, sts: Sts, source_task_dir: Path, tmp_path: Path) -> None:
    env = agent_environment(issuer, sts, source_task_dir)
    node_only = tmp_path / "node-only"
    node_only.mkdir()
    env["PATH"] = str(node_only)
    run = run_launcher(source_task_dir, env)
    assert_failed(run, issuer, "needs Python 3.9 or newer", "UsePythonVersion@0")


@ONE_FAMILY
def test_too_old_pythons_are_skipped(issuer: Issuer, sts: Sts, source_task_dir: Path, tmp_path: Path) -> None:
    old2 = python_dir(tmp_path, "python3", "2.7*")
    old3 = python_dir(tmp_path, "python", "3.8*")
    if old2 is None or old3 is None:
        pytest.skip("needs pyenv's Python 2.7 and 3.8")
    env = agent_environment(issuer, sts, source_task_dir)
    env["PATH"] = os.pathsep.join([str(old2), str(old3)])
    run = run_launcher(source_task_dir, env)
    assert_failed(run, issuer, "needs Python 3.9 or newer", "python3 (too old or a stub)")
    assert run.stderr == ""


@ONE_FAMILY
@pytest.mark.parametrize("debug", ["false", "true"])
@pytest.mark.parametrize("package", ["requests", "jwt"])
def test_damaged_install_is_reported_not_crashed(issuer: Issuer, sts: Sts, vsix_task_dir: Path, tmp_path: Path,
                                                 debug: str, package: str) -> None:
    damaged = tmp_path / "AwsWifAssumeV1"
    shutil.copytree(vsix_task_dir, damaged)
    shutil.rmtree(damaged / "lib" / package)
    env = agent_environment(issuer, sts, damaged)
    env["SYSTEM_DEBUG"] = debug
    run = run_launcher(damaged, env)
    assert run.returncode == 0 and run.view.result == "Failed"
    assert len(run.view.errors) == 1
    assert "could not start its Python code" in run.view.errors[0]
    assert f"No module named '{package}'" in run.view.errors[0]
    assert ("Traceback" in run.stdout) == (debug == "true")
    assert "Traceback" not in run.stderr
    assert run.view.variables == {} and sts.calls == []
    # PyJWT loads while the token request is in flight (only requests is needed before it leaves):
    # the token may have been fetched, but it goes nowhere.
    assert issuer.token_requests == [] if package == "requests" else len(issuer.token_requests) <= 1
    assert run.leaks(issuer.access_token, *issuer.minted) == []
