#!/usr/bin/env python3
"""What a task run imports, measured from real runs: `python3 bench/imports.py [--write | --profile]`.

Runs the task as shipped (the real launcher, from an extracted .vsix) against the local issuer and
STS stand-ins the tests use, with the agent's `python3` replaced by a wrapper that adds
`-X importtime`, and reads which modules the task's process imported and what each cost.

  (no option)   print the vendored modules a run imports and whether python/bytecode-modules.txt
                lists them all
  --write       rewrite python/bytecode-modules.txt from the measurement (build.py ships bytecode
                for exactly those modules, and for every module of awswif)
  --profile     print what the imports of a run cost (python -X importtime), without bytecode and
                with it, in the order they finished

Scenarios measured: a successful run, and one that STS refuses (the diagnosis path). Not a test;
tests/packaging/test_build.py re-measures and fails when the list drifted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_LIST = ROOT / "python" / "bytecode-modules.txt"
REGENERATE = "python3 bench/imports.py --write"
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "support"), str(ROOT / "python")]

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
# `python -v`: importlib's SourceLoader says where each module's code came from (a .py it compiled,
# or a .pyc). -X importtime is not enough here: it misses submodules loaded through a from-list.
_CODE_FROM = re.compile(r"^# code object from '?(.+?)'?$")


@dataclass(frozen=True)
class Imported:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(stderr: str) -> list[Imported]:
    """`-X importtime` lines, in the order the imports finished."""
    found = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            found.append(Imported(match[4], int(match[1]), int(match[2]), (len(match[3]) - 1) // 2))
    return found


def loaded_files(stderr: str) -> list[Path]:
    """The source files whose code a `python -v` process loaded, compiled or from bytecode."""
    found = []
    for line in stderr.splitlines():
        match = _CODE_FROM.match(line)
        if match:
            path = Path(match[1])
            if path.parent.name == "__pycache__":  # __pycache__/name.cpython-311.pyc → name.py
                path = path.parent.parent / (path.name.split(".")[0] + ".py")
            found.append(path)
    return found


def module_name(lib: Path, source: Path) -> str | None:
    """botocore/client.py → botocore.client, dateutil/__init__.py → dateutil; None outside lib."""
    try:
        parts = source.relative_to(lib).with_suffix("").parts
    except ValueError:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_wrapper(folder: Path, python: Path, *flags: str) -> Path:
    """A folder whose `python3` is `python` with extra flags, for the launcher to find on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" {" ".join(flags)} "$@"\n')
    wrapper.chmod(0o755)
    return folder


def real_python(python: Path | str = sys.executable) -> Path:
    """The interpreter behind a venv's or pyenv's python: what an agent would run."""
    result = subprocess.run([str(python), "-c", "import sys; print(sys.base_prefix); print(sys.version_info[0]); "
                             "print(sys.version_info[1])"], capture_output=True, text=True, check=True)
    prefix, major, minor = result.stdout.split()
    candidate = Path(prefix) / "bin" / f"python{major}.{minor}"
    return candidate if candidate.exists() else Path(python).resolve()


def run_task(task_dir: Path, python: Path, scenario: str = "success", flags: tuple[str, ...] = ("-X", "importtime")
             ) -> subprocess.CompletedProcess[str]:
    """One run of the task through the real launcher, as the agent starts it."""
    from awswif.trust import trust_policy

    from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment
    from fakes import Issuer, Sts

    issuer, sts = Issuer("entra"), Sts()
    try:
        sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
        if scenario == "success":
            sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]))
        # "refused": no role trusts the token, so STS answers AccessDenied and the task explains it.
        with tempfile.TemporaryDirectory() as tmp:
            env = agent_environment(issuer, sts, task_dir, python_bin=python_wrapper(Path(tmp), python, *flags))
            result = subprocess.run([str(NODE), str(task_dir / "launcher.js")], env=env, capture_output=True,
                                    text=True, timeout=120, cwd=tmp)
    finally:
        issuer.close()
        sts.close()
    succeeded = "variable=AWS_SECRET_ACCESS_KEY;issecret=true]" in result.stdout
    if succeeded != (scenario == "success") or "Traceback" in result.stdout + result.stderr:
        raise RuntimeError(f"the {scenario} run did not go as planned:\n{result.stdout}\n{result.stderr}")
    return result


def lib_modules(lib: Path, loaded: Iterable[Path]) -> set[str]:
    """The modules whose code ships in `lib` (vendored packages and awswif), by name."""
    names = (module_name(lib.resolve(), path.resolve()) for path in loaded)
    return {name for name in names if name}


