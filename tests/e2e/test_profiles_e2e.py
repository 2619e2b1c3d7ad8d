"""Many accounts from one step, through the real launcher against the STS stand-in serving three
accounts: the main (hub) role, a web-identity profile in a second account, a chained profile in a
third whose role trusts only the hub role. Later steps use the profiles through the files alone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from awswif.trust import trust_policy

from agent_env import ACCOUNT, ROLE_ARN
from fakes import Issuer, Reply, Sts
from many_accounts import (
    DIRECT_ACCOUNT,
    DIRECT_ARN,
    ONE_FAMILY,
    OTHER_DIRECT_ARN,
    SECRET_NAMES,
    SESSION,
    SPOKE_ACCOUNT,
    SPOKE_ARN,
    launch,
    run_post,
    secrets_of,
    spoke_trust_policy,
)
from many_accounts import accounts as accounts


def later_step(variables: dict[str, str], sts_url: str, profiles: list[str]) -> dict[str, dict[str, str]]:
    """A later script step: only the plain variables the agent puts in its environment (no env:
    mapping, so no secret), and boto3 choosing each profile by name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in variables.items() if k not in SECRET_NAMES})
    env["AWS_ENDPOINT_URL_STS"] = sts_url
    code = (
        "import boto3, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    session = boto3.Session(profile_name=name)\n"
        "    identity = session.client('sts').get_caller_identity()\n"
        "    out[name] = {'Arn': identity['Arn'], 'Account': identity['Account'], 'Region': session.region_name}\n"
        "print(json.dumps(out))\n"
    )
    step = subprocess.run([sys.executable, "-c", code, *profiles], env=env, capture_output=True, text=True)
    assert step.returncode == 0, step.stderr
    return json.loads(step.stdout)  # type: ignore[no-any-return]


def test_three_accounts_serve_later_steps_through_the_files(issuer: Issuer, accounts: Sts, task_dir: Path,
                                                            tmp_path: Path) -> None:
    run = launch(issuer, accounts, task_dir, tmp_path)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    variables = run.view.variables

    # The main role keeps today's variables; the files are plain variables.
    assert set(SECRET_NAMES) <= run.view.secret_variables
    assert variables["AWS_ASSUMED_ROLE_ARN"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION}"
    credentials, config = Path(variables["AWS_SHARED_CREDENTIALS_FILE"]), Path(variables["AWS_CONFIG_FILE"])
    assert "AWS_SHARED_CREDENTIALS_FILE" not in run.view.secret_variables
    assert credentials.parent == config.parent and credentials.parent.parent == tmp_path / "aws-wif"
    assert credentials.parent.name.startswith("run-")
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(credentials.stat().st_mode) == stat.S_IMODE(config.stat().st_mode) == 0o600

    seen = later_step(variables, accounts.url, ["default", "prod", "spoke"])
    assert seen == {
        "default": {"Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION}", "Account": ACCOUNT,
                    "Region": "eu-west-1"},
        "prod": {"Arn": f"arn:aws:sts::{DIRECT_ACCOUNT}:assumed-role/direct/{SESSION}", "Account": DIRECT_ACCOUNT,
                 "Region": "eu-west-1"},
        "spoke": {"Arn": f"arn:aws:sts::{SPOKE_ACCOUNT}:assumed-role/spoke/{SESSION}", "Account": SPOKE_ACCOUNT,
                  "Region": "eu-west-1"},
    }
    # The direct profile used the job's token; the spoke was assumed with the hub's session, capped at an hour.
    web = [c for c in accounts.calls if c["Action"] == "AssumeRoleWithWebIdentity"]
    assert sorted(c["RoleArn"] for c in web) == sorted([ROLE_ARN, DIRECT_ARN])
    (chained,) = [c for c in accounts.calls if c["Action"] == "AssumeRole"]
    assert chained["RoleArn"] == SPOKE_ARN and chained["Caller"] == variables["AWS_ASSUMED_ROLE_ARN"]
    assert len(issuer.token_requests) == 1

    # Every key of every profile is masked before it could show; none is printed.
    for session in accounts.sessions.values():
        assert session.secret_access_key in run.view.masked and session.session_token in run.view.masked
    assert run.leaks(*secrets_of(issuer, accounts)) == []
    for line in ("prod", "spoke", "default"):
        assert any(row.strip().startswith(line) and "assumed-role" in row for row in run.stdout.splitlines())

    # The post-job step removes the directory, and only it.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    (credentials.parent / "link").symlink_to(outside)
    post = run_post(task_dir, run)
    assert post.returncode == 0 and "##vso" not in post.stdout, post.stdout
    assert not credentials.parent.exists() and (outside / "keep").exists()
    assert (tmp_path / "aws-wif").is_dir()


