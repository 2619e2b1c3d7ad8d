"""Later steps running `awswif credential-process` as AWS's own tools do: a config file laid out as the task
writes it (PROFILES_CONTRACT.md: a `[awswif NAME]` record and a `credential_process` line built by
command_line), a step's environment that holds only AWS_CONFIG_FILE, SYSTEM_ACCESSTOKEN and the agent's
public variables, and the line run as botocore runs it on Linux; with the failure contract it keeps."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from awswif.credential_process import command_line

from agent_env import ROLE_ARN, TOKEN_HOSTS
from fakes import Issuer, Sts
from paths import ROOT

SESSION = "azp-infra-4711"


def record(issuer: Issuer, sts: Sts, **overrides: str) -> dict[str, str]:
    """The `[awswif NAME]` section, field by field as the contract lists them."""
    values = {
        "role_arn": ROLE_ARN,
        "session_name": SESSION,
        "duration_seconds": "3600",
        "region": "eu-west-1",
        "connection_id": issuer.connection_id,
        "oidc_request_uri": issuer.request_uri,
        "collection_id": issuer.organization_id,
        "sts_endpoint": sts.url,
        "kind": "web-identity",
        "token_endpoint_hosts": TOKEN_HOSTS,
    }
    values.update(overrides)
    return values


def write_config(folder: Path, records: dict[str, dict[str, str]], code_dir: Path = ROOT / "python",
                 python: str = sys.executable, isolated: bool = False) -> Path:
    """A config file as the task writes it: a profile section with credential_process, and the record."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config"
    lines = []
    for name, values in records.items():
        lines.append("[default]" if name == "default" else f"[profile {name}]")
        lines.append(f"region = {values['region']}")
        lines.append("credential_process = " + command_line(python, str(code_dir), name, str(config),
                                                             isolated=isolated))
        lines.append(f"[awswif {name}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config.chmod(0o600)
    return config


def step_environment(home: Path, config: Path, issuer: Issuer, **extra: str) -> dict[str, str]:
    """A later script step's environment: the agent's public variables, the mapped job token and the
    config file, nothing else (HOME is empty: no ~/.aws)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": str(config),
        "SYSTEM_ACCESSTOKEN": issuer.access_token,
        "SYSTEM_OIDCREQUESTURI": issuer.request_uri,
        "SYSTEM_COLLECTIONID": issuer.organization_id,
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def config_line(config: Path, profile: str = "default") -> str:
    section = "[default]" if profile == "default" else f"[profile {profile}]"
    lines = config.read_text().splitlines()
    start = lines.index(section)
    return next(line.split(" = ", 1)[1] for line in lines[start:] if line.startswith("credential_process = "))


def run_process(config: Path, env: dict[str, str], profile: str = "default") -> subprocess.CompletedProcess[str]:
    """The credential_process line, run as botocore runs it on Linux (split, no shell)."""
    return subprocess.run(shlex.split(config_line(config, profile)), env=env, capture_output=True, text=True,
                          timeout=120)


def boto3_step(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import boto3, json\n" + code], env=env, capture_output=True,
                          text=True, timeout=120)


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]
