"""Many accounts from one step (docs/many-accounts.md), as the STS stand-in serves them: the main (hub)
role, a web-identity profile in a second (direct) account, and a chained profile in a third (spoke) whose
role trusts only the hub role; the task launched with those profiles, and its post-job step."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from awswif import cli
from awswif.trust import trust_policy

from agent_env import NODE, ROLE_ARN, agent_environment
from fakes import Issuer, Sts
from launcher import Run, run_launcher

DIRECT_ACCOUNT, SPOKE_ACCOUNT = "210987654321", "333333333333"
DIRECT_ARN = f"arn:aws:iam::{DIRECT_ACCOUNT}:role/direct"
SPOKE_ARN = f"arn:aws:iam::{SPOKE_ACCOUNT}:role/spoke"
OTHER_DIRECT_ARN = f"arn:aws:iam::{DIRECT_ACCOUNT}:role/other"
SESSION = "azp-infra-4711"
SECRET_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


def spoke_trust_policy(hub_role_arn: str) -> dict[str, object]:
    """What the platform team installs on the spoke role: the README's command, as a user runs it."""
    out = io.StringIO()
    assert cli.main(["trust-policy", "--trust-role", hub_role_arn, "--account-id", SPOKE_ACCOUNT], out=out) == 0
    return json.loads(out.getvalue())["trustPolicy"]  # type: ignore[no-any-return]


@pytest.fixture
def accounts(issuer: Issuer, sts: Sts) -> Sts:
    """The direct account trusts the connection through its own IAM OIDC provider; the spoke trusts the hub role."""
    sts.add_provider(DIRECT_ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(DIRECT_ARN, trust_policy(DIRECT_ACCOUNT, issuer.issuer, [issuer.subject]), max_session_duration=7200)
    sts.add_role(OTHER_DIRECT_ARN, trust_policy(DIRECT_ACCOUNT, issuer.issuer, [issuer.subject]))
    sts.add_role(SPOKE_ARN, spoke_trust_policy(ROLE_ARN), max_session_duration=7200)
    return sts


def launch(issuer: Issuer, sts: Sts, task_dir: Path, temp: Path, **inputs: str) -> Run:
    values = {"profiles": f"# direct account\nprod={DIRECT_ARN}\n", "chainedProfiles": f"spoke={SPOKE_ARN}"}
    values.update(inputs)
    env = agent_environment(issuer, sts, task_dir, **values)
    env["AGENT_TEMPDIRECTORY"] = str(temp)
    return run_launcher(task_dir, env)


def run_post(task_dir: Path, run: Run) -> subprocess.CompletedProcess[str]:
    """The task's post-job step as the agent runs it (agent_model.Job.post_job_environment), in the job whose
    Agent.TempDirectory holds the run directory the main step handed over."""
    base = {"PATH": os.environ["PATH"]}
    directory = run.view.task_variables.get("AWSWIF_FILES_DIRECTORY")
    if directory:
        base["AGENT_TEMPDIRECTORY"] = str(Path(directory).parent.parent)
    env = run.job.post_job_environment("assume", base=base)
    return subprocess.run([str(NODE), str(task_dir / "post.js")], env=env, capture_output=True, text=True)


def secrets_of(issuer: Issuer, sts: Sts) -> list[str]:
    keys = [k for k in sts.sessions] + [s.secret_access_key for s in sts.sessions.values()] + [
        s.session_token for s in sts.sessions.values()]
    return [issuer.access_token, *issuer.minted, *keys]
