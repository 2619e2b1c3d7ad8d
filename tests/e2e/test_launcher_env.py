"""What the launcher hands the Python process, and which interpreter it starts: the real node runs the real
launcher (source tree and built .vsix) with the environment the agent builds for a Node task, plus what the
rest of the job puts there (other secrets and endpoints, task variables, variables an earlier step set), and
with interpreters an earlier step planted in the job's workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_env import NODE, ROLE_ARN, agent_environment, aws_connection_environment, aws_endpoint, endpoint_environment
from agent_model import Job, load_task_json
from fakes import Issuer, Sts
from launcher import Run, launcher_warnings, run_launcher

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
OTHER_ID = str(uuid.uuid4())  # a connection of another task in the job

# What the rest of the job gives a Node task: none of it is this task's.
PLANTED = {
    "SECRET_OTHERSECRET": "other-secret-value-1f9a",
    f"ENDPOINT_URL_{OTHER_ID}": "https://other.example/",
    f"ENDPOINT_AUTH_{OTHER_ID}": json.dumps({"parameters": {"serviceprincipalkey": "other-sp-key-77c3"},
                                              "scheme": "ServicePrincipal"}),
    f"ENDPOINT_AUTH_SCHEME_{OTHER_ID}": "ServicePrincipal",
    f"ENDPOINT_AUTH_PARAMETER_{OTHER_ID}_SERVICEPRINCIPALKEY": "other-sp-key-77c3",
    f"ENDPOINT_DATA_{OTHER_ID}_SUBSCRIPTIONID": "other-subscription",
    "VSTS_TASKVARIABLE_X": "task-variable-value-5e21",
    "SECUREFILE_TICKET_abc": "secure-file-ticket-9d0e",
    "INPUT_NOTDECLARED": "undeclared-input-value",
    "AWS_ENDPOINT_URL": "https://attacker.example/",
    "AWS_CONFIG_FILE": "/attacker/config",
    "AWS_PROFILE": "attacker",
    "PYTHONPATH": "/attacker/python",
    "VSTS_PUBLIC_VARIABLES": json.dumps(["System.TeamProject"]),
}
PLANTED_SECRETS = ("other-secret-value-1f9a", "other-sp-key-77c3", "task-variable-value-5e21", "secure-file-ticket-9d0e")
# The AWS_* settings Python may see: none of them can send the AWS client to another host.
AWS_ALLOWED = {"AWS_ENDPOINT_URL_STS", "AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
               "AWS_STS_REGIONAL_ENDPOINTS"}


@dataclass
class Agent:
    """The folders of one job on a self-hosted agent (_work/1/{s,a,b}, _work/_temp, _work/_tool) and the
    variables that name them, and a bin folder outside them all."""

    work: Path
    sources: Path
    tools: Path
    outside: Path

    @property
    def variables(self) -> dict[str, str]:
        job = self.work / "1"
        return {
            "BUILD_SOURCESDIRECTORY": str(self.sources),
            "SYSTEM_DEFAULTWORKINGDIRECTORY": str(self.sources),
            "PIPELINE_WORKSPACE": str(job),
            "AGENT_BUILDDIRECTORY": str(job),
            "BUILD_ARTIFACTSTAGINGDIRECTORY": str(job / "a"),
            "BUILD_BINARIESDIRECTORY": str(job / "b"),
            "AGENT_TEMPDIRECTORY": str(self.work / "_temp"),
            "AGENT_TOOLSDIRECTORY": str(self.tools),
        }


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    work = tmp_path / "agent" / "_work"
    for folder in ("1/s", "1/a", "1/b", "_temp", "_tool"):
        (work / folder).mkdir(parents=True)
    outside = tmp_path / "usr-local-bin"
    outside.mkdir()
    return Agent(work, work / "1" / "s", work / "_tool", outside)


def script(path: Path, body: str) -> Path:
    """An executable Python script run by this venv's interpreter. Not a shell script: sh drops variables whose
    names are no shell identifiers, and ENDPOINT_URL_<id> has dashes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}")
    path.chmod(0o755)
    return path


# Then be the real interpreter (this venv's, which has the source tree's dependencies), with the launcher's arguments.
EXEC_REAL = "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"


def dumping_python(folder: Path, dump: Path) -> Path:
    """A `python3` that writes its environment to `dump` as JSON, then is the real interpreter."""
    script(folder / "python3", f"open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))\n{EXEC_REAL}")
    return folder


