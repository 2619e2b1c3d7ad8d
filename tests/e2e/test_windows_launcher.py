"""Which Python the launcher starts on Windows and macOS agents: the real node runs the real launcher with
process.platform faked (tests/support/fake_platform.js, a `node --require` preload), so that the branch a Windows or
macOS agent takes runs here, with stand-in programs where those agents have their interpreters. Each run is
read as the agent reads it (tests/support/agent_model.py, Job.run_task), and each ends in one clear error or in
success, with exit code 0.

What the stand-ins mimic, and where that behaviour is written down:
- `py.exe`, the Python launcher for Windows (python/cpython PC/launcher2.c): `py -3 ARGS` runs a registered
  Python 3 with ARGS and returns its exit code; with no Python 3 it prints "No suitable Python runtime found"
  on stderr and exits 103 (RC_NO_PYTHON), with no Python at all "No installed Python found!" and 112
  (RC_NO_PYTHON_AT_ALL).
- The Microsoft Store's `python.exe`/`python3.exe` (App Execution Aliases in %LOCALAPPDATA%\\Microsoft\\
  WindowsApps): nothing on stdout, "Python was not found; run without arguments to install from the Microsoft
  Store, or disable this shortcut from Settings > Apps > Advanced app settings > App execution aliases." on
  stderr, exit code 9009 (as reported in microsoft/pylance-release#8050 and EvolvingPrograms/cli#9). Linux
  keeps 8 bits of an exit code: the preload gives the launcher 9009 back (FAKE_WIDE_EXIT_CODES).
- A usable interpreter: a script that becomes this venv's Python with the arguments it got (py's without -3).
- The bootstrap of a Python older than 3.9 exits 86 (task/launcher.js TOO_OLD).

Node's own `path` stays POSIX under the fake: the stand-ins live at POSIX paths, joined as a Windows agent
joins its own; the launcher splits PATH at `;` (path.win32.delimiter) and takes only PATHEXT's .com/.exe,
as on Windows. macOS's interpreters (Homebrew's /opt/homebrew/bin and /usr/local/bin, python.org's
/Library/Frameworks/Python.framework/Versions/3.x/bin) and its temp folder (/var/folders/.., where /var is a
link to /private/var) are folders of those names under pytest's tmp_path: the real ones need root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_env import NODE, agent_environment
from agent_model import Job
from fakes import Issuer, Sts
from launcher import Run, launcher_warnings
from paths import FAKE_PLATFORM, TESTS

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
FAKE = FAKE_PLATFORM
PATHEXT = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC;.PY;.PYW"  # Windows' default
STORE_MESSAGE = ("Python was not found; run without arguments to install from the Microsoft Store, or disable this "
                 "shortcut from Settings > Apps > Advanced app settings > App execution aliases.")
STORE_REASON = "the Microsoft Store's stand-in for Python, exit code 9009"
SEPARATOR = {"win32": ";", "darwin": ":", "linux": ":"}


@dataclass
class Machine:
    """The stand-in programs of one agent, and the log every one of them appends its path to when started."""

    root: Path
    log: Path

    def program(self, relative: str, *, then: str = "real", stderr: str = "", exit_code: int = 0) -> Path:
        """An executable at root/relative: it logs its start and its arguments, then `then`: 'real' (this venv's
        Python with its arguments, py's -3 taken off as py does), 'exit' (stderr, exit_code)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        body = [f"#!{sys.executable}", "import json, os, sys",
                f"open({str(self.log)!r}, 'a').write(json.dumps(sys.argv[:3]) + '\\n')"]
        if then == "real":
            body += ["args = sys.argv[2:] if sys.argv[1:2] == ['-3'] else sys.argv[1:]",
                     "os.execv(sys.executable, [sys.executable, *args])"]
        else:
            body += [f"sys.stderr.write({stderr!r})" if stderr else "", f"sys.exit({exit_code})"]
        path.write_text("\n".join(body) + "\n")
        path.chmod(0o755)
        return path

    def store_stub(self, relative: str) -> Path:
        return self.program(relative, then="exit", stderr=STORE_MESSAGE + "\r\n", exit_code=9009)

    def started(self) -> list[str]:
        """The programs started, in order (argv[0] as the launcher gave it)."""
        if not self.log.exists():
            return []
        return [json.loads(line)[0] for line in self.log.read_text().splitlines()]

    def arguments(self) -> list[list[str]]:
        return [json.loads(line)[1:] for line in self.log.read_text().splitlines()]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path / "machine", tmp_path / "started.log")


