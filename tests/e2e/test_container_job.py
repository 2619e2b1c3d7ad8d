"""Container jobs (`container: hashicorp/terraform:1.9`), with Linux namespaces standing in for Docker: a mount
namespace and a changed root (`unshare --mount`, then `unshare --root`) hold an "image" made here, with the
agent's folders mounted where the agent mounts them (HostContext.cs CreateContainerInfo: tools /__t, work
/__w, the agent's root /__a; ContainerOperationProvider.cs mounts them and runs node from the mounted
externals). Steps share the host's network namespace, as a job container reaches the host's loopback stand-ins
here. The agent model gives each step what the agent gives it (tests/support/agent_model.py Container: Agent.ContainerId,
Agent.ContainerMapping, every variable value translated to container paths for a step in the container).

- A task step in the container of an image without Python: one clear error naming the container and both ways out.
- `target: host`: the task on the agent, later steps in the container (OpenTofu as the Terraform image's only
  program) find the files through the translated AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE.
- `target: host` with refreshingProfiles: refused before any network call (the line would name host paths).
- The task in a container that has Python, with refreshingProfiles: the line names the container's Python and
  the mounted task folder, and a later container step refreshes through it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment
from agent_model import Container, Job
from fakes import Issuer, S3Front, Sts
from launcher import Run, run_launcher
from many_accounts import DIRECT_ACCOUNT, DIRECT_ARN, SPOKE_ACCOUNT, SPOKE_ARN
from many_accounts import accounts as accounts
from s3_backend import readme_backend
from s3_backend import s3 as s3
from s3_backend import tofu as tofu

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROLES = {"default": (ACCOUNT, ROLE_ARN), "shared": (DIRECT_ACCOUNT, DIRECT_ARN), "prod": (SPOKE_ACCOUNT, SPOKE_ARN)}

if shutil.which("unshare") is None or os.geteuid() != 0:  # pragma: no cover - CI and this machine are root
    pytest.skip("container jobs are stood in by mount namespaces: needs unshare and root", allow_module_level=True)


@dataclass
class Agent:
    """An agent's folders on the host, as the agent lays them out, with the task installed from the .vsix."""

    root: Path
    task: Path  # the task folder on the host
    job: Job
    binds: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def work(self) -> Path:
        return self.root / "_work"

    @property
    def temp(self) -> Path:
        return self.work / "_temp"

    @property
    def container_task(self) -> str:
        return self.job.container.translate(str(self.task)) if self.job.container else str(self.task)


@pytest.fixture
def agent(tmp_path: Path, vsix_task_dir: Path) -> Agent:
    root = tmp_path / "agent"
    task = root / "_work" / "_tasks" / "AwsWifAssume_49335016-77b8-40fb-a629-66df886c0eec" / "1.0.0"
    shutil.copytree(vsix_task_dir, task)
    for folder in ("_temp", "_tool", "s"):
        (root / "_work" / folder).mkdir(parents=True)
    node = root / "externals" / "node20_1" / "bin" / "node"
    node.parent.mkdir(parents=True)
    shutil.copy(str(NODE), node)
    container = Container("terraform", "3f2a9c1e7b5d" + "0" * 52, tools=str(root / "_work" / "_tool"),
                          work=str(root / "_work"), root=str(root))
    job = Job({"System.Debug": "false", "Agent.TempDirectory": str(root / "_work" / "_temp")}, container=container)
    return Agent(root, task, job, [(root / "_work" / "_tool", "/__t"), (root / "_work", "/__w"), (root, "/__a")])


def image(tmp_path: Path, name: str, *, python: bool, programs: dict[str, Path] | None = None) -> Path:
    """An image's root: the C library (every Linux image has one), with the host's whole /usr when it has Python
    (python3 and sh), or without any program at all otherwise; `programs` are placed at the paths given."""
    root = tmp_path / f"image-{name}"
    root.mkdir()
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"), ("sbin", "usr/sbin")):
        (root / link).symlink_to(target)
    for folder in ("usr/lib", "usr/lib64", "usr/bin", "usr/sbin", "tmp", "etc"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "image.json").write_text(json.dumps({"python": python}))
    for where, program in (programs or {}).items():
        target = root / where.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(program, target)
    return root


