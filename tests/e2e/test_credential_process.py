"""`awswif credential-process`, as AWS's own tools run it: a config file laid out as the task
writes it (PROFILES_CONTRACT.md: a `[awswif NAME]` record and a `credential_process` line built by
command_line), and a later step's process whose environment holds only AWS_CONFIG_FILE,
SYSTEM_ACCESSTOKEN and the agent's public variables. boto3 and the AWS CLI v1 call the process;
the issuer and STS stand-ins count what it asked for."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from awswif.credential_process import ENTRY_SCRIPT
from awswif.trust import trust_policy

from agent_env import ACCOUNT
from credential_process_steps import (
    SESSION,
    assert_one_line_failure,
    boto3_step,
    config_line,
    record,
    run_process,
    step_environment,
    write_config,
)
from fakes import Issuer, Proxy, Reply, Sts
from paths import ROOT

ASSUMED = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION}"
AWS_CLI = Path(sys.executable).parent / "aws"


@pytest.fixture
def config(tmp_path: Path, issuer: Issuer, sts: Sts) -> Path:
    return write_config(tmp_path / "run", {"default": record(issuer, sts)})


# -- AWS's tools get the identity through the profile ------------------------------------------------
def test_boto3_gets_the_identity_through_the_profile(config: Path, issuer: Issuer, sts: Sts, tmp_path: Path
                                                     ) -> None:
    env = step_environment(tmp_path / "home", config, issuer)
    code = (f"session = boto3.Session()\n"
            f"arn = session.client('sts', endpoint_url={sts.url!r}).get_caller_identity()['Arn']\n"
            "print(json.dumps([arn, session.get_credentials().method, session.region_name]))")
    result = boto3_step(env, code)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [ASSUMED, "custom-process", "eu-west-1"]
    assert len(issuer.token_requests) == 1
    assert issuer.token_requests[0]["headers"]["Authorization"] == f"Bearer {issuer.access_token}"
    assert issuer.token_requests[0]["query"]["serviceConnectionId"] == issuer.connection_id


def test_the_aws_cli_v1_gets_the_identity_through_the_profile(config: Path, issuer: Issuer, sts: Sts,
                                                              tmp_path: Path) -> None:
    env = step_environment(tmp_path / "home", config, issuer)
    version = subprocess.run([str(AWS_CLI), "--version"], env=env, capture_output=True, text=True, check=True)
    assert (version.stdout + version.stderr).startswith("aws-cli/1.")

    result = subprocess.run([str(AWS_CLI), "sts", "get-caller-identity", "--endpoint-url", sts.url, "--output", "json"],
                            env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == ASSUMED
    assert json.loads(result.stdout)["Account"] == ACCOUNT
    assert len(issuer.token_requests) == 1


def test_each_call_is_a_fresh_token_and_a_new_session(config: Path, issuer: Issuer, sts: Sts, tmp_path: Path
                                                      ) -> None:
    env = step_environment(tmp_path / "home", config, issuer)
    first, second = run_process(config, env), run_process(config, env)

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stderr == second.stderr == ""
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["AccessKeyId"] != two["AccessKeyId"] and one["SessionToken"] != two["SessionToken"]
    assert len(issuer.token_requests) == 2 and len(set(issuer.minted)) == 2
    assert [c["Action"] for c in sts.calls] == ["AssumeRoleWithWebIdentity"] * 2
    for answer in (one, two):
        session = sts.sessions[answer["AccessKeyId"]]
        assert answer["Version"] == 1
        assert answer["SecretAccessKey"] == session.secret_access_key
        assert answer["SessionToken"] == session.session_token
        assert answer["Expiration"] == session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert answer["AccountId"] == ACCOUNT
        left = (session.expiration - datetime.now(timezone.utc)).total_seconds()
        assert 3500 < left <= 3600


def test_an_sdk_calls_the_process_again_before_the_session_expires(tmp_path: Path, issuer: Issuer, sts: Sts
                                                                    ) -> None:
    # botocore refreshes process credentials 15 minutes before they expire: a 900-second session is
    # due at once, so every use runs the process again, each time with a fresh token.
    config = write_config(tmp_path / "run", {"default": record(issuer, sts, duration_seconds="900")})
    env = step_environment(tmp_path / "home", config, issuer)
    code = ("credentials = boto3.Session().get_credentials()\n"
            "first = credentials.get_frozen_credentials().access_key\n"
            "second = credentials.get_frozen_credentials().access_key\n"
            "print(json.dumps([first, second]))")
    result = boto3_step(env, code)

    assert result.returncode == 0, result.stderr
    first, second = json.loads(result.stdout)
    assert first != second and {first, second} <= set(sts.sessions)
    assert len(issuer.token_requests) == len(set(issuer.minted)) == len(sts.sessions) >= 2


def test_the_request_uri_comes_from_the_record(config: Path, issuer: Issuer, tmp_path: Path) -> None:
    env = step_environment(tmp_path / "home", config, issuer, SYSTEM_OIDCREQUESTURI=None)  # type: ignore[arg-type]
    result = run_process(config, env)
    assert result.returncode == 0, result.stderr
    assert len(issuer.token_requests) == 1


def test_nothing_is_written_to_disk(config: Path, issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    """No file is written, and none but the empty lock file through which concurrent refreshes elect the one
    that serves them (refresh_broker.py) is made: once per run folder, never written to. (Its socket lives
    only while the refresh runs, and holds nothing on disk.)"""
    env = step_environment(tmp_path / "home", config, issuer)

    def files() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file() or p.is_socket()}

    before = files()
    answer = json.loads(run_process(config, env).stdout)
    after = files()
    lock = config.parent / "refresh.lock"
    assert set(after) - set(before) == {lock} and lock.read_bytes() == b""
    assert {p: t for p, t in after.items() if p != lock} == before
    json.loads(run_process(config, env).stdout)
    assert files() == after, "a second refresh writes nothing"
    secrets = [issuer.access_token, *issuer.minted, answer["SecretAccessKey"], answer["SessionToken"]]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [s for s in secrets if s in text], path


def test_the_agent_proxy_carries_both_calls_and_stdout_stays_json(config: Path, issuer: Issuer, tmp_path: Path
                                                                  ) -> None:
    password = "pr0xy;p@ss%word]"
    proxy = Proxy("builder", password)
    try:
        env = step_environment(tmp_path / "home", config, issuer, AGENT_PROXYURL=proxy.url,
                               AGENT_PROXYUSERNAME="builder", AGENT_PROXYPASSWORD=password)
        result = run_process(config, env)
    finally:
        proxy.close()

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == 1  # the whole of stdout is the JSON: no setsecret line
    assert password not in result.stdout + result.stderr
    targets = [target for _, target in proxy.requests]
    assert any(t.split("?")[0].endswith("/oidctoken") for t in targets)
    assert any(t.startswith("http://127.0.0.1") and "oidctoken" not in t for t in targets)


def test_token_endpoint_hiccups_are_retried_as_in_the_task(config: Path, issuer: Issuer, tmp_path: Path) -> None:
    issuer.replies = [Reply(503, "{}"), Reply(drop=True)]
    result = run_process(config, step_environment(tmp_path / "home", config, issuer))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # retry notes only with System.Debug
    assert len(issuer.token_requests) == 3


# -- the failure contract: one line on stderr, exit 1, nothing on stdout --------------------------------
def test_without_the_job_access_token_the_step_is_told_what_to_add(config: Path, issuer: Issuer, sts: Sts,
                                                                    tmp_path: Path) -> None:
    env = step_environment(tmp_path / "home", config, issuer, SYSTEM_ACCESSTOKEN=None)  # type: ignore[arg-type]
    line = assert_one_line_failure(run_process(config, env), "SYSTEM_ACCESSTOKEN: $(System.AccessToken)",
                                   "profile default")
    assert issuer.token_requests == [] and sts.calls == []

    through_boto3 = boto3_step(env, f"boto3.client('sts', endpoint_url={sts.url!r}).get_caller_identity()")
    assert through_boto3.returncode != 0
    assert line in through_boto3.stderr  # the SDK shows the line in its own error


@pytest.mark.parametrize("debug", ["false", "true"])
def test_a_refused_job_token(config: Path, issuer: Issuer, tmp_path: Path, debug: str) -> None:
    env = step_environment(tmp_path / "home", config, issuer, SYSTEM_ACCESSTOKEN="not-the-job-token",
                           SYSTEM_DEBUG=debug)
    line = assert_one_line_failure(run_process(config, env), "HTTP 401")
    assert "not-the-job-token" not in line


def test_a_role_that_does_not_trust_the_connection(tmp_path: Path, issuer: Issuer, sts: Sts) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/other"
    sts.add_role(other, trust_policy(ACCOUNT, issuer.issuer, ["sc://contoso/infra/someone-else"]))
    config = write_config(tmp_path / "run", {"default": record(issuer, sts, role_arn=other)})
    result = run_process(config, step_environment(tmp_path / "home", config, issuer))
    line = assert_one_line_failure(result, "AWS refused to let this pipeline assume", other, issuer.subject)
    assert not [t for t in issuer.minted if t in line]


def test_the_claims_are_checked_before_sts(config: Path, issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    issuer.claim_overrides = {"aud": "api://SomethingElse"}
    result = run_process(config, step_environment(tmp_path / "home", config, issuer))
    assert_one_line_failure(result, "audience")
    assert sts.calls == []


def test_sts_outages_are_retried_then_explained(issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    """The record carries the task's retryMaxAttempts: a refresh retries as the task would."""
    config = write_config(tmp_path / "run", {"default": record(issuer, sts, retry_max_attempts="4")})
    sts.replies = [sts.error("ServiceUnavailable", "busy", 503, sender=False) for _ in range(5)]
    result = run_process(config, step_environment(tmp_path / "home", config, issuer))
    assert_one_line_failure(result, "AWS STS did not answer successfully after 4 attempts in")
    assert len(sts.calls) == 4


