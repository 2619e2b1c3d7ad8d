"""Asking AWS STS for credentials: a minimal botocore client, the AssumeRoleWithWebIdentity call,
which failures to retry, and which need a freshly minted token."""

from __future__ import annotations

from collections.abc import Callable
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
                read_timeout: float = READ_TIMEOUT) -> Any:
    # Imported here: botocore is the slowest import of a run, and only this step needs it.
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config

    session = botocore.session.Session()
    # A stale AWS_PROFILE from an earlier step must not break a call that needs no credentials.
    session.set_config_variable("profile", None)
    config = Config(
        signature_version=UNSIGNED,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=min(CONNECT_TIMEOUT, read_timeout),
        read_timeout=min(READ_TIMEOUT, read_timeout),
        user_agent_extra=user_agent,
        proxies=network.proxies_for(endpoint_url or regional_endpoint(region)),
    )
    return session.create_client("sts", region_name=region, endpoint_url=endpoint_url, config=config,
                                 verify=network.ca_bundle)


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
) -> AwsCredentials:
    """Retry transient failures with backoff; retry once with a new token when STS could not
    check this one in time. Raise StsRefused for everything else."""
    refreshed = False
    last = ""
    attempt = 0
    while True:
        attempt += 1
        try:
            return _attempt(client, role_arn, session_name, duration_seconds, token)
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
            wait = backoff.delay(attempt)
            if attempt >= backoff.attempts or not wait_allowed(wait, deadline):
                break
            log(f"STS attempt {attempt} failed ({last}); retrying in {wait:.1f}s.")
            sleep(wait)
    raise UserError(
        f"AWS STS did not answer successfully after {attempt} attempt{'s' if attempt > 1 else ''}: {last}.",
        "This is usually temporary: re-run the job. If it persists, check the agent's access to the STS "
        "endpoint (proxy, firewall, VPC endpoint).",
    )


def _attempt(client: Any, role_arn: str, session_name: str, duration_seconds: int, token: str) -> AwsCredentials:
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError, SSLError

    try:
        answer = client.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=session_name,
            WebIdentityToken=token,
            DurationSeconds=duration_seconds,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _RETRY_CODES or status >= 500:
            raise _Transient(f"{code}: {message}" if message else code) from None
        if code == "ExpiredTokenException" or (
            code == "InvalidIdentityToken" and "retrieve verification key" in message.lower()
        ):
            raise _NeedsFreshToken(code, message) from None
        raise StsRefused(code, message) from None
    except ParamValidationError as exc:
        raise StsRefused("ValidationError", str(exc)) from None
    except SSLError:
        raise UserError(tls_advice(client.meta.endpoint_url.split("/")[2])) from None
    except BotoCoreError as exc:
        raise _Transient(str(exc)) from None
    creds = answer["Credentials"]
    return AwsCredentials(
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
        expiration=creds["Expiration"],
        assumed_role_arn=answer.get("AssumedRoleUser", {}).get("Arn", ""),
    )
