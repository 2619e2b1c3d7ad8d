"""profiles.py, policies.py, aws_files.py and the shared token of sessions.py: the plan of
sessions from the inputs, the guard rails, and the files later steps read."""

from __future__ import annotations

import configparser
import io
import json
import stat
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from awswif.agent import Agent
from awswif.aws_files import FileProfile, config_text, credentials_text, read_records, write_run_files
from awswif.errors import UserError
from awswif.inputs import read_inputs
from awswif.profiles import CHAINED, WEB_IDENTITY
from awswif.sessions import SharedToken
from awswif.sts import AwsCredentials

MAIN = "arn:aws:iam::123456789012:role/deploy"
GOOD = {
    "INPUT_SERVICECONNECTION": "5A1B2C3D-0000-4000-8000-000000000001",
    "INPUT_ROLEARN": MAIN,
    "INPUT_REGION": "eu-west-1",
    "SYSTEM_OIDCREQUESTURI": "https://dev.azure.com/contoso/p/_apis/distributedtask/hubs/build/plans/x/jobs/y/oidctoken",
    "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": "job-token",
    "AGENT_TEMPDIRECTORY": "/agent/_temp",
}


def plan(**inputs: str):  # type: ignore[no-untyped-def]
    env = dict(GOOD)
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return read_inputs(Agent(env, io.StringIO())).plan


def refused(**inputs: str) -> str:
    with pytest.raises(UserError) as caught:
        plan(**inputs)
    return str(caught.value)


# -- the profile lines --------------------------------------------------------------------------------
def test_no_profiles_is_an_empty_plan() -> None:
    empty = plan()
    assert empty.profiles == () and not empty.policies and empty.allowed_account_ids == () and not empty.verify
    assert empty.files_folder == ""


def test_lines_with_comments_blanks_and_spaces() -> None:
    result = plan(profiles="# prod first\n\n  prod = arn:aws:iam::111111111111:role/deploy  \r\nqa.eu-1=arn:aws:iam::"
                  "222222222222:role/team/qa\n", chainedProfiles="spoke_1=arn:aws:iam::333333333333:role/spoke",
                  durationSeconds="7200")
    assert [(p.name, p.account_id, p.kind, p.duration_seconds) for p in result.profiles] == [
        ("prod", "111111111111", WEB_IDENTITY, 7200),
        ("qa.eu-1", "222222222222", WEB_IDENTITY, 7200),
        ("spoke_1", "333333333333", CHAINED, 3600),
    ]
    assert [p.name for p in result.web_identity] == ["prod", "qa.eu-1"]
    assert [p.name for p in result.chained] == ["spoke_1"]
    assert result.files_folder == "/agent/_temp"


def test_short_durations_are_kept_for_chained_profiles() -> None:
    result = plan(chainedProfiles="s=arn:aws:iam::333333333333:role/spoke", durationSeconds="900")
    assert result.profiles[0].duration_seconds == 900


BAD_LINES = [
    ({"profiles": "prod"}, "The profiles input, line 1 ('prod') is not NAME=ROLE_ARN"),
    ({"profiles": "# c\n=arn:aws:iam::111111111111:role/x"}, "line 2"),
    ({"profiles": "pr od=arn:aws:iam::111111111111:role/x"}, "'pr od' is not a valid profile name"),
    ({"profiles": f"{'p' * 65}=arn:aws:iam::111111111111:role/x"}, "is not a valid profile name"),
    ({"profiles": "Default=arn:aws:iam::111111111111:role/x"}, "'default' is the main role's profile"),
    ({"profiles": "prod=arn:aws:iam::1111:role/x"}, "is not an IAM role ARN"),
    ({"chainedProfiles": "prod=arn:aws:iam::111111111111:user/x"}, "The chainedProfiles input, line 1"),
    ({"profiles": "prod=arn:aws-cn:iam::111111111111:role/x"}, "partition 'aws-cn', the main role in 'aws'"),
    ({"profiles": "prod=arn:aws:iam::111111111111:role/x\nPROD=arn:aws:iam::222222222222:role/x"},
     "'PROD' is already used by profiles line 1"),
    ({"profiles": "prod=arn:aws:iam::111111111111:role/x", "chainedProfiles": "prod=arn:aws:iam::222222222222:role/x"},
     "The chainedProfiles input, line 1 ('prod=arn:aws:iam::222222222222:role/x'): the profile name 'prod' is already used by profiles line 1"),
    ({"profiles": "a=arn:aws:iam::111111111111:role/x\nb=arn:aws:iam::111111111111:role/x"},
     "already assumed as profiles line 1"),
    ({"profiles": f"again={MAIN}"}, "already assumed as roleArn"),
]