def extract(vsix: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(target)
    (task,) = [p.parent for p in target.glob("*/launcher.js")]
    # A measurement of what is imported, not of what is cached: no shipped bytecode.
    for cache in list(task.rglob("__pycache__")):
        shutil.rmtree(cache)
    return task


def measure(task_dir: Path, python: Path) -> set[str]:
    """The vendored modules (not awswif's: all of those ship as bytecode) that runs import."""
    modules: set[str] = set()
    for scenario in ("success", "refused"):
        result = run_task(task_dir, python, scenario, flags=("-v",))
        modules |= lib_modules(task_dir / "lib", loaded_files(result.stderr))
    return {m for m in modules if m.split(".")[0] != "awswif"}


def default_pythons() -> list[Path]:
    """This interpreter, and the oldest the task supports if pyenv has it: PyJWT imports
    typing_extensions only below 3.11, so one interpreter alone would not see every module."""
    pythons = [real_python()]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    oldest = sorted(pyenv.glob("3.9*/bin/python3.9"))
    if oldest and version_of(oldest[-1]) != version_of(pythons[0]):
        pythons.append(oldest[-1])
    return pythons


def version_of(python: Path) -> str:
    result = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def measured_with(path: Path = MODULE_LIST) -> set[str]:
    """The Python versions the list was measured with, from its header."""
    header = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# with ")), "")
    return set(re.findall(r"Python (\d+\.\d+)", header))


def read_module_list(path: Path = MODULE_LIST) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


def write_module_list(modules: set[str], pythons: list[str], path: Path = MODULE_LIST) -> None:
    header = [
        "# The vendored modules a task run imports, measured from real runs (a success and an STS refusal)",
        f"# with {', '.join(f'Python {v}' for v in pythons)}; build.py ships bytecode for these and for all of awswif.",
        f"# Regenerate after changing what a run imports: {REGENERATE}",
    ]
    path.write_text("\n".join(header + sorted(modules)) + "\n", encoding="utf-8")


def build(work: Path) -> Path:
    out = work / "dist"
    shutil.rmtree(out, ignore_errors=True)
    # No bytecode: the measurement needs none, and a stale module list must not stop its own renewal.
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out), "--stage", str(work / "stage"),
                    "--bytecode"], check=True, capture_output=True, text=True)
    (vsix,) = out.glob("*.vsix")
    return vsix


def profile(task_dir: Path, python: Path, warm: bool) -> None:
    if warm:
        run_task(task_dir, python, flags=())
    result = run_task(task_dir, python)
    lines = parse_importtime(result.stderr)
    tops = [i for i in lines if i.depth == 0]
    total = sum(i.cumulative_us for i in tops)
    state = "with bytecode" if warm else "without bytecode (as on an interpreter the build did not name)"
    print(f"\n{python}, {state}: {len(lines)} imports, {total / 1000:.0f} ms in all; the slowest top-level "
          "imports and what they import directly (cumulative; the background thread's interleave with the "
          "main thread's)")
    for i in lines:
        if i.depth <= 1 and i.cumulative_us >= 1000:
            print(f"  {'    ' * i.depth}{i.cumulative_us / 1000:8.1f} ms  {i.module}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"rewrite {MODULE_LIST.relative_to(ROOT)}")
    parser.add_argument("--profile", action="store_true", help="print what each import costs, cold and warm")
    parser.add_argument("--python", action="append", default=[],
                        help="measure with this interpreter (repeatable; default: the one running this and, "
                             "if pyenv has it, Python 3.9)")
    args = parser.parse_args()
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        import run as test_runner  # tests/run.py: the stand-ins need the test venv

        test_runner.ensure_venv()
        os.execv(str(test_runner.venv_python()), [str(test_runner.venv_python()), *sys.argv])  # noqa: S606
    work = ROOT / ".bench" / "imports"
    task = extract(build(work), work / "task")
    pythons = [real_python(p) for p in args.python] or default_pythons()
    if args.profile:
        for python in pythons:
            profile(task, python, warm=False)
            profile(task, python, warm=True)
        return 0
    measured: set[str] = set()
    for python in pythons:
        measured |= measure(task, python)
    names = sorted({version_of(p) for p in pythons}, key=lambda v: tuple(int(x) for x in v.split(".")))
    if args.write:
        write_module_list(measured, names)
        print(f"Wrote {len(measured)} modules to {MODULE_LIST.relative_to(ROOT)}")
        return 0
    listed = read_module_list() if MODULE_LIST.exists() else set()
    print(f"{len(measured)} vendored modules imported by a run (Python {', '.join(names)}).")
    for name, missing in (("not listed", measured - listed), ("listed but not imported", listed - measured)):
        if missing:
            print(f"{name}: {', '.join(sorted(missing))}")
    return 0 if measured <= listed else 1


if __name__ == "__main__":
    sys.exit(main())
