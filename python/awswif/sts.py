"""Asking AWS STS for credentials: minimal botocore clients, the AssumeRoleWithWebIdentity call (with
session policies), AssumeRole with another session's credentials (role chaining), GetCallerIdentity,
which failures to retry, and which need a freshly minted token."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from .destinations import check_resolved_sts
from .errors import UserError
from .network import DIRECT, Network, tls_advice
from .redaction import redact, remember
from .retry import Backoff, Deadline, sleep

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30
_THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
_RETRY_CODES = {
    "IDPCommunicationError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
}

STS_BACKOFF = Backoff()
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


# Why a transient failure happened: what the final error blames.
THROTTLED, UNREACHABLE, FAULT = "throttled", "unreachable", "fault"


class _Transient(Exception):
    def __init__(self, reason: str, kind: str = FAULT) -> None:
        super().__init__(reason)
        self.kind = kind


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

    # type-ignored: botocore-stubs lags botocore (no ignore_configured_endpoint_urls)
    config = Config(  # type: ignore[call-arg]
        signature_version=UNSIGNED if credentials is None else None,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=min(CONNECT_TIMEOUT, read_timeout),
        read_timeout=min(READ_TIMEOUT, read_timeout),
        user_agent_extra=user_agent,
        proxies=network.proxies_for(endpoint_url or regional_endpoint(region)),
        max_pool_connections=MAX_PARALLEL,
        # AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS and endpoint_url/[services] of a config file: all of them
        # may come from an earlier step. The endpoint is the task's choice (endpoint_url) or AWS's own.
        ignore_configured_endpoint_urls=True,
    )
    keys: dict[str, str] = {}
    if credentials is not None:
        keys = {"aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token}
    with _CREATING:  # a botocore session creates clients on one thread at a time
        client = _botocore_session().create_client("sts", region_name=region, endpoint_url=endpoint_url, config=config,
                                                   verify=network.ca_bundle, **keys)
    # The last word on where a request goes, whatever decided it: checked as each one leaves.
    client.meta.events.register("before-send", functools.partial(_guard, endpoint_url))
    return client


def _guard(chosen: Optional[str], request: Any, **_: Any) -> None:
    check_resolved_sts(request.url, chosen)


_CREATING = threading.Lock()


@functools.lru_cache(maxsize=1)
def _botocore_session() -> Any:
    # Imported here: botocore is the slowest import of a run, and only this step needs it. One
    # session for every client of a run, so the service model is loaded once.
    import os

    import botocore.loaders
    import botocore.session

    session = botocore.session.Session()
    # Nothing an earlier step can write decides where the token goes or whom TLS trusts: no profile
    # (a stale AWS_PROFILE must not break a call that needs no credentials), no config or credentials
    # file (endpoint_url, ca_bundle, proxy settings), and service data only from botocore itself, not
    # from ~/.aws/models or AWS_DATA_PATH (an endpoint rule set there would redirect STS).
    for name in ("config_file", "credentials_file"):
        session.set_config_variable(name, os.devnull)
    session.set_config_variable("profile", None)
    loader = botocore.loaders.Loader(extra_search_paths=[botocore.loaders.Loader.BUILTIN_DATA_PATH],
                                     include_default_search_paths=False)
    session.register_component("data_loader", loader)
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
    when STS could not check this one in time. Raise StsRefused for everything else."""
    parameters = dict(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration_seconds,
                      **_policy_parameters(policy, policy_arns))
    refreshed = False
    retries = _Retries(backoff, deadline, log)
    while True:
        try:
            return _attempt(client.assume_role_with_web_identity, dict(parameters, WebIdentityToken=token),
                            web_identity=True)
        except _NeedsFreshToken as problem:
            if refreshed:
                raise StsRefused(*problem.args) from None
            refreshed = True
            log(f"STS could not use the token ({problem.args[0]}); requesting a fresh token and retrying once.")
            token = fresh_token()
        except _Transient as problem:
            retries.after(problem, client)


def assume_role_chained(client: Any, role_arn: str, session_name: str, duration_seconds: int, deadline: Deadline,
                        log: Callable[[str], None], backoff: Backoff = STS_BACKOFF, *,
                        extra: Optional[Mapping[str, Any]] = None) -> AwsCredentials:
    """sts:AssumeRole with the client's (the hub role's) credentials: role chaining, at most an hour.
    `extra`: Tags, TransitiveTagKeys, SourceIdentity, ExternalId (session_tags.ChainedIdentity)."""
    parameters: dict[str, Any] = dict(RoleArn=role_arn, RoleSessionName=session_name,
                                      DurationSeconds=duration_seconds, **(extra or {}))
    retries = _Retries(backoff, deadline, log)
    while True:
        try:
            return _attempt(client.assume_role, parameters, web_identity=False)
        except _Transient as problem:
            retries.after(problem, client)


def caller_identity(client: Any, deadline: Deadline, log: Callable[[str], None],
                    backoff: Backoff = STS_BACKOFF) -> str:
    """GetCallerIdentity with the client's credentials: the ARN AWS sees."""
    retries = _Retries(backoff, deadline, log)
    while True:
        try:
            return str(_call(client.get_caller_identity, {}, web_identity=False).get("Arn", ""))
        except _Transient as problem:
            retries.after(problem, client)