def environment(issuer: Issuer, sts: Sts, task_dir: Path, platform: str, path: list[Path | str],
                **inputs: str | None) -> dict[str, str]:
    """What the agent gives the task on that platform: the Node task environment, PATH in that platform's form
    (Windows: `;`, and a folder with spaces quoted as Windows allows), and on Windows its usual variables."""
    env = agent_environment(issuer, sts, task_dir, **inputs)
    env["PATH"] = SEPARATOR[platform].join(str(p) for p in path)
    if platform == "win32":
        env.update({"PATHEXT": PATHEXT, "SYSTEMROOT": r"C:\Windows", "WINDIR": r"C:\Windows",
                    "COMSPEC": r"C:\Windows\system32\cmd.exe", "OS": "Windows_NT"})
    return env


def run_as(platform: str, task_dir: Path, env: dict[str, str], *, wide: tuple[int, ...] = ()) -> Run:
    """The launcher under the real node with process.platform faked, read by the agent model."""
    assert NODE, "node is needed to run the launcher"
    env = {**env, "FAKE_PLATFORM": platform}
    if wide:
        env["FAKE_WIDE_EXIT_CODES"] = ",".join(str(c) for c in wide)
    proc = subprocess.run([NODE, "--require", str(FAKE), str(task_dir / "launcher.js")], env=env,
                          capture_output=True, text=True, timeout=120, cwd=str(TESTS))
    job = Job({"System.Debug": env.get("SYSTEM_DEBUG", "false")})
    step = job.run_task(task_dir, proc.stdout, stderr=proc.stderr, exit_code=proc.returncode)
    return Run(step, job, proc.stdout, proc.stderr, proc.returncode, 0.0)


def assert_succeeded(run: Run, warnings: int = 0) -> None:
    assert run.returncode == 0, run.stderr
    assert run.view.result == "Succeeded" and run.view.errors == [], run.stdout + run.stderr
    assert "AWS_SECRET_ACCESS_KEY" in run.view.secret_variables, "the task itself ran"
    assert len(launcher_warnings(run)) == warnings, launcher_warnings(run)


def assert_one_error(run: Run) -> str:
    assert run.returncode == 0, run.stderr
    assert run.view.result == "Failed" and len(run.view.errors) == 1, run.stdout + run.stderr
    assert run.view.variables == {} and run.view.secret_variables == set()
    return run.view.errors[0]


# -- Windows: which interpreter ------------------------------------------------------------------------------
@ONE_FAMILY
def test_py_3_is_tried_first_and_used(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine) -> None:
    py = machine.program("Windows/py.exe")
    machine.program("Python312/python.exe")
    machine.program("Python312/python3.exe")
    run = run_as("win32", source_task_dir,
                 environment(issuer, sts, source_task_dir, "win32", [machine.root / "Python312", py.parent]))
    assert_succeeded(run)
    assert machine.started() == [str(py)], "py -3 first, even after python on PATH"
    assert machine.arguments()[0][0] == "-3"


@ONE_FAMILY
def test_without_py_python_is_used(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine) -> None:
    python = machine.program("Python312/python.exe")
    machine.program("Python312/python3.exe")
    run = run_as("win32", source_task_dir, environment(issuer, sts, source_task_dir, "win32", [python.parent]))
    assert_succeeded(run)
    assert machine.started() == [str(python)]
    assert machine.arguments()[0][0] == "-E", "python gets no -3"


@ONE_FAMILY
@pytest.mark.parametrize(("code", "message"), [(103, "No suitable Python runtime found\nPass --list (-0) to see all "
                                                     "detected environments on your machine\n"),
                                               (112, "No installed Python found!\n")])
def test_a_py_without_python_3_gives_way_to_python(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine,
                                                   code: int, message: str) -> None:
    """A py.exe left behind by an uninstalled Python, and UsePythonVersion@0's python.exe on PATH."""
    py = machine.program("Windows/py.exe", then="exit", stderr=message, exit_code=code)
    python = machine.program("hostedtoolcache/windows/Python/3.12.4/x64/python.exe")
    run = run_as("win32", source_task_dir, environment(issuer, sts, source_task_dir, "win32", [python.parent, py.parent]))
    assert_succeeded(run)
    assert machine.started() == [str(py), str(python)]


@ONE_FAMILY
@pytest.mark.parametrize("first", ["python.exe", "python3.exe"])
def test_the_store_stub_is_skipped_and_named(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine,
                                             first: str) -> None:
    """The Store's folder comes early on the user's PATH: a python.exe after it, or a python3.exe, runs the task,
    and a warning names the stand-in, which later steps that run `python` meet too."""
    apps = machine.root / "Users/build/AppData/Local/Microsoft/WindowsApps"
    stub = machine.store_stub(f"{apps.relative_to(machine.root)}/python.exe")
    machine.store_stub(f"{apps.relative_to(machine.root)}/python3.exe")
    real = machine.program(f"Python312/{first}")
    run = run_as("win32", source_task_dir, environment(issuer, sts, source_task_dir, "win32", [apps, real.parent]),
                 wide=(9009,))
    assert_succeeded(run, warnings=1)
    started = machine.started()
    assert started[0] == str(stub) and started[-1] == str(real), started
    warning = launcher_warnings(run)[0]
    assert str(stub) in warning and f"it ran {real}" in warning and "App execution aliases" in warning