def marking_python(folder: Path, marker: Path, then_real: bool = False) -> Path:
    """A planted `python3`: it leaves a marker, then either exits 0 as if the task ran, or is the real one."""
    tail = EXEC_REAL if then_real else "sys.exit(0)\n"
    return script(folder / "python3", f"open({str(marker)!r}, 'a').write('ran\\n')\n{tail}")


def job_environment(issuer: Issuer, sts: Sts, task_dir: Path, agent: Agent, python_bin: Path,
                    **inputs: str | None) -> dict[str, str]:
    env = agent_environment(issuer, sts, task_dir, python_bin=python_bin, **inputs)
    env.update(agent.variables)
    env.update(PLANTED)
    return env


def declared_inputs(task_dir: Path) -> set[str]:
    return {"INPUT_" + str(i["name"]).upper() for i in load_task_json(task_dir)["inputs"]}


def assert_nothing_planted(dump: dict[str, str], task_dir: Path) -> None:
    assert not set(PLANTED) & set(dump), set(PLANTED) & set(dump)
    assert not [k for k in dump if k.startswith("ENDPOINT_") and OTHER_ID.upper() in k.upper()]
    assert [k for k in dump if k.startswith("SECRET_")] == ["SECRET_SYSTEM_ACCESSTOKEN"]
    assert not [k for k in dump if k.startswith(("VSTS_", "SECUREFILE_", "PYTHON"))]
    assert {k for k in dump if k.startswith("INPUT_")} <= declared_inputs(task_dir)
    assert "ENDPOINT_AUTH_SYSTEMVSSCONNECTION" not in dump, "the token is passed alone, not in the auth JSON"
    assert not [s for s in PLANTED_SECRETS for value in dump.values() if s in value]
    assert {k for k in dump if k.startswith("AWS_")} <= AWS_ALLOWED


# -- the environment Python receives --------------------------------------------------------------------------
@ONE_FAMILY
def test_python_gets_only_what_it_needs(issuer: Issuer, sts: Sts, task_dir: Path, agent: Agent,
                                        tmp_path: Path) -> None:
    dump = tmp_path / "environment.json"
    env = job_environment(issuer, sts, task_dir, agent, dumping_python(agent.outside, dump))
    env.update({"SYSTEM_DEBUG": "false", "HTTPS_PROXY": "", "no_proxy": "localhost", "LC_ALL": "C.UTF-8",
                "AWS_STS_REGIONAL_ENDPOINTS": "regional", "SYSTEM_JOBID": "job-1", "AGENT_CONTAINERID": "c0ffee"})
    run = run_launcher(task_dir, env)

    assert run.returncode == 0 and run.view.errors == [], run.stdout + run.stderr
    assert run.view.result == "Succeeded" and "AWS_SECRET_ACCESS_KEY" in run.view.secret_variables
    seen = json.loads(dump.read_text())
    assert_nothing_planted(seen, task_dir)
    # This task's inputs, every one task.json declares and the agent set.
    inputs = {k for k in env if k.startswith("INPUT_")} & declared_inputs(task_dir)
    assert inputs and {k: seen.get(k) for k in inputs} == {k: env[k] for k in inputs}
    # The chosen connection's endpoint, whole; the job token; the variables awswif reads.
    chosen = {k for k in env if issuer.connection_id in k}
    assert {f"ENDPOINT_URL_{issuer.connection_id}", f"ENDPOINT_AUTH_SCHEME_{issuer.connection_id}",
            f"ENDPOINT_DATA_{issuer.connection_id}_SUBSCRIPTIONID"} <= chosen
    assert {k: seen.get(k) for k in chosen} == {k: env[k] for k in chosen}
    for name in ("ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN", "ENDPOINT_URL_SYSTEMVSSCONNECTION",
                 "ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION", "SECRET_SYSTEM_ACCESSTOKEN", "SYSTEM_OIDCREQUESTURI",
                 "SYSTEM_COLLECTIONID", "SYSTEM_TEAMPROJECT", "BUILD_BUILDID", "AGENT_TEMPDIRECTORY", "AGENT_VERSION",
                 "SYSTEM_COLLECTIONURI", "SYSTEM_DEBUG", "PATH", "HOME", "LANG", "LC_ALL", "no_proxy", "HTTPS_PROXY",
                 "AWS_STS_REGIONAL_ENDPOINTS", "SYSTEM_JOBID", "AGENT_CONTAINERID"):
        assert seen.get(name) == env[name], name
    # Nothing beyond that.
    workspace = set(agent.variables) - {"AGENT_TEMPDIRECTORY"}
    assert not workspace & set(seen), "the workspace folders are not among what awswif reads"
    assert set(seen) <= set(env)


