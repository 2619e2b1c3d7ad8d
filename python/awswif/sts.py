"""Asking AWS STS for credentials: minimal botocore clients, the AssumeRoleWithWebIdentity call (with
session policies), AssumeRole with another session's credentials (role chaining), GetCallerIdentity,
which failures to retry, and which need a freshly minted token."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from .errors import UserError
from .network import DIRECT, Network, tls_advice
from .retry import Backoff, Deadline, sleep, wait_allowed

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30
_RETRY_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "IDPCommunicationError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
}

STS_BACKOFF = Backoff(attempts=4)
# Concurrent calls of one run (the main role and its profiles): enough to overlap sixteen round
# trips to STS, few enough not to look like a flood to its throttling. Each client's connection
# pool holds as many, so no call waits for, or throws away, a connection.
MAX_PARALLEL = 16


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    assumed_role_arn: str


class StsRefused(Exception):
    """STS said no for a reason retrying cannot change; diagnose.py explains it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Transient(Exception):
    pass


class _NeedsFreshToken(Exception):
    pass


def regional_endpoint(region: str) -> str:
    return f"https://sts.{region}.amazonaws.com{'.cn' if region.startswith('cn-') else ''}"


def make_client(region: str, endpoint_url: Optional[str], user_agent: str, network: Network = DIRECT,
                read_timeout: float = READ_TIMEOUT, credentials: Optional[AwsCredentials] = None) -> Any:
    """An STS client: unsigned for AssumeRoleWithWebIdentity, or signed with a session's credentials
    (AssumeRole while chaining, GetCallerIdentity). Clients are thread-safe; create them on one thread."""
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(
        signature_version=UNSIGNED if credentials is None else None,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=min(CONNECT_TIMEOUT, read_timeout),
        read_timeout=min(READ_TIMEOUT, read_timeout),
        user_agent_extra=user_agent,
        proxies=network.proxies_for(endpoint_url or regional_endpoint(region)),
        max_pool_connections=MAX_PARALLEL,
    )
    keys: dict[str, str] = {}
    if credentials is not None:
        keys = {"aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token}
    return _botocore_session().create_client("sts", region_name=region, endpoint_url=endpoint_url, config=config,
                                             verify=network.ca_bundle, **keys)


@functools.lru_cache(maxsize=1)
def _botocore_session() -> Any:
    # Imported here: botocore is the slowest import of a run, and only this step needs it. One
    # session for every client of a run, so the service model is loaded once.
    import botocore.session

    session = botocore.session.Session()
    # A stale AWS_PROFILE from an earlier step must not break a call that needs no credentials.
    session.set_config_variable("profile", None)
    return session


def assume_role(
    client: Any,
    role_arn: str,
    session_name: str,
    duration_seconds: int,
    token: str,
    fresh_token: Callable[[], str],
    deadline: Deadline,
    log: Callable[[str], None],
    backoff: Backoff = STS_BACKOFF,
    *,
    policy: Optional[str] = None,
    policy_arns: Sequence[str] = (),
) -> AwsCredentials:
    """AssumeRoleWithWebIdentity. Retry transient failures with backoff; retry once with a new token
    when STS could not check this one in time. Raise StsRefused
    for everything else."""
    parameters = dict(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration_seconds,
                      **_policy_parameters(policy, policy_arns))
    refreshed = False
    attempt = 0
    last = ""
    while True:
        attempt += 1
        try:
            return _attempt(client.assume_role_with_web_identity, dict(parameters, WebIdentityToken=token),
                            web_identity=True)
        except _NeedsFreshToken as problem:
            if refreshed:
                raise StsRefused(*problem.args) from None
            refreshed = True
            log(f"STS could not use the token ({problem.args[0]}); requesting a fresh token and retrying once.")
            token = fresh_token()
            attempt -= 1
            continue
        except _Transient as problem:
            last = str(problem)
            if not _may_retry(attempt, backoff, deadline, last, log):
                break
    raise _gave_up(attempt, last)


def assume_role_chained(client: Any, role_arn: str, session_name: str, duration_seconds: int, deadline: Deadline,
                        log: Callable[[str], None], backoff: Backoff = STS_BACKOFF) -> AwsCredentials:
    """sts:AssumeRole with the client's (the hub role's) credentials: role chaining, at most an hour."""
    parameters = dict(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration_seconds)
    attempt = 0
    last = ""
    while True:
        attempt += 1
        try:
            return _attempt(client.assume_role, parameters, web_identity=False)
        except _Transient as problem:
            last = str(problem)
            if not _may_retry(attempt, backoff, deadline, last, log):
                break
    raise _gave_up(attempt, last)


def caller_identity(client: Any, deadline: Deadline, log: Callable[[str], None],
                    backoff: Backoff = STS_BACKOFF) -> str:
    """GetCallerIdentity with the client's credentials: the ARN AWS sees."""
    attempt = 0
    last = ""
    while True:
        attempt += 1
        try:
            return str(_call(client.get_caller_identity, {}, web_identity=False).get("Arn", ""))
        except _Transient as problem:
            last = str(problem)
            if not _may_retry(attempt, backoff, deadline, last, log):
                break
    raise _gave_up(attempt, last)


def _policy_parameters(policy: Optional[str], policy_arns: Sequence[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if policy:
        parameters["Policy"] = policy
    if policy_arns:
        parameters["PolicyArns"] = [{"arn": arn} for arn in policy_arns]
    return parameters


def _may_retry(attempt: int, backoff: Backoff, deadline: Deadline, last: str, log: Callable[[str], None]) -> bool:
    wait = backoff.delay(attempt)
    if attempt >= backoff.attempts or not wait_allowed(wait, deadline):
        return False
    log(f"STS attempt {attempt} failed ({last}); retrying in {wait:.1f}s.")
    sleep(wait)
    return True


def _gave_up(attempt: int, last: str) -> UserError:
    return UserError(
        f"AWS STS did not answer successfully after {attempt} attempt{'s' if attempt > 1 else ''}: {last}.",
        "This is usually temporary: re-run the job. If it persists, check the agent's access to the STS "
        "endpoint (proxy, firewall, VPC endpoint).",
    )


def _attempt(operation: Callable[..., Any], parameters: dict[str, Any], web_identity: bool) -> AwsCredentials:
    answer = _call(operation, parameters, web_identity)
    creds = answer["Credentials"]
    return AwsCredentials(
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
        expiration=creds["Expiration"],
        assumed_role_arn=answer.get("AssumedRoleUser", {}).get("Arn", ""),
    )


def _call(operation: Callable[..., Any], parameters: dict[str, Any], web_identity: bool) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError, SSLError

    try:
        return operation(**parameters)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        # A body that is not STS's error XML (a proxy's or load balancer's page) has no code: say the status.
        code = str(error.get("Code") or (f"HTTP {status}" if status else "an unreadable answer"))
        message = str(error.get("Message", ""))
        if code in _RETRY_CODES or status >= 500:
            raise _Transient(f"{code}: {message}" if message else code) from None
        # Only a web identity token can be replaced; for a signed call it means the hub's session.
        if web_identity and (code == "ExpiredTokenException" or (
            code == "InvalidIdentityToken" and "retrieve verification key" in message.lower()
        )):
            raise _NeedsFreshToken(code, message) from None
        raise StsRefused(code, message) from None
    except ParamValidationError as exc:
        raise StsRefused("ValidationError", str(exc)) from None
    except SSLError:
        meta = getattr(getattr(operation, "__self__", None), "meta", None)
        host = meta.endpoint_url.split("/")[2] if meta is not None else "the STS endpoint"
        raise UserError(tls_advice(host)) from None
    except BotoCoreError as exc:
        raise _Transient(str(exc)) from None
