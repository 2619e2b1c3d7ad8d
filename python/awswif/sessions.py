"""Fulfilling a plan of sessions: the main role and every web-identity profile at once with the
job's one OIDC token, then every chained profile at once with the main role's session, then
(when asked) GetCallerIdentity with each. All or nothing: one failure fails the lot, and the
error lists every failing profile with its own explanation."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from . import sts
from .errors import UserError
from .policies import SessionPolicies
from .profiles import CHAINED, MAIN_PROFILE, Profile
from .retry import Deadline
from .session_tags import ChainedIdentity
from .sts import MAX_PARALLEL


@dataclass(frozen=True)
class Session:
    profile: Profile
    credentials: sts.AwsCredentials
    # A chained session's tags, transitive keys and source identity, as sent (a refresh sends the same).
    identity: Optional[ChainedIdentity] = None


class SharedToken:
    """The job's OIDC token, shared by concurrent calls. When STS finds it expired, the first
    caller fetches a fresh one and the others reuse it rather than each asking Azure DevOps."""

    def __init__(self, token: str, mint: Callable[[], str]) -> None:
        self._token = token
        self._mint = mint
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            return self._token

    def replace(self, stale: str) -> str:
        with self._lock:
            if self._token == stale:
                self._token = self._mint()
            return self._token


@dataclass(frozen=True)
class Fulfilment:
    """What task.py hands in: the clients, the token, the time budget, and how to explain refusals."""

    session_name: str
    policies: SessionPolicies
    # The main region's client for AssumeRoleWithWebIdentity, and a maker of clients for the regions
    # some profiles' region= options name (signed with a session's keys, or unsigned).
    web_client: Any
    signed_client: Callable[[Optional[sts.AwsCredentials], Optional[str]], Any]
    token: SharedToken
    deadline: Deadline
    log: Callable[[str], None]
    explain_web: Callable[[sts.StsRefused, Profile], UserError]
    explain_chained: Callable[[sts.StsRefused, Profile, str], UserError]
    # Tags, transitive keys and source identity for every chained AssumeRole.
    chained_identity: Optional[ChainedIdentity] = None


def assume_all(main: Profile, profiles: Sequence[Profile], how: Fulfilment) -> list[Session]:
    """The main role's session first in the list, then the profiles in the order given."""
    failures: dict[str, UserError] = {}
    sessions: dict[str, Session] = {}
    direct = [main, *(p for p in profiles if p.kind != CHAINED)]
    chained = [p for p in profiles if p.kind == CHAINED]
    # Clients are made here, on one thread (botocore's rule), one per region a profile asks for.
    web = {p.region: how.signed_client(None, p.region) for p in direct if p.region}
    _run_all({p.name: functools.partial(_web_identity, p, web.get(p.region or "", how.web_client), how, p is main)
              for p in direct}, sessions, failures)
    if chained:
        hub = sessions.get(main.name)
        if hub is None:
            for profile in chained:
                failures[profile.name] = UserError("Not attempted: chained profiles need the main role's session.")
        else:
            signed = {region: how.signed_client(hub.credentials, region) for region in {p.region for p in chained}}
            _run_all({p.name: functools.partial(_chained, p, signed[p.region], hub.profile.role_arn, how)
                      for p in chained}, sessions, failures)
    if failures:
        raise _all_or_nothing(main, profiles, failures)
    return [sessions[main.name], *(sessions[p.name] for p in profiles)]


def verify_all(sessions: Sequence[Session], signed_client: Callable[[Optional[sts.AwsCredentials], Optional[str]], Any],
               deadline: Deadline, log: Callable[[str], None]) -> None:
    """GetCallerIdentity with every session: AWS must see exactly the assumed-role ARN STS gave."""
    clients = [(s, signed_client(s.credentials, s.profile.region)) for s in sessions]
    failures: dict[str, UserError] = {}
    done: dict[str, Session] = {}
    _run_all({s.profile.name: functools.partial(_verify, s, client, deadline, log) for s, client in clients},
             done, failures)
    if failures:
        main = sessions[0].profile
        raise _all_or_nothing(main, [s.profile for s in sessions[1:]], failures, verb="verify")


