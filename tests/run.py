#!/usr/bin/env python3
"""Run the whole test suite on a fresh machine: `python3 tests/run.py [pytest args]`.

Creates .venv, installs the runtime lock and the test tools into it (again only when they change),
installs tfx-cli from npm for the packaging conformance tests, builds OpenTofu and the provider's
credential code from the Go module proxy for the Terraform tests (once; cached), runs the static checks (ruff, mypy
strict, vermin for Python 3.9, bandit, pip-audit on the lock), then pytest over tests/ (tests/unit, tests/e2e,
tests/packaging; tests/support holds the stand-ins and helpers they share).

`python3 tests/run.py --quick [pytest args]` is the loop while editing: the same venv and static checks but
pip-audit, then only tests/unit (pure Python against awswif and in-process stand-ins: no node, no .vsix, no
moto, OpenTofu or Go), without installing tfx-cli or building the Go programs; under a minute once .venv exists.
It prints its time."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
NODE_DIR = ROOT / "tests" / ".node"
TFX = "tfx-cli@0.23.1"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*cmd: str | Path, **kw: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"tests/run.py: '{Path(str(cmd[0])).name} {' '.join(str(c) for c in cmd[1:3])} ...' failed "
                 f"(exit code {result.returncode}); see its output above.")


def ensure_venv() -> None:
    lock, tools = ROOT / "python/requirements.lock", ROOT / "tests/requirements.txt"
    stamp = hashlib.sha256(lock.read_bytes() + tools.read_bytes() + sys.version.encode()).hexdigest()
    marker = VENV / ".installed"
    if marker.exists() and marker.read_text() == stamp and venv_python().exists():
        return
    if VENV.exists():
        shutil.rmtree(VENV)
    venv.create(VENV, with_pip=True)
    py = venv_python()
    run(py, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(py, "-m", "pip", "install", "--quiet", "--require-hashes", "--only-binary=:all:", "-r", lock)
    run(py, "-m", "pip", "install", "--quiet", "-r", tools)
    marker.write_text(stamp)


def ensure_tfx() -> None:
    if (NODE_DIR / "node_modules/tfx-cli/package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed for the packaging conformance tests (tfx-cli): install Node.js 20 or newer.")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    run(npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", NODE_DIR, TFX)


def ensure_go_tools() -> None:
    """The Go programs the Terraform tests run, built once into ~/.cache/aws-wif (reused by later runs and
    fresh clones): OpenTofu from the Go module proxy, and the provider's credential code (tests/support/awsbase).
    Built here, before the tests, so that their one-time cost shows in the output with its time."""
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    import awsbase_probe
    import opentofu

    try:
        print(f"+ OpenTofu {opentofu.VERSION}: {opentofu.tofu_binary()}", flush=True)
        print(f"+ aws-sdk-go-base probe: {awsbase_probe.probe_binary()}", flush=True)
    except RuntimeError as exc:
        sys.exit(f"tests/run.py: {exc}")


def audit(py: Path) -> None:
    """pip-audit of the exact set the .vsix ships. Its vulnerability data comes from PyPI's JSON API
    or OSV; where neither is reachable (as on machines that reach only a package mirror) it says so
    and moves on, but a vulnerability it does find fails the run."""
    print("+ pip-audit -r python/requirements.lock", flush=True)
    result = subprocess.run([str(py), "-m", "pip_audit", "-r", "python/requirements.lock", "--require-hashes",
                             "--disable-pip", "--no-deps", "--format", "json", "--progress-spinner", "off"],
                            cwd=ROOT, capture_output=True, text=True)
    try:
        report = json.loads(result.stdout)["dependencies"]
    except (ValueError, KeyError, TypeError):
        print(f"pip-audit could not run here ({result.stderr.strip().splitlines()[-1:]}); not audited.")
        return
    vulnerable = [d for d in report if d.get("vulns")]
    skipped = [d for d in report if d.get("skip_reason")]
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        print(f"pip-audit: {dep['name']} {dep['version']} is vulnerable: {ids}")
    if vulnerable:
        sys.exit("pip-audit found vulnerable pinned dependencies: update python/requirements.lock (build.py --lock).")
    if skipped:
        print(f"pip-audit: vulnerability data unreachable from this machine for {len(skipped)} of {len(report)} "
              "packages (PyPI JSON API / OSV); those were not audited.")
    else:
        print(f"pip-audit: {len(report)} packages, no known vulnerabilities.")


def static_checks(py: Path, with_audit: bool = True) -> None:
    run(py, "-m", "ruff", "check", "python", "tests", "bench", "build.py")
    entry = "python/awswif_credential_process.py"  # what refreshing profiles run, beside the package
    run(py, "-m", "mypy", "--config-file", "python/pyproject.toml", "python/awswif", entry)
    run(py.parent / "vermin", "-q", "-t=3.9-", "--no-tips", "--violations", "python/awswif", entry, "build.py")
    run(py, "-m", "bandit", "-q", "-r", "python/awswif", entry, "build.py")
    if with_audit:
        audit(py)
    else:
        print("+ pip-audit skipped (--quick); the whole suite runs it", flush=True)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    argv = [a for a in argv if a != "--quick"]
    start = time.monotonic()
    ensure_venv()
    if not quick:
        ensure_tfx()
        ensure_go_tools()
    py = venv_python()
    static_checks(py, with_audit=not quick)
    checked = time.monotonic()
    tests = ["-q", "tests/unit"] if quick else ["-q", "tests"]
    code = subprocess.run([str(py), "-m", "pytest", *(argv or tests)], cwd=ROOT).returncode
    end = time.monotonic()
    command = "tests/run.py --quick" if quick else "tests/run.py"
    outcome = "passed" if code == 0 else f"failed (exit code {code})"
    print(f"{command}: {outcome} in {end - start:.1f} s (set-up and static checks {checked - start:.1f} s, "
          f"pytest {end - checked:.1f} s)", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
