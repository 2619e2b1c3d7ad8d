"""`awswif credential-process`: what a profile's `credential_process` line runs in a later step.
Every AWS SDK, the AWS CLI and Terraform call it again shortly before the credentials it printed
expire, so a job outlives any one OIDC token and any one session. Each call reads the non-secret
record the task wrote for the profile (`[awswif NAME]` in the config file), asks Azure DevOps for a
fresh OIDC token with the calling step's SYSTEM_ACCESSTOKEN, assumes the role, and prints the
credential_process JSON on stdout. Nothing is cached and nothing is written to disk.

The failure contract differs from the task's: the caller is an SDK, not the agent, so a failure is
one line on stderr (the SDK shows it in its own error) and exit code 1, with nothing on stdout."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional, TextIO

import requests

from . import oidc, sts
from .agent import Agent
from .background import Background
from .credential_line import ENTRY_SCRIPT, check_command_line, code_dir, command_line  # noqa: F401  (its API)
from .destinations import checked_token_endpoint, checked_url
from .errors import UserError
from .identifiers import GUID
from .network import Network, read_network
from .profile_record import ProfileRecord, read_record
from .profiles import CHAINED, WEB_IDENTITY
from .redaction import redact, remember
from .retry import Deadline

# As in the task (task.py): the claim checks (PyJWT) load on the background thread while the token
# request is in flight, after the AWS client; the diagnosis only when STS refuses.
if TYPE_CHECKING:
    from .claims import TokenClaims

COMMAND = "credential-process"
USAGE = f"Usage: awswif {COMMAND} --profile NAME --config FILE."
# The AWS SDK for Go (Terraform) kills a credential process after one minute; retries stop before.
DEADLINE_SECONDS = 45
ENV_LINE = "env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)"


# -- a refresh ---------------------------------------------------------------------------------------
def _arguments(args: list[str]) -> tuple[str, str]:
    """--profile NAME --config FILE, both required; argparse would exit 2 with a usage block."""
    found: dict[str, str] = {}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        name, equals, inline = flag.partition("=")
        if name not in ("--profile", "--config") or (not equals and not rest):
            raise UserError(f"Unexpected argument '{flag}'.", USAGE)
        found[name] = inline if equals else rest.pop(0)
    if not found.get("--profile") or not found.get("--config"):
        raise UserError("--profile and --config are required.", USAGE)
    return found["--profile"], found["--config"]


def credentials_for(record: ProfileRecord, source: Optional[ProfileRecord], environ: Mapping[str, str],
                    log: Optional[TextIO] = None) -> sts.AwsCredentials:
    """A fresh session of the profile's role, with the task's retries and claim checks: a fresh OIDC
    token, then AssumeRoleWithWebIdentity; for a chained profile, that for its source profile (the
    main role, with its session policies), then AssumeRole with that session. Retry notes go to
    `log` (stderr with System.Debug, else nowhere)."""

    def note(text: str) -> None:
        if log is not None:
            log.write(redact(text) + "\n")

    # The agent's public variables (proxy, CA bundle) are in every step's environment. Logging
    # commands from the reader (setsecret for a mapped proxy password) go nowhere: stdout carries
    # only the JSON, and the agent does not read a credential process's output.
    network = read_network(Agent(environ, io.StringIO()))
    deadline = Deadline(DEADLINE_SECONDS, record.retry_max_attempts)
    if record.kind == CHAINED:
        if source is None or source.kind != WEB_IDENTITY:
            raise UserError(f"Profile {record.name} is chained through '{record.source_profile}', which is not a "
                            "web-identity profile of this file.", "Re-run the AwsWifAssume@1 step that wrote it.")
        hub = _web_identity_session(source, environ, network, deadline, note)
        client = _client(record, network, hub)
        try:
            return sts.assume_role_chained(client, record.role_arn, record.session_name, record.duration_seconds,
                                           deadline, note, extra=record.identity.parameters(record.external_id))
        except sts.StsRefused as refusal:
            from . import diagnose

            raise diagnose.explain_chained(refusal, source.role_arn, record.role_arn, record.region, record.identity,
                                           record.external_id) from None
    return _web_identity_session(record, environ, network, deadline, note)


def _client(record: ProfileRecord, network: Network, credentials: Optional[sts.AwsCredentials] = None) -> Any:
    endpoint = checked_url(record.sts_endpoint, "sts_endpoint") if record.sts_endpoint else None
    return sts.make_client(record.region, endpoint, "aws-wif/credential-process", network,
                           read_timeout=DEADLINE_SECONDS, credentials=credentials)


def _web_identity_session(record: ProfileRecord, environ: Mapping[str, str], network: Network, deadline: Deadline,
                          note: Callable[[str], None]) -> sts.AwsCredentials:
    access_token = environ.get("SYSTEM_ACCESSTOKEN", "").strip()
    if not access_token:
        raise UserError(
            "SYSTEM_ACCESSTOKEN is not in this step's environment, so no fresh OIDC token can be requested.",
            f"Add to the step: {ENV_LINE}",
        )
    remember(access_token)
    # The URL the task itself used and recorded, not the calling step's variable: any step since the
    # task may have changed that. Either way only to the hosts the task would send the token to.
    request_uri = record.oidc_request_uri or environ.get("SYSTEM_OIDCREQUESTURI", "").strip()
    if not request_uri:
        raise UserError("The profile's record has no oidc_request_uri, and SYSTEM_OIDCREQUESTURI is not in this "
                        "step's environment.", "Use the profile in a later step of the job that ran AwsWifAssume@1.")
    checked_token_endpoint(request_uri, record.token_endpoint_hosts)
    collection = record.collection_id or environ.get("SYSTEM_COLLECTIONID", "").strip().lower()
    # The AWS client takes longer to load than the token takes to arrive: load it meanwhile.
    client = Background(lambda: _load_while_waiting(lambda: _client(record, network)))
    with requests.Session() as http:

        def fresh_token() -> tuple[str, TokenClaims]:
            client.start()
            token = oidc.request_token(http, request_uri, access_token, record.connection_id, deadline, note, network)
            from . import claims as token_claims

            return token, token_claims.read_claims(token, now=datetime.now(timezone.utc),
                                                   organization_id=collection if GUID.match(collection) else None)

        token, claims = fresh_token()

        def next_token() -> str:
            nonlocal claims
            new_token, claims = fresh_token()
            return new_token

        try:
            return sts.assume_role(client.result(), record.role_arn, record.session_name, record.duration_seconds,
                                   token, next_token, deadline, note, policy=record.session_policy,
                                   policy_arns=record.policy_arns)
        except sts.StsRefused as refusal:
            from . import diagnose

            raise diagnose.explain(refusal, claims, record.role_arn, record.account_id, record.region) from None


def _load_while_waiting(make_client: Callable[[], Any]) -> Any:
    """On the background thread: the AWS client, then the claim checks (PyJWT), unless the token came
    first and the main thread loaded them itself (which also reports them missing)."""
    loaded = make_client()
    with contextlib.suppress(ImportError):
        from . import claims  # noqa: F401
    return loaded


def credential_json(credentials: sts.AwsCredentials, account_id: str) -> str:
    """The credential_process output, version 1 (AWS SDKs and Tools Reference Guide, 'Process
    credential provider'); AccountId is optional there and lets SDKs use account-based endpoints."""
    expiration = credentials.expiration.astimezone(timezone.utc)
    return json.dumps({
        "Version": 1,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "AccountId": account_id,
    })


def _one_line(text: str) -> str:
    # An SDK shows stderr inside its own message; a trust-policy block would break it up.
    return " ".join(text.split())


def answer(args: list[str], environ: Mapping[str, str]) -> tuple[int, str, str]:
    """One refresh's exit code, stdout and stderr, kept in memory: the leading refresh answers other
    profiles' calls with them (refresh_broker.py)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ, out, err)
    return code, out.getvalue(), err.getvalue()


def main(args: list[str], environ: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None,
         err: Optional[TextIO] = None) -> int:
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    debug = environ.get("SYSTEM_DEBUG", "").strip().lower() == "true"
    profile = "?"
    try:
        profile, config_file = _arguments(args)
        record = read_record(config_file, profile)
        source = read_record(config_file, record.source_profile) if record.source_profile else None
        credentials = credentials_for(record, source, environ, err if debug else None)
        document = credential_json(credentials, record.account_id)
    except UserError as problem:
        err.write(redact(_one_line(f"aws-wif credential_process (profile {profile}): {problem}")) + "\n")
        return 1
    except Exception as exc:
        # The SDK that ran this shows stderr in the job's log, unmasked: the traceback is redacted.
        if debug:
            err.write(redact(traceback.format_exc()))
        err.write(_one_line(
            f"aws-wif credential_process (profile {profile}) failed unexpectedly ({type(exc).__name__}). "
            "Re-run with the variable System.Debug set to true for details and report it to the extension's "
            "maintainers.") + "\n")
        return 1
    out.write(document + "\n")
    out.flush()
    return 0