def run_in(root: Path, agent: Agent, argv: list[str], env: dict[str, str], cwd: str = "/",
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A step in the container: a new mount namespace, the agent's folders (and, for an image with Python, the
    host's /usr) mounted into the image's root, then the program run with that root."""
    with_python = json.loads((root / "image.json").read_text())["python"]
    mounts = [("/usr", "/usr")] if with_python else [("/usr/lib", "/usr/lib")]
    if Path("/usr/lib64").is_dir() and not with_python:
        mounts.append(("/usr/lib64", "/usr/lib64"))
    mounts += [(str(host), inside) for host, inside in agent.binds]
    script = "set -e\n"
    for host, inside in mounts:
        target = f"{root}{inside}"
        script += f"mkdir -p {shlex.quote(target)}\nmount --bind {shlex.quote(host)} {shlex.quote(target)}\n"
    script += "exec unshare --root=" + shlex.quote(str(root)) + " --wd=" + shlex.quote(cwd) + " " + \
        " ".join(shlex.quote(a) for a in argv)
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script],
                          env=env, capture_output=True, text=True, timeout=timeout)


def task_in_container(agent: Agent, root: Path, issuer: Issuer, sts: Sts, **inputs: str) -> Run:
    """The task step in the job's container: node from the mounted externals runs the launcher from the mounted
    task folder; the environment is the handler's, with container paths."""
    base = agent_environment(issuer, sts, agent.task, **inputs)
    base.pop("AGENT_TEMPDIRECTORY")
    base["PATH"] = CONTAINER_PATH
    env = agent.job.handler_environment(base=base, in_container=True)
    proc = run_in(root, agent, ["/__a/externals/node20_1/bin/node", f"{agent.container_task}/launcher.js"], env)
    step = agent.job.run_task(agent.task, proc.stdout, stderr=proc.stderr, exit_code=proc.returncode)
    return Run(step, agent.job, proc.stdout, proc.stderr, proc.returncode, 0.0)


def task_on_host(agent: Agent, issuer: Issuer, sts: Sts, **inputs: str) -> Run:
    """`target: host`: the same task, on the agent, from the host's task folder."""
    base = agent_environment(issuer, sts, agent.task, **inputs)
    base.pop("AGENT_TEMPDIRECTORY")
    return run_launcher(agent.task, agent.job.handler_environment(base=base), job=agent.job)


def container_step_env(agent: Agent, issuer: Issuer, refreshing: bool) -> dict[str, str]:
    """A later script step in the container: the plain job variables, translated; no secret mapped, the job
    access token with refreshing profiles (the README's env: line)."""
    mapping = {"SYSTEM_ACCESSTOKEN": issuer.access_token} if refreshing else {}
    base = {"PATH": CONTAINER_PATH, "HOME": "/tmp", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true", "SYSTEM_OIDCREQUESTURI": issuer.request_uri}
    return agent.job.step_environment(mapping, base=base, in_container=True)


@ONE_FAMILY
def test_an_image_without_python_gets_one_clear_error(agent: Agent, issuer: Issuer, sts: Sts,
                                                      tmp_path: Path) -> None:
    root = image(tmp_path, "terraform", python=False)
    run = task_in_container(agent, root, issuer, sts)
    assert run.returncode == 0, run.stderr
    assert run.view.result == "Failed" and len(run.view.errors) == 1, run.stdout + run.stderr
    error = run.view.errors[0]
    assert "inside the job's container 'terraform'" in error and "target: host" in error and "python3" in error
    assert issuer.token_requests == [] and sts.calls == []


@ONE_FAMILY
@pytest.mark.parametrize("profile", list(ROLES))
def test_target_host_serves_later_container_steps(agent: Agent, issuer: Issuer, accounts: Sts, tmp_path: Path,
                                                  tofu: Path, s3: S3Front, profile: str) -> None:
    """The task on the agent (target: host), Terraform in the container: the files are under Agent.TempDirectory,
    which the container mounts, and the variables naming them arrive translated (/__w/_temp/...)."""
    run = task_on_host(agent, issuer, accounts, profiles=f"shared={DIRECT_ARN}", chainedProfiles=f"prod={SPOKE_ARN}")
    assert run.view.result == "Succeeded", run.stdout
    env = container_step_env(agent, issuer, refreshing=False)
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith("/__w/_temp/aws-wif/run-")
    root = image(tmp_path, "terraform", python=False, programs={"/bin/terraform": tofu})
    account, role_arn = ROLES[profile]
    (agent.work / "s" / "main.tf").write_text(readme_backend(f"tfstate-{account}", profile, s3.url, accounts.url))
    for command in (["init"], ["apply", "-auto-approve"]):
        step = run_in(root, agent, ["/bin/terraform", *command, "-input=false", "-no-color"], env, cwd="/__w/s")
        assert step.returncode == 0, f"{command[0]}:\n{step.stdout}\n{step.stderr}"
    assert {accounts.sessions[k].role_arn for k in s3.writers(f"/tfstate-{account}/app/terraform.tfstate")} == {role_arn}


@ONE_FAMILY
def test_target_host_with_refreshing_profiles_is_refused(agent: Agent, issuer: Issuer, sts: Sts) -> None:
    run = task_on_host(agent, issuer, sts, refreshingProfiles="true")
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "target: host" in run.view.errors[0] and "refreshingProfiles" in run.view.errors[0]
    assert issuer.token_requests == [] and sts.calls == [] and list(agent.temp.iterdir()) == []


@ONE_FAMILY
def test_refreshing_profiles_written_inside_the_container_refresh_there(
        agent: Agent, issuer: Issuer, accounts: Sts, tmp_path: Path, tofu: Path, s3: S3Front) -> None:
    """The task in an image with Python: its credential_process line names the container's python3 and the task
    folder under /__w/_tasks, and Terraform in a later container step refreshes through it (`sh -c`)."""
    root = image(tmp_path, "python", python=True, programs={"/opt/terraform": tofu})
    run = task_in_container(agent, root, issuer, accounts, refreshingProfiles="true",
                            profiles=f"shared={DIRECT_ARN}", chainedProfiles=f"prod={SPOKE_ARN}")
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    config = run.view.variables["AWS_CONFIG_FILE"]
    assert config.startswith("/__w/_temp/aws-wif/run-")
    host_config = agent.work / config[len("/__w/"):]
    line = next(x for x in host_config.read_text().splitlines() if x.startswith("credential_process"))
    assert f"{agent.container_task}/lib/" in line and str(agent.root) not in line and sys.executable not in line
    tokens = len(issuer.token_requests)
    (agent.work / "s" / "main.tf").write_text(readme_backend(f"tfstate-{DIRECT_ACCOUNT}", "shared", s3.url,
                                                             accounts.url))
    env = container_step_env(agent, issuer, refreshing=True)
    for command in (["init"], ["apply", "-auto-approve"]):
        step = run_in(root, agent, ["/opt/terraform", *command, "-input=false", "-no-color"], env, cwd="/__w/s")
        assert step.returncode == 0, f"{command[0]}:\n{step.stdout}\n{step.stderr}"
    assert len(issuer.token_requests) > tokens
    writers = s3.writers(f"/tfstate-{DIRECT_ACCOUNT}/app/terraform.tfstate")
    assert writers and {accounts.sessions[k].role_arn for k in writers} == {DIRECT_ARN}
