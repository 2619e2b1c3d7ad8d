"""The post-job step (task/post.js) deletes only the run directory the main step made.

The real node runs the real post.js with the environment the agent model builds for the task's post-job step
(tests/support/agent_model.py: Job.post_job_environment). The threat: the agent adds the job's public variables to a
handler's environment before the task instance's own task variables (microsoft/azure-pipelines-agent,
src/Agent.Worker/Handlers/Handler.cs: AddVariablesToEnvironment, then AddTaskVariablesToEnvironment). When the
main step stops before it sets its task variable, a job variable named VSTS_TASKVARIABLE_AWSWIF_FILES_DIRECTORY
(or ..._CREDENTIALS_FILE), set by any earlier step with `##vso[task.setvariable]`, reaches post.js as if it
were the task's own. So post.js must check what the variable names: exactly
<Agent.TempDirectory>/aws-wif/run-<16 lower-case hex digits>, both folders real (no link, no junction) and the
agent user's, and never follow a link while it deletes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_env import NODE
from agent_model import Job, StepResult, escape, parse_line, split_lines

RUN = "run-0123456789abcdef"
CREDENTIALS_FILE = "VSTS_TASKVARIABLE_AWSWIF_CREDENTIALS_FILE"
FILES_DIRECTORY = "VSTS_TASKVARIABLE_AWSWIF_FILES_DIRECTORY"
# Any earlier step of the job: a task that declares nothing, so its setvariable makes plain job variables.
HOSTILE_TASK = {"inputs": [], "outputVariables": []}


@dataclass
class Post:
    proc: subprocess.CompletedProcess[str]
    view: StepResult  # the post-job step as the agent model reads its output
    warnings: list[str]  # the data of its ##vso[task.logissue type=warning] lines, unescaped as the agent does


def new_job(temp: Path | None) -> Job:
    """A job whose agent variable Agent.TempDirectory (env AGENT_TEMPDIRECTORY) is `temp`."""
    return Job({"Agent.TempDirectory": str(temp)} if temp is not None else {})


def hostile_step(job: Job, **variables: str) -> None:
    """An earlier step that sets plain job variables, as any script may."""
    output = "".join(f"##vso[task.setvariable variable={name}]{escape(value)}\n" for name, value in variables.items())
    step = job.run_task(HOSTILE_TASK, output, ref_name="hostile")
    assert step.variables == variables and step.command_failures == []


def main_step_hands_over(job: Job, task_dir: Path, directory: str) -> None:
    """The main step's handover (the new contract): only AWSWIF_FILES_DIRECTORY, as a task variable."""
    step = job.run_task(task_dir, f"##vso[task.settaskvariable variable=AWSWIF_FILES_DIRECTORY]{directory}\n", "assume")
    assert step.task_variables == {"AWSWIF_FILES_DIRECTORY": directory}


