"""THE RUN of AwsWifAssume, top to bottom: read inputs, get the job's OIDC token, check its
claims, assume the role, export the credentials. Every failure ends at one place, in `main`."""

from __future__ import annotations

import json
import sys
import traceback
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import requests

from . import oidc, sts
from .agent import Agent
from .background import Background
from .credentials_file import credentials_path, write_credentials_file
from .errors import UserError
from .inputs import TaskInputs, read_inputs
from .network import Network, read_network
from .retry import Deadline
from .trust import trust_policy
from .watchdog import Watchdog

# Nothing the token request does not need is imported before it leaves: the claim checks (PyJWT)
# load on the background thread while it is in flight, the diagnosis only when STS refuses
# (python -X importtime; bench/imports.py --profile).
if TYPE_CHECKING:
    from .claims import TokenClaims

ISSUER_RETIREMENT = "2027-07-01"


def main(agent: Agent, version: str) -> int:
    """The failure contract: any problem is one error and a Failed result; the exit code stays 0."""
    try:
        run(agent, version)
    except UserError as problem:
        if problem.details:
            agent.log(problem.details)
        agent.fail(str(problem), problem.what)
    except ImportError as exc:
        # Parts of the bundled code load while the token request is in flight: a damaged install
        # shows here rather than at start-up.
        if agent.debug:
            agent.log(traceback.format_exc())
        agent.fail(
            f"AwsWifAssume could not start its Python code on Python {sys.version_info[0]}.{sys.version_info[1]} "
            f"({type(exc).__name__}: {exc}). Reinstall the extension; if it persists, run with System.Debug=true "
            "and report it."
        )
    except Exception as exc:
        if agent.debug:
            agent.log(traceback.format_exc())
        agent.fail(
            f"AwsWifAssume failed unexpectedly ({type(exc).__name__}). Re-run with System.Debug=true for "
            "details and report it to the extension's maintainers."
        )
    return 0


def run(agent: Agent, version: str) -> None:
    inputs = read_inputs(agent)
    network = read_network(agent)
    deadline = Deadline(inputs.timeout_seconds)
    watchdog = Watchdog(inputs.timeout_seconds, lambda phase: _timed_out(agent, inputs, phase))
    try:
        credentials = _obtain_credentials(agent, inputs, network, deadline, watchdog, version)
    finally:
        watchdog.disarm()
    export(agent, inputs, credentials)


def _obtain_credentials(
    agent: Agent, inputs: TaskInputs, network: Network, deadline: Deadline, watchdog: Watchdog, version: str
) -> sts.AwsCredentials:
    # The AWS client takes longer to load than the token takes to arrive: load it meanwhile.
    client = Background(lambda: _load_while_waiting(inputs, network, version))

    with requests.Session() as http:

        def fresh_token() -> tuple[str, TokenClaims]:
            from . import claims as token_claims

            watchdog.phase = "waiting for the OIDC token from Azure DevOps"
            token = oidc.request_token(
                http, inputs.oidc_request_uri, inputs.access_token, inputs.connection_id, deadline, agent.log, network
            )
            agent.set_secret(token)
            return token, token_claims.read_claims(
                token, now=datetime.now(timezone.utc), organization_id=inputs.collection_id
            )

        token, claims = fresh_token()
        agent.log(f"OIDC token from the {claims.family} issuer: {claims.describe()}")
        _issuer_advice(agent, inputs, claims)

        def next_token() -> str:
            nonlocal claims
            new_token, claims = fresh_token()
            return new_token

        try:
            watchdog.phase = "loading the AWS client"
            sts_client = client.result()
            watchdog.phase = f"waiting for AWS STS ({sts_client.meta.endpoint_url})"
            return sts.assume_role(
                sts_client,
                inputs.role_arn,
                inputs.session_name,
                inputs.duration_seconds,
                token,
                next_token,
                deadline,
                agent.log,
            )
        except sts.StsRefused as refusal:
            from . import diagnose

            raise diagnose.explain(refusal, claims, inputs.role_arn, inputs.account_id, inputs.region) from None