@ONE_FAMILY
@pytest.mark.parametrize("id_case", ["lower", "upper"])
def test_only_the_selected_aws_connection_is_passed(issuer: Issuer, sts: Sts, source_task_dir: Path,
                                                    agent: Agent, tmp_path: Path, id_case: str) -> None:
    """connectionType aws: the AWS connection's endpoint goes to Python, and the serviceConnection's does
    not, even when the job has one. Windows upper-cases every name, the agent writes ids in lower case:
    either way the endpoint is found."""
    dump = tmp_path / "environment.json"
    endpoint = aws_endpoint(issuer)
    env = aws_connection_environment(issuer, sts, source_task_dir, endpoint, python_bin=dumping_python(agent.outside, dump),
                                     roleArn=ROLE_ARN, region="eu-west-1")
    env.update(agent.variables)
    env.update(PLANTED)
    azure_id = str(uuid.uuid4())
    azure = endpoint_environment({"id": azure_id, "url": "https://management.azure.com/",
                                  "authorization": {"parameters": {"tenantid": "t"}, "scheme": "WorkloadIdentityFederation"},
                                  "data": {"subscriptionId": "s"}})
    env.update(azure)
    env["INPUT_SERVICECONNECTION"] = azure_id
    if id_case == "upper":
        env = {k.upper() if k.startswith("ENDPOINT_") else k: v for k, v in env.items()}
    run = run_launcher(source_task_dir, env)

    assert run.view.result == "Succeeded" and run.view.errors == [], run.stdout + run.stderr
    seen = json.loads(dump.read_text())
    assert_nothing_planted(seen, source_task_dir)
    assert not [k for k in seen if azure_id.upper() in k.upper()]
    mine = {k for k in env if issuer.connection_id.upper() in k.upper()}
    assert {f"ENDPOINT_URL_{issuer.connection_id}".upper(), f"ENDPOINT_DATA_{issuer.connection_id}".upper()} <= {
        k.upper() for k in mine}
    assert {k: seen.get(k) for k in mine} == {k: env[k] for k in mine}


@ONE_FAMILY
def test_a_connection_value_that_is_no_guid_selects_no_endpoint(issuer: Issuer, sts: Sts, source_task_dir: Path,
                                                                agent: Agent, tmp_path: Path) -> None:
    dump = tmp_path / "environment.json"
    env = job_environment(issuer, sts, source_task_dir, agent, dumping_python(agent.outside, dump))
    env["INPUT_SERVICECONNECTION"] = f"ENDPOINT_URL_{issuer.connection_id}"
    run = run_launcher(source_task_dir, env)
    assert run.returncode == 0 and run.view.result == "Failed" and "not a service connection id" in run.view.errors[0]
    seen = json.loads(dump.read_text())
    assert_nothing_planted(seen, source_task_dir)
    assert {k for k in seen if k.startswith("ENDPOINT_")} == {
        "ENDPOINT_URL_SYSTEMVSSCONNECTION", "ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION",
        "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN"}


# -- which interpreter runs -----------------------------------------------------------------------------------
def prepended(env: dict[str, str], folder: Path) -> tuple[Job, dict[str, str]]:
    """An earlier step's ##vso[task.prependpath]: the agent model's job, and the Node handler environment it
    then gives this task."""
    job = Job({"System.Debug": env.get("SYSTEM_DEBUG", "false")})
    job.run_task({}, f"##vso[task.prependpath]{folder}\n", ref_name="build")
    return job, job.handler_environment(base=env)


def run_in(cwd: Path, task_dir: Path, env: dict[str, str]) -> Run:
    """run_launcher, with the working directory elsewhere (the agent starts a task in the sources folder)."""
    proc = subprocess.run([str(NODE), str(task_dir / "launcher.js")], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(cwd))
    job = Job()
    step = job.run_task(task_dir, proc.stdout, stderr=proc.stderr, exit_code=proc.returncode)
    return Run(step, job, proc.stdout, proc.stderr, proc.returncode, 0.0)