def post_step(job: Job, task_dir: Path) -> Post:
    """The task's post-job step: the real post.js in the environment the agent gives it. Every outcome must exit 0
    (a non-zero exit is an infrastructure failure) and print nothing but warnings the agent accepts."""
    assert NODE, "node is needed to run post.js"
    env = job.post_job_environment("assume", task_dir, base={"PATH": os.environ["PATH"]})
    proc = subprocess.run([NODE, str(task_dir / "post.js")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    view = job.run_task(task_dir, proc.stdout, "assume", stderr=proc.stderr, exit_code=proc.returncode)
    assert view.result == "Succeeded" and view.errors == [] and view.command_failures == [], view.log
    commands = [c for c in (parse_line(line) for line in split_lines(proc.stdout)) if c is not None]
    warnings = [c.data for c in commands if c.name == "task.logissue" and (c.prop("type") or "").lower() == "warning"]
    assert len(warnings) == len(commands), proc.stdout
    assert view.warnings == warnings
    return Post(proc, view, warnings)


def tree(folder: Path, *files: str) -> Path:
    """A real folder (0700, ours) with files in it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    for name in files:
        (folder / name).write_text(f"{name} of {folder}\n")
    return folder


def our_run_directory(temp: Path) -> Path:
    """What the main step writes: <temp>/aws-wif (0700) / run-<16 hex> (0700) with the credentials and config."""
    tree(temp / "aws-wif")
    return tree(temp / "aws-wif" / RUN, "credentials", "config")


def intact(folder: Path, *files: str) -> bool:
    return folder.is_dir() and not folder.is_symlink() and all((folder / f).is_file() for f in files)


def ignored_once(post: Post, variable: str, value: str) -> str:
    """Exactly one warning, naming the ignored variable and its value; nothing deleted, nothing else printed."""
    assert len(post.warnings) == 1, post.proc.stdout
    (message,) = post.warnings
    assert variable in message and value in message and "deleted nothing" in message
    assert "Deleted" not in post.proc.stdout
    return message


# -- the agent model: what the post-job step receives -----------------------------------------------------------
def test_model_gives_an_earlier_steps_variable_to_the_post_step_unless_the_task_set_its_own(
        source_task_dir: Path, tmp_path: Path) -> None:
    """Handler.cs adds the job's public variables (AddVariablesToEnvironment) before the task instance's task
    variables (AddTaskVariablesToEnvironment): a job variable VSTS_TASKVARIABLE_X reaches the post-job step when
    the main step never set X, and the main step's own task variable wins when it did. This is the premise of
    every test below."""
    job = new_job(tmp_path)
    hostile_step(job, **{CREDENTIALS_FILE: "/home/me/important", FILES_DIRECTORY: "/home/me/aws-wif/run-x"})
    env = job.post_job_environment("assume", source_task_dir, base={"PATH": os.environ["PATH"]})
    assert env[CREDENTIALS_FILE] == "/home/me/important" and env[FILES_DIRECTORY] == "/home/me/aws-wif/run-x"
    assert env["AGENT_TEMPDIRECTORY"] == str(tmp_path)

    ours = str(tmp_path / "aws-wif" / RUN)
    main_step_hands_over(job, source_task_dir, ours)
    env = job.post_job_environment("assume", source_task_dir, base={"PATH": os.environ["PATH"]})
    assert env[FILES_DIRECTORY] == ours, "the task variable is added last and wins"
    assert env[CREDENTIALS_FILE] == "/home/me/important", "the main step no longer sets it: the job variable stays"


# -- what an earlier step names is not deleted ------------------------------------------------------------------
def test_credentials_file_variable_is_ignored(source_task_dir: Path, tmp_path: Path) -> None:
    """The main step no longer sets AWSWIF_CREDENTIALS_FILE, so VSTS_TASKVARIABLE_AWSWIF_CREDENTIALS_FILE can only be
    a job variable of an earlier step (Handler.cs order): post.js deletes nothing it names, and says so."""
    victim = tree(tmp_path / "home", "important") / "important"
    job = new_job(tmp_path / "temp")
    hostile_step(job, **{CREDENTIALS_FILE: str(victim)})
    post = post_step(job, source_task_dir)
    ignored_once(post, CREDENTIALS_FILE, str(victim))
    assert victim.is_file()


def test_directory_outside_the_temp_folder_is_ignored(source_task_dir: Path, tmp_path: Path) -> None:
    """A directory variable from an earlier step (Handler.cs order) naming .../aws-wif/run-<hex> anywhere but under
    Agent.TempDirectory: its last two names look like ours, but it is not <temp>/aws-wif/run-<hex>."""
    temp = tmp_path / "temp"
    tree(temp)
    victim = tree(tmp_path / "elsewhere" / "aws-wif" / RUN, "credentials")
    job = new_job(temp)
    hostile_step(job, **{FILES_DIRECTORY: str(victim)})
    message = ignored_once(post_step(job, source_task_dir), FILES_DIRECTORY, str(victim))
    assert str(temp / "aws-wif" / "run-") in message
    assert intact(victim, "credentials")


def test_aws_wif_folder_that_is_a_link_is_not_entered(source_task_dir: Path, tmp_path: Path) -> None:
    """<temp>/aws-wif planted as a symbolic link to another folder: the path has exactly our form, but what it names
    lies elsewhere. lstat sees the link (a Windows junction too) and nothing is deleted."""
    temp = tmp_path / "temp"
    tree(temp)
    victim = tree(tmp_path / "victim")
    tree(victim / RUN, "credentials")
    (temp / "aws-wif").symlink_to(victim, target_is_directory=True)
    value = str(temp / "aws-wif" / RUN)
    job = new_job(temp)
    hostile_step(job, **{FILES_DIRECTORY: value})
    message = ignored_once(post_step(job, source_task_dir), FILES_DIRECTORY, value)
    assert "symbolic link" in message
    assert intact(victim / RUN, "credentials") and (temp / "aws-wif").is_symlink()


Shape = Callable[[Path, Path], tuple[str, Path]]
NAMES: dict[str, Shape] = {
    # value, and the folder it really names (that must survive)
    "dotdot-out": lambda temp, tmp: (f"{temp}/aws-wif/../../victim/aws-wif/{RUN}", tmp / "victim" / "aws-wif" / RUN),
    "dotdot-back": lambda temp, _: (f"{temp}/aws-wif/../aws-wif/{RUN}", temp / "aws-wif" / RUN),
    "double-slash": lambda temp, _: (f"{temp}/aws-wif//{RUN}", temp / "aws-wif" / RUN),
    "trailing-slash": lambda temp, _: (f"{temp}/aws-wif/{RUN}/", temp / "aws-wif" / RUN),
    "run-evil": lambda temp, _: (f"{temp}/aws-wif/run-evil", temp / "aws-wif" / "run-evil"),
    "upper-case": lambda temp, _: (f"{temp}/aws-wif/run-0123456789ABCDEF", temp / "aws-wif" / "run-0123456789ABCDEF"),
    "15-digits": lambda temp, _: (f"{temp}/aws-wif/run-0123456789abcde", temp / "aws-wif" / "run-0123456789abcde"),
}


@pytest.mark.parametrize("shape", list(NAMES))
def test_only_the_exact_run_directory_form_is_accepted(source_task_dir: Path, tmp_path: Path, shape: str) -> None:
    """The value must be exactly path.join(AGENT_TEMPDIRECTORY, 'aws-wif', 'run-<16 lower-case hex>'), as the main
    step's str(Path) writes it: no '..', no doubled or trailing separator, no other name after 'run-'. Each value
    here passed the old check (last two names 'aws-wif' and 'run-*') and is now ignored with a warning."""
    temp = tmp_path / "temp"
    tree(temp / "aws-wif")
    value, victim = NAMES[shape](temp, tmp_path)
    tree(victim, "credentials")
    job = new_job(temp)
    hostile_step(job, **{FILES_DIRECTORY: value})
    ignored_once(post_step(job, source_task_dir), FILES_DIRECTORY, value)
    assert intact(victim, "credentials")


@pytest.mark.parametrize("kind", ["link-to-folder", "link-to-file", "file"])
def test_run_directory_that_is_not_a_real_folder_is_left_alone(source_task_dir: Path, tmp_path: Path,
                                                               kind: str) -> None:
    """<temp>/aws-wif/run-<hex> of exactly our form, but a symbolic link (to a folder or a file) or a plain file:
    lstat shows it is not the folder the main step made; it is not touched (not even the link is removed)."""
    temp = tmp_path / "temp"
    tree(temp / "aws-wif")
    victim = tree(tmp_path / "victim", "important")
    run = temp / "aws-wif" / RUN
    if kind == "link-to-folder":
        run.symlink_to(victim, target_is_directory=True)
    elif kind == "link-to-file":
        run.symlink_to(victim / "important")
    else:
        run.write_text("not a folder\n")
    job = new_job(temp)
    hostile_step(job, **{FILES_DIRECTORY: str(run)})
    message = ignored_once(post_step(job, source_task_dir), FILES_DIRECTORY, str(run))
    assert ("symbolic link" if kind.startswith("link") else "is not a folder") in message
    assert intact(victim, "important")
    assert run.is_symlink() if kind.startswith("link") else run.is_file()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a folder away needs root")
@pytest.mark.parametrize("folder", ["aws-wif", RUN])
def test_folders_of_another_user_are_left_alone(source_task_dir: Path, tmp_path: Path, folder: str) -> None:
    """The main step creates both folders as the agent's user; one owned by another uid is not ours (checked where
    process.getuid exists, i.e. not on Windows)."""
    temp = tmp_path / "temp"
    run = our_run_directory(temp)
    os.chown(temp / "aws-wif" / folder if folder == RUN else temp / "aws-wif", 65534, 65534)
    job = new_job(temp)
    main_step_hands_over(job, source_task_dir, str(run))
    message = ignored_once(post_step(job, source_task_dir), FILES_DIRECTORY, str(run))
    assert "uid 65534" in message
    assert intact(run, "credentials", "config")


def test_without_agent_temp_directory_nothing_is_deleted(source_task_dir: Path, tmp_path: Path) -> None:
    """Without AGENT_TEMPDIRECTORY (the agent variable Agent.TempDirectory) the value cannot be checked against it,
    so even a well-formed run directory is left to the agent's own cleanup, with a warning."""
    run = our_run_directory(tmp_path / "temp")
    job = new_job(None)
    main_step_hands_over(job, source_task_dir, str(run))
    message = ignored_once(post_step(job, source_task_dir), FILES_DIRECTORY, str(run))
    assert "AGENT_TEMPDIRECTORY" in message
    assert intact(run, "credentials", "config")


def test_warning_data_is_escaped(source_task_dir: Path, tmp_path: Path) -> None:
    """An earlier step's value with '%', CR, LF and a logging command in it (setvariable data is unescaped by the
    agent, so a job variable may hold line breaks): the warning escapes it (% as %AZP25 first, CR %0D, LF %0A), so
    the agent reads one warning whose data is the value itself, and no injected command."""
    value = f"{tmp_path}/100% sure\r\n##vso[task.complete result=Failed]%0A done\n"
    job = new_job(tmp_path)
    hostile_step(job, **{CREDENTIALS_FILE: value})
    post = post_step(job, source_task_dir)
    assert len(split_lines(post.proc.stdout)) == 1 and post.view.reported is None
    ignored_once(post, CREDENTIALS_FILE, value)


# -- the main step's own run directory --------------------------------------------------------------------------
def test_main_step_run_directory_is_removed_and_a_second_run_is_silent(source_task_dir: Path, tmp_path: Path) -> None:
    """The good path: the main step set its task variable, which Handler.cs adds after the job variables, so it wins
    over an earlier step's job variable of the same name. The run directory goes with its files; the aws-wif folder
    and what the earlier step named stay. Run again, the directory is already gone (ENOENT): no output at all."""
    victim = tree(tmp_path / "victim" / "aws-wif" / RUN, "credentials")
    run = our_run_directory(tmp_path)
    job = new_job(tmp_path)
    hostile_step(job, **{FILES_DIRECTORY: str(victim)})
    main_step_hands_over(job, source_task_dir, str(run))
    post = post_step(job, source_task_dir)
    assert post.proc.stdout == f"Deleted the AWS credentials and config files in {run}\n"
    assert not run.exists() and intact(tmp_path / "aws-wif") and intact(victim, "credentials")

    again = post_step(job, source_task_dir)
    assert again.proc.stdout == "" and again.warnings == []


def test_links_inside_the_run_directory_are_unlinked_not_followed(source_task_dir: Path, tmp_path: Path) -> None:
    """Whatever the run directory holds is removed without following a link: a link to a file or to a folder
    elsewhere is unlinked, and what it points at survives."""
    victim = tree(tmp_path / "victim", "important")
    run = our_run_directory(tmp_path)
    (run / "link-to-file").symlink_to(victim / "important")
    (run / "link-to-folder").symlink_to(victim, target_is_directory=True)
    tree(run / "nested", "more")
    job = new_job(tmp_path)
    main_step_hands_over(job, source_task_dir, str(run))
    post = post_step(job, source_task_dir)
    assert post.proc.stdout == f"Deleted the AWS credentials and config files in {run}\n"
    assert not run.exists() and not run.is_symlink()
    assert intact(victim, "important")