@pytest.mark.parametrize("case", ["no file", "no record", "no role", "bad role", "bad arguments"])
def test_a_missing_or_broken_record(config: Path, issuer: Issuer, tmp_path: Path, case: str) -> None:
    env = step_environment(tmp_path / "home", config, issuer)
    command = shlex.split(config_line(config))
    expected = {"no file": "no longer exists", "no record": "has no [awswif elsewhere] record",
                "no role": "has no role_arn", "bad role": "not an IAM role ARN",
                "bad arguments": "Usage: awswif credential-process"}[case]
    if case == "no file":
        config.unlink()
    elif case == "no record":
        command[command.index("default")] = "elsewhere"
    elif case == "no role":
        config.write_text(config.read_text().replace("role_arn = ", "role_arn_was = "))
    elif case == "bad role":
        config.write_text(config.read_text().replace("role_arn = arn:", "role_arn = nra:"))
    else:
        command.append("--region")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert_one_line_failure(result, expected)
    assert issuer.token_requests == []


def test_a_damaged_install_is_one_line_too(tmp_path: Path, issuer: Issuer, sts: Sts) -> None:
    code = tmp_path / "lib"
    code.mkdir()
    shutil.copyfile(ROOT / "python" / ENTRY_SCRIPT, code / ENTRY_SCRIPT)  # the package itself is missing
    config = write_config(tmp_path / "run", {"default": record(issuer, sts)}, code_dir=code, isolated=True)
    result = run_process(config, step_environment(tmp_path / "home", config, issuer))
    assert_one_line_failure(result, "could not load its code", "Reinstall the extension")


# -- the line, run from folders with spaces and quotes ------------------------------------------------
def test_the_line_runs_from_folders_with_spaces_and_quotes(tmp_path: Path, issuer: Issuer, sts: Sts) -> None:
    awkward = tmp_path / "agent work" / "it's $HOME"
    shutil.copytree(ROOT / "python" / "awswif", awkward / "awswif",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "python" / ENTRY_SCRIPT, awkward / ENTRY_SCRIPT)
    # botocore expands $VARS in AWS_CONFIG_FILE itself, so that path has a space and a quote only.
    config = write_config(tmp_path / "temp dir's", {"default": record(issuer, sts)}, code_dir=awkward)
    env = step_environment(tmp_path / "home", config, issuer)

    via_shell = subprocess.run(["sh", "-c", config_line(config)], env=env, capture_output=True, text=True,
                               timeout=120)
    via_boto3 = boto3_step(env, "print(boto3.Session().get_credentials().get_frozen_credentials().access_key)")

    assert via_shell.returncode == 0, via_shell.stderr
    assert via_boto3.returncode == 0, via_boto3.stderr
    assert {json.loads(via_shell.stdout)["AccessKeyId"], via_boto3.stdout.strip()} <= set(sts.sessions)
