"""The task as the agent runs it: the real node runs the real launcher (task/launcher.js) with the
environment the agent builds (agent_env.py), and the agent model (agent_model.py) applies what it wrote."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_env import NODE
from agent_model import Job, StepResult
from paths import TESTS


@dataclass
class Run:
    view: StepResult  # the step as the agent model sees it (tests/support/agent_model.py)
    job: Job  # the job after the step: what later steps, the post-job step and later jobs get
    stdout: str
    stderr: str
    returncode: int
    seconds: float

    def leaks(self, *secrets: str) -> list[str]:
        return self.view.leaks(secrets)


# The notice every run on the Azure DevOps issuer with an Azure RM connection gives (task.py _issuer_advice).
ISSUER_RETIREMENT_WARNING = "The Azure DevOps token issuer retires on "


def launcher_warnings(run: Run) -> list[str]:
    """The step's warnings but the issuer-retirement notice: what the launcher and the files warned of."""
    return [w for w in run.view.warnings if not w.startswith(ISSUER_RETIREMENT_WARNING)]


def run_launcher(task_dir: Path, env: dict[str, Any], timeout: float = 120, job: Job | None = None,
                 ref_name: str = "assume") -> Run:
    """The task as one step of a job (a new one unless given): the real node runs the launcher, and the agent
    model applies its stdout and stderr with the task.json in task_dir."""
    assert NODE, "node is needed to run the launcher"
    if job is None:
        job = Job({"System.Debug": env.get("SYSTEM_DEBUG", "false")})
    start = time.monotonic()
    proc = subprocess.run([NODE, str(task_dir / "launcher.js")], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=str(TESTS))
    seconds = time.monotonic() - start
    step = job.run_task(task_dir, proc.stdout, ref_name, stderr=proc.stderr, exit_code=proc.returncode)
    return Run(step, job, proc.stdout, proc.stderr, proc.returncode, seconds)