@ONE_FAMILY
def test_files_hold_the_profiles_and_records(issuer: Issuer, accounts: Sts, source_task_dir: Path,
                                             tmp_path: Path) -> None:
    import configparser

    run = launch(issuer, accounts, source_task_dir, tmp_path, durationSeconds="7200")
    assert run.view.result == "Succeeded", run.stdout
    config = configparser.RawConfigParser(interpolation=None)
    config.read(run.view.variables["AWS_CONFIG_FILE"])
    assert set(config.sections()) == {"default", "profile prod", "profile spoke", "awswif default", "awswif prod",
                                      "awswif spoke"}
    assert all(config[s]["region"] == "eu-west-1" for s in ("default", "profile prod", "profile spoke"))
    assert not any(k.startswith("aws_") for s in config.sections() for k in config[s])
    assert config["awswif spoke"]["kind"] == "chained" and config["awswif spoke"]["source_profile"] == "default"
    assert config["awswif prod"]["kind"] == "web-identity" and config["awswif prod"]["role_arn"] == DIRECT_ARN
    assert config["awswif default"]["duration_seconds"] == "7200"
    assert config["awswif spoke"]["duration_seconds"] == "3600"
    assert config["awswif default"]["connection_id"] == issuer.connection_id
    credentials = configparser.RawConfigParser(interpolation=None)
    credentials.read(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"])
    assert credentials.sections() == ["default", "prod", "spoke"]
    assert credentials["default"]["aws_secret_access_key"] == run.view.variables["AWS_SECRET_ACCESS_KEY"]
    # Chained sessions are capped at one hour, and the log says so.
    (chained,) = [c for c in accounts.calls if c["Action"] == "AssumeRole"]
    assert chained["DurationSeconds"] == "3600"
    assert "Chained profiles last 3600 s" in run.stdout
    run_post(source_task_dir, run)


@ONE_FAMILY
def test_one_refused_profile_fails_the_whole_step(issuer: Issuer, accounts: Sts, source_task_dir: Path,
                                                  tmp_path: Path) -> None:
    accounts.add_role(DIRECT_ARN, trust_policy(DIRECT_ACCOUNT, issuer.issuer, ["sc://contoso/infra/other"]))
    other = f"arn:aws:iam::{SPOKE_ACCOUNT}:role/unrelated"
    accounts.add_role(other, spoke_trust_policy(f"arn:aws:iam::{ACCOUNT}:role/another-hub"))
    run = launch(issuer, accounts, source_task_dir, tmp_path,
                 chainedProfiles=f"spoke={SPOKE_ARN}\nunrelated={other}")
    assert run.returncode == 0 and run.view.result == "Failed", run.stdout
    assert len(run.view.errors) == 1
    error = run.view.errors[0]
    assert "could not assume 2 of 4 roles (prod, unrelated)" in error
    # One paragraph per failing profile, each line without trailing blanks.
    assert all(line == line.rstrip() for line in error.splitlines()), error
    # The web-identity profile gets the Condition that admits the token, in its own account.
    host = issuer.issuer.split("://")[1]
    assert f"Profile 'prod' ({DIRECT_ARN})" in error and f'"{host}:sub": "{issuer.subject}"' in error
    assert f"arn:aws:iam::{DIRECT_ACCOUNT}:oidc-provider/{host}" in error
    # The chained one gets the statement its trust policy needs, naming the hub role.
    assert f"Profile 'unrelated' ({other})" in error
    # Chained calls carry session tags by default: the statement allows tagging too.
    assert f'"AWS": "{ROLE_ARN}"' in error and '"sts:AssumeRole",' in error and '"sts:TagSession"' in error
    assert f"awswif trust-policy --trust-role {ROLE_ARN} --account-id {SPOKE_ACCOUNT}" in error
    assert "Profile 'spoke'" not in error
    # Nothing exported, nothing written, nothing for the post-job step.
    assert run.view.variables == {} and run.view.output_variables == {} and run.view.task_variables == {}
    assert list(tmp_path.glob("aws-wif/*")) == []
    assert "Traceback" not in run.stdout + run.stderr
    assert run.leaks(*secrets_of(issuer, accounts)) == []


@ONE_FAMILY
def test_session_policies_reach_sts(issuer: Issuer, accounts: Sts, source_task_dir: Path, tmp_path: Path) -> None:
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:AssumeRole"], "Resource": "*"}]}
    arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess", f"arn:aws:iam::{ACCOUNT}:policy/team/deploy-boundary"]
    run = launch(issuer, accounts, source_task_dir, tmp_path, sessionPolicy=json.dumps(policy, indent=4),
                 managedSessionPolicies="\n".join(arns))
    assert run.view.result == "Succeeded", run.stdout
    calls = {c["RoleArn"]: c for c in accounts.calls if c["Action"].startswith("AssumeRole")}
    assert json.loads(calls[ROLE_ARN]["Policy"]) == policy
    assert " " not in calls[ROLE_ARN]["Policy"] and "\n" not in calls[ROLE_ARN]["Policy"]
    assert calls[ROLE_ARN]["PolicyArns"] == arns
    # Only the main role's session is narrowed.
    assert "Policy" not in calls[DIRECT_ARN] and "PolicyArns" not in calls[SPOKE_ARN]
    main = next(s for s in accounts.sessions.values() if s.role_arn == ROLE_ARN)
    assert main.policy_arns == tuple(arns)
    run_post(source_task_dir, run)


@ONE_FAMILY
@pytest.mark.parametrize("where", ["roleArn", "profiles", "chainedProfiles"])
def test_allowed_accounts_refuse_a_stray_account_before_any_call(issuer: Issuer, accounts: Sts,
                                                                 source_task_dir: Path, tmp_path: Path,
                                                                 where: str) -> None:
    stray = "999999999999"
    inputs = {"roleArn": ROLE_ARN, "profiles": f"prod={DIRECT_ARN}", "chainedProfiles": f"spoke={SPOKE_ARN}"}
    inputs[where] = f"arn:aws:iam::{stray}:role/x" if where == "roleArn" else f"stray=arn:aws:iam::{stray}:role/x"
    run = launch(issuer, accounts, source_task_dir, tmp_path,
                 allowedAccountIds=f"{ACCOUNT}, {DIRECT_ACCOUNT},{SPOKE_ACCOUNT}", **inputs)
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert f"account {stray}, which allowedAccountIds" in run.view.errors[0]
    assert accounts.calls == [] and issuer.token_requests == []
    assert run.view.variables == {}


@ONE_FAMILY
def test_verify_credentials_calls_get_caller_identity_once_per_session(issuer: Issuer, accounts: Sts,
                                                                        source_task_dir: Path, tmp_path: Path) -> None:
    run = launch(issuer, accounts, source_task_dir, tmp_path, verifyCredentials="true")
    assert run.view.result == "Succeeded", run.stdout
    identities = [c for c in accounts.calls if c["Action"] == "GetCallerIdentity"]
    assert sorted(c["Caller"] for c in identities) == sorted(s.assumed_role_arn for s in accounts.sessions.values())
    assert len(identities) == 3
    assert "GetCallerIdentity confirmed 3 sessions" in run.stdout
    run_post(source_task_dir, run)


@ONE_FAMILY
def test_verify_credentials_is_off_by_default(issuer: Issuer, accounts: Sts, source_task_dir: Path,
                                              tmp_path: Path) -> None:
    run = launch(issuer, accounts, source_task_dir, tmp_path)
    assert run.view.result == "Succeeded", run.stdout
    assert [c for c in accounts.calls if c["Action"] == "GetCallerIdentity"] == []
    run_post(source_task_dir, run)


@ONE_FAMILY
def test_an_expired_token_is_replaced_once_for_all_concurrent_profiles(issuer: Issuer, accounts: Sts,
                                                                       source_task_dir: Path, tmp_path: Path) -> None:
    first = issuer.mint()
    issuer.replies = [Reply(200, json.dumps({"oidcToken": first}), {"Content-Type": "application/json"})]
    accounts.expired_tokens.add(first)
    run = launch(issuer, accounts, source_task_dir, tmp_path,
                 profiles=f"prod={DIRECT_ARN}\nprod2={OTHER_DIRECT_ARN}", chainedProfiles="")
    assert run.view.result == "Succeeded", run.stdout
    assert len(issuer.token_requests) == 2, "one fresh token serves the main role and both profiles"
    web = [c for c in accounts.calls if c["Action"] == "AssumeRoleWithWebIdentity"]
    # Each role at most twice: once with the expired token (unless it started after the
    # replacement, which it then used), once with the fresh one.
    assert {c["RoleArn"] for c in web} == {ROLE_ARN, DIRECT_ARN, OTHER_DIRECT_ARN} and 4 <= len(web) <= 6
    assert all(token in run.view.masked for token in issuer.minted)
    run_post(source_task_dir, run)


@ONE_FAMILY
def test_chained_profiles_are_not_attempted_when_the_main_role_fails(issuer: Issuer, accounts: Sts,
                                                                     source_task_dir: Path, tmp_path: Path) -> None:
    accounts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, ["sc://contoso/infra/other"]))
    run = launch(issuer, accounts, source_task_dir, tmp_path)
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    error = run.view.errors[0]
    assert "could not assume 2 of 3 roles (default, spoke)" in error
    assert "Profile 'spoke'" in error and "Not attempted: chained profiles need the main role's session" in error
    assert [c for c in accounts.calls if c["Action"] == "AssumeRole"] == []
    assert run.view.variables == {} and list(tmp_path.glob("aws-wif/*")) == []


