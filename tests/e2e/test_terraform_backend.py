"""Terraform's S3 backend, for real, as a later step of the task's job: OpenTofu (tests/support/opentofu.py says why
not Terraform itself) built from the Go module proxy, its S3 backend resolving credentials with
github.com/hashicorp/aws-sdk-go-base/v2 as the hashicorp/aws provider does (profile, shared config and
credentials files, credential_process), against moto's S3 server and the STS stand-in.

For each kind of profile the task writes (the main role as `default`, a `profiles` role, a
`chainedProfiles` role, and a refreshing `credential_process` profile), `tofu init`, `plan` and `apply`
store the state in the bucket of that profile's account, and the state object's PUT is signed with a key
the STS stand-in issued for that very role (tests/support/fakes.py S3Front records the signer)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agent_env import agent_environment
from fakes import Issuer, S3Front, Sts
from launcher import Run, run_launcher
from many_accounts import DIRECT_ACCOUNT, DIRECT_ARN, SECRET_NAMES, SPOKE_ARN, run_post
from many_accounts import accounts as accounts
from s3_backend import ROLES, readme_backend
from s3_backend import s3 as s3
from s3_backend import tofu as tofu

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


def launch(issuer: Issuer, sts: Sts, task_dir: Path, temp: Path, refreshing: bool) -> Run:
    env = agent_environment(issuer, sts, task_dir, profiles=f"shared={DIRECT_ARN}", chainedProfiles=f"prod={SPOKE_ARN}",
                            refreshingProfiles="true" if refreshing else "false")
    temp.mkdir(exist_ok=True)
    env["AGENT_TEMPDIRECTORY"] = str(temp)
    return run_launcher(task_dir, env)


def later_step_env(run: Run, issuer: Issuer, home: Path, refreshing: bool) -> dict[str, str]:
    """A script step after the task: the plain job variables only (AWS_CONFIG_FILE,
    AWS_SHARED_CREDENTIALS_FILE, AWS_REGION...), no secret mapped; with refreshing profiles the job access
    token mapped as docs/long-running-jobs.md says (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken))."""
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "SYSTEM_"))}
    env.update({k: v for k, v in run.view.variables.items() if k not in SECRET_NAMES})
    env.update({"HOME": str(home), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
                "AWS_EC2_METADATA_DISABLED": "true", "SYSTEM_OIDCREQUESTURI": issuer.request_uri})
    if refreshing:
        env["SYSTEM_ACCESSTOKEN"] = issuer.access_token
    return env


def tofu_run(tofu: Path, work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tofu), *args, "-input=false", "-no-color"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)


CASES = [(profile, refreshing) for refreshing in (False, True) for profile in ROLES]


@ONE_FAMILY
@pytest.mark.parametrize(("profile", "refreshing"), CASES,
                         ids=[f"{p}-{'refreshing' if r else 'static'}" for p, r in CASES])
def test_the_s3_backend_keeps_state_in_the_profiles_account(issuer: Issuer, accounts: Sts,
                                                             vsix_task_dir: Path, tmp_path: Path, tofu: Path,
                                                             s3: S3Front, profile: str, refreshing: bool) -> None:
    run = launch(issuer, accounts, vsix_task_dir, tmp_path / "agent-temp", refreshing)
    assert run.view.result == "Succeeded", run.stdout
    account, role_arn = ROLES[profile]
    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf").write_text(readme_backend(f"tfstate-{account}", profile, s3.url, accounts.url))
    env = later_step_env(run, issuer, tmp_path / "home", refreshing)
    tokens_before = len(issuer.token_requests)
    for command in (["init"], ["plan"], ["apply", "-auto-approve"]):
        step = tofu_run(tofu, work, env, *command)
        assert step.returncode == 0, f"tofu {command[0]}:\n{step.stdout}\n{step.stderr}"

    # The state is in that account's bucket, and nowhere else.
    state = json.loads(s3.admin.get_object(Bucket=f"tfstate-{account}", Key="app/terraform.tfstate")["Body"].read())  # type: ignore[attr-defined]
    assert state["outputs"]["deployed"]["value"] == profile
    others = [a for a, _ in ROLES.values() if a != account]
    assert all(s3.admin.list_objects_v2(Bucket=f"tfstate-{a}").get("KeyCount", 0) == 0 for a in others)  # type: ignore[attr-defined]
    # Written with that role's credentials: every signer of the state PUTs is a session of that role.
    writers = s3.writers(f"/tfstate-{account}/app/terraform.tfstate")
    assert writers, s3.requests
    assert {accounts.sessions[key].role_arn for key in writers} == {role_arn}
    if refreshing:
        # credential_process ran: fresh OIDC tokens were requested after the task's own.
        assert len(issuer.token_requests) > tokens_before
    else:
        assert len(issuer.token_requests) == tokens_before
    run_post(vsix_task_dir, run)


@ONE_FAMILY
def test_a_broken_profile_file_fails_the_backend(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                                 tmp_path: Path, tofu: Path, s3: S3Front) -> None:
    """The same run with the shared profile's keys removed from the credentials file: tofu init fails, no
    state (the test can fail)."""
    run = launch(issuer, accounts, vsix_task_dir, tmp_path / "agent-temp", refreshing=False)
    assert run.view.result == "Succeeded", run.stdout
    credentials = Path(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"])
    lines = credentials.read_text().splitlines()
    start = lines.index("[shared]")
    credentials.write_text("\n".join(lines[:start] + [x for x in lines[start + 1:] if not x.startswith("aws_")]))
    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf").write_text(readme_backend(f"tfstate-{DIRECT_ACCOUNT}", "shared", s3.url, accounts.url))
    step = tofu_run(tofu, work, later_step_env(run, issuer, tmp_path / "home", False), "init")
    assert step.returncode != 0
    assert s3.writers("terraform.tfstate") == []
    run_post(vsix_task_dir, run)
