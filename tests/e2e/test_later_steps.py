"""What later steps and later jobs really get, proven with the README's own YAML: the real launcher from the built
.vsix runs as one step of a job on the agent model (tests/support/agent_model.py, which follows the agent's source), and
later steps are real processes running AWS's SDK against the STS stand-in with the environment the model builds.

The YAML is read from the pages that show it (README.md, docs/pipelines.md), so the documentation and these
proofs cannot drift apart."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent_env import ACCOUNT
from agent_model import Job, dependencies_output
from fakes import Issuer, Sts
from later_steps import IDENTITY, SECRET_NAMES, agent_process_environment, readme_pipelines, task_environment
from launcher import run_launcher

SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/azp-infra-4711"
# task.json's outputVariables before issue #9: the names every later step needs, declared as outputs.
PRE_FIX_OUTPUTS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
                   "AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ASSUMED_ROLE_ARN"]


def readme_steps() -> tuple[dict[str, Any], dict[str, Any]]:
    """The README's first pipeline: the task step and the script step after it."""
    for pipeline in readme_pipelines():
        steps = pipeline.get("steps") if isinstance(pipeline, dict) else None
        if steps and steps[0].get("task") == "AwsWifAssume@1" and len(steps) > 1 and "env" in steps[1]:
            return steps[0], steps[1]
    raise AssertionError("README.md shows no AwsWifAssume@1 step followed by a step with env:")


def readme_jobs() -> list[dict[str, Any]]:
    for pipeline in readme_pipelines():
        if isinstance(pipeline, dict) and "jobs" in pipeline:
            jobs: list[dict[str, Any]] = pipeline["jobs"]
            return jobs
    raise AssertionError("docs/pipelines.md shows no multi-job pipeline")


