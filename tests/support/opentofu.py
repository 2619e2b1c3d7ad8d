"""OpenTofu, built once from the Go module proxy at a pinned version, as later pipeline steps run it.

Why OpenTofu and not Terraform: Terraform (since 1.6) keeps its S3 backend in a nested Go module
(`internal/backend/remote-state/s3`, a `replace` in its go.mod), which the module proxy's zip of
github.com/hashicorp/terraform leaves out, so Terraform cannot be built from the proxy. OpenTofu forked
Terraform 1.6's S3 backend (the aws-sdk-go-v2 rewrite on github.com/hashicorp/aws-sdk-go-base/v2, with
`endpoints { s3, sts }` and `use_path_style`), keeps it in its one module, and is MPL-licensed.

The binary lives outside the checkout, in `${XDG_CACHE_HOME:-~/.cache}/aws-wif/`, so that fresh clones
on the same machine (CI's) reuse it; Go's module and build caches make a rebuild after a version
change cheaper still."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

MODULE = "github.com/opentofu/opentofu"
VERSION = "v1.10.6"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aws-wif"


def tofu_binary(log: bool = True) -> Path:
    """The pinned `tofu`, built on first use (a few minutes on 2 cores), then reused."""
    target = cache_root() / f"opentofu-{VERSION}" / "tofu"
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("Go is needed to build OpenTofu for the Terraform tests: install Go 1.24 or newer.")
    start = time.monotonic()
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    info = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@{VERSION}"], capture_output=True, text=True,
                          env=env, timeout=900)
    if info.returncode != 0:
        raise RuntimeError(f"go mod download {MODULE}@{VERSION} failed:\n{info.stdout}{info.stderr}")
    source = json.loads(info.stdout)["Dir"]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"tofu.partial-{os.getpid()}")
    # Built in the module's own folder, so that its go.mod (and its one replace directive) applies.
    build = subprocess.run([go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), "./cmd/tofu"],
                           cwd=source, capture_output=True, text=True, env=env, timeout=3600)
    if build.returncode != 0:
        raise RuntimeError(f"building OpenTofu {VERSION} failed:\n{build.stdout}{build.stderr}")
    partial.replace(target)
    if log:
        print(f"built OpenTofu {VERSION} in {time.monotonic() - start:.0f} s: {target}", flush=True)
    return target
