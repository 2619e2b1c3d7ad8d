#!/usr/bin/env python3
"""Run the whole test suite on a fresh machine: `python3 tests/run.py [pytest args]`.

Creates .venv, installs the runtime lock and the test tools into it (again only when they change),
installs tfx-cli from npm for the packaging conformance tests, then runs ruff and pytest."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
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
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)  # type: ignore[call-overload]


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


def main(argv: list[str]) -> int:
    ensure_venv()
    ensure_tfx()
    py = venv_python()
    run(py, "-m", "ruff", "check", "python", "tests", "build.py")
    return subprocess.run([str(py), "-m", "pytest", *(argv or ["-q", "tests"])], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