@ONE_FAMILY
def test_a_bad_profile_line_fails_before_any_call(issuer: Issuer, accounts: Sts,
                                                                        source_task_dir: Path, tmp_path: Path) -> None:
    run = launch(issuer, accounts, source_task_dir, tmp_path, profiles=f"prod={DIRECT_ARN}\nqa arn:aws:iam::x")
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "The profiles input, line 2 ('qa arn:aws:iam::x') is not NAME=ROLE_ARN" in run.view.errors[0]
    assert accounts.calls == [] and issuer.token_requests == []


# The AWS CLI v1 of tests/requirements.txt, beside the test interpreter (not whatever `aws` PATH finds).
AWS_CLI = Path(sys.executable).parent / "aws"


@ONE_FAMILY
def test_aws_cli_picks_the_profiles_by_name(issuer: Issuer, accounts: Sts, source_task_dir: Path,
                                            tmp_path: Path) -> None:
    run = launch(issuer, accounts, source_task_dir, tmp_path)
    assert run.view.result == "Succeeded", run.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in run.view.variables.items() if k not in SECRET_NAMES})
    seen = {}
    for profile in ("default", "prod", "spoke"):
        step = subprocess.run([str(AWS_CLI), "sts", "get-caller-identity", "--profile", profile, "--endpoint-url",
                               accounts.url, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
        assert step.returncode == 0, step.stderr
        seen[profile] = json.loads(step.stdout)["Arn"]
    assert seen == {"default": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION}",
                    "prod": f"arn:aws:sts::{DIRECT_ACCOUNT}:assumed-role/direct/{SESSION}",
                    "spoke": f"arn:aws:sts::{SPOKE_ACCOUNT}:assumed-role/spoke/{SESSION}"}
    run_post(source_task_dir, run)
