"""Later steps of the task's job, as the pipelines the documentation shows them: the YAML of the pages that
show pipelines, the task step's environment from a step's inputs, what every step process inherits from
the agent, and a later script step running AWS's own SDK with the environment the agent model builds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from agent_env import ACCOUNT, agent_environment
from agent_model import Job
from fakes import Issuer, Sts
from paths import ROOT

SECRET_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# The env: mapping that the task's summary and the README tell users to put on a later step.
MAPPING = {name: f"$({name})" for name in SECRET_NAMES}
IDENTITY = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"

# The pages that show pipelines: the README's quick start, and docs/pipelines.md (later jobs, job shapes).
PIPELINE_PAGES = ("README.md", "docs/pipelines.md")


def readme_pipelines() -> list[Any]:
    """Every YAML block of the pages that show pipelines, in page order."""
    text = "\n".join((ROOT / page).read_text(encoding="utf-8") for page in PIPELINE_PAGES)
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def task_environment(issuer: Issuer, sts: Sts, task_dir: Path, step: dict[str, Any], **extra: str) -> dict[str, str]:
    """The agent resolves the connection's name to its id; stsEndpoint points the task at the stand-in."""
    inputs = dict(step["inputs"])
    assert inputs.pop("serviceConnection") == issuer.connection_name
    assert inputs["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/deploy"
    return agent_environment(issuer, sts, task_dir, **inputs, **extra)


def agent_process_environment(sts: Sts) -> dict[str, str]:
    """What every step process inherits from the agent: this machine's environment, without AWS settings, where the
    stand-in STS plays AWS's endpoint and no ~/.aws files exist."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update({"AWS_ENDPOINT_URL_STS": sts.url, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    return base


def later_step(job: Job, mapping: dict[str, str], *code: str) -> subprocess.CompletedProcess[str]:
    """A later script step of the same job: its environment as the agent builds it from the job's variables
    and the step's env: mapping (agent model), running AWS's own SDK."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = job.step_environment(mapping, base=base)
    return subprocess.run([sys.executable, "-c", *code], env=env, capture_output=True, text=True)


def caller_identity(job: Job, sts_url: str) -> str:
    """The documented mapping of the secrets, plus where this test's STS and (empty) AWS config are."""
    mapping = {**MAPPING, "AWS_ENDPOINT_URL_STS": sts_url, "AWS_CONFIG_FILE": os.devnull,
               "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    step = later_step(job, mapping, IDENTITY)
    assert step.returncode == 0, step.stderr
    return step.stdout.strip()