@pytest.mark.parametrize(("inputs", "message"), BAD_LINES, ids=[m for _, m in BAD_LINES])
def test_bad_lines_name_the_input_and_line(inputs: dict[str, str], message: str) -> None:
    assert message in refused(**inputs)


def test_profiles_need_the_agent_temp_directory() -> None:
    env = dict(GOOD, INPUT_PROFILES="prod=arn:aws:iam::111111111111:role/x")
    del env["AGENT_TEMPDIRECTORY"]
    with pytest.raises(UserError, match=r"Agent\.TempDirectory"):
        read_inputs(Agent(env, io.StringIO()))


# -- allowed accounts ---------------------------------------------------------------------------------
def test_allowed_accounts_cover_every_role() -> None:
    ok = plan(profiles="p=arn:aws:iam::111111111111:role/x", chainedProfiles="c=arn:aws:iam::333333333333:role/x",
              allowedAccountIds="123456789012, 111111111111,\n333333333333")
    assert ok.allowed_account_ids == ("123456789012", "111111111111", "333333333333")
    assert "profile 'c' role arn:aws:iam::333333333333:role/x is in account 333333333333" in refused(
        chainedProfiles="c=arn:aws:iam::333333333333:role/x", allowedAccountIds="123456789012")
    assert "roleArn role" in refused(allowedAccountIds="111111111111")
    assert "has '12345', which is not an AWS account id" in refused(allowedAccountIds="123456789012,12345")


# -- session policies ---------------------------------------------------------------------------------
def test_session_policy_is_sent_without_whitespace() -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
    result = plan(sessionPolicy=json.dumps(document, indent=8))
    assert result.policies.inline == json.dumps(document, separators=(",", ":"))


def test_session_policy_limits() -> None:
    assert "not valid JSON (line 1)" in refused(sessionPolicy="{'Version': 1}")
    assert "not an IAM policy document" in refused(sessionPolicy="[1, 2]")
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/" + "k" * 40}
    big = {"Version": "2012-10-17", "Statement": [statement] * 30}
    packed = len(json.dumps(big, separators=(",", ":")))
    assert packed > 2048
    assert f"is {packed} characters without whitespace; AWS STS accepts at most 2048" in refused(
        sessionPolicy=json.dumps(big, indent=2))
    # Whitespace does not count: a policy far over 2048 characters as written but under once packed.
    fits = {"Version": "2012-10-17", "Statement": [statement] * 5}
    assert plan(sessionPolicy=json.dumps(fits, indent=40)).policies.inline is not None
    assert "outside those STS accepts" in refused(sessionPolicy=json.dumps({"Statement": [], "Sid": "\u4e2d"},
                                                                            ensure_ascii=False))


def test_managed_session_policies() -> None:
    arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/boundary"]
    assert plan(managedSessionPolicies="\n".join(arns) + "\n# end").policies.arns == tuple(arns)
    assert "line 1 ('arn:aws:iam::123456789012:role/x') is not a managed policy ARN" in refused(
        managedSessionPolicies="arn:aws:iam::123456789012:role/x")
    assert "is in account 999999999999, the main role in 123456789012" in refused(
        managedSessionPolicies="arn:aws:iam::999999999999:policy/p")
    assert "partition 'aws-cn'" in refused(managedSessionPolicies="arn:aws-cn:iam::aws:policy/p")
    assert "listed twice" in refused(managedSessionPolicies=f"{arns[0]}\n{arns[0]}")
    eleven = "\n".join(f"arn:aws:iam::aws:policy/P{i}" for i in range(11))
    assert "lists 11 policies; AWS STS accepts at most 10" in refused(managedSessionPolicies=eleven)


