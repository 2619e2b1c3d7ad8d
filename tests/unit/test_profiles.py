"""profiles.py and policies.py: the plan of sessions from the inputs, and the guard rails
(aws_files.py and sessions.py have their own test files)."""

from __future__ import annotations

import io
import json

import pytest

from awswif.agent import Agent
from awswif.errors import UserError
from awswif.inputs import read_inputs
from awswif.profiles import CHAINED, WEB_IDENTITY

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
