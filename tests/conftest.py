"""Shared fixtures: the local issuer and STS, and running the real launcher with the environment
the agent builds for a Node task."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests"))

from awswif.trust import trust_policy  # noqa: E402

from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment  # noqa: E402, F401
from agent_model import Job, StepResult  # noqa: E402
from fakes import Issuer, Sts  # noqa: E402


@pytest.fixture(params=["azure-devops", "entra"])
def issuer(request: pytest.FixtureRequest) -> Iterator[Issuer]:
    server = Issuer(request.param)
    yield server
    server.close()


@pytest.fixture
def sts(issuer: Issuer) -> Iterator[Sts]:
    server = Sts()
    server.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
    server.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]), max_session_duration=7200)
    yield server
    server.close()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on loopback: the AWS side where a test needs real AWS APIs (IAM, STS, Organizations,
    CloudFormation, S3) rather than the STS stand-in."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Run:
    view: StepResult  # the step as the agent model sees it (tests/agent_model.py)
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
                          timeout=timeout, cwd=str(ROOT / "tests"))
    seconds = time.monotonic() - start
    step = job.run_task(task_dir, proc.stdout, ref_name, stderr=proc.stderr, exit_code=proc.returncode)
    return Run(step, job, proc.stdout, proc.stderr, proc.returncode, seconds)


@pytest.fixture(scope="session")
def source_task_dir() -> Path:
    return ROOT / "task"


@dataclass(frozen=True)
class Built:
    vsix: Path
    stage: Path
    summary: str


def build_vsix(out: Path, stage: Path, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """The README's build command, as a user runs it."""
    return subprocess.run([sys.executable, str(cwd / "build.py"), "--out", str(out), "--stage", str(stage), *args],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("build")
    result = build_vsix(base / "dist", base / "stage")
    assert result.returncode == 0, result.stderr
    (vsix,) = (base / "dist").glob("*.vsix")
    return Built(vsix, base / "stage", result.stdout)


@pytest.fixture(scope="session")
def vsix_task_dir(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The task as an agent unpacks it from the .vsix: no __pycache__, only what the build shipped."""
    target = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(built.vsix) as archive:
        archive.extractall(target)
    return target / "AwsWifAssumeV1"


@pytest.fixture(params=["source", "vsix"])
def task_dir(request: pytest.FixtureRequest) -> Path:
    """Both ways the task runs: from the source tree, and extracted from the built .vsix."""
    if request.param == "source":
        return ROOT / "task"
    return request.getfixturevalue("vsix_task_dir")
