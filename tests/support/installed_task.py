"""The task installed from the built .vsix as an agent may lay it out (the task folder and the agent's Python
under paths with spaces), launched with refreshingProfiles and the profiles of many_accounts.py; and a later
step's environment that holds only AWS_CONFIG_FILE, the mapped SYSTEM_ACCESSTOKEN and the agent's public
SYSTEM_OIDCREQUESTURI."""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_env import agent_environment
from fakes import Issuer, Sts
from launcher import Run, run_launcher
from many_accounts import DIRECT_ARN, SPOKE_ARN


@dataclass
class Installed:
    task: Path  # the task folder, from the .vsix, under a path with spaces
    python: Path  # the agent's Python, by a path with spaces
    temp: Path  # Agent.TempDirectory


@pytest.fixture
def installed(vsix_task_dir: Path, tmp_path: Path) -> Iterator[Installed]:
    task = tmp_path / "agent work" / "_tasks" / "AwsWifAssume_1 (1.0.0)"
    shutil.copytree(vsix_task_dir, task)
    # The bundled code runs with -S (no site-packages), so the plain interpreter serves, as on an agent.
    python = tmp_path / "hosted tool cache" / "Python 3" / "bin" / "python3"
    python.parent.mkdir(parents=True)
    python.symlink_to(Path(getattr(sys, "_base_executable", sys.executable)).resolve())
    temp = tmp_path / "agent temp"
    temp.mkdir()
    yield Installed(task, python, temp)


def launch(issuer: Issuer, sts: Sts, where: Installed, **inputs: str) -> Run:
    values = {"refreshingProfiles": "true", "profiles": f"prod={DIRECT_ARN}", "chainedProfiles": f"spoke={SPOKE_ARN}"}
    values.update(inputs)
    env = agent_environment(issuer, sts, where.task, python_bin=where.python.parent, **values)
    env["AGENT_TEMPDIRECTORY"] = str(where.temp)
    return run_launcher(where.task, env)


def step_environment(run: Run, issuer: Issuer, home: Path, **extra: str | None) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    env: dict[str, str | None] = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),  # empty: no ~/.aws
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": run.view.variables["AWS_CONFIG_FILE"],
        "SYSTEM_ACCESSTOKEN": issuer.access_token,
        "SYSTEM_OIDCREQUESTURI": issuer.request_uri,
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def process_line(config: Path, profile: str) -> list[str]:
    """The profile's credential_process value, split as botocore splits it on Linux."""
    section = "[default]" if profile == "default" else f"[profile {profile}]"
    lines = config.read_text().splitlines()
    start = lines.index(section)
    line = next(x for x in lines[start + 1:] if x.startswith("credential_process = "))
    return shlex.split(line.split(" = ", 1)[1])