def later_step(job: Job, sts: Sts, env_mapping: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    env = job.step_environment(env_mapping, base=agent_process_environment(sts))
    return subprocess.run([sys.executable, "-c", IDENTITY], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_a_later_step_with_the_readme_env_mapping_calls_aws(issuer: Issuer, sts: Sts, vsix_task_dir: Path) -> None:
    """(a) The README's env: mapping resolves to the credentials, and boto3 signs a call with them."""
    task_step, script_step = readme_steps()
    run = run_launcher(vsix_task_dir, task_environment(issuer, sts, vsix_task_dir, task_step))
    assert run.view.result == "Succeeded", run.stdout + run.stderr

    step = later_step(run.job, sts, script_step["env"])
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == SESSION_ARN
    assert [c["Action"] for c in sts.calls] == ["AssumeRoleWithWebIdentity", "GetCallerIdentity"]
    assert run.leaks(issuer.access_token, *issuer.minted, *(run.view.variables[n] for n in SECRET_NAMES)) == []


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_a_later_step_without_mapping_gets_the_plain_variables_only(issuer: Issuer, sts: Sts,
                                                                    vsix_task_dir: Path) -> None:
    """(b) Region, account and session ARN reach a later step by themselves; the secrets do not."""
    task_step, _ = readme_steps()
    run = run_launcher(vsix_task_dir, task_environment(issuer, sts, vsix_task_dir, task_step))
    env = run.job.step_environment(base=agent_process_environment(sts))
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ACCOUNT_ID"] == ACCOUNT
    assert env["AWS_ASSUMED_ROLE_ARN"] == SESSION_ARN
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", env["AWS_CREDENTIAL_EXPIRATION"])
    assert not set(SECRET_NAMES) & set(env)
    step = later_step(run.job, sts, None)
    assert step.returncode != 0 and "Unable to locate credentials" in step.stderr


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_credentials_file_needs_no_mapping_at_all(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                  tmp_path: Path) -> None:
    """(c) With credentialsFile: true a later step with no env: gets the identity through the plain variable."""
    task_step, _ = readme_steps()
    env = task_environment(issuer, sts, vsix_task_dir, task_step, credentialsFile="true")
    env["AGENT_TEMPDIRECTORY"] = str(tmp_path)
    run = run_launcher(vsix_task_dir, env)
    assert run.view.result == "Succeeded", run.stdout + run.stderr

    base = agent_process_environment(sts)
    del base["AWS_SHARED_CREDENTIALS_FILE"]
    later = run.job.step_environment(base=base)
    assert Path(later["AWS_SHARED_CREDENTIALS_FILE"]).is_file()
    step = subprocess.run([sys.executable, "-c", IDENTITY], env=later, capture_output=True, text=True, timeout=60)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == SESSION_ARN


@pytest.mark.parametrize("issuer", ["entra"], indirect=True)
def test_a_later_job_reads_the_account_through_dependencies(issuer: Issuer, sts: Sts, vsix_task_dir: Path) -> None:
    """(d) The README's two-job pipeline: the later job's variable resolves to the account id."""
    producer, consumer = readme_jobs()
    (task_step,) = [s for s in producer["steps"] if s.get("task") == "AwsWifAssume@1"]
    run = run_launcher(vsix_task_dir, task_environment(issuer, sts, vsix_task_dir, task_step), ref_name=task_step["name"])
    assert run.view.result == "Succeeded", run.stdout

    jobs = {producer["job"]: run.job}
    assert consumer["dependsOn"] == producer["job"]
    (expression,) = re.findall(r"\$\[(.*)\]", consumer["variables"]["accountId"])
    assert dependencies_output(jobs, expression) == ACCOUNT
    # Its script sees the value under the variable the README names.
    later = Job({"accountId": dependencies_output(jobs, expression)})
    assert later.expand(consumer["steps"][0]["script"]) == f'echo "deploying to account {ACCOUNT}"'


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
@pytest.mark.parametrize("output_credentials", [None, "true"])
def test_credentials_leave_the_job_only_on_request(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                   output_credentials: str | None) -> None:
    """(e) By default no secret output exists; with outputCredentials: true the three are secret outputs."""
    task_step, _ = readme_steps()
    extra = {"outputCredentials": output_credentials} if output_credentials else {}
    run = run_launcher(vsix_task_dir, task_environment(issuer, sts, vsix_task_dir, task_step, **extra), ref_name="aws")
    assert run.view.result == "Succeeded", run.stdout
    jobs = {"credentials": run.job}

    def output(name: str) -> str:
        return dependencies_output(jobs, f"dependencies.credentials.outputs['aws.{name}']")

    assert output("awsAccountId") == ACCOUNT and output("awsRegion") == "eu-west-1"
    assert output("awsAssumedRoleArn") == SESSION_ARN
    timeline = run.job.outputs["aws"]
    credential_outputs = {"awsAccessKeyId": "AWS_ACCESS_KEY_ID", "awsSecretAccessKey": "AWS_SECRET_ACCESS_KEY",
                          "awsSessionToken": "AWS_SESSION_TOKEN"}
    if output_credentials:
        for name, plain in credential_outputs.items():
            assert timeline[name].secret and timeline[name].value == run.view.variables[plain]
    else:
        assert not set(credential_outputs) & set(timeline)
        assert not any(out.secret for out in timeline.values())
    # Secret outputs never reach a later step's environment in the clear; the plain ones do, as <STEP>_<NAME>.
    env = run.job.step_environment()
    assert env["AWS_AWSACCOUNTID"] == ACCOUNT
    assert not any(run.view.variables[n] in env.values() for n in SECRET_NAMES)


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_the_model_tells_the_pre_fix_task_json_apart(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                     tmp_path: Path) -> None:
    """(f) The same code with the task.json of before issue #9 (AWS_* declared as outputs) fails proof (a): the
    agent sets those only as <step>.AWS_*, so the README's mapping hands boto3 the literal text."""
    task_dir = tmp_path / "AwsWifAssumeV1"
    shutil.copytree(vsix_task_dir, task_dir)
    definition = json.loads((task_dir / "task.json").read_text())
    definition["outputVariables"] = [{"name": n, "description": n} for n in PRE_FIX_OUTPUTS]
    (task_dir / "task.json").write_text(json.dumps(definition))

    task_step, script_step = readme_steps()
    run = run_launcher(task_dir, task_environment(issuer, sts, task_dir, task_step))
    assert run.view.result == "Succeeded"
    assert "AWS_ACCESS_KEY_ID" not in run.view.variables and "AWS_REGION" not in run.view.variables
    env = run.job.step_environment(script_step["env"], base=agent_process_environment(sts))
    assert env["AWS_ACCESS_KEY_ID"] == "$(AWS_ACCESS_KEY_ID)"
    step = later_step(run.job, sts, script_step["env"])
    # AWS_REGION never reached the step either ...
    assert step.returncode != 0 and "NoRegionError" in step.stderr
    # ... and with the region given by hand, AWS refuses the literal text as an access key.
    env["AWS_DEFAULT_REGION"] = "eu-west-1"
    step = subprocess.run([sys.executable, "-c", IDENTITY], env=env, capture_output=True, text=True, timeout=60)
    assert step.returncode != 0 and "InvalidClientTokenId" in step.stderr
    assert [c["Action"] for c in sts.calls] == ["AssumeRoleWithWebIdentity", "GetCallerIdentity"]
