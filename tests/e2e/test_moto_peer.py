"""Wire compatibility with a third-party STS implementation: moto's server (which does not verify
tokens) answers the task's AssumeRoleWithWebIdentity, and the credentials work against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_env import ACCOUNT, agent_environment
from fakes import Issuer
from launcher import run_launcher


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_task_against_moto_sts(issuer: Issuer, moto_url: str, source_task_dir: Path) -> None:
    env = agent_environment(issuer, None, source_task_dir, stsEndpoint=moto_url, roleSessionName="moto-check")
    run = run_launcher(source_task_dir, env)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    variables = run.view.variables
    assert variables["AWS_ASSUMED_ROLE_ARN"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/moto-check"
    assert variables["AWS_ACCESS_KEY_ID"].startswith("ASIA")

    # A later step of the job, the secrets mapped with env: as documented (agent model builds its environment).
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    mapping = {n: f"$({n})" for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env = run.job.step_environment({**mapping, "AWS_ENDPOINT_URL_STS": moto_url}, base=base)
    code = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    arn = proc.stdout.strip()
    assert arn == variables["AWS_ASSUMED_ROLE_ARN"]


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_profiles_against_moto_sts(issuer: Issuer, moto_url: str, source_task_dir: Path, tmp_path: Path) -> None:
    """AssumeRole signed with the main session, session policies and GetCallerIdentity, as a
    third-party STS reads them off the wire."""
    policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
    env = agent_environment(issuer, None, source_task_dir, stsEndpoint=moto_url, roleSessionName="moto-check",
                            profiles="direct=arn:aws:iam::210987654321:role/direct",
                            chainedProfiles="spoke=arn:aws:iam::333333333333:role/spoke",
                            sessionPolicy=policy, managedSessionPolicies="arn:aws:iam::aws:policy/ReadOnlyAccess",
                            verifyCredentials="true")
    env["AGENT_TEMPDIRECTORY"] = str(tmp_path)
    run = run_launcher(source_task_dir, env)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    assert "GetCallerIdentity confirmed 3 sessions" in run.stdout
    for arn in (f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/moto-check",
                "arn:aws:sts::210987654321:assumed-role/direct/moto-check",
                "arn:aws:sts::333333333333:assumed-role/spoke/moto-check"):
        assert arn in run.stdout