def _web_identity(profile: Profile, client: Any, how: Fulfilment, is_main: bool) -> Session:
    token = how.token.current()
    try:
        credentials = sts.assume_role(
            client, profile.role_arn, how.session_name, profile.duration_seconds, token,
            lambda: how.token.replace(token), how.deadline, _prefixed(how.log, profile, is_main),
            policy=how.policies.inline if is_main else None,
            policy_arns=how.policies.arns if is_main else (),
        )
    except sts.StsRefused as refusal:
        raise how.explain_web(refusal, profile) from None
    return Session(profile, credentials)


def _chained(profile: Profile, client: Any, hub_role_arn: str, how: Fulfilment) -> Session:
    identity = how.chained_identity or ChainedIdentity()
    try:
        credentials = sts.assume_role_chained(client, profile.role_arn, how.session_name, profile.duration_seconds,
                                              how.deadline, _prefixed(how.log, profile, False),
                                              extra=identity.parameters(profile.external_id))
    except sts.StsRefused as refusal:
        raise how.explain_chained(refusal, profile, hub_role_arn) from None
    return Session(profile, credentials, identity)


def _verify(session: Session, client: Any, deadline: Deadline, log: Callable[[str], None]) -> Session:
    try:
        arn = sts.caller_identity(client, deadline, _prefixed(log, session.profile, False))
    except sts.StsRefused as refusal:
        raise UserError(f"GetCallerIdentity with the new session failed: {refusal}.",
                        "Re-run the job; if it persists, check the STS endpoint (stsEndpoint).") from None
    if arn != session.credentials.assumed_role_arn:
        raise UserError(f"GetCallerIdentity answered {arn or 'no ARN'}, not the assumed role "
                        f"{session.credentials.assumed_role_arn}.",
                        "The STS endpoint is not serving the role it issued credentials for: check stsEndpoint "
                        "and the agent's proxy.")
    return session


def _run_all(work: dict[str, Callable[[], Session]], sessions: dict[str, Session],
             failures: dict[str, UserError]) -> None:
    """Every piece of work at once (one alone on this thread), each outcome kept under its name."""
    if len(work) == 1:
        ((name, one),) = work.items()
        try:
            sessions[name] = one()
        except UserError as problem:
            failures[name] = problem
        return
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(work)), thread_name_prefix="awswif-sts") as pool:
        futures = {name: pool.submit(call) for name, call in work.items()}
    for name, future in futures.items():
        try:
            sessions[name] = future.result()
        except UserError as problem:
            failures[name] = problem


def _prefixed(log: Callable[[str], None], profile: Profile, is_main: bool) -> Callable[[str], None]:
    if is_main or profile.name == MAIN_PROFILE:
        return log
    return lambda line: log(f"[{profile.name}] {line}")


def _all_or_nothing(main: Profile, profiles: Sequence[Profile], failures: dict[str, UserError],
                    verb: str = "assume") -> UserError:
    everyone = [main, *profiles]
    if len(everyone) == 1:
        return failures[main.name]
    failed = [p for p in everyone if p.name in failures]
    names = ", ".join(p.name for p in failed)
    what = (f"AwsWifAssume could not {verb} {len(failed)} of {len(everyone)} roles ({names}), so it exported "
            "nothing and wrote no file.")
    parts = [f"Profile '{p.name}' ({p.role_arn}): {failures[p.name]}" for p in failed]
    return UserError(what, "\n" + "\n\n".join(parts), _details(failures, failed))


def _details(failures: dict[str, UserError], failed: Sequence[Profile]) -> str:
    details: list[Optional[str]] = [failures[p.name].details for p in failed]
    return "\n".join(d for d in details if d)
