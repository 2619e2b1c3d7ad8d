"""Deployment jobs, with the YAML of docs/pipelines.md: each lifecycle hook that needs AWS runs the task (from the built
.vsix) as a job of its own, a hook gets nothing another hook's steps set, and a later job reads the task's
outputs under the prefix Microsoft's "Deployment jobs" page gives (tests/support/agent_model.py Deployment)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent_env import ACCOUNT
from agent_model import Deployment, Job, dependencies_output
from fakes import Issuer, Sts
from later_steps import IDENTITY, agent_process_environment, readme_pipelines, task_environment
from launcher import run_launcher

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


def readme_deployment() -> tuple[dict[str, Any], dict[str, Any]]:
    for pipeline in readme_pipelines():
        jobs = pipeline.get("jobs") if isinstance(pipeline, dict) else None
        if jobs and "deployment" in jobs[0]:
            return jobs[0], jobs[1]
    raise AssertionError("docs/pipelines.md shows no deployment job")


def hooks_of(deployment: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The lifecycle hooks of a runOnce deployment and their steps (`on:` hooks as on.failure / on.success)."""
    strategy = deployment["strategy"]["runOnce"]
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean true; Azure Pipelines reads it as the word.
    on = strategy.get("on") or strategy.get(True) or {}
    hooks = {name: hook["steps"] for name, hook in strategy.items() if name not in ("on", True)}
    hooks.update({f"on.{name}": hook["steps"] for name, hook in on.items()})
    return hooks


@ONE_FAMILY
def test_every_hook_assumes_for_itself_and_a_later_job_reads_the_output(issuer: Issuer, sts: Sts,
                                                                        vsix_task_dir: Path) -> None:
    deployment, consumer = readme_deployment()
    model = Deployment(deployment["deployment"], "runOnce")
    hooks = hooks_of(deployment)
    assert {"deploy", "on.failure"} <= set(hooks)
    for hook, steps in hooks.items():
        (task,) = [s for s in steps if s.get("task") == "AwsWifAssume@1"]
        # The pipeline's YAML values reach the agent as text: `true` is the input value "true".
        task = {**task, "inputs": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in task["inputs"].items()}}
        job = Job()  # a hook is a job of its own: a fresh set of variables
        assert job.variables.get("AWS_SHARED_CREDENTIALS_FILE") is None
        run = run_launcher(vsix_task_dir, task_environment(issuer, sts, vsix_task_dir, task), job=job,
                           ref_name=task["name"])
        assert run.view.result == "Succeeded", run.stdout
        # The hook's later script step gets the credentials file without any mapping.
        env = job.step_environment(None, base=agent_process_environment(sts))
        step = subprocess.run([sys.executable, "-c", IDENTITY], env=env, capture_output=True, text=True, timeout=60)
        assert step.returncode == 0 and step.stdout.strip().startswith(f"arn:aws:sts::{ACCOUNT}:"), step.stderr
        model.hooks[hook] = job
    assert consumer["dependsOn"] == deployment["deployment"]
    (expression,) = re.findall(r"\$\[(.*)\]", consumer["variables"]["accountId"])
    assert dependencies_output({model.name: model}, expression) == ACCOUNT
    # The plain job's form (<step>.<name>, no prefix) finds nothing for a deployment: the README's prefix matters.
    assert dependencies_output({model.name: model}, "dependencies.infra.outputs['assume.awsAccountId']") == ""


def test_output_prefixes_follow_the_documented_examples() -> None:
    """learn.microsoft.com "Deployment jobs", Support for output variables: its own examples, as the model reads
    them (runOnce: the job's name; runOnce with a VM resource: Deploy_vmsfortesting; canary: deploy_10)."""
    job = Job()
    job.run_task({"inputs": [], "outputVariables": []},
                 "##vso[task.setvariable variable=myOutputVar;isOutput=true]value\n", ref_name="setvarStep")
    cases = [
        (Deployment("A", "runOnce", {"deploy": job}), "dependencies.A.outputs['A.setvarStep.myOutputVar']"),
        (Deployment("A2", "runOnce", {"Deploy": job}, resource="vmsfortesting"),
         "dependencies.A2.outputs['Deploy_vmsfortesting.setvarStep.myOutputVar']"),
        (Deployment("A", "canary", {"deploy": job}, increment=10),
         "dependencies.A.outputs['deploy_10.setvarStep.myOutputVar']"),
        (Deployment("A", "rolling", {"deploy": job}, resource="VM1"),
         "dependencies.A.outputs['deploy_VM1.setvarStep.myOutputVar']"),
    ]
    for deployment, expression in cases:
        assert dependencies_output({deployment.name: deployment}, expression) == "value", expression
