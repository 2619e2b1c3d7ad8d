"""Fulfilling a plan of sessions (sessions.assume_all), in process against the issuer and STS stand-ins:
web-identity roles at once with one token, chained roles with the main role's session in their own
regions and with what session_tags.py says they carry, and all or nothing with every failure named."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from awswif import sts
from awswif.errors import UserError
from awswif.policies import SessionPolicies
from awswif.profiles import CHAINED, MAIN_PROFILE, WEB_IDENTITY, Profile
from awswif.retry import Deadline
from awswif.session_tags import ChainedIdentity
from awswif.sessions import Fulfilment, SharedToken, assume_all
from awswif.sts import AwsCredentials
from awswif.trust import chained_trust_policy, trust_policy

from fakes import Issuer, Sts

MAIN = Profile(MAIN_PROFILE, "arn:aws:iam::111111111111:role/hub", "111111111111", WEB_IDENTITY, 900)
DIRECT = Profile("direct", "arn:aws:iam::222222222222:role/direct", "222222222222", WEB_IDENTITY, 900,
                 region="ap-southeast-2")
SPOKE = Profile("spoke", "arn:aws:iam::333333333333:role/spoke", "333333333333", CHAINED, 900, region="us-east-1")
VENDOR = Profile("vendor", "arn:aws:iam::444444444444:role/vendor", "444444444444", CHAINED, 900,
                 external_id="vendor-id-1")
TAGS = ChainedIdentity(tags=(("Project", "infra"),), source_identity="zoe")


@pytest.fixture
def world() -> Iterator[tuple[Issuer, Sts]]:
    issuer, server = Issuer(), Sts()
    for account in ("111111111111", "222222222222"):
        server.add_provider(account, issuer.issuer, issuer.jwks_url)
    server.add_role(MAIN.role_arn, trust_policy("111111111111", issuer.issuer, [issuer.subject]))
    server.add_role(DIRECT.role_arn, trust_policy("222222222222", issuer.issuer, [issuer.subject]))
    spoke = chained_trust_policy(MAIN.role_arn)
    spoke["Statement"][0]["Action"] = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    server.add_role(SPOKE.role_arn, spoke)
    vendor = {"Statement": [{**spoke["Statement"][0], "Condition": {"StringEquals": {"sts:ExternalId": "vendor-id-1"}}}]}
    server.add_role(VENDOR.role_arn, vendor)
    yield issuer, server
    server.close()
    issuer.close()


def fulfil(issuer: Issuer, server: Sts, profiles: list[Profile], identity: ChainedIdentity = TAGS) -> list[Any]:
    made: list[tuple[str, bool]] = []

    def client(credentials: sts.AwsCredentials | None = None, region: str | None = None) -> Any:
        made.append((region or "eu-west-1", credentials is not None))
        return sts.make_client(region or "eu-west-1", server.url, "test", credentials=credentials, read_timeout=5)

    how = Fulfilment(
        session_name="azp-infra-1", policies=SessionPolicies(),
        web_client=client(), signed_client=client, token=SharedToken(issuer.mint(), issuer.mint),
        deadline=Deadline(30), log=lambda _: None,
        explain_web=lambda refusal, profile: UserError(f"web {profile.name}: {refusal.code}"),
        explain_chained=lambda refusal, profile, hub: UserError(f"chained {profile.name}: {refusal.code}"),
        chained_identity=identity,
    )
    return [assume_all(MAIN, profiles, how), made]


def test_every_role_in_its_region_with_what_chained_calls_carry(world: tuple[Issuer, Sts]) -> None:
    issuer, server = world
    sessions, made = fulfil(issuer, server, [DIRECT, SPOKE, VENDOR])
    assert [s.profile.name for s in sessions] == ["default", "direct", "spoke", "vendor"]
    # One unsigned client per extra region, one signed client per region the chained roles use.
    assert sorted(made) == [("ap-southeast-2", False), ("eu-west-1", False), ("eu-west-1", True), ("us-east-1", True)]
    calls = {c["RoleArn"]: c for c in server.calls}
    assert calls[SPOKE.role_arn]["SigningRegion"] == "us-east-1" and calls[VENDOR.role_arn]["SigningRegion"] == "eu-west-1"
    assert calls[VENDOR.role_arn]["ExternalId"] == "vendor-id-1" and "ExternalId" not in calls[SPOKE.role_arn]
    assert calls[SPOKE.role_arn]["Tags"] == [("Project", "infra")] and calls[SPOKE.role_arn]["SourceIdentity"] == "zoe"
    assert "Tags" not in calls[DIRECT.role_arn] and "Tags" not in calls[MAIN.role_arn]
    # Each chained session knows what it was assumed with (the profile record keeps it for refreshes).
    assert sessions[2].identity == TAGS and sessions[1].identity is None


def test_all_or_nothing_names_every_failure(world: tuple[Issuer, Sts]) -> None:
    issuer, server = world
    wrong_vendor = Profile("vendor", VENDOR.role_arn, VENDOR.account_id, CHAINED, 900, external_id="not-it")
    stranger = Profile("stranger", "arn:aws:iam::555555555555:role/x", "555555555555", WEB_IDENTITY, 900)
    with pytest.raises(UserError) as failure:
        fulfil(issuer, server, [stranger, SPOKE, wrong_vendor])
    text = str(failure.value) + failure.value.fix
    assert "could not assume 2 of 4 roles (stranger, vendor)" in text
    assert "web stranger:" in text and "chained vendor: AccessDenied" in text and "Profile 'spoke'" not in text


def test_chained_roles_are_not_attempted_without_the_main_session(world: tuple[Issuer, Sts]) -> None:
    issuer, server = world
    server.roles.pop(MAIN.role_arn)
    with pytest.raises(UserError) as failure:
        fulfil(issuer, server, [SPOKE])
    assert "Not attempted: chained profiles need the main role's session." in failure.value.fix
    assert all(c["Action"] != "AssumeRole" for c in server.calls)


# -- one fresh token for all concurrent callers ------------------------------------------------------
def test_shared_token_is_replaced_once_for_all_callers() -> None:
    minted: list[str] = []

    def mint() -> str:
        time.sleep(0.05)  # while the others ask too
        minted.append(f"token-{len(minted) + 1}")
        return minted[-1]

    shared = SharedToken("token-0", mint)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(shared.replace("token-0"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert minted == ["token-1"] and results == ["token-1"] * 8
    assert shared.replace("token-1") == "token-2", "a token found stale again is replaced again"


# -- verifyCredentials against the STS stand-in -------------------------------------------------------
def test_verify_all_accepts_real_sessions_and_refuses_a_wrong_arn() -> None:
    from awswif import sts as aws_sts
    from awswif.profiles import Profile
    from awswif.retry import Deadline
    from awswif.sessions import Session, verify_all

    from fakes import Sts

    server = Sts()
    try:
        issued = []
        for n, role in enumerate(("deploy", "prod")):
            arn = f"arn:aws:iam::12345678901{n}:role/{role}"
            session = server._issue(arn.split(":")[4], arn, "s-1", 900)
            key = next(k for k, v in server.sessions.items() if v is session)
            credentials = AwsCredentials(key, session.secret_access_key, session.session_token, session.expiration,
                                         session.assumed_role_arn)
            issued.append(Session(Profile("default" if n == 0 else role, arn, f"12345678901{n}", WEB_IDENTITY, 900),
                                  credentials))

        def client(credentials: AwsCredentials | None, region: str | None) -> object:
            return aws_sts.make_client(region or "eu-west-1", server.url, "test", credentials=credentials)

        lines: list[str] = []
        verify_all(issued, client, Deadline(30), lines.append)
        assert [c["Action"] for c in server.calls] == ["GetCallerIdentity"] * 2
        assert sorted(c["Caller"] for c in server.calls) == sorted(s.credentials.assumed_role_arn for s in issued)

        wrong = Session(issued[1].profile, AwsCredentials(
            issued[1].credentials.access_key_id, issued[1].credentials.secret_access_key,
            issued[1].credentials.session_token, issued[1].credentials.expiration,
            "arn:aws:sts::123456789011:assumed-role/other/s-1"))
        with pytest.raises(UserError) as caught:
            verify_all([issued[0], wrong], client, Deadline(30), lines.append)
        message = str(caught.value)
        assert "could not verify 1 of 2 roles (prod)" in message
        assert "GetCallerIdentity answered arn:aws:sts::123456789011:assumed-role/prod/s-1, not the assumed role " \
               "arn:aws:sts::123456789011:assumed-role/other/s-1" in message
    finally:
        server.close()