class _Retries:
    """One call's attempts: wait and go again while the budget allows, else the one error that says
    what kept failing (throttling, an unreachable endpoint, or AWS's own faults)."""

    def __init__(self, backoff: Backoff, deadline: Deadline, log: Callable[[str], None]) -> None:
        self._backoff = backoff
        self._deadline = deadline
        self._log = log
        self._failures: list[_Transient] = []
        self._start = time.monotonic()

    def after(self, problem: _Transient, client: Any) -> None:
        self._failures.append(problem)
        attempt = len(self._failures)
        wait = self._backoff.delay(attempt)
        if not self._backoff.may_retry(attempt, wait, self._deadline):
            raise self._gave_up(client)
        self._log(f"STS attempt {attempt} failed ({problem}); retrying in {wait:.1f}s.")
        sleep(wait)

    def _gave_up(self, client: Any) -> UserError:
        count, last = len(self._failures), self._failures[-1]
        seconds = f"{time.monotonic() - self._start:.0f} s"
        times = f"{count} time{'s' if count > 1 else ''}"
        attempts = f"{count} attempt{'s' if count > 1 else ''}"
        budget = "raise retryMaxAttempts or timeoutSeconds to let it retry longer"
        if all(f.kind == THROTTLED for f in self._failures):
            return UserError(
                f"AWS STS throttled the request {times} in {seconds} ({last}).",
                "Too many STS calls at once in this account and region: spread concurrent jobs out, or "
                f"{budget}.",
            )
        if last.kind == UNREACHABLE:
            return UserError(
                f"AWS STS could not be reached after {attempts} in {seconds}: {last}.",
                f"Check the agent's network path to {_host(client)} (proxy, firewall, VPC endpoint); if it "
                f"is a passing fault, {budget}.",
            )
        return UserError(
            f"AWS STS did not answer successfully after {attempts} in {seconds}: {last}.",
            f"This is usually temporary at AWS: re-run the job, or {budget}.",
        )


def _host(client: Any) -> str:
    meta = getattr(client, "meta", None)
    url = getattr(meta, "endpoint_url", "") or ""
    return url.split("/")[2] if url.count("/") >= 2 else "the STS endpoint"


def _policy_parameters(policy: Optional[str], policy_arns: Sequence[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if policy:
        parameters["Policy"] = policy
    if policy_arns:
        parameters["PolicyArns"] = [{"arn": arn} for arn in policy_arns]
    return parameters


def _attempt(operation: Callable[..., Any], parameters: dict[str, Any], web_identity: bool) -> AwsCredentials:
    answer = _call(operation, parameters, web_identity)
    creds = answer["Credentials"]
    # Secret from the moment they exist: any later diagnostic of this process masks them.
    remember(str(creds["AccessKeyId"]), str(creds["SecretAccessKey"]), str(creds["SessionToken"]))
    return AwsCredentials(
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
        expiration=creds["Expiration"],
        assumed_role_arn=answer.get("AssumedRoleUser", {}).get("Arn", ""),
    )


def _call(operation: Callable[..., Any], parameters: dict[str, Any], web_identity: bool) -> Any:
    from botocore import exceptions as errors

    try:
        return operation(**parameters)
    except errors.ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        # A body that is not STS's error XML (a proxy's or load balancer's page) has no code: say the status.
        code = str(error.get("Code") or (f"HTTP {status}" if status else "an unreadable answer"))
        message = redact(str(error.get("Message", "")))
        if code in _THROTTLE_CODES:
            raise _Transient(f"{code}: {message}" if message else code, THROTTLED) from None
        if code in _RETRY_CODES or status >= 500:
            raise _Transient(f"{code}: {message}" if message else code) from None
        # Only a web identity token can be replaced; for a signed call it means the hub's session.
        if web_identity and (code == "ExpiredTokenException" or (
            code == "InvalidIdentityToken" and "retrieve verification key" in message.lower()
        )):
            raise _NeedsFreshToken(code, message) from None
        raise StsRefused(code, message) from None
    except errors.ParamValidationError as exc:
        raise StsRefused("ValidationError", redact(str(exc))) from None
    except errors.SSLError:
        meta = getattr(getattr(operation, "__self__", None), "meta", None)
        host = meta.endpoint_url.split("/")[2] if meta is not None else "the STS endpoint"
        raise UserError(tls_advice(host)) from None
    except UserError:
        raise
    except (errors.ConnectionError, errors.ConnectTimeoutError) as exc:
        raise _Transient(redact(str(exc)), UNREACHABLE) from None
    except errors.BotoCoreError as exc:
        raise _Transient(redact(str(exc))) from None
    except Exception as exc:
        # Anything else from botocore (its parsers raise plain exceptions, e.g. ResponseParserError for
        # an answer of HTTP 200 cut short) may carry the raw body, keys included: never its text.
        raise _Transient(f"an answer that could not be read ({type(exc).__name__}: cut short, or not STS's "
                         "XML)") from None
