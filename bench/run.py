#!/usr/bin/env python3
"""Time to credentials, measured against the alternatives:
`python3 bench/run.py [--runs N] [--configure-aws-credentials PATH]`.

Against the local OIDC issuer and STS stand-ins the tests use, each variant runs as a fresh process
from start until the credentials are printed as logging commands; the median of N interleaved runs
is reported per network profile, with the ratios to the floor, the AWS CLI approach and
configure-aws-credentials.

  ours (cold)       node launcher.js from a freshly extracted .vsix, as on a hosted agent (every job
                    unpacks the task afresh), with the bytecode the .vsix ships for this interpreter
  ours (cold, no bytecode)
                    the same without the shipped bytecode: an interpreter the build did not name
                    (the warm-up process compiles the AWS client on another core)
  ours (warm)       the same folder after a first run, as on a self-hosted agent
  configure-aws-credentials
                    GitHub's action (its dist/index.js) on node, in OIDC mode: the token from a
                    GitHub-style endpoint on the same issuer, AssumeRoleWithWebIdentity on the same
                    STS, then (as it always does) GetCallerIdentity with the new credentials
  aws cli           the seed article's approach: curl + `aws sts assume-role-with-web-identity` (v1)
  floor             node spawning python3 that makes the same two requests with the standard library

Profiles: loopback (as is) and realistic (the stand-ins add 150 ms to each token response and
100 ms to each STS response). Results go to .bench/results.json. Not a test: it prints figures.

configure-aws-credentials is not shipped here: name a copy with --configure-aws-credentials PATH
(or BENCH_CONFIGURE_AWS_CREDENTIALS), PATH being its dist/index.js, a folder holding dist/index.js
(an npm or git checkout), or a git repository (bare or not) from which dist/index.js at --cac-ref
(default v6.2.3) is extracted into .bench/. Without one it is left out, with a message.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "support"), str(ROOT / "python")]


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


def find_configure_aws_credentials(given: str | None, ref: str) -> Path | None:
    """configure-aws-credentials' dist/index.js, from what the user named, or None (with a message)."""
    if not given:
        cached = sorted((WORK / "configure-aws-credentials").glob("*/dist/index.js"))
        if cached:
            return cached[-1]
        print("configure-aws-credentials: no copy named (--configure-aws-credentials PATH or "
              "BENCH_CONFIGURE_AWS_CREDENTIALS); left out of the comparison.")
        return None
    path = Path(given).expanduser().resolve()
    for candidate in (path, path / "dist" / "index.js"):
        if candidate.is_file():
            return candidate
    shown = subprocess.run(["git", "--git-dir", str(path / ".git" if (path / ".git").exists() else path), "show",
                            f"{ref}:dist/index.js"], capture_output=True)
    if shown.returncode != 0:
        raise SystemExit(f"--configure-aws-credentials {given}: neither dist/index.js nor a git repository with "
                         f"{ref}:dist/index.js ({shown.stderr.decode().strip()}).")
    target = WORK / "configure-aws-credentials" / ref / "dist" / "index.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shown.stdout)
    return target


OURS = "variable=AWS_SECRET_ACCESS_KEY;issecret=true]"
GITHUB = "::set-env name=AWS_SECRET_ACCESS_KEY::"


def timed(command: list[str], env: dict[str, str], cwd: Path, success: str = OURS) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    failed = "result=Failed" in result.stdout or "::error::" in result.stdout
    if success not in result.stdout or failed:
        raise SystemExit(f"{command[:2]} did not produce credentials:\n{result.stdout}\n{result.stderr}")
    return elapsed


