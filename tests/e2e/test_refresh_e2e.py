"""refreshingProfiles from the built .vsix, installed as an agent may lay it out: the task folder and
the agent's Python under paths with spaces. The real launcher runs the task with profiles; then a
later step's process whose environment holds only AWS_CONFIG_FILE, the mapped SYSTEM_ACCESSTOKEN
and the agent's public SYSTEM_OIDCREQUESTURI gets every identity through the profiles, with boto3
and the AWS CLI v1, each time through a fresh OIDC token counted at the issuer."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from awswif.trust import trust_policy

from agent_env import ACCOUNT, ROLE_ARN, agent_environment
from fakes import Issuer, Sts
from installed_task import Installed, launch, process_line, step_environment
from installed_task import installed as installed
from launcher import run_launcher
from many_accounts import DIRECT_ACCOUNT, DIRECT_ARN, SPOKE_ACCOUNT, SPOKE_ARN, run_post, spoke_trust_policy

SESSION = "azp-infra-4711"
AWS_CLI = Path(sys.executable).parent / "aws"
IDENTITIES = {
    "default": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION}",
    "prod": f"arn:aws:sts::{DIRECT_ACCOUNT}:assumed-role/direct/{SESSION}",
    "spoke": f"arn:aws:sts::{SPOKE_ACCOUNT}:assumed-role/spoke/{SESSION}",
}
ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


@pytest.fixture
def accounts(issuer: Issuer, sts: Sts) -> Sts:
    """A second account that trusts the connection, and a spoke whose role trusts the main role."""
    sts.add_provider(DIRECT_ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(DIRECT_ARN, trust_policy(DIRECT_ACCOUNT, issuer.issuer, [issuer.subject]), max_session_duration=7200)
    sts.add_role(SPOKE_ARN, spoke_trust_policy(ROLE_ARN), max_session_duration=7200)
    return sts


def secrets_of(issuer: Issuer, sts: Sts) -> list[str]:
    sessions = sts.sessions.values()
    return [issuer.access_token, *issuer.minted, *sts.sessions, *(s.secret_access_key for s in sessions),
            *(s.session_token for s in sessions)]


@ONE_FAMILY
def test_later_steps_refresh_every_profile_from_the_vsix(issuer: Issuer, accounts: Sts, installed: Installed,
                                                         tmp_path: Path) -> None:
    run = launch(issuer, accounts, installed)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    assert "SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in run.stdout  # the YAML a long-running step needs
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    credentials = Path(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"])
    assert config.parent.parent == installed.temp / "aws-wif"

    # Every profile runs the agent's Python and the task's code, by their paths with spaces; no keys anywhere.
    for name in IDENTITIES:
        assert process_line(config, name) == [
            str(installed.python), "-E", "-s", "-S", str(installed.task / "lib" / "awswif_credential_process.py"),
            "--config", str(config), "--profile", name]
    assert "aws_access_key_id" not in credentials.read_text() + config.read_text()
    assert len(issuer.token_requests) == 1

    # boto3, the profiles chosen by name; the SDK runs each profile's line itself.
    env = step_environment(run, issuer, tmp_path / "home")
    code = ("import boto3, json, sys\n"
            "print(json.dumps({name: boto3.Session(profile_name=name).client('sts', endpoint_url=sys.argv[1])"
            ".get_caller_identity()['Arn'] for name in sys.argv[2:]}))")
    step = subprocess.run([sys.executable, "-c", code, accounts.url, *IDENTITIES], env=env, capture_output=True,
                          text=True, timeout=120)
    assert step.returncode == 0, step.stderr
    assert json.loads(step.stdout) == IDENTITIES
    # A fresh token for each profile; the spoke through a fresh session of the main role.
    assert len(issuer.token_requests) == 1 + 3
    refresh = accounts.calls[-4:]
    assert [c["Action"] for c in refresh].count("AssumeRole") == 1
    chained = next(i for i, c in enumerate(refresh) if c["Action"] == "AssumeRole")
    assert refresh[chained]["RoleArn"] == SPOKE_ARN and refresh[chained]["Caller"] == IDENTITIES["default"]
    assert refresh[chained - 1] == {**refresh[chained - 1], "Action": "AssumeRoleWithWebIdentity",
                                    "RoleArn": ROLE_ARN}

    # The AWS CLI v1, for the chained profile.
    cli = subprocess.run([str(AWS_CLI), "sts", "get-caller-identity", "--profile", "spoke", "--endpoint-url",
                          accounts.url, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"] == IDENTITIES["spoke"]
    assert len(issuer.token_requests) == 1 + 3 + 1

    # Two runs of the chained profile's process: two tokens, two sessions, each with its own expiry.
    tokens_before = len(issuer.token_requests)
    answers = []
    for _ in range(2):
        result = subprocess.run(process_line(config, "spoke"), env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        answers.append(json.loads(result.stdout))
    assert len(issuer.token_requests) == tokens_before + 2
    assert answers[0]["AccessKeyId"] != answers[1]["AccessKeyId"]
    for answer in answers:
        session = accounts.sessions[answer["AccessKeyId"]]
        assert session.assumed_role_arn == IDENTITIES["spoke"] and answer["AccountId"] == SPOKE_ACCOUNT
        assert answer["Expiration"] == session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (session.expiration - datetime.now(timezone.utc)).total_seconds() <= 3600  # chained: at most 1 h

    # Without the job access token: one line saying what to add, exit 1, nothing on stdout.
    bare = step_environment(run, issuer, tmp_path / "home", SYSTEM_ACCESSTOKEN=None)
    failed = subprocess.run(process_line(config, "spoke"), env=bare, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and "env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in failed.stderr

    # No secret the run issued is in any file it wrote, nor in the output outside setsecret/issecret.
    secrets = secrets_of(issuer, accounts)
    for path in installed.temp.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert [s for s in secrets if s in text] == [], path
    assert run.leaks(*secrets) == []

    # The post-job step removes the files; a refresh after the job says why it cannot work.
    default_line = process_line(config, "default")
    post = run_post(installed.task, run)
    assert post.returncode == 0 and "##vso" not in post.stdout, post.stdout
    assert not config.parent.exists()
    gone = subprocess.run(default_line, env=env, capture_output=True, text=True, timeout=120)
    assert gone.returncode == 1 and "no longer exists" in gone.stderr


def test_refreshing_the_main_role_alone_writes_the_files(issuer: Issuer, sts: Sts, installed: Installed,
                                                         tmp_path: Path) -> None:
    run = launch(issuer, sts, installed, profiles="", chainedProfiles="")
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    assert "[profile " not in config.read_text()

    env = step_environment(run, issuer, tmp_path / "home")
    cli = subprocess.run([str(AWS_CLI), "sts", "get-caller-identity", "--endpoint-url", sts.url, "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"] == IDENTITIES["default"]
    assert len(issuer.token_requests) == 2
    run_post(installed.task, run)


@ONE_FAMILY
def test_session_policies_apply_to_every_refresh_of_the_main_role(issuer: Issuer, accounts: Sts,
                                                                  installed: Installed, tmp_path: Path) -> None:
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    run = launch(issuer, accounts, installed, profiles="", sessionPolicy=policy)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    env = step_environment(run, issuer, tmp_path / "home")
    for profile in ("default", "spoke"):
        result = subprocess.run(process_line(config, profile), env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    main_role_calls = [c for c in accounts.calls if c.get("RoleArn") == ROLE_ARN]
    assert len(main_role_calls) == 3  # the task, the default profile, the spoke's hub
    assert all(json.loads(c["Policy"]) == json.loads(policy) for c in main_role_calls)
    run_post(installed.task, run)


@ONE_FAMILY
@pytest.mark.parametrize("case", ["not a boolean", "no temporary folder"])
def test_refreshing_profiles_input_problems_fail_before_any_call(issuer: Issuer, sts: Sts, source_task_dir: Path,
                                                                 case: str) -> None:
    env = agent_environment(issuer, sts, source_task_dir,
                            refreshingProfiles="maybe" if case == "not a boolean" else "true")
    if case == "no temporary folder":
        del env["AGENT_TEMPDIRECTORY"]
    run = run_launcher(source_task_dir, env)
    assert run.view.result == "Failed"
    (error,) = run.view.errors
    assert ("refreshingProfiles" in error) if case == "not a boolean" else ("Agent.TempDirectory" in error)
    assert issuer.token_requests == [] and sts.calls == []
    assert "AWS_CONFIG_FILE" not in run.view.variables