def _load_while_waiting(inputs: TaskInputs, network: Network, version: str) -> Any:
    """On the background thread: the AWS client, then the claim checks (PyJWT) unless the token
    came first and the main thread loaded them itself (which also reports them missing)."""
    client = sts.make_client(inputs.region, inputs.sts_endpoint, f"aws-wif/{version}", network,
                             read_timeout=inputs.timeout_seconds)
    import contextlib

    with contextlib.suppress(ImportError):
        from . import claims  # noqa: F401
    return client


def _timed_out(agent: Agent, inputs: TaskInputs, phase: str) -> None:
    agent.fail(
        f"AwsWifAssume did not get credentials within timeoutSeconds ({inputs.timeout_seconds} s); it was {phase}. "
        "Re-run the job; if it persists, check the agent's network path (proxy, firewall) to that service, or "
        "raise timeoutSeconds."
    )


def _issuer_advice(agent: Agent, inputs: TaskInputs, claims: TokenClaims) -> None:
    if claims.azure_devops_issuer:
        agent.log(
            f"Note: the Azure DevOps token issuer retires on {ISSUER_RETIREMENT} for Azure Resource Manager "
            "connections; after 'Update' on the connection, AWS needs an IAM OIDC provider for the Entra issuer "
            "and the role must trust the connection's new subject (see 'awswif trust-policy')."
        )
    if agent.debug:
        policy = trust_policy(inputs.account_id, claims.issuer, [claims.subject], inputs.role_arn.split(":")[1])
        agent.log("Trust policy that admits this token:\n" + json.dumps(policy, indent=2))


def export(agent: Agent, inputs: TaskInputs, credentials: sts.AwsCredentials) -> None:
    """All or nothing: every value is checked before the first variable is written."""
    expiration = credentials.expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    variables: list[tuple[str, str, bool]] = [
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id, True),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key, True),
        ("AWS_SESSION_TOKEN", credentials.session_token, True),
        ("AWS_REGION", inputs.region, False),
        ("AWS_DEFAULT_REGION", inputs.region, False),
        ("AWS_CREDENTIAL_EXPIRATION", expiration, False),
        ("AWS_ACCOUNT_ID", inputs.account_id, False),
        ("AWS_ASSUMED_ROLE_ARN", credentials.assumed_role_arn, False),
    ]
    for name, value, _ in variables:
        if not value or "\n" in value or "\r" in value:
            raise UserError(f"AWS STS returned an unusable {name}.", "Re-run the job.")
    if inputs.credentials_folder:
        # Written before any variable, so that a refused path leaves nothing exported.
        path = credentials_path(inputs.credentials_folder, inputs.account_id, inputs.role_arn)
        write_credentials_file(path, credentials.access_key_id, credentials.secret_access_key,
                               credentials.session_token)
        # The post-job step deletes the file, even when the job fails.
        agent.set_task_variable("AWSWIF_CREDENTIALS_FILE", str(path))
        variables.append(("AWS_SHARED_CREDENTIALS_FILE", str(path), False))
    for name, value, secret in variables:
        agent.set_variable(name, value, secret=secret)
        # Also as output variables, so that later jobs and stages can read them by step name.
        agent.set_variable(name, value, secret=secret, output=True)
    agent.log(_summary(inputs, credentials, expiration))
    agent.succeed()


def _summary(inputs: TaskInputs, credentials: sts.AwsCredentials, expiration: str) -> str:
    if inputs.credentials_folder:
        return (
            f"Assumed {credentials.assumed_role_arn} (session {inputs.session_name}) until {expiration}.\n"
            "Later steps find the credentials through AWS_SHARED_CREDENTIALS_FILE (profile default), with "
            "AWS_REGION and AWS_DEFAULT_REGION, without any env: mapping; the file is deleted when the job ends."
        )
    return (
        f"Assumed {credentials.assumed_role_arn} (session {inputs.session_name}) until {expiration}.\n"
        "AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCOUNT_ID, AWS_ASSUMED_ROLE_ARN and AWS_CREDENTIAL_EXPIRATION "
        "are now in the environment of later steps. The agent does not put secret variables there: map them "
        "in each step that uses AWS (or set credentialsFile: true):\n"
        "  env:\n"
        "    AWS_ACCESS_KEY_ID: $(AWS_ACCESS_KEY_ID)\n"
        "    AWS_SECRET_ACCESS_KEY: $(AWS_SECRET_ACCESS_KEY)\n"
        "    AWS_SESSION_TOKEN: $(AWS_SESSION_TOKEN)"
    )


