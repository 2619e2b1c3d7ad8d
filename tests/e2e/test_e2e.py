"""The real node runs the real launcher with the agent's environment, against the local issuer and
STS; the credentials it exports are then used by a follow-up process, as a later step would."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment
from agent_model import dependencies_output
from fakes import Issuer, Sts
from later_steps import IDENTITY, MAPPING, SECRET_NAMES, caller_identity, later_step
from launcher import run_launcher


def test_credentials_reach_a_later_step(issuer: Issuer, sts: Sts, task_dir: Path) -> None:
    run = run_launcher(task_dir, agent_environment(issuer, sts, task_dir))

    assert run.returncode == 0
    assert run.view.errors == [], run.stdout
    assert run.view.result == "Succeeded"
    assert set(SECRET_NAMES) <= run.view.secret_variables
    assert run.view.variables["AWS_REGION"] == run.view.variables["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert run.view.variables["AWS_ACCOUNT_ID"] == ACCOUNT
    assert run.view.variables["AWS_ASSUMED_ROLE_ARN"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/azp-infra-4711"
    assert run.view.output_variables == {"awsAccountId": ACCOUNT, "awsRegion": "eu-west-1",
                                         "awsAssumedRoleArn": run.view.variables["AWS_ASSUMED_ROLE_ARN"],
                                         "awsCredentialExpiration": run.view.variables["AWS_CREDENTIAL_EXPIRATION"]}
    assert issuer.minted[0] in run.view.masked, "the OIDC token is registered as a secret"
    assert sts.calls[0]["RoleSessionName"] == "azp-infra-4711"

    arn = caller_identity(run.job, sts.url)
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/azp-infra-4711"
    later = run.job.step_environment(MAPPING)
    assert later["AWS_REGION"] == later["AWS_DEFAULT_REGION"] == "eu-west-1" and later["AWS_ACCOUNT_ID"] == ACCOUNT
    assert all(later[name] == run.view.variables[name] for name in SECRET_NAMES)
    unmapped = run.job.step_environment()
    assert not any(run.view.variables[name] in unmapped.values() for name in SECRET_NAMES), \
        "secrets reach a later step only through its env: mapping"
    # Later jobs: the declared outputs, as the server resolves dependencies.<job>.outputs['<step>.<name>'].
    jobs = {"aws": run.job}
    assert dependencies_output(jobs, "dependencies.aws.outputs['assume.awsRegion']") == "eu-west-1"
    assert dependencies_output(jobs, "dependencies.aws.outputs['assume.awsAccountId']") == ACCOUNT
    assert dependencies_output(jobs, "dependencies.aws.outputs['assume.awsSessionToken']") == ""

    secrets = [issuer.access_token, *issuer.minted, *(run.view.variables[n] for n in SECRET_NAMES)]
    assert run.leaks(*secrets) == []
    assert "env:" in run.stdout and "AWS_SECRET_ACCESS_KEY: $(AWS_SECRET_ACCESS_KEY)" in run.stdout
    assert issuer.issuer in run.stdout and issuer.subject in run.stdout


def test_refused_by_trust_policy_explains_the_condition(issuer: Issuer, sts: Sts, task_dir: Path) -> None:
    from awswif.trust import trust_policy

    sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, ["sc://contoso/infra/another-connection"]))
    run = run_launcher(task_dir, agent_environment(issuer, sts, task_dir))

    assert run.returncode == 0 and run.view.result == "Failed"
    assert len(run.view.errors) == 1
    error = run.view.errors[0]
    host = issuer.issuer.split("://")[1]
    assert f'"{host}:sub": "{issuer.subject}"' in error
    assert f'"{host}:aud": "api://AzureADTokenExchange"' in error
    assert f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}" in error
    assert run.view.variables == {} and run.view.output_variables == {}
    assert "Traceback" not in run.stdout + run.stderr
    assert run.leaks(issuer.access_token, *issuer.minted) == []


@pytest.mark.parametrize("debug", ["true", "false"])
def test_debug_prints_the_matching_trust_policy(issuer: Issuer, sts: Sts, task_dir: Path, debug: str) -> None:
    env = agent_environment(issuer, sts, task_dir)
    env["SYSTEM_DEBUG"] = debug
    run = run_launcher(task_dir, env)
    assert run.view.result == "Succeeded"
    assert ("Trust policy that admits this token" in run.stdout) == (debug == "true")
    assert run.leaks(issuer.access_token, *issuer.minted, *(run.view.variables[n] for n in SECRET_NAMES)) == []


@pytest.mark.parametrize("issuer", ["entra"], indirect=True)
def test_vsix_runs_on_the_oldest_supported_python(issuer: Issuer, sts: Sts, vsix_task_dir: Path, tmp_path: Path) -> None:
    """The vendored dependencies and our code, isolated from site-packages, on Python 3.9."""
    pyenv = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
    found = sorted(pyenv.glob("3.9*/bin/python3.9"))
    if not found:
        pytest.skip("needs pyenv's Python 3.9")
    (tmp_path / "python3").symlink_to(found[-1])
    env = agent_environment(issuer, sts, vsix_task_dir)
    env["PATH"] = str(tmp_path)
    run = run_launcher(vsix_task_dir, env)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    assert caller_identity(run.job, sts.url).endswith(":assumed-role/deploy/azp-infra-4711")


# -- the credentials file ------------------------------------------------------------------------------
def test_credentials_file_serves_later_steps_without_mapping(issuer: Issuer, sts: Sts, task_dir: Path,
                                                             tmp_path: Path) -> None:
    env = agent_environment(issuer, sts, task_dir, credentialsFile="true")
    env["AGENT_TEMPDIRECTORY"] = str(tmp_path)
    run = run_launcher(task_dir, env)
    assert run.view.result == "Succeeded", run.stdout
    path = Path(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"])
    # In a directory of the run's own: the only shape the post-job step deletes (task/post.js).
    assert path.name == "credentials" and path.parent.parent == tmp_path / "aws-wif"
    assert re.fullmatch(r"run-[0-9a-f]{16}", path.parent.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "no env: mapping" not in run.stdout and "without any env: mapping" in run.stdout

    # A later step with no secrets mapped: the plain job variables point the SDK at the file.
    step = later_step(run.job, {"AWS_ENDPOINT_URL_STS": sts.url, "AWS_CONFIG_FILE": os.devnull}, IDENTITY)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/azp-infra-4711"
    assert run.leaks(issuer.access_token, *issuer.minted, run.view.variables["AWS_SECRET_ACCESS_KEY"]) == []

    # The post-job step deletes it, with the task variable the main step handed over.
    post_env = run.job.post_job_environment("assume", task_dir, base={"PATH": env["PATH"],
                                                                       "AGENT_TEMPDIRECTORY": str(tmp_path)})
    assert post_env["VSTS_TASKVARIABLE_AWSWIF_FILES_DIRECTORY"] == str(path.parent)
    post = subprocess.run([str(NODE), str(task_dir / "post.js")], env=post_env, capture_output=True, text=True)
    assert post.returncode == 0 and not path.parent.exists() and "Deleted" in post.stdout
    assert "##vso" not in post.stdout
    again = subprocess.run([str(NODE), str(task_dir / "post.js")], env=post_env, capture_output=True, text=True)
    assert again.returncode == 0 and "##vso" not in again.stdout, "an already deleted file is no problem"


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
@pytest.mark.parametrize("trap", ["symlink-folder", "open-folder"])
def test_credentials_file_refuses_a_prepared_path(issuer: Issuer, sts: Sts, source_task_dir: Path, tmp_path: Path,
                                                  trap: str) -> None:
    agent_temp, target = tmp_path / "temp", tmp_path / "elsewhere"
    agent_temp.mkdir()
    target.mkdir()
    folder = agent_temp / "aws-wif"
    if trap == "symlink-folder":
        folder.symlink_to(target)
    else:
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    env = agent_environment(issuer, sts, source_task_dir, credentialsFile="true")
    env["AGENT_TEMPDIRECTORY"] = str(agent_temp)
    run = run_launcher(source_task_dir, env)
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "credentials file cannot be written" in run.view.errors[0]
    assert run.view.variables == {} and list(target.iterdir()) == []
    assert run.leaks(issuer.access_token, *issuer.minted) == []


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_output_credentials_are_secret_outputs_only_on_request(issuer: Issuer, sts: Sts, source_task_dir: Path) -> None:
    run = run_launcher(source_task_dir, agent_environment(issuer, sts, source_task_dir, outputCredentials="true"))
    assert run.view.result == "Succeeded", run.stdout
    for output, plain in (("awsAccessKeyId", "AWS_ACCESS_KEY_ID"), ("awsSecretAccessKey", "AWS_SECRET_ACCESS_KEY"),
                          ("awsSessionToken", "AWS_SESSION_TOKEN")):
        assert run.view.output_variables[output] == run.view.variables[plain]
        assert output in run.view.secret_variables
        assert dependencies_output({"aws": run.job}, f"dependencies.aws.outputs['assume.{output}']") == \
            run.view.variables[plain]
        assert f"ASSUME_{output.upper()}" not in run.job.step_environment(), "secret outputs stay out of env"
    secrets = [issuer.access_token, *issuer.minted, *(run.view.variables[n] for n in SECRET_NAMES)]
    assert run.leaks(*secrets) == []
