#!/usr/bin/env python3
"""A refresh as users wait for it: `python3 bench/refresh.py [--runs N] [--fanout K ...]`.

From the built .vsix (warm: after a first run), against the local issuer and STS stand-ins:

  task, warm        the task with refreshingProfiles, from process start to credentials (for reference)
  one call          the default profile's credential_process line, split and run as botocore runs it
                    (no shell), with the environment of a later step (AWS_CONFIG_FILE, SYSTEM_ACCESSTOKEN)
  K at once         K such calls started together (Terraform configures up to 10 provider blocks at
                    once; a CDK app or a script with several sessions does the same): wall time until the
                    last one printed its credentials

each the median of N runs, in two network profiles: loopback (as is) and realistic (+150 ms per token
response, +100 ms per STS response). Targets (issue 21): one call <= 1.1x the task's warm time, 10 at
once <= 3x one call, in both profiles. Not a test: it prints the table and writes .bench/refresh.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
ONE_CALL_TARGET, FANOUT_TARGET = 1.1, 3.0
PROFILES = {"loopback": (0.0, 0.0), "realistic": (0.150, 0.100)}


def call(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or '"SecretAccessKey"' not in result.stdout:
        raise SystemExit(f"credential_process failed:\n{result.stderr}")
    return elapsed


def fanout(argv: list[str], env: dict[str, str], k: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=k) as pool:
        list(pool.map(lambda _: call(argv, env), range(k)))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--fanout", type=int, nargs="+", default=[10, 25])
    args = parser.parse_args()
    from profiles import bench_run_helpers  # bench/profiles.py, beside this file

    helpers = bench_run_helpers()
    helpers.ensure_environment()  # type: ignore[attr-defined]
    WORK.mkdir(exist_ok=True)
    pristine, _size, _files = helpers.build_vsix()  # type: ignore[attr-defined]
    python_bin = helpers.real_python_bin()  # type: ignore[attr-defined]
    timed = helpers.timed  # type: ignore[attr-defined]

    from awswif.trust import trust_policy

    from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment
    from fakes import Issuer, Sts

    issuer, sts = Issuer("entra"), Sts()
    sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]))
    warm = WORK / "refresh-warm" / "AwsWifAssumeV1"
    shutil.rmtree(warm.parent, ignore_errors=True)
    shutil.copytree(pristine, warm)
    temp = WORK / "refresh-temp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    env = agent_environment(issuer, sts, warm, python_bin=python_bin, refreshingProfiles="true")
    env["AGENT_TEMPDIRECTORY"] = str(temp)
    launcher = [str(NODE), str(warm / "launcher.js")]
    results: dict[str, dict[str, float]] = {}
    try:
        timed(launcher, env, WORK)  # the first run compiles nothing (bytecode ships), but warms the OS caches
        config = next(temp.glob("aws-wif/run-*/config"))
        line = next(x.split(" = ", 1)[1] for x in config.read_text().splitlines() if x.startswith("credential_process"))
        argv = shlex.split(line)
        step = {"PATH": "/usr/bin:/bin", "HOME": str(temp), "LANG": "C.UTF-8", "AWS_CONFIG_FILE": str(config),
                "SYSTEM_ACCESSTOKEN": issuer.access_token}
        call(argv, step)
        for profile, (token_delay, sts_delay) in PROFILES.items():
            issuer.delay, sts.delay = token_delay, sts_delay
            samples: dict[str, list[float]] = {"task, warm": [], "one call": []}
            samples.update({f"{k} at once": [] for k in args.fanout})
            for _ in range(args.runs):
                samples["task, warm"].append(timed(launcher, env, WORK))
                samples["one call"].append(call(argv, step))
                for k in args.fanout:
                    samples[f"{k} at once"].append(fanout(argv, step, k))
            results[profile] = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    finally:
        issuer.close()
        sts.close()
        shutil.rmtree(temp, ignore_errors=True)
    names = list(next(iter(results.values())))
    print(f"\nRefreshing profiles from the .vsix (warm), median of {args.runs}")
    print(f"  {'':14}" + "".join(f"{p:>22}" for p in results))
    for name in names:
        cells = []
        for medians in results.values():
            ms = medians[name]
            if name == "one call":
                cells.append(f"{ms:7.0f} ms ({ms / medians['task, warm']:.2f}x task)")
            elif name.endswith("at once"):
                cells.append(f"{ms:7.0f} ms ({ms / medians['one call']:.1f}x one)")
            else:
                cells.append(f"{ms:7.0f} ms")
        print(f"  {name:14}" + "".join(f"{c:>22}" for c in cells))
    for profile, medians in results.items():
        one = medians["one call"] / medians["task, warm"]
        ten = medians.get("10 at once", 0) / medians["one call"]
        print(f"  {profile}: one call {one:.2f}x task ({'within' if one <= ONE_CALL_TARGET else 'OVER'} "
              f"{ONE_CALL_TARGET}x); 10 at once {ten:.1f}x one ({'within' if ten <= FANOUT_TARGET else 'OVER'} "
              f"{FANOUT_TARGET}x)")
    (WORK / "refresh.json").write_text(json.dumps({"runs": args.runs, "median_ms": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
