"""THE RUN of AwsWifAssume, top to bottom: read inputs, get the job's OIDC token, check its
claims, assume the role (and every profile's, concurrently), export the credentials (and the
profiles' files). Every failure ends at one place, in `main`."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import requests

from . import oidc, sts
from .agent import Agent
from .background import Background
from .connection import AZURE_RM
from .errors import UserError
from .inputs import TaskInputs, read_inputs
from .network import Network, read_network
from .profiles import MAIN_PROFILE, WEB_IDENTITY, Profile, describe_duration
from .retry import Deadline
from .trust import trust_policy
from .watchdog import Watchdog

# Nothing the token request does not need is imported before it leaves: the claim checks (PyJWT)
# and the session fulfilment load on the background thread while it is in flight, the files
# writer only when files are asked for, the diagnosis only when STS refuses
# (python -X importtime; bench/imports.py --profile).
if TYPE_CHECKING:
    from .claims import TokenClaims
    from .sessions import Session

ISSUER_RETIREMENT = "2027-07-01"


def main(agent: Agent, version: str) -> int:
    """The failure contract: any problem is one error and a Failed result; the exit code stays 0."""
    try:
        run(agent, version)
    except UserError as problem:
        if problem.details:
            agent.log(problem.details)
        agent.fail(str(problem))
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
        # agent.log redacts: an exception's text may carry a response body with keys in it.
        if agent.debug:
            agent.log(traceback.format_exc())
        agent.fail(
            f"AwsWifAssume failed unexpectedly ({type(exc).__name__}). Re-run with System.Debug=true for "
            "details and report it to the extension's maintainers."
        )
    return 0


def run(agent: Agent, version: str) -> None:
    inputs = read_inputs(agent)
    if inputs.plan.refreshing:
        from . import job_shape
        from .credential_line import check_command_line, code_dir

        job_shape.check_refreshing_profiles(agent, code_dir())
        check_command_line(inputs.plan.files_folder)
    agent.log(inputs.connection.describe())
    network = read_network(agent)
    deadline = Deadline(inputs.timeout_seconds, inputs.retry_max_attempts)
    watchdog = Watchdog(inputs.timeout_seconds, lambda phase: _timed_out(agent, inputs, phase))
    try:
        sessions = _obtain_sessions(agent, inputs, network, deadline, watchdog, version)
    finally:
        watchdog.disarm()
    export(agent, inputs, sessions)


def _obtain_sessions(
    agent: Agent, inputs: TaskInputs, network: Network, deadline: Deadline, watchdog: Watchdog, version: str
) -> list[Session]:
    """The main role's session first, then one per profile (inputs.plan)."""

    def sts_client(credentials: Optional[sts.AwsCredentials] = None, region: Optional[str] = None) -> Any:
        return sts.make_client(region or inputs.region, inputs.sts_endpoint, f"aws-wif/{version}", network,
                               read_timeout=inputs.timeout_seconds, credentials=credentials)

    # The AWS client takes longer to load than the token takes to arrive: load it meanwhile, from
    # just before the token request leaves (started earlier, a thread that imports holds the GIL and
    # delays the request's own preparation; figures in docs/performance.md).
    client = Background(lambda: _load_while_waiting(sts_client))

    with requests.Session() as http:

        def fresh_token() -> tuple[str, TokenClaims]:
            from . import claims as token_claims

            watchdog.phase = "waiting for the OIDC token from Azure DevOps"
            client.start()
            token = oidc.request_token(
                http, inputs.oidc_request_uri, inputs.access_token, inputs.connection_id, deadline, agent.log, network,
                connection_input=inputs.connection.input_name,
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

        from .sessions import Fulfilment, SharedToken, assume_all, verify_all

        main = Profile(MAIN_PROFILE, inputs.role_arn, inputs.account_id, WEB_IDENTITY, inputs.duration_seconds)
        plan = inputs.plan
        chained_note = describe_duration(plan, inputs.duration_seconds)
        if chained_note:
            # A warning, so that it shows in the run's summary rather than scrolling by.
            agent.warning(chained_note)
        # What every chained AssumeRole carries, Organization and Project from the signed token.
        identity = plan.chained_identity.with_signed_names(claims.subject) if plan.chained_identity else None
        watchdog.phase = "loading the AWS client"
        web_client = client.result()
        watchdog.phase = f"waiting for AWS STS ({web_client.meta.endpoint_url})"
        sessions = assume_all(main, plan.profiles, Fulfilment(
            session_name=inputs.session_name,
            policies=plan.policies,
            web_client=web_client,
            signed_client=sts_client,
            token=SharedToken(token, next_token),
            deadline=deadline,
            log=agent.log,
            explain_web=lambda refusal, profile: _diagnose().explain(
                refusal, claims, profile.role_arn, profile.account_id, profile.region or inputs.region),
            explain_chained=lambda refusal, profile, hub: _diagnose().explain_chained(
                refusal, hub, profile.role_arn, profile.region or inputs.region, identity, profile.external_id),
            chained_identity=identity,
        ))
        if plan.verify:
            watchdog.phase = "verifying the sessions with GetCallerIdentity"
            verify_all(sessions, sts_client, deadline, agent.log)
            agent.log(f"GetCallerIdentity confirmed {len(sessions)} session{'s' if len(sessions) > 1 else ''}.")
        return sessions


def _load_while_waiting(make_client: Callable[[], Any]) -> Any:
    """On the background thread: the AWS client, then the claim checks (PyJWT) unless the token
    came first and the main thread loaded them itself (which also reports them missing)."""
    client = make_client()
    import contextlib

    with contextlib.suppress(ImportError):
        from . import claims, sessions  # noqa: F401
    return client


def _diagnose() -> Any:
    # Loaded only when STS refuses: a successful run never pays for it.
    from . import diagnose

    return diagnose


def _timed_out(agent: Agent, inputs: TaskInputs, phase: str) -> None:
    agent.fail(
        f"AwsWifAssume did not get credentials within timeoutSeconds ({inputs.timeout_seconds} s); it was {phase}. "
        "Re-run the job; if it persists, check the agent's network path (proxy, firewall) to that service, or "
        "raise timeoutSeconds."
    )


def _issuer_advice(agent: Agent, inputs: TaskInputs, claims: TokenClaims) -> None:
    # Only Azure Resource Manager connections move to the Entra issuer; AWS connections keep theirs.
    if claims.azure_devops_issuer and inputs.connection.type == AZURE_RM:
        agent.warning(
            f"The Azure DevOps token issuer retires on {ISSUER_RETIREMENT} for Azure Resource Manager "
            "connections; after 'Update' on the connection, AWS needs an IAM OIDC provider for the Entra issuer "
            "and the role must trust the connection's new subject (see 'awswif trust-policy')."
        )
    if agent.debug:
        policy = trust_policy(inputs.account_id, claims.issuer, [claims.subject], inputs.partition)
        agent.log("Trust policy that admits this token:\n" + json.dumps(policy, indent=2))


def export(agent: Agent, inputs: TaskInputs, sessions: list[Session]) -> None:
    """All or nothing: every value is checked, every secret registered and every file written
    before the first variable is set."""
    credentials = sessions[0].credentials
    expiration = _utc(credentials)
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
    for session in sessions:
        _check_usable(session)
    # Every key that goes into a file is masked before the file exists (the main role's are masked
    # again as secret variables); only the main role's become variables.
    for session in sessions if inputs.plan.profiles or inputs.credentials_folder else []:
        for key in (session.credentials.access_key_id, session.credentials.secret_access_key,
                    session.credentials.session_token):
            agent.set_secret(key)
    if inputs.plan.writes_files:
        from .aws_files import file_profiles, write_run_files

        # Written before any variable, so that a refused path leaves nothing exported.
        files = write_run_files(inputs.plan.files_folder, file_profiles(inputs, sessions),
                                _refreshing_line if inputs.plan.refreshing else None)
        # The post-job step deletes the directory, even when the job fails.
        agent.set_task_variable("AWSWIF_FILES_DIRECTORY", str(files.directory))
        variables.append(("AWS_SHARED_CREDENTIALS_FILE", str(files.credentials), False))
        variables.append(("AWS_CONFIG_FILE", str(files.config), False))
    elif inputs.credentials_folder:
        from .aws_files import write_credentials_file

        path = write_credentials_file(inputs.credentials_folder, credentials)
        # The post-job step deletes the file's directory, as it does the profiles' files.
        agent.set_task_variable("AWSWIF_FILES_DIRECTORY", str(path.parent))
        variables.append(("AWS_SHARED_CREDENTIALS_FILE", str(path), False))
    if inputs.aws_toolkit_variables:
        # The AWS Toolkit for Azure DevOps reads these with tl.getVariable when a task has no AWS
        # connection (aws-toolkit-azure-devops src/lib/awsConnectionParameters.ts): its tasks then sign
        # with this session. Every task can already read the job's secrets; this adds names, not exposure.
        # AWS.Region reaches scripts' environment as AWS_REGION, the value set above.
        variables += [
            ("AWS.AccessKeyID", credentials.access_key_id, True),
            ("AWS.SecretAccessKey", credentials.secret_access_key, True),
            ("AWS.SessionToken", credentials.session_token, True),
            ("AWS.Region", inputs.region, False),
        ]
    # Plain job variables, for this job's later steps. None of these names is declared in task.json's
    # outputVariables: the agent makes every declared name output-only (<step>.NAME), whatever
    # setvariable says (Agent.Worker/ExecutionContext.cs, SetVariable).
    for name, value, secret in variables:
        agent.set_variable(name, value, secret=secret)
    # Output variables for later jobs and stages, under the names task.json declares. They are stored
    # in the run's timeline on the server, so credentials go there only when the user asks.
    outputs = [
        ("awsAccountId", inputs.account_id, False),
        ("awsAssumedRoleArn", credentials.assumed_role_arn, False),
        ("awsRegion", inputs.region, False),
        ("awsCredentialExpiration", expiration, False),
    ]
    if inputs.output_credentials:
        outputs += [
            ("awsAccessKeyId", credentials.access_key_id, True),
            ("awsSecretAccessKey", credentials.secret_access_key, True),
            ("awsSessionToken", credentials.session_token, True),
        ]
    for name, value, secret in outputs:
        agent.set_variable(name, value, secret=secret, output=True)
    agent.log(_summary(inputs, sessions))
    _upload_summary(agent, inputs, sessions)
    agent.succeed()


def _upload_summary(agent: Agent, inputs: TaskInputs, sessions: list[Session]) -> None:
    """The Markdown summary on the run's page. The credentials are exported by now: a summary that
    cannot be written is a warning, not a failed step."""
    folder = agent.variable("Agent.TempDirectory")
    if not folder:
        return
    from . import run_summary

    text = run_summary.markdown(inputs, sessions, {s.profile.name: _utc(s.credentials) for s in sessions})
    try:
        path = run_summary.write(folder, text)
    except UserError as problem:
        agent.warning(f"{problem} The run's summary page will not show the roles.")
        return
    agent.upload_summary(str(path))


def _refreshing_line(profile: str, config: Path) -> str:
    """The profile's credential_process line: this agent's Python and the task's own code."""
    from .credential_line import code_dir, command_line

    return command_line(sys.executable, code_dir(), profile, str(config))


def _utc(credentials: sts.AwsCredentials) -> str:
    return credentials.expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_usable(session: Session) -> None:
    values = session.credentials
    for what, value in (("access key id", values.access_key_id), ("secret access key", values.secret_access_key),
                        ("session token", values.session_token), ("assumed-role ARN", values.assumed_role_arn)):
        if not value or "\n" in value or "\r" in value:
            where = "" if session.profile.name == MAIN_PROFILE else f" for profile '{session.profile.name}'"
            raise UserError(f"AWS STS returned an unusable {what}{where}.", "Re-run the job.")


def _summary(inputs: TaskInputs, sessions: list[Session]) -> str:
    credentials = sessions[0].credentials
    expiration = _utc(credentials)
    if inputs.plan.refreshing:
        roles = "\n".join(f"  {s.profile.name}: {s.credentials.assumed_role_arn}" for s in sessions)
        return (
            f"Assumed {len(sessions)} role{'s' if len(sessions) > 1 else ''} (session {inputs.session_name}); "
            f"AWS_CONFIG_FILE has a refreshing profile for each (default is the main role):\n{roles}\n"
            "AWS SDKs, the AWS CLI and Terraform get fresh credentials through credential_process before the ones "
            "they hold expire, however long a step runs. A step that uses the profiles needs the job access token "
            "mapped, and no AWS_* keys mapped (they would win over the profiles):\n"
            "  - script: terraform apply -auto-approve\n"
            "    env:\n"
            "      SYSTEM_ACCESSTOKEN: $(System.AccessToken)\n"
            "They serve later steps of this job (on this agent); the files are deleted when the job ends."
        )
    if inputs.plan.profiles:
        rows = [("Profile", "Assumed-role ARN", "Expires (UTC)")] + [
            (s.profile.name, s.credentials.assumed_role_arn, _utc(s.credentials)) for s in sessions
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        table = "\n".join(f"  {a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}" for a, b, c in rows)
        return (
            f"Assumed {len(sessions)} roles (session {inputs.session_name}):\n{table}\n"
            "Later steps use them through AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, without any env: "
            "mapping: aws --profile NAME, boto3.Session(profile_name=NAME), Terraform provider \"aws\" "
            "{ profile = NAME }, cdk --profile NAME; the default profile is the main role. "
            "The files are deleted when the job ends."
        )
    if inputs.credentials_folder:
        return (
            f"Assumed {credentials.assumed_role_arn} (session {inputs.session_name}) until {expiration}.\n"
            "Later steps find the credentials through AWS_SHARED_CREDENTIALS_FILE (profile default), with "
            "AWS_REGION and AWS_DEFAULT_REGION, without any env: mapping; the file is deleted when the job ends."
        )
    return (
        f"Assumed {credentials.assumed_role_arn} (session {inputs.session_name}) until {expiration}.\n"
        "AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCOUNT_ID, AWS_ASSUMED_ROLE_ARN and AWS_CREDENTIAL_EXPIRATION "
        "are now in the environment of later steps; later jobs read awsAccountId, awsRegion, awsAssumedRoleArn "
        "and awsCredentialExpiration through dependencies.<job>.outputs['<this step's name>.<variable>']. "
        "The agent does not put secret variables in the environment: map them "
        "in each step that uses AWS (or set credentialsFile: true):\n"
        "  env:\n"
        "    AWS_ACCESS_KEY_ID: $(AWS_ACCESS_KEY_ID)\n"
        "    AWS_SECRET_ACCESS_KEY: $(AWS_SECRET_ACCESS_KEY)\n"
        "    AWS_SESSION_TOKEN: $(AWS_SESSION_TOKEN)"
    )