@ONE_FAMILY
@pytest.mark.parametrize("layout", ["nothing", "store-stubs", "stubs-old-and-empty-py"])
def test_no_usable_python_is_one_clear_error(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine,
                                             layout: str) -> None:
    apps = machine.root / "WindowsApps"
    path: list[Path | str] = [machine.root / "empty"]
    (machine.root / "empty").mkdir(parents=True)
    expected = "(tried: py -3, python, python3)"
    if layout != "nothing":
        python, python3 = machine.store_stub("WindowsApps/python.exe"), machine.store_stub("WindowsApps/python3.exe")
        path.append(apps)
        expected = f"(tried: py -3, python ({python}: {STORE_REASON}), python3 ({python3}: {STORE_REASON}))"
    if layout == "stubs-old-and-empty-py":
        py = machine.program("Windows/py.exe", then="exit", stderr="No installed Python found!\n", exit_code=112)
        old = machine.program("Python38/python.exe", then="exit", exit_code=86)
        path += [py.parent, old.parent]
        expected = (f"(tried: py -3 ({py}: the Python launcher found no Python, exit code 112), "
                    f"python ({python}: {STORE_REASON}), python ({old}: older than Python 3.9), "
                    f"python3 ({python3}: {STORE_REASON}))")
    run = run_as("win32", source_task_dir, environment(issuer, sts, source_task_dir, "win32", path), wide=(9009,))
    error = assert_one_error(run)
    assert launcher_warnings(run) == []
    assert f"AwsWifAssume needs Python 3.9 or newer, and none was found on this agent {expected}." in error, error
    assert "Add a UsePythonVersion@0 step with versionSpec 3.x before this task" in error
    if layout == "nothing":
        assert "App execution aliases" not in error
    else:
        assert "The Microsoft Store's shortcuts named above only install Python" in error
        assert "Settings > Apps > Advanced app settings > App execution aliases" in error


@ONE_FAMILY
def test_python_paths_with_spaces_and_percent(issuer: Issuer, sts: Sts, task_dir: Path, machine: Machine) -> None:
    """A folder with spaces, quoted on PATH as Windows allows, and a `%` that is no variable to expand: the
    launcher starts the file by its path, with no shell in between."""
    python = machine.program("Program Files/Python 3.12 %PATH% 100%/python.exe")
    run = run_as("win32", task_dir,
                 environment(issuer, sts, task_dir, "win32", [machine.root / "empty", f'"{python.parent}"']))
    assert_succeeded(run)
    assert machine.started() == [str(python)]


@ONE_FAMILY
@pytest.mark.parametrize("then_real", [True, False])
def test_bat_and_cmd_files_are_never_started(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine,
                                             then_real: bool) -> None:
    """PATHEXT lists .BAT and .CMD, but they run only through cmd.exe (spawn refuses them without a shell): the
    launcher looks only for .com and .exe files."""
    scripts = [machine.program(f"scripts/{name}", then="exit") for name in
               ("py.bat", "py.cmd", "python.bat", "python.cmd", "python3.bat", "python3.cmd", "python")]
    path: list[Path | str] = [scripts[0].parent]
    if then_real:
        path.append(machine.program("Python312/python.exe").parent)
    run = run_as("win32", source_task_dir, environment(issuer, sts, source_task_dir, "win32", path))
    if then_real:
        assert_succeeded(run)
        assert machine.started() == [str(machine.root / "Python312/python.exe")]
    else:
        error = assert_one_error(run)
        assert "none was found on this agent (tried: py -3, python, python3)" in error
        assert machine.started() == []


# -- Windows and macOS: the workspace check ignores case -----------------------------------------------------------
@ONE_FAMILY
@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_a_planted_python_is_found_in_any_spelling_of_the_workspace(issuer: Issuer, sts: Sts, source_task_dir: Path,
                                                                    machine: Machine, platform: str) -> None:
    """Windows' and macOS's default file systems ignore case, so `.../1/S/bin` is the sources folder `.../1/s`
    there (here two folders; on those agents one): the interpreter in it is not run (CASELESS_PATHS)."""
    name = "py.exe" if platform == "win32" else "python3"
    sources = machine.root / "agent/_work/1/s"
    sources.mkdir(parents=True)
    planted = machine.program(f"agent/_WORK/1/S/bin/{name}")
    real = machine.program("tools/python.exe" if platform == "win32" else "tools/python3")
    env = environment(issuer, sts, source_task_dir, platform, [planted.parent, real.parent])
    env.update({"BUILD_SOURCESDIRECTORY": str(sources), "AGENT_BUILDDIRECTORY": str(sources.parent)})
    run = run_as(platform, source_task_dir, env)
    assert_succeeded(run, warnings=1)
    assert machine.started() == [str(real)]
    assert str(planted) in launcher_warnings(run)[0] and f"Build.SourcesDirectory ({sources})" in launcher_warnings(run)[0]