def github_environment(issuer: Any, sts: Any, workspace: Path) -> dict[str, str]:
    """What a GitHub Actions runner gives configure-aws-credentials in OIDC mode: inputs as
    INPUT_<NAME> (upper-cased, dashes kept, as @actions/core's getInput reads them), the token
    request variables, and the GITHUB_* variables its session tagging requires (src/index.ts and
    src/assumeRole.ts of v6.2.3)."""
    from agent_env import ROLE_ARN
    from fakes import AUDIENCE

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workspace),
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "contoso/infra",
        "GITHUB_WORKFLOW": "deploy",
        "GITHUB_ACTION": "__aws-actions_configure-aws-credentials",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_WORKSPACE": str(workspace),
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.github_request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.access_token,
        "INPUT_AWS-REGION": "eu-west-1",
        "INPUT_ROLE-TO-ASSUME": ROLE_ARN,
        # The stand-in's trust policy names the audience Azure DevOps tokens carry.
        "INPUT_AUDIENCE": AUDIENCE,
        "INPUT_STS-ENDPOINT": sts.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def measure(profile_delays: tuple[float, float], runs: int, pristine: Path, aws: Path, cac: Path | None
            ) -> dict[str, float]:
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
    github_env = github_environment(issuer, sts, WORK)
    if cac is not None:
        timed([node, str(cac)], github_env, WORK, GITHUB)  # its first run, untimed

    def cold(shipped: bool) -> float:
        fresh = WORK / "cold" / "AwsWifAssumeV1"
        shutil.rmtree(fresh.parent, ignore_errors=True)
        shutil.copytree(pristine, fresh, ignore=None if shipped else shutil.ignore_patterns("__pycache__"))
        assert has_bytecode(fresh) == shipped, "the .vsix ships bytecode for this interpreter"
        return timed([node, str(fresh / "launcher.js")], env, WORK)

    variants: dict[str, Callable[[], float]] = {
        "ours (cold)": lambda: cold(shipped=True),
        "ours (cold, no bytecode)": lambda: cold(shipped=False),
        "ours (warm)": lambda: timed([node, str(warm / "launcher.js")], env, WORK),
        "aws cli": lambda: timed(["bash", str(ROOT / "bench" / "awscli.sh")], cli_env, WORK),
        "floor": lambda: timed([node, str(ROOT / "bench" / "floor.js")], env, WORK),
    }
    if cac is not None:
        variants[CAC] = lambda: timed([node, str(cac)], github_env, WORK, GITHUB)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(runs):
            for name, variant in variants.items():
                samples[name].append(variant())
    finally:
        issuer.close()
        sts.close()
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


CAC = "configure-aws-credentials"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--configure-aws-credentials", dest="cac", metavar="PATH",
                        default=os.environ.get("BENCH_CONFIGURE_AWS_CREDENTIALS"),
                        help="its dist/index.js, a folder holding dist/, or a git repository")
    parser.add_argument("--cac-ref", default="v6.2.3", help="the release to extract from a git repository")
    args = parser.parse_args()
    ensure_environment()
    WORK.mkdir(exist_ok=True)
    aws = ensure_awscli()
    cac = find_configure_aws_credentials(args.cac, args.cac_ref)
    pristine, size, files = build_vsix()
    real_python_bin()
    load_before = os.getloadavg()
    results = {profile: measure(delays, args.runs, pristine, aws, cac)
               for profile, delays in (("loopback", (0.0, 0.0)), ("realistic", (0.150, 0.100)))}
    load_after = os.getloadavg()

    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\nTime to credentials, median of {args.runs} interleaved runs "
          f"(Python {sys.version.split()[0]}, {(WORK / 'bin' / 'python3').resolve()}; node {node_version}; "
          f"{os.cpu_count()} cores, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after)")
    references = ["floor", "aws cli"] + ([CAC] if cac is not None else [])
    width = 12 * (1 + len(references))
    print(f"{'':26}" + "".join(f"{p:>{width}}" for p in results))
    print(f"{'':26}" + "".join(f"{'ms':>12}" + "".join(f"{'/ ' + r[:9]:>12}" for r in references) for _ in results))
    for name in next(iter(results.values())):
        row = f"{name:26}"
        for figures in results.values():
            ms = figures[name]
            row += f"{ms:12.0f}" + "".join(f"{ms / figures[r]:12.2f}" for r in references)
        print(row)
    print(f"\n.vsix: {size / 1024 / 1024:.2f} MB ({size:,} bytes), {files} files")
    report = {"runs": args.runs, "python": sys.version.split()[0], "node": node_version, "cores": os.cpu_count(),
              "load_average": {"before": load_before, "after": load_after},
              "configure_aws_credentials": str(cac) if cac else None, "results_ms": results,
              "vsix": {"bytes": size, "files": files}}
    (WORK / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Written to {(WORK / 'results.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