@ONE_FAMILY
@pytest.mark.parametrize("how", ["prependpath", "relative-entry"])
def test_a_python_planted_in_the_workspace_is_never_run(issuer: Issuer, sts: Sts, task_dir: Path, agent: Agent,
                                                        tmp_path: Path, how: str) -> None:
    marker = tmp_path / "planted-ran"
    planted = marking_python(agent.sources / "bin", marker)
    env = job_environment(issuer, sts, task_dir, agent, Path(sys.executable).parent)
    if how == "prependpath":
        job, env = prepended(env, planted.parent)
        run = run_launcher(task_dir, env, job=job)
    else:
        env["PATH"] = os.pathsep.join(["bin", env["PATH"]])
        run = run_in(agent.sources, task_dir, env)

    assert not marker.exists()
    assert run.returncode == 0 and run.view.errors == [], run.stdout + run.stderr
    assert run.view.result == "Succeeded" and "AWS_SECRET_ACCESS_KEY" in run.view.secret_variables, \
        "the real python after it on PATH ran the task"
    assert len(launcher_warnings(run)) == 1 and str(planted) in launcher_warnings(run)[0], launcher_warnings(run)
    expected = "relative PATH entry 'bin'" if how == "relative-entry" else f"Build.SourcesDirectory ({agent.sources})"
    assert expected in launcher_warnings(run)[0]


@ONE_FAMILY
def test_a_python_in_the_tools_folder_is_used(issuer: Issuer, sts: Sts, task_dir: Path, agent: Agent,
                                              tmp_path: Path) -> None:
    """UsePythonVersion@0 installs into Agent.ToolsDirectory and prepends it to PATH: that interpreter runs,
    even where the tools folder lies inside a workspace folder (here in Agent.BuildDirectory)."""
    agent.tools = agent.work / "1" / "_tool"
    marker = tmp_path / "tool-ran"
    tool = marking_python(agent.tools / "Python" / "3.12.1" / "x64" / "bin", marker, then_real=True)
    env = job_environment(issuer, sts, task_dir, agent, Path("/nonexistent"))
    job, env = prepended(env, tool.parent)
    run = run_launcher(task_dir, env, job=job)

    assert run.view.result == "Succeeded" and run.view.errors == [] and launcher_warnings(run) == [], run.stdout
    assert marker.read_text() == "ran\n"


@ONE_FAMILY
def test_a_link_in_the_workspace_runs_the_interpreter_it_names(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                               agent: Agent, tmp_path: Path) -> None:
    """A link to an interpreter elsewhere is no planted program, but what lies beside it (pyvenv.cfg) is the
    workspace's: the launcher starts the real file."""
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    link = agent.sources / "venv" / "bin" / "python3"
    link.parent.mkdir(parents=True)
    link.symlink_to(base)
    (link.parent.parent / "pyvenv.cfg").write_text(f"home = {agent.sources / 'nowhere'}\n")
    env = job_environment(issuer, sts, vsix_task_dir, agent, link.parent)
    env["SYSTEM_DEBUG"] = "true"
    run = run_launcher(vsix_task_dir, env)

    assert run.view.result == "Succeeded" and run.view.errors == [] and launcher_warnings(run) == [], run.stdout
    assert f"starting the interpreter it links to, {base}" in run.stdout


@ONE_FAMILY
def test_only_a_planted_python_is_one_clear_error(issuer: Issuer, sts: Sts, source_task_dir: Path, agent: Agent,
                                                  tmp_path: Path) -> None:
    marker = tmp_path / "planted-ran"
    planted = marking_python(agent.sources / "bin", marker)
    env = job_environment(issuer, sts, source_task_dir, agent, planted.parent)
    env["PATH"] = str(planted.parent)
    run = run_launcher(source_task_dir, env)

    assert not marker.exists()
    assert run.returncode == 0 and run.view.result == "Failed", run.stdout + run.stderr
    assert len(run.view.errors) == 1 and len(launcher_warnings(run)) == 1, run.stdout
    error = run.view.errors[0]
    assert "needs Python 3.9 or newer, and none was found" in error and "(tried: python3, python)" in error
    assert str(planted) in error and "UsePythonVersion@0" in error
    assert run.view.variables == {} and run.stderr == ""
    assert run.leaks(issuer.access_token) == []