# -- macOS ---------------------------------------------------------------------------------------------------------
MACOS_PYTHONS = {
    # Homebrew on Apple silicon: a link in /opt/homebrew/bin into the Cellar.
    "homebrew-arm": ("opt/homebrew/bin/python3", "opt/homebrew/Cellar/python@3.12/3.12.4/bin/python3"),
    # Homebrew on Intel: the same under /usr/local.
    "homebrew-intel": ("usr/local/bin/python3", "usr/local/Cellar/python@3.12/3.12.4/bin/python3"),
    # python.org's installer: the framework, linked from /usr/local/bin.
    "python.org": ("usr/local/bin/python3", "Library/Frameworks/Python.framework/Versions/3.12/bin/python3"),
}


@ONE_FAMILY
@pytest.mark.parametrize("layout", sorted(MACOS_PYTHONS))
def test_macos_interpreters_are_found_on_path(issuer: Issuer, sts: Sts, task_dir: Path, machine: Machine,
                                              layout: str) -> None:
    """The link on PATH is started as it is named (nothing of it is in the workspace); an Xcode stub elsewhere on
    PATH comes after it."""
    link_name, target_name = MACOS_PYTHONS[layout]
    target = machine.program(target_name)
    link = machine.root / link_name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))
    xcode_stub = machine.program("usr/bin/python3", then="exit", exit_code=1)
    run = run_as("darwin", task_dir, environment(issuer, sts, task_dir, "darwin", [link.parent, xcode_stub.parent]))
    assert_succeeded(run)
    assert machine.started() == [str(link)]


@ONE_FAMILY
@pytest.mark.parametrize("spelling", ["as-given", "private", "other-case"])
def test_macos_temp_folder_under_var_folders(issuer: Issuer, sts: Sts, source_task_dir: Path, machine: Machine,
                                             spelling: str) -> None:
    """Agent.TempDirectory under /var/folders/../T, where /var is a link to /private/var: an interpreter planted
    there is not run however PATH spells the folder (given, real, other case), Homebrew's runs, and the refreshing
    profiles' files are written in it, for later steps to find."""
    private = machine.root / "private/var"
    (machine.root / "var").parent.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True)
    (machine.root / "var").symlink_to("private/var")
    user_temp = "folders/7x/k2j3h4n5x1c2v3b4n5m6l7k0000gn/T"
    temp = machine.root / "var" / user_temp / "_temp"
    temp.mkdir(parents=True)
    planted_folder = {"as-given": temp, "private": private / user_temp / "_temp",
                      "other-case": private / user_temp.upper() / "_TEMP"}[spelling]
    planted = machine.program(str((planted_folder / "bin/python3").relative_to(machine.root)))
    brew = machine.program("opt/homebrew/bin/python3")
    env = environment(issuer, sts, source_task_dir, "darwin", [planted.parent, brew.parent], refreshingProfiles="true")
    env["AGENT_TEMPDIRECTORY"] = str(temp)
    run = run_as("darwin", source_task_dir, env)
    assert_succeeded(run, warnings=1)
    assert machine.started() == [str(brew)]
    assert str(planted) in launcher_warnings(run)[0] and f"Agent.TempDirectory ({temp})" in launcher_warnings(run)[0]
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    assert str(config).startswith(f"{temp}/aws-wif/run-") and "credential_process = " in config.read_text()


@ONE_FAMILY
def test_the_other_case_is_another_folder_on_linux(issuer: Issuer, sts: Sts, source_task_dir: Path,
                                                   machine: Machine) -> None:
    """The control for the tests above: on Linux, whose file systems keep case, `.../1/S` is not the sources
    folder `.../1/s`, and its interpreter is run."""
    sources = machine.root / "agent/_work/1/s"
    sources.mkdir(parents=True)
    other = machine.program("agent/_work/1/S/bin/python3")
    env = environment(issuer, sts, source_task_dir, "linux", [other.parent])
    env["BUILD_SOURCESDIRECTORY"] = str(sources)
    run = run_as("linux", source_task_dir, env)
    assert_succeeded(run)
    assert machine.started() == [str(other)]