def test_verify_credentials_is_a_boolean() -> None:
    assert plan(verifyCredentials="true").verify
    assert "verifyCredentials input is 'yes'" in refused(verifyCredentials="yes")


# -- the files ----------------------------------------------------------------------------------------
def creds(n: int) -> AwsCredentials:
    return AwsCredentials(f"ASIA{n:016d}", f"secret%{n}", f"token{n}", datetime(2030, 1, 1, tzinfo=timezone.utc),
                          f"arn:aws:sts::123456789012:assumed-role/r{n}/s")


PROFILES = [
    FileProfile("default", "eu-west-1", creds(0), {"role_arn": MAIN, "kind": "web-identity",
                                                   "session_policy": '{"Statement":[{"Resource":"%s"}]}'}),
    FileProfile("prod", "eu-west-1", creds(1), {"role_arn": "arn:aws:iam::111111111111:role/x", "kind": "web-identity"}),
    FileProfile("spoke", "eu-west-1", None, {"kind": "chained", "source_profile": "default"},
                {"credential_process": "python3 -m awswif credential-process --profile spoke"}),
]


def test_file_texts_as_the_sdks_read_them() -> None:
    credentials = configparser.RawConfigParser(interpolation=None)
    credentials.read_string(credentials_text(PROFILES))
    assert credentials.sections() == ["default", "prod"], "a profile without static keys has no section"
    assert credentials["default"]["aws_secret_access_key"] == "secret%0"
    config = configparser.RawConfigParser(interpolation=None)
    config.read_string(config_text(PROFILES))
    assert config.sections() == ["default", "profile prod", "profile spoke", "awswif default", "awswif prod",
                                 "awswif spoke"]
    assert config["profile spoke"]["credential_process"].endswith("--profile spoke")
    assert "secret" not in config_text(PROFILES) and "token" not in config_text(PROFILES)


def test_files_are_private_and_fresh_per_run(tmp_path: Path) -> None:
    first = write_run_files(str(tmp_path), PROFILES)
    second = write_run_files(str(tmp_path), PROFILES)
    assert first.directory != second.directory and first.directory.parent == tmp_path / "aws-wif"
    assert stat.S_IMODE((tmp_path / "aws-wif").stat().st_mode) == 0o700
    assert stat.S_IMODE(first.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.credentials.stat().st_mode) == stat.S_IMODE(first.config.stat().st_mode) == 0o600
    assert read_records(first.config)["default"]["session_policy"] == '{"Statement":[{"Resource":"%s"}]}'

    # botocore itself reads them as the later steps' SDKs do.
    import botocore.session

    session = botocore.session.Session(profile="prod")
    session.set_config_variable("config_file", str(first.config))
    session.set_config_variable("credentials_file", str(first.credentials))
    assert session.get_credentials().secret_key == "secret%1"
    assert session.get_config_variable("region") == "eu-west-1"


@pytest.mark.parametrize("trap", ["symlink", "open", "file"])
def test_a_prepared_folder_is_refused(tmp_path: Path, trap: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "aws-wif"
    if trap == "symlink":
        folder.symlink_to(elsewhere)
    elif trap == "open":
        folder.mkdir()
        folder.chmod(0o755)
    else:
        folder.write_text("")
    with pytest.raises(UserError, match="cannot be written"):
        write_run_files(str(tmp_path), PROFILES)
    assert list(elsewhere.iterdir()) == []


def test_nothing_is_left_when_a_file_cannot_be_written(tmp_path: Path) -> None:
    broken = [FileProfile("default", "eu-west-1", creds(0), {"kind": "line\nbreak"})]
    with pytest.raises(UserError, match="line break"):
        write_run_files(str(tmp_path), broken)
    assert list((tmp_path / "aws-wif").iterdir()) == []


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
