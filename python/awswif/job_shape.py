"""Where this step runs within its job, as the agent tells it, and what that allows.

In a job with a `container:`, the agent sets Agent.ContainerId and runs each step inside that container
unless the step says `target: host`; a step in the container sees the agent's work folder at /__w (C:\\__w
on Windows), its own task folder among them (HostContext.cs CreateContainerInfo, ExecutionContext.cs
TranslatePathForStepTarget). Variable values later steps get are translated the same way, so the files
the task writes under Agent.TempDirectory are found from either side. A credential_process line is not:
it names this Python and this task folder as this step sees them."""

from __future__ import annotations

import sys
from pathlib import PurePosixPath, PureWindowsPath

from .agent import Agent
from .errors import UserError

_LINUX_WORK = PurePosixPath("/__w")
_WINDOWS_WORK = PureWindowsPath("c:/__w")


def in_job_container(code_dir: str, platform: str = sys.platform) -> bool:
    """Whether this step runs inside the job's container: its code is under the container's work mount."""
    if platform == "win32":
        return _WINDOWS_WORK in PureWindowsPath(code_dir.lower()).parents
    return _LINUX_WORK in PurePosixPath(code_dir).parents


def check_refreshing_profiles(agent: Agent, code_dir: str) -> None:
    """refreshingProfiles on the host of a container job (target: host): the line would name the host's
    Python and task folder, which later steps in the container do not have. Refused before any call."""
    container = agent.variable("Agent.ContainerId")
    if not container or in_job_container(code_dir):
        return
    raise UserError(
        f"refreshingProfiles cannot serve this job: it has a container ({container[:12]}), and this step runs on the "
        "agent (target: host), so the credential_process line would name the agent's Python and task folder, "
        "which steps in the container cannot run.",
        "Run this step in the container (drop target: host; the image needs python3 3.9 or newer), or leave "
        "refreshingProfiles off (the files hold sessions of durationSeconds, which container steps read as well).",
    )
