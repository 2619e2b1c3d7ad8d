"""The stand-in for Terraform's hashicorp/aws provider (tests/support/awsbase, a Go program built from the
provider's own credential library, github.com/hashicorp/aws-sdk-go-base/v2): build it once per machine,
and run it in a later step's environment.

The binary is cached outside the checkout, so fresh clones on the same machine (CI's) reuse it:
`${XDG_CACHE_HOME:-~/.cache}/aws-wif/awsbase-probe-<16 hex digits of sha256(go.mod + go.sum + main.go)>/probe`.
Building needs Go (go.mod's version or newer) and the Go module proxy, or a module cache that
already holds the pinned modules."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "awsbase"
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
BUILD_TIMEOUT = 1800  # a cold module cache downloads the SDK's modules first


class ProbeUnavailable(RuntimeError):
    """The probe cannot be built here (no Go, or the build failed)."""


class ProbeResults(dict[str, Any]):
    """profile -> {"arn", "account", "region", "seconds", "error"}, with the run's stderr (where the SDK
    passes on a credential_process's own stderr), exit code and wall time."""

    def __init__(self, results: Mapping[str, Any], stderr: str, returncode: int, seconds: float) -> None:
        super().__init__(results)
        self.stderr = stderr
        self.returncode = returncode
        self.seconds = seconds


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aws-wif"


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()[:16]


def binary_path() -> Path:
    return cache_root() / f"awsbase-probe-{source_digest()}" / "probe"


@functools.cache
def probe_binary() -> Path:
    """The built probe: from the cache when its sources are unchanged, else built now (printing one line
    with the build time) into a temporary name and renamed into place, so a concurrent or interrupted
    build never leaves a half-written binary under the final name."""
    target = binary_path()
    if target.is_file() and os.access(target, os.X_OK):
        return target
    go = shutil.which("go")
    if go is None:
        raise ProbeUnavailable(
            "tests/support/awsbase (the aws-sdk-go-base probe standing in for Terraform's AWS provider) needs Go: "
            f"'go' is not on PATH. Install Go ({go_directive()} or newer) and run the tests again.")
    target.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOFLAGS="-mod=readonly -buildvcs=false")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        partial = Path(scratch) / "probe"
        build = subprocess.run([go, "build", "-trimpath", "-o", str(partial), "."], cwd=SOURCE, env=env,
                               capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        if build.returncode != 0:
            raise ProbeUnavailable(f"building tests/support/awsbase failed (go build exit {build.returncode}):\n"
                                   f"{build.stdout}{build.stderr}")
        os.replace(partial, target)
    print(f"tests/support/awsbase: built the aws-sdk-go-base probe in {time.monotonic() - start:.1f} s: {target}",
          flush=True)
    return target


def go_directive() -> str:
    for line in (SOURCE / "go.mod").read_text().splitlines():
        if line.startswith("go "):
            return "Go " + line.split()[1]
    return "a recent Go"


def run_probe(env: Mapping[str, str], profiles: Iterable[str], parallel: bool = False, *, sts: str,
              region: str | None = None, timeout: float = 300) -> ProbeResults:
    """Configure one `provider "aws" { profile = NAME; endpoints { sts = STS } }` per profile (the name
    `default` stands for `provider "aws" {}`) in a process whose environment is `env` (plus
    AWS_EC2_METADATA_DISABLED=true: no instance metadata service exists here), then read
    aws_caller_identity with each. `parallel`: every block at once, each in its own process."""
    names = list(profiles)
    command = [str(probe_binary()), "-sts", sts]
    if region is not None:
        command += ["-region", region]
    if parallel:
        command.append("-parallel")
    command += ["--", *names]
    full_env = {**env, "AWS_EC2_METADATA_DISABLED": "true"}
    start = time.monotonic()
    # Its own process group: on a timeout the per-profile processes of -parallel and the
    # credential_process children they started go too.
    with subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AssertionError(f"the probe did not finish within {timeout} s:\n{stderr}") from None
    seconds = time.monotonic() - start
    try:
        results = json.loads(stdout)
    except ValueError:
        raise AssertionError(f"the probe printed no JSON (exit {proc.returncode}):\n{stdout}{stderr}") from None
    if sorted(results) != sorted(set(names)):
        raise AssertionError(f"the probe answered for {sorted(results)}, not {names}")
    failed = any(r["error"] for r in results.values())
    if proc.returncode != (1 if failed else 0):
        raise AssertionError(f"the probe exited {proc.returncode} with failed={failed}:\n{stderr}")
    return ProbeResults(results, stderr, proc.returncode, seconds)
