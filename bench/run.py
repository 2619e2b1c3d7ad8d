#!/usr/bin/env python3
"""Time to credentials, measured against the alternatives: `python3 bench/run.py [--runs N]`.

Against the local OIDC issuer and STS stand-ins the tests use, each variant runs as a fresh process
from start until the credentials are printed as logging commands; the median of N interleaved runs
is reported per network profile, with the ratios to the floor and to the AWS CLI approach.

  ours (cold)  node launcher.js from a freshly extracted .vsix: no __pycache__, as on a hosted agent
  ours (warm)  the same folder after a first run: bytecode cached, as on a self-hosted agent
  aws cli      the seed article's approach: curl + `aws sts assume-role-with-web-identity` (v1) + shell
  floor        node spawning python3 that makes the same two requests with the standard library only

Profiles: loopback (as is) and realistic (the stand-ins add 150 ms to each token response and
100 ms to each STS response). Results go to .bench/results.json. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "python")]


def ensure_environment() -> None:
    """Run inside the test venv (the stand-ins need PyJWT and cryptography), set up on first use."""
    import run as test_runner  # tests/run.py

    test_runner.ensure_venv()
    venv_python = test_runner.venv_python()
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        # Re-runs this script under the test venv's interpreter, with the same arguments.
        os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606


def ensure_awscli() -> Path:
    venv = WORK / "awscli"
    aws = venv / "bin" / "aws"
    requirements = ROOT / "bench" / "requirements-awscli.txt"
    marker = venv / ".installed"
    if not (marker.exists() and marker.read_text() == requirements.read_text()):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
                       check=True)
        marker.write_text(requirements.read_text())
    return aws


def build_vsix() -> tuple[Path, int, int]:
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(WORK / "dist"), "--stage",
                             str(WORK / "stage")], capture_output=True, text=True, check=True)
    print(result.stdout.strip())
    (vsix,) = (WORK / "dist").glob("*.vsix")
    with zipfile.ZipFile(vsix) as archive:
        files = len([n for n in archive.namelist() if not n.endswith("/")])
    pristine = WORK / "pristine"
    shutil.rmtree(pristine, ignore_errors=True)
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(pristine)
    return pristine / "AwsWifAssumeV1", vsix.stat().st_size, files


def real_python_bin() -> Path:
    """A folder whose python3 is the real interpreter (no pyenv or asdf shim in between)."""
    folder = WORK / "bin"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # The venv's interpreter is a copy with the venv's settings beside it: use the one it was made from.
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (folder / "python3").symlink_to(base if base.exists() else Path(sys.executable).resolve())
    return folder


def has_bytecode(task: Path) -> bool:
    return any((task / "lib").rglob("__pycache__"))


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if "variable=AWS_SECRET_ACCESS_KEY;issecret=true]" not in result.stdout or "result=Failed" in result.stdout:
        raise SystemExit(f"{command[:2]} did not produce credentials:\n{result.stdout}\n{result.stderr}")
    return elapsed


def measure(profile_delays: tuple[float, float], runs: int, pristine: Path, aws: Path) -> dict[str, float]:
    """Median milliseconds per variant for one network profile, the variants interleaved."""
    from awswif.trust import trust_policy

    from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment
    from fakes import Issuer, Sts

    issuer, sts = Issuer("entra"), Sts()
    sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]))
    issuer.delay, sts.delay = profile_delays
    node = str(NODE)
    env = agent_environment(issuer, sts, pristine, python_bin=WORK / "bin")
    cli_env = {**env, "PATH": os.pathsep.join([str(aws.parent), env["PATH"]]), "AWS_CONFIG_FILE": os.devnull,
               "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    warm = WORK / "warm" / "AwsWifAssumeV1"
    shutil.rmtree(warm.parent, ignore_errors=True)
    shutil.copytree(pristine, warm)
    timed([node, str(warm / "launcher.js")], env, WORK)
    assert has_bytecode(warm), "the warm copy must have bytecode after its first run"
    timed(["bash", str(ROOT / "bench" / "awscli.sh")], cli_env, WORK)  # the CLI's first run, untimed

    def cold() -> float:
        fresh = WORK / "cold" / "AwsWifAssumeV1"
        shutil.rmtree(fresh.parent, ignore_errors=True)
        shutil.copytree(pristine, fresh)
        assert not has_bytecode(fresh), "a cold run must start without bytecode"
        return timed([node, str(fresh / "launcher.js")], env, WORK)

    variants: dict[str, Callable[[], float]] = {
        "ours (cold)": cold,
        "ours (warm)": lambda: timed([node, str(warm / "launcher.js")], env, WORK),
        "aws cli": lambda: timed(["bash", str(ROOT / "bench" / "awscli.sh")], cli_env, WORK),
        "floor": lambda: timed([node, str(ROOT / "bench" / "floor.js")], env, WORK),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(runs):
            for name, variant in variants.items():
                samples[name].append(variant())
    finally:
        issuer.close()
        sts.close()
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    ensure_environment()
    WORK.mkdir(exist_ok=True)
    aws = ensure_awscli()
    pristine, size, files = build_vsix()
    real_python_bin()
    results = {profile: measure(delays, args.runs, pristine, aws)
               for profile, delays in (("loopback", (0.0, 0.0)), ("realistic", (0.150, 0.100)))}

    print(f"\nTime to credentials, median of {args.runs} interleaved runs "
          f"(Python {sys.version.split()[0]}, {(WORK / 'bin' / 'python3').resolve()})")
    print(f"{'':14}" + "".join(f"{p:>36}" for p in results))
    print(f"{'':14}" + "".join(f"{'ms':>12}{'/ floor':>12}{'/ aws cli':>12}" for _ in results))
    for name in next(iter(results.values())):
        row = f"{name:14}"
        for figures in results.values():
            ms = figures[name]
            row += f"{ms:12.0f}{ms / figures['floor']:12.2f}{ms / figures['aws cli']:12.2f}"
        print(row)
    print(f"\n.vsix: {size / 1024 / 1024:.2f} MB ({size:,} bytes), {files} files")
    report = {"runs": args.runs, "python": sys.version.split()[0], "results_ms": results,
              "vsix": {"bytes": size, "files": files}}
    (WORK / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Written to {(WORK / 'results.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
