#!/usr/bin/env python3
"""Many accounts from one step, timed: `python3 bench/profiles.py [--runs N] [--profiles K]`.

The task from the built .vsix (warm: after a first run) against the local issuer and STS stand-ins,
with realistic latency (+150 ms per token response, +100 ms per STS response), from process start
to credentials printed, median of N interleaved runs:

  one role      roleArn only
  K profiles    roleArn and K web-identity profiles (each in its own account), assumed concurrently

The target (issue #10): K = 10 profiles within 1.5x the time of one role. Not a test: it prints
figures and writes .bench/profiles.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
TARGET = 1.5


def bench_run_helpers() -> object:
    # bench/run.py's helpers (environment, build, timing), under a name that does not clash with tests/run.py.
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profiles", type=int, default=10)
    args = parser.parse_args()
    helpers = bench_run_helpers()
    helpers.ensure_environment()  # type: ignore[attr-defined]
    WORK.mkdir(exist_ok=True)
    pristine, _size, _files = helpers.build_vsix()  # type: ignore[attr-defined]
    helpers.real_python_bin()  # type: ignore[attr-defined]
    timed = helpers.timed  # type: ignore[attr-defined]

    from awswif.trust import trust_policy

    from agent_env import ACCOUNT, NODE, ROLE_ARN, agent_environment
    from fakes import Issuer, Sts

    issuer, sts = Issuer("entra"), Sts()
    sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]))
    lines = []
    for index in range(args.profiles):
        account = f"{200000000000 + index:012d}"
        arn = f"arn:aws:iam::{account}:role/deploy"
        sts.add_provider(account, issuer.issuer, issuer.jwks_url)
        sts.add_role(arn, trust_policy(account, issuer.issuer, [issuer.subject]))
        lines.append(f"p{index}={arn}")
    issuer.delay, sts.delay = 0.150, 0.100

    warm = WORK / "profiles-warm" / "AwsWifAssumeV1"
    shutil.rmtree(warm.parent, ignore_errors=True)
    shutil.copytree(pristine, warm)
    temp = WORK / "profiles-temp"
    temp.mkdir(exist_ok=True)
    node = str(NODE)
    one = agent_environment(issuer, sts, warm, python_bin=WORK / "bin")
    many = agent_environment(issuer, sts, warm, python_bin=WORK / "bin", profiles="\n".join(lines))
    for env in (one, many):
        env["AGENT_TEMPDIRECTORY"] = str(temp)
    launcher = [node, str(warm / "launcher.js")]
    timed(launcher, one, WORK)  # the first run compiles the bytecode, untimed
    samples: dict[str, list[float]] = {"one role": [], f"{args.profiles} profiles": []}
    try:
        for _ in range(args.runs):
            calls = len(sts.calls)
            samples["one role"].append(timed(launcher, one, WORK))
            samples[f"{args.profiles} profiles"].append(timed(launcher, many, WORK))
            assert len(sts.calls) - calls == 2 + args.profiles, "every role is assumed once per run"
    finally:
        issuer.close()
        sts.close()
        shutil.rmtree(temp, ignore_errors=True)
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    ratio = medians[f"{args.profiles} profiles"] / medians["one role"]
    print(f"\nTime to credentials from the .vsix (warm), +150 ms token / +100 ms STS, median of {args.runs}")
    for name, ms in medians.items():
        print(f"  {name:14}{ms:8.0f} ms")
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"  ratio {ratio:.2f} ({verdict} the {TARGET}x target)")
    (WORK / "profiles.json").write_text(json.dumps({"runs": args.runs, "profiles": args.profiles,
                                                     "median_ms": medians, "ratio": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
