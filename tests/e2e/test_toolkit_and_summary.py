"""What the run leaves for the tools and people around it (#23), through the built .vsix: the AWS
Toolkit's task variables as a Toolkit task reads them (aws_toolkit.py, from its source), the run's
Markdown summary and its lifetime (agent_model: uploadsummary), and the notices as warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aws_toolkit
from agent_env import ACCOUNT, agent_environment
from fakes import Issuer, Sts
from later_steps import readme_pipelines
from launcher import Run, run_launcher
from many_accounts import DIRECT_ARN, SPOKE_ARN, run_post, secrets_of
from many_accounts import accounts as accounts

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


def launch(issuer: Issuer, sts: Sts, task_dir: Path, temp: Path, **inputs: str) -> Run:
    env = agent_environment(issuer, sts, task_dir, **inputs)
    env["AGENT_TEMPDIRECTORY"] = str(temp)
    return run_launcher(task_dir, env)


def documented_toolkit_steps() -> tuple[dict[str, Any], dict[str, Any]]:
    """docs/pipelines.md's AWS Toolkit example: the AwsWifAssume@1 step, then a Toolkit task."""
    for pipeline in readme_pipelines():
        if isinstance(pipeline, list) and len(pipeline) == 2 and pipeline[1].get("task") == "S3Upload@1":
            return pipeline[0], pipeline[1]
    raise AssertionError("docs/pipelines.md shows no AwsWifAssume@1 step followed by S3Upload@1")


def issued_main(sts: Sts) -> tuple[str, str, str]:
    key, session = next((k, s) for k, s in sts.sessions.items() if s.role_arn.endswith(":role/deploy"))
    return key, session.secret_access_key, session.session_token


@ONE_FAMILY
def test_a_toolkit_task_without_a_connection_signs_with_the_session(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                                     tmp_path: Path) -> None:
    ours, toolkit = documented_toolkit_steps()
    assert ours["task"] == "AwsWifAssume@1" and "awsCredentials" not in toolkit["inputs"]
    inputs = {k: v for k, v in ours["inputs"].items() if k not in ("serviceConnection", "roleArn")}
    run = launch(issuer, sts, vsix_task_dir, tmp_path, **inputs)
    assert run.view.result == "Succeeded", run.stdout
    # The three keys are secrets; the region is plain (its environment name is AWS_REGION, the same value).
    assert {"AWS.AccessKeyID", "AWS.SecretAccessKey", "AWS.SessionToken"} <= run.view.secret_variables
    assert "AWS.Region" not in run.view.secret_variables
    # A later Toolkit task (S3Upload, AWSCLI, ...) with no awsCredentials input: a Node handler's environment.
    toolkit_env = run.job.handler_environment(inputs=toolkit["inputs"])
    found = aws_toolkit.credentials(toolkit_env)
    assert found is not None and found.source == "task variables"
    assert (found.access_key_id, found.secret_access_key, found.session_token) == issued_main(sts)
    assert aws_toolkit.region(toolkit_env) == ours["inputs"]["region"]
    # Its own regionName input still wins, as the Toolkit lets it.
    assert aws_toolkit.region(toolkit_env, "US-EAST-2") == "us-east-2"
    # A script step never sees the secrets: the agent passes them only as SECRET_*, which task-lib removes.
    script = run.job.step_environment()
    assert not any(v in script.values() for v in issued_main(sts))
    assert run.leaks(*secrets_of(issuer, sts)) == []


@ONE_FAMILY
def test_the_toolkit_variables_can_be_turned_off(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                  tmp_path: Path) -> None:
    run = launch(issuer, sts, vsix_task_dir, tmp_path, awsToolkitVariables="false")
    assert run.view.result == "Succeeded", run.stdout
    assert not any(name.startswith("AWS.") for name in run.view.variables)
    # A Toolkit task then finds no credentials of ours (the plain AWS_* secrets are not in its environment).
    assert aws_toolkit.credentials(run.job.handler_environment()) is None


@ONE_FAMILY
def test_the_summary_shows_every_role_and_outlives_the_job_steps(issuer: Issuer, accounts: Sts,
                                                                 vsix_task_dir: Path, tmp_path: Path) -> None:
    run = launch(issuer, accounts, vsix_task_dir, tmp_path, profiles=f"prod={DIRECT_ARN} region=us-east-1",
                 chainedProfiles=f"spoke={SPOKE_ARN}", sourceIdentity="zoe@contoso.com")
    assert run.view.result == "Succeeded", run.stdout
    (summary,) = run.view.summaries
    path = Path(summary)
    assert path.name == "AWS credentials.md" and path.parent.parent == tmp_path / "aws-wif"
    text = path.read_text(encoding="utf-8")
    assert "| default | 123456789012 | `arn:aws:iam::123456789012:role/deploy` | eu-west-1 | web identity |" in text
    assert f"| prod | 210987654321 | `{DIRECT_ARN}` | us-east-1 | web identity |" in text
    assert f"| spoke | 333333333333 | `{SPOKE_ARN}` | eu-west-1 | chained |" in text
    assert "`Project=infra`" in text and "source identity `zoe@contoso.com`" in text
    assert "AWS_CONFIG_FILE" in text and "--profile" in text
    assert not any(secret in text for secret in secrets_of(issuer, accounts))
    # The post-job step removes the credentials but not the summary, which the agent uploads after the
    # steps (JobServerQueue drains at job end) and then cleans with Agent.TempDirectory.
    files = Path(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"]).parent
    post = run_post(vsix_task_dir, run)
    assert post.returncode == 0, post.stderr
    assert not files.exists() and path.read_text(encoding="utf-8") == text


@ONE_FAMILY
def test_a_summary_that_cannot_be_written_is_a_warning(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "aws-wif").symlink_to(tmp_path)  # planted by an earlier step
    run = launch(issuer, sts, vsix_task_dir, tmp_path)
    assert run.view.result == "Succeeded", run.stdout
    assert run.view.summaries == [] and run.view.variables["AWS_ACCOUNT_ID"] == ACCOUNT
    assert any("run summary cannot be written" in w for w in run.view.warnings), run.view.warnings


@ONE_FAMILY
def test_notices_are_warnings_in_the_runs_summary(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                                  tmp_path: Path) -> None:
    run = launch(issuer, accounts, vsix_task_dir, tmp_path, chainedProfiles=f"spoke={SPOKE_ARN}",
                 durationSeconds="7200")
    assert run.view.result == "Succeeded", run.stdout
    assert any(w.startswith("Chained profiles last 3600 s") for w in run.view.warnings), run.view.warnings
    # An Azure Resource Manager connection on the Azure DevOps issuer: the issuer's retirement.
    assert any("token issuer retires on 2027-07-01" in w for w in run.view.warnings), run.view.warnings
    assert run.view.errors == []
